"""The deployment gate behind `onnxlayer check`, and the model sources it and `diff` read.

`check(models, policy)` analyses each model (never strictly: a model with opaque leaves must
still get its report), measures what each rule reads — the analysis summary, the file size,
the ONNX graph's operators, opsets and inputs, onnxruntime's placement, the `diff` against a
baseline — and returns a typed `CheckResult`: per model and rule PASS, FAIL (an error-severity
rule), WARN (a warning-severity rule) or SKIP (the rule could not be measured here, with the
reason; never a silent pass). Exit code: 1 when any rule fails, else 0.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import onnxapi
from .diff import ModelDiff, diff, is_result_file, read_result
from .errors import SettingsError
from .graph import subgraphs
from .loading import load_model
from .policy import (METRICS, STANDARD_DOMAINS, AllowOps, Change, CheckResult, ForbidOps, Input, Limit, ModelCheck,
                     ModelFacts, NoCustomDomains, NoOpaqueLeaves, OnlyBatchSymbolic, Opset, Policy, Rule, RuleOutcome,
                     Runtime, SameArchitecture, load_policy, number_text, parse_policy, starter_policy)
from .result import AnalysisResult

Number = float | int


# ------------------------------------------------------------------------------ what the rules read


@dataclass(frozen=True)
class Subject:
    """A model under check: its stored ONNX graph, its analysis and its size in bytes."""

    label: str
    proto: onnxapi.ModelProto
    result: AnalysisResult
    metrics: Mapping[str, Number | None]  # metric_values of the result and the file size
    path: Path | None  # the ONNX file on disk (onnxruntime resolves external data beside it)


@dataclass(frozen=True)
class Baseline:
    """What a model is compared with; `result` None when there is none (`missing` says why)."""

    label: str | None
    result: AnalysisResult | None = None
    metrics: Mapping[str, Number | None] = field(default_factory=dict)
    missing: str = "no --baseline given"


@dataclass(frozen=True)
class Finding:
    """An evaluator's verdict before severity: passed True/False, or None when not measurable."""

    passed: bool | None
    measured: str
    limit: str
    value: Any = None
    detail: str = ""


def metric_values(result: AnalysisResult, file_size: int | None) -> dict[str, Number | None]:
    """The policy's METRICS: numeric fields of the JSON summary (SPEC §6), `bottleneck_dim`
    and `file_size`; None where the analysis leaves one undefined."""
    summary = result.to_dict()["summary"]
    bottleneck = summary.get("bottleneck")
    extra = {"bottleneck_dim": None if bottleneck is None else bottleneck["dim"], "file_size": file_size}
    return {name: extra[name] if name in extra else summary.get(name) for name in METRICS}


def stored_size(path: Path, proto: onnxapi.ModelProto) -> int:
    """Bytes of the model file plus the external data files its initializers name (each once)."""
    total = path.stat().st_size
    seen: set[Path] = set()
    for init in proto.graph.initializer:
        if init.data_location != onnxapi.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in init.external_data if e.key == "location"), None)
        data = (path.parent / location) if location else None
        if data and data not in seen and data.is_file():
            seen.add(data)
            total += data.stat().st_size
    return total


def op_counts(proto: onnxapi.ModelProto) -> Counter[tuple[str, str]]:
    """(domain, op_type) → nodes, over the graph, its subgraphs and model-local function bodies.

    Calls of model-local functions are not counted (runtimes expand them into their bodies,
    which are); the default domain is spelled `ai.onnx`.
    """
    local = {(f.domain, f.name) for f in proto.functions}
    counts: Counter[tuple[str, str]] = Counter()

    def visit(nodes: Sequence[onnxapi.NodeProto]) -> None:
        for node in nodes:
            if (node.domain, node.op_type) not in local:
                counts[(node.domain or "ai.onnx", node.op_type)] += 1
            for sub in subgraphs(node):
                visit(sub.node)

    visit(proto.graph.node)
    for f in proto.functions:
        visit(f.node)
    return counts


def graph_inputs(proto: onnxapi.ModelProto) -> list[tuple[str, tuple[int | str, ...] | None]]:
    """(name, dims) of the graph inputs that are not initializers; a dim is its size, its
    symbolic name, or "?" when unknown; dims None when the rank is unknown."""
    inits = {i.name for i in proto.graph.initializer}
    out = []
    for inp in proto.graph.input:
        if inp.name in inits:
            continue
        ttype = inp.type.tensor_type
        if not ttype.HasField("shape"):
            out.append((inp.name, None))
            continue
        out.append((inp.name, tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                                    for d in ttype.shape.dim)))
    return out


def _opsets(proto: onnxapi.ModelProto) -> dict[str, int]:
    return {(e.domain or "ai.onnx"): int(e.version) for e in proto.opset_import}


# ------------------------------------------------------------------------------ evaluators


Evaluator = Callable[[Any, Subject, Baseline], Finding]
EVALUATORS: dict[type[Rule], Evaluator] = {}


def evaluates(kind: type[Rule]) -> Callable[[Evaluator], Evaluator]:
    """Register the evaluator of one rule kind."""

    def register(fn: Evaluator) -> Evaluator:
        EVALUATORS[kind] = fn
        return fn

    return register


def _bounds(low: Number | None, high: Number | None) -> str:
    if low is not None and high is not None:
        return f"{number_text(low)} ≤ x ≤ {number_text(high)}"
    return f"≥ {number_text(low)}" if low is not None else f"≤ {number_text(high)}"


def _listing(counts: Mapping[str, int], limit: int = 8) -> str:
    items = [f"{k} ×{n}" if n > 1 else k for k, n in sorted(counts.items())]
    return ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


@evaluates(Limit)
def _limit(rule: Limit, subject: Subject, baseline: Baseline) -> Finding:
    value = subject.metrics[rule.metric]
    limit = f"{rule.metric} {_bounds(rule.min, rule.max)}"
    if value is None:
        why = subject.result.summary.vc_bound_reason if rule.metric == "vc_bound" else "undefined for this model"
        return Finding(None, "none", limit, None, f"{rule.metric} is not measured: {why or 'undefined'}")
    ok = (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
    return Finding(ok, f"{rule.metric} = {number_text(value)}", limit, value)


@evaluates(Change)
def _change(rule: Change, subject: Subject, baseline: Baseline) -> Finding:
    parts = [f"{name} {t}" for name, t in (("max_increase", rule.max_increase), ("max_decrease", rule.max_decrease)) if t]
    limit = f"{rule.metric}: " + ", ".join(parts)
    if baseline.result is None:
        return Finding(None, "-", limit, None, f"no baseline: {baseline.missing}")
    old = baseline.metrics[rule.metric]
    new = subject.metrics[rule.metric]
    if old is None or new is None:
        side = "the baseline" if old is None else "the model"
        why = "a JSON result has no file size" if rule.metric == "file_size" and old is None else "undefined"
        return Finding(None, "-", limit, None, f"{rule.metric} is not measured for {side}: {why}")
    delta = new - old
    relative = f", {delta / abs(old) * 100:+.2f}%" if old else ""
    measured = f"{rule.metric} {number_text(old)} → {number_text(new)} ({'+' if delta >= 0 else '-'}" \
               f"{number_text(abs(delta))}{relative})"
    ok = True
    if rule.max_increase is not None and delta > rule.max_increase.allowed(old):
        ok = False
    if rule.max_decrease is not None and -delta > rule.max_decrease.allowed(old):
        ok = False
    return Finding(ok, measured, limit, {"baseline": old, "value": new, "delta": delta})


@evaluates(SameArchitecture)
def _same_architecture(rule: SameArchitecture, subject: Subject, baseline: Baseline) -> Finding:
    limit = "no architectural change"
    if baseline.result is None:
        return Finding(None, "-", limit, None, f"no baseline: {baseline.missing}")
    d = diff(baseline.result, subject.result, baseline.label, subject.label)
    measured = d.verdict + (": " + "; ".join(d.reasons) if d.reasons else "")
    return Finding(not d.architectural_change, measured, limit, list(d.reasons))


def _matches(pattern: str, domain: str, op_type: str) -> bool:
    """`Op` (any domain), `domain::Op`; fnmatch wildcards; "" and "ai.onnx" are one domain."""
    if "::" not in pattern:
        return fnmatchcase(op_type, pattern)
    dom, op = pattern.split("::")
    return fnmatchcase(domain, dom or "ai.onnx") and fnmatchcase(op_type, op)


def _op_findings(subject: Subject, keep: Callable[[str, str], bool]) -> dict[str, int]:
    return {f"{dom}::{op}": n for (dom, op), n in op_counts(subject.proto).items() if keep(dom, op)}


@evaluates(ForbidOps)
def _forbid_ops(rule: ForbidOps, subject: Subject, baseline: Baseline) -> Finding:
    found = _op_findings(subject, lambda d, o: any(_matches(p, d, o) for p in rule.ops))
    measured = f"{sum(found.values())} forbidden node(s)" + (f": {_listing(found)}" if found else "")
    return Finding(not found, measured, "none of " + ", ".join(rule.ops), sorted(found))


@evaluates(AllowOps)
def _allow_ops(rule: AllowOps, subject: Subject, baseline: Baseline) -> Finding:
    found = _op_findings(subject, lambda d, o: not any(_matches(p, d, o) for p in rule.ops))
    measured = f"{sum(found.values())} node(s) outside the allowed ops" + (f": {_listing(found)}" if found else "")
    return Finding(not found, measured, "only " + ", ".join(rule.ops), sorted(found))


@evaluates(Opset)
def _opset(rule: Opset, subject: Subject, baseline: Baseline) -> Finding:
    domain = rule.domain if rule.domain != "" else "ai.onnx"
    version = _opsets(subject.proto).get(domain)
    limit = f"{domain} opset {_bounds(rule.min, rule.max)}"
    if version is None:
        return Finding(True, f"{domain} not imported", limit, None)
    ok = (rule.min is None or version >= rule.min) and (rule.max is None or version <= rule.max)
    return Finding(ok, f"{domain} opset {version}", limit, version)


@evaluates(NoOpaqueLeaves)
def _no_opaque(rule: NoOpaqueLeaves, subject: Subject, baseline: Baseline) -> Finding:
    opaque = Counter(f"{leaf.domain or 'ai.onnx'}::{leaf.op_type}" for leaf in subject.result.leaves
                     if leaf.kind == "opaque")
    n = sum(opaque.values())
    return Finding(n == 0, f"{n} opaque leaf(s)" + (f": {_listing(opaque)}" if n else ""), "0 opaque leaves", n)


@evaluates(NoCustomDomains)
def _no_custom_domains(rule: NoCustomDomains, subject: Subject, baseline: Baseline) -> Finding:
    allowed = set(STANDARD_DOMAINS) | set(rule.allow)
    found = Counter()
    for (dom, _), n in op_counts(subject.proto).items():
        if dom not in allowed:
            found[dom] += n
    measured = f"{sum(found.values())} node(s) in custom domains" + (f": {_listing(found)}" if found else "")
    return Finding(not found, measured, "domains " + ", ".join(sorted(allowed)), sorted(found))


@evaluates(OnlyBatchSymbolic)
def _only_batch_symbolic(rule: OnlyBatchSymbolic, subject: Subject, baseline: Baseline) -> Finding:
    bad = []
    for name, dims in graph_inputs(subject.proto):
        if dims is None:
            bad.append(f"{name}: rank unknown")
        else:
            bad += [f"{name}[{i}] = {d!r}" for i, d in enumerate(dims) if i > 0 and isinstance(d, str)]
    measured = f"{len(bad)} symbolic non-batch dim(s)" + (": " + ", ".join(bad[:8]) if bad else "")
    return Finding(not bad, measured, "only dim 0 of each input symbolic", bad)


def _dim_ok(expected: int | str, actual: int | str) -> bool:
    if expected == "*":
        return True
    return actual == expected if isinstance(expected, int) else isinstance(actual, str)


def _shape_text(dims: Sequence[int | str] | None) -> str:
    return "rank unknown" if dims is None else "[" + ", ".join(str(d) for d in dims) + "]"


@evaluates(Input)
def _input(rule: Input, subject: Subject, baseline: Baseline) -> Finding:
    inputs = dict(graph_inputs(subject.proto))
    limit = f"input {rule.input}" + ("" if rule.shape is None else f" of shape {_shape_text(rule.shape)}")
    if rule.input not in inputs:
        return Finding(False, f"no input {rule.input!r} (inputs: {', '.join(inputs) or 'none'})", limit, None)
    dims = inputs[rule.input]
    value = None if dims is None else list(dims)
    measured = f"{rule.input} {_shape_text(dims)}"
    if rule.shape is None:
        return Finding(True, measured, limit, value)
    ok = dims is not None and len(dims) == len(rule.shape) and all(map(_dim_ok, rule.shape, dims))
    return Finding(ok, measured, limit, value)


@evaluates(Runtime)
def _runtime(rule: Runtime, subject: Subject, baseline: Baseline) -> Finding:
    limit = "every node on " + ", ".join(rule.providers)
    try:
        import onnxruntime as ort
    except ImportError:
        return Finding(None, "-", limit, None, "onnxruntime is not installed (pip install onnxruntime)")
    available = ort.get_available_providers()
    missing = [p for p in rule.providers if p not in available]
    if missing:
        return Finding(None, "-", limit, None, f"{', '.join(missing)} not available in this onnxruntime "
                                                f"(available: {', '.join(available)})")
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the failure is reported here, not logged twice
    if "CPUExecutionProvider" not in rule.providers:
        # onnxruntime places what the listed providers cannot run on the CPU; make that an error
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    source = str(subject.path) if subject.path is not None else subject.proto.SerializeToString()
    try:
        session = ort.InferenceSession(source, options, providers=list(rule.providers))
    except Exception as exc:  # onnxruntime raises its own exception types for every load failure
        text = " ".join(str(exc).split())
        return Finding(False, "does not load: " + (text if len(text) <= 300 else text[:299] + "…"), limit, None)
    used = session.get_providers()
    return Finding(True, "loads on " + ", ".join(used), limit, used)


def evaluate(rule: Rule, subject: Subject, baseline: Baseline) -> RuleOutcome:
    """Run one rule and turn its finding into a status under the rule's severity."""
    f = EVALUATORS[type(rule)](rule, subject, baseline)
    if f.passed is None:
        status = "skip"
    elif f.passed:
        status = "pass"
    else:
        status = "fail" if rule.severity == "error" else "warn"
    detail = f.detail
    if status in ("fail", "warn") and rule.message:
        detail = f"{detail}; {rule.message}" if detail else rule.message
    return RuleOutcome(rule, status, f.measured, f.limit, f.value, detail)


# ------------------------------------------------------------------------------ models


def open_model(source: Any, input_shapes: Mapping[str, Sequence[int]] | None = None, *, weights: bool = False,
               strict: bool = False, example_inputs: Any = None, trust_pickle: bool = False,
               converter_options: Mapping[str, Any] | None = None, **analysis: Any) -> Subject:
    """Load and analyse one model: a path (ONNX or a framework file), bytes, a ModelProto,
    `zoo:NAME` (built with random weights when `weights`, else graph-only), or a framework model
    (converted with `example_inputs`, `trust_pickle`, `converter_options` as in `analyze`).
    `input_shapes` may name inputs of other models too; `analysis`: tolerance, domain, fuse."""
    from .api import ZOO_PREFIX, analyze, to_onnx_source

    shapes = dict(input_shapes or {})
    path: Path | None = None
    if isinstance(source, str) and source.startswith(ZOO_PREFIX):
        from .models_access import zoo_input_shapes, zoo_model

        name = source[len(ZOO_PREFIX):]
        proto, label = zoo_model(name, weights=weights), source
        shapes = zoo_input_shapes(name, shapes)
    elif isinstance(source, (bytes, bytearray, onnxapi.ModelProto)):
        proto = load_model(source)
        label = (proto.graph.name or "(in memory)") if isinstance(source, onnxapi.ModelProto) else "(bytes)"
    else:
        converted, _ = to_onnx_source(source, example_inputs, trust_pickle, converter_options)
        label = str(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"
        proto = load_model(converted)
        if isinstance(converted, (str, os.PathLike)):
            path = Path(converted)
    inputs = {name for name, _ in graph_inputs(proto)}
    mine = {k: v for k, v in shapes.items() if k in inputs}
    result = analyze(proto, mine, path=label, strict=strict, **analysis)
    size = stored_size(path, proto) if path is not None else proto.ByteSize()
    return Subject(label, proto, result, metric_values(result, size), path)


def analysis_of(source: Any, input_shapes: Mapping[str, Sequence[int]] | None = None, **analysis: Any) -> AnalysisResult:
    """A saved `analyze --format json` result, or the analysis of any model `open_model` reads."""
    if is_result_file(source):
        return read_result(source)
    return open_model(source, input_shapes, **analysis).result


def diff_models(old: Any, new: Any, input_shapes: Mapping[str, Sequence[int]] | None = None,
                **analysis: Any) -> ModelDiff:
    """`onnxlayer diff`: analyse two models (or read saved analyses) with the same settings and
    compare them (`diff.diff`)."""
    labels = [str(s) if isinstance(s, (str, os.PathLike)) else None for s in (old, new)]
    return diff(analysis_of(old, input_shapes, **analysis), analysis_of(new, input_shapes, **analysis), *labels)


def open_baseline(source: Any, input_shapes: Mapping[str, Sequence[int]] | None = None, **analysis: Any) -> Baseline:
    """A baseline: a saved `analyze --format json` result, or any model `open_model` reads."""
    if source is None:
        return Baseline(None)
    if is_result_file(source):
        result = read_result(source)
        return Baseline(str(source), result, metric_values(result, None))
    subject = open_model(source, input_shapes, **analysis)
    return Baseline(subject.label, subject.result, subject.metrics)


def _baseline_in(baseline_dir: str | os.PathLike, model: Any, shapes: Mapping[str, Sequence[int]],
                 analysis: Mapping[str, Any]) -> Baseline:
    """The baseline at the model's relative path under `baseline_dir`, or why there is none."""
    if not isinstance(model, (str, os.PathLike)) or str(model).startswith("zoo:") or Path(model).is_absolute():
        raise SettingsError(f"--baseline-dir pairs model files by relative path; {model} is not a relative path")
    candidate = Path(baseline_dir) / model
    if not candidate.is_file():
        return Baseline(None, missing=f"{candidate} does not exist (a new model)")
    return open_baseline(candidate, shapes, **analysis)


def check(
    models: Sequence[Any],
    policy: Policy | str | os.PathLike,
    *,
    baseline: Any = None,
    baseline_dir: str | os.PathLike | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    tolerance: float | None = None,
    domain: float | None = None,
    strict: bool = False,
    fuse: bool = True,
    **framework: Any,
) -> CheckResult:
    """Check each model against a policy (a `Policy` or a TOML path); see the module docstring.

    `baseline`: one model or saved JSON result that every model is compared with; or
    `baseline_dir`: a tree holding each model's baseline at the same relative path (missing:
    a new model, its baseline rules are skipped). Settings not given come from the policy's
    `[analysis]` table. `strict` adds an error rule "no opaque leaves" (as `analyze --strict`
    makes them an error) while every other rule is still reported.
    """
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    if baseline is not None and baseline_dir is not None:
        raise SettingsError("give --baseline or --baseline-dir, not both")
    if not models:
        raise SettingsError("no model to check")
    rules = list(policy.rules)
    if strict and not any(isinstance(r, NoOpaqueLeaves) and r.severity == "error" for r in rules):
        rules.append(NoOpaqueLeaves(name="--strict: no opaque leaves"))
    shapes = {**policy.input_shapes, **(input_shapes or {})}
    analysis = dict(tolerance=policy.tolerance if tolerance is None else tolerance,
                    domain=policy.domain if domain is None else domain, fuse=fuse, **framework)
    analysis = {k: v for k, v in analysis.items() if v is not None}
    needs_weights = any(isinstance(r, Runtime) for r in rules)
    shared = None if baseline_dir is not None else open_baseline(baseline, shapes, **analysis)
    checks = []
    used: set[str] = set()
    for model in models:
        subject = open_model(model, shapes, weights=needs_weights, **analysis)
        used |= {name for name, _ in graph_inputs(subject.proto)}
        base = shared if shared is not None else _baseline_in(baseline_dir, model, shapes, analysis)
        outcomes = tuple(evaluate(rule, subject, base) for rule in rules)
        checks.append(ModelCheck(subject.label, str(subject.path) if subject.path else None,
                                 subject.result.model.sha256, base.label, subject.metrics, outcomes))
    warnings = tuple(f"input shape {k}: no model has an input of that name" for k in shapes if k not in used)
    return CheckResult(str(policy.path), tuple(checks), warnings)


def init_policy(source: Any, input_shapes: Mapping[str, Sequence[int]] | None = None, **analysis: Any) -> str:
    """A starter policy (TOML text) from one model's current numbers; the rules the model
    fails today (e.g. opaque leaves, or it does not load in onnxruntime) are commented out."""
    subject = open_model(source, input_shapes, **analysis)
    facts = ModelFacts(
        label=subject.label,
        metrics=subject.metrics,
        opset=_opsets(subject.proto).get("ai.onnx", 1),
        domains=tuple(sorted({dom for dom, _ in op_counts(subject.proto)})),
        inputs=tuple(graph_inputs(subject.proto)),
    )
    rules = parse_policy(starter_policy(facts), "starter policy").rules
    outcomes = (evaluate(rule, subject, Baseline(None)) for rule in rules)
    off = {o.rule.name: o.measured for o in outcomes if o.status in ("fail", "warn")}
    return starter_policy(facts, off)
