"""The device node: one process per [[devices]] section, publishing every frame on the wire."""
from __future__ import annotations

import threading
import time

from capture.base import Device
from capture.errors import DeviceStateError
from capture.registry import create_device
from stream import wire
from stream.node import NodeContext


def device_spec(ctx: NodeContext):
    for d in ctx.config.devices:
        if d.name == ctx.name:
            return d
    raise LookupError(f"no [[devices]] section named {ctx.name!r} in the session config")


def publish_stream_info(pub, dev: Device) -> None:
    for i, info in enumerate(dev.streams):
        pub.send(wire.json_parts(wire.Kind.EVENT, info.stream_id, i, info.to_json(),
                                 topic=f"info/{info.stream_id}"))


def start_trigger_listener(ctx: NodeContext, dev: Device, spec) -> threading.Thread | None:
    """With [sync] enabled, `trigger/<device>` events from the sync node fire software triggers."""
    if getattr(spec, "trigger", "") != "software" or not ctx.config.sync.get("enabled", False):
        return None
    fire = getattr(dev, "software_trigger", None)
    if fire is None:
        raise DeviceStateError(f"{dev.name}: trigger = \"software\" but the {dev.kind} backend has no "
                        "software_trigger(); set trigger = \"free-run\" or [sync] enabled = false")
    topic = f"trigger/{dev.name}"

    def listen() -> None:  # the socket lives and dies in this thread (zmq sockets are not shared)
        sub = ctx.subscriber([topic], producers=["sync"], hwm=1000)
        try:
            while not ctx.stop.is_set():
                msg = sub.recv(0.1)
                if msg is not None and msg.topic == topic and dev.state == "running":
                    fire()
        finally:
            sub.close()

    t = threading.Thread(target=listen, name=f"{dev.name}-triggers", daemon=True)
    t.start()
    return t


def run(ctx: NodeContext) -> int:
    dev = create_device(device_spec(ctx))
    dev.session_dir = ctx.session_dir
    pub = ctx.publisher()
    counts = {}
    try:
        with dev:
            triggers = start_trigger_listener(ctx, dev, device_spec(ctx))
            publish_stream_info(pub, dev)
            counts = {s.stream_id: 0 for s in dev.streams}
            ctx.heartbeat({"ready": True})
            next_beat = 0.0
            while not ctx.stop.is_set():
                for f in dev.read(timeout_s=0.25):
                    if pub.send(wire.frame_parts(f.stream_id, f.seq, f.data, host_time_ns=f.host_time_ns,
                                                 device_time_ns=f.device_time_ns, pixel_format=f.pixel_format)):
                        counts[f.stream_id] += 1
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + 0.25
                    ctx.heartbeat(_status(dev, pub, counts))
            if triggers is not None:
                triggers.join(timeout=1)
    finally:
        final = _status(dev, pub, counts)
        for i, sid in enumerate(counts):
            pub.send(wire.json_parts(wire.Kind.END, sid, i, {**final, "frames": counts[sid]},
                                     topic=f"end/{sid}"))
        ctx.heartbeat(final)
        pub.close()
    return 0


def _status(dev: Device, pub, counts: dict) -> dict:
    return {"streams": {sid: {"frames": n} for sid, n in counts.items()},
            "device_dropped": dev.dropped, "backpressure": pub.backpressure,
            "dropped_for_recorder": pub.dropped}
