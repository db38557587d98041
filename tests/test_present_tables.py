"""Number formats and the text table shared by the presenters."""
from __future__ import annotations

from onnxlayer.present.tables import display_width, fmt_float, fmt_int, pad, shorten, text_table


def test_fmt_int_exact_with_a_hint_when_huge():
    assert fmt_int(None) == "-"
    assert fmt_int(999_999) == "999,999"
    assert fmt_int(25_557_032) == "25,557,032"  # below 10^12: still every digit
    assert fmt_int(123_456_789_012_345) == "1.234e14"
    assert fmt_int(-10**12) == "1.000e12"


def test_fmt_float_fixed_then_scientific():
    assert fmt_float(None) == "-"
    assert fmt_float(0.0) == "0.0000"
    assert fmt_float(14.697456308462154) == "14.6975"  # SPEC §5 example 1
    assert fmt_float(12_345.678, 2) == "12,345.68"
    assert fmt_float(1e7) == "1.0000e+07" and fmt_float(0.0009) == "9.0000e-04"
    assert fmt_float(1e8, 3, sci_above=1e9) == "100,000,000.000"


def test_shorten_keeps_the_end():
    assert shorten("layer1/conv", 20) == "layer1/conv"
    assert shorten("/model/layer4/block2/conv3/Conv", 10) == "…onv3/Conv"  # 10 characters, the ellipsis included


def test_text_table_pads_aligns_and_rules():
    table = text_table(("name", "n"), [("a", "1"), ("long", "123")], right={1})
    assert table.split("\n") == ["name    n", "----  ---", "a       1", "long  123"]


def test_text_table_without_rule_keeps_trailing_blanks():
    table = text_table(("a", "bb"), [("x", "")], rule=False, strip=False)
    assert table.split("\n") == ["a  bb", "x    "]
    assert text_table(("a", "bb"), [("x", "")]).split("\n")[-1] == "x"


def test_display_width_counts_terminal_columns():
    assert display_width("P̄") == 1  # P and a combining macron (U+0304): one column, two code points
    assert display_width("ΔP̄") == 2 and display_width("d_in → d_out") == 12
    assert display_width("模型") == 4  # wide East Asian characters take two columns
    assert display_width("a\u200bb") == 2  # a zero-width space takes none
    assert pad("P̄", 3) == "P̄  " and pad("P̄", 3, right=True) == "  P̄"


def test_text_table_aligns_a_header_with_a_combining_mark():
    table = text_table(("P", "P̄", "W"), [("-8.1997", "-1.0566", "11,689,512")], right={0, 1, 2})
    assert table.split("\n") == [" " * 6 + "P" + "  " + " " * 6 + "P̄" + "  " + " " * 9 + "W",  # 7, 7 and 10 columns
                                  "-------  -------  ----------",
                                  "-8.1997  -1.0566  11,689,512"]

