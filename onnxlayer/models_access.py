"""Access to the architecture zoo (`onnxlayer.models`) with onnxlayer's errors."""
from __future__ import annotations

import onnx

from .errors import SettingsError


def zoo_module():
    from . import models

    return models


def zoo_model(name: str, weights: bool = False) -> onnx.ModelProto:
    """Build a zoo model (graph-only by default: the metrics need no weight values)."""
    zoo = zoo_module()
    if name not in zoo.names():
        raise SettingsError(f"no zoo model {name!r}; available: {', '.join(zoo.names())}")
    return zoo.build(name, weights=weights)
