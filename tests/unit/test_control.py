"""The desk's control socket, in-process: requests, the reply, a killed desk's leftover file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from apps.control import ControlSocket, ask_desk, socket_path


def test_a_request_reaches_the_desk_and_its_answer_comes_back(tmp_path: Path) -> None:
    seen = []

    def run(request: dict[str, object]) -> dict[str, object]:
        seen.append(request)
        return {"out": "items 3\n", "err": "", "code": 0}

    control = ControlSocket(tmp_path / "desk.duckdb", run)
    try:
        # The caller's uid comes from the kernel, whatever the request claims (the audit log's actor).
        assert ask_desk(tmp_path / "desk.duckdb", {"argv": ["stats"], "peer_uid": 12345}) == {
            "out": "items 3\n",
            "err": "",
            "code": 0,
        }
        assert seen == [{"argv": ["stats"], "peer_uid": os.getuid()}]
    finally:
        control.close()
    assert not socket_path(tmp_path / "desk.duckdb").exists()
    assert ask_desk(tmp_path / "desk.duckdb", {"argv": ["stats"]}) is None  # no desk: run it here


def test_a_killed_desks_socket_file_is_taken_over(tmp_path: Path) -> None:
    path = socket_path(tmp_path / "desk.duckdb")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:  # what kill -9 leaves behind
        dead.bind(str(path))
    assert path.exists()
    assert ask_desk(tmp_path / "desk.duckdb", {"argv": ["stats"]}) is None  # nobody listens: run here
    control = ControlSocket(tmp_path / "desk.duckdb", lambda request: {"out": "", "err": "", "code": 0})
    try:
        assert ask_desk(tmp_path / "desk.duckdb", {"ping": True})["pong"] is True
    finally:
        control.close()


def test_a_store_path_longer_than_a_socket_address_still_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(str(socket_path(deep / "desk.duckdb"))) > 108
    control = ControlSocket(deep / "desk.duckdb", lambda request: {"out": "ok\n", "err": "", "code": 0})
    try:
        assert ask_desk(deep / "desk.duckdb", {"argv": []})["out"] == "ok\n"
    finally:
        control.close()
    assert not socket_path(deep / "desk.duckdb").exists()
