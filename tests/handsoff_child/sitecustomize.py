"""The hands-off guard inside a ``sidecar`` subprocess (see ``tests/handsoff_guard.py``).

Python imports ``sitecustomize`` at start-up from ``sys.path``; ``handsoff_guard.child_env`` puts
this folder first on a subprocess's ``PYTHONPATH`` together with the roots to watch and a log
file. Every write, rename, removal, lock or read-write SQLite open under those roots made by the
process (all of it is sidecar) is appended to the log as ``pid<TAB>event<TAB>path``; the test
process reports each line when a scope closes. Without the two variables this does nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any


def _install() -> None:
    roots = [r for r in os.environ.get("SIDECAR_HANDSOFF_ROOTS", "").split(os.pathsep) if r]
    log = os.environ.get("SIDECAR_HANDSOFF_LOG")
    if not roots or not log:
        return
    from tests.handsoff_events import EVENTS, LIST_EVENTS, write_targets  # noqa: PLC0415

    watched = EVENTS - LIST_EVENTS - {"subprocess.Popen"}
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    local = threading.local()  # the hook's own calls are not audited again

    def inside(path: str, tree: bool) -> bool:
        for root in roots:
            if path == root or path.startswith(root + os.sep):
                return True
            if tree and root.startswith(path + os.sep):  # a tree operation above the root
                return True
        return False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in watched or getattr(local, "busy", False):
            return
        local.busy = True
        try:
            for path, tree in write_targets(event, args):
                if inside(path, tree):
                    os.write(fd, f"{os.getpid()}\t{event}\t{path}\n".encode())
        except Exception as exc:  # an audit hook must never raise into the audited call
            os.write(fd, f"{os.getpid()}\tguard failed ({exc!r})\t{event}\n".encode())
        finally:
            local.busy = False

    sys.addaudithook(hook)


_install()
