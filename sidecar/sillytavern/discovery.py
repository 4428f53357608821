"""Find the chat files in a SillyTavern data root and say what each one is.

Layout (see the spec): ``<root>/<handle>/chats/<folder>/*.jsonl`` and ``chats/*.jsonl`` (solo),
``<root>/<handle>/group chats/*.jsonl`` (group), ``<root>/<handle>/groups/*.json`` (group
definitions). A *legacy* root (pre-1.12 ``public/``, or a copied user folder) holds ``chats/`` or
``group chats/`` directly; it is treated as the single user ``default-user``, SillyTavern's name for
the only user of an install without accounts.

Directory symlinks are never followed (a loop cannot hang a scan), unreadable folders and names
that are not UTF-8 (SillyTavern cannot open those either, and no database can store them) are
skipped with a warning, and nothing here raises on a broken data root.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sidecar.sillytavern.groups import GroupInfo, claims, load_groups

log = logging.getLogger(__name__)

LEGACY_USER = "default-user"
CHATS_DIR = "chats"
GROUP_CHATS_DIR = "group chats"
CHAT_SUFFIX = ".jsonl"
_TEMP_FILE = re.compile(r".+\.jsonl\.[0-9]+", re.DOTALL)


@dataclass(frozen=True)
class DiscoveryOptions:
    """Which names are never chats: whole folders by name, and anything with a given prefix."""

    skip_dir_names: frozenset[str] = frozenset({"backups"})
    skip_prefixes: tuple[str, ...] = ("_", ".")


@dataclass(frozen=True)
class ChatLocation:
    path: Path  # absolute (not symlink-resolved) path of the .jsonl file
    user: str
    kind: Literal["solo", "group"]
    character: str | None  # solo: the chats/<folder> name, None for chats/*.jsonl
    group: GroupInfo | None  # group: the group whose groups/*.json claims the chat, if any
    file_name: str  # without ".jsonl"
    relative_path: str  # relative to the data root, "/"-separated


def is_temp_chat_file(name: str) -> bool:
    """True for SillyTavern's atomic-save temp files, ``<chat>.jsonl.<digits>``."""
    return _TEMP_FILE.fullmatch(name) is not None


def discover_chats(
    root: Path, options: DiscoveryOptions = DiscoveryOptions()
) -> Iterator[ChatLocation]:
    """Yield every chat file under ``root``: users by handle, then solo chats, then group chats."""
    root = Path(os.path.abspath(root))
    users: list[tuple[str, Path, tuple[str, ...]]] = [(LEGACY_USER, root, ())]
    if not _is_legacy_root(root):
        users = [
            (entry.name, root / entry.name, (entry.name,))
            for entry in _scan(root)
            if _is_dir(entry) and not _skipped(entry.name, options)
        ]
    for user, user_dir, prefix in sorted(users):
        for location in _user_chats(root, user, user_dir, prefix, options):
            if _is_utf8(location.relative_path):
                yield location
            else:
                log.warning("Skipping %s: its name is not valid UTF-8", shown_path(location.path))


def locate_chat(
    root: Path,
    path: Path,
    options: DiscoveryOptions = DiscoveryOptions(),
    *,
    groups: Mapping[str, GroupInfo] | None = None,
) -> ChatLocation | None:
    """Classify one path as discover_chats would, or None if it is not a chat sidecar indexes.

    The file itself need not exist (deletions must be classifiable); only ``groups/*.json`` is read,
    and not even that when the caller passes the user's ``groups`` (as returned by load_groups).
    """
    root = Path(os.path.abspath(root))
    parts = _relative_parts(root, path)
    if parts is None or not all(map(_is_utf8, parts)):
        return None
    user, user_dir, prefix, rest = LEGACY_USER, root, parts[:0], parts
    if not _is_legacy_root(root):
        if len(parts) < 2 or _skipped(parts[0], options):
            return None
        user, user_dir, prefix, rest = parts[0], root / parts[0], parts[:1], parts[1:]
    name = rest[-1]
    if not _is_chat_name(name, options) or any(_skipped(p, options) for p in rest[:-1]):
        return None
    is_group = len(rest) == 2 and rest[0] == GROUP_CHATS_DIR
    if not is_group and not (rest[0] == CHATS_DIR and len(rest) in (2, 3)):
        return None
    if _not_a_scanned_file(root, parts):
        return None
    group = None
    if is_group:
        owners = claims(load_groups(user_dir) if groups is None else groups)
        group = owners.get(name[: -len(CHAT_SUFFIX)])
    return _location(root, user, prefix, rest, group)


def _user_chats(
    root: Path, user: str, user_dir: Path, prefix: tuple[str, ...], options: DiscoveryOptions
) -> Iterator[ChatLocation]:
    direct: list[str] = []
    folders: list[str] = []
    for entry in _scan(user_dir / CHATS_DIR):
        if _is_dir(entry):
            if not _skipped(entry.name, options):
                folders.append(entry.name)
        elif _is_chat_name(entry.name, options) and _is_file(entry):
            direct.append(entry.name)
    for name in sorted(direct):
        yield _location(root, user, prefix, (CHATS_DIR, name))
    for folder in sorted(folders):
        for name in _chat_files(user_dir / CHATS_DIR / folder, options):
            yield _location(root, user, prefix, (CHATS_DIR, folder, name))
    group_chats = _chat_files(user_dir / GROUP_CHATS_DIR, options)
    if group_chats:
        owners = claims(load_groups(user_dir))
        for name in group_chats:
            group = owners.get(name[: -len(CHAT_SUFFIX)])
            yield _location(root, user, prefix, (GROUP_CHATS_DIR, name), group)


def _location(
    root: Path,
    user: str,
    prefix: tuple[str, ...],
    rest: tuple[str, ...],
    group: GroupInfo | None = None,
) -> ChatLocation:
    """``rest`` is below the user folder: ``chats/[<folder>/]<file>`` or ``group chats/<file>``."""
    parts = (*prefix, *rest)
    solo = rest[0] == CHATS_DIR
    return ChatLocation(
        path=root.joinpath(*parts),
        user=user,
        kind="solo" if solo else "group",
        character=rest[1] if solo and len(rest) == 3 else None,
        group=None if solo else group,
        file_name=rest[-1][: -len(CHAT_SUFFIX)],
        relative_path="/".join(parts),
    )


def _chat_files(folder: Path, options: DiscoveryOptions) -> list[str]:
    return sorted(e.name for e in _scan(folder) if _is_chat_name(e.name, options) and _is_file(e))


def _is_chat_name(name: str, options: DiscoveryOptions) -> bool:
    return name.endswith(CHAT_SUFFIX) and not _skipped(name, options)


def _skipped(name: str, options: DiscoveryOptions) -> bool:
    return name in options.skip_dir_names or name.startswith(options.skip_prefixes)


def _is_legacy_root(root: Path) -> bool:
    return any(
        (root / name).is_dir() and not (root / name).is_symlink()
        for name in (CHATS_DIR, GROUP_CHATS_DIR)
    )


def _relative_parts(root: Path, path: Path) -> tuple[str, ...] | None:
    """``path`` relative to ``root`` as parts, trying symlink-resolved paths as a fallback."""
    candidate = Path(os.path.abspath(path))
    try:
        parts = candidate.relative_to(root).parts
    except ValueError:
        try:  # e.g. a watcher reporting resolved paths under a symlinked data root
            parts = candidate.resolve().relative_to(root.resolve()).parts
        except (ValueError, OSError, RuntimeError):  # RuntimeError: symlink loop
            return None
    return parts or None


def _not_a_scanned_file(root: Path, parts: tuple[str, ...]) -> bool:
    """True when discovery would not reach the file: it is a folder, or under a symlinked one."""
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            return True
    return (folder / parts[-1]).is_dir()


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        log.warning("Skipping unreadable folder %s: %s", folder, error)
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """A file, or a name that cannot even be looked at (a symlink loop): reading it reports why.
    A dangling symlink is simply not a file."""
    try:
        return entry.is_file()
    except OSError:
        return True


def _is_utf8(name: str) -> bool:
    """False for names with bytes that are not UTF-8 (decoded by Python as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_path(path: Path | str) -> str:
    """``path`` fit for a log line or a terminal, whatever bytes its name has."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
