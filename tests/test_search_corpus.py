"""Search on the real chats of ../shared/sillytavern-chat-corpus (Chinese role-play included):
CJK substrings and Latin words taken from the messages are found in their messages (``/search``)
and their chats (``/chats?q=``, checked against SillyTavern's rule on the indexed text)."""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.storage.registry import CATALOG_FILE
from tests.conftest import PREFIX
from tests.index_harness import Harness

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"
FOLDERS = [
    "06_user-data-st-1.12.14-groupchat-REDACTED",
    "07_user-data-st-1.14-reasoning-REDACTED",
    "08_user-data-st-1.14-branch-large-REDACTED",
]
CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{2,}")
LATIN_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
SAMPLES = 40

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/sillytavern-chat-corpus is absent"),
]


def samples(texts: list[str], rng: random.Random) -> list[str]:
    """CJK substrings of 2-4 characters and Latin words found in ``texts``."""
    found: set[str] = set()
    for text in texts:
        for run in CJK_RUN.findall(text):
            n = rng.randint(2, min(4, len(run)))
            start = rng.randrange(len(run) - n + 1)
            found.add(run[start : start + n])
        found.update(LATIN_WORD.findall(text)[:3])
    return rng.sample(sorted(found), min(SAMPLES, len(found)))


@pytest.mark.parametrize("folder", FOLDERS)
def test_corpus_substrings_are_found(tmp_path: Path, folder: str) -> None:
    db_dir = tmp_path / "db"
    h = Harness(CORPUS / folder, db_dir)
    h.scan()
    h.close()
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        rows = conn.execute(
            "SELECT m.chat_id, m.position, m.text, c.file_name FROM messages m "
            "JOIN chats c ON c.chat_id = m.chat_id WHERE m.text IS NOT NULL"
        ).fetchall()
    assert rows, folder
    texts: dict[str, list[tuple[int, str]]] = {}
    names: dict[str, str] = {}
    for chat_id, position, text, name in rows:
        texts.setdefault(chat_id, []).append((position, text))
        names[chat_id] = name
    queries = samples([text for _, _, text, _ in rows], random.Random(folder))
    assert any(CJK_RUN.fullmatch(q) for q in queries), "the corpus folder has CJK text"
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        for q in queries:
            needle = q.lower()
            st_chats = {
                chat_id
                for chat_id, items in texts.items()
                if any(needle in text.lower() for _, text in items)
                or needle in names[chat_id].lower()
            }
            found = client.get(PREFIX + "/chats", params={"q": q, "limit": 1000}).json()
            assert st_chats <= {item["chatId"] for item in found["items"]}, q
            for chat_id in st_chats:
                expected = {p for p, text in texts[chat_id] if needle in text.lower()}
                hits: list[dict[str, Any]] = client.get(
                    PREFIX + "/search", params={"q": q, "chatId": chat_id, "limit": 100}
                ).json()["items"]
                got = {i["position"] for i in hits if i["where"] == "text"}
                if CJK_RUN.fullmatch(q):
                    assert expected <= got or len(got) == 100, (q, expected - got)
                else:  # a Latin word: every message with it as a whole word
                    words = {p for p, t in texts[chat_id] if re.search(rf"\b{q}\b", t, re.I)}
                    assert words <= got or len(got) == 100, (q, words - got)
                for item in hits:
                    assert "\u200b" not in item["snippet"]
