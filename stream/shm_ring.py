"""A shared-memory ring from a LOCAL producer to the recorder: frames skip the socket's copies.

Why: on a 2-core machine recording six 1600x1200 cameras (690 MB/s) the recorder waited in the
run queue for a CPU for most of each second (docs/performance.md, "The full rig's backlog").
Over the socket every MB is copied twice by the kernel (into the sender's socket, out into the
recorder's message), by both ends' zmq I/O threads; through this ring the producer copies the
frame once into a slot and the recorder writes it to disk from there.

Layout of one ring (a file of /dev/shm, ``mestudio-ring-<16 hex>``, mode 0600, made by the
producer; docs/wire-format.md "Shared-memory frames"), little-endian:

    ring header, 64 bytes:  magic b"MESR", version u16, 2 pad, slot_count u32, 4 pad, slot_size u64,
                            reader u32 (set to 1 by the recorder once it has the ring mapped)
    slot headers, 32 bytes each:  gen_begin u64, gen_end u64, nbytes u64, freed_gen u64
    slot data, slot_size bytes each (a multiple of 4096), from the first page after the headers

The producer writes a slot only when its ``freed_gen`` equals the generation it last wrote
there (the recorder has taken it), stamps ``gen_begin``, copies the frame, then ``nbytes`` and
``gen_end``, and only then sends the descriptor (``Descriptor``: token, slot, generation) as
the frame's payload over the recorder's socket.  A full ring (the recorder behind) or a frame
larger than a slot goes over the socket as before: counted, never lost.  The recorder checks
every descriptor (token form, owner of the file, magic, bounds, both generations, the size the
header says) before reading; a bad one is a WireFormatError like any malformed message.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import secrets
import stat
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np

from mestudio.stream.errors import WireFormatError

RING_DIR = Path("/dev/shm")
PREFIX = "mestudio-ring-"
MAGIC = b"MESR"
VERSION = 1
RING_HEADER = struct.Struct("<4sH2xI4xQ")  # magic, version, slot_count, slot_size
RING_HEADER_SIZE = 64
READER_AT = RING_HEADER.size  # u32: the recorder has mapped the ring (it may then be unlinked)
SLOT_HEADER = struct.Struct("<QQQQ")  # gen_begin, gen_end, nbytes, freed_gen
PAGE = 4096
MIN_SLOT = 2 << 20  # a slot holds at least a 1600x1200 mono8 frame (1.92 MB)
MIN_PAYLOAD = 64 << 10  # smaller frames are cheap over the socket: not worth a slot
# the frame payload of a shared-memory FRAME message: ring token, slot, generation
DESCRIPTOR = struct.Struct("<16sI4xQ")
_TOKEN = re.compile(rb"[0-9a-f]{16}")


class SharedMemoryError(WireFormatError):
    """A shared-memory descriptor the recorder cannot honour (its ``kind`` starts with shm-)."""


def ring_path(token: str) -> Path:
    return RING_DIR / f"{PREFIX}{token}"


def session_tag(recorder_endpoint: str) -> str:
    """The first 8 hex digits of every ring token of one session: its recorder's endpoint hashed
    (each session has its own), so the supervisor can find the session's rings at its end."""
    return hashlib.sha256(recorder_endpoint.encode()).hexdigest()[:8]


def remove_session_rings(tag: str) -> tuple[int, int]:
    """Remove the rings left in /dev/shm by one session's producers (once its recorder and
    producers have exited: no one can read them any more); (rings, bytes) removed."""
    if not re.fullmatch(r"[0-9a-f]{8}", tag):
        raise ValueError(f"session tag {tag!r} is not 8 lowercase hex digits")
    n = nbytes = 0
    for path in RING_DIR.glob(f"{PREFIX}{tag}*"):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue  # its producer or the recorder removed it meanwhile
        n, nbytes = n + 1, nbytes + size
    return n, nbytes


def available() -> bool:
    """Whether this host has a POSIX shared-memory folder to put rings in."""
    return RING_DIR.is_dir() and os.access(RING_DIR, os.W_OK)


def _mapped(fd: int, size: int) -> mmap.mmap:
    """A shared mapping with its page tables filled at once (MAP_POPULATE where Linux has it)."""
    return mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))


def _data_start(slot_count: int) -> int:
    end = RING_HEADER_SIZE + slot_count * SLOT_HEADER.size
    return (end + PAGE - 1) // PAGE * PAGE


class RingWriter:
    """A producer's ring (one per Publisher), made at its first large frame.  Not thread-safe:
    like the Publisher's sockets, one thread sends."""

    def __init__(self, budget_mb: int, slot_size: int, tag: str | None = None) -> None:
        self.slot_size = max(MIN_SLOT, (slot_size + PAGE - 1) // PAGE * PAGE)
        self.slot_count = max(2, (budget_mb << 20) // self.slot_size)
        # ``tag``: the session's (session_tag), so that its supervisor can remove what is left
        self.token = tag + secrets.token_hex(4) if tag else secrets.token_hex(8)
        self.path = ring_path(self.token)
        size = _data_start(self.slot_count) + self.slot_count * self.slot_size
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # every page allocated and mapped now, at the node's start: a fresh tmpfs page faulted
            # in per 4 KB while recording cost more CPU per MB than the socket it replaces
            os.posix_fallocate(fd, 0, size)
            self._map = _mapped(fd, size)
        except OSError:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        os.close(fd)
        RING_HEADER.pack_into(self._map, 0, MAGIC, VERSION, self.slot_count, self.slot_size)
        self._data = _data_start(self.slot_count)
        self._written = [0] * self.slot_count  # generation last written to each slot
        # slots handed out by reserve() and not yet committed: buffer address -> (slot, generation, size)
        self._reserved: dict[int, tuple[int, int, int]] = {}
        # a viewer's zero-copy send of a reserved slot: the slot is not reused until zmq is done with it
        self._trackers: dict[int, Any] = {}
        self._next = 0
        self._gen = 0
        self.frames = 0  # sent through the ring
        self.full = 0  # found the next slot still held by the recorder: sent over the socket
        self.filled_in_place = 0  # of ``frames``: reserved and filled by the device, not copied here

    def _take(self, n: int) -> tuple[int, int] | None:
        """The next slot for a frame of n bytes, marked as being written; None when it is too
        small or still in use (the recorder's, or a viewer's send)."""
        k = self._next
        hdr = RING_HEADER_SIZE + k * SLOT_HEADER.size
        tracker = self._trackers.get(k)
        if (
            n > self.slot_size
            or SLOT_HEADER.unpack_from(self._map, hdr)[3] != self._written[k]
            or (tracker is not None and not tracker.done)
        ):
            self.full += n <= self.slot_size
            return None
        self._trackers.pop(k, None)
        # a reservation still open a whole lap later was never sent (a frame dropped): reuse it
        for addr in [a for a, r in self._reserved.items() if r[0] == k]:
            del self._reserved[addr]
        self._gen += 1
        struct.pack_into("<Q", self._map, hdr, self._gen)  # gen_begin: the slot is being written
        self._next = (k + 1) % self.slot_count
        return k, self._gen

    def _done(self, k: int, g: int, n: int) -> bytes:
        # gen_end, nbytes: written (x86 keeps the order of stores; the descriptor is sent after)
        struct.pack_into("<QQ", self._map, RING_HEADER_SIZE + k * SLOT_HEADER.size + 8, g, n)
        self._written[k] = g
        self.frames += 1
        return DESCRIPTOR.pack(self.token.encode(), k, g)

    def put(self, payload) -> bytes | None:
        """Copy a frame into the next slot; its descriptor, or None when that slot is still in
        use (the caller sends the bytes instead)."""
        view = memoryview(payload).cast("B")
        got = self._take(view.nbytes)
        if got is None:
            return None
        k, g = got
        start = self._data + k * self.slot_size
        self._map[start : start + view.nbytes] = view
        return self._done(k, g, view.nbytes)

    def reserve(self, nbytes: int) -> np.ndarray | None:
        """A slot to fill in place (a device copying its frame straight from the driver's buffer):
        a writable uint8 array of nbytes, or None (the caller makes its own buffer).  The frame
        is sent as usual; ``commit`` recognises the array and sends only its slot."""
        got = self._take(nbytes)
        if got is None:
            return None
        k, g = got
        buf = np.frombuffer(self._map, np.uint8, nbytes, self._data + k * self.slot_size)
        self._reserved[buf.ctypes.data] = (k, g, nbytes)
        return buf

    def commit(self, payload) -> tuple[bytes, int] | None:
        """(descriptor, slot) when ``payload`` is a reserved slot, filled; None for any other buffer."""
        if not self._reserved:
            return None
        view = memoryview(payload).cast("B")
        r = self._reserved.get(np.frombuffer(view, np.uint8).ctypes.data)
        if r is None or r[2] != view.nbytes:
            return None
        del self._reserved[np.frombuffer(view, np.uint8).ctypes.data]
        self.filled_in_place += 1
        return self._done(*r), r[0]

    def unsend(self, descriptor: bytes) -> None:
        """A descriptor that never reached the recorder (dropped for a recorder that stayed full):
        its slot is free again, or the ring would wait for it forever."""
        _, k, g = DESCRIPTOR.unpack(descriptor)
        hdr = RING_HEADER_SIZE + k * SLOT_HEADER.size
        if SLOT_HEADER.unpack_from(self._map, hdr)[1] == g:
            struct.pack_into("<Q", self._map, hdr + 24, g)

    def track(self, slot: int, tracker) -> None:
        """A zmq MessageTracker of a viewer's send of this slot: the slot waits for it."""
        self._trackers[slot] = tracker

    def all_taken(self) -> bool:
        """Whether the recorder has taken every frame put here."""
        return all(
            SLOT_HEADER.unpack_from(self._map, RING_HEADER_SIZE + k * SLOT_HEADER.size)[3] == g
            for k, g in enumerate(self._written)
        )

    def close(self, wait_s: float, recorder_alive: bool) -> None:
        """Remove the ring once the recorder has taken every frame (waiting up to ``wait_s`` for
        a live recorder); a ring it still reads from stays for the recorder to remove."""
        end = time.monotonic() + wait_s
        while recorder_alive and not self.all_taken() and time.monotonic() < end:
            time.sleep(0.01)
        # the recorder keeps a ring it has mapped (and removes it too); one it never mapped would be
        # lost with frames still queued for it: then it stays for the recorder to open
        if not recorder_alive or self.all_taken() or struct.unpack_from("<I", self._map, READER_AT)[0]:
            self.path.unlink(missing_ok=True)
        self._reserved.clear()
        try:
            self._map.close()
        except BufferError:
            pass  # a reserved frame still referenced: the mapping goes when it does


class _Ring:
    """The recorder's view of one producer's ring."""

    def __init__(self, token: str) -> None:
        self.path = ring_path(token)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError as e:
            raise SharedMemoryError(
                f"shared-memory ring {token}: cannot open {self.path} ({e.strerror})", kind="shm-ring"
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
                raise SharedMemoryError(
                    f"shared-memory ring {token}: {self.path} is not a private file of this user", kind="shm-ring"
                )
            if st.st_size < RING_HEADER_SIZE:
                raise SharedMemoryError(f"shared-memory ring {token}: file too short", kind="shm-ring")
            self._map = _mapped(fd, st.st_size)
        finally:
            os.close(fd)
        magic, version, count, slot_size = RING_HEADER.unpack_from(self._map, 0)
        size = _data_start(count) + count * slot_size if count else 0
        if magic != MAGIC or version != VERSION or not count or slot_size % PAGE or size != st.st_size:
            self._map.close()
            raise SharedMemoryError(
                f"shared-memory ring {token}: not a version-{VERSION} ring (magic {magic!r}, version {version}, "
                f"{count} slots of {slot_size} bytes in {st.st_size})",
                kind="shm-ring",
            )
        self.slot_count, self.slot_size, self._data = count, slot_size, _data_start(count)
        struct.pack_into("<I", self._map, READER_AT, 1)

    def view(self, slot: int, gen: int, nbytes: int) -> memoryview:
        if slot >= self.slot_count or nbytes > self.slot_size:
            raise SharedMemoryError(
                f"{self.path.name}: slot {slot} of {nbytes} bytes is outside the ring "
                f"({self.slot_count} slots of {self.slot_size})",
                kind="shm-bounds",
            )
        begin, end, n, _ = SLOT_HEADER.unpack_from(self._map, RING_HEADER_SIZE + slot * SLOT_HEADER.size)
        if not begin == end == gen or n != nbytes:
            raise SharedMemoryError(
                f"{self.path.name}: slot {slot} holds generation {begin}..{end} of {n} bytes, the message "
                f"says generation {gen} of {nbytes} (a torn or reused slot)",
                kind="shm-torn",
            )
        start = self._data + slot * self.slot_size
        return memoryview(self._map)[start : start + nbytes]

    def release(self, slot: int, gen: int) -> None:
        struct.pack_into("<Q", self._map, RING_HEADER_SIZE + slot * SLOT_HEADER.size + 24, gen)

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:
            pass  # a view still alive (an exception mid-write): the mapping goes with the process


class RingReaders:
    """The recorder's side: every ring a descriptor named, opened once, removed at close."""

    def __init__(self) -> None:
        self._rings: dict[str, _Ring] = {}
        self.frames = 0  # frames read from shared memory

    def view(self, descriptor, nbytes: int) -> tuple[memoryview, _Ring, int, int]:
        """The frame a descriptor names (checked); give it back with ``release`` once written."""
        raw = bytes(memoryview(descriptor).cast("B"))
        if len(raw) != DESCRIPTOR.size:
            raise SharedMemoryError(
                f"shared-memory descriptor is {len(raw)} bytes, expected {DESCRIPTOR.size}", kind="shm-descriptor"
            )
        token_b, slot, gen = DESCRIPTOR.unpack(raw)
        if not _TOKEN.fullmatch(token_b):
            raise SharedMemoryError(
                f"shared-memory descriptor names ring {token_b[:16]!r}: not 16 lowercase hex digits",
                kind="shm-descriptor",
            )
        token = token_b.decode()
        ring = self._rings.get(token)
        if ring is None:
            ring = self._rings[token] = _Ring(token)
        self.frames += 1
        return ring.view(slot, gen, nbytes), ring, slot, gen

    def close(self) -> None:
        """Unmap and remove every ring: its producer has stopped (the recorder stops last)."""
        for ring in self._rings.values():
            ring.close()
            ring.path.unlink(missing_ok=True)
        self._rings.clear()
