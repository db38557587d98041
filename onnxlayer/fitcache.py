"""Fit once: piece counts remembered in the process and kept on disk between processes (SPEC §2).

A fit is named by a key (what is fitted, its parameters, ε, B, the grid, the tool's version
and a fingerprint of the code that fits); the count is kept in memory and in one small file per
key under the cache directory. Region bounds that take a long sum (`algebra.leaf_complexity`)
are kept the same way, as the exact double (`float.hex`):

- `$ONNXLAYER_CACHE_DIR` if set (set and empty: no disk cache),
- else `$XDG_CACHE_HOME/onnxlayer`, else `~/.cache/onnxlayer`;
- `ONNXLAYER_NO_CACHE=1` (what the CLI's `--no-cache` sets) disables the disk cache.

Files are written to a temporary name and renamed into place (`os.replace`), so processes
sharing the directory never read a partial entry; the same key always holds the same count, so
a race only writes it twice. The disk cache is an optimisation: any error reading or writing it
is ignored and the count is computed.

Entries live in one folder per generation (the version and the code's fingerprint: no other
generation reads them). A process that starts a new generation deletes the generations nothing
has written to or read from for `STALE_DAYS` (a generation in use is touched once per process),
so upgrades and edits do not pile up counts no one will read again.
"""
from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path
from typing import Callable, Hashable

from .version import __version__

#: Bump when the meaning of an entry changes (its key, its content or where it is kept).
CACHE_FORMAT = 2
#: Days after which a generation that no process wrote to or read from is deleted.
STALE_DAYS = 7
#: The environment: where the cache lives (set and empty: nowhere), and a switch to bypass it.
CACHE_DIR_ENV, NO_CACHE_ENV = "ONNXLAYER_CACHE_DIR", "ONNXLAYER_NO_CACHE"
#: Entries kept in memory before the memo starts over (each is a small tuple and an int).
MEMORY_ENTRIES = 1 << 16

_memory: dict[Hashable, int | float | None] = {}
_MISSING = object()


def cache_dir() -> Path | None:
    """The directory of the disk cache, or None when it is disabled (see the module docstring)."""
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "onnxlayer"


def remembered(key: Hashable, compute: Callable[[], int | float | None]) -> int | float | None:
    """The value named by `key` (a tuple of str, int, float, bytes, None and tuples): a piece
    count, None where a fit has none (a function not finite on the grid), or a float: from
    memory, else from disk, else `compute()` stored in both."""
    found = _memory.get(key, _MISSING)
    if found is not _MISSING:
        return found
    text = repr((CACHE_FORMAT, __version__, code_fingerprint(), key))
    directory = cache_dir()
    path = _generation(directory) / (hashlib.sha256(text.encode()).hexdigest() + ".txt") if directory else None
    found = _read(path, text) if path else _MISSING
    if found is _MISSING:
        found = compute()
        if path:
            _write(path, text, found)
    if len(_memory) >= MEMORY_ENTRIES:
        _memory.clear()
    _memory[key] = found
    return found


_touched: set[Path] = set()


def _generation(directory: Path) -> Path:
    """This generation's folder of entries under the cache `directory`; the first time in the
    process, marked as in use (its modification time), or made, and then the stale ones deleted."""
    folder = directory / f"fits-{CACHE_FORMAT}" / f"{__version__}-{code_fingerprint()}"
    if folder not in _touched:
        _touched.add(folder)
        try:
            os.utime(folder)
        except FileNotFoundError:
            try:
                folder.mkdir(parents=True)
            except OSError:
                return folder
            _delete_stale(directory, keep=folder)
        except OSError:
            pass
    return folder


def _delete_stale(directory: Path, keep: Path) -> None:
    """Delete the folders of older cache formats under `directory` (no version that writes this
    one reads them), and the generations of this format but `keep` that no process has written to
    or read from for `STALE_DAYS`; errors ignored (another process may be deleting them too)."""
    import shutil
    import time

    limit = time.time() - STALE_DAYS * 86400
    try:
        older = [p for p in directory.glob("fits-*") if p.name[5:].isdigit() and int(p.name[5:]) < CACHE_FORMAT]
        stale = [p for p in keep.parent.iterdir() if p != keep and p.is_dir() and p.stat().st_mtime < limit]
    except OSError:
        return
    for folder in older + stale:
        shutil.rmtree(folder, ignore_errors=True)


def function_fingerprint(fn: Callable) -> str:
    """The code of a Python function (its bytecode and constants), else its name (a numpy ufunc):
    part of a fit's key, so that editing a scalar function never reads an old count."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return f"{type(fn).__name__}:{getattr(fn, '__name__', repr(fn))}"
    return hashlib.sha256(marshal.dumps(code)).hexdigest()[:16]


_fingerprint: list[str] = []


def code_fingerprint() -> str:
    """Sizes and modification times of the package's modules: a working tree that changes
    (an edited op rule, a new fusion) never reads the counts of an older one."""
    if not _fingerprint:
        root = Path(__file__).parent
        h = hashlib.sha256()
        for folder in (root, root / "ops"):
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.endswith(".py"):
                    info = entry.stat()
                    h.update(f"{folder.name}/{entry.name}:{info.st_size}:{info.st_mtime_ns};".encode())
        _fingerprint.append(h.hexdigest()[:16])
    return _fingerprint[0]


def _read(path: Path, text: str) -> int | float | None | object:
    """The value stored at `path` for `text` (its full key, checked), else `_MISSING`."""
    try:
        stored_key, _, value = path.read_text(encoding="utf-8").rpartition("\n")
        if stored_key != text:
            return _MISSING
        return None if value == "None" else float.fromhex(value) if "x" in value or "n" in value else int(value)
    except (OSError, ValueError, UnicodeDecodeError):
        return _MISSING


def _write(path: Path, text: str, value: int | float | None) -> None:
    """Store `value` for `text` at `path` atomically (temporary file, then rename); errors ignored.
    A float is written as `float.hex`: read back, it is the same double."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".fit-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{text}\n{value.hex() if isinstance(value, float) else value}")
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass
