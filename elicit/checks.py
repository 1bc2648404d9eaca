"""Checks before a session starts: every clip exists and decodes, and sound output is there.

A protocol that would fail in the middle of a session (a missing film, a codec PyAV cannot read)
fails here instead, with one line naming the file, the clip and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mestudio.elicit.audio_out import SoundSystem
from mestudio.elicit.errors import AudioOutputError, ClipCodecError, ClipFileNotFoundError, ProtocolError
from mestudio.elicit.protocol import Clip, Protocol


@dataclass
class Preflight:
    paths: dict[str, Path]  # clip id -> file to play
    durations: dict[str, float]  # clip id -> measured seconds
    warnings: list[str] = field(default_factory=list)
    sound: SoundSystem | None = None  # opened output, or None for a silent run


def probe_clip(path: Path, where: str) -> float:
    """Open a clip with PyAV and decode its first frames; its duration in seconds."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise ClipCodecError(f"{where}: {path} has no video stream")
            streams = [c.streams.video[0]] + ([c.streams.audio[0]] if c.streams.audio else [])
            got = set()
            for f in c.decode(*streams):
                got.add(type(f).__name__)
                if len(got) == len(streams):
                    break
            if "VideoFrame" not in got:
                raise ClipCodecError(f"{where}: {path}: no video frame could be decoded")
            vs = c.streams.video[0]
            if c.duration:
                return c.duration / 1e6
            if vs.duration and vs.time_base:
                return float(vs.duration * vs.time_base)
            return 0.0
    except av.FFmpegError as e:
        raise ClipCodecError(
            f"{where}: {path}: PyAV cannot decode it ({e}); re-encode it, e.g. "
            f"ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4"
        ) from None


def resolve_clip(proto: Protocol, clip: Clip, where: str) -> Path:
    if clip.generated:
        from mestudio.elicit.democlips import ensure_clip

        return ensure_clip(clip.generated, clip.duration_s, clip.id, clip.title)
    if not clip.file:
        raise ClipFileNotFoundError(
            f"{where}: clip {clip.id!r} ({clip.title}) has no file: set "
            f"`file` to the film's path (relative to {proto.source_path.name})"
        )
    p = proto.clip_path(clip)
    if not p.is_file():
        raise ClipFileNotFoundError(f"{where}: clip {clip.id!r}: no such file {p} (copy the film there or fix `file`)")
    return p


def check_protocol(proto: Protocol, *, sound: bool = True) -> Preflight:
    """Every problem found before the start, raised as one line (the first, and how many more)."""
    problems: list[Exception] = []
    out = Preflight({}, {})
    src = proto.source_path
    places = ([("trial", proto.trial)] if proto.trial else []) + [(f"clips[{i}]", c) for i, c in enumerate(proto.clips)]
    for key, clip in places:
        where = f"{src}: {key}"
        try:
            p = resolve_clip(proto, clip, where)
            d = probe_clip(p, where)
        except ProtocolError as e:
            problems.append(e)
            continue
        out.paths[clip.id], out.durations[clip.id] = p, d
        if d and abs(d - clip.duration_s) > max(1.0, 0.05 * clip.duration_s):
            out.warnings.append(
                f"{where}: {p.name} lasts {d:.1f} s, the protocol expects {clip.duration_s:g} s "
                f"(check it is the right cut, or fix `duration_s`)"
            )
    if problems:
        more = len(problems) - 1
        first = problems[0]
        msg = str(first) + (
            f" (and {more} more problem{'s' * (more > 1)}; `mestudio elicit --check` lists all)" if more else ""
        )
        err = type(first)(msg)
        err.all_problems = [str(p) for p in problems]  # type: ignore[attr-defined]
        raise err
    if sound:
        try:
            out.sound = SoundSystem(proto.audio.device)
        except AudioOutputError as e:
            if proto.audio.required:
                raise AudioOutputError(f"{src}: [audio] required = true, but {e}") from None
            out.warnings.append(f"{e}: clips will play silent (set [audio] required = true to refuse)")
    return out
