"""AU detection: a training-free landmark estimator; learnt models through analysis.models."""

from mestudio.analysis.au.estimator import AU_RULES, AUS, AUResult, LandmarkAUEstimator
from mestudio.analysis.au.measures import MEASURES, measures

__all__ = ["AUS", "AU_RULES", "AUResult", "LandmarkAUEstimator", "MEASURES", "measures"]
