"""Typed settings of the `[sync]` section of a session file (validated by the sync stage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mestudio.config.loader import validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChirpSettings(_Strict):
    f0_hz: float = Field(2000.0, gt=0)
    f1_hz: float = Field(8000.0, gt=0)
    duration_s: float = Field(0.05, gt=0.005, le=1.0)
    amplitude: float = Field(0.5, gt=0, le=1.0)
    at_start: bool = True
    at_end: bool = True
    # detections below this normalised correlation are ignored
    threshold: float = Field(0.5, gt=0, lt=1)
    # play each chirp on this PortAudio output ("default", a name or an index); "" = only publish
    # the sync/chirp request (another device plays it, or nothing does)
    output: str = ""


class SyncSettings(_Strict):
    enabled: bool = False
    # the audio stream whose sample clock is the reference; "" = the first audio stream
    audio: str = ""
    # software trigger rate for devices with trigger = "software" (60 Hz = 800 samples at 48 kHz)
    trigger_rate_hz: float = Field(60.0, gt=0, le=1000)
    # the stream whose frames define the frame-set instants; "" = a triggered camera, else the
    # first stream at the highest video rate
    reference: str = ""
    # a frame belongs to a set when it is this close to the set's instant; 0 = half a reference period
    tolerance_ms: float = Field(0.0, ge=0)
    health_interval_s: float = Field(1.0, gt=0, le=60)
    # clock-model sliding window (live) and piece length (offline) in seconds
    window_s: float = Field(60.0, ge=5)
    chirp: ChirpSettings = ChirpSettings()
    # serve this host's clock to other hosts (NTP-like) on this ZeroMQ endpoint; "" = off
    time_server: str = ""
    # time servers of other hosts whose clock offset to estimate and report
    hosts: list[str] = []
    # streams whose host times come from another host's clock: time server -> stream ids; the
    # offline report moves them onto this host's timeline with the estimated offsets
    remote_streams: dict[str, list[str]] = {}


def load_sync_settings(section: dict, source: str = "session config") -> SyncSettings:
    """Validate a `[sync]` table; a bad key raises ConfigError naming it."""
    return validate(SyncSettings, section or {}, f"{source}: [sync]")
