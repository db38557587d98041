"""Progress of an audit on stderr: a tqdm bar (rate and ETA) on a terminal, one plain line
per finished entry otherwise (CI logs), nothing when switched off."""
from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """Counts finished entries out of `total`."""

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._bar: Any = None
        if enabled and _isatty(self._stream):
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is in the audit extra; plain lines without it
                return
            self._bar = tqdm(total=total, unit="model", desc="audit", file=self._stream, dynamic_ncols=True,
                             leave=False)

    def advance(self, label: str, status: str, detail: str = "") -> None:
        """One more entry finished."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self._enabled:
            text = f"audit: [{self.done}/{self.total}] {label}: {status}" + (f" ({detail})" if detail else "")
            print(text, file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
