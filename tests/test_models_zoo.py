"""The architecture zoo (onnxlayer.models): published parameter counts, graph-only
builds, and a runtime smoke test of the small models.

Parameter count = SPEC §3 ``W``: elements of the float initializers, except
BatchNormalization running mean/var (inputs 3 and 4). It is computed here from the
ModelProto alone (dims and external-data lengths), never read back from the zoo.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from onnxlayer import models


# ---------------------------------------------------------------- closed forms
def _linear(d_in: int, d_out: int) -> int:
    return d_in * d_out + d_out


def _mlp_params() -> int:
    # Our own reference network: 784-256-256-10.
    return _linear(784, 256) + _linear(256, 256) + _linear(256, 10)


def _lenet5_params() -> int:
    # LeCun et al. 1998 layout with full C3 and a linear output layer.
    conv1 = 6 * 1 * 5 * 5 + 6
    conv2 = 16 * 6 * 5 * 5 + 16
    return conv1 + conv2 + _linear(400, 120) + _linear(120, 84) + _linear(84, 10)


def _mobilenet_v1_params() -> int:
    # Howard et al. 2017, Table 1 (1.0x, 224): conv (no bias) + BN (gamma, beta) each,
    # FC 1024->1000 with bias. Equals the trainable count of keras.applications.MobileNet.
    total = 3 * 3 * 3 * 32 + 2 * 32
    pointwise = [(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512),
                 *[(512, 512)] * 5, (512, 1024), (1024, 1024)]
    for c_in, c_out in pointwise:
        total += 9 * c_in + 2 * c_in  # depthwise 3x3 + BN
        total += c_in * c_out + 2 * c_out  # pointwise 1x1 + BN
    return total + _linear(1024, 1000)


def _unet_params() -> int:
    # milesial/Pytorch-UNet (unet/unet_model.py, unet_parts.py), bilinear=False:
    # DoubleConv = 2 x (3x3 conv without bias + BN); Up = ConvTranspose2d(c, c/2, 2, 2)
    # with bias + DoubleConv(c, c/2); OutConv = 1x1 conv with bias. The convs lost
    # their biases (bias=False before BN) in the repository's later revisions; older
    # revisions with conv biases have 5,888 more parameters (31,043,586).
    def double_conv(c_in: int, c_out: int) -> int:
        return 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out

    total = double_conv(3, 64)
    total += sum(double_conv(c, 2 * c) for c in (64, 128, 256, 512))
    total += sum(c * (c // 2) * 4 + c // 2 + double_conv(c, c // 2)
                 for c in (1024, 512, 256, 128))
    return total + 64 * 2 + 2


def _bert_base_params() -> int:
    # Devlin et al. 2019 / HuggingFace BertModel(bert-base-uncased), with pooler.
    hidden, ffn, layers = 768, 3072, 12
    embeddings = (30522 + 512 + 2) * hidden + 2 * hidden  # + LayerNorm
    layer = 4 * _linear(hidden, hidden) + _linear(hidden, ffn) + _linear(ffn, hidden)
    layer += 2 * 2 * hidden  # two LayerNorms
    return embeddings + layers * layer + _linear(hidden, hidden)


def _inception_v3_aux_params() -> int:
    # torchvision InceptionAux(768, 1000): conv0 BasicConv2d(768, 128, 1),
    # conv1 BasicConv2d(128, 768, 5) (convs without bias + BN), fc Linear(768, 1000).
    return (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + _linear(768, 1000)


# Published counts, each with its source. torchvision numbers: the "num_params"
# field of the model's weights enum as listed in the torchvision model docs
# ("torchvision <model> weights docs"), for ImageNet-1k weights.
PUBLISHED: dict[str, int] = {
    "mlp": 269_322,  # our own reference; equals _mlp_params()
    "lenet5": 61_706,  # LeCun et al. 1998 (modern variant); equals _lenet5_params()
    "resnet18": 11_689_512,  # torchvision resnet18 weights docs
    "resnet34": 21_797_672,  # torchvision resnet34 weights docs
    "resnet50": 25_557_032,  # torchvision resnet50 weights docs
    "resnet101": 44_549_160,  # torchvision resnet101 weights docs
    "resnet152": 60_192_808,  # torchvision resnet152 weights docs
    "wide_resnet50_2": 68_883_240,  # torchvision wide_resnet50_2 weights docs
    "resnext50_32x4d": 25_028_904,  # torchvision resnext50_32x4d weights docs
    "alexnet": 61_100_840,  # torchvision alexnet weights docs
    "vgg11": 132_863_336,  # torchvision vgg11 weights docs
    "vgg11_bn": 132_868_840,  # torchvision vgg11_bn weights docs
    "vgg13": 133_047_848,  # torchvision vgg13 weights docs
    "vgg13_bn": 133_053_736,  # torchvision vgg13_bn weights docs
    "vgg16": 138_357_544,  # torchvision vgg16 weights docs
    "vgg16_bn": 138_365_992,  # torchvision vgg16_bn weights docs
    "vgg19": 143_667_240,  # torchvision vgg19 weights docs
    "vgg19_bn": 143_678_248,  # torchvision vgg19_bn weights docs
    "densenet121": 7_978_856,  # torchvision densenet121 weights docs
    "densenet161": 28_681_000,  # torchvision densenet161 weights docs
    "densenet169": 14_149_480,  # torchvision densenet169 weights docs
    "densenet201": 20_013_928,  # torchvision densenet201 weights docs
    "squeezenet1_0": 1_248_424,  # torchvision squeezenet1_0 weights docs
    "squeezenet1_1": 1_235_496,  # torchvision squeezenet1_1 weights docs
    "googlenet": 6_624_904,  # torchvision googlenet weights docs (aux heads dropped on load)
    "inception_v3": 27_161_264,  # torchvision inception_v3 weights docs (includes AuxLogits)
    "mobilenet_v1": 4_231_976,  # Howard et al. 2017 "4.2M"; equals _mobilenet_v1_params()
    "mobilenet_v2": 3_504_872,  # torchvision mobilenet_v2 weights docs
    "mobilenet_v3_small": 2_542_856,  # torchvision mobilenet_v3_small weights docs
    "mobilenet_v3_large": 5_483_032,  # torchvision mobilenet_v3_large weights docs
    "shufflenet_v2_x1_0": 2_278_604,  # torchvision shufflenet_v2_x1_0 weights docs
    "efficientnet_b0": 5_288_548,  # torchvision efficientnet_b0 weights docs
    "efficientnet_b1": 7_794_184,  # torchvision efficientnet_b1 weights docs (V1 weights)
    "efficientnet_b2": 9_109_994,  # torchvision efficientnet_b2 weights docs
    "efficientnet_b3": 12_233_232,  # torchvision efficientnet_b3 weights docs
    "regnet_y_400mf": 4_344_144,  # torchvision regnet_y_400mf weights docs
    "regnet_y_800mf": 6_432_512,  # torchvision regnet_y_800mf weights docs
    "convnext_tiny": 28_589_128,  # torchvision convnext_tiny weights docs
    "vit_b_16": 86_567_656,  # torchvision vit_b_16 weights docs
    "bert_base": 109_482_240,  # HuggingFace bert-base-uncased BertModel; = _bert_base_params()
    "unet": 31_037_698,  # milesial/Pytorch-UNet n_channels=3, n_classes=2; = _unet_params()
}

# Parameters the published count includes but the inference graph does not hold.
# torchvision's inception_v3 weights are loaded with aux_logits=True, so its
# published count includes AuxLogits, which eval-mode inference never runs (and a
# torch.onnx export drops). The zoo builds the inference path only.
NOT_IN_INFERENCE_GRAPH: dict[str, int] = {"inception_v3": _inception_v3_aux_params()}

# Small enough to build with weights and run in onnxruntime in a lean test run.
SMALL = ["mlp", "lenet5", "resnet18", "mobilenet_v2"]
# Cheap to build with weights: one of each remaining block family besides SMALL.
PARITY = SMALL + ["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x1_0",
                  "efficientnet_b0", "regnet_y_400mf"]


@functools.lru_cache(maxsize=None)
def _weighted(name: str) -> onnx.ModelProto:
    return models.build(name, weights=True, seed=0)


def param_count(model: onnx.ModelProto) -> int:
    """SPEC §3 W from the ModelProto: float initializer elements minus BN statistics."""
    statistics = {name for node in model.graph.node if node.op_type == "BatchNormalization"
                  for name in node.input[3:5]}
    total = 0
    for tensor in model.graph.initializer:
        if tensor.data_type != TensorProto.FLOAT or tensor.name in statistics:
            continue
        elements = math.prod(tensor.dims)
        if tensor.data_location == TensorProto.EXTERNAL:
            length = {e.key: e.value for e in tensor.external_data}["length"]
            assert int(length) == 4 * elements, tensor.name
        total += elements
    return total


def _initializers_as_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    checkable = onnx.ModelProto()
    checkable.CopyFrom(model)
    for tensor in checkable.graph.initializer:
        checkable.graph.input.append(
            onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    del checkable.graph.initializer[:]
    return checkable


@pytest.fixture(scope="module")
def graph_only() -> dict[str, onnx.ModelProto]:
    return {name: models.build(name, weights=False) for name in models.names()}


def test_every_zoo_model_has_a_published_count() -> None:
    assert sorted(models.names()) == sorted(PUBLISHED)


def test_closed_forms_agree_with_published_numbers() -> None:
    assert _mlp_params() == PUBLISHED["mlp"]
    assert _lenet5_params() == PUBLISHED["lenet5"]
    assert _mobilenet_v1_params() == PUBLISHED["mobilenet_v1"]
    assert _unet_params() == PUBLISHED["unet"]
    assert _bert_base_params() == PUBLISHED["bert_base"]
    # What the inference graph must then hold: torchvision's count minus AuxLogits.
    assert PUBLISHED["inception_v3"] - _inception_v3_aux_params() == 23_834_568


@pytest.mark.parametrize("name", models.names())
def test_param_count_matches_published(name: str, graph_only: dict[str, onnx.ModelProto]) -> None:
    model = graph_only[name]
    assert param_count(model) + NOT_IN_INFERENCE_GRAPH.get(name, 0) == PUBLISHED[name]


@pytest.mark.parametrize("name", models.names())
def test_graph_only_model_is_well_formed(name: str,
                                         graph_only: dict[str, onnx.ModelProto]) -> None:
    model = graph_only[name]
    assert len({n.name for n in model.graph.node}) == len(model.graph.node)
    assert len({t.name for t in model.graph.initializer}) == len(model.graph.initializer)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    # check_model insists that external files exist, and these deliberately do not:
    # check the same graph with its initializers turned into typed graph inputs.
    onnx.checker.check_model(_initializers_as_inputs(model))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for tensor in model.graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            assert tensor.data_location == TensorProto.EXTERNAL
            assert not tensor.raw_data and not tensor.float_data
            entries = {e.key: e.value for e in tensor.external_data}
            assert entries["location"] == f"{tensor.name}.graph-only.bin"
            assert entries["offset"] == "0"


def test_node_and_initializer_names_follow_torch_scopes(
        graph_only: dict[str, onnx.ModelProto]) -> None:
    model = graph_only["resnet18"]
    node_names = {node.name for node in model.graph.node}
    assert "/layer1/layer1.0/conv1/Conv" in node_names
    assert "/layer2/layer2.0/downsample/downsample.0/Conv" in node_names
    assert "/fc/Gemm" in node_names
    initializers = {t.name for t in model.graph.initializer}
    assert {"layer1.0.conv1.weight", "layer2.0.downsample.1.running_var", "fc.bias"} <= initializers


@pytest.mark.parametrize("name", PARITY)
def test_weights_and_graph_only_builds_agree(name: str,
                                             graph_only: dict[str, onnx.ModelProto]) -> None:
    model, light = _weighted(name), graph_only[name]
    onnx.checker.check_model(model)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert [n.op_type for n in model.graph.node] == [n.op_type for n in light.graph.node]
    assert ([(t.name, list(t.dims), t.data_type) for t in model.graph.initializer]
            == [(t.name, list(t.dims), t.data_type) for t in light.graph.initializer])
    assert param_count(model) == param_count(light)


@pytest.mark.parametrize("name", SMALL)
def test_small_models_run_in_onnxruntime(name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = _weighted(name)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    shape = [1 if isinstance(d, str) else d for d in graph_input.shape]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (logits,) = session.run(None, {graph_input.name: x})
    assert list(logits.shape) == [1, 10 if name in ("mlp", "lenet5") else 1000]
    assert np.isfinite(logits).all()


def test_weights_are_seeded_he_normal() -> None:
    first = models.build("mlp", weights=True, seed=3)
    again = models.build("mlp", weights=True, seed=3)
    other = models.build("mlp", weights=True, seed=4)
    w = {t.name: onnx.numpy_helper.to_array(t) for t in first.graph.initializer}
    assert all(a == b for a, b in zip(first.graph.initializer, again.graph.initializer))
    assert first.graph.initializer[0] != other.graph.initializer[0]
    assert w["fc1.weight"].shape == (256, 784) and w["fc1.weight"].dtype == np.float32
    assert w["fc1.weight"].std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert not w["fc1.bias"].any()


def test_unknown_name_lists_the_zoo() -> None:
    with pytest.raises(KeyError) as excinfo:
        models.build("nope")
    assert "resnet18" in str(excinfo.value) and "mlp" in str(excinfo.value)


def test_describe_is_one_line_per_model() -> None:
    for name in models.names():
        line = models.describe(name)
        assert "\n" not in line and name in line and "batch" in line
