"""LSL out: the session bus (real ZeroMQ publishers standing in for elicit, the analyzer, sync and
the supervisor) forwarded by the lsl node to LSL outlets that another process resolves and reads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import zmq

from mestudio.config.errors import ConfigError
from mestudio.config.schema import SessionConfig
from mestudio.interop.settings import load_lsl_settings
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.node import NodeContext
from tests.conftest import ROOT
from tests.session_helpers import face_rig

pytest.importorskip("pylsl")

PRODUCERS = ["elicit", "analyzer", "sync", "supervisor"]


def test_lsl_settings_refuse_unknown_keys():
    assert load_lsl_settings({"outlets": True}).outlets
    with pytest.raises(ConfigError, match="outlet"):
        load_lsl_settings({"outlet": True})


@pytest.mark.slow
def test_markers_and_analyzer_results_reach_an_lsl_reader_in_another_process(tmp_path):
    cfg = SessionConfig.model_validate({"lsl": {"outlets": True, "prefix": "mst", "trace_channels": ["au.12"]}})
    eps = Endpoints.plan("ipc", "127.0.0.1", 5550, [*PRODUCERS, "lsl"], key=str(tmp_path))
    ctx = NodeContext("lsl", "lsl", cfg, tmp_path, eps)
    pubs = {}
    for name in PRODUCERS:
        pubs[name] = ctx.zmq.socket(zmq.PUB)
        pubs[name].linger = 0
        pubs[name].bind(eps.pubs[name])
    from mestudio.interop.outlets import run

    node = threading.Thread(target=run, args=(ctx,), daemon=True)
    node.start()
    reader = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "lsl_receiver.py"), str(tmp_path / "got.json"),
         "mst-markers=3", "mst-analyzer-events=1", "mst-analyzer-trace=3", "mst-sync=1"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "connected"
        now = time.monotonic_ns()
        sent = [
            ("elicit", "markers/elicit", now - 300_000_000, {"event": "clip_onset", "clip": "c01"}),
            ("supervisor", "command/mark", now - 200_000_000, {"command": "mark", "text": "moved"}),
            ("analyzer", "results/analyzer", now - 100_000_000,
             {"type": "event", "kind": "micro", "onset_s": (now - 900_000_000) / 1e9, "aus": [12]}),
            ("analyzer", "results/analyzer", now - 50_000_000,
             {"type": "trace", "seq": [7, 8, 9], "t": [(now - k * 16_666_667) / 1e9 for k in (3, 2, 1)],
              "score": [0.1, 0.2, 0.3], "au": {"12": [1.0, 2.0, 3.0]}}),
            ("sync", "sync/health", now - 40_000_000, {"streams": {"face": {"jitter_ms": 0.4}}}),
            ("elicit", "markers/elicit", now - 30_000_000, {"event": "clip_offset", "clip": "c01"}),
        ]  # fmt: skip
        # PUB/SUB joins are asynchronous: probe (a result type no outlet takes) until the node's
        # status says it has heard every producer
        deadline = time.monotonic() + 30
        while set(ctx.status().get("lsl_received", {})) < set(PRODUCERS) and time.monotonic() < deadline:
            for name, pub in pubs.items():
                wire.send(pub, wire.json_parts(wire.Kind.EVENT, name, 0, {"type": "probe"}, topic="results/probe"))
            time.sleep(0.05)
        for seq, (producer, topic, host, body) in enumerate(sent):
            wire.send(pubs[producer], wire.json_parts(wire.Kind.EVENT, producer, seq, body, topic=topic,
                                                      host_time_ns=host))  # fmt: skip
        assert reader.stdout.readline().strip() == "done"
    finally:
        ctx.stop.set()
        node.join(timeout=20)
        if reader.poll() is None:
            reader.kill()
        for s in pubs.values():
            s.close()
        ctx.zmq.destroy(linger=0)
    got = json.loads((tmp_path / "got.json").read_text())["streams"]
    # several producers: their messages reach the node in any order; the timestamps order them
    marks = sorted(((t, json.loads(s[0])) for t, s in got["mst-markers"]), key=lambda m: m[0])
    assert [m["topic"] for _, m in marks] == ["markers/elicit", "command/mark", "markers/elicit"]
    assert marks[1][1]["text"] == "moved"
    # stamped on LSL's clock at the message's own host time (not when the node forwarded it);
    # LSL's clock and ours are both CLOCK_MONOTONIC here: their measured difference is a few us
    assert abs(marks[0][0] - (now - 300_000_000) / 1e9) < 2e-5
    ((t_ev, ev),) = [(t, json.loads(s[0])) for t, s in got["mst-analyzer-events"]]
    assert ev["aus"] == [12] and abs(t_ev - (now - 900_000_000) / 1e9) < 2e-5
    trace = got["mst-analyzer-trace"]
    assert [s for _, s in trace] == [[7.0, 0.1, 1.0], [8.0, 0.2, 2.0], [9.0, 0.3, 3.0]]
    assert abs(trace[0][0] - (now - 3 * 16_666_667) / 1e9) < 2e-5
    assert json.loads(got["mst-sync"][0][1][0])["streams"]["face"]["jitter_ms"] == 0.4


SESSION_WITH_OUTLETS = face_rig("lslout", more='[lsl]\noutlets = true\nprefix = "sessout"\n')


@pytest.mark.slow
def test_a_running_session_publishes_its_operator_marks_on_lsl(tmp_path):
    from mestudio.monitor.operator import CommandSender
    from mestudio.stream.session_reader import SessionReader
    from tests.conftest import write_config
    from tests.session_helpers import session_dir, start_run, stop

    run = start_run(write_config(tmp_path / "s.toml", SESSION_WITH_OUTLETS), tmp_path / "out")
    reader = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "lsl_receiver.py"), str(tmp_path / "got.json"),
         "sessout-markers=2:command/mark"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    zctx = zmq.Context()
    try:
        root = session_dir(tmp_path / "out", timeout_s=60)
        assert reader.stdout.readline().strip() == "connected"
        sender = CommandSender(Endpoints.load(root), zctx, name="test")
        for text in ("first", "second"):
            deadline = time.monotonic() + 30
            while not sender.send("mark", {"text": text}) and time.monotonic() < deadline:
                time.sleep(0.05)  # until the supervisor takes commands
        assert reader.stdout.readline().strip() == "done"
        sender.close()
        code, out, err = stop(run)
        assert code == 0, out[-2000:] + err[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
        if reader.poll() is None:
            reader.kill()
        zctx.destroy(linger=0)
    got = json.loads((tmp_path / "got.json").read_text())["streams"]["sessout-markers"]
    marks = [(t, m) for t, s in got if (m := json.loads(s[0]))["topic"] == "command/mark"]
    assert [m["text"] for _, m in marks] == ["first", "second"] and marks[0][1]["topic"] == "command/mark"
    recorded = [e for e in SessionReader(root).events() if e["topic"] == "command/mark"]
    assert [e["body"]["text"] for e in recorded] == ["first", "second"]
    for (t, _), e in zip(marks, recorded):  # the LSL stamp is the recorded marker's own host time
        assert abs(t - e["host_time_ns"] / 1e9) < 2e-5


SESSION_WITH_ANALYZER = face_rig("lslana", 640, 480, analyzer=True, more='[lsl]\noutlets = true\nprefix = "sessana"\n')


@pytest.mark.slow
def test_the_live_analyzers_events_and_traces_reach_lsl_stamped_at_their_frames(tmp_path):
    from mestudio.stream.session_reader import SessionReader
    from tests.conftest import write_config
    from tests.session_helpers import session_dir, start_run, stop

    run = start_run(write_config(tmp_path / "s.toml", SESSION_WITH_ANALYZER), tmp_path / "out")
    reader = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "lsl_receiver.py"), str(tmp_path / "got.json"),
         "sessana-analyzer-events=1", "sessana-analyzer-trace=20"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        root = session_dir(tmp_path / "out", timeout_s=60)
        assert reader.stdout.readline().strip() == "connected"
        assert reader.stdout.readline().strip() == "done"
        code, out, err = stop(run, timeout_s=120)
        assert code == 0, out[-2000:] + err[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
        if reader.poll() is None:
            reader.kill()
    got = json.loads((tmp_path / "got.json").read_text())["streams"]
    recorded = {
        (e["body"]["kind"], e["body"]["onset_s"]): e["body"]
        for e in SessionReader(root).events()
        if e["topic"] == "results/analyzer" and e["body"].get("type") == "event"
    }
    (t, sample), *_ = got["sessana-analyzer-events"]
    ev = json.loads(sample[0])
    assert recorded[(ev["kind"], ev["onset_s"])]["aus"] == ev["aus"]  # the very event the session recorded
    assert abs(t - ev["onset_s"]) < 2e-5  # stamped at its onset frame, on LSL's clock
    traces = [
        e["body"]
        for e in SessionReader(root).events()
        if isinstance(e.get("body"), dict) and e["body"].get("type") == "trace"
    ]
    frame_t = {q: t for b in traces for q, t in zip(b["seq"], b["t"])}
    for t, (seq, _score) in got["sessana-analyzer-trace"]:
        assert abs(t - frame_t[int(seq)]) < 2e-5
