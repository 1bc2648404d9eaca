"""ZeroMQ CURVE for tcp sessions: key folders, socket set-up, and the allow-list (ZAP).

A keys folder (made by ``mestudio keys DIR``)::

    server.key, server.key_secret   the session's identity: every socket that binds uses it
    client.key, client.key_secret   the identity of this host's own nodes when they connect
    <name>.key, <name>.key_secret   more clients (a second capture PC, a remote monitor)
    allowed/<name>.key              public keys of the clients allowed in (the allow-list)

Every binding socket is a CURVE server and its process runs a ZAP handler
(``zmq.auth.thread.ThreadAuthenticator``) that admits only the public keys in ``allowed/``;
every connecting socket is a CURVE client.  A peer without an allowed key never completes the
handshake: it can neither send (frames, commands, heartbeats) nor receive (frames, broadcasts).
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from mestudio.stream.errors import StreamError

SERVER, CLIENT, ALLOWED = "server", "client", "allowed"


class CurveKeyError(StreamError, PermissionError):
    """A keys folder that is missing, incomplete, unreadable or readable by others."""


@dataclass(frozen=True)
class CurveKeys:
    folder: Path
    server_public: bytes
    server_secret: bytes | None  # None on a client-only host (a second capture PC)
    client_public: bytes
    client_secret: bytes
    allowed: Path

    @classmethod
    def load(cls, folder: str | Path, client: str = CLIENT) -> CurveKeys:
        """Read a keys folder; ``client`` names the pair this host's connecting sockets use."""
        d = Path(folder).expanduser()
        if not d.is_dir():
            raise CurveKeyError(f"{d}: no such keys folder (make one with `mestudio keys {d}`)")
        for p in [d, *d.glob("*.key_secret")]:
            if stat.S_IMODE(p.stat().st_mode) & 0o077:
                raise CurveKeyError(f"{p}: secret keys readable by other users; `chmod go= {p}`")
        server_public, server_secret = _load(d / f"{SERVER}.key_secret", d / f"{SERVER}.key")
        client_public, client_secret = _load(d / f"{client}.key_secret", None)
        if client_secret is None:
            raise CurveKeyError(f"{d / (client + '.key_secret')}: no secret key in it")
        if not (d / ALLOWED).is_dir():
            raise CurveKeyError(f"{d / ALLOWED}: missing: the allow-list of client keys (`mestudio keys {d}`)")
        return cls(d, server_public, server_secret, client_public, client_secret, d / ALLOWED)

    def serve(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before it binds)."""
        if self.server_secret is None:
            raise CurveKeyError(f"{self.folder}: no server.key_secret: this host cannot accept connections")
        sock.curve_secretkey = self.server_secret
        sock.curve_publickey = self.server_public
        sock.curve_server = True

    def client(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of this folder's server (before it connects)."""
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.client_public
        sock.curve_secretkey = self.client_secret


def _load(secret: Path, public: Path | None) -> tuple[bytes, bytes | None]:
    path = secret if secret.exists() else public
    if path is None or not path.exists():
        raise CurveKeyError(f"{secret}: missing (make the keys with `mestudio keys {secret.parent}`)")
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise CurveKeyError(f"{path}: not a ZeroMQ certificate ({e})") from None


def create_keys(folder: str | Path, clients: Sequence[str] = ()) -> dict[str, list[str]]:
    """Make (or complete) a keys folder: server and client pairs, their public keys allowed."""
    d = Path(folder).expanduser()
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    (d / ALLOWED).mkdir(mode=0o700, exist_ok=True)
    made, kept = [], []
    for name in [SERVER, CLIENT, *clients]:
        if (d / f"{name}.key_secret").exists():
            kept.append(name)
        else:
            old = os.umask(0o077)  # the secret file is never readable by others, not even briefly
            try:
                zmq.auth.create_certificates(d, name)
            finally:
                os.umask(old)
            made.append(name)
        if name != SERVER:
            shutil.copyfile(d / f"{name}.key", d / ALLOWED / f"{name}.key")
    return {"made": made, "kept": kept, "allowed": sorted(p.stem for p in (d / ALLOWED).glob("*.key"))}


_auth_lock = threading.Lock()
_authenticators: dict[int, ThreadAuthenticator] = {}


def allow_only(ctx: zmq.Context, keys: CurveKeys) -> None:
    """Run this context's ZAP handler (once): CURVE clients whose key is in ``allowed/`` only."""
    with _auth_lock:
        if id(ctx) in _authenticators:
            return
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(keys.allowed))
        _authenticators[id(ctx)] = auth


def stop_authenticator(ctx: zmq.Context) -> None:
    """Stop the ZAP handler of ``ctx`` (before the context is destroyed)."""
    with _auth_lock:
        auth = _authenticators.pop(id(ctx), None)
    if auth is not None:
        auth.stop()
