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
        header = ("op", "domain", "since", "kind", "exact", "approximation")
        cells = [(op, dom, str(since), kind, "exact" if exact else "approximate", summary)
                 for op, dom, since, kind, exact, summary in rows]
        # each column as wide as its widest cell (ai.onnx.preview.training), the last left ragged
        widths = [max(len(c[k]) for c in [header, *cells]) for k in range(len(header) - 1)]

        def line(c: tuple[str, ...]) -> str:
            return "  ".join([*(c[k].rjust(w) if k == 2 else c[k].ljust(w) for k, w in enumerate(widths)), c[-1]]).rstrip()

        lines = [line(header)] + [line(c) for c in cells]
        lines.append(f"\n{len(rows)} rules")
    return "\n".join(lines) + "\n"
