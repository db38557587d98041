"""probe/weights.py: seeded random weights for graph-only models."""
from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from onnxlayer.models_access import zoo_model  # noqa: E402
from onnxlayer.probe import engine as probe_engine  # noqa: E402
from onnxlayer.probe.run import probe  # noqa: E402

from builders import cnn  # noqa: E402


def test_random_weights_for_graph_only_models_and_determinism():
    graph_only = zoo_model("lenet5", weights=False)
    with pytest.raises(probe_engine.ProbeError, match="--random-weights"):
        probe(graph_only, progress=False)
    runs = [probe(graph_only, lines=1, points=16, refine=16, directions=4, random_weights="missing", seed=7,
                  progress=False).to_dict() for _ in range(2)]
    for run in runs:
        run["summary"].pop("seconds")
    assert runs[0] == runs[1]
    assert runs[0]["summary"]["weights_drawn"] > 0
    other = probe(graph_only, lines=1, points=16, refine=16, directions=4, random_weights="missing", seed=8,
                  progress=False).to_dict()
    assert other["summary"]["transitions"] != runs[0]["summary"]["transitions"]
    # "all" replaces the weights a model has: two CNNs that differ only in their weights probe alike.
    # (Their own weights are drawn from the tests' shared generator, so a comparison with them would
    # depend on which tests ran before; two counts of ~190 transitions can also agree by chance.)
    first, second = cnn(), cnn()
    assert first.graph.initializer[0].raw_data != second.graph.initializer[0].raw_data
    own = probe(first, lines=1, points=16, directions=0, progress=False)
    drawn = [probe(m, lines=1, points=16, directions=0, random_weights="all", progress=False).to_dict() for m in (first, second)]
    for run in drawn:
        run["summary"].pop("seconds")
    assert own.summary.weights_drawn == 0 and drawn[0]["summary"]["weights_drawn"] == 4
    assert drawn[0] == drawn[1]
