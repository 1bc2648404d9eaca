"""The `[elicit]` section of a session file, validated by the elicit stage itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ElicitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    protocol: str = ""  # the protocol file; relative paths are from the session file's folder
    headless: bool | None = None  # None: offscreen when there is no display
    autostart: bool = False  # false: wait for the operator's `start` (monitor or CLI)
    simulate_participant: bool = False  # demos only: answer surveys with scripted clicks
    screenshots: str = ""  # folder for screenshots of each screen (checks); "" = none
    end_session: bool = False  # true: ask the supervisor to stop the session when the protocol ends
    participant: str = Field("", pattern=r"^$|^[A-Za-z0-9_-]{1,32}$")  # "" = [session] participant
