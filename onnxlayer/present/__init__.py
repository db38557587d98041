"""Presenters: turn an AnalysisResult into text, JSON, CSV or markdown."""
from __future__ import annotations

from .text import render

FORMATS = ("table", "json", "csv", "markdown")

__all__ = ["render", "FORMATS"]
