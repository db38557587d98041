"""PyTorch front-end: ``nn.Module`` + example inputs, ``ExportedProgram`` or ``.pt2`` file -> ``onnx.ModelProto``.

Two exporters, both ``torch.onnx.export``: the dynamo exporter (default) and
the legacy TorchScript one (``exporter="legacy"``); ``exporter="auto"`` tries
dynamo and falls back on legacy. Known traps handled here:

* Dynamic batch from a batch-1 example fails under torch.export (size-1 dims
  are specialised, the batch range collapses: "Invalid ranges [2:1]" on
  ConvNeXt and Swin). We trace with the batch repeated to 2 and keep the batch
  dimension symbolic (``batch``), so the graph does not depend on the example.
* The legacy exporter cannot export ``aten::_native_multi_head_attention``,
  which ``nn.MultiheadAttention`` takes in eval mode (ViT). Export runs with the
  attention fast path off (restored after).

Pickles are never loaded unless the caller says it trusts them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:  # onnx is imported where used: the package import stays cheap
    import onnx

from . import BATCH_DIM, DEFAULT_OPSET, ConverterError, check_complete, require

__all__ = [
    "BATCH_DIM",
    "EXPORTERS",
    "convert_torch",
    "from_module",
    "from_exported_program",
    "from_pt2",
    "from_trusted_pickle",
    "mha_fastpath_disabled",
]

EXPORTERS = ("auto", "dynamo", "legacy")

_log = logging.getLogger(__name__)


def _torch() -> Any:
    torch = require("torch")
    return torch


def convert_torch(obj: Any, example_inputs: Any = None, *, opset: int = DEFAULT_OPSET,
                  **options: Any) -> onnx.ModelProto:
    """Dispatch for :func:`onnxlayer.converters.convert`: an ExportedProgram or an nn.Module."""
    torch = _torch()
    if isinstance(obj, torch.export.ExportedProgram):
        return from_exported_program(obj, opset=opset, **options)
    if isinstance(obj, torch.nn.Module):
        if example_inputs is None:
            raise ConverterError(
                "a torch.nn.Module needs example inputs to be traced: convert(model, example_inputs=(x,))"
            )
        return from_module(obj, example_inputs, opset=opset, **options)
    raise ConverterError(f"cannot convert {type(obj).__qualname__} with the PyTorch front-end")


def from_module(module: Any, example_inputs: Any, *, exporter: str = "auto", opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """Export ``module`` in eval mode with ``example_inputs`` (a tensor or a tuple of positional inputs).

    ``dynamic_batch`` keeps dimension 0 of every tensor input symbolic (named
    ``batch``); if the model cannot be exported so, it is exported with the
    example's batch size and a warning.
    """
    _torch()
    if exporter not in EXPORTERS:
        raise ConverterError(f"unknown exporter {exporter!r}; choose one of {EXPORTERS}")
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    was_training = module.training
    module.eval()
    exporters = {"auto": (_export_dynamo, _export_legacy), "dynamo": (_export_dynamo,),
                 "legacy": (_export_legacy,)}[exporter]
    failures = []
    try:
        for export in exporters:
            try:
                return export(module, args, opset, dynamic_batch, input_names, output_names)
            except Exception as exc:  # noqa: BLE001 - the next exporter may cope; all failures are reported
                failures.append(f"{export.__name__.removeprefix('_export_')}: {_first_line(exc)}")
                if export is not exporters[-1]:
                    _log.warning("%s; trying the next exporter", failures[-1])
                last = exc
        raise ConverterError(f"export of {type(module).__name__} failed ({'; '.join(failures)})") from last
    finally:
        module.train(was_training)


def from_exported_program(program: Any, *, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export a ``torch.export.ExportedProgram`` with the dynamo exporter (its shapes are already fixed)."""
    torch = _torch()
    require("onnxscript")
    with _quiet_export():
        onnx_program = torch.onnx.export(program, (), dynamo=True, opset_version=opset, optimize=True,
                                         verbose=False)
    return _finish(onnx_program.model_proto)


def from_pt2(path: str | os.PathLike, *, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Load a ``torch.export.save`` archive (.pt2, no pickle involved) and export it."""
    torch = _torch()
    program = torch.export.load(os.fspath(path))
    return from_exported_program(program, opset=opset)


def from_trusted_pickle(path: str | os.PathLike, example_inputs: Any = None, *, opset: int = DEFAULT_OPSET,
                        **options: Any) -> onnx.ModelProto:
    """Unpickle a whole ``nn.Module`` saved with ``torch.save`` -- only for files the caller trusts."""
    torch = _torch()
    obj = torch.load(os.fspath(path), map_location="cpu", weights_only=False)  # caller opted in: trust_pickle
    if isinstance(obj, torch.nn.Module):
        if example_inputs is None:
            raise ConverterError(f"{path} holds an nn.Module; pass example_inputs=(x,) to trace it")
        return from_module(obj, example_inputs, opset=opset, **options)
    if isinstance(obj, torch.export.ExportedProgram):
        return from_exported_program(obj, opset=opset)
    kind = "a state_dict (weights only)" if isinstance(obj, dict) else f"a {type(obj).__qualname__}"
    raise ConverterError(
        f"{path} holds {kind}, not a model: the architecture lives in the code that builds it. "
        "Build the model, load the weights, and convert the module: convert(model, example_inputs=(x,))"
    )


# ---------------------------------------------------------------------------
# Exporters
# ---------------------------------------------------------------------------


def _export_dynamo(module: Any, args: tuple, opset: int, dynamic_batch: bool,
                   input_names: Sequence[str] | None, output_names: Sequence[str] | None) -> Any:
    torch = _torch()
    require("onnxscript")
    names = dict(input_names=list(input_names) if input_names else None,
                 output_names=list(output_names) if output_names else None)
    if dynamic_batch and _batched(args):
        try:
            traced_args = tuple(_batch_of_two(a) for a in args)
            batch = torch.export.Dim(BATCH_DIM)
            shapes = tuple({0: batch} if _is_batched_tensor(a) else None for a in args)
            with _quiet_export():
                program = torch.onnx.export(module, traced_args, dynamo=True, opset_version=opset,
                                            dynamic_shapes=shapes, optimize=True, verbose=False, **names)
            return _finish(program.model_proto)
        except Exception as exc:  # noqa: BLE001
            _log.warning("dynamic-batch export failed (%s); exporting with the example's batch size",
                         _first_line(exc))
    with _quiet_export():
        program = torch.onnx.export(module, args, dynamo=True, opset_version=opset, optimize=True,
                                    verbose=False, **names)
    return _finish(program.model_proto)


def _export_legacy(module: Any, args: tuple, opset: int, dynamic_batch: bool,
                   input_names: Sequence[str] | None, output_names: Sequence[str] | None) -> Any:
    torch = _torch()
    onnx = require("onnx")
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    in_names = list(input_names) if input_names else [f"input_{i}" for i in range(len(tensors))]
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: BATCH_DIM} for name, a in zip(in_names, tensors, strict=False) if a.dim() > 0}
    buffer = io.BytesIO()
    with mha_fastpath_disabled(), _quiet_export():
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, input_names=in_names,
                          output_names=list(output_names) if output_names else None,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    return _finish(onnx.load_from_string(buffer.getvalue()))


@contextlib.contextmanager
def mha_fastpath_disabled() -> Iterator[None]:
    """Keep ``nn.MultiheadAttention``/``TransformerEncoderLayer`` off their fused inference kernel.

    The fused op (``aten::_native_multi_head_attention``) has no ONNX symbolic;
    the slow path is the same maths in exportable ops.
    """
    torch = _torch()
    mha = getattr(torch.backends, "mha", None)
    if mha is None:
        yield
        return
    previous = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(previous)


def _finish(model: Any) -> Any:
    check_complete(model)
    return model


def _is_batched_tensor(value: Any) -> bool:
    torch = _torch()
    return isinstance(value, torch.Tensor) and value.dim() > 0


def _batched(args: tuple) -> bool:
    return any(_is_batched_tensor(a) for a in args)


def _batch_of_two(value: Any) -> Any:
    """A batch-2 stand-in for a tensor input: torch.export specialises size-1 dims, so batch 1 cannot stay dynamic."""
    if not _is_batched_tensor(value):
        return value
    if value.shape[0] == 1:
        return value.expand(2, *value.shape[1:]).clone()
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The exporters print progress and deprecation chatter; keep the caller's output clean."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
