"""A device node on a second capture PC: it joins a session running on the recording PC.

The session file is the same on both PCs (the device's section says ``host = <this PC>``), so both
sides plan the same endpoints.  The node connects over CURVE tcp (its own client key, allowed by
the session's keys folder) to the recorder and the supervisor, binds its viewers' PUB on its own
address, and measures its monotonic clock against the supervisor's time server
(sync/hostclock.py), again every few seconds: every host time it publishes is on the recording
PC's clock, so its frames land on the one session timeline.  A device that fails is opened again
(mestudio/remote_restarts.py), the restarts reported in its heartbeats.  Before it opens its device it
joins the session (mestudio/remote_join.py): a process started again after one was killed rejoins
where the recording stopped; a second one while the first is alive is refused.  It stops when the
supervisor asks (``session/stop-remote`` on the broadcast), on SIGTERM or on Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mestudio.config.errors import ConfigError
from mestudio.config.schema import SessionConfig
from mestudio.remote_join import Broadcasts, join_session, new_instance, restart_info
from mestudio.remote_restarts import keep_device_running
from mestudio.session_plan import plan_nodes, producer_names
from mestudio.stream import wire
from mestudio.stream.bus import Endpoints
from mestudio.stream.node import NodeContext
from mestudio.stream.private import make_runtime_dir
from mestudio.sync.errors import HostClockError
from mestudio.sync.hostclock import HostOffset, estimate_offset

CLOCK_REFRESH_S = 5.0
CLOCK_KEEP = 6  # the estimate with the lowest round trip among the last few is applied


def remote_endpoints(cfg: SessionConfig, config_path: Path, keys: str | None, client: str) -> Endpoints:
    """The session's endpoints, planned as the supervisor plans them, with this PC's keys."""
    t = cfg.transport
    folder = Path(keys or t.keys).expanduser()
    if not folder.is_absolute():
        folder = (config_path.parent / folder).resolve()
    eps = Endpoints.plan(
        "tcp",
        t.host,
        t.base_port,
        producer_names(plan_nodes(cfg)),
        keys=folder,
        hosts={d.name: d.host for d in cfg.enabled_devices if d.host},
    )
    eps.curve_client = client
    eps.curve()  # a missing or open keys folder fails here, with its one-line reason
    return eps


def remote_device(cfg: SessionConfig, name: str, src: str):
    for d in cfg.enabled_devices:
        if d.name == name:
            if not d.host:
                raise ConfigError(
                    f"{src}: device {name!r} has no host: it is started by the session itself; "
                    "set its host = this PC's address to run it here"
                )
            return d
    names = ", ".join(d.name for d in cfg.enabled_devices if d.host) or "none"
    raise ConfigError(f"{src}: no enabled device named {name!r} (remote devices in this file: {names})")


@dataclass
class RemoteClock:
    """This PC's clock against the session host's, kept fresh; applied to every published time."""

    ctx: NodeContext
    simulated_skew_ns: int = 0  # for checking a rig: pretend this PC's clock runs this far ahead

    def __post_init__(self) -> None:
        self.recent: list[HostOffset] = []

    def local_ns(self) -> int:
        return wire.now_ns() + self.simulated_skew_ns

    def measure(self, timeout_s: float = 0.5) -> HostOffset:
        est = estimate_offset(
            self.ctx.zmq,
            self.ctx.endpoints.clock,
            probes=16,
            timeout_s=timeout_s,
            clock=self.local_ns,
            endpoints=self.ctx.endpoints,
        )
        self.recent = (self.recent + [est])[-CLOCK_KEEP:]
        best = min(self.recent, key=lambda e: e.rtt_ns)
        # offset_ns = this clock - the session's: subtract it from our times (plus the simulated skew)
        self.ctx.host_offset_ns = self.simulated_skew_ns - best.offset_ns
        self.ctx.heartbeat({"clock": {**best.to_json(), "applied_ns": -best.offset_ns}})
        return best

    def wait_for_session(self, wait_s: float) -> HostOffset:
        end = time.monotonic() + wait_s
        while True:
            try:
                return self.measure(timeout_s=1.0)
            except HostClockError:
                if time.monotonic() >= end or self.ctx.stop.is_set():
                    raise HostClockError(
                        f"no session answered at {self.ctx.endpoints.clock} within {wait_s:.0f} s: start "
                        "`mestudio run` on the recording PC, and check the address, the port and the keys"
                    ) from None


def _refresh(clock: RemoteClock) -> None:
    while not clock.ctx.stop.wait(CLOCK_REFRESH_S):
        try:
            clock.measure()
        except HostClockError:
            pass  # keep the last estimate; the supervisor notices a silent node by its heartbeats


def run_remote_node(
    cfg: SessionConfig,
    config_path: Path,
    device: str,
    *,
    keys: str | None = None,
    client: str = "client",
    wait_s: float = 60.0,
    simulated_skew_ns: int = 0,
    instance: str = "",
    replaces: str = "",
    replaced_exit: str = "",
) -> dict:
    """Run one remote device node until the session stops it; returns its final status (with
    ``error`` when its device failed past the session's restarts).  ``replaces``: the instance of
    this node's process that died (its keeper saw it die), so the session need not wait for its
    silence.  Raises NodeRefusedError when another process of this node is alive."""
    src = str(config_path)
    remote_device(cfg, device, src)
    eps = remote_endpoints(cfg, config_path, keys, client)
    work = make_runtime_dir(prefix="mestudio-node-")  # the device's scratch folder: no session here
    (work / "manifest.json").write_text(json.dumps({"t0_host_ns": wire.now_ns(), "remote_device": device}))
    ctx = NodeContext(
        name=device, role="device", config=cfg, session_dir=work, endpoints=eps, config_dir=config_path.parent
    )
    clock = RemoteClock(ctx, simulated_skew_ns)
    ear = Broadcasts(ctx, instance or new_instance())
    ctx.heartbeat({"instance": ear.instance})  # from its first beat: the session tells its processes apart
    try:
        ctx.start_reporting()
        signal.signal(signal.SIGINT, lambda *_: ctx.stop.set())  # a person runs this one: Ctrl-C stops it
        first = clock.wait_for_session(wait_s)
        ear.start()
        ans = join_session(ctx, ear, wait_s, replaces, replaced_exit)
        if ans is None:  # stopped before it was admitted: it sent nothing
            return ctx.status()
        how = f"rejoined (restart {ans.restart}, seq from {ans.seq_base})" if ans.restart else "joined"
        print(
            f"mestudio node {device}: {how} {eps.recorder} (clock offset {first.offset_ns / 1e6:+.3f} ms "
            f"± {first.error_bound_ns / 1e6:.3f} ms)",
            flush=True,
        )
        refresh = threading.Thread(target=_refresh, args=(clock,), name="remote-clock", daemon=True)
        refresh.start()
        keep_device_running(ctx, restart_info(ans))  # reopens a failed device within [session] restarts
        ctx.stop.set()  # also when its device gave up: the helper threads end before their sockets close
        refresh.join(timeout=2)
        return ctx.status()
    finally:
        ctx.stop.set()  # refused, or stopped while joining: the listener ends before its socket closes
        if ear.thread.is_alive():
            ear.thread.join(timeout=2)
        ctx.close()
