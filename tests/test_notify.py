"""sd_notify against real AF_UNIX datagram sockets (a path in tmp_path and an abstract one)."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.daemon.notify import Notifier

TIMEOUT = 2.0


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(TIMEOUT)
        yield sock, str(path)


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    name = f"sidecar-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(TIMEOUT)
        yield sock, "@" + name


def _received(sock: socket.socket) -> str:
    return sock.recv(65536).decode()


def _nothing_queued(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(65536)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(TIMEOUT)
    return False


def test_each_call_sends_one_exact_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    with Notifier({"NOTIFY_SOCKET": address}) as notifier:
        assert notifier.enabled
        assert notifier.notify(READY="1", STATUS="indexing 3/10")
        assert _received(sock) == "READY=1\nSTATUS=indexing 3/10"
        assert notifier.ready()
        assert _received(sock) == "READY=1"
        assert notifier.ready("serving on 127.0.0.1:8711")
        assert _received(sock) == "READY=1\nSTATUS=serving on 127.0.0.1:8711"
        assert notifier.status("line one\nline two\r\nthree")
        assert _received(sock) == "STATUS=line one line two three"
        assert notifier.watchdog()
        assert _received(sock) == "WATCHDOG=1"
        assert notifier.stopping()
        assert _received(sock) == "STOPPING=1"
        assert notifier.status("ünïcode ✓")
        assert _received(sock) == "STATUS=ünïcode ✓"
    assert _nothing_queued(sock)


def test_abstract_socket(abstract_listener: tuple[socket.socket, str]) -> None:
    sock, address = abstract_listener
    with Notifier({"NOTIFY_SOCKET": address}) as notifier:
        assert notifier.ready("up")
        assert _received(sock) == "READY=1\nSTATUS=up"


def test_unset_notify_socket_is_a_no_op() -> None:
    with Notifier({}) as notifier:
        assert not notifier.enabled
        assert not notifier.ready("up")
        assert not notifier.status("x")
        assert not notifier.watchdog()
        assert not notifier.stopping()
        assert not notifier.notify(READY="1")


def test_missing_socket_path_returns_false_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="sidecar.daemon.notify"),
        Notifier({"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}) as notifier,
    ):
        assert notifier.enabled
        assert not notifier.ready()
        assert not notifier.watchdog()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "absent.sock" in warnings[0].getMessage()


def test_unsupported_address_disables(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="sidecar.daemon.notify"),
        Notifier({"NOTIFY_SOCKET": "relative/path"}) as notifier,
    ):
        assert not notifier.enabled
        assert not notifier.ready()
    assert len(caplog.records) == 1


def test_close_makes_later_calls_no_ops(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.close()
    notifier.close()
    assert not notifier.enabled
    assert not notifier.ready()
    assert _nothing_queued(sock)


def test_socket_is_close_on_exec(listener: tuple[socket.socket, str]) -> None:
    _, address = listener
    with Notifier({"NOTIFY_SOCKET": address}) as notifier:
        assert notifier._socket is not None
        assert fcntl.fcntl(notifier._socket.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_invalid_field_name_is_a_caller_error() -> None:
    with Notifier({}) as notifier, pytest.raises(ValueError, match="field name"):
        notifier.notify(**{"A=B": "1"})


def test_reads_os_environ_by_default(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = listener
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    with Notifier() as notifier:
        assert notifier.watchdog()
        assert _received(sock) == "WATCHDOG=1"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "2000000"}, 1.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "nope"}, None),
        ({"WATCHDOG_USEC": "garbage"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({}, None),
    ],
    ids=["usec", "own-pid", "foreign-pid", "garbage-pid", "garbage", "zero", "negative", "unset"],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    with Notifier(environ) as notifier:
        assert notifier.watchdog_interval() == expected
