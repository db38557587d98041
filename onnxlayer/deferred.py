"""numpy, imported when the analysis first uses it.

Importing numpy costs 50-70 ms, a fifth of the `onnxlayer analyze` of a CNN, and the common path
of an analysis (a CNN's convolutions, activations and their weights) does not compute with arrays.
The modules of the analysis write `from .deferred import numpy as np`: `np` is a module object
holding nothing until one of its names is first read; that read imports numpy and copies its
names in, so every later read is a plain attribute lookup of the same objects numpy has.
"""
from __future__ import annotations

import importlib
import types
from typing import Any


class DeferredModule(types.ModuleType):
    """A module imported on the first read of one of its names."""

    def __getattr__(self, name: str) -> Any:  # only for names not held yet: the first read
        if name.startswith("__") and name != "__version__":
            raise AttributeError(name)  # what import machinery, pickling and inspection probe
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, name)


numpy = DeferredModule("numpy")
