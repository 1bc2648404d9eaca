"""Frame sets of a session, as arrays per stream: what sync grouped, read from the session folder.

``sync/framesets.csv`` (written by ``mestudio sync`` or at the end of ``mestudio run``) has one row
per instant: ``set, time_ns, session_time_s`` then ``<stream>_seq`` (-1 when the stream has no
frame there) and ``<stream>_dt_us`` per stream.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.reconstruct.errors import MissingDataError
from mestudio.stream.session_reader import SessionReader


@dataclass
class FrameSet:
    index: int
    time_ns: int
    session_time_s: float
    seq: dict[str, int]  # stream -> frame seq (streams missing here are absent)


class SessionFrames:
    """Random access to the frames of a session's frame sets."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.reader = SessionReader(self.root)
        self._streams: dict = {}
        self._pos: dict[str, dict[int, int]] = {}

    def framesets(self, streams: list[str] | None = None) -> list[FrameSet]:
        path = self.root / "sync" / "framesets.csv"
        if not path.is_file():
            raise MissingDataError(f"{self.root}: no sync/framesets.csv; run `mestudio sync {self.root}` first")
        out = []
        with open(path, newline="") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if not header or header[:3] != ["set", "time_ns", "session_time_s"]:
                raise MissingDataError(f"{path}: not a frame-set table (header {header[:3] if header else None})")
            names = [h[: -len("_seq")] for h in header if h.endswith("_seq")]
            cols = {n: header.index(f"{n}_seq") for n in names}
            for r in rows:
                seq = {n: int(r[c]) for n, c in cols.items() if r[c] not in ("", "-1")}
                if streams is not None and not all(s in seq for s in streams):
                    continue
                out.append(FrameSet(int(r[0]), int(r[1]), float(r[2]), seq))
        return out

    def stream_info(self, stream: str) -> dict:
        return self._stream(stream).info

    def _stream(self, stream: str):
        if stream not in self._streams:
            s = self.reader.stream(stream)
            self._streams[stream] = s
            self._pos[stream] = {int(q): i for i, q in enumerate(s.index["seq"].tolist())}
        return self._streams[stream]

    def frame(self, stream: str, seq: int) -> np.ndarray:
        s = self._stream(stream)
        try:
            return np.asarray(s.frame(self._pos[stream][seq]))
        except KeyError:
            raise MissingDataError(f"{self.root}: stream {stream!r} has no frame {seq}") from None

    def device_time_ns(self, stream: str, seq: int) -> int:
        s = self._stream(stream)
        return int(s.index[self._pos[stream][seq]]["device_time_ns"])


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingDataError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise MissingDataError(f"{path}: not valid JSON ({e})") from None
