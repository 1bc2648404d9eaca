"""Label-book readers, one per format behind one base class with one method to implement."""

from __future__ import annotations

import abc
import re
from pathlib import Path
from typing import ClassVar

from mestudio.analysis.datasets.aus import parse_aus
from mestudio.analysis.datasets.errors import LabelBookError
from mestudio.analysis.datasets.samples import LabelBook, Sample, study_emotion


def _int(v: object) -> int | None:
    try:
        f = float(str(v).strip())
    except ValueError:
        return None
    return None if f != f else int(f)  # NaN -> None


def _str(v: object) -> str:
    s = "" if v is None else str(v).strip()
    return "" if s.lower() == "nan" else s


def _need(path: Path, columns, wanted: list[str], fmt: str) -> None:
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise LabelBookError(
            f"{path}: not a {fmt} label book (missing columns {missing}); check the file or pick the right --dataset"
        )


class LabelBookReader(abc.ABC):
    """Base: subclasses set NAME and implement `_read(path) -> list[Sample]`."""

    NAME: ClassVar[str] = ""

    def read(self, path: str | Path) -> LabelBook:
        p = Path(path)
        if not p.is_file():
            raise LabelBookError(f"{p}: no such label book; give the path to the {self.NAME} file")
        try:
            samples = self._read(p)
        except LabelBookError:
            raise
        except (ValueError, KeyError, OSError) as e:
            raise LabelBookError(f"{p}: cannot read as a {self.NAME} label book ({e})") from e
        return LabelBook(samples, p)

    @abc.abstractmethod
    def _read(self, path: Path) -> list[Sample]:
        """The samples of the file at ``path`` (a LabelBookError names what is wrong)."""


class Casme2Reader(LabelBookReader):
    """CASME II coding sheet: Subject, Filename, Onset/Apex/OffsetFrame, Action Units, Estimated Emotion."""

    NAME = "casme2"

    def _read(self, path: Path) -> list[Sample]:
        import pandas as pd

        df = pd.read_excel(path, dtype=str)
        _need(
            path,
            df.columns,
            ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"],
            "CASME II",
        )
        out = []
        for r in df.to_dict("records"):
            if not _str(r["Subject"]):
                continue
            emo = study_emotion(r["Estimated Emotion"])
            out.append(
                Sample(
                    "casme2",
                    _str(r["Subject"]).zfill(2),
                    _str(r["Filename"]),
                    _int(r["OnsetFrame"]),
                    _int(r["ApexFrame"]),
                    _int(r["OffsetFrame"]),
                    parse_aus(r["Action Units"]),
                    (emo,) if emo else (),
                    _str(r["Estimated Emotion"]),
                    extra={"objective_class": _str(r.get("Objective Classes"))},
                )
            )
        return out


class SammReader(LabelBookReader):
    """SAMM FACS codes: a free-text preamble, then the header row starting with "Subject"."""

    NAME = "samm"

    def _read(self, path: Path) -> list[Sample]:
        import pandas as pd

        raw = pd.read_excel(path, header=None, dtype=str)
        first = raw.iloc[:, 0].astype(str).str.strip()
        rows = [i for i, v in enumerate(first) if v == "Subject"]
        if not rows:
            raise LabelBookError(
                f"{path}: no header row starting with 'Subject' found; is this the SAMM .xlsx (sheet MICRO_ONLY)?"
            )
        df = raw.iloc[rows[0] + 1 :].copy()
        df.columns = [_str(c) for c in raw.iloc[rows[0]]]
        _need(
            path,
            df.columns,
            ["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Action Units", "Estimated Emotion"],
            "SAMM",
        )
        out = []
        for r in df.to_dict("records"):
            subj = _str(r["Subject"])
            if not subj:
                continue
            emo = study_emotion(r["Estimated Emotion"])
            micro = _str(r.get("Micro", "")).lower()
            out.append(
                Sample(
                    "samm",
                    subj.zfill(3),
                    _str(r["Filename"]),
                    _int(r["Onset Frame"]),
                    _int(r["Apex Frame"]),
                    _int(r["Offset Frame"]),
                    parse_aus(r["Action Units"]),
                    (emo,) if emo else (),
                    _str(r["Estimated Emotion"]),
                    kind="macro" if micro.startswith("macro") else "micro",
                    extra={"objective_class": _str(r.get("Objective Classes")), "notes": _str(r.get("Notes"))},
                )
            )
        return out


class FourDMEReader(LabelBookReader):
    """The 4DME label book (.xlsx or .csv): subject, clip, onset, apex, offset, AUs, emotion(s).

    Emotions come as one column with the study's codes ("P", "PS", "N+S", "Positive") or as two
    columns (Emotion1, Emotion2); at most two per clip (rule 3). A "Type" column (micro/macro)
    is kept when present.
    """

    NAME = "4dme"
    _CODES = {"P": "Positive", "N": "Negative", "S": "Surprise", "R": "Repression", "OT": "Others"}

    @classmethod
    def _emotions(cls, cells: list[str]) -> tuple[str, ...]:
        out: list[str] = []
        for cell in cells:
            cell = cell.strip()
            if not cell:
                continue
            parts = re.split(r"[+,/&]|\s+", cell)
            if len(parts) == 1 and cell.upper() not in cls._CODES and re.fullmatch(r"[PNSR]{2}", cell.upper()):
                parts = list(cell.upper())  # "PS" -> P + S
            for p in parts:
                p = p.strip()
                if not p:
                    continue
                e = cls._CODES.get(p.upper()) or study_emotion(p)
                if e and e not in out:
                    out.append(e)
        if len(out) > 2:
            raise LabelBookError(f"more than two emotions {out} in one clip; 4DME allows at most two")
        return tuple(out)

    def _read(self, path: Path) -> list[Sample]:
        import pandas as pd

        df = pd.read_csv(path, dtype=str) if path.suffix.lower() == ".csv" else pd.read_excel(path, dtype=str)
        cols = {re.sub(r"[\s_]", "", str(c)).lower(): c for c in df.columns}

        def col(*names: str) -> str | None:
            return next((cols[n] for n in names if n in cols), None)

        subj, clip = col("subject", "participant"), col("clip", "filename", "clipname")
        on, ap, off = col("onset", "onsetframe"), col("apex", "apexframe"), col("offset", "offsetframe")
        aus = col("aus", "actionunits", "au")
        emos = [c for c in (col("emotion", "emotions", "emotion1"), col("emotion2")) if c]
        if None in (subj, clip, on, off, aus) or not emos:
            raise LabelBookError(
                f"{path}: not a 4DME label book (need Subject, Clip, Onset, Apex, "
                f"Offset, AUs, Emotion columns; found {list(df.columns)})"
            )
        typ = col("type", "micro", "kind")
        out = []
        for r in df.to_dict("records"):
            if not _str(r[subj]):
                continue
            cells = [_str(r[c]) for c in emos]
            kind = _str(r[typ]).lower() if typ else "micro"
            out.append(
                Sample(
                    "4dme",
                    _str(r[subj]),
                    _str(r[clip]),
                    _int(r[on]),
                    _int(r[ap]) if ap else None,
                    _int(r[off]),
                    parse_aus(r[aus]),
                    self._emotions(cells),
                    "+".join(c for c in cells if c),
                    kind="macro" if kind.startswith("macro") else "micro",
                )
            )
        return out


class MegcCompositeReader(LabelBookReader):
    """MEGC 2019 composite: no header; dataset, subject, filename, label (0 neg, 1 pos, 2 surprise)."""

    NAME = "megc"
    LABELS = {0: "Negative", 1: "Positive", 2: "Surprise"}

    def _read(self, path: Path) -> list[Sample]:
        import pandas as pd

        df = pd.read_csv(path, header=None, dtype=str)
        if df.shape[1] != 4:
            raise LabelBookError(f"{path}: expected 4 columns (dataset, subject, filename, label), found {df.shape[1]}")
        out = []
        for ds, subj, clip, lab in df.itertuples(index=False):
            code = _int(lab)
            if code not in self.LABELS:
                raise LabelBookError(f"{path}: label {lab!r} for {clip} is not 0, 1 or 2")
            out.append(
                Sample(_str(ds).lower(), _str(subj), _str(clip), emotions=(self.LABELS[code],), raw_emotion=str(code))
            )
        return out


class SpottingReader(LabelBookReader):
    """Spotting ground truth on long videos (LGSNet layout): subject, video, type, type_idx,
    startFrame, endFrame, frame_num, length. One sample per interval; no AU or emotion labels."""

    NAME = "spotting"

    def _read(self, path: Path) -> list[Sample]:
        import pandas as pd

        df = pd.read_csv(path, dtype=str)
        _need(path, df.columns, ["subject", "video", "type", "startFrame", "endFrame"], "spotting")
        out = []
        for i, r in enumerate(df.to_dict("records")):
            video = _str(r["video"]).rstrip("/")
            typ = _str(r["type"]).lower()
            out.append(
                Sample(
                    path.stem,
                    _str(r["subject"]),
                    f"{Path(video).name}#{i}",
                    _int(r["startFrame"]),
                    None,
                    _int(r["endFrame"]),
                    video=video,
                    kind="macro" if typ.startswith("macro") else "micro",
                    extra={"frame_num": _int(r.get("frame_num"))},
                )
            )
        return out


READERS: dict[str, type[LabelBookReader]] = {
    r.NAME: r for r in (Casme2Reader, SammReader, FourDMEReader, MegcCompositeReader, SpottingReader)
}


def read_label_book(path: str | Path, fmt: str) -> LabelBook:
    """Read ``path`` as label-book format ``fmt`` (one of READERS)."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise LabelBookError(f"unknown label-book format {fmt!r}; use one of {sorted(READERS)}") from None
    return reader().read(path)
