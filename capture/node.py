"""The device node: one process per [[devices]] section, publishing every frame on the wire."""
from __future__ import annotations

import time

from capture.base import Device
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


def run(ctx: NodeContext) -> int:
    dev = create_device(device_spec(ctx))
    dev.session_dir = ctx.session_dir
    pub = ctx.publisher()
    counts = {}
    try:
        with dev:
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
