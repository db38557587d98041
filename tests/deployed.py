"""Deployed forms of three small models (issue 11): the float export and what onnxruntime makes of it.

Builds, with random weights and no downloads, a BERT-like encoder, a GPT-2-like decoder
(transformers, from small configs) and a ResNet-like CNN (torch), exports each with the
TorchScript exporter, and derives the files a deployment would hold: onnxruntime's transformer
optimizer (also in its MultiHeadAttention form), offline `ORT_ENABLE_EXTENDED` optimization,
dynamic quantization, static QDQ and QOperator quantization, 4-bit weight-only `MatMulNBits`,
and the chains of these a deployment runs. Files are cached in a directory the caller owns, one
per (model, variant); tests and `benchmarks/deployed_table.py` share it.
"""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch


def _hide_broken_torchvision() -> None:
    """Let transformers import when the installed torchvision does not match torch.

    transformers imports torchvision whenever it is installed; one built for another torch fails
    on import (`operator torchvision::nms does not exist`). Nothing here uses it, so a broken one
    is hidden from this process (find_spec then returns None) instead of breaking every model.
    """
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision"] = None
        # transformers caches the answer; forget one given before this ran
        checks = sys.modules.get("transformers.utils.import_utils")
        for name in ("is_torchvision_available", "is_torchvision_v2_available"):
            getattr(getattr(checks, name, None), "cache_clear", lambda: None)()


SEQ = 16
HIDDEN, LAYERS, HEADS, INTERMEDIATE, VOCAB = 64, 2, 4, 128, 1000
IMAGE = (3, 32, 32)
#: Channels of the CNN's stem and its two residual blocks.
CNN_WIDTHS = (16, 16, 32)
#: The same CNN with its second block widened: a real architecture change, for `onnxlayer diff`.
WIDENED_CNN_WIDTHS = (16, 16, 48)
#: Weight-only quantization block along K (a multiple of 16, at most the smallest K here: 64).
NBITS_BLOCK = 32
CALIBRATION_SAMPLES = 4


@dataclass(frozen=True)
class Variant:
    """One deployed form: its key, the issue's letter(s), what produced it and from which form."""

    key: str
    letter: str
    label: str
    source: str | None  # the variant it is derived from; None for the export itself


VARIANTS: tuple[Variant, ...] = (
    Variant("export", "a", "torch.onnx export (TorchScript exporter)", None),
    Variant("transformer_optimizer", "b", "onnxruntime.transformers optimize_model", "export"),
    Variant("transformer_optimizer_mha", "b", "optimize_model, MultiHeadAttention (the GPU form)", "export"),
    Variant("ort_extended", "c", "offline ORT_ENABLE_EXTENDED", "export"),
    Variant("quant_dynamic", "d", "quantize_dynamic", "export"),
    Variant("quant_dynamic_per_channel", "d", "quantize_dynamic, per_channel=True", "export"),
    Variant("quant_qdq", "e", "quantize_static, QDQ", "export"),
    Variant("quant_qoperator", "e", "quantize_static, QOperator", "export"),
    Variant("matmul_nbits", "f", "MatMulNBits 4-bit weight-only", "export"),
    # Chains a deployment really runs: the documented transformer flow optimizes, then quantizes;
    # a session optimizes whatever it loads (which is where DynamicQuantizeMatMul and
    # MatMulIntegerToFloat come from).
    Variant("optimized_dynamic", "b→d", "optimize_model, then quantize_dynamic", "transformer_optimizer"),
    Variant("optimized_nbits", "b→f", "optimize_model, then MatMulNBits 4-bit", "transformer_optimizer"),
    Variant("dynamic_extended", "d→c", "quantize_dynamic, then ORT_ENABLE_EXTENDED", "quant_dynamic"),
    Variant("qdq_extended", "e→c", "quantize_static QDQ, then ORT_ENABLE_EXTENDED", "quant_qdq"),
)
VARIANT = {v.key: v for v in VARIANTS}
VARIANT_KEYS = tuple(VARIANT)
MODELS = ("bert", "gpt2", "cnn")
#: The transformer optimizer's model types; it has none for a plain CNN.
OPTIMIZER_MODEL_TYPE = {"bert": "bert", "gpt2": "gpt2"}


def applicable(model: str, variant: str) -> bool:
    """Whether `variant` exists for `model`: the transformer optimizer has no CNN model type and
    fuses attention (MultiHeadAttention) only in the BERT export."""
    if variant == "transformer_optimizer":
        return model in OPTIMIZER_MODEL_TYPE
    if variant == "transformer_optimizer_mha":  # the only model whose attention the optimizer fuses
        return model == "bert"
    source = VARIANT[variant].source
    return source is None or applicable(model, source)


def input_shapes(model: str) -> dict[str, list[int]]:
    """Concrete input shapes for `onnxlayer.analyze` (the transformer exports have dynamic axes)."""
    if model == "cnn":
        return {"image": [1, *IMAGE]}
    return {name: [1, SEQ] for name in _token_inputs(model)}


def variant_path(model: str, variant: str, cache_dir: Path) -> Path:
    """The file of `model` in form `variant`, generated into `cache_dir` on first use."""
    if model not in MODELS or variant not in VARIANT_KEYS or not applicable(model, variant):
        raise ValueError(f"no variant {variant!r} of model {model!r}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{model}_{variant}.onnx"
    if not path.exists():
        source = VARIANT[variant].source
        source_path = variant_path(model, source, cache_dir) if source else path
        with _quiet():
            _DERIVE[variant](model, source_path, path)
    return path


def sample_inputs(model: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One random input feed (token ids and an all-ones mask, or an image)."""
    if model == "cnn":
        return {"image": rng.standard_normal((1, *IMAGE)).astype(np.float32)}
    feed = {"input_ids": rng.integers(0, VOCAB, (1, SEQ), dtype=np.int64),
            "attention_mask": np.ones((1, SEQ), np.int64)}
    if model == "bert":
        feed["token_type_ids"] = np.zeros((1, SEQ), np.int64)
    return feed


def _token_inputs(model: str) -> tuple[str, ...]:
    return ("input_ids", "attention_mask", "token_type_ids") if model == "bert" else ("input_ids", "attention_mask")


# ----------------------------------------------------------------------------- (a) the export

def _export(model: str, _source: Path, path: Path, widths: tuple[int, int, int] = CNN_WIDTHS) -> None:
    """Export with the TorchScript exporter: its graphs are the ones onnxruntime's fusions match.

    The transformers get dynamic batch and sequence axes: with fixed shapes the exporter folds
    the attention-mask subgraph and the optimizer no longer recognises Attention or
    EmbedLayerNormalization. The CNN keeps its BatchNormalization (TrainingMode.PRESERVE on an
    eval-mode module) so that the runtime's Conv+BN folding shows in (c).
    """
    torch.manual_seed(0)
    module = build_module(model, widths)
    _perturb(module)
    example = {name: torch.from_numpy(value) for name, value in sample_inputs(model, np.random.default_rng(0)).items()}
    names = list(example)
    dynamic = None if model == "cnn" else {name: {0: "batch", 1: "sequence"} for name in names}
    torch.onnx.export(
        module, tuple(example.values()), str(path), input_names=names, output_names=["output"],
        opset_version=17, dynamo=False, dynamic_axes=dynamic,
        training=torch.onnx.TrainingMode.PRESERVE,
    )


def widened_cnn_path(cache_dir: Path) -> Path:
    """The CNN export with its second residual block widened to `WIDENED_CNN_WIDTHS` (a different
    architecture: what `onnxlayer diff` must name), generated into `cache_dir` on first use."""
    path = Path(cache_dir) / "cnn_widened_export.onnx"
    if not path.exists():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with _quiet():
            _export("cnn", path, path, WIDENED_CNN_WIDTHS)
    return path


def build_module(model: str, widths: tuple[int, int, int] = CNN_WIDTHS) -> torch.nn.Module:
    """The torch module of `model` in eval mode, randomly initialised (the export also perturbs its
    weights); `widths`: the CNN's channels."""
    if model == "cnn":
        return _resnet_like(widths)
    _hide_broken_torchvision()
    import transformers

    if model == "bert":
        config = transformers.BertConfig(
            hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
            vocab_size=VOCAB, max_position_embeddings=64, attn_implementation="eager")
        body = transformers.BertModel(config, add_pooling_layer=False)
    else:
        config = transformers.GPT2Config(
            n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTERMEDIATE, vocab_size=VOCAB, n_positions=64,
            use_cache=False, bos_token_id=0, eos_token_id=0, attn_implementation="eager")
        body = transformers.GPT2Model(config)
    return _TokenModel(body, _token_inputs(model)).eval()


def _perturb(module: torch.nn.Module) -> None:
    """Tiny noise on every weight and random BatchNorm statistics, so that no two stored tensors are
    equal: the TorchScript exporter stores equal tensors (fresh LayerNorm ones and zeros) once."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1e-3 * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
    module.eval()


class _TokenModel(torch.nn.Module):
    """A transformers model called with named token inputs, returning its last hidden state."""

    def __init__(self, body: torch.nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.body, self.names = body, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.body(**dict(zip(self.names, inputs)), return_dict=False)[0]


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                               torch.nn.BatchNorm2d(c_out))


class _ResidualBlock(torch.nn.Module):
    """ResNet basic block: two 3×3 conv-bn, a 1×1 conv-bn projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.a, self.b = _conv_bn(c_in, c_out, 3, stride), _conv_bn(c_out, c_out, 3)
        self.skip = _conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else torch.nn.Identity()
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.b(self.relu(self.a(x))) + self.skip(x))


def _resnet_like(widths: tuple[int, int, int]) -> torch.nn.Module:
    """conv-bn-relu stem, max pool, two residual blocks (the second strided, with a projection),
    global average pool, fc: the ResNet basic-block pattern at CIFAR size, with `widths` channels."""
    nn = torch.nn
    stem, first, second = widths
    return nn.Sequential(
        _conv_bn(3, stem, 3), nn.ReLU(), nn.MaxPool2d(2),
        _ResidualBlock(stem, first, 1), _ResidualBlock(first, second, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(second, 10),
    ).eval()


# ----------------------------------------------------------------------------- (b)–(f) derived forms

def _transformer_optimizer(model: str, source: Path, path: Path, multi_head: bool = False) -> None:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions(OPTIMIZER_MODEL_TYPE[model])
    options.use_multi_head_attention = multi_head
    optimized = optimize_model(str(source), model_type=OPTIMIZER_MODEL_TYPE[model], num_heads=HEADS,
                               hidden_size=HIDDEN, optimization_options=options)
    optimized.save_model_to_file(str(path))


def _transformer_optimizer_mha(model: str, source: Path, path: Path) -> None:
    _transformer_optimizer(model, source, path, multi_head=True)


def _ort_extended(model: str, source: Path, path: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _quant_dynamic(model: str, source: Path, path: Path, per_channel: bool = False) -> None:
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    # Outputs of contrib ops (an optimized source) have no inferred type: they are float.
    quantize_dynamic(str(source), str(path), per_channel=per_channel, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _quant_dynamic_per_channel(model: str, source: Path, path: Path) -> None:
    _quant_dynamic(model, source, path, per_channel=True)


def _quant_static(quant_format_name: str) -> Callable[[str, Path, Path], None]:
    def derive(model: str, source: Path, path: Path) -> None:
        from onnxruntime.quantization import QuantFormat, quantize_static

        quantize_static(str(source), str(path), _CalibrationReader(model), quant_format=QuantFormat[quant_format_name])

    return derive


def _matmul_nbits(model: str, source: Path, path: Path) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=4, block_size=NBITS_BLOCK)
    quantizer.process()
    quantizer.model.save_model_to_file(str(path))


class _CalibrationReader:
    """A few random feeds for static quantization's range calibration (an onnxruntime CalibrationDataReader)."""

    def __init__(self, model: str):
        rng = np.random.default_rng(1)
        self._feeds = iter([sample_inputs(model, rng) for _ in range(CALIBRATION_SAMPLES)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


_DERIVE: dict[str, Callable[[str, Path, Path], None]] = {
    "export": _export,
    "transformer_optimizer": _transformer_optimizer,
    "transformer_optimizer_mha": _transformer_optimizer_mha,
    "ort_extended": _ort_extended,
    "quant_dynamic": _quant_dynamic,
    "quant_dynamic_per_channel": _quant_dynamic_per_channel,
    "quant_qdq": _quant_static("QDQ"),
    "quant_qoperator": _quant_static("QOperator"),
    "matmul_nbits": _matmul_nbits,
    "optimized_dynamic": _quant_dynamic,
    "optimized_nbits": _matmul_nbits,
    "dynamic_extended": _ort_extended,
    "qdq_extended": _ort_extended,
}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' and quantizers' warnings and progress logs while a file is generated."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
