"""Access to the architecture zoo (`onnxlayer.models`) with onnxlayer's errors."""
from __future__ import annotations

from . import onnxapi
from .errors import SettingsError


def zoo_module():
    from . import models

    return models


def zoo_model(name: str, weights: bool = False) -> onnxapi.ModelProto:
    """Build a zoo model (graph-only by default: the metrics need no weight values)."""
    zoo = zoo_module()
    if name not in zoo.names():
        raise SettingsError(f"no zoo model {name!r}; available: {', '.join(zoo.names())}")
    return zoo.build(name, weights=weights)


def zoo_input_shapes(name: str, overrides=None) -> dict[str, tuple[int, ...]]:
    """The zoo model's default input shapes (e.g. BERT's sequence length), under the user's."""
    shapes = dict(zoo_module().default_input_shapes(name)) if name in zoo_module().names() else {}
    shapes.update(overrides or {})
    return shapes
