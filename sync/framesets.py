"""Frame sets: the frames of all streams that belong to one instant.

The instants are the frames of a reference stream (the triggered 60 Hz camera, or the first
60 Hz stream), including the ones it dropped: their instants are placed by the reference's own
counter and its column is marked missing.  Every other stream contributes its nearest frame
within a tolerance or is marked missing (-1); nothing is filled in silently.  The default
tolerance is half the longer of the two frame periods: a 30 Hz stream then contributes, to each
60 Hz instant, the frame whose interval covers it, and a dropped frame shows as missing.
``FrameSetBuilder`` does the same live, emitting a set once every stream has moved
past its instant (or a deadline has passed, and then the late streams are marked missing).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MISSING = -1


@dataclass
class FrameSets:
    reference: str
    time_ns: np.ndarray  # instant of each set (session host timeline)
    seq: dict[str, np.ndarray]  # stream -> seq of its frame in each set, MISSING where none
    dt_ns: dict[str, np.ndarray]  # stream -> its frame time minus the instant (0 where missing)

    def __len__(self) -> int:
        return len(self.time_ns)

    def summary(self) -> dict:
        return {
            "reference": self.reference,
            "sets": len(self),
            "complete": int(np.sum(np.all(np.stack([s != MISSING for s in self.seq.values()]), axis=0)))
            if self.seq
            else 0,
            "missing": {k: int(np.sum(v == MISSING)) for k, v in self.seq.items()},
            "max_abs_dt_ms": {
                k: round(float(np.max(np.abs(self.dt_ns[k]))) / 1e6, 4) if len(self) else 0.0 for k in self.seq
            },
        }

    def write_csv(self, path: Path, t0_ns: int = 0) -> Path:
        """One row per set: time, then each stream's seq (-1 = missing) and its offset in us."""
        path.parent.mkdir(parents=True, exist_ok=True)
        names = list(self.seq)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["set", "time_ns", "session_time_s"] + [c for n in names for c in (f"{n}_seq", f"{n}_dt_us")])
            cols = [(self.seq[n].tolist(), np.round(self.dt_ns[n] / 1e3, 1).tolist()) for n in names]
            for i, t in enumerate(self.time_ns.tolist()):
                row = [i, t, f"{(t - t0_ns) / 1e9:.6f}"]
                for s, d in cols:
                    row += [s[i], d[i] if s[i] != MISSING else ""]
                w.writerow(row)
        return path


def reference_instants(seq: np.ndarray, corrected_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seq, time) of every expected reference frame, dropped ones placed by the counter."""
    seq = np.asarray(seq, np.int64)
    t = np.asarray(corrected_ns, np.float64)
    out_s, out_t = [], []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(seq) <= 0) + 1, [len(seq)]])  # counter resets
    for a, b in zip(starts[:-1], starts[1:]):
        full = np.arange(seq[a], seq[b - 1] + 1)
        out_s.append(full)
        out_t.append(np.interp(full, seq[a:b], t[a:b]) if b - a > 1 else t[a:b])
    return np.concatenate(out_s), np.rint(np.concatenate(out_t)).astype(np.int64)


def build(
    streams: dict[str, tuple[np.ndarray, np.ndarray]], reference: str, tolerance_ns: float | None = None
) -> FrameSets:
    """Offline frame sets from ``{stream: (seq, corrected_ns)}``."""
    rseq, rtime = reference_instants(*streams[reference])
    ref_period = float(np.median(np.diff(rtime))) if len(rtime) > 1 else 2e7
    present = set(np.asarray(streams[reference][0]).tolist())
    seqs = {reference: np.where(np.isin(rseq, list(present)), rseq, MISSING)}
    dts = {reference: np.zeros(len(rseq), np.int64)}
    for name, (seq, t) in streams.items():
        if name == reference:
            continue
        seq = np.asarray(seq, np.int64)
        t = np.asarray(t, np.int64)
        order = np.argsort(t, kind="stable")
        ts, ss = t[order], seq[order]
        if len(ts) == 0:
            seqs[name] = np.full(len(rtime), MISSING)
            dts[name] = np.zeros(len(rtime), np.int64)
            continue
        j = np.clip(np.searchsorted(ts, rtime), 1, len(ts) - 1) if len(ts) > 1 else np.zeros(len(rtime), np.int64)
        if len(ts) > 1:
            j = np.where(np.abs(ts[j - 1] - rtime) <= np.abs(ts[j] - rtime), j - 1, j)
        dt = ts[j] - rtime
        own = float(np.median(np.diff(ts))) if len(ts) > 1 else ref_period
        tol = tolerance_ns if tolerance_ns is not None else 0.5 * max(ref_period, own)
        ok = np.abs(dt) <= tol
        seqs[name] = np.where(ok, ss[j], MISSING)
        dts[name] = np.where(ok, dt, 0)
    return FrameSets(reference, rtime, seqs, dts)


@dataclass
class FrameSetBuilder:
    """Live frame sets: feed corrected frame times, take sets whose instant is settled."""

    reference: str
    streams: list[str]
    tolerance_ns: dict[str, float]  # per stream
    deadline_ns: float = 200e6  # a set waits at most this long for late streams
    _pending: list = field(default_factory=list)  # [instant_ns, ref_seq]
    _recent: dict = field(default_factory=dict)  # stream -> list of (t, seq), time-ordered
    _latest: dict = field(default_factory=dict)  # stream -> newest corrected time seen

    def add(self, stream: str, seq: int, t_ns: int) -> None:
        if stream == self.reference:
            self._pending.append((t_ns, seq))
        buf = self._recent.setdefault(stream, [])
        buf.append((t_ns, seq))
        if len(buf) > 128:  # 2 s at 60 Hz: far more than the deadline
            del buf[:64]
        self._latest[stream] = max(t_ns, self._latest.get(stream, t_ns))

    def take(self, now_ns: int) -> list[dict]:
        """Sets that are complete (every stream is past instant + tolerance) or past the deadline."""
        out = []
        while self._pending:
            inst, rseq = self._pending[0]
            settled = all(self._latest.get(s, -np.inf) > inst + self.tolerance_ns[s] for s in self.streams)
            if not settled and now_ns - inst < self.deadline_ns:
                break
            self._pending.pop(0)
            entry: dict = {"time_ns": int(inst), "frames": {}}
            for s in self.streams:
                best = None
                for t, q in self._recent.get(s, ()):
                    if abs(t - inst) <= self.tolerance_ns[s] and (best is None or abs(t - inst) < abs(best[0] - inst)):
                        best = (t, q)
                entry["frames"][s] = MISSING if best is None else int(best[1])
            out.append(entry)
        return out
