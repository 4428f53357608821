"""``sidecar versions`` and ``sidecar restore``: list a chat's indexed versions, and write one of
them, byte for byte, to a file the user names (never into SillyTavern's folder on its own)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import click
from sqlalchemy import Connection, or_, select

from sidecar.cli.options import common_options, load
from sidecar.config import Settings

_CHAT_SUFFIX = ".jsonl"
_HAS_SECONDS = re.compile(r"[T ]\d{1,2}:\d{2}:\d{2}")
_HAS_FRACTION = re.compile(r":\d{2}[.,]\d+")
_HAS_TIME = re.compile(r"[T ]\d{1,2}:\d{2}")


@dataclass(frozen=True)
class ChatVersion:
    version: int
    seen_at: datetime  # aware, UTC
    rel_path: str
    size: int
    message_count: int


def local_time(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _parse_stored(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _names(path: str, name: str) -> bool:
    """Whether relative path ``path`` is ``name`` (a path without ``.jsonl``) or ends with it."""
    return path == name + _CHAT_SUFFIX or path.endswith(f"/{name}{_CHAT_SUFFIX}")


def find_chat(conn: Connection, query: str) -> Any:
    """The ``chats`` row ``query`` names: a chatId, a relative path, or its last parts (a file
    name, ``<character>/<file>``), with or without ``.jsonl``; then a path the chat had before a
    rename. Raises ClickException when nothing or more than one chat matches."""
    from sidecar.storage.catalog_tables import chats, versions  # noqa: PLC0415

    text = query.strip().replace("\\", "/").strip("/")
    name = text.removesuffix(_CHAT_SUFFIX)
    base = PurePosixPath(name).name
    exact = select(chats).where(or_(chats.c.chat_id == text, chats.c.rel_path == text))
    rows = conn.execute(exact).all()
    if not rows:
        same_name = conn.execute(select(chats).where(chats.c.file_name == base)).all()
        rows = [r for r in same_name if _names(r.rel_path, name)]
    if not rows:
        past = conn.execute(select(versions.c.chat_id, versions.c.rel_path).distinct()).all()
        ids = {r.chat_id for r in past if _names(r.rel_path, name)}
        rows = conn.execute(select(chats).where(chats.c.chat_id.in_(ids))).all()
    if len(rows) == 1:
        return rows[0]
    if rows:
        listing = "\n".join(
            f"  {r.chat_id}  {r.rel_path}  ({r.state})"
            for r in sorted(rows, key=lambda r: r.rel_path)
        )
        raise click.ClickException(
            f"{query!r} names {len(rows)} chats; pass the chatId (or the relative path) of the "
            f"one you mean:\n{listing}"
        )
    raise click.ClickException(
        f"no indexed chat is called {query!r} (give a chatId, a chat's file name or its path "
        "relative to the data folder; run `sidecar index` first if the chat is new)"
    )


def list_versions(conn: Connection, chat_id: str) -> list[ChatVersion]:
    from sidecar.storage.catalog_tables import versions  # noqa: PLC0415

    rows = conn.execute(
        select(
            versions.c.version, versions.c.seen_at, versions.c.rel_path,
            versions.c.size, versions.c.message_count,
        ).where(versions.c.chat_id == chat_id).order_by(versions.c.version)
    )  # fmt: skip
    return [
        ChatVersion(r.version, _parse_stored(r.seen_at), r.rel_path, r.size, r.message_count)
        for r in rows
    ]


def parse_at(text: str) -> int | datetime:
    """A version number, or the latest instant ``text`` covers: ``2026-03-02 18:05`` means up to
    18:05:59.999999 local time, so a time copied from ``sidecar versions`` includes that version."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a version number nor a time (YYYY-MM-DD HH:MM[:SS], local, "
            "or ISO 8601 with an offset such as 2026-03-02T18:05:47Z)",
            param_hint="--at",
        ) from None
    if not _HAS_TIME.search(value):
        step = timedelta(days=1)
    elif not _HAS_SECONDS.search(value):
        step = timedelta(minutes=1)
    elif not _HAS_FRACTION.search(value):
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=1)
    return (when + step - timedelta(microseconds=1)).astimezone()  # naive: local time


def pick_version(found: list[ChatVersion], at: int | datetime) -> ChatVersion:
    if isinstance(at, int):
        for item in found:
            if item.version == at:
                return item
        numbers = f"{found[0].version}..{found[-1].version}" if found else "none"
        raise click.ClickException(f"this chat has no version {at} (indexed: {numbers})")
    earlier = [item for item in found if item.seen_at <= at]
    if not earlier:
        first = local_time(found[0].seen_at) if found else "never"
        raise click.ClickException(
            f"no version of this chat was seen at or before {local_time(at)} (first: {first})"
        )
    return earlier[-1]


def write_new_file(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``path`` atomically: a temp file beside it, fsync, then rename. Without
    ``force`` an existing ``path`` is never replaced, even if it appears meanwhile."""
    if path.is_dir():
        raise click.ClickException(f"{path} is a folder; give the path of the file to write")
    if not path.parent.is_dir():
        raise click.ClickException(f"folder {path.parent} does not exist")
    if not force and (path.exists() or path.is_symlink()):
        raise click.ClickException(f"{path} already exists; pass --force to replace it")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)
        if force:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # fails if path exists: no race with another writer
            except FileExistsError:
                raise click.ClickException(
                    f"{path} already exists; pass --force to replace it"
                ) from None
            except OSError:  # no hard links on this file system
                if path.exists() or path.is_symlink():
                    raise click.ClickException(f"{path} already exists") from None
                os.replace(temp, path)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


@contextmanager
def _catalog(settings: Settings) -> Iterator[Connection]:
    from sidecar.daemon.wiring import sqlite_options  # noqa: PLC0415
    from sidecar.storage.registry import CATALOG_FILE  # noqa: PLC0415
    from sidecar.storage.sqlite import read_snapshot  # noqa: PLC0415

    path = settings.storage.database_dir / CATALOG_FILE
    if not path.is_file():
        raise click.ClickException(
            f"no index in {settings.storage.database_dir} (run `sidecar index` first, or pass "
            "the --db-dir/--config the daemon uses)"
        )
    with read_snapshot(path, sqlite_options(settings)) as conn:
        yield conn


@click.command("versions")
@common_options
@click.argument("chat")
def versions_command(config_path: Path | None, chat: str, **flags: Any) -> None:
    """List every indexed version of CHAT (a chatId, a file name or a relative path)."""
    settings = load(config_path, **flags)
    with _catalog(settings) as conn:
        row = find_chat(conn, chat)
        found = list_versions(conn, row.chat_id)
    click.echo(f"chat {row.chat_id}  {row.rel_path}  ({row.state}, user {row.user})")
    click.echo(f"{'version':>7}  {'seen at':<23}  {'messages':>8}  {'bytes':>10}  path")
    for item in found:
        click.echo(
            f"{item.version:>7}  {local_time(item.seen_at):<23}  {item.message_count:>8}  "
            f"{item.size:>10}  {item.rel_path}"
        )
    click.echo(f"{len(found)} version(s). Restore one with: sidecar restore {row.chat_id} "
               "--at <version or time> --output <file>")  # fmt: skip


@click.command("restore")
@common_options
@click.argument("chat")
@click.option(
    "--at",
    "at",
    required=True,
    help="A version number, or a time (YYYY-MM-DD HH:MM local, or ISO 8601): the "
    "last version seen at or before it.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="The file to write (put it outside SillyTavern's folder).",
)
@click.option("--force", is_flag=True, help="Replace --output if it exists.")
def restore_command(config_path: Path | None, chat: str, at: str, output: Path,
                    force: bool, **flags: Any) -> None:  # fmt: skip
    """Write one indexed version of CHAT, byte for byte, to --output."""
    from sidecar.daemon.wiring import open_line_store  # noqa: PLC0415
    from sidecar.indexer.rebuild import rebuild_version  # noqa: PLC0415

    settings = load(config_path, **flags)
    when = parse_at(at)
    with _catalog(settings) as conn:
        row = find_chat(conn, chat)
        chosen = pick_version(list_versions(conn, row.chat_id), when)
        store = open_line_store(settings)
        try:
            data = rebuild_version(conn, store, row.chat_id, chosen.version)
        finally:
            store.close()
    if len(data) != chosen.size:
        raise click.ClickException(
            f"version {chosen.version} rebuilt to {len(data)} bytes, the index recorded "
            f"{chosen.size}: the line store is damaged; nothing was written"
        )
    try:
        write_new_file(output, data, force=force)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    root = settings.sillytavern.data_root
    if root is not None and output.resolve().is_relative_to(root.resolve()):
        click.echo("Note: this file is inside SillyTavern's data folder; make sure "
                   "SillyTavern was stopped.", err=True)  # fmt: skip
    click.echo(
        f"Wrote version {chosen.version} of {row.rel_path} (chat {row.chat_id}) to {output}\n"
        f"  seen at {local_time(chosen.seen_at)}, {chosen.message_count} messages, "
        f"{len(data)} bytes (its path then: {chosen.rel_path})\n"
        "To get it back in SillyTavern: open the character's chat, then the chat menu -> "
        "Manage chat files -> Import Chat, and pick this file; or, with SillyTavern stopped, "
        "copy it into data/<user>/chats/<character>/ under a new name ending in .jsonl."
    )
