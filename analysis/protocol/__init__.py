"""The study's evaluation protocol: subject-independent folds, equations 1-4, Table 5/6 output."""

from mestudio.analysis.protocol.folds import Folds, subject_folds
from mestudio.analysis.protocol.metrics import ClassMetrics, Report, evaluate_binary
from mestudio.analysis.protocol.tables import table_rows, to_csv, to_markdown, write_tables

__all__ = [
    "Folds",
    "subject_folds",
    "ClassMetrics",
    "Report",
    "evaluate_binary",
    "table_rows",
    "to_csv",
    "to_markdown",
    "write_tables",
]
