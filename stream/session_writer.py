"""Writing a session folder while recording: append-only streams, the events, and their syncs."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mestudio.stream.codec import FrameEncoder
from mestudio.stream.errors import DiskFullError, NotASessionError
from mestudio.stream.session import (
    INDEX_RECORD,
    INDEX_VERSION,
    NO_DEVICE_TIME,
    frame_checksum,
    is_disk_full,
    stream_folder,
    write_json_atomic,
)

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
        self._records += INDEX_RECORD.pack(
            seq,
            NO_DEVICE_TIME if device_time_ns is None else device_time_ns,
            host_time_ns,
            time.monotonic_ns() if recv_time_ns is None else recv_time_ns,
            self.offset,
            n,
            frame_checksum(payload),
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
            if is_disk_full(e):
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
