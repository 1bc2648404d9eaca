"""Helpers for benchmarks that need a second process (multiprocessing, spawn)."""

from __future__ import annotations

import multiprocessing as mp

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
