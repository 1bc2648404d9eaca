"""Every topic and every message body of a session, defined once and shared by both ends.

Producers build a body model and send ``body.to_wire()``; consumers call ``parse_body(topic,
data)`` on what they receive, so a field one side renames cannot silently vanish on the other, and
a message from an untrusted sender is validated before anything reads it.  Each body carries
``v`` (``MESSAGES_VERSION``); a receiver refuses bodies newer than it knows.  Bodies may carry
extra keys (they are kept and recorded); the fields named here are type-checked.

docs/wire-format.md lists the same topics and bodies for clients in other languages.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mestudio.stream.errors import WireFormatError

MESSAGES_VERSION = 1

# A stream id (and a node name) becomes a folder name: a strict pattern, never a path.
STREAM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")

# -- topics ------------------------------------------------------------------------------------
# Frames go out on their stream id; everything else on "<channel>/<name>".
INFO = "info/"  # + stream id: what a stream is (StreamInfoBody), sent once before its frames
END = "end/"  # + stream id: the producer's final counts (EndBody)
CONTROL = "control/"  # + node name: heartbeats to the supervisor (Heartbeat)
COMMAND = "command/"  # + verb: operator commands (Command)
TRIGGER = "trigger/"  # + device name: a software trigger paced by the sync master (Trigger)
MARKERS_ELICIT = "markers/elicit"
STATE_ELICIT = "state/elicit"
RESULTS_ANALYZER = "results/analyzer"
SYNC_HEALTH = "sync/health"
SYNC_FRAMESETS = "sync/framesets"
SYNC_CHIRP = "sync/chirp"
SYNC_CHIRP_REQUEST = "sync/request-chirp"
SYNC_HOST_OFFSET = "sync/host_offset"
SESSION_START = "session/start"
SESSION_STOP = "session/stop"
SESSION_STOPPING = "session/stopping"
SESSION_PROBLEM = "session/problem"
SESSION_NODE_DOWN = "session/node-down"  # a device node died; a restart is planned
SESSION_NODE_RESTARTED = "session/node-restarted"  # ... and was started again (seq_base per stream)
SESSION_REMOTE_CLOCK = "session/remote-clock"  # a remote capture PC's host-clock estimate
SESSION_STOP_REMOTE = "session/stop-remote"  # broadcast: remote device nodes stop and send their last heartbeat
SESSION_NODE_JOIN = "session/node-join"  # broadcast: the supervisor's answer to a remote node's join (JoinAnswer)
SESSION_NODE_WAITING = "session/node-waiting"  # a remote node's new process waits for the old one's death
SESSION_NODE_REFUSED = "session/node-refused"  # ... and was refused (the old one lives, or the session stops)
RECORDER_ERROR = "recorder/error"
RECORDER_PAUSED = "recorder/paused"
RECORDER_RESUMED = "recorder/resumed"
RECORDER_REJECTED = "recorder/rejected"
RECORDER_BEHIND = "recorder/behind"  # the recorder fell behind its producers by over BEHIND_S (and caught up)
RECORDER_CANNOT_KEEP_UP = "recorder/cannot-keep-up"  # past recorder.max_backlog_s/_mb (and back under)
RECORDER_SHEDDING = "recorder/shedding"  # past recorder.shed_above_mb frames are counted, not written (and back)
RECORDER_STATUS = "recorder/status"  # the recorder's backlog, each flush, for viewers only (RecorderStatus)
END_REPLAY = END + "replay"

CHANNELS = frozenset(
    ["info", "end", "control", "command", "trigger", "markers", "state", "results", "sync", "session", "recorder"]
    + ["error", "warning"]
)
TOPIC_RE = re.compile(r"^[a-z]+/[A-Za-z0-9_.-]{1,48}$")
INSTANCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # a remote node process's token (Heartbeat, JoinAnswer)

# operator command verbs (monitor/operator.py explains each to the operator)
VERBS = frozenset(
    ["record-stop", "record-start", "mark", "start", "pause", "resume", "skip", "abort", "stop-session", "chirp"]
)


def info_topic(stream_id: str) -> str:
    return INFO + stream_id


def end_topic(stream_id: str) -> str:
    return END + stream_id


def control_topic(name: str) -> str:
    return CONTROL + name


def command_topic(verb: str) -> str:
    return COMMAND + verb


def trigger_topic(device: str) -> str:
    return TRIGGER + device


# -- rejects -------------------------------------------------------------------------------------


class MessageError(WireFormatError):
    """A message whose topic or body does not follow this module (``kind`` says how)."""


def check_stream_id(sid: str, what: str = "stream id") -> str:
    if not STREAM_ID_RE.match(sid):
        raise WireFormatError(
            f"{what} {sid[:60]!r} is not a safe name (letters, digits, _ . -, at most 48, no paths)", kind="stream-id"
        )
    return sid


def check_topic(topic: str) -> str:
    """A non-frame topic: a known channel and a safe name after it."""
    if not TOPIC_RE.match(topic):
        raise MessageError(f"topic {topic[:60]!r} is not <channel>/<name>", kind="topic")
    channel = topic.split("/", 1)[0]
    if channel not in CHANNELS:
        raise MessageError(f"topic {topic[:60]!r}: unknown channel {channel!r}", kind="topic")
    return topic


class RejectCounter:
    """Counts rejected messages per kind; logs the first of each kind, then a count per interval.

    A flood of bad messages costs one line per kind per ``every_s``, never one line each."""

    def __init__(self, where: str, log: Callable[[str], None] | logging.Logger, every_s: float = 10.0) -> None:
        self.where = where
        self._log = log.warning if isinstance(log, logging.Logger) else log
        self.every_s = every_s
        self.counts: dict[str, int] = {}
        self._logged: dict[str, tuple[float, int]] = {}  # kind -> (when last logged, count then)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reject(self, err: WireFormatError) -> None:
        kind = getattr(err, "kind", "malformed")
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        last = self._logged.get(kind)
        if last is None:
            self._log(f"{self.where}: rejected a message ({kind}): {err}; more of this kind are counted")
            self._logged[kind] = (now, n)
        elif now - last[0] >= self.every_s and n > last[1]:
            self._log(f"{self.where}: rejected {n - last[1]} more messages ({kind}) in {now - last[0]:.0f} s")
            self._logged[kind] = (now, n)


# -- bodies --------------------------------------------------------------------------------------

DTYPES = frozenset(["|u1", "|i1", "|b1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"])
MAX_STRING_BYTES = 65536  # fixed-width byte strings ``|S<n>`` (LSL marker samples), n up to this


def dtype_allowed(dtype: str) -> bool:
    """Whether a frame may carry this numpy dtype string: the numeric whitelist, or ``|S1``..``|S65536``."""
    if dtype in DTYPES:
        return True
    n = dtype[2:]
    return dtype.startswith("|S") and n.isdigit() and not n.startswith("0") and int(n) <= MAX_STRING_BYTES


class Body(BaseModel):
    """Base of every body: versioned, extra keys kept, the named fields checked."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    topics: ClassVar[tuple[str, ...]] = ()  # exact topics or prefixes ending in "/"

    v: int = MESSAGES_VERSION

    @field_validator("v")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v < 1 or v > MESSAGES_VERSION:
            raise ValueError(f"body version {v}, this mestudio reads 1-{MESSAGES_VERSION}")
        return v

    def to_wire(self) -> dict[str, Any]:
        """The body as a dict for wire.json_parts (which also turns numpy scalars and arrays into JSON)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class StreamInfoBody(Body):
    topics = (INFO,)
    stream_id: str
    dtype: str
    shape: list[int] = Field(max_length=4)
    pixel_format: str = Field("", max_length=16)
    media: str = ""
    rate_hz: float | None = Field(None, ge=0)
    device_kind: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("stream_id")
    @classmethod
    def _sid(cls, v: str) -> str:
        return check_stream_id(v)

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        if not dtype_allowed(v):
            raise ValueError(f"dtype {v!r} is not one of {', '.join(sorted(DTYPES))} or |S<n>")
        return v

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 1 << 20 for d in v):
            raise ValueError(f"shape {v}: dimensions must be 0..{1 << 20}")
        return v


class EndBody(Body):
    """A producer's last word on a stream: what it published and what it lost at the source."""

    topics = (END,)
    frames: int | None = Field(None, ge=0)
    device_dropped: int = Field(0, ge=0)
    dropped_for_recorder: int = Field(0, ge=0)
    messages: int | None = Field(None, ge=0)  # a replay's total


class Heartbeat(Body):
    topics = (CONTROL,)
    name: str
    role: str = ""
    pid: int = Field(0, ge=0)
    ready: bool = False
    final: bool = False
    error: str | None = None
    # a remote device node's process (mestudio/remote_join.py): its token, asking to join, and the
    # process it says is dead (its keeper saw it die)
    instance: str | None = Field(None, pattern=INSTANCE_PATTERN)
    joining: bool | None = None
    replaces: str | None = Field(None, pattern=INSTANCE_PATTERN)
    replaced_exit: str | None = Field(None, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_stream_id(v, "node name")


class Command(Body):
    """An operator command; ``from`` is filled in by the supervisor when it records it."""

    topics = (COMMAND,)
    host_time_ns: int | None = None
    target: str | None = None
    note: str | None = Field(None, max_length=1000)
    reason: str | None = Field(None, max_length=200)
    sender: str | None = Field(None, alias="from")


class ElicitState(Body):
    """What the elicitation controller is doing now (the monitor's protocol line)."""

    topics = (STATE_ELICIT,)
    state: str
    paused: bool = False
    step: int = Field(ge=-1)  # index into the protocol's steps, -1 before the first
    steps: int = Field(ge=0)
    participant: str = ""
    protocol: str = ""
    clip: str | None = None
    title: str | None = None
    trial: bool | None = None
    position_s: float | None = None
    dropped: int | None = None
    clock: str | None = None
    break_left_s: float | None = None


class Marker(Body):
    topics = (MARKERS_ELICIT,)
    event: str


class Trigger(Body):
    topics = (TRIGGER,)
    tick: int = Field(ge=0)
    sample: float
    late_ns: int = 0


class Chirp(Body):
    """The sync master's audible pattern, due at ``sample`` of the audio stream ``stream``."""

    topics = (SYNC_CHIRP,)
    sample: int = Field(ge=0)
    stream: str
    rate: float = Field(gt=0, le=1_000_000)
    due_host_ns: int | float | None = None
    f0_hz: float = Field(gt=0)
    f1_hz: float = Field(gt=0)
    duration_s: float = Field(gt=0, le=10)
    amplitude: float = Field(ge=0, le=1)
    reason: str = ""


class ChirpRequest(Body):
    topics = (SYNC_CHIRP_REQUEST,)
    reason: str = Field("request", max_length=200)


class SessionStart(Body):
    topics = (SESSION_START,)
    nodes: list[str] = Field(default_factory=list)


class SessionStop(Body):
    topics = (SESSION_STOP,)
    problems: list[str] = Field(default_factory=list)


class SessionProblem(Body):
    topics = (SESSION_PROBLEM,)
    problem: str
    fatal: bool = True


class RecorderStatus(Body):
    """How far behind its producers the recorder is (seconds; stream/backlog.py Backlog), sent on
    the recorder's own PUB (Endpoints.recorder_status) every flush; viewers show it, nobody records it."""

    topics = (RECORDER_STATUS,)
    backlog_s: float = Field(ge=0)
    backlog_max_s: float = Field(0.0, ge=0)
    behind: bool = False  # past backlog.BEHIND_S, not yet back under half of it
    cannot_keep_up: bool = False  # past recorder.max_backlog_s or max_backlog_mb (a session problem)
    shedding: bool = False  # past recorder.shed_above_mb: frames counted, not written (a session problem)
    queued_mb: float = Field(0.0, ge=0)  # estimated bytes waiting in the recorder's queue
    rss_mb: float = Field(0.0, ge=0)  # the recorder process's resident memory
    streams: dict[str, float] = Field(default_factory=dict, max_length=256)  # stream id -> backlog_s
    messages: int = Field(0, ge=0)
    bytes: int = Field(0, ge=0)

    @field_validator("streams")
    @classmethod
    def _streams(cls, v: dict[str, float]) -> dict[str, float]:
        for sid, s in v.items():
            check_stream_id(sid)
            if not s >= 0:
                raise ValueError(f"stream {sid!r}: backlog {s} is not >= 0")
        return v


class JoinAnswer(Body):
    """The supervisor's answer to one process of a remote device node asking to join (``joining``
    in its heartbeats, with its ``instance`` token): admitted, with where its sequence numbers go
    on, or refused (another process of that name is alive, or the session is stopping)."""

    topics = (SESSION_NODE_JOIN,)
    node: str
    instance: str = Field(pattern=INSTANCE_PATTERN)
    admitted: bool = False
    refused: str | None = Field(None, max_length=500)
    stopping: bool = False  # refused because the session is stopping: nothing of it is lost
    restart: int = Field(0, ge=0)  # 0 on the first join; the session's restart number after that
    seq_base: dict[str, int] = Field(default_factory=dict, max_length=256)
    frames_before: dict[str, int] = Field(default_factory=dict, max_length=256)

    @field_validator("node")
    @classmethod
    def _node(cls, v: str) -> str:
        return check_stream_id(v, "node name")

    @field_validator("seq_base", "frames_before")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        for sid, n in v.items():
            check_stream_id(sid)
            if n < 0:
                raise ValueError(f"stream {sid!r}: {n} is not >= 0")
        return v


class AnyBody(Body):
    """Topics whose body is free-form (results, sync health, recorder notes): a JSON object."""


MODELS: tuple[type[Body], ...] = (
    StreamInfoBody,
    EndBody,
    Heartbeat,
    Command,
    ElicitState,
    Marker,
    Trigger,
    Chirp,
    ChirpRequest,
    SessionStart,
    SessionStop,
    SessionProblem,
    RecorderStatus,
    JoinAnswer,
)
_EXACT = {t: m for m in MODELS for t in m.topics if not t.endswith("/")}
_PREFIX = {t: m for m in MODELS for t in m.topics if t.endswith("/")}


def model_for(topic: str) -> type[Body]:
    m = _EXACT.get(topic)
    if m is None:
        m = _PREFIX.get(topic[: topic.find("/") + 1], AnyBody)
    return m


def parse_body(topic: str, data: Any) -> Body:
    """The validated body of a non-frame message received on ``topic`` (raises MessageError)."""
    check_topic(topic)
    if not isinstance(data, dict):
        raise MessageError(f"{topic}: body is a JSON {type(data).__name__}, not an object", kind="body-not-object")
    if topic.startswith(COMMAND) and topic[len(COMMAND) :] not in VERBS:
        raise MessageError(f"{topic}: unknown command verb (known: {', '.join(sorted(VERBS))})", kind="verb")
    model = model_for(topic)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise MessageError(f"{topic}: {where}: {err['msg']}", kind="body-invalid") from None
