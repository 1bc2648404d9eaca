"""Helpers for benchmarks that need a second process (multiprocessing, spawn)."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np


def spawn(target, *args) -> mp.process.BaseProcess:
    p = mp.get_context("spawn").Process(target=target, args=args, daemon=True)
    p.start()
    return p


def percentiles_ms(lat_ns: list[int]) -> dict:
    if not lat_ns:
        return {"p50_ms": None, "p99_ms": None}
    a = np.asarray(lat_ns) / 1e6
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}


def thread_schedstat(pid: int) -> dict[str, tuple[int, int]]:
    """ "name:tid" -> (ns on a CPU, ns runnable in the run queue) of each thread of process ``pid``
    so far, from /proc (empty where it does not say).  The wait is time a thread was ready to run
    while others had the CPU."""
    out: dict[str, tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        out[f"{name}:{tid}"] = (run_ns, wait_ns)
    return out
