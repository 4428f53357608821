"""systemd's sd_notify protocol in pure Python: ``KEY=VALUE`` lines sent as one datagram to
``$NOTIFY_SOCKET``. See sd_notify(3); no libsystemd needed."""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Mapping
from types import TracebackType

log = logging.getLogger(__name__)

_SEND_TIMEOUT = 2.0  # seconds; systemd reads at once, this only bounds a wedged manager
_KEY = re.compile(r"[A-Z_][A-Z0-9_]*")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _address(value: str) -> str | None:
    """``/path`` as is, ``@name`` as an abstract address (leading NUL); anything else is None."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


class Notifier:
    """sd_notify: ``KEY=VALUE`` lines sent as one datagram to ``$NOTIFY_SOCKET`` (a path, or
    ``@name`` for an abstract socket). Does nothing when NOTIFY_SOCKET is unset. Never raises on
    send errors: the first one is logged as a warning, later ones at debug level.

    The environment is read once, at construction. One AF_UNIX datagram socket (close-on-exec)
    stays open until :meth:`close`; the notifier is also a context manager.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw)
        self._watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        self._watchdog_pid = env.get("WATCHDOG_PID")
        self._warned = False
        self._socket: socket.socket | None = None
        if raw and self._address is None:
            self._warn("NOTIFY_SOCKET=%r is not supported (expected /path or @name)", raw)
        elif self._address is not None:
            try:
                # Python sockets are close-on-exec (SOCK_CLOEXEC) unless made inheritable.
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            except OSError as exc:
                self._warn("cannot create the systemd notification socket: %s", exc)
            else:
                sock.settimeout(_SEND_TIMEOUT)
                self._socket = sock

    @property
    def enabled(self) -> bool:
        """True when notifications have somewhere to go (NOTIFY_SOCKET set, socket open)."""
        return self._socket is not None

    def notify(self, **fields: str) -> bool:
        """Send ``fields`` as one datagram, in order: ``notify(READY="1", STATUS="x")`` sends
        ``READY=1\\nSTATUS=x``. Newlines in values become spaces. Returns True when sent."""
        for key in fields:
            if not _KEY.fullmatch(key):
                raise ValueError(f"not a valid sd_notify field name: {key!r}")
        sock = self._socket
        if sock is None or self._address is None or not fields:
            return False
        message = "\n".join(f"{key}={_NEWLINES.sub(' ', value)}" for key, value in fields.items())
        try:
            sock.sendto(message.encode("utf-8", "replace"), self._address)
        except OSError as exc:
            self._warn("systemd notification to %s failed: %s", self._printable_address(), exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: startup is finished (systemctl start returns), with an optional STATUS=."""
        if status is None:
            return self.notify(READY="1")
        return self.notify(READY="1", STATUS=status)

    def status(self, text: str) -> bool:
        """STATUS=: one line shown by ``systemctl status`` (newlines replaced by spaces)."""
        return self.notify(STATUS=text)

    def stopping(self) -> bool:
        """STOPPING=1: shutdown has begun."""
        return self.notify(STOPPING="1")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the keep-alive ping; send it every :meth:`watchdog_interval` seconds."""
        return self.notify(WATCHDOG="1")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WATCHDOG_USEC), or None when systemd expects
        none: WATCHDOG_USEC unset or invalid, or WATCHDOG_PID naming another process."""
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and _positive_int(self._watchdog_pid) != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def close(self) -> None:
        """Close the socket; later notifications are no-ops returning False."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _printable_address(self) -> str:
        address = self._address or ""
        return "@" + address[1:] if address.startswith("\0") else address

    def _warn(self, message: str, *args: object) -> None:
        """Warn once per notifier; repeats go to debug so a dead socket cannot flood the log."""
        if self._warned:
            log.debug(message, *args)
        else:
            self._warned = True
            log.warning(message, *args)
