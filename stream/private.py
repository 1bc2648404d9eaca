"""Folders only this user may enter: the ipc sockets' runtime folder and the live registry.

A unix socket in a folder others can enter can be connected to by any local user (who could then
pause the recording, inject frames or end the session), and a folder with a predictable name in a
shared temp folder can be made first by another user to receive our sockets. So: runtime folders
get an unpredictable name (``mkdtemp``, mode 0700), and a folder we reuse must be ours, a real
folder (not a link) and closed to group and others, or it is refused.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from mestudio.stream.errors import StreamError


class PrivateFolderError(StreamError, PermissionError):
    """A folder that must be private to this user is not (another owner, open mode, a link)."""


def ensure_private_dir(path: str | Path) -> Path:
    """Create ``path`` (mode 0700) or check that the existing one is ours and private."""
    p = Path(path)
    try:
        p.mkdir(mode=0o700, parents=False)
    except FileNotFoundError:
        p.parent.mkdir(parents=True, exist_ok=True)
        return ensure_private_dir(p)
    except FileExistsError:
        pass
    check_private_dir(p)
    return p


def check_private_dir(p: Path) -> None:
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise PrivateFolderError(f"{p}: expected a private folder, found a link or a file; remove it")
    if st.st_uid != os.geteuid():
        raise PrivateFolderError(
            f"{p}: owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}); another user may "
            "be listening there: remove it or choose another folder"
        )
    if st.st_mode & 0o077:
        raise PrivateFolderError(
            f"{p}: mode {stat.S_IMODE(st.st_mode):04o} lets other users in; `chmod 700 {p}` or remove it"
        )


def runtime_base() -> Path:
    """Where runtime folders go: $XDG_RUNTIME_DIR when it is ours, else the system temp folder."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg:
        try:
            check_private_dir(Path(xdg))
            return Path(xdg)
        except (OSError, PrivateFolderError):
            pass
    return Path(tempfile.gettempdir())


def make_runtime_dir(base: str | Path | None = None, prefix: str = "mestudio-") -> Path:
    """A new folder with an unpredictable name, mode 0700, in ``base`` (checked private if given)."""
    if base is not None and str(base):
        base = ensure_private_dir(base)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base or runtime_base()))
