"""Audit sources: what `onnxlayer audit SOURCE...` turns into entries.

A source is a directory (walked recursively for the model formats `analyze` reads), a
single model file, a manifest (CSV or JSONL rows: path, optional name, version and input
shapes), or an MLflow Model Registry (`models:/NAME`, `models:/NAME/VERSION`,
`models:/NAME@ALIAS`, `mlflow-registry:` for every registered model). Each entry knows a
cheap fingerprint (so a rerun need not re-read or re-download what it analysed before) and
how to fetch a local copy of the model to analyse.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import SettingsError
from ..loading import model_sha256
from .entries import SourceEntry

#: File suffixes a directory walk picks up: ONNX and the framework formats `analyze` converts
#: without trusting a pickle (pickles run code: a registry may hold hostile files).
MODEL_SUFFIXES = (".onnx", ".keras", ".h5", ".pt2")
#: A directory holding one of these is a TensorFlow SavedModel: one entry, not walked into.
SAVED_MODEL_MARKERS = ("saved_model.pb", "saved_model.pbtxt")
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")
MANIFEST_FIELDS = ("path", "name", "version", "input_shapes")
REGISTRY_PREFIXES = ("models:/", "mlflow-registry:")


@dataclass(frozen=True)
class FileOrigin:
    """A model file or SavedModel directory on this machine."""

    path: Path

    def fingerprint(self) -> str:
        files = _tree_files(self.path) if self.path.is_dir() else [self.path]
        stats = [f.stat() for f in files]
        return f"{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}:{len(stats)}"

    def fetch(self, workdir: Path) -> Path:
        return self.path


def content_sha256(path: Path) -> str:
    """sha256 of a model file, or of a SavedModel directory's files (relative names and bytes)."""
    if not path.is_dir():
        return model_sha256(path)
    import hashlib

    h = hashlib.sha256()
    for f in _tree_files(path):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        h.update(bytes.fromhex(model_sha256(f)))
    return h.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------- resolve


def is_registry_source(text: str) -> bool:
    return text.startswith(REGISTRY_PREFIXES)


def resolve(sources: Sequence[str | os.PathLike], registry_uri: str | None = None) -> list[SourceEntry]:
    """Every entry of the given sources, in order (each source's entries sorted); bad sources
    are SettingsErrors, so the audit stops before it starts."""
    if not sources:
        raise SettingsError("give at least one SOURCE (a directory, a model file, a manifest or models:/NAME)")
    entries: list[SourceEntry] = []
    registry = None
    for source in sources:
        text = os.fspath(source)
        if is_registry_source(text):
            if registry is None:
                from .mlflow_registry import Registry

                registry = Registry.connect(registry_uri)
            entries += registry.entries(text)
            continue
        path = Path(text)
        if not path.exists():
            raise SettingsError(f"{text}: no such file or directory")
        if path.is_dir() and not _is_saved_model(path):
            entries += directory_entries(path)
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            entries += manifest_entries(path)
        else:
            resolved = path.resolve()
            entries.append(SourceEntry(str(resolved), path.name, "", str(resolved), FileOrigin(resolved)))
    seen: dict[tuple[str, str, str], SourceEntry] = {}
    for e in entries:
        seen.setdefault((e.source, e.name, e.version), e)  # a source given twice is audited once
    return list(seen.values())


def _is_saved_model(path: Path) -> bool:
    return any((path / marker).is_file() for marker in SAVED_MODEL_MARKERS)


def directory_entries(root: Path) -> list[SourceEntry]:
    """Model files and SavedModel directories under `root` (hidden names and symlinked
    directories are not walked: a registry may hold loops)."""
    root = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            sub = here / d
            if d.startswith(".") or sub.is_symlink():
                continue
            if _is_saved_model(sub):
                found.append(sub)
            else:
                kept.append(d)
        dirnames[:] = kept
        found += (here / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in MODEL_SUFFIXES)
    return [SourceEntry(str(root), p.relative_to(root).as_posix(), "", str(p), FileOrigin(p))
            for p in sorted(found, key=lambda p: p.relative_to(root).as_posix())]


# ------------------------------------------------------------------------------ manifests


def manifest_entries(manifest: Path) -> list[SourceEntry]:
    """Rows of a CSV (with a header) or JSONL manifest; relative paths are relative to it."""
    manifest = manifest.resolve()
    rows = list(_read_manifest(manifest))
    entries, keys = [], set()
    for line, row in rows:
        where = f"{manifest}:{line}"
        unknown = sorted(set(row) - set(MANIFEST_FIELDS))
        if unknown:
            raise SettingsError(f"{where}: unknown manifest field(s) {', '.join(unknown)}; "
                                f"expected {', '.join(MANIFEST_FIELDS)}")
        text = row.get("path")
        if not isinstance(text, str) or not text:
            raise SettingsError(f"{where}: every row needs a path")
        path = Path(text) if Path(text).is_absolute() else manifest.parent / text
        if not path.exists():
            raise SettingsError(f"{where}: {text}: no such file or directory")
        path = path.resolve()
        name = _text_field(row, "name", where) or text
        version = _text_field(row, "version", where)
        if (name, version) in keys:
            raise SettingsError(f"{where}: name {name!r} version {version!r} appears twice")
        keys.add((name, version))
        shapes = _manifest_shapes(row.get("input_shapes"), where)
        entries.append(SourceEntry(str(manifest), name, version, str(path), FileOrigin(path), shapes))
    return entries


def _read_manifest(manifest: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{manifest}: cannot read the manifest ({exc})") from None
    if manifest.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise SettingsError(f"{manifest}: a CSV manifest needs a header row with a 'path' column")
        for row in reader:
            if None in row:
                raise SettingsError(f"{manifest}:{reader.line_num}: more values than header columns")
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{manifest}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise SettingsError(f"{manifest}:{number}: expected a JSON object per line")
        yield number, row


def _text_field(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SettingsError(f"{where}: {key} must be text, got {type(value).__name__}")
    return str(value)


def _manifest_shapes(value: Any, where: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """`input_shapes` as `name=1x3x224x224;other=1x128` or (JSONL) {"name": [1, 3, 224, 224]}."""
    if value is None:
        return ()
    try:
        if isinstance(value, str):
            pairs = [_shape_text(part) for part in re.split(r"[;\s]+", value.strip()) if part]
        elif isinstance(value, dict) and all(isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool)
                                                                         for d in v) for v in value.values()):
            pairs = [(str(k), tuple(v)) for k, v in value.items()]
        else:
            raise SettingsError("expected 'name=1x3x224x224;...' or an object of integer lists")
    except SettingsError as exc:
        raise SettingsError(f"{where}: input_shapes: {exc}") from None
    return tuple(sorted(pairs))


def _shape_text(text: str) -> tuple[str, tuple[int, ...]]:
    """`name=1x3x224x224` (the text form of `--input-shape`)."""
    name, sep, dims = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise SettingsError(f"{text!r}: expected NAME=D1xD2x..., e.g. input=1x3x224x224") from None
