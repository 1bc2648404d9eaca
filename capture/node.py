"""The device node: one process per [[devices]] section, publishing every frame on the wire."""

from __future__ import annotations

import json
import threading
import time

from mestudio.capture.base import Device
from mestudio.capture.errors import DeviceStateError
from mestudio.capture.registry import create_device
from mestudio.capture.sound import chirp_from_request
from mestudio.stream import wire
from mestudio.stream.node import NodeContext

# script time 0 of the synthetic face rig, after the session's t0: time for every device to start
SCRIPT_LEAD_NS = 2_000_000_000


def device_spec(ctx: NodeContext):
    for d in ctx.config.devices:
        if d.name == ctx.name:
            return d
    raise LookupError(f"no [[devices]] section named {ctx.name!r} in the session config")


def publish_stream_info(pub, dev: Device) -> None:
    for i, info in enumerate(dev.streams):
        pub.send(wire.json_parts(wire.Kind.EVENT, info.stream_id, i, info.to_json(), topic=f"info/{info.stream_id}"))


def _listen(ctx: NodeContext, dev: Device, topic: str, handle) -> threading.Thread:
    """Call ``handle(msg)`` for every `topic` event of the sync node, on a thread of its own."""

    def listen() -> None:  # the socket lives and dies in this thread (zmq sockets are not shared)
        sub = ctx.subscriber([topic], producers=["sync"], hwm=1000)
        try:
            while not ctx.stop.is_set():
                msg = sub.recv(0.1)
                if msg is not None and msg.topic == topic and dev.state == "running":
                    handle(msg)
        finally:
            sub.close()

    t = threading.Thread(target=listen, name=f"{dev.name}-{topic}", daemon=True)
    t.start()
    return t


def start_trigger_listener(ctx: NodeContext, dev: Device, spec) -> threading.Thread | None:
    """With [sync] enabled, `trigger/<device>` events from the sync node fire software triggers."""
    if getattr(spec, "trigger", "") != "software" or not ctx.config.sync.get("enabled", False):
        return None
    fire = getattr(dev, "software_trigger", None)
    if fire is None:
        raise DeviceStateError(
            f'{dev.name}: trigger = "software" but the {dev.kind} backend has no '
            'software_trigger(); set trigger = "free-run" or [sync] enabled = false'
        )
    return _listen(ctx, dev, f"trigger/{dev.name}", lambda msg: fire())


def start_speaker(ctx: NodeContext, dev: Device) -> threading.Thread | None:
    """A device that can play into its own track (synthetic audio) plays the sync chirps asked of it."""
    play = getattr(dev, "play_at", None)
    if play is None or not ctx.config.sync.get("enabled", False):
        return None
    mine = {s.stream_id for s in dev.streams}

    def handle(msg) -> None:
        if isinstance(msg.data, dict) and msg.data.get("stream") in mine:
            play(int(msg.data["sample"]), chirp_from_request(msg.data))

    return _listen(ctx, dev, "sync/chirp", handle)


def run(ctx: NodeContext) -> int:
    dev = create_device(device_spec(ctx))
    dev.session_dir = ctx.session_dir
    if hasattr(dev, "script_epoch_ns"):  # synthetic face devices: one script clock for every view
        t0 = int(json.loads((ctx.session_dir / "manifest.json").read_text())["t0_host_ns"])
        dev.script_epoch_ns = t0 + SCRIPT_LEAD_NS
    if getattr(device_spec(ctx), "trigger", "") == "software" and ctx.config.sync.get("enabled", False):
        dev.external_trigger = True  # the sync master paces this camera's triggers on the audio clock
    pub = ctx.publisher()
    counts = {}
    try:
        with dev:
            listeners = [t for t in (start_trigger_listener(ctx, dev, device_spec(ctx)), start_speaker(ctx, dev)) if t]
            publish_stream_info(pub, dev)
            counts = {s.stream_id: 0 for s in dev.streams}
            ctx.heartbeat({"ready": True})
            next_beat = 0.0
            while not ctx.stop.is_set():
                for f in dev.read(timeout_s=0.25):
                    if pub.send(
                        wire.frame_parts(
                            f.stream_id,
                            f.seq,
                            f.data,
                            host_time_ns=f.host_time_ns,
                            device_time_ns=f.device_time_ns,
                            pixel_format=f.pixel_format,
                        )
                    ):
                        counts[f.stream_id] += 1
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + 0.25
                    ctx.heartbeat(_status(dev, pub, counts))
            for t in listeners:
                t.join(timeout=1)
    finally:
        final = _status(dev, pub, counts)
        for i, sid in enumerate(counts):
            pub.send(wire.json_parts(wire.Kind.END, sid, i, {**final, "frames": counts[sid]}, topic=f"end/{sid}"))
        ctx.heartbeat(final)
        pub.close()
    return 0


def _status(dev: Device, pub, counts: dict) -> dict:
    return {
        "streams": {sid: {"frames": n} for sid, n in counts.items()},
        "device_dropped": dev.dropped,
        "backpressure": pub.backpressure,
        "dropped_for_recorder": pub.dropped,
        **(dev.counters() if hasattr(dev, "counters") else {}),  # a backend's own counts (lsl: outages)
    }
