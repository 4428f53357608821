"""Search in Chinese, Japanese and Korean: any substring of a CJK run is found, in message text and
in extension values, through real HTTP on real SQLite files built by the real indexer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.storage.registry import CATALOG_FILE
from tests.conftest import PREFIX
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save

ZH = "我们明天去北京看长城吧"
JA = "東京タワーはとてもきれいでした"  # kanji, katakana and hiragana
KO = "학교에서친구를만났어요"  # Hangul, particles attached to the nouns
MIXED = "版本字2025字发布"
LATIN = "The dragon sleeps"


def texts() -> list[Any]:
    return [
        header(),
        message(ZH, name="User", is_user=True),
        message(JA, extra={"tracker": {"place": "大阪城の近くのカフェ", "hp": 3}}),
        message(KO, extra={"tracker": {"mood": "기분이좋아요"}}),
        message(MIXED),
        message("<b>东京</b> & タワー"),
        message(LATIN),
    ]


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root, self.db_dir = tmp_path / "st", tmp_path / "db"
        self.path = self.root / SOLO / "cjk.jsonl"
        st_save(self.path, texts())
        self.h = Harness(self.root, self.db_dir)
        self.h.scan()
        settings = Settings.model_validate(
            {"storage": {"database_dir": str(self.db_dir)}, "sillytavern": {"data_root": None}}
        )
        self.client = TestClient(create_app(settings))
        self.client.__enter__()
        self.chat = self.h.chat_id(f"{SOLO}/cjk.jsonl")

    def items(self, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(PREFIX + "/search", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def places(self, q: str) -> set[tuple[int, str]]:
        return {(i["position"], i["where"]) for i in self.items(q=q)}

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.h.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One indexed root for the tests that only read it."""
    e = Env(tmp_path_factory.mktemp("cjk"))
    yield e
    e.close()


@pytest.fixture
def own_env(tmp_path: Path) -> Iterator[Env]:
    """A root of its own, for a test that changes the chat."""
    e = Env(tmp_path)
    yield e
    e.close()


def substrings(text: str, longest: int = 4) -> set[str]:
    return {text[i : i + n] for n in range(2, longest + 1) for i in range(len(text) - n + 1)}


@pytest.mark.parametrize(("text", "position"), [(ZH, 0), (JA, 1), (KO, 2)])
def test_every_substring_of_message_text(env: Env, text: str, position: int) -> None:
    for part in sorted(substrings(text)):
        assert (position, "text") in env.places(part), part
    assert (position, "text") in env.places(text)  # the whole run too


def test_substrings_of_extension_values(env: Env) -> None:
    for part in sorted(substrings("大阪城の近くのカフェ")):
        assert (1, "tracker.place") in env.places(part), part
    for part in sorted(substrings("기분이좋아요")):
        assert (2, "tracker.mood") in env.places(part), part
    assert env.places("近くの") == {(1, "tracker.place")}
    assert env.items(q="近く", namespace="tracker")[0]["swipe"] == 0


def test_only_real_substrings_match(env: Env) -> None:
    assert env.items(q="北长") == []  # both characters occur, not side by side
    assert env.items(q="城长") == []  # reversed
    assert env.places("北京 长城") == {(0, "text")}  # words of one query: all must match
    assert env.items(q="北京 学校") == []


def test_digits_inside_cjk(env: Env) -> None:
    assert env.places("2025") == {(3, "text")}
    assert env.places("字2025字") == {(3, "text")}
    assert env.places("2025字发布") == {(3, "text")}
    snippet = env.items(q="2025")[0]["snippet"]
    assert snippet == "版本字<mark>2025</mark>字发布"


def test_snippets_are_escaped_marked_and_clean(env: Env) -> None:
    [hit] = env.items(q="东京")
    assert hit["snippet"] == "&lt;b&gt;<mark>东京</mark>&lt;/b&gt; &amp; タワー"
    assert env.items(q="京看长")[0]["snippet"] == "我们明天去北<mark>京看长</mark>城吧"
    [value] = env.items(q="カフェ")
    assert value["snippet"] == "大阪城の近くの<mark>カフェ</mark>"
    for q in ("タワー", "학교", "明天", "2025", "dragon"):
        for item in env.items(q=q):
            assert "\u200b" not in item["snippet"]


def test_latin_words_beside_cjk(env: Env) -> None:
    assert env.places("dragon") == {(5, "text")}
    assert env.items(q="drag") == []  # Latin stays word matching
    assert env.places("DRAGON sleeps") == {(5, "text")}


@pytest.mark.parametrize("q", ["。", "、\uff01\uff1f", "「」", "…", "——", "・"])
def test_punctuation_only_queries_find_nothing(env: Env, q: str) -> None:
    assert env.items(q=q) == []


def test_edits_keep_the_index_in_sync(own_env: Env) -> None:
    env = own_env
    messages = texts()
    messages[1] = message("上海的天气很好", name="User", is_user=True)  # CJK -> other CJK
    messages[4] = message("plain latin now")  # CJK -> Latin
    messages[2]["extra"]["tracker"]["place"] = "京都の駅"
    st_save(env.path, messages)
    env.h.scan()
    assert env.items(q="北京") == []
    assert env.places("天气") == {(0, "text")}
    assert env.items(q="2025") == []
    assert env.items(q="大阪") == []
    assert env.places("京都") == {(1, "tracker.place")}
    catalog = env.db_dir / CATALOG_FILE
    with sqlite3.connect(catalog) as conn:
        conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
        segmented = conn.execute("SELECT count(*) FROM messages_fts_seg").fetchone()[0]
        cjk_texts = conn.execute(
            "SELECT count(*) FROM messages WHERE text GLOB '*[一-龥ぁ-ヿ가-힣]*'"
        ).fetchone()[0]
    assert segmented == cjk_texts == 4  # only texts with CJK keep a segmented copy
    with sqlite3.connect(env.db_dir / "tracker.db") as conn:
        conn.execute("INSERT INTO data_fts(data_fts, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("SELECT count(*) FROM data_fts_seg").fetchone()[0] == 2


def test_text_without_cjk_leaves_no_segmented_copy(own_env: Env) -> None:
    env = own_env
    st_save(env.path, [header(), message("nothing left")])
    env.h.scan()
    assert env.items(q="東京") == []
    with sqlite3.connect(env.db_dir / CATALOG_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM messages_fts_seg").fetchone()[0] == 0
    with sqlite3.connect(env.db_dir / "tracker.db") as conn:
        assert conn.execute("SELECT count(*) FROM data_fts_seg").fetchone()[0] == 0


def test_long_texts_get_a_short_snippet_around_the_first_match(tmp_path: Path) -> None:
    """A long text (thousands of matches of one character) gets a bounded snippet."""
    root, db_dir = tmp_path / "st", tmp_path / "db"
    latin = "filler " * 800 + "the <dragon> wakes " + "tail " * 800
    st_save(root / SOLO / "long.jsonl", [header(), message("字" * 9000), message(latin)])
    Harness(root, db_dir).scan()
    settings = Settings.model_validate(
        {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": None}}
    )
    with TestClient(create_app(settings)) as client:
        [cjk] = client.get(PREFIX + "/search", params={"q": "字字"}).json()["items"]
        assert cjk["snippet"].startswith("<mark>字字")
        assert cjk["snippet"].endswith("</mark>…")
        assert len(cjk["snippet"]) < 200
        [word] = client.get(PREFIX + "/search", params={"q": "dragon"}).json()["items"]
        snippet = word["snippet"]
        assert snippet.startswith("…")
        assert snippet.endswith("…")
        assert "the &lt;<mark>dragon</mark>&gt; wakes" in snippet
        assert len(snippet) < 300
