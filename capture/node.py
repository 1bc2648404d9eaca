"""The device node: one process per [[devices]] section, publishing every frame on the wire."""

from __future__ import annotations

import json
import math
import sys
import threading
import time

import numpy as np

from mestudio.capture.base import Device
from mestudio.capture.errors import CapabilityError
from mestudio.capture.registry import create_device
from mestudio.capture.sound import chirp_from_request
from mestudio.config.device_kinds import Capability
from mestudio.stream import messages, wire
from mestudio.stream.buffers import keep_freed_buffers
from mestudio.stream.errors import WireFormatError
from mestudio.stream.node import NodeContext


def device_spec(ctx: NodeContext):
    for d in ctx.config.devices:
        if d.name == ctx.name:
            return d
    raise LookupError(f"no [[devices]] section named {ctx.name!r} in the session config")


def publish_stream_info(pub, dev: Device, now_ns=wire.now_ns) -> None:
    for i, info in enumerate(dev.streams):
        body = messages.StreamInfoBody(**info.to_json()).to_wire()
        topic = messages.info_topic(info.stream_id)
        pub.send(wire.json_parts(wire.Kind.EVENT, info.stream_id, i, body, topic=topic, host_time_ns=now_ns()))


def _listen(ctx: NodeContext, dev: Device, topic: str, handle) -> threading.Thread:
    """Call ``handle(msg)`` for every `topic` event of the sync node, on a thread of its own."""

    rejects = messages.RejectCounter(f"{dev.name} {topic} listener", ctx.log)

    def listen() -> None:  # the socket lives and dies in this thread (zmq sockets are not shared)
        sub = ctx.subscriber([topic], producers=["sync"], hwm=1000)
        try:
            while not ctx.stop.is_set():
                try:
                    msg = sub.recv(0.1)
                    if msg is not None and msg.topic == topic:
                        messages.parse_body(msg.topic, msg.data)  # untrusted, even from the sync node
                except WireFormatError as e:
                    rejects.reject(e)
                    continue
                if msg is not None and msg.topic == topic and dev.state == "running":
                    handle(msg)
        finally:
            sub.close()

    t = threading.Thread(target=listen, name=f"{dev.name}-{topic}", daemon=True)
    t.start()
    return t


def start_trigger_listener(ctx: NodeContext, dev: Device, spec) -> threading.Thread | None:
    """With [sync] enabled, `trigger/<device>` events from the sync node fire software triggers."""
    if not spec.software_triggered or not ctx.config.sync.get("enabled", False):
        return None
    if Capability.SOFTWARE_TRIGGER not in dev.capabilities:
        raise CapabilityError(
            f'{dev.name}: trigger = "software" but the {dev.kind} backend has no '
            'software_trigger(); set trigger = "free-run" or [sync] enabled = false'
        )
    return _listen(ctx, dev, messages.trigger_topic(dev.name), lambda msg: dev.software_trigger())


def start_speaker(ctx: NodeContext, dev: Device) -> threading.Thread | None:
    """A device that can play into its own track (synthetic audio) plays the sync chirps asked of it."""
    if Capability.SPEAKER not in dev.capabilities or not ctx.config.sync.get("enabled", False):
        return None
    mine = {s.stream_id for s in dev.streams}

    def handle(msg) -> None:
        if isinstance(msg.data, dict) and msg.data.get("stream") in mine:
            dev.play_at(int(msg.data["sample"]), chirp_from_request(msg.data))

    return _listen(ctx, dev, messages.SYNC_CHIRP, handle)


def single_threaded_opencv() -> bool:
    """One OpenCV thread in a device process that uses OpenCV (the synthetic renderers).

    A rig runs a process per device beside the recorder; OpenCV's default pool (a thread per
    core in each of them) splits every remap into stripes and waits for the slowest, so on a
    loaded machine one descheduled worker stalls the frame.  True when it was set."""
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        return False
    cv2.setNumThreads(1)
    return True


def run(ctx: NodeContext) -> int:
    # every frame is a fresh buffer of 0.3-2 MB: reused from the heap, not mapped and faulted in anew
    keep_freed_buffers()
    spec = device_spec(ctx)
    dev = create_device(spec)
    single_threaded_opencv()
    t0 = int(json.loads((ctx.session_dir / "manifest.json").read_text())["t0_host_ns"])
    dev.attach_session(ctx.session_dir, t0)
    if spec.software_triggered and ctx.config.sync.get("enabled", False):
        dev.pace_by_external_trigger()  # the sync master paces this camera's triggers on the audio clock
    pub = ctx.publisher()
    counts = {}
    # after a restart, sequence numbers go on from the last recorded one, so the recording's gap
    # is the time the node was down (on the timeline), not a run of numbers that never existed
    seq_base = {str(k): int(v) for k, v in (ctx.restart.get("seq_base") or {}).items()}
    frames_before = {str(k): int(v) for k, v in (ctx.restart.get("frames_before") or {}).items()}
    try:
        with dev:
            listeners = [t for t in (start_trigger_listener(ctx, dev, spec), start_speaker(ctx, dev)) if t]
            publish_stream_info(pub, dev, ctx.now_ns)
            # the shared-memory ring ([transport] shared_memory) is made before the first frame
            if pub.prepare_shared_memory(max((_frame_bytes(st) for st in dev.streams), default=0)):
                if hasattr(dev, "frame_buffer"):  # a device that copies out of its driver's buffer
                    dev.frame_buffer = pub.frame_buffer
            counts = {s.stream_id: 0 for s in dev.streams}
            ctx.heartbeat({"ready": True})
            next_beat = 0.0
            while not ctx.stop.is_set():
                with ctx.watched(f"{spec.kind} read"):  # a driver call that never returns: killed, restarted
                    got = dev.read(timeout_s=0.25)
                for f in got:
                    if pub.send(
                        wire.frame_parts(
                            f.stream_id,
                            f.seq + seq_base.get(f.stream_id, 0),
                            f.data,
                            host_time_ns=f.host_time_ns + ctx.host_offset_ns,  # 0 unless on another host
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
            frames = counts[sid] + frames_before.get(sid, 0)  # the stream's whole count, restarts included
            body = messages.EndBody(**{**final, "frames": frames, "restart": ctx.restart.get("restart", 0)}).to_wire()
            end = wire.json_parts(wire.Kind.END, sid, i, body, topic=messages.end_topic(sid), host_time_ns=ctx.now_ns())
            pub.send(end)
        ctx.heartbeat(final)
        pub.close()
    return 0


def _frame_bytes(info) -> int:
    """One frame's bytes (0 for a stream whose dtype numpy does not know)."""
    try:
        return int(np.dtype(info.dtype).itemsize * math.prod(info.shape))
    except TypeError:
        return 0


def _status(dev: Device, pub, counts: dict) -> dict:
    return {
        "streams": {sid: {"frames": n} for sid, n in counts.items()},
        "device_dropped": dev.dropped,
        "backpressure": pub.backpressure,
        "dropped_for_recorder": pub.dropped,
        # [transport] shared_memory: frames sent through the ring, and large ones sent over the
        # socket because the ring was full (the recorder behind): nothing lost either way
        "shared_memory_frames": pub.shm_frames,
        "shared_memory_fallbacks": pub.shm_fallbacks,
        **(dev.counters() if hasattr(dev, "counters") else {}),  # a backend's own counts (lsl: outages)
    }
