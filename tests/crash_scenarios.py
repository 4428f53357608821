"""SIGKILL at random moments, then compare with a run that was never killed.

* :func:`index_kills`: ``sidecar index`` is killed at a random moment of its work (the delay is
  drawn over the measured duration of a clean run's work, counted from when it holds the lock),
  restarted, killed again, ... until a run finishes; its folder's whole canonical dump must equal
  the clean run's, and a new folder starts the next sequence, until ``kills`` kills are done.
* :func:`daemon_kills`: ``sidecar run`` watches a data root while :class:`SaveBurst` saves into
  it; it is killed at random moments and restarted each time. After the saves stop, a last daemon
  catches up. What must then equal a clean ``sidecar index`` of the final files is the *current*
  part of the dump: every chat that exists, its messages, header, problems, and every per-swipe
  and chat-level value. The *past* part (versions, ``data_history``, chats now missing, states
  such as ``shrunk``) legitimately depends on which intermediate saves each daemon saw, so it is
  not compared; instead its records must be well-formed: the dump's ``faults`` (every version
  rebuilds byte for byte to the size and content hash recorded for it, its delta chain is whole,
  the last version is the chat's current content, no row points at an unknown chat or message,
  no chat is left pending, SQLite and FTS5 integrity) must be empty. With ``load``, value-tracker
  clients (``crash_tracker``) also write to each daemon, checked after every restart.
* :func:`tracker_kills`: only the value-tracker clients, against a daemon with nothing to index.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

from tests.crash_procs import Failed, Folder, Proc, run_to_end, wait_for
from tests.crash_report import KillReport, Log, compare
from tests.crash_saves import SaveBurst
from tests.crash_tracker import TrackerLoad
from tests.dbdump import Dump, dump_folder


def index_kills(root: Path, work: Path, kills: int, seed: int, log: Log = print) -> KillReport:
    report = KillReport("sidecar index under SIGKILL")
    started = time.monotonic()
    rng = random.Random(seed)
    clean = Folder(work / "index-clean", root)
    duration = run_to_end(clean)
    want = dump_folder(clean.db_dir)
    report.notes["clean run"] = f"{duration:.2f} s"
    sequence = 0
    while report.kills < kills:
        sequence += 1
        folder = Folder(work / f"index-killed-{sequence}", root)
        while True:  # kill and restart until a run finishes (once enough kills, let it finish)
            proc = Proc(folder, "index")
            report.runs += 1
            begin = time.monotonic()
            try:
                proc.wait_started()
                finish = report.kills >= kills
                done = proc.wait_exit(600.0 if finish else rng.uniform(0, duration))
            finally:
                proc.kill()
            report.run_seconds.append(time.monotonic() - begin)
            if done:
                break
            report.kills += 1
        compare(report, f"sequence {sequence}", dump_folder(folder.db_dir), want, None)
        log(f"  index sequence {sequence}: {report.kills} kills so far, "
            f"{len(report.mismatches)} mismatches")  # fmt: skip
    report.notes["sequences"] = sequence
    report.seconds = time.monotonic() - started
    return report


WRITES_PER_RUN = 12  # acknowledged value-tracker writes before each kill's delay starts


def daemon_kills(
    root: Path,
    work: Path,
    kills: int,
    seed: int,
    life: float,
    log: Log = print,
    load: TrackerLoad | None = None,
) -> KillReport:
    """``life``: the kill comes a random 0..life seconds after the daemon holds the lock (after
    it answers, with ``load``)."""
    report = KillReport("sidecar run under SIGKILL during saves")
    started = time.monotonic()
    rng = random.Random(seed)
    folder = Folder(work / "daemon", root)
    burst = SaveBurst(root, seed)
    stop = threading.Event()
    saver = threading.Thread(target=burst.run, args=(stop,), name="save-burst", daemon=True)
    saver.start()
    try:
        while report.kills < kills:
            proc = Proc(folder, "run")
            report.runs += 1
            begin = time.monotonic()
            try:
                proc.wait_started()
                if load is not None:
                    proc.wait_answering()
                    load.after_restart(folder.base, report)
                    load.start(folder.base)
                    load.wait_for_writes(WRITES_PER_RUN)
                if proc.wait_exit(rng.uniform(0, life)):
                    raise Failed("sidecar run exited by itself")
            finally:
                proc.kill()
            if load is not None:
                load.stop(report)
            report.kills += 1
            report.run_seconds.append(time.monotonic() - begin)
            if report.kills % 10 == 0:
                log(f"  daemon: {report.kills} kills, {sum(burst.done.values())} saves so far")
    finally:
        stop.set()
        saver.join(timeout=60)
    report.notes["saves"] = dict(sorted(burst.done.items()))
    clean = Folder(work / "daemon-clean", root)
    run_to_end(clean)
    want = dump_folder(clean.db_dir)
    _catch_up(folder, want, report, load)
    got = dump_folder(folder.db_dir)
    compare(report, "daemon", _index_part(got), _index_part(want), "current")
    if load is not None:
        load.check_dump(got, report)
        report.notes |= load.counts
    report.notes["versions kept"] = sum(len(c["versions"]) for c in got["past"]["chats"].values())
    report.notes["history rows"] = sum(
        len(e.get("history", [])) for e in got["past"]["extensions"].values()
    )
    states = Counter(c["state"] for c in got["past"]["chats"].values())
    report.notes["chat states"] = dict(sorted(states.items()))
    report.seconds = time.monotonic() - started
    return report


def _catch_up(folder: Folder, want: Dump, report: KillReport, load: TrackerLoad | None) -> None:
    """A last daemon, until its index equals the clean one (its current part), then stopped."""
    final = Proc(folder, "run")
    try:
        final.wait_answering()
        if load is not None:
            load.after_restart(folder.base, report)
        caught = time.monotonic()
        wanted = _index_part(want)["current"]

        def caught_up() -> bool:
            if final.exited():
                final.check_exit()
                raise Failed("sidecar run exited while catching up")
            try:
                current = _index_part(dump_folder(folder.db_dir, fts=False))["current"]
            except Exception:  # a database mid-creation; look again
                return False
            return bool(current == wanted)

        try:
            wait_for(caught_up, 120, "the daemon to catch up with the files")
        except Failed as exc:
            report.mismatches.append(str(exc))
        report.notes["catch-up"] = f"{time.monotonic() - caught:.1f} s"
    finally:
        final.stop()


def _index_part(dump: Dump) -> Dump:
    """The dump without value-tracker data and registrations (which a clean index lacks)."""
    current = dict(dump["current"], registry=[])
    extensions = {}
    for name, ext in current["extensions"].items():
        rest = {key: value for key, value in ext.items() if key != "tracker"}
        if rest:
            extensions[name] = rest
    current["extensions"] = extensions
    return dict(dump, current=current)


def tracker_kills(
    root: Path, work: Path, kills: int, seed: int, life: float, log: Log = print
) -> KillReport:
    """``life``: the kill comes a random 0..life seconds after the clients start writing."""
    report = KillReport("value-tracker writes under SIGKILL")
    started = time.monotonic()
    rng = random.Random(seed)
    folder = Folder(work / "tracker", root)
    load = TrackerLoad(seed)
    while True:
        proc = Proc(folder, "run")
        report.runs += 1
        begin = time.monotonic()
        try:
            proc.wait_answering()
            load.after_restart(folder.base, report)
            if report.kills >= kills:
                proc.stop()
                break
            load.start(folder.base)
            if proc.wait_exit(rng.uniform(0, life)):
                raise Failed("sidecar run exited by itself")
        finally:
            proc.kill()
        load.stop(report)
        report.kills += 1
        report.run_seconds.append(time.monotonic() - begin)
        if report.kills % 10 == 0:
            checked = load.counts["acknowledged writes checked"]
            log(f"  tracker: {report.kills} kills, {checked} acknowledged writes checked")
    dump = dump_folder(folder.db_dir)
    report.mismatches += [f"final dump: {fault}" for fault in dump["faults"]]
    load.check_dump(dump, report)
    report.notes |= load.counts
    report.seconds = time.monotonic() - started
    return report
