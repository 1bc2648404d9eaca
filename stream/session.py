"""The session folder: writing it append-only, reading it back, and repairing a cut one.

    <session>/
      manifest.json              config snapshot, devices, participant, consent, status, summary
      streams/<stream_id>/
        info.json                what the stream is (dtype, shape, pixel format, rate, device)
        frames.bin               frame buffers appended back to back
        index.bin                one INDEX_DTYPE record per frame, appended after its data
        timestamps.csv           the index as CSV (written when the session is closed or repaired)
      events.jsonl               markers, results, device notes: one JSON object per line
      recorder.json              what the recorder received, wrote and lost
      logs/                      one log file per process

frames.bin and index.bin are only ever appended to and flushed at least every second, so a
killed recorder leaves everything but the last second readable; ``repair`` trims what is torn.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.stream.errors import DiskFullError, NotASessionError, SessionError

FORMAT = "mestudio-session"
FORMAT_VERSION = 1
NO_DEVICE_TIME = np.iinfo(np.int64).min

INDEX_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("device_time_ns", "<i8"),
        ("host_time_ns", "<i8"),
        ("recv_time_ns", "<i8"),
        ("offset", "<u8"),
        ("nbytes", "<u8"),
    ]
)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` so that a reader sees the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_disk_full(err: OSError) -> bool:
    import errno

    return err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class StreamWriter:
    """Appends one stream's frames and index records."""

    def __init__(self, folder: Path, stream_id: str, dtype: str, shape: tuple, pixel_format: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stream_id = stream_id
        self.info = {"stream_id": stream_id, "dtype": dtype, "shape": list(shape), "pixel_format": pixel_format}
        info_path = folder / "info.json"
        if not info_path.exists():
            write_json_atomic(info_path, self.info)
        self._data = open(folder / "frames.bin", "ab", buffering=1 << 20)
        self._index = open(folder / "index.bin", "ab", buffering=1 << 16)
        self.offset = self._data.tell()
        self.frames = 0
        self.bytes = 0
        self.last_seq: int | None = None
        self.gaps = 0  # missing sequence numbers seen while recording
        self.out_of_order = 0
        self._rec = np.zeros(1, INDEX_DTYPE)

    def describe(self, extra: dict) -> None:
        """Merge the device's full StreamInfo into info.json."""
        self.info.update(extra)
        write_json_atomic(self.folder / "info.json", self.info)

    def append(self, seq: int, device_time_ns: int | None, host_time_ns: int, payload) -> None:
        n = memoryview(payload).nbytes
        self._data.write(payload)
        r = self._rec[0]
        r["seq"], r["host_time_ns"], r["recv_time_ns"] = seq, host_time_ns, time.monotonic_ns()
        r["device_time_ns"] = NO_DEVICE_TIME if device_time_ns is None else device_time_ns
        r["offset"], r["nbytes"] = self.offset, n
        self._index.write(self._rec.tobytes())
        self.offset += n
        self.frames += 1
        self.bytes += n
        if self.last_seq is not None:
            if seq > self.last_seq + 1:
                self.gaps += seq - self.last_seq - 1
            elif seq <= self.last_seq:
                self.out_of_order += 1
        self.last_seq = seq if self.last_seq is None else max(seq, self.last_seq)

    def flush(self) -> None:
        # data before index: an index record on disk always has its frame on disk
        self._data.flush()
        self._index.flush()

    def close(self) -> None:
        for f in (self._data, self._index):
            try:
                f.close()
            except OSError:
                pass  # disk full while flushing: repair() trims the torn tail


class SessionWriter:
    """Owns a session folder while recording: streams, events, and the recorder's report."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "manifest.json").exists():
            raise NotASessionError(f"{self.root}: no manifest.json (the supervisor creates it first)")
        (self.root / "streams").mkdir(exist_ok=True)
        self.streams: dict[str, StreamWriter] = {}
        self._events = open(self.root / "events.jsonl", "a", encoding="utf-8", buffering=1 << 16)
        self.events = 0

    def stream(self, stream_id: str, dtype: str, shape: tuple, pixel_format: str) -> StreamWriter:
        w = self.streams.get(stream_id)
        if w is None:
            w = self.streams[stream_id] = StreamWriter(
                self.root / "streams" / stream_id, stream_id, dtype, shape, pixel_format
            )
        return w

    def event(self, record: dict) -> None:
        self._events.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self.events += 1

    def flush(self) -> None:
        try:
            for w in self.streams.values():
                w.flush()
            self._events.flush()
        except OSError as e:
            if _is_disk_full(e):
                raise DiskFullError(f"{self.root}: disk full while recording ({e.strerror})") from e
            raise

    def close(self) -> None:
        for w in self.streams.values():
            w.close()
        try:
            self._events.close()
        except OSError:
            pass


# -- reading -----------------------------------------------------------------------------------


@dataclass
class StreamReader:
    folder: Path
    info: dict
    index: np.ndarray  # INDEX_DTYPE records

    @property
    def stream_id(self) -> str:
        return self.info["stream_id"]

    def __len__(self) -> int:
        return len(self.index)

    def _memmap(self) -> np.ndarray:
        size = (self.folder / "frames.bin").stat().st_size
        if size == 0:
            return np.zeros(0, np.uint8)
        return np.memmap(self.folder / "frames.bin", dtype=np.uint8, mode="r")

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based position in the recording) as a read-only array."""
        rec = self.index[i]
        raw = self._memmap()[int(rec["offset"]) : int(rec["offset"]) + int(rec["nbytes"])]
        return raw.view(np.dtype(self.info["dtype"])).reshape(self.info["shape"])

    def frames(self) -> Iterator[tuple[np.void, np.ndarray]]:
        mm = self._memmap()
        dt, shape = np.dtype(self.info["dtype"]), self.info["shape"]
        for rec in self.index:
            o, n = int(rec["offset"]), int(rec["nbytes"])
            yield rec, mm[o : o + n].view(dt).reshape(shape)


class SessionReader:
    """Reads a session folder (complete, or cut short and repaired)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        mpath = self.root / "manifest.json"
        if not self.root.is_dir():
            raise NotASessionError(f"{self.root}: no such session folder")
        if not mpath.is_file():
            raise NotASessionError(f"{self.root}: not a mestudio session (no manifest.json)")
        try:
            self.manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SessionError(f"{mpath}: unreadable manifest ({e})") from None
        if self.manifest.get("format") != FORMAT:
            raise NotASessionError(f"{mpath}: not a mestudio session manifest")

    def stream_ids(self) -> list[str]:
        d = self.root / "streams"
        return sorted(p.name for p in d.iterdir() if (p / "info.json").is_file()) if d.is_dir() else []

    def stream(self, stream_id: str) -> StreamReader:
        folder = self.root / "streams" / stream_id
        if not (folder / "info.json").is_file():
            raise NotASessionError(f"{self.root}: no stream {stream_id!r} (streams: {', '.join(self.stream_ids())})")
        info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
        raw = (folder / "index.bin").read_bytes() if (folder / "index.bin").exists() else b""
        whole = len(raw) // INDEX_DTYPE.itemsize * INDEX_DTYPE.itemsize
        return StreamReader(folder, info, np.frombuffer(raw[:whole], INDEX_DTYPE).copy())

    def events(self) -> list[dict]:
        p = self.root / "events.jsonl"
        out = []
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a torn last line after a crash
        return out

    def recorder_report(self) -> dict:
        p = self.root / "recorder.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


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
