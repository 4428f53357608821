"""The real-world corpus in ../shared (when present), indexed folder by folder. The expected counts
were derived by hand from the files (plain ``json``, header rules of the format spec)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.index_harness import Harness

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/sillytavern-chat-corpus is absent"),
]

# folder -> {file name: (messages, chat-level extension namespaces)}
EXPECTED: dict[str, dict[str, tuple[int, list[str]]]] = {
    "01_st-repo-legacy-2023-01": {"1673181146000": (1, [])},
    "02_st-repo-legacy-2023-04": {"1673323621108": (3, [])},
    "03_user-data-st-1.12-era": {"Seraphina - 2023-5-12 @21h 32m 29s 224ms": (1, [])},
    "04_user-data-st-1.13-backup": {},  # only a backup: not a live chat
    "05_st-api-generated-fixtures": {
        "fixture-basic": (3, []),
        "fixture-imported": (3, []),
        "fixture-integrity": (2, ["custom_flag"]),
    },
    # Header-less group chat: its chat_metadata lives in groups/1746455179287.json.
    "06_user-data-st-1.12.14-groupchat-REDACTED": {
        "2025-05-05@22h26m18s": (4, ["selected_sheets", "sheets"])
    },
    "07_user-data-st-1.14-reasoning-REDACTED": {
        "Character1 - 2025-11-26@21h22m31s": (5, ["selected_sheets", "sheets"])
    },
    "08_user-data-st-1.14-branch-large-REDACTED": {
        "Branch #3 - 2025-11-13@20h37m41s": (37, ["selected_sheets", "sheets"])
    },
}


# folder -> the namespaces its messages carry: extensions' top-level fields (every message field
# that is not SillyTavern's own); every key of their ``extra`` is SillyTavern's.
TOP_LEVEL = ["hash_sheets", "is_ejs_processed", "tableEditMatches", "variables"]
MESSAGE_NAMESPACES: dict[str, list[str]] = {
    "06_user-data-st-1.12.14-groupchat-REDACTED": ["hash_sheets", "tableEditMatches"],
    "07_user-data-st-1.14-reasoning-REDACTED": [*TOP_LEVEL, "variables_initialized"],
    "08_user-data-st-1.14-branch-large-REDACTED": [*TOP_LEVEL, "variables_initialized"],
}


def checksums(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_corpus_folder(tmp_path: Path, folder: str) -> None:
    root = CORPUS / folder
    before = checksums(root)
    h = Harness(root, tmp_path / "db")
    try:
        summary = h.scan()
        assert summary.problems == []
        chats = h.catalog_rows("SELECT chat_id, file_name, message_count FROM chats")
        found: dict[str, tuple[int, list[str]]] = {}
        for chat_id, file_name, count in chats:
            chat_level = sorted(
                {
                    ns
                    for db in h.db_dir.glob("*.db")
                    if db.name != "sidecar.index.db" and db.name != "sidecar.registry.db"
                    for (ns,) in h.query(
                        db.name, "SELECT DISTINCT namespace FROM chat_data WHERE chat_id = ?",
                        chat_id,
                    )
                }
            )  # fmt: skip
            found[file_name] = (count, chat_level)
        assert found == EXPECTED[folder]
        in_messages = MESSAGE_NAMESPACES.get(folder, [])
        assert summary.namespaces == in_messages
        chat_level = sorted({ns for _count, names in EXPECTED[folder].values() for ns in names})
        assert summary.chat_namespaces == chat_level
        assert summary.all_namespaces == sorted(set(in_messages) | set(chat_level))
        for namespace in in_messages:  # each one's values are in its own database
            rows = h.query(f"{namespace}.db", "SELECT count(*) FROM message_data")
            assert rows[0][0] > 0, namespace
        assert h.scan().statuses == ({"unchanged": len(chats)} if chats else {})
    finally:
        h.close()
    assert checksums(root) == before
