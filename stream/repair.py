"""Repair of a session folder whose recorder was cut short.

Repair only trims what a crash can leave torn (a partial index record, index records at the end
whose frame never reached the disk, frame bytes after the last record, a partial last line of
events.jsonl).  It never deletes a frame whose bytes are intact: an index record that contradicts
the append-only layout (garbled) is moved to ``index.quarantine.bin`` and reported, the frames
around it stay.  What it did is written to ``repair.json``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from pathlib import Path

import numpy as np

from mestudio.stream.errors import SessionError
from mestudio.stream.live import pid_alive
from mestudio.stream.session import RESERVE, index_dtype, write_json_atomic
from mestudio.stream.session_reader import SessionReader, write_timestamps_csv
from mestudio.stream.stream_checks import MAX_SEQS_LISTED

QUARANTINE = "index.quarantine.bin"


def _frame_bytes(folder: Path) -> tuple[np.dtype, int]:
    """The index layout and every frame's size (0: encoded, each packet its own size)."""
    info = json.loads((folder / "info.json").read_bytes().decode("utf-8"))
    fb = 0 if info.get("codec") else np.dtype(info["dtype"]).itemsize * math.prod(info["shape"])
    return index_dtype(info), fb


def repair_stream(folder: Path) -> dict:
    """Trim one stream's torn tail and quarantine garbled records; returns what it did."""
    data_p, index_p = folder / "frames.bin", folder / "index.bin"
    try:
        rec_dtype, fb = _frame_bytes(folder)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SessionError(f"{folder / 'info.json'}: cannot repair without a readable stream info ({e})") from None
    trimmed: dict = {}
    data_size = data_p.stat().st_size if data_p.exists() else 0
    raw = index_p.read_bytes() if index_p.exists() else b""
    whole = len(raw) // rec_dtype.itemsize
    if len(raw) % rec_dtype.itemsize:
        trimmed["partial_index_bytes"] = len(raw) % rec_dtype.itemsize
    idx = np.frombuffer(raw[: whole * rec_dtype.itemsize], rec_dtype)
    offsets = idx["offset"].astype(np.uint64)
    ends = offsets + idx["nbytes"].astype(np.uint64)
    # the torn tail: the last records whose frame never (fully) reached the disk
    keep = whole
    while keep and int(ends[keep - 1]) > data_size:
        keep -= 1
    if keep < whole:
        trimmed["index_records_without_data"] = whole - keep
    # an intact record has the frame size, lies inside frames.bin, and its offset is one of a
    # strictly increasing run (one writer appends); the rest contradict the layout: garbled
    fits = ((idx["nbytes"][:keep] == fb) if fb else (idx["nbytes"][:keep] > 0)) & (ends[:keep] <= data_size)
    if fb:
        fits &= (offsets[:keep] % np.uint64(fb)) == (np.uint64(int(np.median(offsets[:keep] % fb))) if keep else 0)
    consistent = _increasing_run(offsets[:keep], fits)
    garbled = np.flatnonzero(~consistent)
    if garbled.size:
        with open(folder / QUARANTINE, "ab") as q:
            q.write(idx[garbled].tobytes())
        trimmed["quarantined_records"] = [int(i) for i in garbled[:MAX_SEQS_LISTED]]
        trimmed["quarantined"] = int(garbled.size)
    kept = idx[:keep][consistent]
    if kept.nbytes != len(raw):
        tmp = index_p.with_name(index_p.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(kept.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, index_p)
    # frame bytes after the last record are torn, except those of quarantined records after it
    last = int(np.flatnonzero(consistent)[-1]) if consistent.any() else -1
    end = (int(ends[last]) if last >= 0 else 0) + fb * (keep - 1 - last)
    if data_size > end:
        trimmed["frame_bytes_without_index"] = data_size - end
        with open(data_p, "r+b") as f:
            f.truncate(end)
    return trimmed


def _increasing_run(offsets: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Mask of the longest strictly increasing subsequence of ``offsets`` among ``candidates``."""
    n = len(offsets)
    keep = np.zeros(n, bool)
    cand = np.flatnonzero(candidates)
    if not len(cand):
        return keep
    if np.all(np.diff(offsets[cand].astype(np.float64)) > 0):  # the common case: nothing garbled
        keep[cand] = True
        return keep
    tails: list[int] = []  # patience sorting: tails[k] = smallest last offset of a run of length k+1
    tail_at: list[int] = []
    prev = np.full(n, -1, np.int64)
    for i in cand.tolist():
        o = int(offsets[i])
        k = bisect.bisect_left(tails, o)
        if k == len(tails):
            tails.append(o)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = o, i
        prev[i] = tail_at[k - 1] if k else -1
    i = tail_at[-1]
    while i >= 0:
        keep[i] = True
        i = int(prev[i])
    return keep


def repair_events(path: Path) -> int:
    """Cut a partial last line; returns the bytes removed."""
    if not path.exists():
        return 0
    raw = path.read_bytes()
    if not raw or raw.endswith(b"\n"):
        return 0
    cut = raw.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(cut)
    return len(raw) - cut


def needs_repair(reader: SessionReader) -> bool:
    return reader.manifest.get("status") in ("recording", "failed") or not (reader.root / "recorder.json").exists()


def repair(root: Path) -> dict:
    """Make a cut-short session readable again; refuses while it is still being recorded."""
    reader = SessionReader(root)
    pid = reader.manifest.get("supervisor_pid")
    if (
        reader.manifest.get("status") == "recording"
        and isinstance(pid, int)
        and pid > 0
        and pid_alive(pid)
        and pid != os.getpid()
    ):
        raise SessionError(f"{root}: still being recorded (supervisor pid {pid}); verify it after it stops")
    done: dict = {}
    (root / RESERVE).unlink(missing_ok=True)  # a killed recorder's reserve is no data
    for sid in reader.stream_ids():
        try:
            t = repair_stream(root / "streams" / sid)
        except SessionError as e:
            done[sid] = {"error": str(e)}
            continue
        except OSError as e:  # e.g. the disk is still full
            done[sid] = {"error": f"could not repair: {e.strerror or e}"}
            continue
        if t:
            done[sid] = t
    ev = repair_events(root / "events.jsonl")
    if ev:
        done["events.jsonl"] = {"partial_line_bytes": ev}
    write_timestamps(reader, only_missing=False)
    if done or reader.manifest.get("status") == "recording":
        try:
            _record_repair(root, reader.manifest, done)
        except OSError as e:
            raise SessionError(f"{root}: could not write the repair's record ({e.strerror or e})") from None
    return done


def _record_repair(root: Path, manifest: dict, done: dict) -> None:
    """repair.json, and the manifest marked repaired (a session cut short says so)."""
    write_json_atomic(root / "repair.json", {"trimmed": done, "status_before": manifest.get("status")})
    manifest = dict(manifest)
    if manifest.get("status") == "recording":
        manifest["status"] = "repaired"
        listed = manifest.get("problems")
        problems = listed if isinstance(listed, list) else []
        manifest["problems"] = [*problems, "recording was cut short (no clean stop); repaired by verify"]
    manifest["repaired"] = done
    write_json_atomic(root / "manifest.json", manifest)


def write_timestamps(reader: SessionReader, only_missing: bool) -> None:
    """Each stream's timestamps.csv (derived data a crash, or an older recorder, may not have written)."""
    t0 = reader.manifest.get("t0_host_ns", 0)
    t0 = int(t0) if isinstance(t0, int) else 0
    for sid in reader.stream_ids():
        if only_missing and (reader.root / "streams" / sid / "timestamps.csv").exists():
            continue
        try:
            write_timestamps_csv(reader.stream(sid), t0)
        except SessionError:
            pass  # verify reports the unreadable stream
