"""Everything a session file asks of the stages, checked before a session folder exists.

Each stage validates its own section with its own model; doing it here, up front, turns a typo in
`[sync]`, a missing stimulus clip or an unknown analyzer method into a one-line error before the
participant sits down, instead of a node failing in the middle of a recording.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from mestudio.config.errors import ConfigError
from mestudio.config.schema import SessionConfig, stream_ids
from mestudio.monitor.settings import MonitorSettings
from mestudio.stream.bus import tcp_ports


def _resolve(config_path: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (config_path.parent / p).resolve()


def check_devices(cfg: SessionConfig, src: str) -> None:
    """A session records devices: none (or all disabled) is a mistake, not an empty recording."""
    if not cfg.enabled_devices:
        what = "every [[devices]] section has enabled = false" if cfg.devices else "no [[devices]] section"
        raise ConfigError(f"{src}: devices: {what}; a session needs at least one device to record")


def check_analyzer_stream(cfg: SessionConfig, src: str) -> None:
    """`[analyzer] stream` must name a stream one of the enabled devices publishes."""
    if not cfg.analyzer.get("enabled", False):
        return
    from mestudio.analysis.settings import load_settings

    wanted = load_settings(cfg.analyzer, f"{src}: [analyzer]").stream
    known = [sid for d in cfg.enabled_devices for sid in stream_ids(d)]
    if wanted not in known:
        raise ConfigError(
            f"{src}: [analyzer] stream: no enabled device publishes a stream {wanted!r} "
            f"(streams of this session: {', '.join(known) or 'none'})"
        )


def check_ports(cfg: SessionConfig, src: str, producers: list[str]) -> None:
    """With tcp, every port the session will bind must be free on its host, before a folder exists."""
    t = cfg.transport
    if t.scheme != "tcp":
        return
    family = socket.AF_INET6 if ":" in t.host else socket.AF_INET
    for port in tcp_ports(t.base_port, producers):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds: TIME_WAIT is not "in use"
        try:
            s.bind((t.host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"{src}: [transport] base_port: port {port} on {t.host} is in use (another session or "
                    f"program); choose a base_port with {len(tcp_ports(t.base_port, producers))} free ports"
                ) from None
            raise ConfigError(f"{src}: [transport] host: cannot listen on {t.host}:{port}: {e.strerror or e}") from None
        finally:
            s.close()


def check_access(cfg: SessionConfig, src: str) -> None:
    """The lab group exists; a configured ipc runtime folder is this user's own and private."""
    from mestudio.access import group_id
    from mestudio.stream.errors import SessionError
    from mestudio.stream.private import PrivateFolderError, check_private_dir

    try:
        group_id(cfg.session.group)
    except SessionError as e:
        raise ConfigError(f"{src}: {e}") from None
    rd = cfg.transport.runtime_dir
    if cfg.transport.scheme == "ipc" and rd and Path(rd).exists():
        try:
            check_private_dir(Path(rd))
        except PrivateFolderError as e:
            raise ConfigError(f"{src}: [transport] runtime_dir: {e}") from None
    if cfg.transport.scheme == "tcp":
        from mestudio.stream.curve import CurveKeyError, CurveKeys

        try:
            CurveKeys.load(_resolve(Path(src), cfg.transport.keys))
        except CurveKeyError as e:
            raise ConfigError(f"{src}: [transport] keys: {e}") from None


def check_session(cfg: SessionConfig, config_path: Path) -> None:
    """Everything checked before `mestudio run` creates a folder: devices, ports and every stage."""
    src = str(config_path)
    check_devices(cfg, src)
    check_access(cfg, src)
    check_stages(cfg, config_path)
    check_analyzer_stream(cfg, src)
    from mestudio.session_plan import SupervisorError, plan_nodes, producer_names

    try:
        nodes = plan_nodes(cfg)
    except SupervisorError as e:
        raise ConfigError(f"{src}: {e}") from None
    check_ports(cfg, src, producer_names(nodes))


def monitor_settings(cfg: SessionConfig, config_path: Path | str = "session config") -> MonitorSettings:
    """The validated `[monitor]` section (its defaults when absent)."""
    from mestudio.config.loader import validate

    return validate(MonitorSettings, cfg.monitor, f"{config_path}: [monitor]")


def check_stages(cfg: SessionConfig, config_path: Path) -> None:
    """Raise ConfigError (one line naming file and key) for the first stage section that cannot work."""
    src = str(config_path)
    if cfg.sync:
        from mestudio.sync.settings import load_sync_settings

        load_sync_settings(cfg.sync, src)
    if cfg.lsl:
        from mestudio.interop.settings import load_lsl_settings

        if load_lsl_settings(cfg.lsl, src).outlets:
            from mestudio.interop.errors import LSLUnavailableError
            from mestudio.interop.outlets import import_pylsl

            try:
                import_pylsl()  # a missing pylsl is said before the session starts
            except LSLUnavailableError as e:
                raise ConfigError(f"{src}: [lsl] outlets: {e}") from None
    if cfg.analyzer:
        from mestudio.analysis.settings import load_settings

        load_settings(cfg.analyzer, f"{src}: [analyzer]")
    if cfg.monitor:
        monitor_settings(cfg, config_path)
    if cfg.elicit:
        from mestudio.config.loader import validate
        from mestudio.elicit.settings import ElicitSettings

        settings = validate(ElicitSettings, cfg.elicit, f"{src}: [elicit]")
        if settings.enabled:
            from mestudio.elicit.checks import check_protocol
            from mestudio.elicit.protocol import load_protocol

            if not settings.protocol:
                raise ConfigError(f"{src}: [elicit] protocol: empty; name a protocol file (e.g. demo-protocol.toml)")
            path = _resolve(config_path, settings.protocol)
            try:
                check_protocol(load_protocol(path if path.exists() else settings.protocol), sound=False)
            except ConfigError as e:  # name the session file too: that is what the user ran
                raise type(e)(f"{src}: [elicit] protocol: {e}") from None
