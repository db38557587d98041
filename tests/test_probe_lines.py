"""probe/lines.py: regions counted along lines, against exact enumeration and the static bounds."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnxlayer.models_access import zoo_model  # noqa: E402
from onnxlayer.probe.run import probe  # noqa: E402

from builders import cnn  # noqa: E402
from probe_builders import relu_mlp  # noqa: E402
from spec_chords import spec_breaks  # noqa: E402


def exact_breakpoints(layers, span: float) -> list[list[float]]:
    """Breakpoints in (−T, T) of each ReLU layer of a 1-input MLP, by exact enumeration:
    on each piece of the layers below, the next pre-activation is affine in t."""
    pieces = [(-span, span, np.ones(1), np.zeros(1))]  # (a, b, slope, offset) of the layer input
    found = []
    for w, b in layers[:-1]:
        layer, nxt = [], []
        for a, c, slope, offset in pieces:
            zs, zo = w @ slope, w @ offset + b  # pre-activation = zs·t + zo on (a, c)
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = np.where(zs != 0, -zo / zs, np.nan)
            cuts = sorted(r for r in roots if a < r < c)
            layer += cuts
            edges = [a] + cuts + [c]
            for lo, hi in zip(edges[:-1], edges[1:]):
                active = (zs * (lo + hi) / 2 + zo) > 0
                nxt.append((lo, hi, np.where(active, zs, 0.0), np.where(active, zo, 0.0)))
        found.append(sorted(layer))
        pieces = nxt
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_mlp_1d_regions_equal_exact_enumeration(seed):
    model, layers = relu_mlp((1, 16, 16, 1), seed)
    span = 3.0
    r = probe(model, lines=1, points=64, origin="zeros", span=span, directions=0, progress=False)
    relu1, relu2 = exact_breakpoints(layers, span)
    distinct = sorted(set(relu1) | set(relu2))
    assert min(np.diff(distinct)) > 1e-4  # far above the resolution: the count is well defined
    s = r.summary
    assert s.unresolved_intervals == 0 and s.exact
    assert s.resolution == pytest.approx(1e-6 * span) and s.resolution_relative == 1e-6
    assert s.regions_per_line == len(distinct) + 1
    assert r.leaf("/act0/Relu").transitions == len(relu1)
    assert r.leaf("/act1/Relu").transitions == len(relu2)
    # per leaf: at most 1 + u(p−1) pieces while the upstream pattern holds (here u = 16)
    assert r.leaf("/act1/Relu").local_regions <= 17


def test_smooth_unary_transitions_match_breakpoint_crossings():
    model, layers = relu_mlp((1, 8, 1), 3, activation="Tanh")
    span = 4.0
    r = probe(model, lines=1, points=32, origin="zeros", span=span, directions=0, progress=False)
    w, b = layers[0]
    breaks = spec_breaks(np.tanh, -8, 8)  # SPEC §2 at ε = 0.01, B = 8
    # unit i's input w_i·t + b_i sweeps [b_i − |w_i|T, b_i + |w_i|T] once: it crosses every breakpoint inside
    expected = sum(int(np.count_nonzero((breaks > bi - abs(wi) * span) & (breaks < bi + abs(wi) * span)))
                   for wi, bi in zip(w[:, 0], b))
    assert r.leaf("/act0/Tanh").transitions == expected


@pytest.mark.parametrize("name", ["mlp", "lenet5", "cnn", "mobilenet_v2"])
def test_region_counts_within_static_bounds(name):
    if name == "cnn":
        model, shapes = cnn(), None
    else:
        model = zoo_model(name, weights=True)
        shapes = {"input": (1, 3, 32, 32)} if name == "mobilenet_v2" else None
    r = probe(model, shapes, lines=2, points=32, directions=0, refine=512, progress=False)
    s = r.summary
    assert s.region_bits_max <= s.region_bound_bits
    assert s.regions_max >= s.regions_per_line >= 1
    probed = [leaf for leaf in r.leaves if leaf.probed]
    assert probed and s.unprobed_leaves == 0
    for leaf in probed:
        assert leaf.local_region_bits <= leaf.complexity_bits + 1e-9, leaf.name
        assert leaf.transitions >= 0
