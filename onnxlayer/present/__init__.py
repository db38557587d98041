"""Presenters: every output format of every result, one module per result record.

Each module takes its record and returns a string; it exposes `FORMATS` (the formats it
writes) and `render(record, fmt, ...)`, e.g. `analysis` for an AnalysisResult (table, JSON,
CSV, markdown), `comparison`, `expression`, `probe`, `registry` (the `onnxlayer ops` listing).
`tables` holds the number formats and column layout they share. A new result adds one module
beside them; nothing here changes.
"""
