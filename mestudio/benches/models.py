"""Inference time per clip of every registered model on this machine's CPU.

Each model sees one preprocessed clip of its own input size (1 x 10 frames x size x size; the
LBP-TOP models: feature extraction plus the SVMs' decision; CCDN: its three profiles' dynamic
images, 3 views x 3 domains x size x size, the rank pooling itself not counted). Figures are the median (and the
fastest) of several runs after a warm-up; on a busy machine the fastest is closer to the cost;
the baseline is the study's full Res3D (res3d18) measured in the same run,
and each model's ratio is its time over the baseline's.
"""

from __future__ import annotations

import statistics
import time

HELP = "inference ms per clip of each registered model (CPU), ratio to res3d18 measured in the same run"
BASELINE = "res3d18"


def _time_model(name: str, repeats: int) -> tuple[float, float]:
    import numpy as np
    import torch

    from mestudio.analysis.models.registry import create_model, model_config

    mc = model_config(name)
    model = create_model(name, num_classes=5)
    rng = np.random.default_rng(0)
    if mc.trainable == "svm":
        clip = rng.integers(0, 255, (mc.frames, mc.size, mc.size)).astype(np.uint8)
        call = lambda: model.decision_function([clip])  # noqa: E731
    else:
        model.eval()
        x = torch.from_numpy(rng.standard_normal(mc.input_shape(1)).astype("float32"))

        def call():
            with torch.no_grad():
                model(x)

    call()  # warm-up: allocations, lazy init
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def run(args) -> dict:
    import torch

    from mestudio.analysis.models.registry import list_models, model_config

    repeats = 2 if getattr(args, "quick", False) else 5
    names = list_models()
    timed = {n: _time_model(n, repeats) for n in names}
    ms = {n: t[0] for n, t in timed.items()}
    base = ms[BASELINE]
    return {
        "baseline": BASELINE,
        "baseline_ms": round(base, 2),
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "models": {
            n: {
                "ms_per_clip": round(ms[n], 2),
                "min_ms": round(timed[n][1], 2),
                "ratio_to_baseline": round(ms[n] / base, 4),
                "input": "x".join(map(str, model_config(n).input_shape(1)[1:])),
                "small": model_config(n).small,
            }
            for n in names
        },
    }
