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
import ctypes
import errno
import json
import math
import os
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crc32c
import numpy as np

from mestudio.stream.codec import CODECS, FrameDecoder, FrameEncoder, pixel_format_for
from mestudio.stream.errors import DiskFullError, NotASessionError, SessionError
from mestudio.stream.messages import check_stream_id

FORMAT = "mestudio-session"
FORMAT_VERSION = 2  # 2: index records carry a CRC32C of their frame (index_version 2)
NO_DEVICE_TIME = np.iinfo(np.int64).min
RESERVE = "recorder.reserve"  # disk space the recorder holds while recording (freed at a full disk)

_INDEX_V1_FIELDS = [
    ("seq", "<u8"),
    ("device_time_ns", "<i8"),
    ("host_time_ns", "<i8"),
    ("recv_time_ns", "<i8"),
    ("offset", "<u8"),
    ("nbytes", "<u8"),
]
# index_version 1 (sessions before checksums): 48-byte records, no checksum
INDEX_DTYPE_V1 = np.dtype(_INDEX_V1_FIELDS)
# index_version 2: + CRC32C (Castagnoli, the iSCSI/ext4 polynomial) of the frame's bytes
INDEX_DTYPE = np.dtype(_INDEX_V1_FIELDS + [("crc32c", "<u4"), ("_reserved", "<u4")])
INDEX_VERSION = 2
INDEX_DTYPES = {1: INDEX_DTYPE_V1, 2: INDEX_DTYPE}
# one INDEX_DTYPE record packed by struct: a tenth of the cost of filling a numpy record per frame
_INDEX_RECORD = struct.Struct("<QqqqQQII")
assert _INDEX_RECORD.size == INDEX_DTYPE.itemsize
DATA_BUFFER = 64 << 10
# info.json keys the recorder owns (a device's StreamInfo cannot change how frames.bin is read)
_RECORDER_KEYS = ("stream_id", "dtype", "shape", "index_version", "codec", "codec_pix_fmt", "codec_extradata")
WRITEBACK_BYTES = 8 << 20  # start writeback every this much of a stream's frames


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2) (SYNC_FILE_RANGE_WRITE = 2 starts writeback, waits for nothing)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _find_sync_file_range()


def index_dtype(info: dict) -> np.dtype:
    """The record layout of a stream's index.bin, from its info.json (absent: version 1)."""
    v = info.get("index_version", 1)
    if v not in INDEX_DTYPES:
        raise SessionError(
            f"stream {info.get('stream_id')!r}: index_version {v!r}, this mestudio reads {sorted(INDEX_DTYPES)}"
        )
    return INDEX_DTYPES[v]


def frame_checksum(payload) -> int:
    return crc32c.crc32c(payload)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` so that a reader sees the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class StreamWriter:
    """Appends one stream's frames and index records."""

    def __init__(
        self, folder: Path, stream_id: str, dtype: str, shape: tuple, pixel_format: str, codec: str | None = None
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stream_id = stream_id
        # a codec: every frame is encoded (stream/codec.py); the index describes the packets
        self._encoder = FrameEncoder(codec, dtype, shape) if codec else None
        self.info: dict[str, Any] = {
            "stream_id": stream_id,
            "dtype": dtype,
            "shape": list(shape),
            "pixel_format": pixel_format,
            "index_version": INDEX_VERSION,
            **(self._encoder.info if self._encoder else {}),
        }
        info_path = folder / "info.json"
        if not info_path.exists():
            write_json_atomic(info_path, self.info)
        # a frame larger than the buffer goes straight from the received message to the kernel
        # (BufferedWriter copies only what fits in it): small buffer, no copy of a video frame
        self._data = open(folder / "frames.bin", "ab", buffering=DATA_BUFFER)
        # index records wait in memory until their frames are synced (stage): only then written
        self._index = open(folder / "index.bin", "ab", buffering=0)
        self._records = bytearray()
        self.offset = self._data.tell()
        self._written_back = self.offset
        self.frames = 0
        self.bytes = 0  # on disk
        self.raw_bytes = 0  # as received (more than ``bytes`` when encoded)
        self.last_seq: int | None = None
        self.gaps = 0  # missing sequence numbers seen while recording
        self.out_of_order = 0

    def describe(self, extra: dict) -> None:
        """Merge the device's full StreamInfo into info.json (the layout keys stay the recorder's)."""
        fixed = {k: v for k, v in self.info.items() if k in _RECORDER_KEYS}
        self.info.update({**extra, **fixed})
        write_json_atomic(self.folder / "info.json", self.info)

    def append(
        self, seq: int, device_time_ns: int | None, host_time_ns: int, payload, recv_time_ns: int | None = None
    ) -> None:
        self.raw_bytes += memoryview(payload).nbytes
        if self._encoder is not None:
            payload = self._encoder.encode(payload)
        n = memoryview(payload).nbytes
        self._data.write(payload)
        self._records += _INDEX_RECORD.pack(
            seq,
            NO_DEVICE_TIME if device_time_ns is None else device_time_ns,
            host_time_ns,
            time.monotonic_ns() if recv_time_ns is None else recv_time_ns,
            self.offset,
            n,
            crc32c.crc32c(payload),
            0,
        )
        self.offset += n
        if self.offset - self._written_back >= WRITEBACK_BYTES:
            self._write_back()
        self.frames += 1
        self.bytes += n
        if self.last_seq is not None:
            if seq > self.last_seq + 1:
                self.gaps += seq - self.last_seq - 1
            elif seq <= self.last_seq:
                self.out_of_order += 1
        self.last_seq = seq if self.last_seq is None else max(seq, self.last_seq)

    def _write_back(self) -> None:
        """Start the disk writing what was appended (no wait): without it the kernel leaves a
        flush interval's frames in RAM until fdatasync, and the disk idles in between."""
        if _sync_file_range is None:
            return
        self._data.flush()
        _sync_file_range(self._data.fileno(), self._written_back, self.offset - self._written_back, 2)
        self._written_back = self.offset

    def stage(self) -> Callable[[], None]:
        """Hand the frames appended so far to the kernel; returns the slow half, which any one
        thread may run: fdatasync the frames, then append their index records and fdatasync
        those.  Data before index: an index record on disk always has its frame on disk, and a
        power cut (not only a killed process) loses at most the interval not yet synced."""
        self._data.flush()
        records, self._records = self._records, bytearray()
        data_fd, index = self._data.fileno(), self._index

        def sync() -> None:
            os.fdatasync(data_fd)
            if records:
                _write_all(index, records)
                os.fdatasync(index.fileno())

        return sync

    def flush(self) -> None:
        self.stage()()

    def close(self) -> None:
        """Close without syncing (SessionWriter.flush syncs); records not yet written follow
        their frames so that a closed stream is whole."""
        try:
            self._data.close()
            if self._records:
                _write_all(self._index, self._records)
                self._records = bytearray()
        except OSError:
            pass  # disk full while flushing: repair() trims the torn tail
        try:
            self._index.close()
        except OSError:
            pass


def _write_all(f: Any, buf: bytes | bytearray) -> None:
    """An unbuffered write may write less than asked (a signal, a nearly full disk): loop."""
    view = memoryview(buf)
    while view:
        n = f.write(view)
        if not n:
            raise OSError(errno.ENOSPC, "No space left on device")
        view = view[n:]


def stream_folder(root: Path, stream_id: str) -> Path:
    """streams/<id>: the id is checked again here, so no message can name a path outside it."""
    check_stream_id(stream_id)
    base = (Path(root) / "streams").resolve()
    folder = (base / stream_id).resolve()
    if folder.parent != base:
        raise SessionError(f"stream id {stream_id!r} would leave {base}")
    return folder


class SessionWriter:
    """Owns a session folder while recording: streams, events, and the recorder's report."""

    def __init__(self, root: Path, compress: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.compress = dict(compress or {})  # stream id -> codec (config: [recorder.compress])
        if not (self.root / "manifest.json").exists():
            raise NotASessionError(f"{self.root}: no manifest.json (the supervisor creates it first)")
        (self.root / "streams").mkdir(exist_ok=True)
        self.streams: dict[str, StreamWriter] = {}
        self._events = open(self.root / "events.jsonl", "a", encoding="utf-8", buffering=1 << 16)
        self.events = 0
        # fdatasync runs here, beside the recording thread, one flush interval at a time
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="mestudio-sync")
        self._syncing: Future | None = None

    def stream(self, stream_id: str, dtype: str, shape: tuple, pixel_format: str) -> StreamWriter:
        w = self.streams.get(stream_id)
        if w is None:
            folder = stream_folder(self.root, stream_id)
            codec = self.compress.get(stream_id)
            w = self.streams[stream_id] = StreamWriter(folder, stream_id, dtype, shape, pixel_format, codec)
        return w

    def event(self, record: dict) -> None:
        self._events.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self.events += 1

    def flush(self, wait: bool = True) -> None:
        """Sync every stream and the events.  ``wait=False`` (the recorder's periodic flush)
        returns once the frames are with the kernel and syncs them in the background; the
        previous interval's sync is waited for first, so at most one is ever in flight and an
        error in it (a full disk) is raised here, one flush later."""
        try:
            self._wait_sync()
            jobs = [w.stage() for w in self.streams.values()]
            self._events.flush()
            events_fd = self._events.fileno()

            def sync() -> None:
                for job in jobs:
                    job()
                os.fdatasync(events_fd)

            self._syncing = self._syncer.submit(sync)
            if wait:
                self._wait_sync()
        except OSError as e:
            if _is_disk_full(e):
                raise DiskFullError(f"{self.root}: disk full while recording ({e.strerror})") from e
            raise

    def _wait_sync(self) -> None:
        pending, self._syncing = self._syncing, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self._wait_sync()
        except OSError:
            pass  # disk full in the last sync: repair() trims the torn tail
        self._syncer.shutdown(wait=True)
        for w in self.streams.values():
            w.close()
        try:
            self._events.close()
        except OSError:
            pass


# -- reading -----------------------------------------------------------------------------------


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

    def checksum_mismatches(self) -> list[int]:
        """Sequence numbers of frames whose bytes no longer match their CRC32C (none for v1)."""
        if not self.has_checksums or not len(self.index):
            return []
        mm = self._memmap()
        bad = []
        for rec in self.index:
            o, n = int(rec["offset"]), int(rec["nbytes"])
            if crc32c.crc32c(mm[o : o + n].data) != int(rec["crc32c"]):
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
