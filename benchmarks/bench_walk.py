"""Time load + shapes + fusion + walk on generated chains of 1k, 10k, 100k nodes and on resnet18.

Prints nodes/s per size and the 100k/10k time ratio (goal ≤ 12, i.e. linear growth).
All ratios come from one run on this (shared, noisy) machine; no assertion is made.

    python benchmarks/bench_walk.py [--sizes 1000 10000 100000] [--repeat 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

import onnxlayer


def chain(n_nodes: int, width: int = 16) -> bytes:
    """Gemm → Relu → Add(skip) blocks sharing one weight, `n_nodes` nodes in all."""
    w = numpy_helper.from_array(np.eye(width, dtype=np.float32), "w")
    nodes, x, k = [], "x", 0
    while len(nodes) < n_nodes:
        g, r, a = f"g{k}", f"r{k}", f"a{k}"
        nodes.append(helper.make_node("Gemm", [x, "w"], [g], name=f"/b{k}/Gemm"))
        if len(nodes) < n_nodes:
            nodes.append(helper.make_node("Relu", [g], [r], name=f"/b{k}/Relu"))
        else:
            r = g
        if len(nodes) < n_nodes:
            nodes.append(helper.make_node("Add", [x, r], [a], name=f"/b{k}/Add"))
        else:
            a = r
        x, k = a, k + 1
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [1, width])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def timed(data, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        onnxlayer.analyze(data)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    times = {}
    print(f"{'model':<16}{'nodes':>10}{'seconds':>10}{'nodes/s':>12}")
    for n in args.sizes:
        data = chain(n)
        times[n] = timed(data, args.repeat)
        print(f"{'chain':<16}{n:>10}{times[n]:>10.3f}{n / times[n]:>12,.0f}")
    from onnxlayer.models_access import zoo_model

    model = zoo_model("resnet18").SerializeToString()
    nodes = len(zoo_model("resnet18").graph.node)
    t = timed(model, args.repeat)
    print(f"{'resnet18':<16}{nodes:>10}{t:>10.3f}{nodes / t:>12,.0f}")
    if 10000 in times and 100000 in times:
        print(f"ratio 100k/10k time: {times[100000] / times[10000]:.2f} (goal <= 12: linear growth)")


if __name__ == "__main__":
    main()
