"""Sounds a device may be asked to play into its own microphone track (a speaker beside it).

The sync master asks for its chirp with a `sync/chirp` event; the wave is the one docs/sync.md
specifies for anyone who plays it, computed here so that capture/ does not depend on sync/.
"""

from __future__ import annotations

import numpy as np


def chirp_from_request(body: dict) -> np.ndarray:
    """The float wave (+-amplitude) of a `sync/chirp` request body, sampled at its rate."""
    rate, dur = float(body["rate"]), float(body["duration_s"])
    f0, f1, amp = float(body["f0_hz"]), float(body["f1_hz"]), float(body["amplitude"])
    t = np.arange(int(round(dur * rate))) / rate
    k = (f1 - f0) / dur
    edge = np.clip(np.minimum(t, dur - t) / (0.1 * dur), 0, 1)  # Tukey taper: no clicks at the ends
    return amp * (0.5 - 0.5 * np.cos(np.pi * edge)) * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))
