"""`mestudio export --what xdf,elan`: the session as the lab's other tools read it."""

from __future__ import annotations

from pathlib import Path

from mestudio.stream.export import export_video, media_kind
from mestudio.stream.session_reader import SessionReader


def video_files(reader: SessionReader, out: Path, only: list[str] | None) -> dict[str, str]:
    """stream id -> the exported .mkv's file name, for every video stream (exported or to be)."""
    return {
        sid: f"{sid}.mkv"
        for sid in reader.stream_ids()
        if (not only or sid in only) and media_kind(reader.stream(sid).info) == "video"
    }


def export_interop(
    reader: SessionReader, out: Path, what: list[str], frontal: str = "face", only: list[str] | None = None
) -> dict[str, list[str]]:
    written: dict[str, list[str]] = {}
    if "xdf" in what:
        from mestudio.interop.session_xdf import export_xdf

        path = out / f"{reader.root.name}.xdf"
        counts = export_xdf(reader, path, video_files(reader, out, only), only)
        written["xdf"] = [str(path), *(f"{name}: {n} samples" for name, n in counts.items())]
    if "elan" in what:
        from mestudio.interop.elan import export_eaf

        video = out / f"{frontal}.mkv"
        if not video.exists():  # the .eaf plays the frontal video: export it if not done already
            export_video(reader, frontal, video)
        path = out / f"{reader.root.name}.eaf"
        tiers = export_eaf(reader, path, video, frontal)
        written["elan"] = [str(path), *(f"tier {name}: {n} annotations" for name, n in tiers.items())]
    return written
