"""Who may read a session: its owner only by default, or a lab's group (``[session] group``).

Face video is personal data.  A session folder is made 0700 with files 0600; with a group it is
0750 (plus setgid, so everything made inside keeps that group) with files 0640.  The modes come
from the umask the supervisor sets before it makes the folder; its children inherit it, so every
file the recorder and the stages write follows the same rule.
"""

from __future__ import annotations

import grp
import os
from contextlib import contextmanager
from pathlib import Path

from mestudio.stream.errors import SessionError

OWNER_UMASK = 0o077  # dirs 0700, files 0600
GROUP_UMASK = 0o027  # dirs 0750, files 0640


class UnknownGroupError(SessionError, LookupError):
    """``[session] group`` names a group this host does not have."""


def group_id(group: str) -> int | None:
    """The gid of ``[session] group`` ("" for none); a clear error when the host has no such group."""
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise UnknownGroupError(
            f"[session] group: this host has no group {group!r} (create it, or leave group empty "
            "for owner-only sessions)"
        ) from None


@contextmanager
def session_umask(group: str):
    """The umask for everything a session writes, restored afterwards."""
    old = os.umask(GROUP_UMASK if group else OWNER_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def share_with_group(root: Path, group: str) -> None:
    """Give a new session folder to the lab's group (setgid: what is made inside inherits it)."""
    gid = group_id(group)
    if gid is None:
        os.chmod(root, 0o700)
        return
    try:
        os.chown(root, -1, gid)
    except PermissionError:
        raise SessionError(
            f"{root}: cannot give the session to group {group!r}: this user is not a member of it"
        ) from None
    os.chmod(root, 0o2750)
