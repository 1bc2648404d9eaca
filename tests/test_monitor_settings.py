"""The `[monitor]` section is validated like every other: a bad key is a one-line error before a session starts."""

from __future__ import annotations

import pytest

from mestudio.config.errors import ConfigError
from mestudio.config.schema import SessionConfig
from mestudio.preflight import check_stages, monitor_settings
from tests.conftest import SMALL_RIG, mestudio, write_config


def test_a_misspelt_key_fails_the_run_before_a_session_folder_exists(tmp_path):
    cfg = write_config(tmp_path / "m.toml", SMALL_RIG + "\n[monitor]\nfsp = 30\n")
    r = mestudio("run", str(cfg), "--out", str(tmp_path / "out"), "--duration", "1", "--quiet")
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "[monitor]" in err[0] and "fsp" in err[0], r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("section", [{"fps": 0}, {"size": "big"}, {"nice": 40}, {"max_mb_per_s": -1}])
def test_bad_values_name_their_key(tmp_path, section):
    cfg = SessionConfig.model_validate({"monitor": section})
    with pytest.raises(ConfigError, match=next(iter(section))):
        check_stages(cfg, tmp_path / "s.toml")


def test_the_window_is_opened_with_the_sections_settings():
    s = monitor_settings(SessionConfig.model_validate({"monitor": {"fps": 10, "size": "800x600", "nice": 5}}))
    assert s.window_args() == ["--fps", "10.0", "--size", "800x600", "--max-mb-per-s", "0.0", "--nice", "5"]
    assert monitor_settings(SessionConfig()).open  # absent: the defaults
