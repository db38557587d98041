"""The accuracy study: how well each global metric orders models by their published accuracy.

`accuracy_study(comparison, read_accuracy("top1.csv"))` matches each compared model to a row of
an accuracy table (columns `model`, `top1`; by label, by the label without `zoo:`, by file name,
or by file name without its model suffix), then gives for each metric of STUDY_METRICS the
Spearman ρ and Kendall τ-b against top-1 with percentile-bootstrap 95 % intervals and n.
Parameters W and MACs are the baselines a structural metric has to beat. Pure numpy; the
statistics match `scipy.stats.spearmanr` and `kendalltau` (tests/test_study.py checks them).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .comparison import Comparison, column
from .errors import SettingsError

#: Metrics correlated with accuracy (comparison column keys): C, P, P̄, U, L, W, MACs.
STUDY_METRICS = ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "units", "depth", "params", "macs")
#: The size metrics every structural metric is compared against.
BASELINES = ("params", "macs")
RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
#: Fewer models than this give no correlation (two points are always perfectly ranked).
MIN_MODELS = 3
#: File suffixes stripped when matching a model file to an accuracy row by name.
MODEL_SUFFIXES = (".onnx", ".keras", ".h5", ".pt2", ".pt", ".pth")


# ------------------------------------------------------------------------------ statistics


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties given their average rank (as `scipy.stats.rankdata`)."""
    v = np.atleast_2d(np.asarray(values, float))
    n = v.shape[1]
    order = np.argsort(v, axis=1, kind="mergesort")
    ordered = np.take_along_axis(v, order, 1)
    position = np.broadcast_to(np.arange(n), v.shape)
    first = np.ones(v.shape, bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    last = np.ones(v.shape, bool)
    last[:, :-1] = first[:, 1:]
    group_start = np.maximum.accumulate(np.where(first, position, 0), axis=1)
    group_end = np.minimum.accumulate(np.where(last, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(v.shape)
    np.put_along_axis(ranks, order, (group_start + group_end) / 2.0 + 1.0, 1)
    return ranks.reshape(np.shape(values))


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair: Pearson's correlation of the average ranks (NaN: a constant row)."""
    rx, ry = average_ranks(np.atleast_2d(x)), average_ranks(np.atleast_2d(y))
    dx, dy = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=1) / denominator, np.nan)


def kendall_rows(x: np.ndarray, y: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Kendall's τ-b of each row pair, ties corrected (as `scipy.stats.kendalltau`; NaN: a constant row).

    O(n²) pairs per row, in chunks of rows: fine for the hundreds of models a comparison holds.
    """
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    i, j = np.triu_indices(x.shape[1], 1)
    out = np.empty(len(x))
    for lo in range(0, len(x), chunk):
        sx = np.sign(x[lo:lo + chunk, i] - x[lo:lo + chunk, j])
        sy = np.sign(y[lo:lo + chunk, i] - y[lo:lo + chunk, j])
        untied = np.count_nonzero(sx, axis=1).astype(float) * np.count_nonzero(sy, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo:lo + chunk] = np.where(untied > 0, (sx * sy).sum(axis=1) / np.sqrt(untied), np.nan)
    return out


def _scalar(rows: Callable[[np.ndarray, np.ndarray], np.ndarray], x: Sequence[float], y: Sequence[float]) -> float | None:
    value = float(rows(np.asarray(x, float), np.asarray(y, float))[0])
    return None if math.isnan(value) else value


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ of two samples; None when one is constant."""
    return _scalar(spearman_rows, x, y)


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's τ-b of two samples; None when one is constant."""
    return _scalar(kendall_rows, x, y)


def bootstrap_interval(statistic_rows: Callable[[np.ndarray, np.ndarray], np.ndarray], x: Sequence[float],
                       y: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED,
                       confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile bootstrap interval of a statistic (`spearman_rows`, `kendall_rows`) over the
    models resampled with replacement; resamples where it is undefined are left out (None if all are)."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    picks = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    values = statistic_rows(a[picks], b[picks])
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class MetricCorrelation:
    """One metric against accuracy over the `n` matched models where it is defined."""

    metric: str  # comparison column key
    label: str  # its short header (C bits, P, P̄, ...)
    n: int
    spearman: float | None
    spearman_interval: tuple[float, float] | None
    kendall: float | None
    kendall_interval: tuple[float, float] | None
    baseline: bool

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "label": self.label, "n": self.n, "baseline": self.baseline,
                "spearman": self.spearman, "spearman_interval": _pair(self.spearman_interval),
                "kendall": self.kendall, "kendall_interval": _pair(self.kendall_interval)}


@dataclass(frozen=True)
class AccuracyStudy:
    """The correlations of a comparison's metrics with accuracy, and which models took part."""

    source: str
    matched: tuple[tuple[str, float], ...]  # (model label, top1) in the comparison's order
    unmatched_models: tuple[str, ...]  # analysed models with no accuracy row
    unused_rows: tuple[str, ...]  # accuracy rows no model matched
    correlations: tuple[MetricCorrelation, ...]
    resamples: int = RESAMPLES
    seed: int = SEED
    confidence: float = CONFIDENCE

    def top1(self, model: str) -> float | None:
        return dict(self.matched).get(model)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "n_models": len(self.matched),
                "bootstrap": {"resamples": self.resamples, "seed": self.seed, "confidence": self.confidence},
                "correlations": [c.to_dict() for c in self.correlations],
                "models": [{"model": m, "top1": t} for m, t in self.matched],
                "unmatched_models": list(self.unmatched_models), "unused_rows": list(self.unused_rows)}


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)


# ------------------------------------------------------------------------------ accuracy tables


def read_accuracy(path: str | Path) -> dict[str, float]:
    """The `model` → `top1` rows of a CSV file; SettingsError names the file and the fault."""
    where = f"--accuracy {path}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [name.strip() for name in reader.fieldnames or ()]
            missing = [name for name in ("model", "top1") if name not in fields]
            if missing:
                raise SettingsError(f"{where}: no {' or '.join(missing)} column (the header has: {', '.join(fields) or 'nothing'})")
            accuracy: dict[str, float] = {}
            for line, row in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                name, text = row["model"], row["top1"]
                if not name:
                    raise SettingsError(f"{where}: line {line} has no model name")
                try:
                    value = float(text)
                except ValueError:
                    raise SettingsError(f"{where}: line {line}: top1 {text!r} is not a number") from None
                if not math.isfinite(value):
                    raise SettingsError(f"{where}: line {line}: top1 {text!r} is not a finite number")
                if name in accuracy:
                    raise SettingsError(f"{where}: model {name!r} appears twice (line {line})")
                accuracy[name] = value
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: not a CSV file ({exc})") from None
    if not accuracy:
        raise SettingsError(f"{where}: no rows")
    return accuracy


def name_keys(name: str) -> list[str]:
    """The names a model or accuracy row answers to, most specific first: as given, without
    `zoo:`, the file name, the file name without a model suffix."""
    keys = [name]
    if name.startswith("zoo:"):
        keys.append(name[len("zoo:"):])
    base = PurePath(name).name
    keys.append(base)
    for suffix in MODEL_SUFFIXES:
        if base.lower().endswith(suffix):
            keys.append(base[: -len(suffix)])
    return list(dict.fromkeys(k for k in keys if k))


def match_accuracy(models: Iterable[str], accuracy: Mapping[str, float], source: str = "") -> dict[str, str]:
    """Model label → the accuracy row naming it (see `name_keys`), for the models one names."""
    index: dict[str, list[str]] = {}
    for row in accuracy:
        for key in name_keys(row):
            index.setdefault(key, []).append(row)
    matched = {}
    for model in models:
        for key in name_keys(model):
            rows = list(dict.fromkeys(index.get(key, ())))
            if len(rows) > 1:
                raise SettingsError(f"--accuracy {source}: model {model!r} matches several rows "
                                    f"({', '.join(rows)}); name it exactly as one row does")
            if rows:
                matched[model] = rows[0]
                break
    return matched


# ------------------------------------------------------------------------------ the study


def accuracy_study(comparison: Comparison, accuracy: Mapping[str, float], source: str = "",
                   resamples: int = RESAMPLES, seed: int = SEED, confidence: float = CONFIDENCE) -> AccuracyStudy:
    """Rank correlations of each STUDY_METRICS metric with top-1 over the analysed models that
    have an accuracy row (a model whose metric is undefined leaves that metric's n)."""
    good = [r for r in comparison.rows if r.ok]
    matches = match_accuracy([r.model for r in good], accuracy, source)
    top1 = {model: accuracy[row] for model, row in matches.items()}
    rows = [r for r in good if r.model in top1]
    used = set(matches.values())
    correlations = []
    for key in STUDY_METRICS:
        col = column(key)
        pairs = [(col.value(r.summary), top1[r.model]) for r in rows]
        pairs = [(float(m), t) for m, t in pairs if m is not None]
        x, y = [m for m, _ in pairs], [t for _, t in pairs]
        enough = len(pairs) >= MIN_MODELS
        rho = spearman(x, y) if enough else None
        tau = kendall(x, y) if enough else None
        correlations.append(MetricCorrelation(
            key, col.header, len(pairs),
            rho, bootstrap_interval(spearman_rows, x, y, resamples, seed, confidence) if rho is not None else None,
            tau, bootstrap_interval(kendall_rows, x, y, resamples, seed, confidence) if tau is not None else None,
            key in BASELINES))
    return AccuracyStudy(
        source=source,
        matched=tuple((r.model, top1[r.model]) for r in rows),
        unmatched_models=tuple(r.model for r in good if r.model not in top1),
        unused_rows=tuple(name for name in accuracy if name not in used),
        correlations=tuple(correlations), resamples=resamples, seed=seed, confidence=confidence)
