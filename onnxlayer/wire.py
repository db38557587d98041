"""A serialized ONNX model without the payloads of its large initializers.

The protobuf wire format is walked by hand only as deep as the main graph's initializers: an
initializer with more elements than a limit, and its values in `raw_data`, is written out
without that field, and where the payload lies in the buffer is kept. Parsing what is left
then costs what the graph costs, not what its weights weigh, and the weights stay in the file's
mapping until something reads them. Anything irregular (a truncated field, a group, a name
that is not UTF-8, two initializers of one name) gives None: the caller parses the whole.
"""
from __future__ import annotations

import math

#: Field numbers (onnx.proto): ModelProto.graph, GraphProto.initializer, and TensorProto's own.
MODEL_GRAPH, GRAPH_INITIALIZER = 7, 5
TENSOR_DIMS, TENSOR_DATA_TYPE, TENSOR_NAME, TENSOR_RAW_DATA, TENSOR_DATA_LOCATION = 1, 2, 8, 9, 14
#: Wire types: varint, 64-bit, length-delimited, 32-bit.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
#: TensorProto.data_type values whose payload is never cut: undefined and string.
KEPT_TYPES = frozenset({0, 8})
EXTERNAL = 1


class _Malformed(Exception):
    """The buffer is not what the walk expects: parse it whole instead."""


def strip_payloads(buf: memoryview, limit: int) -> tuple[bytes, dict[str, tuple[int, int]]] | None:
    """The model in `buf` without the `raw_data` of main-graph initializers of more than `limit`
    elements, and where each cut payload lies in `buf` by initializer name (offset, length);
    None when nothing is cut or the walk meets anything irregular."""
    payloads: dict[str, tuple[int, int]] = {}

    def tensor(start: int, end: int) -> list | None:
        return _cut_tensor(buf, start, end, limit, payloads)

    def graph(start: int, end: int) -> list | None:
        return _rewrite(buf, start, end, GRAPH_INITIALIZER, tensor)

    try:
        out = _rewrite(buf, 0, len(buf), MODEL_GRAPH, graph)
    except _Malformed:
        return None
    return (b"".join(out), payloads) if out is not None and payloads else None


def _rewrite(buf: memoryview, start: int, end: int, number: int, edit) -> list | None:
    """buf[start:end] with each length-delimited field `number` replaced by `edit(value start,
    value end)` where that gives new pieces, as the pieces (slices of buf and bytes) that join
    into it: the bytes are copied once, by the caller's join, however deep the edit. None when
    nothing changed."""
    pieces: list = []
    last = start
    for field, wire, begin, value_start, value_end in _fields(buf, start, end):
        if field != number or wire != LENGTH:
            continue
        new = edit(value_start, value_end)
        if new is not None:
            pieces += [buf[last:begin], _varint_bytes(field << 3 | LENGTH), _varint_bytes(sum(map(len, new)))]
            pieces += new
            last = value_end
    if not pieces:
        return None
    pieces.append(buf[last:end])
    return pieces


def _cut_tensor(buf: memoryview, start: int, end: int, limit: int, payloads: dict[str, tuple[int, int]]) -> list | None:
    """The TensorProto in buf[start:end] without its raw_data (as the pieces around it), if it
    has more than `limit` elements and keeps its values there; records the payload under the
    tensor's name."""
    dims: list[int] = []
    data_type, name, raw, location = 0, None, None, 0
    for field, wire, begin, value_start, value_end in _fields(buf, start, end):
        if field == TENSOR_DIMS:
            if wire == VARINT:
                dims.append(_varint(buf, value_start, value_end)[0])
            elif wire == LENGTH:  # packed
                i = value_start
                while i < value_end:
                    d, i = _varint(buf, i, value_end)
                    dims.append(d)
        elif field == TENSOR_DATA_TYPE and wire == VARINT:
            data_type = _varint(buf, value_start, value_end)[0]
        elif field == TENSOR_NAME and wire == LENGTH:
            try:
                name = bytes(buf[value_start:value_end]).decode("utf-8")
            except UnicodeDecodeError:
                raise _Malformed from None
        elif field == TENSOR_RAW_DATA and wire == LENGTH:
            if raw is not None:
                raise _Malformed  # two payloads: protobuf keeps the last; let it
            raw = (begin, value_start, value_end)
        elif field == TENSOR_DATA_LOCATION and wire == VARINT:
            location = _varint(buf, value_start, value_end)[0]
    if raw is None or name is None or location == EXTERNAL or data_type in KEPT_TYPES:
        return None
    if any(d >= 1 << 63 for d in dims) or math.prod(dims) <= limit:  # a negative dim is left for the checks
        return None
    if name in payloads:
        raise _Malformed
    begin, value_start, value_end = raw
    payloads[name] = (value_start, value_end - value_start)
    return [buf[start:begin], buf[value_end:end]]


def _fields(buf: memoryview, start: int, end: int):
    """(field number, wire type, field start, value start, value end) of each field in buf[start:end]."""
    i = start
    while i < end:
        begin = i
        tag = buf[i]
        if tag < 0x80:  # one byte (fields 1-15): most of them
            i += 1
        else:
            tag, i = _varint(buf, i, end)
        field, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value_start = i
            i = _varint(buf, i, end)[1]
        elif wire == LENGTH:
            if i < end and buf[i] < 0x80:
                length, value_start = buf[i], i + 1
            else:
                length, value_start = _varint(buf, i, end)
            i = value_start + length
        elif wire == FIXED64:
            value_start, i = i, i + 8
        elif wire == FIXED32:
            value_start, i = i, i + 4
        else:
            raise _Malformed  # groups: not in ONNX
        if i > end or field == 0:
            raise _Malformed
        yield field, wire, begin, value_start, i


def _varint(buf: memoryview, i: int, end: int) -> tuple[int, int]:
    """The varint at buf[i], and the index after it."""
    result = shift = 0
    while True:
        if i >= end or shift > 63:
            raise _Malformed
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
