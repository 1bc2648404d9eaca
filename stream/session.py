"""The session folder's format: its layout, the index record, and the helpers both sides share.

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
Writing is stream/session_writer.py, reading stream/session_reader.py, repairing stream/repair.py.
"""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path
from typing import Any

import crc32c
import numpy as np

from mestudio.stream.errors import SessionError
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
INDEX_RECORD = struct.Struct("<QqqqQQII")
assert INDEX_RECORD.size == INDEX_DTYPE.itemsize


def index_dtype(info: dict) -> np.dtype:
    """The record layout of a stream's index.bin, from its info.json (absent: version 1)."""
    v = info.get("index_version", 1)
    if v not in INDEX_DTYPES:
        raise SessionError(
            f"stream {info.get('stream_id')!r}: index_version {v!r}, this mestudio reads {sorted(INDEX_DTYPES)}"
        )
    return INDEX_DTYPES[v]


def frame_checksum(payload: Any) -> int:
    """The CRC32C (Castagnoli) of a frame's bytes, as its index record carries it."""
    return crc32c.crc32c(payload)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` so that a reader sees the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def stream_folder(root: Path, stream_id: str) -> Path:
    """streams/<id>: the id is checked again here, so no message can name a path outside it."""
    check_stream_id(stream_id)
    base = (Path(root) / "streams").resolve()
    folder = (base / stream_id).resolve()
    if folder.parent != base:
        raise SessionError(f"stream id {stream_id!r} would leave {base}")
    return folder
