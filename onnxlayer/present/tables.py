"""Number formats and column layout shared by the presenters."""
from __future__ import annotations

import unicodedata
from typing import Collection, Iterable, Sequence


def fmt_int(n: int | None) -> str:
    """Exact integers, with an engineering hint when they are big."""
    if n is None:
        return "-"
    if abs(n) < 10**6:
        return f"{n:,}"
    exp = len(str(abs(n))) - 1
    return f"{n:,}" if exp < 12 else f"{str(abs(n))[0]}.{str(abs(n))[1:4]}e{exp}"


def fmt_float(x: float | None, digits: int = 4, sci_above: float = 1e7) -> str:
    """Fixed-point with thousands separators; scientific at or above `sci_above` or below 1e-3."""
    if x is None:
        return "-"
    if x != 0 and (abs(x) >= sci_above or abs(x) < 1e-3):
        return f"{x:.{digits}e}"
    return f"{x:,.{digits}f}"


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Collection[int] = (), *,
               rule: bool = True, strip: bool = True) -> str:
    """A plain-text table: columns padded to their widest cell (columns in `right` right-aligned),
    two spaces apart, a dashed rule under the header unless `rule` is off, trailing blanks cut
    unless `strip` is off. No final newline."""
    rows = [list(r) for r in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        text = "  ".join(pad(c, w, i in right) for i, (c, w) in enumerate(zip(cells, widths)))
        return text.rstrip() if strip else text

    return "\n".join([line(headers)] + ([line(["-" * w for w in widths])] if rule else []) + [line(r) for r in rows])


def shorten(text: str, width: int) -> str:
    """`text` cut from the left to `width` characters, marked with an ellipsis (names end in what matters)."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def display_width(text: str) -> int:
    """The terminal columns `text` takes: a combining mark (the bar of P̄) or a zero-width
    character none, a wide East Asian character two, any other character one."""
    if text.isascii():
        return len(text)
    return sum(_columns(c) for c in text)


def _columns(char: str) -> int:
    if unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded with blanks to `width` terminal columns (`display_width`), on the left when `right`."""
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill
