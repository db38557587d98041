"""A layer-algebra expression (`LayerExpression`) as text or JSON."""
from __future__ import annotations

from typing import Sequence

from ..algebra import BlockValue, Series, log2_ratio
from ..expression import LayerExpression, Term, formula

FORMATS = ("text", "json")
FORMULA_WIDTH = 72  # longest formula on one line, by default


def _is_identity(t: Term) -> bool:
    return t.kind == "series" and not t.children


def _fmt_bits(x: float) -> str:
    return f"{x:,.0f}" if abs(x) < 1e12 else f"{x:.4e}"


def _fmt_dim(n: int) -> str:
    return f"{n:,}"


def render_text(expr: LayerExpression, width: int = FORMULA_WIDTH) -> str:
    """The expression as an indented table: one line per block (C bits, P, d_in → d_out, formula),
    blocks whose formula exceeds `width` expanded into their parts."""
    s = expr.result.summary
    root = expr.root
    head = [
        f"{root.name}: C = {_fmt_bits(s.complexity_bits)} bits, "
        f"P = {'-' if s.intrinsic_power is None else f'{s.intrinsic_power:.3f}'}, "
        f"D0 = {_fmt_dim(s.input_dim)}, {len(expr.walked)} leaves "
        f"(tolerance ε = {expr.result.settings['tolerance']:g}, domain B = {expr.result.settings['domain']:g})",
        "∘ series, data flowing left to right; (A ⊕ B)→M parallel branches merged by M; n× identical consecutive blocks;",
        "DAG a region that is not series-parallel (numbers by the walk); C bits and P = log2(d_out/d_in) per block",
        "",
    ]
    rows: list[tuple[str, str, str, str]] = []

    def line(value: BlockValue, text: str) -> None:
        p = log2_ratio(value.d_out, value.d_in)
        dims = f"{_fmt_dim(value.d_in)} → {_fmt_dim(value.d_out)}"
        rows.append((_fmt_bits(value.complexity), "-" if p is None else f"{p:.3f}", dims, text))

    def clip(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    def emit(t: Term, indent: str, mark: str) -> None:
        text = formula(t)
        name = t.name
        if t.kind == "repeat":
            name = f"{len(t.children)}×" + (f" {t.name}" if t.name else "")
        if name == text:
            name = ""  # a leaf named after its op type
        if t.kind == "repeat":
            text = formula(t.children[0])  # the count is in the name
        expandable = t.kind in ("series", "parallel", "repeat") and len(text) > width
        if not expandable:
            line(t.value, f"{indent}{mark}{name + '  ' if name else ''}{clip(text)}")
            return
        if t.kind == "series":
            line(t.value, f"{indent}{mark}{name or clip(text)}")
            children(t.children, indent + "  ")
        elif t.kind == "repeat":
            line(t.value, f"{indent}{mark}{name}  (each alike; the first:)")
            first = t.children[0]
            if first.kind == "series":
                children(first.children, indent + "  ")
            else:
                emit(first, indent + "  ", "∘ ")
        else:  # parallel: one line per branch (identities stay in the header), the merge if it has units
            merge = formula(t.merge)
            shown = " ⊕ ".join("id" if _is_identity(c) else "…" for c in t.children)
            line(t.value, f"{indent}{mark}{name + '  ' if name else ''}({shown})→{merge}")
            for c in t.children:
                if not _is_identity(c):
                    emit(c, indent + "  ", "⊕ ")
            if t.merge.value.complexity:
                line(t.merge.value, f"{indent}  → {merge}")

    def children(parts: Sequence[Term], indent: str) -> None:
        i = 0
        while i < len(parts):
            t = parts[i]
            if t.kind in ("leaf", "select"):
                # pack consecutive single leaves on one line while the formula fits
                j, text = i + 1, formula(t)
                while (j < len(parts) and parts[j].kind in ("leaf", "select")
                       and len(text) + 1 + len(formula(parts[j])) <= width):
                    text += "∘" + formula(parts[j])
                    j += 1
                if j - i == 1:
                    emit(t, indent, "∘ ")
                else:
                    run = parts[i:j]
                    value = Series(tuple(c.block for c in run)).evaluate(run[0].value.d_in)
                    names = f"{run[0].name} … {run[-1].name}" if run[0].name and run[-1].name else ""
                    line(value, f"{indent}∘ {names + '  ' if names else ''}{text}")
                i = j
            else:
                emit(t, indent, "∘ ")
                i += 1

    line(root.value, root.name)
    children(root.children, "  ")
    wc = max(len("C bits"), *(len(r[0]) for r in rows))
    wp = max(len("P"), *(len(r[1]) for r in rows))
    wd = max(len("d_in → d_out"), *(len(r[2]) for r in rows))
    header = f"{'C bits'.rjust(wc)}  {'P'.rjust(wp)}  {'d_in → d_out'.ljust(wd)}  block"
    body = [f"{c.rjust(wc)}  {p.rjust(wp)}  {dd.ljust(wd)}  {text}".rstrip() for c, p, dd, text in rows]
    return "\n".join(head + [header] + body) + "\n"


def render(expr: LayerExpression, fmt: str = "text", width: int = FORMULA_WIDTH) -> str:
    """The expression in `fmt` (one of FORMATS); `width` bounds a formula on one text line."""
    return expr.to_json() + "\n" if fmt == "json" else render_text(expr, width)
