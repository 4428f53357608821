"""Exit codes of the ``sidecar`` command, documented in the README ("Exit codes").

The numbers follow BSD's sysexits(3), which systemd units can name in
``RestartPreventExitStatus=`` so that a mistake a restart cannot fix (a bad config, a folder that
cannot be used, a busy port) is not retried in a loop.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # anything else that went wrong; the message says what
    USAGE = 2  # a wrong command line (click's own code)
    DATA_ERROR = 65  # a damaged database: run `sidecar repair`
    NO_INPUT = 66  # SillyTavern's data folder does not exist
    UNAVAILABLE = 69  # the port is in use
    CANNOT_CREATE = 73  # the database folder cannot be created or written
    LOCKED = 75  # another sidecar process uses the database folder (try again once it stopped)
    CONFIG = 78  # the configuration is invalid
