"""The sync report of a recorded session: clock models, triggers, chirps, frame sets.

``build_report(session_dir)`` reads only the session folder (raw timestamps are never changed),
fits every stream's clock, places triggered frames on the audio sample clock, finds the sync
chirps in the audio track, groups frames into sets, and writes

    <session>/sync/report.json           the figures below
    <session>/sync/framesets.csv         one row per instant (seq -1 = missing)
    <session>/sync/timestamps/<id>.csv   seq, device/host/corrected time, segment per frame

Rerunning it replaces those files and nothing else.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from mestudio.config.schema import SessionConfig
from mestudio.stream import messages
from mestudio.stream.session import NO_DEVICE_TIME, write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.sync import framesets
from mestudio.sync.audio_track import AudioTrack, is_audio, read_track
from mestudio.sync.chirp import ChirpSpec, detect
from mestudio.sync.clock import StreamFit, fit_stream
from mestudio.sync.errors import NotEnoughDataError
from mestudio.sync.settings import SyncSettings, load_sync_settings


def _settings(reader: SessionReader) -> tuple[SyncSettings, SessionConfig | None]:
    cfg_json = reader.manifest.get("config")
    try:
        cfg = SessionConfig.model_validate(cfg_json) if cfg_json else None
    except ValueError:
        cfg = None  # a manifest from another version: sync what the folder holds anyway
    section = (cfg_json or {}).get("sync", {}) if isinstance(cfg_json, dict) else {}
    return load_sync_settings(section, str(reader.root / "manifest.json")), cfg


def host_offsets(events: list[dict], st: SyncSettings) -> dict[str, int]:
    """stream id -> ns to add to its host times (streams stamped by another host's clock).

    Each estimate is one NTP-like exchange; the one with the lowest round trip is the best.
    """
    best: dict[str, dict] = {}
    for e in events:
        b = e.get("body") or {}
        if e.get("topic") == messages.SYNC_HOST_OFFSET and "offset_ns" in b:
            if b["host"] not in best or b["rtt_ns"] < best[b["host"]]["rtt_ns"]:
                best[b["host"]] = b
    out = {}
    for host, sids in st.remote_streams.items():
        if host not in best:
            raise NotEnoughDataError(
                f"[sync] remote_streams names {host}, but the session has no clock offset "
                f"for it (was it in [sync] hosts and its time server running?)"
            )
        for sid in sids:
            out[sid] = int(best[host]["offset_ns"])
    return out


def fit_session_stream(reader: SessionReader, sid: str, window_s: float, host_offset_ns: int = 0) -> StreamFit | None:
    sr = reader.stream(sid)
    idx = sr.index
    if len(idx) < 2:
        return None
    dev = idx["device_time_ns"]
    has_dev = bool(np.all(dev != NO_DEVICE_TIME))
    rate = float(sr.info.get("rate_hz") or 0) or 1e9 / float(np.median(np.diff(idx["host_time_ns"])))
    host = idx["host_time_ns"] + host_offset_ns  # another host's clock -> this host's
    if is_audio(sr.info):
        # a block reaches the host once its *last* sample is in, and its device time is its first
        host = host - int(round(1e9 / rate))
    return fit_stream(sid, idx["seq"], host, dev if has_dev else None, rate, window_s=window_s)


def _triggered_streams(cfg: SessionConfig | None) -> dict[str, str]:
    """stream id -> device name, for devices paced by software triggers."""
    out = {}
    for d in cfg.enabled_devices if cfg else []:
        if d.software_triggered:
            for sid in d.stream_ids():
                out[sid] = d.name
    return out


def _audio_time(track: AudioTrack, fit: StreamFit, sample: np.ndarray) -> np.ndarray:
    """Session host time of absolute audio sample indices, through the audio clock model."""
    return fit.at(track.device_time_ns(sample))


def _chirps(events: list[dict], track: AudioTrack, fit: StreamFit, st: SyncSettings) -> dict:
    spec = ChirpSpec(track.rate, st.chirp.f0_hz, st.chirp.f1_hz, st.chirp.duration_s, st.chirp.amplitude)
    found = detect(track.samples, spec, threshold=st.chirp.threshold)
    samples = np.array([track.first_sample + d.sample for d in found])
    times = _audio_time(track, fit, samples) if len(found) else np.zeros(0)
    requests = [e for e in events if e.get("topic") == messages.SYNC_CHIRP]
    matched = []
    for r in requests:
        want = float(r.get("body", {}).get("sample", -1))
        if len(samples):
            j = int(np.argmin(np.abs(samples - want)))
            err = float(samples[j] - want)
            if abs(err) <= track.rate * 0.5:  # an output path delays a chirp, never by seconds
                matched.append(
                    {
                        "requested_sample": want,
                        "found_sample": round(float(samples[j]), 3),
                        "error_samples": round(err, 3),
                        "reason": r.get("body", {}).get("reason", ""),
                    }
                )
                continue
        matched.append({"requested_sample": want, "found_sample": None, "reason": r.get("body", {}).get("reason", "")})
    return {
        "detected": [
            {"sample": round(float(s), 3), "time_ns": int(t), "score": round(d.score, 3)}
            for s, t, d in zip(samples, times, found)
        ],
        "requested": len(requests),
        "matched": sum(m["found_sample"] is not None for m in matched),
        "requests": matched,
    }


def _place_triggered(
    reader: SessionReader,
    sid: str,
    dev_name: str,
    fit: StreamFit,
    trig_events: list[dict],
    track: AudioTrack,
    audio_fit: StreamFit,
) -> tuple[np.ndarray, dict]:
    """Corrected times of a triggered stream's frames: each at its trigger's audio sample.

    Frame counters do not all start where the triggers do (some cameras count from 1, a frame may
    come from a trigger sent before recording): the shift between tick and seq is the one that
    puts the frames' own clock times closest to their triggers.
    """
    ticks = {
        int(e["body"]["tick"]): float(e["body"]["sample"])
        for e in trig_events
        if e["topic"] == messages.trigger_topic(dev_name)
    }
    # a trigger that left late exposed its frame late by as much
    late = {
        int(e["body"]["tick"]): int(e["body"].get("late_ns", 0))
        for e in trig_events
        if e["topic"] == messages.trigger_topic(dev_name)
    }
    seq = reader.stream(sid).index["seq"].astype(np.int64)
    corrected = fit.corrected_ns.copy()
    best: tuple = (np.inf, 0, np.zeros(len(seq), bool))
    for shift in range(-5, 6):
        have = np.array([q - shift in ticks for q in seq.tolist()], bool)
        if have.sum() < max(1, len(seq) // 2):
            continue
        samples = np.array([ticks[q - shift] for q in seq[have].tolist()])
        t = _audio_time(track, audio_fit, samples) + np.array([late[q - shift] for q in seq[have].tolist()])
        miss = float(np.median(np.abs(corrected[have] - t)))
        if miss < best[0]:
            best = (miss, shift, have, t)
    info = {"device": dev_name, "triggers_sent": len(ticks), "frames": int(len(seq))}
    if not np.isfinite(best[0]):
        return corrected, {
            **info,
            "frames_on_audio_clock": 0,
            "frames_without_trigger": int(len(seq)),
            "note": "no trigger events match this stream's frames: placed by its own clock",
        }
    miss, shift, have, t = best
    corrected[have] = np.rint(t).astype(np.int64)
    return corrected, {
        **info,
        "frames_on_audio_clock": int(have.sum()),
        "frames_without_trigger": int((~have).sum()),
        "seq_minus_tick": shift,
        "trigger_to_frame_ms": round(miss / 1e6, 3),
    }


def _write_timestamps(folder: Path, sid: str, reader: SessionReader, fit: StreamFit, t0: int) -> None:
    idx = reader.stream(sid).index
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{sid}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "device_time_ns", "host_time_ns", "corrected_ns", "session_time_s", "segment"])
        dev = idx["device_time_ns"]
        for q, d, h, c, g in zip(
            idx["seq"].tolist(),
            dev.tolist(),
            idx["host_time_ns"].tolist(),
            fit.corrected_ns.tolist(),
            fit.segment_of.tolist(),
        ):
            w.writerow([q, "" if d == NO_DEVICE_TIME else d, h, c, f"{(c - t0) / 1e9:.6f}", g])


def build_report(session_dir: str | Path, *, write: bool = True) -> dict:
    """Fit, detect, group and (by default) write the session's sync/ folder; returns the report."""
    started = time.perf_counter()
    reader = SessionReader(session_dir)
    st, cfg = _settings(reader)
    t0 = int(reader.manifest.get("t0_host_ns", 0))
    out = Path(session_dir) / "sync"
    fits: dict[str, StreamFit] = {}
    infos = {}
    events = reader.events()  # read once: triggers alone are 60 lines a second per device
    remote = host_offsets(events, st)
    skipped: list[str] = []  # streams with fewer than two frames: no clock to fit
    for sid in reader.stream_ids():
        fit = fit_session_stream(reader, sid, st.window_s, remote.get(sid, 0))
        infos[sid] = reader.stream(sid).info
        if fit is not None:
            fits[sid] = fit
        else:
            skipped.append(sid)
    if not fits:
        raise NotEnoughDataError(f"{session_dir}: no stream has two frames; nothing to synchronise")
    report: dict = {
        "source": "offline",
        "session": str(session_dir),
        "t0_host_ns": t0,
        "streams": {},
        "streams_too_short": skipped,
        "triggers": {},
    }
    # audio master: its sample clock places triggered frames and chirps
    audio_ids = [s for s in fits if is_audio(infos[s])]
    audio_id = st.audio if st.audio in fits else (audio_ids[0] if audio_ids else None)
    track = read_track(reader.stream(audio_id)) if audio_id else None
    corrected = {sid: f.corrected_ns for sid, f in fits.items()}
    if track is not None and audio_id is not None:
        trig_events = [e for e in events if e.get("topic", "").startswith(messages.TRIGGER)]
        for sid, dev_name in _triggered_streams(cfg).items():
            if sid in fits:
                corrected[sid], report["triggers"][sid] = _place_triggered(
                    reader, sid, dev_name, fits[sid], trig_events, track, fits[audio_id]
                )
        report["audio"] = {
            "stream": audio_id,
            "rate": track.rate,
            "block": track.block,
            "samples": int(len(track.samples)),
            "missing_blocks": track.missing_blocks,
        }
        report["chirps"] = _chirps(events, track, fits[audio_id], st)
    else:
        report["audio"] = None
        report["chirps"] = {
            "detected": [],
            "requested": 0,
            "matched": 0,
            "requests": [],
            "note": "no audio stream: nothing anchors the timeline to the sample clock",
        }
    for sid, f in fits.items():
        report["streams"][sid] = {
            **f.health(),
            "segments": [
                {
                    "start": s.start,
                    "stop": s.stop,
                    "offset_ms": round(float(s.offset_ns) / 1e6, 6),
                    "drift_ppm": round(-float(s.drift) * 1e6, 3),
                    "inherited_drift": s.inherited_drift,
                }
                for s in f.segments
            ],
        }
    ref = _reference(st, fits, infos, report["triggers"])
    tol = st.tolerance_ms * 1e6 if st.tolerance_ms > 0 else None
    sets = framesets.build({sid: (reader.stream(sid).index["seq"], corrected[sid]) for sid in fits}, ref, tol)
    report["framesets"] = sets.summary()
    report["host_offsets"] = [e["body"] for e in events if e.get("topic") == messages.SYNC_HOST_OFFSET]
    report["remote_streams"] = {sid: {"offset_ns": off} for sid, off in remote.items()}
    report["seconds"] = round(time.perf_counter() - started, 3)
    if write:
        out.mkdir(exist_ok=True)
        sets.write_csv(out / "framesets.csv", t0)
        for sid, f in fits.items():
            f.corrected_ns = corrected[sid]
            _write_timestamps(out / "timestamps", sid, reader, f, t0)
        write_json_atomic(out / "report.json", report)
    return report


def _reference(st: SyncSettings, fits: dict, infos: dict, triggered: dict) -> str:
    if st.reference:
        if st.reference not in fits:
            raise NotEnoughDataError(
                f"[sync] reference = {st.reference!r} is not a recorded stream (streams: {', '.join(fits)})"
            )
        return st.reference
    if triggered:
        return next(iter(triggered))
    # cameras first: an LSL signal or marker stream (media "signal"/"markers") is never the reference
    cameras = [s for s in fits if not is_audio(infos[s]) and infos[s].get("media") not in ("signal", "markers")]
    video = cameras or [s for s in fits if not is_audio(infos[s])] or list(fits)
    return max(video, key=lambda s: (float(infos[s].get("rate_hz") or 0), -video.index(s)))
