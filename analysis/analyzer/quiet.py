"""Keep the face model's native start-up lines (TFLite, absl, glog) off the terminal.

mediapipe's C++ side writes straight to file descriptor 2 ("INFO: Created TensorFlow Lite XNNPACK
delegate", "W0000 ... inference_feedback_manager", "WARNING: All log messages before
absl::InitializeLog()"), past Python's sys.stderr.  While the block runs, fd 2 goes through a
pipe; a thread drops the lines that match those libraries' formats and passes every other line
through unchanged, so our own progress and error lines still show.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"  # glog/absl: I0000 00:00:00.123 1 file.cc:12]
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)


@contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    """Filter the native libraries' log lines out of fd 2 while the block runs."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (an embedded interpreter): nothing to filter
        yield
        return
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def pump() -> None:
        buf = b""
        with os.fdopen(r, "rb", buffering=0) as src:
            while chunk := src.read(65536):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not NOISE.match(line):
                        os.write(saved, line + b"\n")
                if buf.startswith(b"\r"):  # a progress line rewriting itself: show it now
                    os.write(saved, buf)
                    buf = b""
            if buf and not NOISE.match(buf):
                os.write(saved, buf)

    t = threading.Thread(target=pump, name="quiet-native-logs", daemon=True)
    t.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the pump reads to its end
        t.join(timeout=5)
        os.close(saved)
