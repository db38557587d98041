"""Peer benchmark: onnxlayer against onnx-tool (`model_profile`, which also reads a model's
structure without running it) on files that carry their weights.

Models (built once and kept in --dir):
- ResNet-50 from onnxlayer's zoo with weights (`onnxlayer.models.build("resnet50", weights=True)`);
- Keras DenseNet-121 and EfficientNet-B0 (random weights) through onnxlayer's converters, when
  TensorFlow is installed; timm's resnet50 / densenet121 / efficientnet_b0 through the converters
  when timm imports (it needs a working torchvision);
- a transformer of more than 2 GB with its weights in an external data file, written tensor by
  tensor (never all in memory), analysed with the data file present and absent.

Each model is analysed by both tools in fresh processes, interleaved (onnxlayer, onnx-tool,
onnxlayer, ...): the median whole-process wall time, CPU time and peak RSS of each tool and their
ratios (onnx-tool / onnxlayer). In process, after one warm-up run: median `onnxlayer.analyze`
against `onnx_tool.model_profile`, beside the CPU time of SHA-256 over the file (analyze hashes it
for the result's `model.sha256`, SPEC §5) and the 10× budget (model_profile's time / 10). onnx-tool gets the fixed input shapes it needs (`-d`); both
tools start from compiled bytecode, and onnxlayer's fit cache is warm (as after a first run).
Targets, printed and not asserted: whole-process time ratio ≥ 2 (geometric mean over the CNNs),
in process ≥ 10×, the > 2 GB model under 2 s and 300 MB with its data present or absent. On a
loaded machine wall times stretch with the load; the CPU times do not.

onnx-tool is installed into this benchmark's environment if missing (`pip install onnx-tool`);
it is never a dependency of onnxlayer.

    python benchmarks/bench_peers.py [--repeat 5] [--dir DIR] [--no-keras] [--no-transformer]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

#: The in-process child: import the tool, one warm-up run, then `repeat` timed runs; prints JSON.
IN_PROCESS = {
    "onnxlayer": """
import json, sys, time
import onnxlayer
path, shapes, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
run = lambda: onnxlayer.analyze(path)
""",
    "onnx-tool": """
import json, sys, time, os, tempfile
import numpy as np, onnx_tool
path, shapes, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
arrays = {name: np.zeros(dims, dtype=np.dtype(dtype)) for name, (dtype, dims) in shapes.items()}
out = os.path.join(tempfile.mkdtemp(), "profile.txt")
run = lambda: onnx_tool.model_profile(path, arrays, save_profile=out)
""",
}
IN_PROCESS_TIMING = """
run()
walls, cpus = [], []
for _ in range(repeat):
    w, c = time.perf_counter(), time.process_time()
    run()
    walls.append(time.perf_counter() - w)
    cpus.append(time.process_time() - c)
print(json.dumps({"wall": walls, "cpu": cpus}))
"""


@dataclass
class Model:
    name: str
    path: Path
    shapes: dict[str, tuple[str, list[int]]]  # graph input -> (numpy dtype, dims) for onnx-tool
    cnn: bool


@dataclass
class Run:
    wall: float
    cpu: float
    rss: int  # bytes
    ok: bool


# ----------------------------------------------------------------------------- tools


def ensure_onnx_tool() -> None:
    """onnx-tool in this environment (installed for the benchmark only, if missing)."""
    if importlib.util.find_spec("onnx_tool") is None:
        print("installing onnx-tool into this environment for the benchmark", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "onnx-tool"], check=True)


#: Runs one command and reports its wall time, CPU time and peak RSS; a small process of its own,
#: so that the measured child is not forked from this one (a fork's pages count in its peak RSS).
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss * 1024, "ok": os.waitstatus_to_exitcode(status) == 0}))
"""


def environment(scratch: Path) -> dict[str, str]:
    """The children's environment: both tools start from compiled bytecode, as installed packages
    do (kept under `scratch`; PYTHONDONTWRITEBYTECODE would recompile every module at every start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env


def process(command: list[str], cwd: Path) -> Run:
    """Run `command` (through the launcher); its wall time, CPU time and peak RSS."""
    run = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, cwd=cwd,
                         env=environment(cwd))
    return Run(**json.loads(run.stdout))


def whole_process(tool: str, model: Model, scratch: Path) -> Run:
    if tool == "onnxlayer":
        return process([sys.executable, "-m", "onnxlayer", "analyze", str(model.path)], scratch)
    spec = [f"{name}:{'f32' if dtype == 'float32' else 'int32'}:{'x'.join(map(str, dims))}"
            for name, (dtype, dims) in model.shapes.items()]
    return process([sys.executable, "-m", "onnx_tool", "-i", str(model.path), "-d", *spec, "-f",
                    str(scratch / "onnx-tool-profile.txt")], scratch)


def sha256_seconds(path: Path, repeat: int = 5) -> float:
    """Median CPU time of hashing the file's bytes (already in memory) with SHA-256."""
    data = path.read_bytes()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        hashlib.sha256(data).digest()
        times.append(time.process_time() - start)
    return statistics.median(times)


def in_process(tool: str, model: Model, repeat: int, scratch: Path) -> tuple[float, float] | None:
    """Median (wall, CPU) of `repeat` in-process analyses after a warm-up, or None if it failed."""
    code = IN_PROCESS[tool] + IN_PROCESS_TIMING
    run = subprocess.run([sys.executable, "-c", code, str(model.path), json.dumps(model.shapes), str(repeat)],
                         capture_output=True, text=True, cwd=scratch, env=environment(scratch))
    if run.returncode:
        return None
    times = json.loads(run.stdout.strip().splitlines()[-1])
    return statistics.median(times["wall"]), statistics.median(times["cpu"])


# ----------------------------------------------------------------------------- models


def input_shapes(model: onnx.ModelProto) -> dict[str, tuple[str, list[int]]]:
    """The graph inputs onnx-tool needs fixed, batch 1: name -> (numpy dtype, dims)."""
    stored = {t.name for t in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in stored:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tensor.shape.dim]
        dtype = "float32" if tensor.elem_type == TensorProto.FLOAT else "int32"
        shapes[value.name] = (dtype, dims)
    return shapes


def zoo_resnet50(directory: Path) -> Model:
    path = directory / "resnet50_zoo.onnx"
    if not path.exists():
        import onnxlayer.models

        onnx.save(onnxlayer.models.build("resnet50", weights=True), path)
    return Model("ResNet-50 (zoo)", path, input_shapes(onnx.load(path, load_external_data=False)), True)


def keras_models(directory: Path) -> list[Model]:
    """DenseNet-121 and EfficientNet-B0 from keras.applications (random weights), converted once."""
    if importlib.util.find_spec("tensorflow") is None:
        print("skipped the Keras models: TensorFlow is not installed (extra 'tensorflow')")
        return []
    code = ("import sys, onnx, keras\nfrom onnxlayer.converters import convert\n"
            "model = getattr(keras.applications, sys.argv[2])(weights=None, input_shape=(224, 224, 3))\n"
            "onnx.save(convert(model), sys.argv[1])")
    return [model for name, builder in (("DenseNet-121 (Keras)", "DenseNet121"), ("EfficientNet-B0 (Keras)", "EfficientNetB0"))
            if (model := converted_once(name, directory / f"keras_{builder.lower()}.onnx", code, builder)) is not None]


def timm_models(directory: Path) -> list[Model]:
    """timm's resnet50, densenet121 and efficientnet_b0 (random weights) through the converters."""
    probe = subprocess.run([sys.executable, "-c", "import timm"], capture_output=True, text=True)
    if probe.returncode:
        last = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "import failed"
        print(f"skipped the timm models: timm does not import here ({last})")
        return []
    code = ("import sys, onnx, timm, torch\nfrom onnxlayer.converters import convert\n"
            "model = timm.create_model(sys.argv[2], pretrained=False).eval()\n"
            "onnx.save(convert(model, torch.randn(1, 3, 224, 224)), sys.argv[1])")
    return [model for arch in ("resnet50", "densenet121", "efficientnet_b0")
            if (model := converted_once(f"{arch} (timm)", directory / f"timm_{arch}.onnx", code, arch)) is not None]


def converted_once(name: str, path: Path, code: str, argument: str) -> Model | None:
    """The model `code` writes to `path` (run once, in a fresh interpreter, as `code PATH
    ARGUMENT`; kept for later runs), or None when that fails."""
    if not path.exists():
        print(f"converting {name} (once)", flush=True)
        if subprocess.run([sys.executable, "-c", code, str(path), argument], capture_output=True, text=True).returncode:
            print(f"skipped {name}: the conversion failed")
            return None
    return Model(name, path, input_shapes(onnx.load(path, load_external_data=False)), True)


def transformer(directory: Path, layers: int = 12, hidden: int = 2048, vocab: int = 32000, seq: int = 128) -> Model:
    """A BERT-like encoder whose weights (> 2 GB) sit in an external data file, written tensor by
    tensor with onnx.helper (nothing holds them all)."""
    path = directory / "transformer_2gb.onnx"
    data = directory / "transformer_2gb.onnx.data"
    if not (path.exists() and data.exists()):
        heads, ffn = hidden // 64, 4 * hidden
        block = np.random.default_rng(0).standard_normal(1 << 22, dtype=np.float32) * 0.02  # 16 MB tiled
        initializers: list[TensorProto] = []
        with open(data, "wb") as f:
            def weight(name: str, dims: list[int]) -> str:
                count = math.prod(dims)
                offset = f.tell()
                for start in range(0, count, block.size):
                    f.write(block[: min(block.size, count - start)].tobytes())
                t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
                for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(4 * count))):
                    entry = t.external_data.add()
                    entry.key, entry.value = key, value
                initializers.append(t)
                return name

            def small(name: str, values: np.ndarray) -> str:
                initializers.append(onnx.numpy_helper.from_array(values, name))
                return name

            nodes = [helper.make_node("Gather", [weight("embedding", [vocab, hidden]), "input_ids"], ["x0"])]

            def op(out: str, op_type: str, *inputs: str, **attrs: object) -> str:
                nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
                return out

            heads_shape = small("heads_shape", np.array([1, seq, heads, hidden // heads], dtype=np.int64))
            flat_shape = small("flat_shape", np.array([1, seq, hidden], dtype=np.int64))
            scale = small("scale", np.array(math.sqrt(hidden // heads), dtype=np.float32))
            gamma, beta = small("gamma", np.ones(hidden, np.float32)), small("beta", np.zeros(hidden, np.float32))
            half, one = small("half", np.array(0.5, np.float32)), small("one", np.array(1.0, np.float32))
            root2 = small("root2", np.array(math.sqrt(2.0), np.float32))
            x = "x0"
            for k in range(layers):
                p = f"l{k}_"
                h = op(p + "ln1", "LayerNormalization", x, gamma, beta, axis=-1)
                q, kk, v = (op(p + w + "_h", "Reshape", op(p + w, "MatMul", h, weight(p + w + "_w", [hidden, hidden])), heads_shape)
                            for w in ("q", "k", "v"))
                q = op(p + "q_t", "Transpose", q, perm=[0, 2, 1, 3])
                v = op(p + "v_t", "Transpose", v, perm=[0, 2, 1, 3])
                kt = op(p + "k_t", "Transpose", kk, perm=[0, 2, 3, 1])
                scores = op(p + "scores", "Div", op(p + "qk", "MatMul", q, kt), scale)
                att = op(p + "att", "Softmax", scores, axis=-1)
                ctx = op(p + "ctx_t", "Transpose", op(p + "ctx", "MatMul", att, v), perm=[0, 2, 1, 3])
                ctx = op(p + "ctx_f", "Reshape", ctx, flat_shape)
                x = op(p + "res1", "Add", x, op(p + "o", "MatMul", ctx, weight(p + "o_w", [hidden, hidden])))
                h = op(p + "ln2", "LayerNormalization", x, gamma, beta, axis=-1)
                up = op(p + "up", "MatMul", h, weight(p + "up_w", [hidden, ffn]))
                erf = op(p + "erf", "Erf", op(p + "up_r2", "Div", up, root2))
                gelu = op(p + "gelu", "Mul", op(p + "half_up", "Mul", up, half), op(p + "erf1", "Add", erf, one))
                x = op(p + "res2", "Add", x, op(p + "down", "MatMul", gelu, weight(p + "down_w", [ffn, hidden])))
        graph = helper.make_graph(nodes, "transformer", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
                                  [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, seq, hidden])], initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
    return Model(f"transformer {data.stat().st_size / 2**30:.1f} GB (data present)", path,
                 {"input_ids": ("int32", [1, seq])}, False)


def without_data(model: Model, directory: Path) -> Model:
    """The same model file in a directory without its external data file."""
    alone = directory / "no-data"
    alone.mkdir(exist_ok=True)
    copy = alone / model.path.name
    if not copy.exists():
        shutil.copyfile(model.path, copy)
    return Model(model.name.replace("data present", "data absent"), copy, model.shapes, False)


# ----------------------------------------------------------------------------- report


def median_run(runs: list[Run]) -> Run | None:
    good = [r for r in runs if r.ok]
    if not good:
        return None
    return Run(statistics.median(r.wall for r in good), statistics.median(r.cpu for r in good),
               int(statistics.median(r.rss for r in good)), True)


def fmt(run: Run | None) -> str:
    return f"{'failed':>25}" if run is None else f"{run.wall:>8.2f} s {run.cpu:>6.2f} s {run.rss / 2**20:>6.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per tool and model (interleaved)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "onnxlayer-bench-peers",
                    help="where the built and converted models are kept between runs")
    ap.add_argument("--no-keras", action="store_true", help="leave out the Keras (TensorFlow) models")
    ap.add_argument("--no-transformer", action="store_true", help="leave out the > 2 GB transformer")
    args = ap.parse_args()
    ensure_onnx_tool()
    args.dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    models = [zoo_resnet50(args.dir)] + ([] if args.no_keras else keras_models(args.dir)) + timm_models(args.dir)
    if not args.no_transformer:
        big = transformer(args.dir)
        models += [big, without_data(big, args.dir)]
    for tool in ("onnxlayer", "onnx-tool"):  # warm-up: compiled bytecode, onnxlayer's fit cache
        whole_process(tool, models[0], scratch)

    print(f"\nwhole process, median of {args.repeat} interleaved runs (wall, CPU, peak RSS); ratio = onnx-tool / onnxlayer")
    print(f"{'model':<34}{'onnxlayer':>25}{'onnx-tool':>25}{'time':>7}{'CPU':>7}{'RSS':>7}")
    cnn_ratios, cnn_cpu_ratios, big_runs = [], [], []
    for model in models:
        repeat = args.repeat if model.cnn else min(args.repeat, 3)
        runs: dict[str, list[Run]] = {"onnxlayer": [], "onnx-tool": []}
        for _ in range(repeat):
            for tool in runs:
                runs[tool].append(whole_process(tool, model, scratch))
        ours, theirs = median_run(runs["onnxlayer"]), median_run(runs["onnx-tool"])
        ratios = ("" if ours is None or theirs is None else
                  f"{theirs.wall / ours.wall:>7.2f}{theirs.cpu / ours.cpu:>7.2f}{theirs.rss / ours.rss:>7.2f}")
        print(f"{model.name:<34}{fmt(ours)}{fmt(theirs)}{ratios}", flush=True)
        if model.cnn and ours is not None and theirs is not None:
            cnn_ratios.append(theirs.wall / ours.wall)
            cnn_cpu_ratios.append(theirs.cpu / ours.cpu)
        if not model.cnn:
            big_runs.append((model.name, ours))

    print(f"\nin process, median of {args.repeat} runs after a warm-up (wall, CPU): analyze vs model_profile; "
          "SHA-256: CPU time of hashing the file,\nwhich analyze does for the result's model.sha256 (SPEC §5); "
          "10x budget: model_profile's CPU time / 10")
    print(f"{'model':<34}{'onnxlayer':>18}{'onnx-tool':>18}{'time':>7}{'CPU':>7}{'SHA-256':>10}{'10x budget':>12}")
    in_ratios = []
    for model in models:
        repeat = args.repeat if model.cnn else 1
        ours, theirs = in_process("onnxlayer", model, repeat, scratch), in_process("onnx-tool", model, repeat, scratch)
        show = lambda t: f"{'failed':>18}" if t is None else f"{t[0]:>8.3f} s {t[1]:>6.3f} s"  # noqa: E731
        ratios = "" if ours is None or theirs is None else f"{theirs[0] / ours[0]:>7.1f}{theirs[1] / ours[1]:>7.1f}"
        floor = "" if not model.cnn or theirs is None else f"{sha256_seconds(model.path) * 1000:>7.1f} ms{theirs[1] * 100:>9.1f} ms"
        print(f"{model.name:<34}{show(ours)}{show(theirs)}{ratios}{floor}", flush=True)
        if model.cnn and ours is not None and theirs is not None:
            in_ratios.append(theirs[1] / ours[1])

    geo = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")  # noqa: E731
    print("\ntargets (printed, not asserted)")
    print(f"  whole process on the CNNs, onnx-tool/onnxlayer time (geometric mean): {geo(cnn_ratios):.2f} wall, "
          f"{geo(cnn_cpu_ratios):.2f} CPU (target >= 2)")
    print(f"  in process on the CNNs, model_profile/analyze CPU (geometric mean): {geo(in_ratios):.1f}x (target >= 10x)")
    for name, run in big_runs:
        verdict = "failed" if run is None else (
            f"{run.wall:.2f} s wall, {run.cpu:.2f} s CPU, {run.rss / 2**20:.0f} MB: "
            f"{'yes' if run.wall < 2 and run.rss < 300 * 2**20 else 'no'}")
        print(f"  {name} under 2 s and 300 MB: {verdict}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
