"""Probes that run the model with onnxruntime and measure what the static bounds promise.

`probe(model, ...)` counts linear regions along random lines (with bisection), the local
Jacobian rank of each data tensor and activation statistics per nonlinear leaf, beside
the analysis's complexity bound and effective dimensions. onnxruntime is imported only
when a probe runs (extra `pip install "onnxlayer[probe]"`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .result import ProbeResult

__all__ = ["probe", "ProbeResult"]


def probe(model: Any, input_shapes: Any = None, **options: Any) -> "ProbeResult":
    """Probe a model; see `onnxlayer.probe.run.probe` for the options."""
    from .run import probe as _probe

    return _probe(model, input_shapes, **options)


def __getattr__(name: str) -> Any:
    if name == "ProbeResult":
        from .result import ProbeResult

        return ProbeResult
    raise AttributeError(name)


from .._callable import make_callable  # noqa: E402

make_callable(__name__, "probe")
