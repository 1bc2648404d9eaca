"""Everything a session file asks of the stages, checked before a session folder exists.

Each stage validates its own section with its own model; doing it here, up front, turns a typo in
`[sync]`, a missing stimulus clip or an unknown analyzer method into a one-line error before the
participant sits down, instead of a node failing in the middle of a recording.
"""

from __future__ import annotations

from pathlib import Path

from mestudio.config.errors import ConfigError
from mestudio.config.schema import SessionConfig


def _resolve(config_path: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (config_path.parent / p).resolve()


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
