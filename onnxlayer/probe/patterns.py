"""The probes' side of activation patterns: find and apply a leaf's pattern.

Each op's pattern lives in its registry entry, beside its LTA rule (`onnxlayer/ops/`); the
records they build are in `onnxlayer.pattern`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..graph import GraphView
from ..pattern import LeafPattern, NotProbed, PatternContext
from ..registry import REGISTRY, Leaf, leaf_opset
from ..transfer import LTA, Settings


def leaf_pattern(index: int, leaf: Leaf, view: GraphView, settings: Settings, lta: LTA,
                 statics: Mapping[str, np.ndarray]) -> LeafPattern | None:
    """The leaf's pattern applied; None for leaves without units; NotProbed with a reason otherwise."""
    if not lta.groups:
        return None
    opset = leaf_opset(leaf, view)
    entry = REGISTRY.lookup(leaf.op_type, leaf.domain, opset)
    if entry is None:
        raise NotProbed(REGISTRY.missing(leaf.op_type, leaf.domain, opset))
    if entry.pattern is None:
        raise NotProbed(f"no pattern rule for {leaf.op_type}: {entry.no_pattern}")
    try:
        return entry.pattern(PatternContext(index, leaf, view, settings, lta, statics, entry))
    except NotProbed:
        raise
    except Exception as exc:  # a pattern meeting attributes it cannot read: report, don't guess
        raise NotProbed(f"pattern rule failed: {type(exc).__name__}: {exc}") from None
