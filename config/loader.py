"""Load a session file into typed models, with one-line errors naming the file and the key."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from mestudio.config.errors import ConfigError, ConfigFileNotFoundError
from mestudio.config.schema import DEVICE_KINDS, SessionConfig

M = TypeVar("M", bound=BaseModel)


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in DEVICE_KINDS:
            continue  # the union tag pydantic inserts, not a key of the file
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def describe_validation_error(source: str, err: ValidationError) -> str:
    """The first problem of a ValidationError as one line: `file: key: what is wrong`."""
    e = err.errors()[0]
    key = _key_path(e["loc"])
    if e["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling; see config/demo.toml for the keys that exist)"
    elif e["type"] == "union_tag_invalid":
        msg = (
            f"unknown device kind {e['input'].get('kind') if isinstance(e['input'], dict) else e['input']!r}; "
            f"known kinds: {e['ctx']['expected_tags']}"
        )
    elif e["type"] == "union_tag_not_found":
        msg = "a device needs a `kind`"
    else:
        got = e.get("input")
        msg = e["msg"] + (f" (got {got!r})" if not isinstance(got, (dict, list)) else "")
    more = len(err.errors()) - 1
    return f"{source}: {key}: {msg}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def validate(model: type[M], data: dict, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(source, err)) from None


def read_toml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigFileNotFoundError(f"{p}: no such config file" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None


def load_session_config(path: str | Path) -> SessionConfig:
    """Read and validate a session file."""
    return validate(SessionConfig, read_toml(path), str(path))


def bundled_config(name: str) -> Path:
    """Path of a config file shipped with mestudio (e.g. "demo.toml")."""
    p = Path(str(resources.files("mestudio.config") / name))
    if not p.is_file():
        raise ConfigFileNotFoundError(f"{name}: no such bundled config in {p.parent}")
    return p
