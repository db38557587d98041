"""One architecture, one answer (SPEC §4, issue 4): the same blocks written once in Keras and once
in PyTorch, converted by tf2onnx and torch.onnx, give equal complexity (1e-9 relative) and equal
effective-dimension profiles, despite NHWC/NCHW transposes, fused vs unfused activations and
normalizations, and exporter differences."""
from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.tensorflow, pytest.mark.torch]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
pytest.importorskip("tf2onnx")

import onnxlayer  # noqa: E402
from onnxlayer.converters import convert  # noqa: E402

nn = torch.nn
layers = keras.layers
E, HEADS, T, FF = 16, 2, 6, 32


def functional(shape, body):
    x = keras.Input(shape)
    return keras.Model(x, body(x))


def exact_gelu(v):
    return keras.activations.gelu(v, approximate=False)


class TorchResidual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(16, 4), nn.Linear(4, 16)

    def forward(self, x):
        return torch.relu(x + self.b(torch.relu(self.a(x))))


def keras_residual(x):
    h = layers.Dense(16)(layers.Dense(4, activation="relu")(x))
    return layers.ReLU()(layers.Add()([x, h]))


class TorchEncoder(nn.Module):
    """Post-norm transformer encoder block: multi-head attention, LayerNorm, Gelu, Softmax."""

    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.n1, self.n2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.f1, self.f2 = nn.Linear(E, FF), nn.Linear(FF, E)

    def forward(self, x):
        x = self.n1(x + self.att(x, x, x, need_weights=False)[0])
        return self.n2(x + self.f2(nn.functional.gelu(self.f1(x))))


def keras_encoder(x):
    a = layers.MultiHeadAttention(num_heads=HEADS, key_dim=E // HEADS)(x, x)
    x = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, a]))
    f = layers.Dense(E)(layers.Dense(FF, activation=exact_gelu)(x))
    return layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, f]))


class TorchLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0][:, -1]


class TorchGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 6, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0][:, -1]


def cases():
    """name → (keras model factory, torch module factory, torch example input shape)."""
    return {
        "mlp": (lambda: functional((4,), lambda x: layers.Dense(3)(layers.Dense(8, activation="relu")(layers.Dense(8, activation="relu")(x)))),
                lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)), (1, 4)),
        "cnn_bn_maxpool": (
            lambda: functional((8, 8, 3), lambda x: layers.Dense(10)(layers.Flatten()(layers.MaxPooling2D(2)(
                layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same")(x))))))),
            lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(64, 10)), (1, 3, 8, 8)),
        "residual": (lambda: functional((16,), keras_residual), TorchResidual, (1, 16)),
        "depthwise_separable": (
            lambda: functional((8, 8, 4), lambda x: layers.ReLU()(layers.Conv2D(8, 1)(layers.ReLU()(layers.DepthwiseConv2D(3, padding="same")(x))))),
            lambda: nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(4, 8, 1), nn.ReLU()), (1, 4, 8, 8)),
        "swish_gelu_mlp": (
            lambda: functional((16,), lambda x: layers.Dense(4)(layers.Dense(32, activation=exact_gelu)(layers.Dense(32, activation="swish")(x)))),
            lambda: nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 4)), (1, 16)),
        "transformer_encoder": (lambda: functional((T, E), keras_encoder), TorchEncoder, (1, T, E)),
        "lstm": (lambda: functional((5, 3), lambda x: layers.LSTM(6)(x)), TorchLSTM, (1, 5, 3)),
        "gru": (lambda: functional((5, 3), lambda x: layers.GRU(6, reset_after=True)(x)), TorchGRU, (1, 5, 3)),
    }


def same_profile(a, b) -> bool:
    return [d for d, _ in a] == [d for d, _ in b] and [v for _, v in a] == pytest.approx([v for _, v in b], abs=1e-12)


GRU_LOOP = pytest.mark.xfail(
    strict=True,
    reason="tf2onnx 1.17 exports Keras 3 GRU as an ONNX Loop (its GRU rewriter does not match); onnxlayer unrolls "
           "the Loop and analyses each step's ops with that step's d_in, while torch exports one GRU op whose rule "
           "gives every unit the whole sequence's d_in: same units, different approximations of d",
)


@pytest.mark.parametrize("name", [pytest.param(n, marks=GRU_LOOP) if n == "gru" else n for n in sorted(cases())])
def test_keras_and_torch_agree(name):
    make_keras, make_torch, shape = cases()[name]
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    from_keras = onnxlayer.analyze(convert(make_keras()))
    from_torch = onnxlayer.analyze(convert(make_torch(), torch.randn(*shape)))
    k, t = from_keras.summary, from_torch.summary
    assert k.complexity_bits == pytest.approx(t.complexity_bits, rel=1e-9), name
    assert k.intrinsic_power == pytest.approx(t.intrinsic_power, abs=1e-12)
    assert (k.input_dim, k.output_dim, k.depth, k.units) == (t.input_dim, t.output_dim, t.depth, t.units)
    assert same_profile(k.profile, t.profile)  # (nonlinear depth, log2 d_in) of every nonlinear leaf
    assert k.opaque_leaves == t.opaque_leaves == 0


def test_legacy_and_dynamo_exporters_agree_on_the_encoder():
    torch.manual_seed(0)
    module = TorchEncoder()
    example = torch.randn(1, T, E)
    dynamo = onnxlayer.analyze(convert(module, example, exporter="dynamo")).summary
    legacy = onnxlayer.analyze(convert(module, example, exporter="legacy")).summary
    assert dynamo.complexity_bits == pytest.approx(legacy.complexity_bits, rel=1e-9)
    assert same_profile(dynamo.profile, legacy.profile)
