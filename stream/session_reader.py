"""Reading a session folder back (complete, or cut short and repaired); every file is untrusted."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.stream.codec import CODECS, CodecError, FrameDecoder, pixel_format_for
from mestudio.stream.errors import NotASessionError, SessionError
from mestudio.stream.session import FORMAT, NO_DEVICE_TIME, frame_checksum, index_dtype


@dataclass
class StreamReader:
    """One recorded stream.  ``index`` holds the records whose frame bytes are all on disk and of
    the stream's frame size; the others (a short or damaged frames.bin) are counted in
    ``unreadable`` and never handed out, so every intact frame stays readable."""

    folder: Path
    info: dict
    index: np.ndarray  # index records (index_dtype(info)) of intact frames, in recorded order
    unreadable: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # their positions
    records: int = 0  # whole records in index.bin
    partial_index_bytes: int = 0
    data_bytes: int = 0
    _dec: FrameDecoder | None = field(default=None, repr=False)

    @property
    def stream_id(self) -> str:
        return self.info["stream_id"]

    @property
    def frame_bytes(self) -> int:
        return np.dtype(self.info["dtype"]).itemsize * math.prod(self.info["shape"])

    @property
    def codec(self) -> str | None:
        return self.info.get("codec")

    def _decoder(self) -> FrameDecoder:
        if self._dec is None:
            self._dec = FrameDecoder(self.info)
        return self._dec

    def _frame_at(self, mm: np.ndarray, rec) -> np.ndarray:
        o, n = int(rec["offset"]), int(rec["nbytes"])
        if self.codec:
            return self._decoder().decode(mm[o : o + n], int(rec["seq"]))
        return mm[o : o + n].view(np.dtype(self.info["dtype"])).reshape(self.info["shape"])

    @property
    def has_checksums(self) -> bool:
        return "crc32c" in (self.index.dtype.names or ())

    def __len__(self) -> int:
        return len(self.index)

    def _memmap(self) -> np.ndarray:
        p = self.folder / "frames.bin"
        if not p.exists() or p.stat().st_size == 0:
            return np.zeros(0, np.uint8)
        return np.memmap(p, dtype=np.uint8, mode="r")

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based position among the readable frames) as a read-only array."""
        return self._frame_at(self._memmap(), self.index[i])

    def frames(self) -> Iterator[tuple[np.void, np.ndarray]]:
        """Every readable frame with its index record (decoded, bit-exact, when encoded)."""
        mm = self._memmap()
        for rec in self.index:
            yield rec, self._frame_at(mm, rec)

    def frames_or_damage(self) -> Iterator[tuple[np.void, np.ndarray | None, str | None]]:
        """Every frame with its index record, as ``frames()``; a frame whose bytes no longer match
        their CRC32C, or whose packet does not decode, comes as (record, None, why) in its place,
        so a reader can go past it (the analyzer does; ``verify`` reports it)."""
        mm = self._memmap()
        check = self.has_checksums
        for rec in self.index:
            o, n, seq = int(rec["offset"]), int(rec["nbytes"]), int(rec["seq"])
            if check and frame_checksum(mm[o : o + n].data) != int(rec["crc32c"]):
                yield rec, None, f"stream {self.info.get('stream_id')!r} seq {seq}: bytes do not match their CRC32C"
                continue
            try:
                frame = self._frame_at(mm, rec)
            except CodecError as e:
                yield rec, None, str(e)
                continue
            yield rec, frame, None

    def checksum_mismatches(self) -> list[int]:
        """Sequence numbers of frames whose bytes no longer match their CRC32C (none for v1)."""
        if not self.has_checksums or not len(self.index):
            return []
        mm = self._memmap()
        bad = []
        for rec in self.index:
            o, n = int(rec["offset"]), int(rec["nbytes"])
            if frame_checksum(mm[o : o + n].data) != int(rec["crc32c"]):
                bad.append(int(rec["seq"]))
        return bad


# the manifest keys readers rely on, and their JSON types (a garbled one is an error, not a crash)
MANIFEST_TYPES: dict[str, type] = {
    "status": str,
    "consent": str,
    "participant": str,
    "session": str,
    "t0_host_ns": int,
    "t0_wall_ns": int,
    "supervisor_pid": int,
    "config": dict,
    "devices": list,
    "problems": list,
    "nodes": dict,
}


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON
        raise SessionError(f"{path}: unreadable {what} ({type(e).__name__}: {str(e)[:80]})") from None


def _check_info(path: Path, info: Any) -> dict:
    """info.json says how to read frames.bin: check it before trusting it."""
    if not isinstance(info, dict):
        raise SessionError(f"{path}: stream info is a JSON {type(info).__name__}, not an object")
    try:
        dt = np.dtype(info["dtype"])
        shape = info["shape"]
        if not (isinstance(shape, list) and len(shape) <= 4 and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"shape {shape!r} is not a list of at most 4 sizes")
        if dt.hasobject or dt.itemsize == 0:
            raise ValueError(f"dtype {info['dtype']!r} is not a pixel type")
        if not isinstance(info.get("stream_id"), str):
            raise ValueError("no stream_id")
        if "codec" in info and (info["codec"] not in CODECS or pixel_format_for(info["dtype"], shape) is None):
            raise ValueError(f"codec {info['codec']!r} for {shape} {info['dtype']} frames")
    except (KeyError, TypeError, ValueError) as e:
        raise SessionError(f"{path}: bad stream info ({type(e).__name__}: {e})") from None
    return info


class SessionReader:
    """Reads a session folder (complete, or cut short and repaired).  Every file is untrusted:
    a damaged one raises SessionError with one line naming it, or is read as far as it is intact."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        mpath = self.root / "manifest.json"
        if not self.root.is_dir():
            raise NotASessionError(f"{self.root}: no such session folder")
        if not mpath.is_file():
            raise NotASessionError(f"{self.root}: not a mestudio session (no manifest.json)")
        manifest = _read_json(mpath, "manifest")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise NotASessionError(f"{mpath}: not a mestudio session manifest")
        for key, kind in MANIFEST_TYPES.items():
            v = manifest.get(key)
            if v is not None and (not isinstance(v, kind) or isinstance(v, bool) and kind is int):
                raise SessionError(f"{mpath}: {key} is a JSON {type(v).__name__}, expected {kind.__name__}")
        self.manifest: dict = manifest
        self.bad_event_lines = 0  # lines of events.jsonl that are not a JSON object (counted by events())

    def stream_ids(self) -> list[str]:
        d = self.root / "streams"
        return sorted(p.name for p in d.iterdir() if (p / "info.json").is_file()) if d.is_dir() else []

    def stream(self, stream_id: str) -> StreamReader:
        folder = self.root / "streams" / stream_id
        if not (folder / "info.json").is_file():
            raise NotASessionError(f"{self.root}: no stream {stream_id!r} (streams: {', '.join(self.stream_ids())})")
        info = _check_info(folder / "info.json", _read_json(folder / "info.json", "stream info"))
        dtype = index_dtype(info)
        raw = (folder / "index.bin").read_bytes() if (folder / "index.bin").exists() else b""
        whole = len(raw) // dtype.itemsize
        idx = np.frombuffer(raw[: whole * dtype.itemsize], dtype).copy()
        data_p = folder / "frames.bin"
        data_bytes = data_p.stat().st_size if data_p.exists() else 0
        fb = np.dtype(info["dtype"]).itemsize * math.prod(info["shape"])
        sized = idx["nbytes"] > 0 if info.get("codec") else idx["nbytes"] == fb  # a packet's size varies
        intact = sized & (idx["offset"] <= data_bytes) & (idx["offset"] + idx["nbytes"] <= data_bytes)
        return StreamReader(
            folder,
            info,
            idx[intact],
            np.flatnonzero(~intact),
            whole,
            len(raw) - whole * dtype.itemsize,
            data_bytes,
        )

    def events(self) -> list[dict]:
        """Every event record; a line that is not a JSON object (torn, garbled) is counted and skipped."""
        p = self.root / "events.jsonl"
        out = []
        self.bad_event_lines = 0
        if p.exists():
            for line in p.read_bytes().splitlines():
                try:
                    rec = json.loads(line.decode("utf-8"))
                except (ValueError, RecursionError):
                    rec = None
                if isinstance(rec, dict) and isinstance(rec.get("topic", ""), str):
                    out.append(rec)
                elif line.strip():
                    self.bad_event_lines += 1
        return out

    def recorder_report(self) -> dict:
        """recorder.json, or {} when the recorder never wrote it (a garbled one raises SessionError)."""
        p = self.root / "recorder.json"
        if not p.exists():
            return {}
        rep = _read_json(p, "recorder report")
        if not isinstance(rep, dict):
            raise SessionError(f"{p}: recorder report is a JSON {type(rep).__name__}, not an object")
        return rep


def write_timestamps_csv(reader: StreamReader, t0_ns: int) -> Path:
    """The index as CSV for pandas and spreadsheets; session_time_s from the session start."""
    path = reader.folder / "timestamps.csv"
    idx = reader.index
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "device_time_ns", "host_time_ns", "session_time_s"])
        dev = idx["device_time_ns"]
        for seq, d, h in zip(idx["seq"].tolist(), dev.tolist(), idx["host_time_ns"].tolist()):
            w.writerow([seq, "" if d == NO_DEVICE_TIME else d, h, f"{(h - t0_ns) / 1e9:.6f}"])
    return path
