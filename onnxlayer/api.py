"""The public Python API: `analyze`, `compare`, `layer_expression` and `probe`.

Framework models (Keras, PyTorch, their files) enter through `to_onnx_source`, which hands
them to the converters; everything else is ONNX from here down.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import onnxapi
from .analysis import run_analysis
from .budget import Budget, gc_paused
from .errors import OnnxLayerError, out_of_memory_as_error
from .loading import ModelSource, load_model
from .models_access import zoo_input_shapes, zoo_model
from .result import AnalysisResult
from .transfer import Settings

if TYPE_CHECKING:  # compare and layer_expression import these when called: analyze needs neither
    from .comparison import Comparison
    from .expression import LayerExpression

__all__ = ["analyze", "compare", "layer_expression", "probe", "to_onnx_source", "ZOO_PREFIX"]


def __getattr__(name: str) -> Any:
    """`probe` (the function of `onnxlayer.probe.run`), loaded on first use: analysing never needs the probes."""
    if name == "probe":
        from .probe.run import probe

        globals()["probe"] = probe
        return probe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: Zoo-only prefix for model sources in `compare()` ("zoo:resnet50").
ZOO_PREFIX = "zoo:"


def analyze(
    model: ModelSource | Any,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    example_inputs: Any = None,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
    path: str | None = None,
    trust_pickle: bool = False,
    budget: Budget = Budget(),
    **converter_options: Any,
) -> AnalysisResult:
    """Compute every per-leaf and global metric of SPEC.md for a model.

    `model` is an ONNX path, raw bytes or an `onnx.ModelProto`; or a framework model: a Keras
    model, a `torch.nn.Module` (with `example_inputs`), a `torch.export.ExportedProgram`, or a
    `.keras`/`.h5`/SavedModel/`.pt2` path, converted in memory by `onnxlayer.converters`.
    `input_shapes` maps graph input names to concrete shapes for symbolic dims other than the
    batch dimension. `budget` bounds nodes after unrolling, folded elements and memory, each
    checked before the work (`BudgetError` names the limit).
    """
    settings = Settings(float(tolerance), float(domain))
    with out_of_memory_as_error(budget.max_memory):
        source, label = to_onnx_source(model, example_inputs, trust_pickle, converter_options)
        return run_analysis(source, input_shapes, settings, strict=strict, fuse=fuse, path=path or label, budget=budget).result


def to_onnx_source(model: Any, example_inputs: Any = None, trust_pickle: bool = False,
                   converter_options: Mapping[str, Any] | None = None) -> tuple[ModelSource, str | None]:
    """ONNX sources pass through; framework models and files go through the converters.

    Files named `.onnx` are read as ONNX directly (their errors are ONNX errors); other paths and
    directories are recognised by content (`converters.detect_format`).
    """
    options = dict(converter_options or {})
    if isinstance(model, (bytes, bytearray, onnxapi.ModelProto)):
        return model, None
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        if p.suffix.lower() == ".onnx" or not os.path.exists(p):  # loading names what is wrong with a path it cannot read
            return model, None
        from .converters import convert, detect_format

        if detect_format(p) == "onnx":
            return model, None
        return convert(p, example_inputs, trust_pickle=trust_pickle, **options), str(p)
    from .converters import convert

    return convert(model, example_inputs, **options), f"<{type(model).__name__}>"


def compare(
    models: Sequence[ModelSource | tuple[str, ModelSource]],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
    budget: Budget = Budget(),
) -> Comparison:
    """Analyse each model and collect one row per model; a failing model gives a failed row.

    A model is a path, bytes, an `onnx.ModelProto`, `"zoo:NAME"` for a built-in architecture
    (graph-only), or a `(label, source)` pair. `input_shapes` applies to every model that has
    an input of that name; zoo models get their defaults (`onnxlayer.models.default_input_shapes`) underneath.
    """
    from .comparison import CompareRow, Comparison

    Settings(float(tolerance), float(domain))  # validate once, before any model runs
    shapes = dict(input_shapes or {})
    used: set[str] = set()
    rows = []
    for item in models:
        label, source = item if isinstance(item, tuple) else (_label(item), item)
        try:
            with out_of_memory_as_error(budget.max_memory):
                proto, defaults = _resolve(source, budget)
                names = {i.name for i in proto.graph.input} - {i.name for i in proto.graph.initializer}
                mine = {**defaults, **{k: v for k, v in shapes.items() if k in names}}
                used.update(k for k in shapes if k in names)
                result = analyze(proto, mine, tolerance=tolerance, domain=domain, strict=strict, fuse=fuse, path=label,
                                 budget=budget)
            rows.append(CompareRow(label, result.summary, None, result.warnings))
        except OnnxLayerError as exc:
            rows.append(CompareRow(label, None, _failure(exc, source, label)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug or an exotic model: this row fails, the others go on
            rows.append(CompareRow(label, None, f"internal error: {type(exc).__name__}: {exc}"))
    warnings = tuple(f"--input-shape {k}: no model has an input of that name" for k in shapes if k not in used)
    return Comparison(tuple(rows), {"tolerance": float(tolerance), "domain": float(domain)}, warnings)


def _failure(exc: OnnxLayerError, source: ModelSource, label: str) -> str:
    """Why a row failed, without the path the row already names (loading's errors open with it)."""
    text = str(exc)
    if isinstance(source, (str, os.PathLike)):
        for named in (f"{label}: ", f"{Path(source)}: "):
            if text.startswith(named):
                return text[len(named):]
    return text


def _label(source: ModelSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, onnxapi.ModelProto):
        return source.graph.name or "(in memory)"
    return "(bytes)"


def _resolve(source: ModelSource, budget: Budget = Budget()) -> tuple[onnxapi.ModelProto, dict[str, tuple[int, ...]]]:
    """The model of a `compare()` source, with the zoo's default input shapes for "zoo:NAME"."""
    if isinstance(source, str) and source.startswith(ZOO_PREFIX):
        name = source[len(ZOO_PREFIX):]
        return zoo_model(name), zoo_input_shapes(name)
    return load_model(source, budget), {}


def layer_expression(
    model: ModelSource,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
    path: str | None = None,
    budget: Budget = Budget(),
) -> LayerExpression:
    """Analyse `model` and decompose it into series/parallel/DAG blocks with their metrics."""
    from .decompose import decompose
    from .expression import LayerExpression

    settings = Settings(float(tolerance), float(domain))
    with gc_paused(), out_of_memory_as_error(budget.max_memory):  # the decomposition builds many small objects too
        a = run_analysis(model, input_shapes, settings, strict=strict, fuse=fuse, path=path, budget=budget)
        root, d_at = decompose(a.view, a.walked, a.d, a.d0, a.dominators, a.result.model.path or a.result.model.graph_name or "model")
    return LayerExpression(root, a.result, a.walked, d_at)
