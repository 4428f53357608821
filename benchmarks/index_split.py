"""Issue 15's proposed next step, measured: a first index with the extension databases written by
a second process.

Stop 18's closing note estimated, from a run with no extension writes at all (20% faster at
quarter scale), that writing the extension databases in a second process while the first one
writes the catalog would bring a full index to about 15-16 s. This benchmark builds that split for
a bulk load and runs it beside the in-process index, alternating, on the same data root:

* the parent walks, parses and writes the catalog as always; each batch's extension targets
  (``ExtensionSide.flush``) and each chat's chat-level data are encoded with msgpack and sent to
  a child process, spawned as sidecar would spawn it;
* the child opens each extension database's file and applies them with the same ``extsync``
  code as the indexer, in one transaction per database per chat;
* the parent commits a chat's catalog only after the child has committed that chat's extension
  databases (the commit protocol of ``sidecar.indexer.update``).

Only this benchmark wires it, by replacing three methods of ``ExtensionSide`` while it runs: a
kill, a full disk or a crashed child are not handled (what building it in would add). It prints
each mode's runs, the child's CPU, how long the parent waited for the child, and whether both
modes left the same databases (``tests.dbdump``, integrity checks included).

Run:  python benchmarks/index_split.py [--scale 1.0] [--runs 3] [--root DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import chatgen
import msgspec
from index_common import opened

from sidecar.indexer import extsync
from sidecar.indexer.chat_level import chat_level_data, chat_metadata
from sidecar.indexer.scan import full_scan
from sidecar.indexer.update_extensions import ExtensionSide
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.sqlite import SqliteOptions, write_engine
from tests import handsoff
from tests.dbdump import differences, dump_folder

_TARGETS = msgspec.msgpack.Decoder(list[extsync.MessageTarget])


def serve(pipe: Pipe) -> None:
    """The child: apply what the parent sends, one transaction per database until "commit"."""
    engines: dict[str, Any] = {}
    open_: dict[str, Any] = {}
    counts = [0, 0, 0]
    while True:
        kind, path, chat_id, now, gone, payload = msgspec.msgpack.decode(pipe.recv_bytes())
        if kind in ("messages", "chat"):
            conn = open_.get(path)
            if conn is None:
                if path not in engines:
                    engines[path] = write_engine(Path(path), SqliteOptions())
                conn = open_[path] = engines[path].connect()
                conn.begin()
            if kind == "messages":
                done = extsync.sync_messages(
                    conn, chat_id, _TARGETS.decode(payload), now=now, gone_reason=gone,
                    record=False,
                )  # fmt: skip
            else:
                wanted = {(ns, key): value for ns, key, value in payload}
                done = extsync.sync_chat(conn, chat_id, wanted, now=now, gone_reason=gone)
            counts = [counts[0] + done.written, counts[1] + done.deleted, counts[2] + done.history]
        elif kind in ("commit", "rollback"):
            for conn in open_.values():
                conn.commit() if kind == "commit" else conn.rollback()
                conn.close()
            open_.clear()
            if kind == "commit":
                pipe.send_bytes(msgspec.msgpack.encode(counts))
            counts = [0, 0, 0]
        else:  # quit
            for engine in engines.values():
                engine.dispose()
            pipe.send_bytes(msgspec.msgpack.encode(time.process_time()))
            return


class Split:
    """The parent's side: ``ExtensionSide`` sends its writes to the child while installed."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child_end = context.Pipe()
        self.child = context.Process(target=serve, args=(child_end,), daemon=True)
        self.child.start()
        self.waited = 0.0
        self.used: set[int] = set()

    def send(self, *message: Any) -> None:
        self.pipe.send_bytes(msgspec.msgpack.encode(message))

    def answer(self) -> Any:
        """The child's answer; a child that died ends the benchmark instead of hanging it."""
        while not self.pipe.poll(1.0):
            if not self.child.is_alive():
                raise SystemExit(f"the child process died (exit code {self.child.exitcode})")
        return msgspec.msgpack.decode(self.pipe.recv_bytes())

    def quit(self) -> float:
        """Stop the child; its CPU seconds."""
        self.send("quit", "", "", "", "", None)
        cpu = float(self.answer())
        self.child.join()
        return cpu

    def flush(
        self,
        side: ExtensionSide,
        gone: str = "message_deleted",
        targets: dict[str, list[extsync.MessageTarget]] | None = None,
    ) -> None:
        assert not side.recovering, "a first index only"
        assert not side.feed, "a first index only"
        for ext, wanted in (side.take_targets() if targets is None else targets).items():
            db = side.database_for(ext)
            if db is not None:
                self.used.add(id(side))
                payload = msgspec.msgpack.encode(wanted)
                self.send("messages", str(db.path), side.chat_id, side.now, gone, payload)

    def sync_chat_level(
        self, side: ExtensionSide, location: ChatLocation, header: Any, previous: Any, gone: str
    ) -> None:
        assert not previous, "a first index only"
        assert not side.recovering, "a first index only"
        for ext, wanted in chat_level_data(side.policy, chat_metadata(location, header)).items():
            db = side.database_for(ext)
            if db is not None:
                self.used.add(id(side))
                rows = [(ns, key, value) for (ns, key), value in wanted.items()]
                self.send("chat", str(db.path), side.chat_id, side.now, gone, rows)

    def leave(self, side: ExtensionSide, failed: bool) -> None:
        """Before the catalog commits: the child commits first (or rolls back)."""
        if id(side) not in self.used:
            return
        self.used.discard(id(side))
        if failed:
            self.send("rollback", "", "", "", "", None)
            return
        started = time.perf_counter()
        self.send("commit", "", "", "", "", None)
        written, deleted, history = self.answer()
        self.waited += time.perf_counter() - started
        side.result.data_written += written
        side.result.data_deleted += deleted
        side.result.history += history


def _as_method(call: Callable[..., None]) -> Callable[..., None]:
    """A plain function, which an instance passes itself to: ``side.flush(x)`` is
    ``call(side, x)`` (a bound method of ``Split`` on the class would not get ``side``)."""

    def method(side: ExtensionSide, *args: Any, **kwargs: Any) -> None:
        call(side, *args, **kwargs)

    return method


@contextmanager
def installed(split: Split) -> Iterator[None]:
    """``ExtensionSide``'s writes go to ``split`` while inside; its exit lets the child commit
    (or roll back) before the catalog does."""
    saved = ExtensionSide.flush, ExtensionSide.sync_chat_level, ExtensionSide.__exit__

    def leave(side: ExtensionSide, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        split.leave(side, exc_type is not None)
        return saved[2](side, exc_type, exc, tb)

    ExtensionSide.flush = _as_method(split.flush)  # type: ignore[method-assign]
    ExtensionSide.sync_chat_level = _as_method(split.sync_chat_level)  # type: ignore[method-assign]
    ExtensionSide.__exit__ = leave  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExtensionSide.flush, ExtensionSide.sync_chat_level, ExtensionSide.__exit__ = saved  # type: ignore[method-assign]


def index_once(root: Path, db_dir: Path, split: bool) -> dict[str, float]:
    shutil.rmtree(db_dir, ignore_errors=True)
    with opened(root, db_dir) as indexer:
        helper = Split() if split else None
        started, cpu = time.perf_counter(), time.process_time()
        if helper is None:
            summary = full_scan(indexer)
        else:
            with installed(helper):
                summary = full_scan(indexer)
        run = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}
        if helper is not None:
            run |= {"child_cpu": helper.quit(), "waited": helper.waited}
    failed = {k: n for k, n in summary.statuses.items() if k not in ("new", "updated")}
    if failed:
        raise SystemExit(f"{'split' if split else 'in-process'} run: chats not indexed: {failed}")
    return run


def compared(first: Path, second: Path) -> tuple[list[str], int, int]:
    """Where the two database folders differ (``tests.dbdump``: everything a user reads, the
    versions and history, and the integrity checks of both), how many extension databases and
    message values they hold."""
    a = dump_folder(first)
    b = dump_folder(second)
    found = differences(a, b) + [f"fault: {f}" for f in (*a["faults"], *b["faults"])]
    extensions = a["current"]["extensions"]
    values = sum(
        len(rows) for ext in extensions.values() for rows in ext.get("messages", {}).values()
    )
    return found, len(extensions), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="of each mode, alternating")
    parser.add_argument("--root", type=Path, help="index this data root instead of generating one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sidecar-split-bench-"))
    try:
        root = args.root or work / "data"
        if args.root is None:
            corpus = chatgen.generate(root, args.scale, args.seed, True)
            print(f"data root: {len(corpus.chats)} chats, {corpus.total_bytes / 1e6:.1f} MB")
        manifest = handsoff.track(handsoff.Manifest(root))
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for run in range(args.runs):
            for split in (False, True) if run % 2 == 0 else (True, False):
                runs[split].append(index_once(root, work / f"db-{split}", split))
                figures = ", ".join(f"{k} {v:.2f} s" for k, v in runs[split][-1].items())
                print(f"  {'split     ' if split else 'in-process'}  {figures}")
        found, databases, values = compared(work / "db-False", work / "db-True")
        print("\nfull index, in-process vs extension writes in a second process:")
        for split, label in ((False, "in-process"), (True, "split     ")):
            walls = [r["wall"] for r in runs[split]]
            cpus = [r["cpu"] for r in runs[split]]
            line = (
                f"  {label}  wall best {min(walls):.2f} s, median {statistics.median(walls):.2f} s"
            )
            line += f"; parent CPU median {statistics.median(cpus):.2f} s"
            if split:
                child = statistics.median(r["child_cpu"] for r in runs[True])
                waited = statistics.median(r["waited"] for r in runs[True])
                line += f"; child CPU median {child:.2f} s; parent waited median {waited:.2f} s"
            print(line)
        best = {s: min(r["wall"] for r in runs[s]) for s in runs}
        med = {s: statistics.median(r["wall"] for r in runs[s]) for s in runs}
        print(f"  split / in-process: best {best[True] / best[False]:.2f}x, "
              f"median {med[True] / med[False]:.2f}x (below 1: the split is faster)")  # fmt: skip
        print(f"  the same databases in both modes: {'NO' if found else 'yes'} "
              f"({databases} extension databases, {values:,} message values)")  # fmt: skip
        for line in found:
            print(f"    {line}")
        handsoff.check(manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
