"""Protocol files: typed loading, one-line errors, clip order, and the checks before a session."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from mestudio.elicit.checks import check_protocol
from mestudio.elicit.errors import AudioOutputError, ClipCodecError, ClipFileNotFoundError, ProtocolError
from mestudio.elicit.protocol import load_protocol, participant_index, williams_square
from tests.conftest import ROOT

TABLE2 = [
    ("Pink flamingoes", 50, ["disgust"]),
    ("Funny moments", 52, ["happy", "surprise"]),
    ("There is something about Mary", 141, ["happy"]),
    ("Lion king", 120, ["sad"]),
    ("Sea of love", 10, ["surprise"]),
    ("Hellraiser", 87, ["disgust", "fear"]),
    ("Church", 84, ["happy", "surprise"]),
    ("Italian went to Malta", 73, ["happy"]),
    ("The thing", 204, ["fear", "disgust", "surprise"]),
    ("Eye surgery", 69, ["fear", "disgust"]),
    ("Natural scene", 66, ["neutral", "pleasant"]),
]


def test_4dme_protocol_is_table_2():
    p = load_protocol(ROOT / "config" / "4dme-protocol.toml")
    assert [(c.title, c.duration_s, c.emotions) for c in p.clips] == TABLE2
    assert p.protocol.break_s == 60 and p.trial is not None and p.survey
    assert "poker face" in p.protocol.instructions
    assert all(c.file and not c.generated for c in p.all_clips())


@pytest.mark.skipif((ROOT / "config" / "clips").exists(), reason="a lab machine with the films in config/clips")
def test_4dme_protocol_names_missing_films_before_start():
    p = load_protocol(ROOT / "config" / "4dme-protocol.toml")
    with pytest.raises(ClipFileNotFoundError) as e:
        check_protocol(p, sound=False)
    msg = str(e.value)
    assert "\n" not in msg and "00-trial.mp4" in msg and "and 11 more problems" in msg
    assert len(e.value.all_problems) == 12 and "pink-flamingos" in e.value.all_problems[1]
    assert isinstance(e.value, FileNotFoundError)


@pytest.mark.parametrize(
    "old,new,key",
    [
        ("break_s =", "brek_s =", "protocol.brek_s"),
        ('emotions = ["sad", "fear"]', 'emotion = ["sad", "fear"]', "clips[1].emotion"),
        ('photodiode = "top-left"', 'photodiode = "top-middle"', "display.photodiode"),
        ('kind = "scale"', 'kind = "slider"', "survey[1].kind"),
    ],
)
def test_typo_is_one_line_naming_file_and_key(fast_protocol, old, new, key):
    path = fast_protocol(**{old: new})
    with pytest.raises(ProtocolError) as e:
        load_protocol(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {key}: ") and "\n" not in msg


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[protocol\nname = 1")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(bad)
    with pytest.raises(ProtocolError, match="no such config file"):
        load_protocol(tmp_path / "absent.toml")


def test_file_and_generated_together_is_an_error(fast_protocol):
    path = fast_protocol(**{'generated = "waves"': 'generated = "waves"\nfile = "x.mp4"'})
    with pytest.raises(ProtocolError, match=r"clips\[0\].*either `file` or `generated`"):
        load_protocol(path)


def test_williams_square_is_balanced():
    for n in (2, 3, 4, 5, 11):
        rows = williams_square(n)
        assert all(sorted(r) == list(range(n)) for r in rows)
        # every clip at every position equally often, every ordered pair adjacent equally often
        for pos in range(n):
            assert len(set(Counter(r[pos] for r in rows).values())) == 1
        pairs = Counter((a, b) for r in rows for a, b in itertools.pairwise(r))
        assert len(pairs) == n * (n - 1) and len(set(pairs.values())) == 1


def test_counterbalanced_order_follows_participant(fast_protocol):
    p = load_protocol(fast_protocol(order="counterbalanced"))
    orders = {pid: [c.id for c in p.ordered_clips(pid)] for pid in ("P01", "P02", "P03")}
    assert orders["P01"] == orders["P03"] != orders["P02"]  # 2 clips: 2 rows
    assert participant_index("P07") == 7 and participant_index("anna") == participant_index("anna")
    fixed = load_protocol(fast_protocol(order="fixed"))
    assert [c.id for c in fixed.ordered_clips("P02")] == ["one", "two"]
    shuffled = load_protocol(fast_protocol(order="shuffled"))
    assert sorted(c.id for c in shuffled.ordered_clips("P05")) == ["one", "two"]


def test_checks_generate_demo_clips_and_find_codec_problems(fast_protocol, tmp_path):
    path = fast_protocol()
    pre = check_protocol(load_protocol(path), sound=False)
    assert set(pre.paths) == {"trial", "one", "two"}
    assert abs(pre.durations["one"] - 1.0) < 0.1 and not pre.warnings
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    path2 = fast_protocol(**{'generated = "rings"': f'file = "{junk}"'})
    with pytest.raises(ClipCodecError) as e:
        check_protocol(load_protocol(path2), sound=False)
    assert "clips[1]" in str(e.value) and "junk.mp4" in str(e.value) and "PyAV" in str(e.value)


def test_duration_far_from_protocol_is_a_warning(fast_protocol):
    pre = check_protocol(load_protocol(fast_protocol(**{"duration_s = 1\n": "duration_s = 1\n"})), sound=False)
    proto = load_protocol(fast_protocol())
    path = pre.paths["one"]
    text = proto.source_path.read_text().replace('generated = "waves"', f'file = "{path}"', 1)
    text = text.replace("duration_s = 1.0", "duration_s = 30", 1)
    Path(proto.source_path).write_text(text)
    pre2 = check_protocol(load_protocol(proto.source_path), sound=False)
    assert any("lasts 1.0 s, the protocol expects 30 s" in w for w in pre2.warnings)


def test_required_sound_without_device_fails_before_start(fast_protocol, no_sound):
    path = fast_protocol(**{"[trial]": "[audio]\nrequired = true\n\n[trial]"})
    with pytest.raises(AudioOutputError) as e:
        check_protocol(load_protocol(path))
    assert "[audio] required = true" in str(e.value) and "docs/elicit.md" in str(e.value)
    pre = check_protocol(load_protocol(fast_protocol()))  # not required: a warning, silent run
    assert pre.sound is None and any("play silent" in w for w in pre.warnings)


def test_bare_name_finds_a_shipped_protocol(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_protocol("demo-protocol.toml").source_path == (ROOT / "config" / "demo-protocol.toml").resolve()
    with pytest.raises(ProtocolError, match="nope.toml: no such config file"):
        load_protocol("nope.toml")
