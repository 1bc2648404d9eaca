"""Typed models of a session file (config/*.toml).

Unknown keys are errors (``extra="forbid"`` everywhere).  Device sections are a union
discriminated by ``kind``, built from the kinds registered with ``@device_kind`` (config/device_kinds.py:
the one place that says a kind's backend, streams and capabilities).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mestudio.config.device_kinds import KINDS, Capability, DeviceKind, color_and_depth, device_kind, one_per_camera

NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# node names the supervisor uses itself; a device may not take one
RESERVED_NAMES = {"recorder", "supervisor", "sync", "analyzer", "elicit", "replay", "replay-lossless", "monitor", "lsl"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or "localhost") only reaches this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionSection(Strict):
    name: str = Field("session", pattern=NAME_RE)
    output: Path = Path("sessions")
    participant: str = Field("P00", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # governs what may be exported: none (nothing leaves the lab), research, publication
    consent: Literal["none", "research", "publication"] = "research"
    duration_s: float | None = Field(None, gt=0)
    notes: str = ""
    # a device or stage that dies is reported at once and the rest keeps recording (the exit code
    # says it); true stops the whole session instead. A dead recorder always stops it.
    stop_on_node_failure: bool = False
    # a device node that dies is started again this many times in one session (0: never); the
    # first restart waits restart_backoff_s, each next one twice as long, up to restart_backoff_max_s
    restarts: int = Field(3, ge=0, le=10_000)
    restart_backoff_s: float = Field(1.0, gt=0, le=600)
    restart_backoff_max_s: float = Field(30.0, gt=0, le=3600)
    # session folders are readable by their owner only (0700, files 0600); a lab group makes them
    # 0750/0640 for that group's members (the host must have the group and this user be in it)
    group: str = Field("", pattern=r"^([a-z_][a-z0-9_.-]{0,31})?$")


class TransportSection(Strict):
    # ipc (unix sockets in the session's run folder) or tcp on `host`
    scheme: Literal["ipc", "tcp"] = "ipc"
    host: str = "127.0.0.1"
    base_port: int = Field(5550, ge=1024, le=65000)
    heartbeat_s: float = Field(0.5, gt=0, le=5)
    # a child with no heartbeat for this long is reported as not responding
    heartbeat_timeout_s: float = Field(5.0, gt=0)
    # lossy viewers: messages queued per subscriber before the publisher drops for it
    viewer_hwm: int = Field(60, ge=1)
    # ipc: a folder of this user's (mode 0700) to make each session's socket folder in;
    # "" for $XDG_RUNTIME_DIR or the system temp folder. Another owner or an open mode is refused.
    runtime_dir: str = ""
    # tcp: the CURVE keys folder (`mestudio keys DIR`; relative to this file). tcp needs it: every
    # socket is authenticated and encrypted, and only clients whose key is in DIR/allowed get in
    keys: str = ""
    # remote devices ([[devices]] host = ...): how long the session waits for them to connect
    remote_wait_s: float = Field(60.0, gt=0, le=3600)
    # device nodes on this host hand frames of 64 KB and more to the recorder through a shared-memory
    # ring in /dev/shm (MB per node) instead of the socket's two kernel copies; a full ring falls back
    # to the socket (counted). Remote nodes and tcp keep the socket (docs/performance.md)
    shared_memory: bool = False
    shared_memory_mb: int = Field(256, ge=16, le=65536)

    @model_validator(mode="after")
    def _tcp_needs_curve(self) -> TransportSection:
        if self.scheme == "tcp" and not self.keys:
            where = "loopback" if is_loopback(self.host) else "NOT loopback: anyone on its network"
            raise ValueError(
                f"scheme = 'tcp' on host {self.host!r} ({where}) without CURVE: any client could read "
                "the frames and command the session; make keys with `mestudio keys DIR` and set "
                "[transport] keys = DIR"
            )
        return self


class RecorderSection(Strict):
    enabled: bool = True
    flush_interval_s: float = Field(0.5, gt=0, le=1.0)
    # stop recording cleanly (and say so) when free space falls under this
    min_free_mb: int = Field(200, ge=0)
    # stream id -> lossless codec applied while recording (stream/codec.py); off by default
    compress: dict[str, Literal["ffv1"]] = Field(default_factory=dict)
    # tests only: cap the recorder's write rate (MB/s; 0 = off) to simulate a slow disk for real
    write_mb_per_s: float = Field(0.0, ge=0)
    # past this backlog (seconds behind, or MB estimated queued in memory; 0 = no bound) the session
    # reports "recorder cannot keep up" (a problem and a timeline event); nothing is dropped for it
    max_backlog_s: float = Field(10.0, ge=0)
    max_backlog_mb: float = Field(2000.0, ge=0)
    # past this estimated queue (MB) the recorder sheds: frames are counted per stream, not written,
    # until the queue is under half of it (a session problem; verify names them). None: half the
    # memory available when the recorder starts; 0: never (the queue grows until memory runs out,
    # and then the recorder is killed and the rest of the session with it)
    shed_above_mb: float | None = Field(None, ge=0)


class _Device(Strict):
    name: str = Field(pattern=NAME_RE)
    enabled: bool = True
    # the address of the capture PC this device is on ("" = this host, started by the supervisor);
    # a remote device is started there with `mestudio node CONFIG --device NAME` (docs/multi-host.md)
    host: str = ""

    @property
    def descriptor(self) -> DeviceKind:
        return KINDS[self.kind]  # type: ignore[attr-defined]  # every registered model has `kind`

    def stream_ids(self) -> list[str]:
        """The stream ids this section publishes (what the recorder will see)."""
        return self.descriptor.streams(self)

    @property
    def software_triggered(self) -> bool:
        """Its frames are paced by software triggers (the sync master fires them when [sync] is on)."""
        return False


class _Camera(_Device):
    width: int = Field(640, ge=8, le=8192)
    height: int = Field(480, ge=8, le=8192)
    fps: float = Field(60.0, gt=0, le=1000)


@device_kind(
    backend="mestudio.capture.synthetic:SyntheticCamera",
    source_backends={
        "face": "mestudio.capture.face.devices:SyntheticFaceCamera",
        "face3d": "mestudio.capture.face.devices3d:SyntheticFace3DCamera",
        "charuco": "mestudio.capture.face.devices3d:SyntheticFace3DCamera",
    },
)
class SyntheticCamera(_Camera):
    """A moving test pattern (or, with `source = "face"`, the synthetic face rig)."""

    kind: Literal["synthetic-camera"]
    pixel_format: Literal["mono8", "rgb8"] = "mono8"
    source: Literal["pattern", "face", "face3d", "charuco"] = "pattern"
    seed: int = Field(0, ge=0)  # face: which script (devices with one seed show the same face)
    script_duration_s: float = Field(3600.0, gt=0)  # face: length of the scripted part
    loop_s: float = Field(0.25, gt=0, le=10)  # face3d: length of the rendered loop (docs/4d.md)
    # checking a rig's fault handling: after fault_after_frames frames of every open, the device
    # raises ("error", as a camera unplugged) or its read never returns ("hang", as a stuck driver)
    fault: Literal["", "error", "hang"] = ""
    fault_after_frames: int = Field(30, ge=0)


@device_kind(
    backend="mestudio.capture.synthetic:SyntheticRGBD",
    source_backends={
        "face": "mestudio.capture.face.devices:SyntheticFaceRGBD",
        "face3d": "mestudio.capture.face.devices3d:SyntheticFace3DRGBD",
        "charuco": "mestudio.capture.face.devices3d:SyntheticFace3DRGBD",
    },
    streams=color_and_depth,
    media="rgbd",
)
class SyntheticRGBD(_Camera):
    """A colour + depth pair (two streams: <name>-color, <name>-depth)."""

    kind: Literal["synthetic-rgbd"]
    fps: float = Field(30.0, gt=0, le=1000)
    source: Literal["pattern", "face", "face3d", "charuco"] = "pattern"
    seed: int = Field(0, ge=0)
    script_duration_s: float = Field(3600.0, gt=0)
    loop_s: float = Field(0.25, gt=0, le=10)  # face3d: length of the rendered loop (docs/4d.md)


@device_kind(
    backend="mestudio.capture.synthetic:SyntheticArray",
    source_backends={
        "face": "mestudio.capture.face.devices:SyntheticFaceArray",
        "face3d": "mestudio.capture.face.devices3d:SyntheticFace3DArray",
        "charuco": "mestudio.capture.face.devices3d:SyntheticFace3DArray",
    },
    streams=one_per_camera,
)
class SyntheticArray(_Camera):
    """N synchronised mono cameras standing in for the Basler rig (streams <name>-0 ...)."""

    kind: Literal["synthetic-array"]
    count: int = Field(3, ge=1, le=16)
    source: Literal["pattern", "face", "face3d", "charuco"] = "pattern"
    seed: int = Field(0, ge=0)
    script_duration_s: float = Field(3600.0, gt=0)
    loop_s: float = Field(0.25, gt=0, le=10)  # face3d: length of the rendered loop (docs/4d.md)


@device_kind(backend="mestudio.capture.synthetic:SyntheticAudio", media="audio", capabilities=(Capability.SPEAKER,))
class SyntheticAudio(_Device):
    """48 kHz mono int16: a quiet tone with short beeps, paced by the host clock."""

    kind: Literal["synthetic-audio"]
    rate: int = Field(48000, ge=8000, le=192000)
    block: int = Field(1024, ge=16, le=65536)


@device_kind(
    backend="mestudio.capture.basler:BaslerArray",
    streams=one_per_camera,
    capabilities=(Capability.SOFTWARE_TRIGGER,),
)
class BaslerArray(_Camera):
    """Basler cameras via pypylon (`PYLON_CAMEMU=N` gives N emulated ones)."""

    kind: Literal["basler-array"]
    count: int = Field(6, ge=1, le=32)
    serials: list[str] = []
    pixel_format: Literal["Mono8"] = "Mono8"
    trigger: Literal["free-run", "software"] = "free-run"
    exposure_us: float = Field(5000.0, gt=0)
    gain_db: float = Field(0.0, ge=0)
    grab_strategy: Literal["one-by-one", "latest-only", "latest", "upcoming"] = "one-by-one"
    # pylon's camera emulation instead of real cameras (sets PYLON_CAMEMU=count for this process)
    emulate: bool = False
    # what emulated cameras show: "" their test pattern, "face" the face rig, "face3d" renders of the
    # 3D face rig's cameras, or a folder of BMPs
    emulated_images: str = ""

    @property
    def software_triggered(self) -> bool:
        return self.trigger == "software"


@device_kind(backend="mestudio.capture.genicam:GenICamCamera")
class GenICamCamera(_Camera):
    """Any GenICam/GenTL camera through harvesters (AVT Stingray via Vimba's producer)."""

    kind: Literal["genicam"]
    cti: list[str] = []
    serial: str = ""
    pixel_format: Literal["Mono8"] = "Mono8"


@device_kind(backend="mestudio.capture.opencv_camera:OpenCVCamera", capabilities=(Capability.PLAYBACK,))
class OpenCVCamera(_Camera):
    """A UVC webcam (index) or a video file through OpenCV."""

    kind: Literal["opencv"]
    source: str = "0"
    pixel_format: Literal["mono8", "bgr8"] = "mono8"
    loop: bool = False


@device_kind(
    backend="mestudio.capture.kinect:KinectCamera",
    streams=color_and_depth,
    media="rgbd",
    capabilities=(Capability.PLAYBACK,),
)
class KinectCamera(_Device):
    """Azure Kinect / Femto Bolt through pyk4a (needs the k4a SDK, see docs/capture.md)."""

    kind: Literal["kinect"]
    fps: Literal[5, 15, 30] = 30
    color_resolution: Literal["720p", "1080p", "1440p", "1536p", "2160p", "3072p"] = "720p"
    depth_mode: Literal["nfov_unbinned", "nfov_2x2binned", "wfov_2x2binned", "wfov_unbinned"] = "nfov_unbinned"
    device_index: int = Field(0, ge=0)
    playback: str = ""


@device_kind(
    backend="mestudio.capture.realsense:RealSenseCamera",
    streams=color_and_depth,
    media="rgbd",
    capabilities=(Capability.PLAYBACK,),
)
class RealSenseCamera(_Camera):
    """Intel RealSense colour + depth (pyrealsense2): a live camera, or `file` (.db3/.bag) replayed."""

    kind: Literal["realsense"]
    fps: float = Field(30.0, gt=0, le=1000)
    serial: str = ""
    file: str = ""
    realtime: bool = True  # replay at the recording's own pace (False: as fast as it is read)
    loop: bool = False


@device_kind(
    backend="mestudio.capture.freenect_kinect:FreenectKinect",
    streams=color_and_depth,
    media="rgbd",
    capabilities=(Capability.PLAYBACK,),
)
class FreenectKinect(_Device):
    """Xbox 360 Kinect via libfreenect, or a fakenect dump folder replayed once (`dump`)."""

    kind: Literal["freenect"]
    device_index: int = Field(0, ge=0)
    dump: str = ""


@device_kind(backend="mestudio.capture.audio:AudioInput", media="audio")
class AudioInput(_Device):
    """A microphone through pyaudio (PortAudio)."""

    kind: Literal["audio"]
    rate: int = Field(48000, ge=8000, le=192000)
    block: int = Field(1024, ge=16, le=65536)
    channels: int = Field(1, ge=1, le=8)
    device: str = ""


@device_kind(backend="mestudio.capture.lsl:LSLInlet", media="signal")
class LSLInlet(_Device):
    """One Lab Streaming Layer stream (EEG, GSR, markers ...) resolved by name, type and/or source id."""

    kind: Literal["lsl"]
    stream: str = ""  # the LSL stream's name
    type: str = ""  # its content type (EEG, Markers, Gaze ...)
    source_id: str = ""  # its source id: the one a restarted sender keeps
    resolve_timeout_s: float = Field(10.0, gt=0, le=600)
    max_buffered_s: float = Field(360.0, ge=1, le=3600)  # liblsl's inlet buffer
    max_string_bytes: int = Field(256, ge=8, le=65536)  # marker streams: bytes kept per marker

    @model_validator(mode="after")
    def _names_a_stream(self) -> LSLInlet:
        for key in ("stream", "type", "source_id"):
            if "'" in getattr(self, key):
                raise ValueError(f"lsl device {self.name!r}: {key} may not contain a quote (')")
        if not (self.stream or self.type or self.source_id):
            raise ValueError(f"lsl device {self.name!r}: set stream, type or source_id to say which LSL stream")
        return self


# every registered kind, discriminated by `kind`
if TYPE_CHECKING:
    Device = _Device
else:
    Device = Annotated[Union[tuple(k.model for k in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007


class SessionConfig(Strict):
    session: SessionSection = SessionSection()
    transport: TransportSection = TransportSection()
    recorder: RecorderSection = RecorderSection()
    devices: list[Device] = []
    # sections owned by later stages; each stage validates its own table
    sync: dict = {}
    analyzer: dict = {}
    monitor: dict = {}
    elicit: dict = {}
    lsl: dict = {}  # [lsl] outlets: interop/ validates it (interop/settings.py)

    @model_validator(mode="after")
    def _unique_names(self) -> SessionConfig:
        seen: set[str] = set()
        for d in self.devices:
            if d.name in RESERVED_NAMES:
                raise ValueError(f"device name {d.name!r} is reserved for a mestudio process; rename the device")
            if d.name in seen:
                raise ValueError(f"two devices are named {d.name!r}: names must be unique")
            seen.add(d.name)
            if d.host and d.enabled and self.transport.scheme != "tcp":
                raise ValueError(
                    f"device {d.name!r} is on host {d.host!r}: a remote device needs [transport] scheme = 'tcp' "
                    "(with CURVE keys) and host = this PC's address on the capture network"
                )
        return self

    @property
    def enabled_devices(self) -> list:
        return [d for d in self.devices if d.enabled]


def stream_ids(dev: _Device) -> list[str]:
    """The stream ids a device section publishes (what the recorder will see)."""
    return dev.stream_ids()


# the `kind` tags of the Device union (pydantic puts them in error locations; they are not keys)
DEVICE_KINDS: frozenset[str] = frozenset(KINDS)
