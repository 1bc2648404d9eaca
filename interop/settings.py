"""Typed settings of the `[lsl]` section of a session file (validated by the interop stage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mestudio.config.loader import validate


class LSLSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # publish the session's markers, analyzer results and sync health as LSL outlets
    outlets: bool = False
    # outlet names are <prefix>-markers, <prefix>-analyzer-events, ... (LabRecorder lists them)
    prefix: str = Field("mestudio", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # per-frame trace values besides seq and score, as named in the analyzer's trace messages
    # ("quality", or "<key>.<AU>" for a dict of per-frame lists such as realfaces' AU traces)
    trace_channels: list[str] = []
    # messages the node may queue from the session bus before it drops (and counts) the rest
    hwm: int = Field(10000, ge=100)


def load_lsl_settings(section: dict, source: str = "session config") -> LSLSettings:
    """Validate an `[lsl]` table; a bad key raises ConfigError naming it."""
    return validate(LSLSettings, section or {}, f"{source}: [lsl]")
