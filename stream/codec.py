"""Lossless compression of a stream while it is recorded: every frame one FFV1 packet.

FFV1 codes each frame on its own; with a keyframe every frame (it otherwise carries its context
models from frame to frame) each packet decodes alone, given the codec's configuration kept in
info.json, so frames.bin stays a plain append of independent records.  A crash therefore cuts
a compressed stream exactly like a raw one: index records reach the disk only after their
packets, and repair trims the packets no record points to.  Nothing but the packet layout
changes: offsets, sizes and CRC32C in the index are those of the packets on disk.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mestudio.stream.errors import SessionError

CODECS = ("ffv1",)
# (dtype, number of dimensions) -> FFmpeg pixel format: mono8 cameras and 16-bit depth
PIX_FMTS = {("|u1", 2): "gray", ("<u2", 2): "gray16le"}


class CodecError(SessionError, ValueError):
    """A stream cannot be encoded or decoded as its configuration says."""


def pixel_format_for(dtype: str, shape: tuple | list) -> str | None:
    """The FFV1 pixel format of frames of this layout, None when FFV1 cannot hold them."""
    return PIX_FMTS.get((np.dtype(dtype).str, len(shape)))


def _context(mode: Literal["r", "w"], info: dict) -> Any:
    import av

    ctx: Any = av.CodecContext.create(str(info["codec"]), mode)
    ctx.height, ctx.width = info["shape"][0], info["shape"][1]
    ctx.pix_fmt = info["codec_pix_fmt"]
    ctx.thread_count = 1  # one core per stream: the rig's other processes need the rest
    return ctx


class FrameEncoder:
    """Encodes one stream's frames, one packet per frame, bit-exact (FFV1 level 3, slice CRCs)."""

    def __init__(self, codec: str, dtype: str, shape: tuple) -> None:
        if codec not in CODECS:
            raise CodecError(f"codec {codec!r}: mestudio records {', '.join(CODECS)}")
        fmt = pixel_format_for(dtype, shape)
        if fmt is None:
            raise CodecError(f"{codec} holds 8- or 16-bit gray pictures, not {tuple(shape)} {dtype}")
        self.dtype, self.shape = np.dtype(dtype), tuple(shape)
        self._ctx = _context("w", {"codec": codec, "shape": list(shape), "codec_pix_fmt": fmt})
        self._ctx.options = {"level": "3", "slicecrc": "1"}
        self._ctx.gop_size = 1  # every packet a keyframe: FFV1 otherwise carries its context state on
        self._ctx.open()
        self.info = {"codec": codec, "codec_pix_fmt": fmt, "codec_extradata": bytes(self._ctx.extradata or b"").hex()}
        self._pts = 0

    def encode(self, payload) -> bytes:
        import av

        arr = np.frombuffer(payload, self.dtype).reshape(self.shape)
        frame = av.VideoFrame.from_ndarray(arr, format=self.info["codec_pix_fmt"])
        frame.pts = self._pts
        self._pts += 1
        packets = self._ctx.encode(frame)
        if len(packets) != 1 or not packets[0].is_keyframe:  # one thread, gop 1: never; if so, say so
            raise CodecError(f"{self.info['codec']} returned {len(packets)} packets for one frame, or no keyframe")
        return bytes(packets[0])


class FrameDecoder:
    """Decodes the packets of one recorded stream back to its frames."""

    def __init__(self, info: dict) -> None:
        if info.get("codec") not in CODECS:
            raise CodecError(f"stream {info.get('stream_id')!r}: unknown codec {info.get('codec')!r}")
        if info.get("codec_pix_fmt") not in PIX_FMTS.values():
            raise CodecError(f"stream {info.get('stream_id')!r}: unknown pixel format {info.get('codec_pix_fmt')!r}")
        try:
            extradata = bytes.fromhex(info.get("codec_extradata") or "")
        except (TypeError, ValueError):
            raise CodecError(f"stream {info.get('stream_id')!r}: codec_extradata is not hex") from None
        self.info = info
        self._ctx = _context("r", info)
        if extradata:
            self._ctx.extradata = extradata
        self._shape = tuple(info["shape"])

    def decode(self, packet, seq: int) -> np.ndarray:
        import av

        try:
            frames = self._ctx.decode(av.Packet(bytes(packet)))
        except av.error.FFmpegError as e:
            raise CodecError(f"stream {self.info['stream_id']!r} seq {seq}: packet does not decode ({e})") from None
        if len(frames) != 1:
            raise CodecError(f"stream {self.info['stream_id']!r} seq {seq}: packet decoded to {len(frames)} frames")
        out = frames[0].to_ndarray(format=self.info["codec_pix_fmt"])
        if out.shape != self._shape:
            raise CodecError(f"stream {self.info['stream_id']!r} seq {seq}: decoded {out.shape}, not {self._shape}")
        out.flags.writeable = False  # as read-only as a raw stream's memory-mapped frames
        return out
