"""The typed [analyzer] section."""

from __future__ import annotations

import pytest

from mestudio.analysis.settings import AnalyzerSettings, load_settings
from mestudio.config.errors import ConfigError


def test_defaults_and_values():
    s = load_settings({})
    assert s == AnalyzerSettings() and s.stream == "face" and s.method == "mdmd" and not s.enabled
    assert load_settings({"enabled": True, "method": "lbp"}).method == "lbp"


def test_unknown_key_and_bad_value_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"\[analyzer\]: methd: unknown key"):
        load_settings({"methd": "lbp"})
    with pytest.raises(ConfigError, match="method"):
        load_settings({"method": "optical"})
    with pytest.raises(ConfigError) as e:
        load_settings({"micro_k_s": -1})
    assert "\n" not in str(e.value)
