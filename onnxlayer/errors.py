"""Domain exceptions. The CLI turns each into one line on stderr and exit code 2.

An error carries its parts: `message` (what is wrong, in the library's words), an optional
`hint` (how to fix it) and, where one is known, the culprit (`ShapeError.tensor`/`axis`,
`SettingsError.setting`/`tensor`). `str(err)` assembles the line the command line prints, so
hints and setting names are worded for it (`CLI_SETTINGS`); an API caller can show `message`
and build its own remedy from the fields.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


#: Control characters and line separators shown as escapes, so a message is always one line.
_CONTROL_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(32), 127, 0x85, 0x2028, 0x2029)}
#: How the command line spells the API settings an error can name.
CLI_SETTINGS = {"input_shapes": "--input-shape", "max_nodes": "--max-nodes",
                "max_folded_elements": "--max-folded-elements", "max_memory": "--max-memory"}


class OnnxLayerError(Exception):
    """Base of every error onnxlayer raises on purpose (bad input, bad settings)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        # op types and names from a corrupt model can hold newlines; the CLI promises one line
        return self._line().translate(_CONTROL_ESCAPES)

    def _line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ModelLoadError(OnnxLayerError):
    """The bytes are not a usable ONNX model (missing, empty, corrupt, not a model)."""


class GraphError(OnnxLayerError):
    """The graph is malformed: dangling tensor names, cycles, duplicate producers."""


class ShapeError(OnnxLayerError):
    """A data tensor has a dimension that is unknown, symbolic or absurd.

    `tensor` names it and `axis` the dimension, when known (`axis` None: the whole shape).
    """

    def __init__(self, message: str, *, hint: str = "", tensor: str | None = None, axis: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tensor = tensor
        self.axis = axis


class SettingsError(OnnxLayerError):
    """A user setting (tolerance, domain, input shape, ...) is invalid.

    `setting` names the API parameter at fault, when known; the line then opens with the
    command line's spelling of it ("--input-shape x: ..."). `tensor`: the input it names.
    """

    def __init__(self, message: str, *, hint: str = "", setting: str | None = None, tensor: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.setting = setting
        self.tensor = tensor

    def _line(self) -> str:
        line = super()._line()
        return f"{CLI_SETTINGS.get(self.setting, self.setting)} {line}" if self.setting else line


class BudgetError(OnnxLayerError):
    """The analysis would exceed a limit of its `Budget` (nodes, folded elements, memory).

    `limit` names the `onnxlayer.budget.Budget` field; the line ends with the flag that raises it.
    """

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message, hint=f"raise it with {CLI_SETTINGS.get(limit, limit)} if the model is meant to be this large")
        self.limit = limit


class OutOfMemoryError(OnnxLayerError):
    """The work ran out of memory (a MemoryError) within its memory limit: the machine or the
    process's limits give less than `max_memory` bytes. `limit` is "max_memory", as in BudgetError."""

    def __init__(self, max_memory: float) -> None:
        flag = CLI_SETTINGS["max_memory"]
        super().__init__(f"ran out of memory within the limit of {max_memory / (1 << 30):.3g} GB that {flag} sets: "
                         "this process can have less than that",
                         hint=f"set {flag} to what it can have, so that work past it is refused before it starts")
        self.limit = "max_memory"


@contextmanager
def out_of_memory_as_error(max_memory: float) -> Iterator[None]:
    """Within the block, a MemoryError becomes an OutOfMemoryError naming the `max_memory` limit."""
    try:
        yield
    except MemoryError:
        raise OutOfMemoryError(max_memory) from None


class OpaqueLeafError(OnnxLayerError):
    """Raised in strict mode when some leaves have no registry rule."""


def input_shape_hint(tensor: str, dims: str = "D1xD2x...") -> str:
    """The remedy for a graph input whose shape is not fixed: give it as `dims`."""
    return f"give it with {CLI_SETTINGS['input_shapes']} {tensor}={dims}"
