"""The monitor's AU-trace panel: the analyzer's per-frame AUs reach MonitorState and are drawn."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.monitor.state import TRACE_AUS, MonitorState
from mestudio.stream import wire


def _apply(state: MonitorState, body: dict, seq: int = 1) -> None:
    state.apply(wire.decode(wire.json_parts(wire.Kind.EVENT, "analyzer", seq, body, topic="results/analyzer")))


def _trace(t0: float, n: int, au12: float) -> dict:
    t = [round(t0 + i / 30, 6) for i in range(n)]
    au = {"seq": list(range(n)), "t": t, "success": [1] * n, **{a: [0.0] * n for a in TRACE_AUS}}
    au["AU12"] = [au12] * n
    return {"type": "trace", "seq": [], "t": [], "score": [], "au": au}


def test_per_frame_aus_are_kept_for_the_last_ten_seconds_and_bad_values_counted():
    s = MonitorState(t0_host_ns=0)
    _apply(s, _trace(0.0, 300, 1.0))  # 0-10 s
    _apply(s, _trace(10.0, 150, 4.0))  # 10-15 s: a smile
    bad = _trace(15.0, 3, 2.0)
    bad["au"]["AU12"][1] = "x"
    _apply(s, bad)
    t, v = s.au_trace_window()["AU12"]
    assert t[0] >= 15.0 + 2 / 30 - 10.0 - 1e-6 and t[-1] == pytest.approx(15.0 + 2 / 30)
    assert set(np.round(v, 3)) == {1.0, 4.0, 2.0} and s.counts["bad_au_values"] == 1
    assert len(s.au_trace_window()["AU01"][0]) == len(t) + 1  # AU01 had no bad value


@pytest.mark.slow
def test_the_analyzers_traces_feed_the_panel_frame_by_frame():
    pytest.importorskip("pyqtgraph")
    from mestudio.analysis.analyzer.pipeline import Analyzer
    from mestudio.analysis.settings import AnalyzerSettings
    from mestudio.monitor.panels import AU_COLOURS, AUTracePlot
    from mestudio.monitor.qt import application
    from tests.analysis_fixtures import face_frames
    from tests.monitor_fixtures import has_colour

    frames = face_frames((("macro", (6, 12), 0.6, 1.0, 1.8, 1.0),), seconds=2.0, fps=30.0)
    s = MonitorState(t0_host_ns=0)
    with Analyzer(AnalyzerSettings(), 30.0) as a:
        msgs = [m for i, f in enumerate(frames) for m in a.process(f, i, i / 30)] + a.finish()
    for i, m in enumerate(msgs):
        _apply(s, m, i)
    win = s.au_trace_window()
    assert set(win) == set(TRACE_AUS) and all(len(t) == len(frames) for t, _ in win.values())
    app = application()
    plot = AUTracePlot()
    plot.resize(600, 300)
    plot.show()
    plot.update_state(s)
    app.processEvents()
    img = plot.grab().toImage().convertToFormat(plot.grab().toImage().Format.Format_RGB888)
    px = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    rgb = px.reshape(img.height(), img.width(), 3)
    top = max(TRACE_AUS, key=lambda a: float(win[a][1].max()))  # the rig's smile: AU12 or AU6
    assert top in ("AU06", "AU12") and win[top][1].max() >= 0.5
    colour = tuple(int(AU_COLOURS[TRACE_AUS.index(top)][i : i + 2], 16) for i in (1, 3, 5))
    assert has_colour(rgb, colour, tol=30, min_pixels=20)  # its curve is drawn
    assert not plot.empty.isVisible()
    plot.close()
