"""The registry's rules (`onnxlayer ops`) as a table, CSV or markdown: one line per rule."""
from __future__ import annotations

from typing import Iterable

from ..registry import OpEntry, iter_ops

FORMATS = ("table", "csv", "markdown")


def render(entries: Iterable[OpEntry], fmt: str = "table") -> str:
    """Every rule's op type, domain, first opset, kind, exactness and summary in `fmt` (one of FORMATS)."""
    rows = list(iter_ops(entries))
    if fmt == "csv":
        lines = ["op_type,domain,since,kind,exact,summary"] + [
            f'{op},{dom},{since},{kind},{exact},"{summary}"' for op, dom, since, kind, exact, summary in rows]
    elif fmt == "markdown":
        lines = ["| op | domain | since | kind | exact | approximation |", "|---|---|--:|---|---|---|"] + [
            f"| {op} | {dom} | {since} | {kind} | {'exact' if exact else 'approximate'} | {summary} |"
            for op, dom, since, kind, exact, summary in rows]
    else:
        w = max(len(r[0]) for r in rows)
        lines = [f"{'op'.ljust(w)}  {'domain':<13} {'since':>5}  {'kind':<20} {'exact':<11} approximation"] + [
            f"{op.ljust(w)}  {dom:<13} {since:>5}  {kind:<20} {'exact' if exact else 'approximate':<11} {summary}"
            for op, dom, since, kind, exact, summary in rows]
        lines.append(f"\n{len(rows)} rules")
    return "\n".join(lines) + "\n"
