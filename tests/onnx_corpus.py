"""onnxlayer over the ``onnx`` package's own test models (issue 9), one outcome per model.

The corpus: the node tests regenerated in-process from ``onnx.backend.test.case.node`` (the
wheel ships no node data), and the models the wheel does ship under
``onnx/backend/test/data/`` (``light`` model-zoo models, ``pytorch-converted``,
``pytorch-operator``, ``simple``; ``real`` only points at the ``light`` files). Each model is
analysed in a worker process with a time limit, so a model that loops forever cannot hang
the run. Run as a script for the full report:

    python tests/onnx_corpus.py [--quick] [--timeout S] [--json out.json]
"""
from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import onnx

#: Element types that hold real-valued data with arithmetic (float8/float4 are storage
#: formats that appear only in cast and quantisation tests).
FLOAT_ELEM_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                              onnx.TensorProto.BFLOAT16})
DATA_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data"
#: Shipped model directories; ``real`` holds only data.json files pointing at ``light``.
DATA_SOURCES = ("light", "pytorch-converted", "pytorch-operator", "simple")
#: Node-test modules of the quick subset: common ops, and the ones behind issue 9's defects
#: (Scan with empty sequence_lens, functions with control-flow bodies, ml/training domains,
#: window functions, old Dropout, ops without a rule).
QUICK_NODE_MODULES = ("relu", "gemm", "conv", "softmax", "layernormalization", "gelu", "scan", "loop",
                      "affinegrid", "blackmanwindow", "dropout", "gridsample", "acos", "nonmaxsuppression",
                      "qlinearmatmul", "sequence_map", "tfidfvectorizer", "adam", "ai_onnx_ml.tree_ensemble", "ai_onnx_ml.binarizer")
DEFAULT_TIMEOUT = 60.0
#: Address-space cap of the worker: a model that asks for absurd memory fails instead of
#: taking the machine down (the machine is shared).
WORKER_MEMORY = 8 << 30
MAX_OPAQUE_OP_TYPES = 3
MIN_RULE_COVERAGE = 0.95


@dataclass(frozen=True)
class CorpusModel:
    """One test model: where it comes from, its name, its serialised bytes."""

    source: str
    name: str
    data: bytes


@dataclass(frozen=True)
class InputProfile:
    """What the graph inputs promise (the test's own reading, independent of onnxlayer).

    ``float_data``: some graph input (not backed by an initializer) is a tensor of a
    FLOAT_ELEM_TYPES type not declared empty (no dim of size 0). ``fixed_shapes``: every such
    graph input is a tensor with a declared shape whose dims are all known sizes (≥ 0), except
    dim 0, the batch, which may be symbolic or unknown (it counts as 1, SPEC §1). Sequence, optional, map and sparse inputs are not
    fixed: their length is not in the type. ``values_decide_shapes``: the value of some graph
    input reaches an operand that sets a shape (a Reshape target, reduction axes, a Range bound,
    a Loop's trip count: SHAPE_OPERANDS) or an op whose output size depends on its input values
    (Unique, NonZero: VALUE_SIZED): SPEC §1 measures from shapes, and no shape given on the
    command line can stand for a value, so such a model is rightly refused.
    """

    float_data: bool
    fixed_shapes: bool
    non_tensor_inputs: bool
    values_decide_shapes: bool = False


@dataclass(frozen=True)
class Outcome:
    """onnxlayer's verdict on one model.

    ``status``: ``ok``, ``refused`` (an OnnxLayerError), ``internal`` (any other exception, a
    dead worker) or ``timeout``. A refusal is *wrongful* when the model has float data and
    fixed shapes and no input value decides a shape (InputProfile); the analysis then has
    everything SPEC §1 asks for.
    """

    source: str
    name: str
    status: str
    seconds: float
    float_data: bool
    fixed_shapes: bool
    opaque_leaves: int = 0
    opaque_ops: tuple[str, ...] = ()
    error_type: str = ""
    message: str = ""
    where: str = ""
    values_decide_shapes: bool = False

    @property
    def wrongful(self) -> bool:
        return self.status == "refused" and self.float_data and self.fixed_shapes and not self.values_decide_shapes


# ---------------------------------------------------------------------------- corpus


def node_models(modules: Iterable[str] | None = None) -> list[CorpusModel]:
    """The node tests of ``onnx.backend.test.case.node`` (all, or those of ``modules``), regenerated in-process.

    Importing a case module runs its ``export*`` functions, which build the models; so a
    subset of modules costs only its own exports (the whole package takes ~10 s).
    """
    names = list(modules) if modules is not None else list(_all_case_modules())
    out = []
    for module in names:
        out += [CorpusModel("node", case.name, case.model.SerializeToString()) for case in _cases_of(module)]
    return out


def _all_case_modules() -> Iterator[str]:
    """Every node-case module (not package), relative to the package, as ``import_recursive`` finds them."""
    import pkgutil

    from onnx.backend.test.case import node as cases

    stack = [(cases.__path__, "")]
    while stack:
        path, prefix = stack.pop()
        for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
            name = prefix + info.name
            if name.startswith("ai_onnx_ml") and not onnx.ONNX_ML:
                continue
            if info.ispkg:  # a package's own __init__ exports nothing (ai_onnx_ml)
                stack.append((importlib.import_module(f"{cases.__name__}.{name}").__path__, name + "."))
            else:
                yield name


_CASES_BY_MODULE: dict[str, list[Any]] = {}


def _cases_of(module: str) -> list[Any]:
    """The test cases made by importing one case module (the case list is global, so the
    module's share is what its import appended)."""
    from onnx.backend.test.case import node as cases

    if module not in _CASES_BY_MODULE:
        qualified = f"{cases.__name__}.{module}"
        if qualified in sys.modules:
            raise RuntimeError(f"{qualified} was imported before: its test cases cannot be told apart")
        before = len(cases._NodeTestCases)  # noqa: SLF001 - collect_testcases() returns this same list
        importlib.import_module(qualified)
        _CASES_BY_MODULE[module] = cases._NodeTestCases[before:]  # noqa: SLF001
    return _CASES_BY_MODULE[module]


def data_models(sources: Iterable[str] = DATA_SOURCES) -> list[CorpusModel]:
    """The models shipped under onnx/backend/test/data (``<dir>/model.onnx`` or ``light/*.onnx``)."""
    out = []
    for source in sources:
        root = DATA_DIR / source
        for path in sorted(root.glob("*.onnx")) + sorted(root.glob("*/model.onnx")):
            name = path.stem if path.parent == root else path.parent.name
            out.append(CorpusModel(source, name, path.read_bytes()))
    return out


def corpus(quick: bool = False) -> list[CorpusModel]:
    """The whole corpus, or the quick subset (QUICK_NODE_MODULES and every shipped model)."""
    return node_models(QUICK_NODE_MODULES if quick else None) + data_models()


def input_profile(model: onnx.ModelProto) -> InputProfile:
    """Read the graph inputs as InputProfile defines (from the ModelProto alone)."""
    initialized = {t.name for t in model.graph.initializer} | {t.values.name for t in model.graph.sparse_initializer}
    float_data, fixed, non_tensor = False, True, False
    for value in model.graph.input:
        if value.name in initialized:
            continue
        if not value.type.HasField("tensor_type"):
            fixed, non_tensor = False, True
            continue
        tensor = value.type.tensor_type
        dims = tensor.shape.dim
        # dim 0 is the batch whatever it says; the others need a size
        fixed = fixed and tensor.HasField("shape") and all(d.HasField("dim_value") and d.dim_value >= 0
                                                           for d in dims[1:])
        empty = any(d.HasField("dim_value") and d.dim_value == 0 for d in dims)
        float_data = float_data or (tensor.elem_type in FLOAT_ELEM_TYPES and not empty)
    return InputProfile(float_data, fixed, non_tensor, values_decide_shapes(model))


#: (op type, input positions) whose values set a shape: targets, sizes, axes, pads, bounds, counts.
SHAPE_OPERANDS = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Pad": (1, 3),
    "Slice": (1, 2, 3, 4), "Resize": (2, 3), "Upsample": (1,), "TopK": (1,), "OneHot": (1,), "Unsqueeze": (1,),
    "Squeeze": (1,), "Split": (1,), "SplitToSequence": (1,), "CenterCropPad": (1,), "AffineGrid": (1,),
    "BlackmanWindow": (0,), "HannWindow": (0,), "HammingWindow": (0,), "MelWeightMatrix": (0, 1, 2), "STFT": (1, 3),
    "DFT": (1, 2), "Col2Im": (1, 2), "MaxUnpool": (2,), "Loop": (0,), "Compress": (1,), "NonMaxSuppression": (2,),
    **{op: (1,) for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")},
}
#: Ops whose output size depends on the values of their inputs.
VALUE_SIZED = frozenset({"Unique", "NonZero", "NonMaxSuppression", "Compress", "StringSplit"})


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    """Every name the node's subgraphs (If branches, Loop and Scan bodies) read, nested ones too."""
    names: set[str] = set()
    for attr in node.attribute:
        for graph in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            for inner in graph.node:
                names.update(inner.input)
                names |= _subgraph_reads(inner)
    return names


def values_decide_shapes(model: onnx.ModelProto) -> bool:
    """Whether a graph input's value (not its shape: Shape and Size cut the chain) reaches a
    SHAPE_OPERANDS position or a VALUE_SIZED op, in the main graph."""
    initialized = {t.name for t in model.graph.initializer}
    tainted = {v.name for v in model.graph.input if v.name not in initialized}
    for node in model.graph.node:
        reads = [i for i in node.input if i in tainted] + [i for i in _subgraph_reads(node) if i in tainted]
        if not reads or node.op_type in ("Shape", "Size"):
            continue
        if node.op_type in VALUE_SIZED or any(k < len(node.input) and node.input[k] in tainted
                                              for k in SHAPE_OPERANDS.get(node.op_type, ())):
            return True
        tainted.update(o for o in node.output if o)
    return False


# ---------------------------------------------------------------------------- analysis


def analyse_bytes(data: bytes) -> dict[str, Any]:
    """Analyse one serialised model in this process; the outcome fields as a plain dict."""
    import onnxlayer

    model = onnx.ModelProto()
    model.ParseFromString(data)
    start = time.perf_counter()
    try:
        result = onnxlayer.analyze(model)
    except onnxlayer.OnnxLayerError as exc:
        return {"status": "refused", "seconds": time.perf_counter() - start, "error_type": type(exc).__name__,
                "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every other exception is what this check looks for
        return {"status": "internal", "seconds": time.perf_counter() - start, "error_type": type(exc).__name__,
                "message": " ".join(str(exc).split())[:500], "where": _where(exc)}
    opaque = Counter(f"{leaf.domain}:{leaf.op_type}" if leaf.domain not in ("", "ai.onnx") else leaf.op_type
                     for leaf in result.leaves if leaf.kind == "opaque")
    return {"status": "ok", "seconds": time.perf_counter() - start, "opaque_leaves": result.summary.opaque_leaves,
            "opaque_ops": tuple(sorted(opaque))}


def _where(exc: BaseException) -> str:
    """The innermost traceback frame inside onnxlayer (else the innermost frame): ``file:line in function``."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}onnxlayer{os.sep}" in f.filename] or frames
    if not ours:
        return ""
    frame = ours[-1]
    return f"{'/'.join(Path(frame.filename).parts[-2:])}:{frame.lineno} in {frame.name}"


def _worker(conn: Any) -> None:
    """Worker loop: analyse every model sent until the pipe closes."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ValueError, OSError):
        pass
    import onnxlayer  # noqa: F401 - imported before 'ready', so the time limit covers analysis only

    conn.send("ready")
    while True:
        try:
            data = conn.recv()
        except EOFError:
            return
        conn.send(analyse_bytes(data))


class Runner:
    """Analyses models one at a time in a worker process; a model past the time limit kills the
    worker (a fresh one takes over), so nothing hangs. Use as a context manager."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_worker, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        try:
            ready = parent.poll(120) and parent.recv() == "ready"
        except EOFError:  # it died importing onnxlayer
            ready = False
        if not ready:
            self._process.join(1)
            raise RuntimeError(f"the corpus worker did not start (exit code {self._process.exitcode})")

    def _stop(self) -> None:
        if self._process is not None:
            self._conn.close()
            self._process.kill()
            self._process.join()
            self._process = self._conn = None

    def run(self, item: CorpusModel) -> Outcome:
        """Analyse one model within the time limit."""
        model = onnx.ModelProto()
        model.ParseFromString(item.data)
        profile = input_profile(model)
        base = {"source": item.source, "name": item.name, "float_data": profile.float_data,
                "fixed_shapes": profile.fixed_shapes, "values_decide_shapes": profile.values_decide_shapes}
        if self._process is None:
            self._start()
        start = time.perf_counter()
        self._conn.send(item.data)
        fields: dict[str, Any]
        try:
            if self._conn.poll(self.timeout):
                fields = self._conn.recv()
            else:
                fields = {"status": "timeout", "seconds": time.perf_counter() - start,
                          "message": f"no answer within {self.timeout:g} s"}
                self._stop()
        except (EOFError, OSError):  # the worker died (a crash in native code, the memory cap)
            code = self._process.exitcode if self._process is not None else None
            fields = {"status": "internal", "seconds": time.perf_counter() - start, "error_type": "WorkerDied",
                      "message": f"worker exited with code {code}"}
            self._stop()
        return Outcome(**base, **fields)


def run_corpus(models: Iterable[CorpusModel], timeout: float = DEFAULT_TIMEOUT) -> list[Outcome]:
    """Every model's outcome, in order."""
    with Runner(timeout) as runner:
        return [runner.run(item) for item in models]


# ---------------------------------------------------------------------------- rule coverage


@dataclass(frozen=True)
class Coverage:
    """Which non-deprecated ops of one domain of the installed onnx have a registry rule."""

    domain: str
    covered: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def fraction(self) -> float:
        total = len(self.covered) + len(self.missing)
        return len(self.covered) / total if total else 1.0


def rule_coverage(domain: str = "") -> Coverage:
    """Registry coverage of the newest schemas of ``domain`` ("" is ai.onnx) that are not deprecated."""
    from onnxlayer import analysis  # noqa: F401 - importing analysis registers every rule
    from onnxlayer.registry import REGISTRY

    ops = sorted({s.name for s in onnx.defs.get_all_schemas() if s.domain == domain and not s.deprecated})
    newest = max((s.since_version for s in onnx.defs.get_all_schemas_with_history() if s.domain == domain), default=1)
    covered = tuple(op for op in ops if REGISTRY.has_rule(op, domain, newest))
    return Coverage(domain, covered, tuple(op for op in ops if op not in covered))


# ---------------------------------------------------------------------------- report


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts the acceptance criteria of issue 9 speak of."""
    status = Counter(o.status for o in outcomes)
    opaque_types: Counter = Counter()
    for o in outcomes:
        opaque_types.update(o.opaque_ops)
    refused = [o for o in outcomes if o.status == "refused"]
    return {
        "models": len(outcomes),
        "by_source": dict(Counter(o.source for o in outcomes)),
        "status": dict(status),
        "wrongful_refusals": sum(o.wrongful for o in refused),
        "rightful_refusals": sum(not o.wrongful for o in refused),
        "internal_errors": status["internal"] + status["timeout"],
        "models_with_opaque_leaves": sum(o.opaque_leaves > 0 for o in outcomes),
        "opaque_op_types": dict(opaque_types.most_common()),
        "seconds": round(sum(o.seconds for o in outcomes), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick subset only")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per model")
    ap.add_argument("--json", type=Path, help="write every outcome (JSON lines) here")
    args = ap.parse_args(argv)
    import warnings

    with warnings.catch_warnings():  # the case modules' reference computations overflow on purpose
        warnings.simplefilter("ignore")
        models = corpus(quick=args.quick)
    outcomes = []
    with Runner(args.timeout) as runner:
        for item in models:
            outcomes.append(runner.run(item))
            o = outcomes[-1]
            if o.status != "ok" or o.opaque_leaves:
                flag = " WRONGFUL" if o.wrongful else ""
                detail = ",".join(o.opaque_ops) if o.status == "ok" else f"{o.error_type}: {o.message[:200]} {o.where}"
                print(f"{o.source:<18} {o.name:<60} {o.status}{flag} {o.seconds:6.2f}s {detail}", flush=True)
    if args.json:
        args.json.write_text("".join(json.dumps({**asdict(o), "wrongful": o.wrongful}) + "\n" for o in outcomes))
    print(json.dumps(summarise(outcomes), indent=1))
    for domain in ("", "ai.onnx.ml"):
        cov = rule_coverage(domain)
        print(f"rules {domain or 'ai.onnx'}: {len(cov.covered)}/{len(cov.covered) + len(cov.missing)} "
              f"({cov.fraction:.1%}); missing: {' '.join(cov.missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
