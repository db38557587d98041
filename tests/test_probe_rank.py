"""probe/rank.py: the local rank of each leaf's Jacobian never exceeds its effective dimension."""
from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from onnxlayer.models_access import zoo_model  # noqa: E402
from onnxlayer.probe.run import probe  # noqa: E402

from builders import cnn  # noqa: E402


@pytest.mark.parametrize("name, k", [("mlp", 300), ("lenet5", 420), ("cnn", 80)])
def test_local_rank_never_exceeds_effective_dimension(name, k):
    model = cnn() if name == "cnn" else zoo_model(name, weights=True)
    r = probe(model, lines=1, points=8, refine=0, directions=k, progress=False)
    assert r.summary.rank_tolerance == 1e-3
    for leaf in r.leaves:
        assert leaf.rank is not None and leaf.rank <= leaf.effective_dim, leaf.name
    first = r.leaves[0]  # a full-rank linear first layer: the probe sees all of d when K ≥ d
    if first.effective_dim <= k:
        assert first.rank == first.effective_dim
