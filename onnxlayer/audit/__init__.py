"""Model-registry audits (`onnxlayer audit`): every model and version of a directory, a
manifest or an MLflow Model Registry, analysed in isolated workers (locally or on Dask) into
a resumable SQLite store, compared version to version, checked against a policy, and written
back to the registry.

Importing this package stays cheap: the machinery (`run`, the store, the workers) loads when
an audit runs; MLflow, Dask, tqdm and pandas only when that audit needs them (extras `audit`
and `dask`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .result import AuditCounts, AuditEntry, AuditResult, EntryCheck, RuleVerdict, VersionChange
from .tasks import DEFAULT_MAX_MEMORY_GIB, DEFAULT_TIMEOUT

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store

__all__ = ["audit", "AuditResult", "AuditEntry", "AuditCounts", "VersionChange", "EntryCheck", "RuleVerdict",
           "Store", "DEFAULT_STORE", "DEFAULT_TIMEOUT", "DEFAULT_MAX_MEMORY_GIB"]


def audit(sources: Sequence[Any], **options: Any) -> AuditResult:
    """Audit the models of `sources`; see `onnxlayer.audit.run.audit` for the options."""
    from .run import audit as run_audit

    return run_audit(sources, **options)


def __getattr__(name: str) -> Any:
    if name in ("Store", "DEFAULT_STORE"):
        from . import store

        return getattr(store, name)
    raise AttributeError(name)
