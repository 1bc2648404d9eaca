"""How the analyzer's events on a synthetic session compare with the face rig's script.

``compare_with_script(session_dir)`` takes the analyzer events recorded in the session (topic
results/analyzer in events.jsonl) or, when the session has none, runs the analyzer over the
recording; it returns spotting F1 (MEGC protocol) and AU F1 with micro and macro apart, plus a
short text summary (``summary``) that the demo prints.  AU F1 is pooled over the AUs of the
matched events (a spotted interval matched to a scripted one), counting the study's eight
evaluated AUs (1, 2, 4, 6, 7, 12, 17, 45) and every AU the rig animates.

Times: analyzer events carry frame host times in seconds; the script's times are seconds after
its ``epoch_host_ns`` on the same clock.  Only script events inside the analysed span count, less
the analyzer's warm-up at the start (it learns the participant's quiet face first) and its
latency at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

from mestudio.analysis.emotion import emotion_from_aus
from mestudio.analysis.evaluation.groundtruth import read_face_script
from mestudio.analysis.evaluation.megc import KINDS, Counts, match, spotting_scores
from mestudio.stream import messages

RESULTS_TOPIC = messages.RESULTS_ANALYZER
EVALUATED_AUS = (1, 2, 4, 6, 7, 12, 17, 45)  # the study's eight evaluated AUs (its Table 5)
WARMUP_S = 2.0
END_MARGIN_S = 1.5


def recorded_results(session_dir: str | Path) -> list[dict]:
    """Bodies of the analyzer's messages recorded in events.jsonl, in order."""
    p = Path(session_dir) / "events.jsonl"
    out = []
    if p.is_file():
        for line in p.read_bytes().splitlines():
            try:
                rec = json.loads(line.decode("utf-8"))
            except ValueError:
                continue  # a torn last line after a crash, or a garbled one (verify counts them)
            if isinstance(rec, dict) and rec.get("topic") == RESULTS_TOPIC and isinstance(rec.get("body"), dict):
                out.append(rec["body"])
    return out


def compare_events(events: list[dict], span: tuple[float, float], script_dir: str | Path) -> dict:
    """Compare analyzer ``events`` (host seconds) with the script in ``script_dir`` over ``span``."""
    truth_all, header = read_face_script(script_dir)
    # the study's eight evaluated AUs and every AU the rig animates (14 and 15 among them)
    scored_aus = sorted(set(EVALUATED_AUS) | {int(a) for a in header.get("aus", [])})
    epoch = (header.get("epoch_host_ns") or 0) / 1e9
    lo, hi = span[0] - epoch + WARMUP_S, span[1] - epoch - END_MARGIN_S
    truth = [t for t in truth_all if t.kind in KINDS and t.start >= lo and t.end <= hi]
    pred = [
        e
        for e in events
        if e.get("type") == "event"
        and e.get("kind") in KINDS
        and e["onset_s"] - epoch >= lo - 0.5
        and e["offset_s"] - epoch <= hi + 0.5
    ]
    p_iv = [(e["onset_s"] - epoch, e["offset_s"] - epoch, e["kind"]) for e in pred]
    t_iv = [(t.start, t.end, t.kind) for t in truth]
    spotting = spotting_scores([(p_iv, t_iv)])
    au: dict[str, dict] = {}
    emotion_agree = {k: [0, 0] for k in KINDS}
    for k in KINDS:
        pk = [e for e in pred if e["kind"] == k]
        tk = [t for t in truth if t.kind == k]
        _, pairs = match([(e["onset_s"] - epoch, e["offset_s"] - epoch) for e in pk], [(t.start, t.end) for t in tk])
        per_au = {a: Counts() for a in scored_aus}
        for i, j, _ in pairs:
            got, want = set(pk[i]["aus"]), set(tk[j].aus)
            for a in scored_aus:
                per_au[a] += Counts(
                    int(a in got and a in want), int(a in got and a not in want), int(a in want and a not in got)
                )
            emotion_agree[k][0] += emotion_from_aus(tk[j].aus).label == pk[i]["emotion"]
            emotion_agree[k][1] += 1
        pooled = Counts()
        for c in per_au.values():
            pooled += c
        seen = [a for a in scored_aus if per_au[a].tp + per_au[a].fn > 0]
        any_au = pooled.tp + pooled.fp + pooled.fn > 0
        au[k] = {
            "matched_events": len(pairs),
            "f1_pooled": round(pooled.f1, 4) if any_au else None,
            "f1_mean": round(sum(per_au[a].f1 for a in seen) / len(seen), 4) if seen else None,
            "per_au": {str(a): per_au[a].to_dict() for a in seen},
        }
    emotion = {k: (round(v[0] / v[1], 4) if v[1] else None) for k, v in emotion_agree.items()}
    result = {
        "span_s": [round(lo, 3), round(hi, 3)],
        "truth": {k: sum(t.kind == k for t in truth) for k in KINDS},
        "predicted": {k: sum(e["kind"] == k for e in pred) for k in KINDS},
        "blinks_reported": sum(e.get("kind") == "blink" for e in events if e.get("type") == "event"),
        "spotting": spotting,
        "au": au,
        "au_scored": scored_aus,
        "emotion_accuracy": emotion,
    }
    result["summary"] = summary(result)
    return result


def summary(r: dict) -> str:
    s, a = r["spotting"], r["au"]
    lines = [f"spotting vs script (MEGC, IoU >= 0.5), script time {r['span_s'][0]:.1f}-{r['span_s'][1]:.1f} s:"]
    for k in KINDS:
        c = s[k]
        f1_au = a[k]["f1_pooled"]
        f1 = f"{c['f1']:.2f}" if c["tp"] + c["fp"] + c["fn"] else "n/a"
        lines.append(
            f"  {k:5s}: F1 {f1} (TP {c['tp']}, FP {c['fp']}, FN {c['fn']}); AU F1 "
            + (f"{f1_au:.2f} over {a[k]['matched_events']} matched events" if f1_au is not None else "n/a")
        )
    lines.append(f"  overall F1 {s['overall']['f1']:.2f}; blinks recognised as such: {r['blinks_reported']}")
    return "\n".join(lines)


def compare_with_script(session_dir: str | Path) -> dict:
    """Spotting F1 and AU F1 (micro and macro apart) of a synthetic session, with ``summary``.

    Uses the events the live analyzer recorded; runs the analyzer over the recording when the
    session has none."""
    from mestudio.analysis.analyzer.offline import analyze_session  # the analyzer needs mediapipe: import late

    session_dir = Path(session_dir)
    bodies = recorded_results(session_dir)
    events = [b for b in bodies if b.get("type") == "event"]
    source = "live"
    span = _span(bodies)
    if not bodies:
        report = analyze_session(session_dir)
        events, span, source = report["events"], (report["first_t"], report["last_t"]), "offline"
    result = compare_events(events, span, session_dir)
    result["source"] = source
    result["summary"] = f"[{source} analyzer events] " + result["summary"]
    return result


def _span(bodies: list[dict]) -> tuple[float, float]:
    ts = [t for b in bodies if b.get("type") == "trace" for t in b.get("t", [])]
    return (min(ts), max(ts)) if ts else (0.0, 0.0)
