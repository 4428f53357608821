"""What ``sidecar run`` checks before it serves, each failure one clear line and its own exit code
(``sidecar.exit_codes``): the database folder it must write, and the address it must bind."""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path

from sidecar.errors import SidecarError
from sidecar.exit_codes import ExitCode

BACKLOG = 2048  # as uvicorn's default


class StartupError(SidecarError):
    """sidecar cannot start; ``exit_code`` tells scripts and systemd why."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_database_dir(path: Path) -> None:
    """Create the database folder if needed and prove it can be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = {
            errno.ENOTDIR: "a part of that path is a file, not a folder",
            errno.EEXIST: "a file of that name is in the way",
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
            errno.EROFS: "the file system is read-only",
            errno.ENOSPC: "the disk is full",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise StartupError(
            f"cannot use the database folder {path}: {reason} (set storage.database_dir or "
            "--db-dir to a folder sidecar can write)",
            ExitCode.CANNOT_CREATE,
        ) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a clear error when the port is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror} (check api.host)", ExitCode.CONFIG
        ) from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use (another sidecar, or another program; "
                "choose another with api.port or --port)",
                ExitCode.UNAVAILABLE,
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", ExitCode.UNAVAILABLE
        ) from None
    sock.set_inheritable(False)
    os.set_blocking(sock.fileno(), False)
    return sock
