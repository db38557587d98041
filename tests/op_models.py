"""One-op models for the registry's family tests (tests/test_ops_*.py)."""
from __future__ import annotations

import onnxlayer
from onnx import helper

from builders import model, value


def one(op, in_shapes, out_shape, inits=(), opset=17, domain="", **attrs):
    """Analyse a model holding the single node `op` (data inputs x0, x1, ... then `inits`); its leaf."""
    names = [f"x{i}" for i in range(len(in_shapes))]
    node = helper.make_node(op, names + [i.name for i in inits], ["y"], name=f"/{op}", domain=domain, **attrs)
    m = model([node], [value(n, *s) for n, s in zip(names, in_shapes)], [value("y", *out_shape)], list(inits), opset=opset)
    if domain:
        m.opset_import.append(helper.make_opsetid(domain, 1))
    (leaf,) = onnxlayer.analyze(m).leaves
    return leaf


def units(leaf):
    """The leaf's unit groups as (units, pieces) pairs."""
    return [(g.units, g.pieces) for g in leaf.groups]
