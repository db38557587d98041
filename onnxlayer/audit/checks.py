"""`--policy`: each audited entry checked with the rules of `onnxlayer check`, the previous
version of the same model as the baseline of the change rules.

A check reads the model itself (its operators, inputs, onnxruntime placement), so it runs in
an isolated worker child like an analysis does (`run_check`); the coordinator only schedules
it and stores the verdict, keyed by the content, the policy text, the baseline and the tool
version, so a rerun checks nothing it checked before.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..version import __version__
from .result import EntryCheck, RuleVerdict
from .store import StoredCheck
from .tasks import CheckSpec, Task

#: The verdict of an entry from its rules' statuses, worst first.
VERDICTS = ("fail", "warn", "pass")


@dataclass(frozen=True)
class PolicyFile:
    """A policy loaded (and validated) up front: a bad policy stops the audit before it starts."""

    path: str
    text: str
    tolerance: float | None
    domain: float | None
    input_shapes: dict[str, tuple[int, ...]]

    @staticmethod
    def load(path: str | os.PathLike) -> "PolicyFile":
        from ..policy import load_policy

        policy = load_policy(path)  # PolicyError (one line, exit 2) for a bad file
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return PolicyFile(str(path), text, policy.tolerance, policy.domain, dict(policy.input_shapes))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def spec(self, baseline_label: str | None, baseline_json: str | None, baseline_file_size: int | None,
             missing: str) -> CheckSpec:
        return CheckSpec(self.text, self.path, baseline_label, baseline_json, baseline_file_size, missing)


def check_key(content_key: str, policy: PolicyFile, baseline_key: str | None, baseline_size: int | None) -> str:
    """The store's key of one verdict: what it was checked on, with what, against what."""
    text = json.dumps([content_key, policy.sha256, baseline_key, baseline_size, __version__])
    return hashlib.sha256(text.encode()).hexdigest()


def entry_check(stored: StoredCheck, baseline: str | None) -> EntryCheck:
    rules = tuple(RuleVerdict(**r) for r in json.loads(stored.rules_json))
    return EntryCheck(stored.status, rules, baseline)


def stored_check(key: str, result_json: str) -> StoredCheck:
    """A worker's verdict (the JSON `run_check` wrote) as the store keeps it."""
    data = json.loads(result_json)
    return StoredCheck(key, data["status"], json.dumps(data["rules"]), data["file_size"])


# ------------------------------------------------------------------------ in the worker child


def run_check(task: Task) -> str:
    """Open the model as `onnxlayer check` does, evaluate every rule, return the verdict as JSON."""
    from ..diff import result_from_dict
    from ..gate import Baseline, evaluate, metric_values, open_model
    from ..policy import parse_policy

    spec = task.check
    policy = parse_policy(spec.policy_text, spec.policy_path)
    subject = open_model(task.path, dict(task.settings.input_shapes), tolerance=task.settings.tolerance,
                         domain=task.settings.domain)
    if spec.baseline_json is None:
        baseline = Baseline(None, missing=spec.baseline_missing)
    else:
        previous = result_from_dict(json.loads(spec.baseline_json), spec.baseline_label)
        baseline = Baseline(spec.baseline_label, previous, metric_values(previous, spec.baseline_file_size))
    outcomes = [evaluate(rule, subject, baseline) for rule in policy.rules]
    statuses = {o.status for o in outcomes}
    verdict = next((v for v in VERDICTS if v in statuses), "pass")
    # name the model as the report does, not by the worker's copy (a Dask worker's temporary file)
    rules: list[dict[str, Any]] = [{"name": o.rule.name, "status": o.status,
                                    "measured": o.measured.replace(task.path, task.label), "limit": o.limit,
                                    "detail": o.detail.replace(task.path, task.label)} for o in outcomes]
    return json.dumps({"status": verdict, "rules": rules, "file_size": subject.metrics["file_size"]})
