"""Fixtures of the elicitation tests: a clip cache shared by the run, short protocols, a JACK server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAST_PROTOCOL = """
[protocol]
name = "fast"
order = "{order}"
break_s = {break_s}
instructions = "Keep a poker face."
start_text = "Recording starts."
start_text_s = 0.3
end_text = "Done."

[display]
fullscreen = false
size = [480, 320]
photodiode = "top-left"
photodiode_px = 40
photodiode_ms = 150

[trial]
id = "trial"
title = "Trial"
generated = "ball"
duration_s = 1
emotions = ["neutral"]

[[clips]]
id = "one"
title = "One"
generated = "waves"
duration_s = {clip_s}
emotions = ["happy"]

[[clips]]
id = "two"
title = "Two"
generated = "rings"
duration_s = {clip_s}
emotions = ["sad", "fear"]

[[survey]]
id = "felt"
kind = "multi"
text = "Which emotions did you feel?"
options = ["happy", "sad", "fear", "neutral"]

[[survey]]
id = "intensity"
kind = "scale"
text = "How strongly?"
min = 1
max = 5
"""


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    """One clip cache for the whole run: each demo clip is generated once."""
    d = tmp_path_factory.mktemp("clipcache")
    os.environ["MESTUDIO_CACHE"] = str(d)
    return d


@pytest.fixture
def fast_protocol(tmp_path, clip_cache):
    def make(order: str = "fixed", break_s: float = 0.6, clip_s: float = 1.0, **replace: str) -> Path:
        text = FAST_PROTOCOL.format(order=order, break_s=break_s, clip_s=clip_s)
        for old, new in replace.items():
            text = text.replace(old, new)
        p = tmp_path / f"fast-{uuid.uuid4().hex[:6]}.toml"
        p.write_text(text)
        return p

    return make


def elicit_cli(*args: str, timeout: float = 90, stdin: str | None = None, env: dict | None = None):
    """`mestudio elicit ...` in a fresh interpreter (Qt's process), headless."""
    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mestudio", "elicit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        input=stdin if stdin is not None else "",
        env=e,
    )


def markers(path: Path) -> list[dict]:
    return [r for r in (json.loads(line) for line in path.read_text().splitlines()) if r["topic"] == "markers/elicit"]


def _is_marker(rec: dict, event: str) -> bool:
    return rec["topic"] == "markers/elicit" and rec["body"].get("event") == event


def _records(path: Path) -> list[dict]:
    """The complete lines of a JSONL file another process is still writing."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def wait_waiting_for_operator(find_file, timeout: float = 30) -> list[dict]:
    """Records once the controller, after its instructions marker, has published two "ready"
    states: its once-a-second heartbeat came round while it waited for the operator."""
    end = time.monotonic() + timeout
    recs: list[dict] = []
    while time.monotonic() < end:
        path = find_file()
        recs = _records(path) if path else []
        shown = [i for i, r in enumerate(recs) if _is_marker(r, "instructions")]
        if shown:
            after = recs[shown[0] + 1 :]
            ready = [r for r in after if r["topic"] == "state/elicit" and r["body"]["state"] == "ready"]
            if len(ready) >= 2:
                return recs
        time.sleep(0.05)  # polling interval of the condition above
    raise AssertionError(f"no two 'ready' heartbeats after the instructions within {timeout} s: {recs[-5:]}")


def expected_events(proto, participant: str) -> list[tuple[str, str]]:
    """(event, clip) in the order the protocol must produce them."""
    out = [("instructions", ""), ("session_start", "")]

    def brk(c: str) -> list[tuple[str, str]]:
        if proto.survey:
            return [("break_start", c), ("survey_answer", c), ("break_end", c)]
        return [("break_start", c), ("break_end", c)]

    if proto.trial:
        out += [("clip_onset", proto.trial.id), ("clip_offset", proto.trial.id)]
        if proto.protocol.survey_after_trial:
            out += brk(proto.trial.id)
        out.append(("text", ""))
    for c in proto.ordered_clips(participant):
        out += [("clip_onset", c.id), ("clip_offset", c.id)] + brk(c.id)
    return out + [("session_end", "")]


def observed_events(recs: list[dict]) -> list[tuple[str, str]]:
    return [(r["body"]["event"], r["body"].get("clip", "")) for r in recs]


@pytest.fixture
def jack_server(monkeypatch):
    """A JACK dummy server (real-time paced sound output without a card); skips if jackd is absent."""
    if not shutil.which("jackd"):
        pytest.skip("jackd not installed (apt-get install jackd2)")
    name = f"mestest{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "512", "-C", "0", "-P", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    try:
        end = time.monotonic() + 10
        while subprocess.run(["jack_lsp", "-s", name], capture_output=True, env={**os.environ, **env}).returncode:
            if time.monotonic() > end or proc.poll() is not None:
                pytest.skip("the JACK dummy server did not start")
            time.sleep(0.1)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def no_sound(monkeypatch, tmp_path):
    """A machine with no sound output: an empty ALSA config and no JACK server."""
    home = tmp_path / "home-nosound"
    home.mkdir()
    (home / ".asoundrc").write_text('pcm.!default { type empty slave.pcm "nonexistent" }\n')
    env = {"HOME": str(home), "JACK_DEFAULT_SERVER": f"absent{uuid.uuid4().hex[:6]}", "JACK_NO_START_SERVER": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def alsa_file_sink(monkeypatch, tmp_path):
    """ALSA's null device with a file tap: what is played lands in a raw file (S16_LE stereo 48 kHz)."""
    home = tmp_path / "home-alsafile"
    home.mkdir()
    out = tmp_path / "played.raw"
    (home / ".asoundrc").write_text(
        'pcm.!default { type plug slave { pcm "tap" format S16_LE rate 48000 channels 2 } }\n'
        f'pcm.tap {{ type file slave.pcm "null" file "{out}" format "raw" }}\n'
    )
    env = {"HOME": str(home), "JACK_DEFAULT_SERVER": f"absent{uuid.uuid4().hex[:6]}", "JACK_NO_START_SERVER": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return out


@pytest.fixture
def xvfb_two_screens():
    """An X server with two screens (800x600 and 640x480); skips without Xvfb."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed (apt-get install xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "800x600x24", "-screen", "1", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    try:
        with os.fdopen(r) as f:
            display = f.readline().strip()
        if not display:
            pytest.skip("Xvfb did not start")
        yield {"DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
