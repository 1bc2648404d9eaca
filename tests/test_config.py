from __future__ import annotations

import pytest

from mestudio.config.errors import ConfigError, ConfigFileNotFoundError
from mestudio.config.loader import bundled_config, load_session_config
from mestudio.config.schema import stream_ids
from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["demo.toml", "4dme-rig.toml"])
def test_shipped_configs_load(name):
    cfg = load_session_config(ROOT / "config" / name)
    assert cfg.devices


def test_demo_config_is_the_rig_the_issue_asks_for():
    cfg = load_session_config(bundled_config("demo.toml"))
    kinds = {d.kind: d for d in cfg.devices}
    face = kinds["synthetic-camera"]
    assert (face.width, face.height, face.fps) == (640, 480, 60)
    rgbd = kinds["synthetic-rgbd"]
    assert (rgbd.width, rgbd.height, rgbd.fps) == (640, 480, 30)
    assert kinds["synthetic-audio"].rate == 48000
    assert kinds["synthetic-array"].count >= 2
    assert stream_ids(rgbd) == ["kinect-color", "kinect-depth"]


def test_study_rig_matches_design_table():
    cfg = load_session_config(ROOT / "config" / "4dme-rig.toml")
    basler = next(d for d in cfg.devices if d.kind == "basler-array")
    assert (basler.count, basler.width, basler.height, basler.fps) == (6, 1600, 1200, 60)


@pytest.mark.parametrize(
    "body, key, words",
    [
        ("[session]\nnmae = 'x'\n", "session.nmae", "unknown key"),
        ("[[devices]]\nname = 'cam'\nkind = 'synthetic-camera'\nfps = 'fast'\n", "devices[0].fps", "number"),
        ("[[devices]]\nname = 'cam'\nkind = 'warp-drive'\n", "devices[0]", "unknown device kind"),
        ("[[devices]]\nname = 'cam'\nkind = 'synthetic-camera'\nwidht = 3\n", "devices[0].widht", "unknown key"),
        ("[recorder]\nflush_interval_s = 5\n", "recorder.flush_interval_s", "less than or equal"),
        (
            "[[devices]]\nname='a'\nkind='synthetic-audio'\n[[devices]]\nname='a'\nkind='synthetic-audio'\n",
            "(top level)",
            "two devices are named 'a'",
        ),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, body, key, words):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_session_config(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}: {key}:"), msg
    assert words in msg


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigFileNotFoundError, match="no such config file"):
        load_session_config(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("[session\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_session_config(p)
