"""The desk's control socket: CLI commands run inside the desk that serves a store.

DuckDB lets one process open a store for writing. While `prefdesk serve` holds it, the other
commands (stats, export, import, datasets, users, tokens, backup) send their command line to that desk
over a Unix socket beside the store file (`desk.duckdb.sock`), and the desk runs the same
handler on its own open store and sends back the words and the exit code.

Only the user who started the desk (or root) can use it: the socket file is created with mode
0600, and the desk checks each caller's uid from the kernel (SO_PEERCRED) before reading a byte.

Protocol: the client sends one JSON object and shuts its side down; the desk answers one JSON
object and closes: {"argv": [...], "db": "...", "cwd": "...", "password": "..."} ->
{"out": "...", "err": "...", "code": 0}. The desk adds the caller's uid (`peer_uid`, from the
kernel, over anything the request says) so that account changes name who made them.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.errors import StoreError

MAX_REQUEST_BYTES = 1 << 20  # a command line and a password: far below this
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes on Linux; keep a margin

Request = dict[str, Any]
Reply = dict[str, Any]


def socket_path(db: Path) -> Path:
    """Where the desk serving `db` listens: beside the store file."""
    db = db.expanduser().resolve()
    return db.with_name(db.name + ".sock")


@contextmanager
def _short_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or (when it is longer than a Unix socket
    address may be) the same file reached through an open handle on its folder."""
    if len(os.fsencode(str(path))) <= _UNIX_PATH_MAX:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def _read_all(sock: socket.socket, limit: int | None) -> bytes:
    chunks, size = [], 0
    while chunk := sock.recv(65536):
        size += len(chunk)
        if limit is not None and size > limit:
            raise ValueError(f"request larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def ask_desk(db: Path, request: Request) -> Reply | None:
    """Run a command in the desk serving `db`; None when no desk serves it."""
    path = socket_path(db)
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            with _short_address(path) as address:
                sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # left behind by a desk that was killed: nobody is listening
        except PermissionError:
            raise StoreError(
                f"a desk serves {db}, but its control socket {path} belongs to another user: run this "
                "command as the user who started `prefdesk serve`"
            ) from None
        sock.sendall(json.dumps(request).encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        raw = _read_all(sock, limit=None)
    if not raw:
        raise StoreError(f"the desk serving {db} closed the connection without an answer: see its output")
    reply: Reply = json.loads(raw)
    return reply


def _peer_uid(sock: socket.socket) -> int:
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False


class ControlSocket:
    """Listens beside the store for as long as the desk serves it; `close()` removes the file."""

    def __init__(self, db: Path, run: Callable[[Request], Reply]) -> None:
        self.path = socket_path(db)
        self._run = run
        self._allowed_uids = {os.getuid(), 0}
        if self.path.exists() and ask_desk(db, {"ping": True}) is None:
            self.path.unlink()  # a killed desk's socket: nobody listens on it
        handler = self._handler()
        old_umask = os.umask(0o177)  # the file is born 0600: no moment where others may connect
        try:
            with _short_address(self.path) as address:
                self._server = _Server(address, handler)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        threading.Thread(target=self._server.serve_forever, name="prefdesk-control", daemon=True).start()

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        control = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                if _peer_uid(sock) not in control._allowed_uids:
                    return  # not the desk's user: not a byte read, nothing answered
                try:
                    request = json.loads(_read_all(sock, MAX_REQUEST_BYTES))
                except ValueError as exc:
                    reply: Reply = {"out": "", "err": f"error: the desk could not read the request: {exc}\n"}
                    reply["code"] = 2
                else:
                    if isinstance(request, dict):  # who asked, as the kernel says (the audit log's actor)
                        request["peer_uid"] = _peer_uid(sock)
                    reply = (
                        {"pong": True, "pid": os.getpid()} if request.get("ping") else control._run(request)
                    )
                sock.sendall(json.dumps(reply).encode("utf-8"))

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
