"""Load bytes into an `onnx.ModelProto`, and the copies preparation starts from.

Opens regular files only (a FIFO would block, `/dev/zero` never ends), checks their size
against the budget before reading, and never reads external data files; strips the payload
of large initializers before shape inference: the metrics need shapes, types, attributes and
small constants only.
"""
from __future__ import annotations

import hashlib
import math
import mmap
import os
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from . import onnxapi
from .budget import Budget
from .errors import ModelLoadError
from .wire import strip_payloads

ModelSource = Union[str, os.PathLike, bytes, onnxapi.ModelProto]

#: Initializers with more elements than this keep only their dims and type.
SMALL_CONSTANT = 1 << 16
#: Opsets below this are upgraded with onnx's version converter before analysis.
MIN_OPSET = 7
UPGRADE_TO = 13
#: Protobuf cannot parse a message beyond 2 GiB: larger ONNX files keep weights as external data.
MAX_PROTOBUF_BYTES = (1 << 31) - 1
#: Parsing holds the file's bytes and the message built from them.
PARSE_FACTOR = 2
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def load_model(source: ModelSource, budget: Budget = Budget()) -> onnxapi.ModelProto:
    """Read a model from a path, raw bytes or a ModelProto, validating the basics."""
    return load_model_and_digest(source, budget)[0]


def load_model_and_digest(source: ModelSource, budget: Budget = Budget()) -> tuple[onnxapi.ModelProto, Digest]:
    """`load_model`, with the SHA-256 of the bytes it parsed (None for a ModelProto): hashed in
    memory, so a file is read once (a 100 MB model: one read instead of two), and beside the
    rest of the analysis (`Digest`)."""
    digest = Digest(None)
    if isinstance(source, onnxapi.ModelProto):
        model = source
        label = "model"
    elif isinstance(source, (bytes, bytearray)):
        budget.check_memory(PARSE_FACTOR * len(source), "parsing the model's bytes")
        data = bytes(source)
        digest = Digest(data)
        model = _parse(data, "bytes")
        label = "bytes"
    elif isinstance(source, (str, os.PathLike)):
        label = str(Path(source))
        data = read_model_file(source, budget)
        digest = Digest(data)
        model = _parse(data, label)
    else:
        raise ModelLoadError(f"cannot load a model from a {type(source).__name__}")
    _validate(model, label)
    return model, digest


class Digest:
    """The SHA-256 of a model's bytes, hashed on another thread while the model is parsed and
    analysed (hashlib lets go of the GIL: a 100 MB file's 60 ms overlap the analysis);
    `value()` waits for it. No bytes: None."""

    #: Below this many bytes the hash is taken at once (a thread costs more than it saves).
    THREADED = 1 << 22

    def __init__(self, data: bytes | memoryview | None) -> None:
        self._value: str | None = None
        self._thread: threading.Thread | None = None
        if data is not None and len(data) < self.THREADED:
            self._hash(data)
        elif data is not None:
            self._thread = threading.Thread(target=self._hash, args=(data,), name="onnxlayer-sha256", daemon=True)
            self._thread.start()

    def _hash(self, data: bytes | memoryview) -> None:
        self._value = hashlib.sha256(data).hexdigest()

    def value(self) -> str | None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self._value


#: Model files mapped, and their digests begun, before the analysis reads them (`begin_reading`):
#: by path, with the file's identity then (device, inode, size, modification time).
_begun: dict[str, tuple[tuple[int, int, int, int], memoryview, Digest]] = {}


def _identity(fd: int) -> tuple[int, int, int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def begin_reading(path: str | os.PathLike) -> None:
    """Map the model file at `path` and start its SHA-256 now, for the `load_for_analysis` to come:
    the command does this before it imports the analysis, so a large file's hash runs beside the
    imports instead of after them (and its pages are read in by then). A path that is not a
    regular file of a size loading accepts begins nothing: loading reports it. The file loading
    opens must still be the one mapped here (same identity), or it is mapped again."""
    try:
        with open_regular(path) as (fd, size):
            if size < Digest.THREADED or size > MAX_PROTOBUF_BYTES:  # small: nothing worth beginning
                return
            identity = _identity(fd)
            mapped = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_READ))
    except (ModelLoadError, OSError, ValueError):
        return
    _begun[str(Path(path))] = (identity, mapped, Digest(mapped))


def load_for_analysis(source: ModelSource, budget: Budget = Budget()) -> tuple[onnxapi.ModelProto, Digest, dict[str, memoryview]]:
    """`load_model_and_digest`, and for a file, without parsing the payloads of large
    initializers (`wire.strip_payloads`): the file is mapped, not read, and the payloads stay
    there, returned by initializer name for what reads their values (parameter counting). The
    model's initializers of more than `SMALL_CONSTANT` elements then hold dims and type only:
    preparation keeps no more of them (`skeleton`)."""
    if not isinstance(source, (str, os.PathLike)):
        return (*load_model_and_digest(source, budget), {})
    label = str(Path(source))
    begun = _begun.pop(label, None)
    with open_regular(source) as (fd, size):
        _check_size(source, size, budget)
        if begun is not None and begun[0] == _identity(fd):
            mapped, digest = begun[1], begun[2]
        else:
            try:
                mapped = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_READ)) if size else None
            except (OSError, ValueError):  # a file system without mappings: read it
                mapped = None
            digest = None
    if mapped is None:
        model, digest = load_model_and_digest(source, budget)
        return model, digest, {}
    digest = digest or Digest(mapped)  # from here on, beside the walk and the parse
    cut = strip_payloads(mapped, SMALL_CONSTANT) if size > SMALL_CONSTANT else None  # smaller: nothing to cut
    if cut is None:
        model, payloads = _parse(mapped.tobytes(), label), {}
    else:
        data, where = cut
        model = _parse(data, label)
        payloads = {name: mapped[offset:offset + length] for name, (offset, length) in where.items()}
    _validate(model, label)
    return model, digest, payloads


def _check_size(path: str | os.PathLike, size: int, budget: Budget) -> None:
    if size > MAX_PROTOBUF_BYTES:
        raise ModelLoadError(f"{Path(path)}: {size:,} bytes, beyond the 2 GB a protobuf can hold "
                             "(an ONNX file this large must keep its weights as external data)")
    budget.check_memory(PARSE_FACTOR * size, f"reading {Path(path)} ({size:,} bytes)")


def read_model_file(path: str | os.PathLike, budget: Budget = Budget()) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), size checked before reading.

    FIFOs, devices, sockets and directories are refused without reading: opening is
    non-blocking, and the type is taken from the opened descriptor (no race with a rename).
    """
    with open_regular(path) as (fd, size):
        _check_size(path, size, budget)
        chunks, left = [], size
        while left > 0:  # a file that grows while read is cut at the size checked
            chunk = os.read(fd, min(left, 1 << 30))  # a model file is mostly one read: no joined copy
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


@contextmanager
def open_regular(path: str | os.PathLike) -> Iterator[tuple[int, int]]:
    """`with open_regular(path) as (fd, size)`: a read-only descriptor on a regular file, or a
    ModelLoadError naming what the path is instead."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelLoadError(f"{path}: is a directory, not an ONNX file") from None
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ModelLoadError(f"{path}: is a directory, not an ONNX file")
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise ModelLoadError(f"{path}: is {kind}, not a regular file; only model files are read")
        yield fd, info.st_size
    finally:
        os.close(fd)


def _parse(data: bytes, label: str) -> onnxapi.ModelProto:
    if not data:
        raise ModelLoadError(f"{label}: file is empty")
    model = onnxapi.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{label}: not an ONNX model (protobuf parse failed: {exc})") from None
    return model


def _validate(model: onnxapi.ModelProto, label: str) -> None:
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
    Only text and message fields are read: a tensor's payload is never copied out.
    """
    found = _non_utf8_in(message)
    return None if found is None else path + found


def _non_utf8_in(message: Message) -> str | None:
    """`_non_utf8_field`'s path below `message` (".field[k]..."); the path is spelled out only
    for the field found (a model's thousands of sound fields make no strings). A tensor's text
    and message fields are read by name (its payload is never read); any other message's fields
    come from `ListFields`, the fields set, in field-number order: one call, where reading each
    text and message field an attribute or node could hold was ten."""
    if message.DESCRIPTOR.full_name == "onnx.TensorProto":
        fields = [(name, is_text, repeated, getattr(message, name)) for name, is_text, repeated in
                  _text_fields(message.DESCRIPTOR) if repeated or is_text or message.HasField(name)]
    else:
        fields = [(f.name, f.type == _STRING, is_repeated(f), value) for f, value in message.ListFields()
                  if f.type in _TEXT_OR_MESSAGE and f.name != "doc_string"]
    for name, is_text, repeated, value in fields:
        if is_text:
            if repeated:
                if bytes in map(type, value):
                    return f".{name}[{[type(v) for v in value].index(bytes)}]"
            elif type(value) is bytes:
                return f".{name}"
        elif repeated:
            for k, item in enumerate(value):
                found = _non_utf8_in(item)
                if found is not None:
                    return f".{name}[{k}]{found}"
        else:
            found = _non_utf8_in(value)
            if found is not None:
                return f".{name}{found}"
    return None


_STRING = FieldDescriptor.TYPE_STRING
_TEXT_OR_MESSAGE = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE)


_TEXT_FIELDS: dict[str, tuple[tuple[str, bool, bool], ...]] = {}


def _text_fields(descriptor) -> tuple[tuple[str, bool, bool], ...]:
    """(name, is text, is repeated) of the string and message fields of a message type but its
    doc string, in field-number order (the order `ListFields` gives)."""
    known = _TEXT_FIELDS.get(descriptor.full_name)
    if known is None:
        known = _TEXT_FIELDS[descriptor.full_name] = tuple(
            (f.name, f.type == FieldDescriptor.TYPE_STRING, is_repeated(f))
            for f in sorted(descriptor.fields, key=lambda f: f.number)
            if f.name != "doc_string" and f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE))
    return known


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether a protobuf field is repeated (protobuf 6+ has `is_repeated` and drops `label`;
    older releases have only `label`)."""
    repeated = getattr(field, "is_repeated", None)
    return field.label == FieldDescriptor.LABEL_REPEATED if repeated is None else repeated


def default_opset(model: onnxapi.ModelProto) -> int:
    """The model's ai.onnx opset: the one it imports; opset 1 for an IR < 3 model, which imports
    none; the installed onnx's newest for a model importing other domains only (ai.onnx.ml,
    ai.onnx.preview.training), which can hold no ai.onnx op, so that no version is wrong for it."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return onnxapi.defs.onnx_opset_version() if model.opset_import else 1


def version_warnings(model: onnxapi.ModelProto) -> list[str]:
    """Warnings for an IR version or opset newer than the installed onnx knows: its ops are
    read with the newest schemas onnx has, which may not be what the producer meant."""
    known_ir = onnxapi.IR_VERSION
    known = {"": onnxapi.defs.onnx_opset_version(), "ai.onnx.ml": onnxapi.defs.onnx_ml_opset_version()}
    newer = []  # (what is newer, what onnx knows and how it is read)
    if model.ir_version > known_ir:
        newer.append((f"IR version {model.ir_version}", f"({known_ir}); read as IR {known_ir}"))
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        newest = known.get(domain)
        if newest is not None and entry.version > newest:
            newer.append((f"opset {entry.version} of {domain or 'ai.onnx'}",
                          f"({newest}); its ops are read with their opset {newest} schemas"))
    if not newer:
        return []
    installed = f"the installed onnx {onnxapi.version()}"
    return [f"{what} is newer than {installed} knows {known_here}" for what, known_here in newer]


#: What a skeleton keeps of a model and of its graph (training graphs, annotations and the
#: graph's doc string and metadata are read by no step of the analysis).
SKELETON_FIELDS = frozenset({"ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string",
                             "opset_import", "functions", "metadata_props", "graph"})
SKELETON_GRAPH_FIELDS = frozenset({"name", "node", "input", "output", "value_info", "sparse_initializer", "initializer"})
#: What a stub keeps of an initializer (then marked as stored elsewhere).
STUB_FIELDS = frozenset({"name", "data_type", "dims"})


def skeleton(model: onnxapi.ModelProto, limit: int = SMALL_CONSTANT, in_place: bool = False) -> onnxapi.ModelProto:
    """A copy of `model` whose large initializers keep dims and type but no payload (`stub`);
    `in_place`: `model` itself made so, for a caller that owns it (no copy of the graph)."""
    if in_place:
        _clear_fields(model, _set_fields_but(model, SKELETON_FIELDS))
        _clear_fields(model.graph, _set_fields_but(model.graph, SKELETON_GRAPH_FIELDS))
        for init in model.graph.initializer:
            if is_large(init, limit):
                _stub_in_place(init)
        return model
    out = copy_model(model, skip=_set_fields_but(model, SKELETON_FIELDS),
                     skip_graph=_set_fields_but(model.graph, SKELETON_GRAPH_FIELDS) + ("initializer",))
    out.graph.initializer.extend([stub(init) if is_large(init, limit) else init for init in model.graph.initializer])
    return out


def _set_fields_but(message: Message, kept: frozenset[str]) -> tuple[str, ...]:
    """The names of the fields `message` sets, but those in `kept`."""
    return tuple(field.name for field, _ in message.ListFields() if field.name not in kept)


def _clear_fields(message: Message, names: tuple[str, ...]) -> None:
    for name in names:
        message.ClearField(name)


def is_large(init: onnxapi.TensorProto, limit: int = SMALL_CONSTANT) -> bool:
    """Whether a skeleton keeps only the dims and type of `init`: more than `limit` elements, or
    stored outside the model."""
    return math.prod(init.dims) > limit or init.data_location == onnxapi.TensorProto.EXTERNAL


def copy_model(model: onnxapi.ModelProto, skip: tuple[str, ...] = (), skip_graph: tuple[str, ...] = ()) -> onnxapi.ModelProto:
    """A copy of `model` without its fields named in `skip` nor its graph's named in `skip_graph`
    (never copied, rather than copied and cleared: protobuf keeps a cleared field's memory)."""
    out = onnxapi.ModelProto()
    copy_fields(model, out, skip=(*skip, "graph"))
    copy_fields(model.graph, out.graph, skip=skip_graph)
    return out


def copy_fields(source: onnxapi.ModelProto | onnxapi.GraphProto, target: onnxapi.ModelProto | onnxapi.GraphProto,
                skip: tuple[str, ...]) -> None:
    """Copy every field of `source` into `target` but those named in `skip`."""
    for field, value in source.ListFields():
        if field.name in skip:
            continue
        if is_repeated(field):
            getattr(target, field.name).extend(value)
        elif field.type == field.TYPE_MESSAGE:
            getattr(target, field.name).CopyFrom(value)
        else:
            setattr(target, field.name, value)


def stub(init: onnxapi.TensorProto) -> onnxapi.TensorProto:
    """The initializer's name, type and dims, its payload left out (marked as stored elsewhere)."""
    stub = onnxapi.TensorProto(name=init.name, data_type=init.data_type)
    stub.dims.extend(init.dims)
    _mark_stripped(stub)
    return stub


def _stub_in_place(init: onnxapi.TensorProto) -> None:
    """`stub`, made of `init` itself: every field but its name, type and dims cleared."""
    _clear_fields(init, _set_fields_but(init, STUB_FIELDS))
    _mark_stripped(init)


def _mark_stripped(init: onnxapi.TensorProto) -> None:
    init.data_location = onnxapi.TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "onnxlayer-stripped"


def upgrade_if_old(model: onnxapi.ModelProto) -> tuple[onnxapi.ModelProto, str | None]:
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
    """SHA-256 of the model file or bytes (None for an in-memory ModelProto or a path that is
    not a readable regular file)."""
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).hexdigest()
    if not isinstance(source, (str, os.PathLike)):
        return None
    h = hashlib.sha256()
    try:
        with open_regular(source) as (fd, _):
            for block in iter(lambda: os.read(fd, 1 << 20), b""):
                h.update(block)
    except ModelLoadError:
        return None
    return h.hexdigest()
