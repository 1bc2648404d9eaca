"""Process-wide memory settings for processes that move frames (device nodes, the recorder)."""

from __future__ import annotations

import ctypes


def keep_freed_buffers() -> bool:
    """Let glibc reuse freed frame buffers instead of giving each back to the kernel.

    By default a freed block over 128 KB is unmapped, so every frame buffer (a camera's copy out
    of its grab buffer, a rendered view, a received message) is a fresh mapping that faults in
    page by page: ~470 page faults per 1600x1200 frame (profiled with `mestudio bench recorder`
    and `bench capture`'s producer split).  The cost: the process keeps the memory of its
    deepest queue.  False where there is no glibc."""
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False
