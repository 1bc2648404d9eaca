"""The facts of the machine a report was measured on, so that two machines' figures compare."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

PACKAGES = [
    "mestudio",
    "numpy",
    "pyzmq",
    "crc32c",
    "av",
    "pypylon",
    "PySide6-Essentials",
    "pyqtgraph",
    "torch",
    "open3d",
]


def disk_write_MB_per_s(folder: str | None, mb: int) -> float:
    """Sequential write of ``mb`` MB in 4 MB blocks, then fsync: what the disk takes right now."""
    block = os.urandom(4 << 20)
    with tempfile.NamedTemporaryFile(dir=folder, prefix="mestudio-disk-") as f:
        t = time.perf_counter()
        for _ in range(max(1, mb // 4)):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
        return round(max(1, mb // 4) * 4 * 1.048576 / (time.perf_counter() - t), 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def facts(quick: bool = False) -> dict:
    import zmq

    folder = os.environ.get("MESTUDIO_BENCH_DIR") or tempfile.gettempdir()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "memory_GB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "bench_dir": folder,
        "bench_dir_free_GB": round(shutil.disk_usage(folder).free / 1e9, 1),
        "disk_write_MB_per_s": disk_write_MB_per_s(folder, 64 if quick else 512),
        "libzmq": zmq.zmq_version(),
        "versions": {p: _version(p) for p in PACKAGES},
    }
