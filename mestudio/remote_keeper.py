"""`mestudio node --keep-alive`: the node runs in a child process, started again when it dies.

A capture PC's node process can die by itself (the OOM killer, a crash in a driver): the keeper
starts it again after the session's backoff (``[session] restart_backoff_s`` doubling up to
``restart_backoff_max_s``), at most ``[session] restarts`` times.  Each new process names the one
that died (``replaces``), so the session takes it back at once, where the recording stopped
(mestudio/remote_admission.py).  What ends the node for good ends the keeper too: the session
stopped it (exit 0), its device failed past the restarts, it was refused or has a bad config (the
child's own one-line error, and its exit code).  The keeper itself does not survive the PC's
reboot: a service manager (systemd, docs/multi-host.md) does that.

The child is ``python -m mestudio.remote_keeper OPTIONS-JSON``; its exit code says which ending
it met, so that a crash (a traceback, exit 1) is not taken for a final verdict.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mestudio.config.errors import ConfigError
from mestudio.config.loader import load_session_config
from mestudio.node_processes import describe_exit
from mestudio.remote_join import JoinTimeoutError, NodeRefusedError, ViewerPortError, new_instance
from mestudio.stream.errors import StreamError
from mestudio.stream.spawn import module_command
from mestudio.sync.errors import HostClockError

# how a node process ended: the command's exit code, and the child's (distinct from a crash's 1)
EXIT_CODES = {"stopped": 0, "failed": 1, "refused": 1, "config": 2}
CHILD_CODES = {"stopped": 0, "failed": 10, "refused": 11, "config": 12}
CHILD_ENDINGS = {code: ending for ending, code in CHILD_CODES.items()}


@dataclass
class NodeOptions:
    """What `mestudio node` was asked to run (the keeper hands it to each child as JSON)."""

    config: str
    device: str
    keys: str | None = None
    client: str = "client"
    wait_s: float = 60.0
    simulated_skew_ns: int = 0
    json: bool = False
    instance: str = ""
    replaces: str = ""
    replaced_exit: str = ""


@dataclass
class Verdict:
    ending: str  # a key of EXIT_CODES
    error: str = ""  # the one line to print (without the command's prefix)
    status: dict = field(default_factory=dict)


def run_node(opts: NodeOptions) -> Verdict:
    """Run the node once, to its end, and say how it ended."""
    from mestudio.remote import run_remote_node

    path = Path(opts.config)
    try:
        cfg = load_session_config(path)
        status = run_remote_node(
            cfg,
            path,
            opts.device,
            keys=opts.keys,
            client=opts.client,
            wait_s=opts.wait_s,
            simulated_skew_ns=opts.simulated_skew_ns,
            instance=opts.instance,
            replaces=opts.replaces,
            replaced_exit=opts.replaced_exit,
        )
    except (ConfigError, StreamError) as e:  # the config, the keys, private folders
        return Verdict("config", str(e))
    except (HostClockError, JoinTimeoutError, ViewerPortError) as e:
        return Verdict("failed", str(e))
    except NodeRefusedError as e:
        if e.stopping:  # the session ended while this process waited to rejoin: nothing lost
            return Verdict("stopped", status={"note": str(e)})
        return Verdict("refused", f"{opts.device}: {e}")
    if status.get("error"):  # its device failed more often than [session] restarts allows
        return Verdict("failed", f"{opts.device}: {status['error']}", status)
    return Verdict("stopped", status=status)


def report(opts: NodeOptions, verdict: Verdict) -> None:
    """What `mestudio node` prints at its end (its error line is the caller's)."""
    if verdict.ending != "stopped":
        return
    if opts.json:
        print(json.dumps(verdict.status, indent=2, default=str), flush=True)
    elif verdict.status.get("note"):
        print(f"mestudio node {opts.device}: {verdict.status['note']}", flush=True)
    else:
        frames = {k: v.get("frames") for k, v in verdict.status.get("streams", {}).items()}
        print(f"mestudio node {opts.device}: stopped; frames sent {frames}", flush=True)


def keep_alive(opts: NodeOptions) -> int:
    """Run the node in a child process until it ends for good; the command's exit code."""
    from mestudio.remote import remote_device

    cfg = load_session_config(Path(opts.config))  # a bad file or device is one line here, not N restarts
    remote_device(cfg, opts.device, opts.config)
    sess = cfg.session
    stop = threading.Event()
    proc: subprocess.Popen | None = None

    def on_signal(*_: object) -> None:  # SIGTERM or Ctrl-C: the child stops, the keeper with it
        stop.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    restarts, previous, previous_exit = 0, "", ""
    while True:
        child = NodeOptions(**{**asdict(opts), "instance": new_instance(), "replaces": previous})
        child.replaced_exit = previous_exit
        proc = subprocess.Popen(module_command("mestudio.remote_keeper", json.dumps(asdict(child))))
        code = proc.wait()
        ending = CHILD_ENDINGS.get(code)
        if ending is not None:
            return EXIT_CODES[ending]  # the child printed its own line
        if stop.is_set():
            return 0 if code in (0, -signal.SIGTERM) else 1
        why = describe_exit(code)
        if restarts >= sess.restarts:
            print(
                f"mestudio node: {opts.device}: the node process {why} (restarts used: {restarts} of {sess.restarts})",
                file=sys.stderr,
                flush=True,
            )
            return 1
        backoff = min(sess.restart_backoff_s * 2**restarts, sess.restart_backoff_max_s)
        restarts += 1
        print(
            f"mestudio node {opts.device}: the node process {why}; starting it again in {backoff:.1f} s "
            f"(restart {restarts} of {sess.restarts})",
            flush=True,
        )
        if stop.wait(backoff):
            return 0
        previous, previous_exit = child.instance, why


def child_main(argv: list[str]) -> int:
    """One node process under the keeper: its ending as a CHILD_CODES code."""
    opts = NodeOptions(**json.loads(argv[0]))
    verdict = run_node(opts)
    if verdict.error:
        print(f"mestudio node: {verdict.error}", file=sys.stderr, flush=True)
    report(opts, verdict)
    return CHILD_CODES[verdict.ending]


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
