"""`audit()`: resolve the sources into entries, analyse every content the store does not
hold yet (each in an isolated worker child, in parallel, locally or on Dask), commit each
result the moment it finishes, then compare each version with the previous one, check the
policy and write the numbers back to the registry."""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import SettingsError
from ..transfer import Settings
from ..version import __version__
from .checks import PolicyFile, check_key, entry_check, stored_check
from .executors import Executor, make_executor
from .progress import Progress
from .result import CHANGE_FIELDS, SUMMARY_FIELDS, AuditCounts, AuditEntry, AuditResult, EntryCheck, VersionChange
from .entries import SourceEntry, Unavailable
from .sources import FileOrigin, content_sha256, resolve
from .store import DEFAULT_STORE, Store, StoredEntry
from .tasks import (DEFAULT_MAX_MEMORY_GIB, DEFAULT_TIMEOUT, EXECUTORS, AnalysisSettings, Limits, Outcome, Task,
                    content_key)

#: Reason prefix of an entry whose model could not be read or downloaded.
UNAVAILABLE = "unavailable"


def audit(
    sources: Sequence[str | os.PathLike],
    *,
    store: str | os.PathLike = DEFAULT_STORE,
    policy: str | os.PathLike | None = None,
    jobs: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_memory: float | None = DEFAULT_MAX_MEMORY_GIB,
    executor: str = "local",
    scheduler: str | None = None,
    registry_uri: str | None = None,
    write_back: bool = False,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    tolerance: float | None = None,
    domain: float | None = None,
    progress: bool = False,
) -> AuditResult:
    """Audit every model of `sources` (directories, model files, CSV/JSONL manifests,
    `models:/NAME[/VERSION]`, `mlflow-registry:`), resumably, into the SQLite `store`.

    `jobs` worker processes (default: one per CPU) analyse each model under `timeout` seconds
    and `max_memory` GiB of address space (None: no limit); `executor="dask"` runs them on the
    cluster at `scheduler` (or a local one). `write_back` sets `onnxlayer.*` tags on MLflow
    model versions. `progress` shows a bar (terminal) or log lines (otherwise) on stderr.
    `policy` checks every entry as `onnxlayer check` would, the previous version as baseline;
    settings not given come from the policy's `[analysis]` table, then the defaults.
    """
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    if jobs < 1:
        raise SettingsError(f"--jobs {jobs}: expected a positive number of worker processes")
    if executor not in EXECUTORS:
        raise SettingsError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise SettingsError("--scheduler needs --executor dask")
    if timeout is not None and not timeout > 0:
        raise SettingsError(f"--timeout {timeout}: expected a positive number of seconds")
    if max_memory is not None and not max_memory > 0:
        raise SettingsError(f"--max-memory {max_memory}: expected a positive number of GiB")
    policy_file = None if policy is None else PolicyFile.load(policy)
    if policy_file is not None:
        tolerance = policy_file.tolerance if tolerance is None else tolerance
        domain = policy_file.domain if domain is None else domain
        input_shapes = {**policy_file.input_shapes, **(input_shapes or {})}
    fitting = Settings(Settings.tolerance if tolerance is None else float(tolerance),
                       Settings.domain if domain is None else float(domain))  # validates them (SettingsError)
    settings = AnalysisSettings.make(fitting.tolerance, fitting.domain, input_shapes)
    limits = Limits.make(timeout, max_memory)
    entries = resolve(sources, registry_uri)
    with Store(store) as db, tempfile.TemporaryDirectory(prefix="onnxlayer-audit-") as workdir, \
            Progress(len(entries), enabled=progress) as bar:
        coordinator = Coordinator(db, settings, limits, lambda: make_executor(executor, jobs, scheduler),
                                  Path(workdir), bar)
        try:
            done = coordinator.run(entries)
            done, baselines = compare_versions(done, db, settings)
            if policy_file is not None:
                done = coordinator.check(entries, done, baselines, policy_file)
        finally:
            coordinator.close()
    counts = AuditCounts(
        cached=sum(1 for e in done if e.ok and e.cached),
        analysed=sum(1 for e in done if e.ok and not e.cached),
        failed=sum(1 for e in done if e.status == "failed"),
        skipped=sum(1 for e in done if e.status == "skipped"),
    )
    result = AuditResult(tuple(done), counts, str(Path(store)), json.loads(settings.canonical()),
                         {"timeout": limits.timeout, "max_memory": limits.max_memory},
                         None if policy is None else str(policy), __version__)
    if write_back:
        from .writeback import write_back as write_tags

        write_tags(entries, result)
    return result


# --------------------------------------------------------------------------- the coordinator


@dataclass
class _Pending:
    """A content being analysed, and the entries waiting on it."""

    task: Task
    sha256: str
    entries: list[tuple[SourceEntry, str]]  # (entry, fingerprint)
    fetched: Path | None  # a download to delete once the result is stored


@dataclass
class Coordinator:
    """Feeds the executor, commits each outcome as it arrives; the only writer of the store."""

    store: Store
    settings: AnalysisSettings
    limits: Limits
    start_executor: Callable[[], Executor]
    workdir: Path
    progress: Progress
    _executor: Executor | None = None
    _pending: dict[Any, _Pending] = field(default_factory=dict)
    _by_key: dict[str, _Pending] = field(default_factory=dict)
    _done: dict[tuple[str, str, str], AuditEntry] = field(default_factory=dict)
    _analysed: set[str] = field(default_factory=set)  # content keys analysed in this run

    def run(self, entries: Sequence[SourceEntry]) -> list[AuditEntry]:
        """Every entry's audit entry, in the order given."""
        for entry in entries:
            self._collect(block=False)
            self._prepare(entry)
        while self._pending:
            self._collect(block=True)
        return [self._done[_identity(e)] for e in entries]

    def close(self) -> None:
        """Stop the workers (the store stays open: its owner closes it)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def _submit(self, task: Task) -> Any:
        if self._executor is None:
            self._executor = self.start_executor()
        return self._executor.submit(task)

    def _prepare(self, entry: SourceEntry) -> None:
        settings = self.settings.with_shapes(dict(entry.input_shapes))
        stored = self.store.entry(entry.source, entry.name, entry.version)
        fetched = None
        try:
            fingerprint = entry.origin.fingerprint()
            if stored is not None and stored.fingerprint == fingerprint and stored.model_sha256:
                sha = stored.model_sha256  # unchanged since the last audit: no re-read, no download
            else:
                fetched = entry.origin.fetch(self.workdir)
                sha = content_sha256(fetched)
            key = content_key(sha, settings)
            content = self.store.content(key)
            if content is not None and (content.ok or self.limits.covers(content.limits, content.reason)):
                self.store.record_entries([_stored(entry, fingerprint, sha, key)])
                self._finish(entry, AuditEntry(entry.source, entry.name, entry.version, entry.location,
                                               content.status, content.reason, key not in self._analysed, sha, key,
                                               content.seconds, _summary(content.summary_json)))
                self._discard(entry, fetched)
                return
            if key in self._by_key:  # the same bytes are being analysed for another entry
                self._by_key[key].entries.append((entry, fingerprint))
                self._discard(entry, fetched)
                return
            if fetched is None:
                fetched = entry.origin.fetch(self.workdir)
        except Unavailable as exc:
            self._finish(entry, AuditEntry(entry.source, entry.name, entry.version, entry.location, exc.status,
                                           exc.reason))
            return
        except OSError as exc:
            self._finish(entry, AuditEntry(entry.source, entry.name, entry.version, entry.location, "failed",
                                           f"{UNAVAILABLE}: cannot read: {exc.strerror or exc}"))
            return
        task = Task(key, str(fetched), entry.location, settings, self.limits)
        while self._executor is not None and len(self._pending) >= self._executor.capacity:
            self._collect(block=True)
        pending = _Pending(task, sha, [(entry, fingerprint)], fetched if _downloaded(entry) else None)
        self._pending[self._submit(task)] = pending
        self._by_key[key] = pending

    def _collect(self, block: bool) -> None:
        """Store every finished outcome (waiting for one when `block`)."""
        if not self._pending:
            return
        for handle in self._executor.wait_any(self._pending, timeout=None if block else 0):
            pending = self._pending.pop(handle)
            del self._by_key[pending.task.key]
            outcome = self._executor.outcome(handle, pending.task)
            self._analysed.add(outcome.key)
            summary_json = _summary_json(outcome)
            if not outcome.transient:
                stored = [_stored(e, fp, pending.sha256, outcome.key) for e, fp in pending.entries]
                self.store.record(outcome, summary_json, pending.sha256, pending.task.settings.canonical(),
                                  __version__, self.limits, stored)
            for entry, _ in pending.entries:
                self._finish(entry, AuditEntry(entry.source, entry.name, entry.version, entry.location,
                                               outcome.status, outcome.reason, False, pending.sha256, outcome.key,
                                               outcome.seconds, _summary(summary_json)))
            if pending.fetched is not None:
                _remove(pending.fetched)

    def _finish(self, entry: SourceEntry, done: AuditEntry) -> None:
        self._done[_identity(entry)] = done
        label = entry.name + (f" v{entry.version}" if entry.version else "")
        detail = done.reason or ("cached" if done.cached else f"{done.seconds:.2f} s" if done.seconds else "")
        self.progress.advance(label, done.status, detail)

    def _discard(self, entry: SourceEntry, fetched: Path | None) -> None:
        if fetched is not None and _downloaded(entry):
            _remove(fetched)

    # ---------------------------------------------------------------------------- policy

    def check(self, entries: Sequence[SourceEntry], done: list[AuditEntry], baselines: Baselines,
              policy: PolicyFile) -> list[AuditEntry]:
        """Check every analysed entry against `policy` in isolated workers, version by version:
        wave k holds the k-th version of every model, so each baseline's file size (measured by
        its own check) is known before its successor is checked."""
        out = list(done)
        chains: dict[tuple[str, str], list[int]] = {}
        for i, e in enumerate(done):
            chains.setdefault((e.source, e.name) if e.version else (e.source, e.name, ""), []).append(i)
        for chain in chains.values():
            chain.sort(key=lambda i: version_key(done[i].version))
        waves = max((len(c) for c in chains.values()), default=0)
        for k in range(waves):
            pending: dict[Any, tuple[int, Task, str | None, Path | None]] = {}
            for chain in chains.values():
                if k < len(chain) and done[chain[k]].ok:
                    self._check_one(chain[k], entries[chain[k]], out, baselines, policy, pending)
            while pending:
                for handle in self._executor.wait_any(pending):
                    i, task, label, fetched = pending.pop(handle)
                    outcome = self._executor.outcome(handle, task)
                    if outcome.ok:
                        stored = stored_check(task.key, outcome.result_json)
                        self.store.record_check(stored, done[i].content_key)
                        out[i] = replace(out[i], check=entry_check(stored, label))
                    else:
                        out[i] = replace(out[i], check=EntryCheck("error", (), label, outcome.reason))
                    if fetched is not None:
                        _remove(fetched)
        return out

    def _check_one(self, i: int, entry: SourceEntry, out: list[AuditEntry], baselines: Baselines,
                   policy: PolicyFile, pending: dict) -> None:
        e = out[i]
        label, base_key = baselines.get((e.source, e.name, e.version), (None, None))
        size = None if base_key is None else self.store.file_size(base_key)
        key = check_key(e.content_key, policy, base_key, size)
        stored = self.store.check(key)
        if stored is not None:
            out[i] = replace(e, check=entry_check(stored, label))
            return
        if base_key is None:
            missing = "no previous version" if e.version else "not a versioned entry"
            spec = policy.spec(None, None, None, missing)
        else:
            spec = policy.spec(label, self.store.result_json(base_key), size, "")
        try:
            fetched = entry.origin.fetch(self.workdir)
        except (Unavailable, OSError) as exc:
            out[i] = replace(e, check=EntryCheck("error", (), label, f"{UNAVAILABLE}: {exc}"))
            return
        settings = self.settings.with_shapes(dict(entry.input_shapes))
        task = Task(key, str(fetched), entry.location, settings, self.limits, spec)
        pending[self._submit(task)] = (i, task, label, fetched if _downloaded(entry) else None)


def _downloaded(entry: SourceEntry) -> bool:
    """Whether fetching the entry made a copy (a download) rather than naming its own file."""
    return not isinstance(entry.origin, FileOrigin)


def _identity(entry: SourceEntry) -> tuple[str, str, str]:
    return entry.source, entry.name, entry.version


def _stored(entry: SourceEntry, fingerprint: str, sha: str, key: str) -> StoredEntry:
    return StoredEntry(entry.source, entry.name, entry.version, entry.location, fingerprint, sha, key)


def _summary_json(outcome: Outcome) -> str | None:
    if not outcome.ok or outcome.result_json is None:
        return None
    summary = json.loads(outcome.result_json)["summary"]
    return json.dumps({k: summary.get(k) for k in SUMMARY_FIELDS})


def _summary(summary_json: str | None) -> dict[str, Any]:
    return {} if summary_json is None else json.loads(summary_json)


def _remove(path: Path) -> None:
    """Delete a downloaded artifact (a file or its directory) once it is no longer needed."""
    import shutil

    target = path.parent if path.is_file() else path
    shutil.rmtree(target, ignore_errors=True)


# ------------------------------------------------------------------------------ versions


def version_key(version: str) -> tuple:
    """Natural order of version labels: '2' < '10', '1.9' < '1.10'."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D+", version))


#: An entry's baseline for the policy's change rules: (label, content key) of its previous version.
Baselines = dict[tuple[str, str, str], tuple[str, str]]


def compare_versions(done: list[AuditEntry], store: Store, settings: AnalysisSettings
                     ) -> tuple[list[AuditEntry], Baselines]:
    """Each versioned entry compared with the previous version of the same (source, name): the
    one audited now, else the one the store holds from an earlier audit."""
    from ..diff import diff, result_from_dict

    groups: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(done):
        if e.version:
            groups.setdefault((e.source, e.name), []).append(i)
    out = list(done)
    baselines: Baselines = {}
    for (source, name), indices in groups.items():
        known: dict[str, str | None] = {}  # version → content key of an ok analysis (None: not ok)
        for s in store.entries(source, name):
            content = store.content(content_key(s.model_sha256, settings)) if s.model_sha256 else None
            known[s.version] = content.key if content is not None and content.ok else None
        for i in indices:
            known[done[i].version] = done[i].content_key if done[i].ok else None
        order = sorted(known, key=version_key)
        cache: dict[str, Any] = {}

        def load(key: str) -> Any:
            if key not in cache:
                text = store.result_json(key)
                cache[key] = None if text is None else result_from_dict(json.loads(text), key)
            return cache[key]

        for i in sorted(indices, key=lambda i: version_key(done[i].version)):
            e = done[i]
            position = order.index(e.version)
            if not e.ok or position == 0:
                continue
            previous = order[position - 1]
            if known[previous] is None:
                continue
            old, new = load(known[previous]), load(e.content_key)
            if old is None or new is None:
                continue
            d = diff(old, new)
            deltas = {m.key: m.delta for m in d.metrics if m.key in CHANGE_FIELDS}
            out[i] = replace(e, change=VersionChange(previous, deltas, d.added_op_types, d.removed_op_types,
                                                     d.architectural_change, d.reasons))
            baselines[(source, name, e.version)] = (f"{name} v{previous}", known[previous])
    return out, baselines
