"""Deployment policies for `onnxlayer check`: the rule records, TOML loading with strict
validation (an unknown key or a wrong type is an error, never ignored), the records of a
check's outcome, and the starter policy that `check --init` writes.

A policy file (TOML, `version = 1`) holds an optional `[analysis]` table and arrays of rule
tables, one array per rule kind (`[[limit]]`, `[[change]]`, ...; see `RULE_KINDS`). Every rule
has `name`, `severity` ("error" or "warning") and an optional `message`, plus its kind's keys.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10: the same parser as a package)
    import tomli as tomllib

from .errors import OnnxLayerError
from .version import __version__

POLICY_VERSION = 1
SEVERITIES = ("error", "warning")
#: Fields a `limit` or `change` rule can name: the numeric fields of the JSON summary
#: (SPEC §6; `bottleneck_dim` is `summary.bottleneck.dim`) and the model's size in bytes.
METRICS = ("complexity_bits", "complexity_log10_regions", "intrinsic_power", "intrinsic_power_mean", "input_dim",
           "output_dim", "depth", "units", "params", "macs", "bottleneck_dim", "vc_bound", "opaque_leaves", "leaves",
           "nonlinear_leaves", "file_size")
#: ONNX's own operator domains; any other domain is custom (`com.microsoft` included: it is
#: onnxruntime's, not portable).
STANDARD_DOMAINS = ("ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training")


class PolicyError(OnnxLayerError):
    """A policy file that cannot be used: unreadable, not TOML, or a key that is unknown,
    missing or of the wrong type. The line names the file, the place, the key and what was
    expected."""

    def __init__(self, message: str, *, path: str, where: str = "", key: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.path, self.where, self.key = path, where, key

    def _line(self) -> str:
        place = " ".join(p for p in (self.where, f"key {self.key!r}" if self.key else "") if p)
        return f"{self.path}: {place + ': ' if place else ''}{super()._line()}"


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Threshold:
    """An allowed change: absolute (in the metric's unit) or relative to the baseline value."""

    amount: float
    relative: bool

    def allowed(self, baseline: float) -> float:
        return self.amount * abs(baseline) if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else number_text(self.amount)


def number_text(x: float | int) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:.10g}"


def _check_range(low: float | int | None, high: float | int | None) -> None:
    """A [min, max] pair of a rule: at least one bound, and max not below min."""
    if low is None and high is None:
        raise _Bad("at least one of min, max", "max")
    if low is not None and high is not None and low > high:
        raise _Bad(f"max ≥ min ({number_text(low)})", "max")


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
    kind = next((v for t, v in kinds.items() if type(value) is t), type(value).__name__)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f"{kind} {text if len(text) <= 40 else text[:39] + '…'}"


class _Bad(ValueError):
    """A value that does not parse; its text says what was expected."""


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad("a number")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("a string")
    return value


def _name_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("a non-empty string")
    return value


def _severity(value: Any) -> str:
    if value not in SEVERITIES:
        raise _Bad('"error" or "warning"')
    return value


def _metric(value: Any) -> str:
    if value not in METRICS:
        raise _Bad("one of " + ", ".join(METRICS))
    return value


def _threshold(value: Any) -> Threshold:
    expected = 'a non-negative number or a percentage like "5%"'
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*", value)
        if not m:
            raise _Bad(expected)
        return Threshold(float(m.group(1)) / 100, True)
    try:
        amount = _number(value)
    except _Bad:
        raise _Bad(expected) from None
    if amount < 0:
        raise _Bad(expected)
    return Threshold(amount, False)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Bad("a non-empty array of strings")
    return tuple(value)


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Bad("an array of strings")
    return tuple(value)


def _op_patterns(value: Any) -> tuple[str, ...]:
    patterns = _strings(value)
    for p in patterns:
        if p.count("::") > 1 or p.endswith("::") or p.startswith("::"):
            raise _Bad('op patterns like "Conv", "ai.onnx::Loop" or "com.microsoft::*"')
    return patterns


def _opset_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad("a positive integer")
    return value


def _shape(value: Any) -> tuple[int | str, ...]:
    expected = 'an array of dims, each a positive integer or a string (a symbolic dim; "*": any)'
    if not isinstance(value, list):
        raise _Bad(expected)
    for d in value:
        if isinstance(d, bool) or not (isinstance(d, str) and d or isinstance(d, int) and d > 0):
            raise _Bad(expected)
    return tuple(value)


def _key(parse: Callable[[Any], Any], default: Any = MISSING) -> Any:
    """A rule field read from the TOML key of the same name (`default` MISSING: required)."""
    return field(default=default, metadata={"parse": parse})


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule has: a name for reports, a severity, an optional message for failures."""

    KIND: ClassVar[str] = ""
    name: str = _key(_name_text, "")  # "": default_name() once loaded
    severity: str = _key(_severity, "error")  # "error" fails the check (exit 1); "warning" is only reported
    message: str = _key(_text, "")  # added to the report when the rule does not pass

    @property
    def kind(self) -> str:
        return self.KIND

    def default_name(self) -> str:
        return self.KIND.replace("_", " ")

    def validate(self) -> None:
        """Checks across keys; raise _Bad naming the key in `args[1]`."""


@dataclass(frozen=True, kw_only=True)
class Limit(Rule):
    """A summary field (or the file size) within [min, max]."""

    KIND: ClassVar[str] = "limit"
    metric: str = _key(_metric)
    min: float | int | None = _key(_number, None)
    max: float | int | None = _key(_number, None)

    def default_name(self) -> str:
        return f"limit {self.metric}"

    def validate(self) -> None:
        _check_range(self.min, self.max)


@dataclass(frozen=True, kw_only=True)
class Change(Rule):
    """A summary field may not move further from the baseline's than the thresholds allow."""

    KIND: ClassVar[str] = "change"
    metric: str = _key(_metric)
    max_increase: Threshold | None = _key(_threshold, None)
    max_decrease: Threshold | None = _key(_threshold, None)

    def default_name(self) -> str:
        return f"change {self.metric}"

    def validate(self) -> None:
        if self.max_increase is None and self.max_decrease is None:
            raise _Bad("at least one of max_increase, max_decrease", "max_increase")


@dataclass(frozen=True, kw_only=True)
class SameArchitecture(Rule):
    """`onnxlayer diff` against the baseline finds no architectural change."""

    KIND: ClassVar[str] = "same_architecture"


@dataclass(frozen=True, kw_only=True)
class ForbidOps(Rule):
    """No node matches any of the patterns (`Op`, `domain::Op`, wildcards `*` `?`)."""

    KIND: ClassVar[str] = "forbid_ops"
    ops: tuple[str, ...] = _key(_op_patterns)


@dataclass(frozen=True, kw_only=True)
class AllowOps(Rule):
    """Every node matches one of the patterns."""

    KIND: ClassVar[str] = "allow_ops"
    ops: tuple[str, ...] = _key(_op_patterns)


@dataclass(frozen=True, kw_only=True)
class Opset(Rule):
    """The model imports `domain` at a version in [min, max]."""

    KIND: ClassVar[str] = "opset"
    domain: str = _key(_name_text, "ai.onnx")
    min: int | None = _key(_opset_version, None)
    max: int | None = _key(_opset_version, None)

    def validate(self) -> None:
        _check_range(self.min, self.max)


@dataclass(frozen=True, kw_only=True)
class NoOpaqueLeaves(Rule):
    """Every leaf has a registry rule (no `opaque` leaves)."""

    KIND: ClassVar[str] = "no_opaque_leaves"


@dataclass(frozen=True, kw_only=True)
class NoCustomDomains(Rule):
    """Every node is in an ONNX domain (`STANDARD_DOMAINS`) or one listed in `allow`."""

    KIND: ClassVar[str] = "no_custom_domains"
    allow: tuple[str, ...] = _key(_string_list, ())


@dataclass(frozen=True, kw_only=True)
class OnlyBatchSymbolic(Rule):
    """Every graph input has fixed dims except, possibly, the first (the batch)."""

    KIND: ClassVar[str] = "only_batch_symbolic"


@dataclass(frozen=True, kw_only=True)
class Input(Rule):
    """The model has a graph input named `input`, of shape `shape` when given."""

    KIND: ClassVar[str] = "input"
    input: str = _key(_name_text)
    shape: tuple[int | str, ...] | None = _key(_shape, None)

    def default_name(self) -> str:
        return f"input {self.input}"


@dataclass(frozen=True, kw_only=True)
class Runtime(Rule):
    """onnxruntime loads the model with every node on the listed execution providers."""

    KIND: ClassVar[str] = "runtime"
    providers: tuple[str, ...] = _key(_strings)


RULE_KINDS: dict[str, type[Rule]] = {cls.KIND: cls for cls in (
    Limit, Change, SameArchitecture, ForbidOps, AllowOps, Opset, NoOpaqueLeaves, NoCustomDomains, OnlyBatchSymbolic,
    Input, Runtime)}


@dataclass(frozen=True)
class Policy:
    """A loaded policy: its rules (grouped by kind, in file order) and its analysis settings."""

    path: str
    rules: tuple[Rule, ...]
    tolerance: float | None = None
    domain: float | None = None
    input_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


# ------------------------------------------------------------------------------ outcomes


STATUSES = ("pass", "fail", "warn", "skip")


@dataclass(frozen=True)
class RuleOutcome:
    """One rule on one model: its status, what was measured and the limit it was held to."""

    rule: Rule
    status: str
    measured: str
    limit: str
    value: Any = None
    detail: str = ""


@dataclass(frozen=True)
class ModelCheck:
    """Every rule's outcome for one model."""

    model: str
    path: str | None
    sha256: str | None
    baseline: str | None
    metrics: Mapping[str, float | int | None]
    outcomes: tuple[RuleOutcome, ...]

    @property
    def passed(self) -> bool:
        return not any(o.status == "fail" for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `check`: one ModelCheck per model, in the order given."""

    policy: str
    models: tuple[ModelCheck, ...]
    warnings: tuple[str, ...] = ()
    tool_version: str = __version__

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.models)

    @property
    def exit_code(self) -> int:
        """0: every rule passed (warnings and skips allowed); 1: some error-severity rule failed."""
        return 0 if self.passed else 1

    def count(self, status: str) -> int:
        return sum(m.count(status) for m in self.models)


# ------------------------------------------------------------------------------ loading


def load_policy(path: str | os.PathLike) -> Policy:
    """Read and validate a policy file; PolicyError (one line) on any problem."""
    label = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the policy ({exc.strerror or exc})", path=label) from None
    except UnicodeDecodeError:
        raise PolicyError("not UTF-8 text", path=label) from None
    return parse_policy(text, label)


def parse_policy(text: str, path: str = "<policy>") -> Policy:
    """Validate a policy given as TOML text (`path` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", path=path) from None
    known = ("version", "analysis", *RULE_KINDS)
    for key in data:
        if key not in known:
            raise PolicyError(f"unknown key; expected one of: {', '.join(known)}", path=path, key=key)
    if "version" not in data:
        raise PolicyError(f"missing; expected version = {POLICY_VERSION} as the first line", path=path, key="version")
    if data["version"] != POLICY_VERSION or isinstance(data["version"], bool):
        raise PolicyError(f"expected {POLICY_VERSION} (the only policy version), got {_describe(data['version'])}",
                          path=path, key="version")
    tolerance, domain, shapes = _analysis(data.get("analysis", {}), path)
    rules = []
    for kind in (k for k in data if k in RULE_KINDS):  # kinds in the order the file first names them
        cls, tables = RULE_KINDS[kind], data[kind]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise PolicyError(f"expected an array of tables ([[{kind}]]), got {_describe(tables)}", path=path, key=kind)
        rules += (_rule(cls, table, path, f"[[{kind}]] #{i}") for i, table in enumerate(tables, 1))
    if not rules:
        raise PolicyError(f"no rules; add at least one of: {', '.join(f'[[{k}]]' for k in RULE_KINDS)}", path=path)
    return Policy(path, tuple(rules), tolerance, domain, shapes)


def _rule(cls: type[Rule], table: Mapping[str, Any], path: str, where: str) -> Rule:
    if isinstance(table.get("name"), str) and table["name"].strip():
        where += f" ({table['name']!r})"
    spec = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in spec:
            raise PolicyError(f"unknown key; expected one of: {', '.join(spec)}", path=path, where=where, key=key)
    values = {}
    for name, f in spec.items():
        if name not in table:
            if f.default is MISSING:
                raise PolicyError(f"missing; expected {_expected(f)}", path=path, where=where, key=name)
            continue
        try:
            values[name] = f.metadata["parse"](table[name])
        except _Bad as exc:
            raise PolicyError(f"expected {exc.args[0]}, got {_describe(table[name])}", path=path, where=where,
                              key=name) from None
    rule = cls(**values)
    try:
        rule.validate()
    except _Bad as exc:
        raise PolicyError(f"expected {exc.args[0]}", path=path, where=where, key=exc.args[1]) from None
    if not rule.name:
        rule = cls(**{**values, "name": rule.default_name()})
    return rule


def _expected(f) -> str:
    """What a missing required key should hold, from its parser."""
    try:
        f.metadata["parse"](None)
    except _Bad as exc:
        return exc.args[0]
    return "a value"  # pragma: no cover  (every required key rejects None)


def _analysis(table: Any, path: str) -> tuple[float | None, float | None, dict[str, tuple[int, ...]]]:
    where = "[analysis]"
    if not isinstance(table, dict):
        raise PolicyError(f"expected a table, got {_describe(table)}", path=path, key="analysis")
    allowed = ("tolerance", "domain", "input_shapes")
    for key in table:
        if key not in allowed:
            raise PolicyError(f"unknown key; expected one of: {', '.join(allowed)}", path=path, where=where, key=key)
    out: list[Any] = []
    for key in ("tolerance", "domain"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
            raise PolicyError(f"expected a positive number, got {_describe(value)}", path=path, where=where, key=key)
        out.append(None if value is None else float(value))
    shapes = table.get("input_shapes", {})
    if not isinstance(shapes, dict):
        raise PolicyError(f"expected a table of input name = [dims], got {_describe(shapes)}", path=path, where=where,
                          key="input_shapes")
    for name, dims in shapes.items():
        if not isinstance(dims, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise PolicyError(f"expected an array of positive integers, got {_describe(dims)}", path=path,
                              where=where, key=f"input_shapes.{name}")
    return out[0], out[1], {k: tuple(v) for k, v in shapes.items()}


# ------------------------------------------------------------------------------ starter policy


@dataclass(frozen=True)
class ModelFacts:
    """What a starter policy is written from: one model's current numbers and interface."""

    label: str
    metrics: Mapping[str, float | int | None]
    opset: int
    domains: tuple[str, ...]
    inputs: tuple[tuple[str, tuple[int | str, ...] | None], ...]  # dims None: rank unknown


def _toml(value: Any) -> str:
    """A TOML literal for a number, string or array of them (JSON spelling is valid TOML there)."""
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _rule_block(kind: str, name: str, lines: Sequence[str], off: Mapping[str, str]) -> list[str]:
    """A rule's table; commented out, with the reason, when `off` names it."""
    block = [f"[[{kind}]]", f"name = {_toml(name)}", *lines]
    if name not in off:
        return ["", *block]
    return ["", f"# off: the model fails this today ({off[name]})", *(f"# {line}" for line in block)]


def starter_policy(facts: ModelFacts, off: Mapping[str, str] | None = None) -> str:
    """A commented policy from a model's current numbers: limits at today's values, baseline
    rules, operator, shape and runtime rules. Rules named in `off` (name → why) are written
    commented out, so that the model passes the policy as written."""
    off = off or {}
    m = facts.metrics
    out = [
        f"# onnxlayer check policy, written by `onnxlayer check --init` from {facts.label}.",
        "# Every rule has a name, a severity (\"error\" fails the check, \"warning\" is only reported)",
        "# and an optional message. The limits below sit at the model's current numbers: raise them",
        "# to the budget you want. Reference: docs/deployment.md.",
        f"version = {POLICY_VERSION}",
        "",
        "# [analysis]            # settings for the numbers (the command line's flags win)",
        "# tolerance = 0.01      # PWL fitting tolerance ε",
        "# domain = 8.0          # PWL fitting domain bound B",
        "# input_shapes = { input = [1, 3, 224, 224] }   # fix symbolic dims other than the batch",
    ]
    limits = (("params", "parameters W"), ("macs", "multiply-accumulates per sample"),
              ("complexity_bits", "layer complexity C, bits"), ("depth", "nonlinear depth L"),
              ("file_size", "bytes of the model file and its external data"))
    for metric, what in limits:
        value = m.get(metric)
        if value is not None:
            out += _rule_block("limit", f"{metric.replace('_', ' ')} budget", [
                f"metric = {_toml(metric)}", f"max = {_toml(value)}    # now: {number_text(value)} ({what})"], off)
    out += ["", "# Changes against --baseline (a model or an `analyze --format json` result); skipped without one."]
    out += _rule_block("change", "complexity drift", ['metric = "complexity_bits"', 'max_increase = "5%"',
                                                      'max_decrease = "5%"', 'severity = "warning"'], off)
    out += _rule_block("change", "parameter growth", ['metric = "params"', 'max_increase = "10%"'], off)
    out += _rule_block("same_architecture", "same network as the baseline", [
        'severity = "warning"', 'message = "the architecture changed: review `onnxlayer diff BASELINE MODEL`"'], off)
    out += _rule_block("no_opaque_leaves", "every operator understood", [], off)
    out += _rule_block("opset", "opset range", [f"min = {facts.opset}", f"max = {facts.opset}"], off)
    custom = [d for d in facts.domains if d not in STANDARD_DOMAINS]
    out += _rule_block("no_custom_domains", "portable operator domains", [
        f"allow = {_toml(custom)}" + ("    # the model uses these today" if custom else "")], off)
    out += ["", "# [[forbid_ops]]", '# name = "no contrib operators"', '# ops = ["com.microsoft::*"]']
    out += _rule_block("only_batch_symbolic", "only the batch dimension is symbolic", [], off)
    for name, dims in facts.inputs:
        shape = [] if dims is None else [f"shape = {_toml(list(dims))}"]
        out += _rule_block("input", f"input {name}", [f"input = {_toml(name)}", *shape], off)
    out += _rule_block("runtime", "loads in onnxruntime on CPU", ['providers = ["CPUExecutionProvider"]'], off)
    return "\n".join(out) + "\n"
