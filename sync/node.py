"""The "sync" node: clock models live, audio-paced software triggers, chirps, health, frame sets.

Started by the supervisor when the session file says ``[sync] enabled = true``.  It subscribes
(lossy) to every stream of the session, publishes ``sync/health`` (and ``sync/framesets`` batches)
every ``health_interval_s``, ``trigger/<device>`` events paced by the audio clock for devices with
``trigger = "software"``, and ``sync/chirp`` requests at start, at end and whenever asked
(``command/chirp`` from the operator, or a ``sync/request-chirp`` event from any node, e.g. the
elicitation controller at a stimulus onset).  At the end it writes ``<session>/sync/report.json``
(the live figures) and ``framesets.csv`` (the live sets); ``mestudio sync SESSION`` redoes both
offline from the recording, with the full-session fits.
"""

from __future__ import annotations

import csv
import time

import zmq

from mestudio.stream import messages, wire
from mestudio.stream.errors import WireFormatError
from mestudio.stream.node import NodeContext
from mestudio.stream.session import write_json_atomic
from mestudio.sync.chirp import chirp_wave, warm_up
from mestudio.sync.errors import HostClockError
from mestudio.sync.framesets import MISSING
from mestudio.sync.hostclock import TimeServer, estimate_offset
from mestudio.sync.live import LiveSync
from mestudio.sync.player import ChirpPlayer
from mestudio.sync.settings import load_sync_settings

TOPIC_HEALTH = messages.SYNC_HEALTH
TOPIC_FRAMESETS = messages.SYNC_FRAMESETS
TOPIC_CHIRP = messages.SYNC_CHIRP
TOPIC_CHIRP_REQUEST = messages.SYNC_CHIRP_REQUEST
COMMAND_CHIRP = messages.command_topic("chirp")
# the supervisor's notice, a moment before it stops the producers
SESSION_STOPPING = messages.SESSION_STOPPING
HOST_PROBE_EVERY_S = 10.0


def run(ctx: NodeContext) -> int:
    st = load_sync_settings(ctx.config.sync, str(ctx.session_dir / "config.toml"))
    live = LiveSync(ctx.config, st)
    pub = ctx.publisher()
    producers = [p for p in ctx.endpoints.pubs if p != ctx.name]
    # lossy: a busy host loses frames for the live models (counted as drops), never memory
    sub = ctx.subscriber(topics=None, producers=producers, hwm=120)
    cmd = ctx.zmq.socket(zmq.SUB)
    cmd.linger = 0
    cmd.setsockopt(zmq.SUBSCRIBE, COMMAND_CHIRP.encode())
    cmd.setsockopt(zmq.SUBSCRIBE, SESSION_STOPPING.encode())
    ctx.endpoints.connect(cmd, ctx.endpoints.broadcast)
    server = TimeServer(ctx.zmq, st.time_server) if st.time_server else None
    player = ChirpPlayer(st.chirp.output, live.chirp_spec.rate) if st.chirp.output else None
    out = ctx.session_dir / "sync"
    out.mkdir(exist_ok=True)
    sets_file = open(out / "live-framesets.csv", "w", newline="")
    sets_csv = csv.writer(sets_file)
    if live.framesets:
        sets_csv.writerow(["set", "time_ns"] + [f"{s}_seq" for s in live.framesets.streams])
    poller = zmq.Poller()
    poller.register(sub.sock, zmq.POLLIN)
    poller.register(cmd, zmq.POLLIN)
    seqs = {"health": 0, "trigger": 0, "chirp": 0}
    rejects = messages.RejectCounter("sync", ctx.log)
    started_chirp = ended_chirp = False
    end_sample: int | None = None  # the end chirp's, until the audio past it has arrived
    next_health = time.monotonic() + st.health_interval_s
    next_probe = time.monotonic()
    # before the trigger loop starts (its first scan must not stall the pacing), and after the
    # sockets connect (their subscriptions travel meanwhile)
    warm_up(live.chirp_spec)
    ctx.heartbeat({"ready": True, "audio": live.audio_id, "triggered": list(live.pacers)})

    def send_event(topic: str, body: dict, key: str) -> None:
        pub.send(wire.json_parts(wire.Kind.EVENT, ctx.name, seqs[key], body, topic=topic))
        seqs[key] += 1

    def chirp(reason: str) -> dict | None:
        body = live.request_chirp(reason)
        if body is not None:
            send_event(TOPIC_CHIRP, body, "chirp")
            if player is not None:
                spec = live.chirp_spec
                player.play(chirp_wave(spec, 0.0, int(round(spec.duration_s * spec.rate))), body["due_host_ns"])
        return body

    try:
        while not ctx.stop.is_set():
            now = time.monotonic_ns()
            nxt = live.next_due_ns()
            wait_ms = 20 if nxt is None else max(0, min(20, (nxt - now) // 1_000_000))
            for sock, _ in poller.poll(wait_ms):
                for _ in range(200):  # drain a burst without starving the trigger pacing
                    try:
                        msg = wire.recv(sock, zmq.NOBLOCK)
                        if msg.kind != wire.Kind.FRAME and msg.topic in (COMMAND_CHIRP, TOPIC_CHIRP_REQUEST):
                            messages.parse_body(msg.topic, msg.data)  # untrusted: checked before it is read
                    except zmq.Again:
                        break
                    except WireFormatError as e:
                        rejects.reject(e)
                        continue
                    h = msg.header
                    if h.kind == wire.Kind.FRAME:
                        live.on_frame(
                            h.stream_id,
                            h.seq,
                            h.host_time_ns,
                            h.device_time_ns,
                            msg.data if h.stream_id == live.audio_id else None,
                        )
                    elif (msg.topic == COMMAND_CHIRP and sock is cmd) or msg.topic == TOPIC_CHIRP_REQUEST:
                        # (the operator's command comes by broadcast; the supervisor's record of it is ignored)
                        chirp(str(msg.data.get("reason") or msg.topic))
                    elif msg.topic == SESSION_STOPPING and not ended_chirp:
                        ended_chirp = True
                        # while the microphone still records; the supervisor waits for "end_chirp"
                        body = chirp("end") if st.chirp.at_end else None
                        end_sample = body["sample"] if body is not None else None
                        if end_sample is None:
                            ctx.heartbeat({"end_chirp": "no audio" if st.chirp.at_end else "off"})
                    if (due_ns := live.next_due_ns()) is not None and due_ns <= time.monotonic_ns():
                        break
            if end_sample is not None and live.heard_past(end_sample):
                ctx.heartbeat({"end_chirp": "in the audio"})  # the producers may stop now
                end_sample = None
            for name, tick, sample, due in live.due_triggers(time.monotonic_ns()):
                # how late it leaves: the exposure follows the trigger, so offline adds this back
                late = time.monotonic_ns() - due
                send_event(
                    messages.trigger_topic(name),
                    messages.Trigger(tick=tick, sample=sample, late_ns=late).to_wire(),
                    "trigger",
                )
            # a second of audio first: whoever plays the chirp (a speaker's node) has subscribed by then
            if (
                not started_chirp
                and st.chirp.at_start
                and live.audio
                and live.audio.model.frames >= max(6, live.audio.rate // live.audio.block)
            ):
                chirp("start")
                started_chirp = True
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + st.health_interval_s
                live.scan_chirps()
                sets = live.take_framesets(time.monotonic_ns())
                first = live.sets_emitted - len(sets)
                for i, s in enumerate(sets):
                    sets_csv.writerow(
                        [first + i, s["time_ns"]] + list(s["frames"].values())
                    )  # in the builder's stream order
                if sets:
                    send_event(TOPIC_FRAMESETS, {"sets": sets, "missing_marker": MISSING}, "health")
                health = live.health()
                health["chirps"]["played"] = player.played if player is not None else 0
                send_event(TOPIC_HEALTH, health, "health")
                ctx.heartbeat({"triggers": health["triggers"], "chirps": health["chirps"]["requested"]})
            if st.hosts and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + HOST_PROBE_EVERY_S
                for ep in st.hosts:
                    try:
                        live.host_offsets[ep] = estimate_offset(ctx.zmq, ep, timeout_s=0.2).to_json()
                        send_event(messages.SYNC_HOST_OFFSET, live.host_offsets[ep], "health")
                    except HostClockError as e:
                        ctx.log.warning("%s", e)
                        live.host_offsets[ep] = {"host": ep, "error": str(e)}
    finally:
        if st.chirp.at_end and not ended_chirp:
            chirp("end")
        if player is not None:
            player.close()  # plays what is queued (the end chirp) first
        live.scan_chirps()
        health = live.health()
        health["chirps"]["played"] = player.played if player is not None else 0
        send_event(TOPIC_HEALTH, {**health, "final": True}, "health")
        write_json_atomic(
            out / "live-report.json",
            {
                "source": "live",
                "session": str(ctx.session_dir),
                "note": "live figures; run `mestudio sync SESSION` for the offline report with full-session fits",
                **health,
            },
        )
        sets_file.close()
        if server is not None:
            server.close()
        cmd.close()
        sub.close()
        pub.close()
        ctx.heartbeat({"final": True})
    return 0
