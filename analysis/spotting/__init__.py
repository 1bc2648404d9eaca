"""Causal micro/macro-expression spotting: MDMD optical flow and LBP chi-squared methods."""

from mestudio.analysis.spotting.intervals import MACRO_MAX_S, MICRO_MAX_S, Interval, IntervalDetector, classify
from mestudio.analysis.spotting.spotters import SPOTTERS, LBPSpotter, MDMDSpotter, Scored, make_spotter

__all__ = [
    "MACRO_MAX_S",
    "MICRO_MAX_S",
    "SPOTTERS",
    "Interval",
    "IntervalDetector",
    "LBPSpotter",
    "MDMDSpotter",
    "Scored",
    "classify",
    "make_spotter",
]
