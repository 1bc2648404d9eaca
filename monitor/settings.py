"""The `[monitor]` section of a session file, validated by the monitor stage itself (no Qt here).

It says how `mestudio run` / `demo` open the experimenter's window beside a session when a person
is at a screen; `mestudio monitor`'s own options say the same for a window started by hand.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MonitorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    open: bool = True  # open the window beside `run`/`demo` at a screen (never offscreen)
    fps: float = Field(25.0, gt=0, le=120)  # repaints per second
    size: str = Field("1600x1000", pattern=r"^[1-9][0-9]{2,4}x[1-9][0-9]{2,4}$")  # WxH
    max_mb_per_s: float = Field(0.0, ge=0)  # frames taken off the wire per second; 0: no cap
    nice: int = Field(10, ge=0, le=19)  # scheduling niceness: the recorder and devices come first

    def window_args(self) -> list[str]:
        """The `mestudio monitor` options that open the window these settings describe."""
        return [
            "--fps",
            str(self.fps),
            "--size",
            self.size,
            "--max-mb-per-s",
            str(self.max_mb_per_s),
            "--nice",
            str(self.nice),
        ]
