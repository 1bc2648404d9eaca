"""The "analyzer" role: the live analyzer process of a session (started with [analyzer] enabled).

It subscribes to the configured face stream, runs every frame through analysis.analyzer.Analyzer
and publishes what it finds as EVENT messages on topic ``results/analyzer`` (the recorder writes
them to events.jsonl; viewers see them live).  Frames are taken off the socket by a thread of
their own into a queue of ``queue_frames``, so a slow moment of analysis does not lose frames;
any frame the analyzer still does not see (it started after the camera, or fell a whole queue
behind) is reported as a ``gap`` message with the sequence numbers missed, and `mestudio analyze`
says whether its offline events equal these live ones.  With ``[analyzer] speech`` on, the
microphone's blocks go through the voice-activity detector on the receiving thread and its
speech segments (and the one under way) reach the analyzer (analysis/speech): offline, the
whole recording's segments are known, so the two runs can differ for a movement at the very
edge of speech.
"""

from __future__ import annotations

import queue
import threading

from mestudio.analysis.analyzer.errors import NoFaceStreamError
from mestudio.analysis.analyzer.offline import device_fps
from mestudio.analysis.settings import load_settings
from mestudio.stream import messages, wire

TOPIC = messages.RESULTS_ANALYZER
STREAM_ID = "analyzer"
DRAIN_S = 5.0  # on stop, keep analysing queued frames this long at most


def run(ctx) -> None:
    settings = load_settings(ctx.config.analyzer, "session file: [analyzer]")
    devices = [d.model_dump(mode="json") for d in ctx.config.enabled_devices]
    fps = settings.fps or device_fps(devices, settings.stream)
    if fps is None:
        raise NoFaceStreamError(
            f"[analyzer] stream = {settings.stream!r} is not a stream of any enabled device; "
            "set it to the face camera's name (or set [analyzer] fps for an outside stream)"
        )
    from mestudio.analysis.analyzer.pipeline import Analyzer  # mediapipe loads here, in this process only

    frames: queue.Queue = queue.Queue(maxsize=settings.queue_frames)
    stats = {"received": 0, "overflow": 0, "audio_blocks": 0}
    mic = _microphone(settings, ctx.config.enabled_devices)
    sub = ctx.subscriber([settings.stream] + ([mic[0]] if mic else []), hwm=settings.queue_frames)
    listen: list = []  # (stream id, callback) for the microphone, set once the analyzer exists
    receiver = threading.Thread(
        target=_receive, args=(ctx, sub, settings.stream, frames, stats, listen), name="analyzer-receive", daemon=True
    )
    pub = ctx.publisher()
    seq = 0

    def publish(body: dict) -> None:
        nonlocal seq
        pub.send(wire.json_parts(wire.Kind.EVENT, STREAM_ID, seq, body, topic=TOPIC))
        seq += 1

    last_seq: int | None = None
    analysed = gaps = events = 0
    try:
        with Analyzer(settings, fps, log=ctx.log) as analyzer:
            for note in analyzer.notes:
                publish({"type": "note", "text": note})
            if mic:
                from mestudio.analysis.speech import VoiceActivity

                vad = VoiceActivity(mic[1])

                def on_audio(msg) -> None:
                    segs = vad.push(msg.data, msg.header.host_time_ns / 1e9)
                    analyzer.add_speech(segs, vad.open_segment)
                    stats["audio_blocks"] += 1

                listen.append((mic[0], on_audio))
            receiver.start()
            stop_at = None
            while True:
                if ctx.stop.is_set() and stop_at is None:
                    stop_at = wire.now_ns() + int(DRAIN_S * 1e9)
                try:
                    msg = frames.get(timeout=0.1)
                except queue.Empty:
                    if stop_at is not None:
                        break
                    continue
                if stop_at is not None and wire.now_ns() > stop_at:
                    break
                if msg is None:  # the stream ended (END message)
                    for body in analyzer.finish():
                        publish(body)
                    continue
                h = msg.header
                if last_seq is None:
                    publish(
                        {
                            "type": "start",
                            "first_seq": h.seq,
                            "fps": fps,
                            "stream": settings.stream,
                            "settings": settings.model_dump(mode="json"),
                            "latency_s": analyzer.latency_s(),
                        }
                    )
                elif h.seq != last_seq + 1:
                    missing = h.seq - last_seq - 1
                    gaps += 1
                    publish(
                        {
                            "type": "gap",
                            "from_seq": last_seq + 1,
                            "to_seq": h.seq - 1,
                            "missing": missing,
                            "overflow_total": stats["overflow"],
                        }
                    )
                    for body in analyzer.gap():
                        publish(body)
                last_seq = h.seq
                for body in analyzer.process(msg.data, h.seq, h.host_time_ns / 1e9):
                    events += body["type"] == "event"
                    publish(body)
                analysed += 1
                if analysed % 30 == 0:
                    ctx.heartbeat(
                        {
                            "analysed": analysed,
                            "events": events,
                            "gaps": gaps,
                            "queued": frames.qsize(),
                            "overflow": stats["overflow"],
                        }
                    )
            for body in analyzer.finish():
                publish(body)
            publish(
                {
                    "type": "stop",
                    "analysed": analysed,
                    "received": stats["received"],
                    "gaps": gaps,
                    "overflow": stats["overflow"],
                    "unanalysed": frames.qsize(),
                    "audio_blocks": stats["audio_blocks"],
                    "speech_suppressed": analyzer.speech_suppressed,
                    "head_motion_suppressed": analyzer.head_suppressed,
                    "fusion": dict(analyzer.fusion_counts),
                }
            )
    finally:
        ctx.heartbeat({"analysed": analysed, "events": events, "gaps": gaps})
        stats["stop"] = True
        receiver.join(timeout=2)
        sub.close()
        pub.close()


def _microphone(settings, devices) -> tuple[str, int] | None:
    """(stream id, sample rate) of the microphone speech awareness listens to, or None."""
    if settings.speech == "off":
        return None
    for d in devices:
        if d.kind in ("audio", "synthetic-audio") and (not settings.speech_stream or d.name == settings.speech_stream):
            return d.name, int(d.rate)
    return None


def _receive(ctx, sub, stream_id: str, frames: queue.Queue, stats: dict, listen: list) -> None:
    """Move frames from the socket to the queue as fast as they come; count what does not fit.
    The microphone's blocks go to its callback here (the VAD costs ~0.1 ms a block)."""
    while not ctx.stop.is_set() and not stats.get("stop"):
        try:
            msg = sub.recv(0.1)
        except Exception as e:  # a malformed message: say so, keep receiving
            ctx.log.warning("analyzer: dropped an unreadable message (%s)", e)
            continue
        if msg is not None and listen and msg.header.stream_id == listen[0][0] and msg.kind == wire.Kind.FRAME:
            try:
                listen[0][1](msg)
            except (ValueError, TypeError) as e:  # a malformed block: counted, the frames go on
                stats["audio_errors"] = stats.get("audio_errors", 0) + 1
                ctx.log.warning("analyzer: unreadable microphone block (%s)", e)
            continue
        if msg is None or msg.header.stream_id != stream_id:
            continue
        if msg.kind == wire.Kind.END:
            item = None
        elif msg.kind == wire.Kind.FRAME:
            item = msg
            stats["received"] += 1
        else:
            continue
        try:
            frames.put_nowait(item)
        except queue.Full:
            stats["overflow"] += 1  # reported as a gap when the next frame is analysed
