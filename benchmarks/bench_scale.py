"""Linear in the graph: time and memory of `onnxlayer analyze` on generated graphs of 10k, 100k
and 1M nodes — Gemm+Relu chains and residual DAGs (Gemm → Relu → Add(skip) blocks).

Each measurement is a fresh process that imports onnxlayer, then analyses the saved file with the
Python API (the budget raised to the size): it reports the analysis's wall and CPU time, the
whole process's wall time, peak RSS, and memory per node ((peak RSS − RSS after importing the
pipeline) / nodes). Graphs below 1M nodes are measured `--repeat` times (default 3) and the run
of median CPU time is reported: on a shared machine one run of a 10k graph can be off by 30 %.
Printed beside them: the 100k/10k and 1M/100k time ratios (goal: 100k/10k ≤ 11) and the 1M goals
(< 120 s, < 3 GB). For scale, the same ratio of a bare pass in a fresh process with no analysis
(a dict of 3n named tensor records, n nodes wiring them, five sweeps reading them; collector off):
what this machine's caches alone do to Python's dicts and objects between 10k and 100k. All from
one run on this machine; nothing is asserted.

    python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--kinds chain dag] [--repeat 3] [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

WIDTH = 16
#: The child: import, then analyse; prints one JSON line.
CHILD = """
import json, resource, sys, time
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
import onnxlayer, onnxlayer.analysis  # the pipeline's modules: their memory is not the graph's
imported = rss()
path, nodes = sys.argv[1], int(sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
result = onnxlayer.analyze(path, budget=onnxlayer.Budget(max_nodes=max(nodes, 50_000), max_memory=64 << 30))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
with open('/proc/self/status') as f:  # VmHWM: this program's peak (ru_maxrss keeps the parent's from before exec)
    peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmHWM:'))
print(json.dumps({"wall": wall, "cpu": cpu, "peak": peak, "imported": imported, "leaves": len(result.leaves)}))
"""


def generate(nodes: int, residual: bool) -> onnx.ModelProto:
    """`nodes` nodes of Gemm → Relu (→ Add(block input, ·) for the residual DAG) blocks sharing one weight."""
    weight = numpy_helper.from_array(np.eye(WIDTH, dtype=np.float32), "w")
    made, x, k = [], "x", 0
    while len(made) < nodes:
        made.append(helper.make_node("Gemm", [x, "w"], [f"g{k}"], name=f"/b{k}/Gemm"))
        y = f"g{k}"
        if len(made) < nodes:
            made.append(helper.make_node("Relu", [y], [f"r{k}"], name=f"/b{k}/Relu"))
            y = f"r{k}"
        if residual and len(made) < nodes:
            made.append(helper.make_node("Add", [x, y], [f"a{k}"], name=f"/b{k}/Add"))
            y = f"a{k}"
        x, k = y, k + 1
    graph = helper.make_graph(made, "residual" if residual else "chain",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, WIDTH])],
                              [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [1, WIDTH])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def model_file(directory: Path, kind: str, nodes: int) -> Path:
    """The generated model, saved once per (kind, size) in `directory`."""
    path = directory / f"{kind}_{nodes}.onnx"
    if not path.exists():
        onnx.save(generate(nodes, residual=kind == "dag"), path)
    return path


def measure(path: Path, nodes: int) -> dict:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", CHILD, str(path), str(nodes)], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{path}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}")
    record = json.loads(run.stdout.strip().splitlines()[-1])
    record["process"] = time.perf_counter() - start
    return record


#: The bare pass (see the module docstring): its time in seconds for argv[1] nodes, as one line.
BARE_PASS = """
import gc, sys, time
gc.disable()
n = int(sys.argv[1])


class Tensor:
    __slots__ = ("name", "producer", "consumers", "dims")

    def __init__(self, name):
        self.name, self.producer, self.consumers, self.dims = name, None, [], (1, 16)


start = time.perf_counter()
names = [f"/block{k}/Gemm_output_0" for k in range(3 * n)]
tensors = {name: Tensor(name) for name in names}
nodes = [(k, names[3 * k], names[3 * k + 1], names[3 * k + 2]) for k in range(n)]
for k, a, b, out in nodes:
    tensors[out].producer = k
    tensors[a].consumers.append(k)
    tensors[b].consumers.append(k)
total = 0
for _ in range(5):
    for k, a, b, out in nodes:
        total += len(tensors[a].consumers) + (tensors[b].producer or 0) + tensors[out].dims[1]
print(time.perf_counter() - start)
"""


def bare_ratio(repeat: int) -> float:
    """Median 100k/10k time ratio of `BARE_PASS`, each size in fresh processes, interleaved."""
    runs = {10_000: [], 100_000: []}
    for _ in range(max(repeat, 3)):
        for nodes in runs:
            out = subprocess.run([sys.executable, "-c", BARE_PASS, str(nodes)], capture_output=True, text=True, check=True)
            runs[nodes].append(float(out.stdout))
    return float(np.median(runs[100_000]) / np.median(runs[10_000]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", choices=("chain", "dag"), default=["chain", "dag"])
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each graph below 1M nodes, the median reported (one 1M run takes minutes)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "onnxlayer-bench-scale",
                    help="where the generated models are kept between runs")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{'model':<8}{'nodes':>10}{'analyse s':>11}{'CPU s':>9}{'process s':>11}{'peak MB':>9}{'B/node':>8}")
    times: dict[tuple[str, int], tuple[float, float]] = {}  # (wall, CPU)
    for kind in args.kinds:
        for nodes in sorted(args.sizes):
            path = model_file(args.dir, kind, nodes)
            runs = sorted((measure(path, nodes) for _ in range(args.repeat if nodes < 1_000_000 else 1)),
                          key=lambda run: run["cpu"])
            r = runs[len(runs) // 2]
            times[kind, nodes] = r["wall"], r["cpu"]
            per_node = (r["peak"] - r["imported"]) / nodes
            print(f"{kind:<8}{nodes:>10,}{r['wall']:>11.2f}{r['cpu']:>9.2f}{r['process']:>11.2f}"
                  f"{r['peak'] / 2**20:>9.0f}{per_node:>8,.0f}", flush=True)
            if nodes == 1_000_000:
                verdict = lambda seconds: "yes" if seconds < 120 and r["peak"] < 3 * 2**30 else "no"  # noqa: E731
                print(f"{'':8}1M goal (< 120 s, < 3 GB): {verdict(r['wall'])} by wall time, {verdict(r['cpu'])} by CPU time")
        for small, big in ((10_000, 100_000), (100_000, 1_000_000)):
            if (kind, small) in times and (kind, big) in times:
                (wall_small, cpu_small), (wall_big, cpu_big) = times[kind, small], times[kind, big]
                goal = " (goal <= 11)" if small == 10_000 else ""
                print(f"{kind:<8}time ratio {big // 1000}k/{small // 1000}k: {wall_big / wall_small:.1f} wall, "
                      f"{cpu_big / cpu_small:.1f} CPU{goal}")
    if 10_000 in args.sizes and 100_000 in args.sizes:
        print(f"for scale, a bare dict-and-records pass (no analysis): time ratio 100k/10k {bare_ratio(args.repeat):.1f}")


if __name__ == "__main__":
    main()
