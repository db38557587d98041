"""Model-registry audits (`onnxlayer audit`): every model and version of a directory, a
manifest or an MLflow Model Registry, analysed in isolated workers (locally or on Dask) into
a resumable SQLite store, compared version to version, checked against a policy, and written
back to the registry.

`onnxlayer.audit(...)` is `run.audit`; MLflow, Dask, tqdm and pandas are imported only when
an audit needs them (extras `audit` and `dask`).
"""
from __future__ import annotations

from .result import AuditCounts, AuditEntry, AuditResult, EntryCheck, RuleVerdict, VersionChange
from .run import audit
from .store import DEFAULT_STORE, Store
from .tasks import DEFAULT_MAX_MEMORY_GIB, DEFAULT_TIMEOUT

__all__ = ["audit", "AuditResult", "AuditEntry", "AuditCounts", "VersionChange", "EntryCheck", "RuleVerdict",
           "Store", "DEFAULT_STORE", "DEFAULT_TIMEOUT", "DEFAULT_MAX_MEMORY_GIB"]
