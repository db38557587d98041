"""Modules that can be called like their main function.

`onnxlayer.probe(...)` and `onnxlayer.compare([...])` are the issues' Python entry points, while
`onnxlayer.probe` and `onnxlayer.compare` stay importable modules (`onnxlayer.probe.engine`,
`from onnxlayer.compare import Comparison`). Re-exporting the functions instead would shadow
the modules as attributes of the package.
"""
from __future__ import annotations

import sys
import types


def make_callable(module_name: str, function_name: str) -> None:
    """Let `module(...)` call `module.<function_name>(...)`."""
    module = sys.modules[module_name]

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(self, function_name)(*args, **kwargs)

    module.__class__ = CallableModule
