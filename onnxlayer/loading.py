"""Load bytes into an `onnx.ModelProto`, and the copies preparation starts from.

Never reads external data files, and strips the payload of large initializers before
shape inference: the metrics need shapes, types, attributes and small constants only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from .errors import ModelLoadError

ModelSource = Union[str, os.PathLike, bytes, onnx.ModelProto]

#: Initializers with more elements than this keep only their dims and type.
SMALL_CONSTANT = 1 << 16
#: Opsets below this are upgraded with onnx's version converter before analysis.
MIN_OPSET = 7
UPGRADE_TO = 13


def load_model(source: ModelSource) -> onnx.ModelProto:
    """Read a model from a path, raw bytes or a ModelProto, validating the basics."""
    if isinstance(source, onnx.ModelProto):
        model = source
        label = "model"
    elif isinstance(source, (bytes, bytearray)):
        model = _parse(bytes(source), "bytes")
        label = "bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        if not path.exists():
            raise ModelLoadError(f"{path}: no such file")
        if path.is_dir():
            raise ModelLoadError(f"{path}: is a directory, not an ONNX file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
        model = _parse(data, str(path))
    else:
        raise ModelLoadError(f"cannot load a model from a {type(source).__name__}")
    _validate(model, label)
    return model


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    if not data:
        raise ModelLoadError(f"{label}: file is empty")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{label}: not an ONNX model (protobuf parse failed: {exc})") from None
    return model


def _validate(model: onnx.ModelProto, label: str) -> None:
    if not model.HasField("graph"):
        raise ModelLoadError(f"{label}: not an ONNX model (no graph)")
    if model.ir_version <= 0:
        raise ModelLoadError(f"{label}: not an ONNX model (no IR version)")
    if not model.graph.node and not model.graph.output:
        raise ModelLoadError(f"{label}: the graph is empty (no nodes, no outputs)")
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain in ("", "ai.onnx") else entry.domain
        shown = domain or "ai.onnx"
        if entry.version < 1:
            raise ModelLoadError(f"{label}: invalid opset_import: domain {shown} has version {entry.version}")
        if versions.setdefault(domain, entry.version) != entry.version:
            raise ModelLoadError(
                f"{label}: invalid opset_import: domain {shown} is imported twice (versions {versions[domain]} and {entry.version})"
            )
    bad = _non_utf8_field(model)
    if bad:
        raise ModelLoadError(f"{label}: corrupt model ({bad} is not valid UTF-8 text)")


def _non_utf8_field(message: Message, path: str = "model") -> str | None:
    """Path of the first text field holding invalid UTF-8, else None.

    ONNX is proto2, whose parser accepts any bytes in a string field and then hands
    them to Python as `bytes` instead of `str`; names like that break every later step.
    Doc strings are skipped: nothing reads them, and legacy producers wrote Latin-1 there.
    """
    for field, value in message.ListFields():
        if field.name == "doc_string":
            continue
        # protobuf 6+ has is_repeated and drops label; older releases have only label
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:
            repeated = field.label == FieldDescriptor.LABEL_REPEATED
        if field.type == FieldDescriptor.TYPE_STRING:
            for k, text in enumerate(value if repeated else [value]):
                if isinstance(text, bytes):
                    return f"{path}.{field.name}" + (f"[{k}]" if repeated else "")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for k, item in enumerate(value if repeated else [value]):
                found = _non_utf8_field(item, f"{path}.{field.name}" + (f"[{k}]" if repeated else ""))
                if found:
                    return found
    return None


def default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    # IR < 3 models carry no opset_import and mean opset 1
    return 1


def skeleton(model: onnx.ModelProto, limit: int = SMALL_CONSTANT) -> onnx.ModelProto:
    """A copy of `model` whose large initializers keep dims and type but no payload."""
    out = onnx.ModelProto()
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(out, field, getattr(model, field))
    out.opset_import.extend(model.opset_import)
    out.functions.extend(model.functions)
    out.metadata_props.extend(model.metadata_props)
    g, src = out.graph, model.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    g.sparse_initializer.extend(src.sparse_initializer)
    for init in src.initializer:
        count = 1
        for d in init.dims:
            count *= d
        if count <= limit and init.data_location != onnx.TensorProto.EXTERNAL:
            g.initializer.append(init)
        else:
            g.initializer.append(_stub(init))
    return out


def _stub(init: onnx.TensorProto) -> onnx.TensorProto:
    stub = onnx.TensorProto(name=init.name, data_type=init.data_type)
    stub.dims.extend(init.dims)
    stub.data_location = onnx.TensorProto.EXTERNAL
    entry = stub.external_data.add()
    entry.key, entry.value = "location", "onnxlayer-stripped"
    return stub


def upgrade_if_old(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    """Upgrade models older than opset 7 (our rules follow opset 7 and later)."""
    opset = default_opset(model)
    if opset >= MIN_OPSET:
        return model, None
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(model, UPGRADE_TO)
    except Exception as exc:  # the converter raises bare RuntimeErrors
        raise ModelLoadError(f"opset {opset} is older than {MIN_OPSET} and could not be upgraded: {exc}") from None
    return upgraded, f"upgraded the model from opset {opset} to {UPGRADE_TO}"


def model_sha256(source: ModelSource) -> str | None:
    """SHA-256 of the model file or bytes (None for an in-memory ModelProto)."""
    import hashlib

    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).hexdigest()
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        h = hashlib.sha256()
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    return None
