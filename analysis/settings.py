"""Typed model of the `[analyzer]` section of a session file (validated by the analyzer itself).

[analyzer]
enabled = true          # the supervisor starts the analyzer node
stream = "face"         # the grayscale face camera
method = "mdmd"         # spotting: "mdmd" (optical flow, MEGC 2020) or "lbp" (chi-squared, MEGC 2019)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mestudio.config.loader import validate


class AnalyzerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    stream: str = "face"
    method: Literal["mdmd", "lbp"] = "mdmd"
    # MDMD's head-to-tail flow: "composed" of the two head-to-current and current-to-tail flows
    # every frame computes anyway (one optical flow a frame per scale, half the spotting cost),
    # or "direct", a second flow a frame, as the MEGC 2020 baseline computes it
    mdmd_flow: Literal["composed", "direct"] = "composed"
    # micro scale: k = this many seconds (head/tail frame distance); latency k (mdmd) or 2k (lbp)
    micro_k_s: float = Field(0.2, gt=0, le=1.0)
    # macro scale: a second spotter with a longer k, run on every other frame
    macro_k_s: float = Field(1.0, gt=0, le=3.0)
    macro: bool = True
    # thresholds in robust standard deviations of the participant's own quiet score
    z_high: float = Field(6.0, gt=0)
    z_low: float = Field(2.0, gt=0)
    # quiet time the spotter learns the participant's face from before it reports anything
    warmup_s: float = Field(1.0, gt=0, le=30)
    macro_z_high: float = Field(8.0, gt=0)  # the macro scale sees slow drift too: a higher bar
    # AU: change at an interval's extreme, in noise units of the neutral baseline
    au_z: float = Field(4.5, gt=0)
    # 1: mediapipe follows the face it acquired (fastest: its detector runs only while no face is
    # tracked); 2+: the analyzer chooses among the faces found (the one it followed, else the
    # largest), but the detector then runs on every frame that shows fewer faces (~35% slower)
    max_faces: int = Field(1, ge=1, le=8)
    # a spotting-score trace message every this many seconds (frames batched, nothing dropped)
    trace_every_s: float = Field(0.1, gt=0)
    # learnt AU model from analysis.models (empty: the training-free landmark estimator)
    au_model: str = ""
    au_checkpoint: Path | None = None
    # frames the live analyzer may hold while it is behind before it counts them as a gap
    queue_frames: int = Field(600, ge=10)
    fps: float | None = Field(None, gt=0)  # override the stream's frame rate
    # mouth-only movements while the participant talks (voice activity on the microphone):
    # "suppress" sends them as "suppressed" messages instead of events (kept, counted, not
    # spotted), "mark" keeps them as events with a "speech" note, "off" ignores the microphone
    speech: Literal["off", "mark", "suppress"] = "suppress"
    speech_stream: str = ""  # the microphone's stream id (empty: the session's first audio stream)
    # a movement that turns the head more than this (degrees, 3D landmarks), or happens with the
    # head turned more than twice this from where it was when the face was acquired, is the
    # head's: sent as "suppressed" (kept, counted), not as an event; 0: off
    head_motion_deg: float = Field(8.0, ge=0)
    # measure the AUs on landmarks with the head's 3D rotation since acquisition taken out
    # (face/frontal.py, mediapipe's depth): less AU wander on a nodding, turning face (talking
    # clip: mean intensity summed over AUs -41 %), but mediapipe's depth follows a moving side
    # light (lighting clip: r against OpenFace 0.27 -> 0.10), so off unless the head moves a lot
    frontalize: bool = False
    # spotting fusion ("au"): a flow candidate that passes only a lower bar is an event when the
    # per-frame AU streams of the face region its strongest blocks lie in rise and fall inside it
    # by fusion_au_k of their own quiet-time spread (the AU estimator's own bar, au_z); the lower
    # bar is where the two cues, taken as independent z scores, reach the flow's own bar together
    # (Stouffer: (z_flow + z_au) / sqrt(2) >= z_high, so z_flow >= sqrt(2) z_high - fusion_au_k,
    # per scale); fusion_flow_f sets that bar as a fraction of z_high instead.  "off": the flow
    # alone, the MEGC baseline (docs/analyzer.md, "Spotting")
    fusion: Literal["off", "au"] = "off"  # off: its gains are on the synthetic rig only (docs)
    fusion_au_k: float = Field(4.5, gt=0)
    fusion_flow_f: float | None = Field(None, gt=0, le=1.0)


def load_settings(section: dict, source: str = "[analyzer]") -> AnalyzerSettings:
    """Validate a session file's `[analyzer]` table; one-line ConfigError naming the bad key."""
    return validate(AnalyzerSettings, section or {}, source)
