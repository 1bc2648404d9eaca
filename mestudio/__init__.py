"""mestudio: streaming capture and analysis for facial micro-expression research."""

__version__ = "0.1.0"
