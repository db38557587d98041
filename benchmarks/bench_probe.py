"""Probe throughput against plain onnxruntime inference of the same batches.

For each zoo model, one batch of line points is run (1) by a plain onnxruntime session
on the model as built (its own outputs only) and (2) by the probe's line engine, which
exposes the leaf tensors the patterns need and turns them into activation codes and
statistics (the per-point work of the line pass, without bisection). The overhead ratio
is (2)/(1) per sample; the goal is ≤ 1.5. Printed, not asserted: timings on shared
machines vary.

    python benchmarks/bench_probe.py [--models mlp lenet5 resnet18] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from onnxlayer.models_access import zoo_model
from onnxlayer.probe.engine import import_onnxruntime
from onnxlayer.probe.lines import leaf_codes
from onnxlayer.probe.run import setup_probe
from onnxlayer.probe.stats import ActivationStats

#: Batch per model: small for resnet18 (the brief's "small batch").
BATCH = {"mlp": 256, "lenet5": 256, "resnet18": 8}


def line_batch(d0: int, n: int, seed: int = 0) -> np.ndarray:
    """n points on one random line through a Gaussian origin (float32, as the probe feeds)."""
    rng = np.random.default_rng(seed)
    x0, v = rng.standard_normal(d0), rng.standard_normal(d0)
    v /= np.linalg.norm(v)
    t = np.linspace(-np.sqrt(d0), np.sqrt(d0), n)
    return (x0[None, :] + t[:, None] * v[None, :]).astype(np.float32)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def bench(name: str, repeats: int) -> tuple[float, float, float]:
    ort = import_onnxruntime()
    model = zoo_model(name, weights=True)
    setup = setup_probe(model, provider="cpu")
    engine = setup.engine
    n = BATCH.get(name, 32)
    x = line_batch(engine.input_dim, n)
    source = engine.sources[0]
    feeds = {source.name: x.reshape((n,) + source.dims[1:])}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    plain = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    stats = ActivationStats(setup.patterns)

    def run_plain():
        plain.run(None, feeds)

    def run_probe():
        got = engine.run(x)
        codes = leaf_codes(setup.patterns, got, stats)
        # the line pass compares consecutive points' codes
        for c in codes:
            np.count_nonzero(c[1:] != c[:-1], axis=1)

    run_plain()
    run_probe()  # warm-up
    # interleave the two so that load on a shared machine hits both alike
    plain_t, probe_t = [], []
    for _ in range(repeats):
        plain_t.append(best_of(run_plain, 1)[0])
        probe_t.append(best_of(run_probe, 1)[0])
    p, q = min(plain_t) / n, min(probe_t) / n
    return p, q, q / p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "lenet5", "resnet18"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'model':<10} {'batch':>5} {'plain ms/sample':>16} {'probe ms/sample':>16} {'overhead':>9}  (goal ≤ 1.5)")
    for name in args.models:
        p, q, ratio = bench(name, args.repeats)
        print(f"{name:<10} {BATCH.get(name, 32):>5} {p * 1e3:>16.4f} {q * 1e3:>16.4f} {ratio:>9.2f}")


if __name__ == "__main__":
    main()
