"""Chinese, Japanese and Korean chats for the benchmark data root (``chatgen`` writes the Latin
ones).

Same shapes as ``chatgen`` (header, swiped bot messages, the two extension namespaces), but the
text comes from CJK pools: Chinese and Japanese written without spaces, Korean with particles
attached to their nouns, punctuation of those scripts, a few Latin words, and mixed runs of
digits and CJK characters (``字2025字``, ``2025年3月``, ``第12章``). Deterministic: the same seed
gives the same bytes. The Latin corpus is untouched (its chats and seeds do not change).

Run alone:  python benchmarks/chatgen_cjk.py OUT_DIR [--chats 12] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import chatgen
from chatgen import ChatSpec, GeneratedChat

ZH_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "我们 你 我 他 她 他们 的 了 是 在 不 有 这 那 就 也 都 和 说 看 去 来 想 要 会 能 "
    "今天 明天 北京 长城 喜欢 时候 知道 因为 所以 已经 可以 没有 什么 一个 自己 这个 朋友 世界 "
    "时间 眼睛 声音 月光 森林 城堡 酒馆 窗户 雨夜 火焰 长剑 记忆 梦境 低语 微笑 呼吸 沉默 黎明 "
    "王国 骑士 魔法 秘密 旅人 信件 约定 影子 灯笼 茶馆 江湖 师父 徒弟 剑客 姑娘 公子 纪长昼"
).split()
JA_WORDS = (  # noqa: SIM905
    "私 あなた 彼 彼女 は が を に で と の も から まで です ました でした ます ない "
    "東京 タワー きれい とても 今日 明日 森 城 魔法 剣 光 影 声 夢 記憶 約束 手紙 雨 夜 朝 "
    "カフェ ドラゴン ギルド 冒険者 騎士 王女 魔女 酒場 窓 扉 笑顔 沈黙 囁き 見つめる 歩く 走る "
    "ゆっくり そっと もう一度 ありがとう ごめんなさい 大丈夫 ｶﾀｶﾅ"
).split()
KO_NOUNS = (  # noqa: SIM905
    "학교 친구 마법 성 숲 빛 그림자 목소리 기억 약속 편지 비 밤 아침 카페 드래곤 기사 공주 "
    "마녀 선술집 창문 문 미소 침묵 속삭임 서연 여행자 왕국 비밀 검 불꽃 꿈"
).split()
KO_PARTICLES = ("에서", "를", "을", "이", "가", "는", "은", "와", "의", "에게", "", "")
KO_VERBS = ("만났어요", "갔어요", "좋아요", "있었다", "보았다", "말했다", "웃었다", "기다렸어요")
LATIN = ("OK", "Aria", "HP", "the", "sword", "café")
YEARS = (2024, 2025, 2026)
ENDINGS = ("。", "。", "\uff01", "\uff1f", "……")  # full stop, fullwidth ! and ?, ellipsis
CHARACTERS = {"zh": ("纪长昼", "白月光"), "ja": ("Tomoe", "Yuki-onna"), "ko": ("서연",)}


def _mixed(rng: random.Random) -> str:
    """A run that mixes digits with CJK characters."""
    year = rng.choice(YEARS)
    return rng.choice(
        (
            f"字{year}字",
            f"{year}年{rng.randint(1, 12)}月",
            f"第{rng.randint(1, 99)}章",
            f"{rng.randint(1, 999)}号",
        )
    )


def _zipf(words: tuple[str, ...] | list[str]) -> list[float]:
    return [1.0 / math.sqrt(rank + 1) for rank in range(len(words))]


def _sentence(rng: random.Random, lang: str) -> str:
    if lang == "ko":
        parts = []
        for _ in range(rng.randint(3, 8)):
            noun = rng.choices(KO_NOUNS, weights=_zipf(KO_NOUNS))[0]
            parts.append(noun + rng.choice(KO_PARTICLES))
        parts.append(rng.choice(KO_VERBS))
        text = " ".join(parts) + rng.choice((".", "!", "?", "..."))
    else:
        words = ZH_WORDS if lang == "zh" else JA_WORDS
        picked = rng.choices(words, weights=_zipf(words), k=rng.randint(6, 20))
        text = "".join(picked) + rng.choice(ENDINGS)
        if rng.random() < 0.3:
            cut = rng.randrange(len(text))
            comma = "\uff0c" if lang == "zh" else "、"  # fullwidth comma
            text = text[:cut] + comma + text[cut:]
    if rng.random() < 0.15:
        text = _mixed(rng) + text
    if rng.random() < 0.08:
        text += " " + rng.choice(LATIN) + " "
    style = rng.random()
    if style < 0.2:
        return f"*{text}*"
    if style < 0.45:
        return f"“{text}”" if lang == "zh" else f"「{text}」"
    return text


def pool(seed: int, lang: str, chars: int = 1 << 19) -> str:
    rng = random.Random(f"{seed}-{lang}")
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = _sentence(rng, lang) + ("\n\n" if rng.random() < 0.15 else "")
        out.append(sentence)
        size += len(sentence)
    return "".join(out)


def plan(count: int, seed: int) -> list[ChatSpec]:
    rng = random.Random(f"cjk-{seed}")
    langs = ["zh", "ja", "ko"]
    specs = []
    for n in range(count):
        lang = langs[n % 3] if n < 3 else rng.choice(("zh", "zh", "ja", "ko"))
        character = rng.choice(CHARACTERS[lang])
        size = math.exp(rng.uniform(math.log(300_000), math.log(1_500_000)))
        messages = rng.randint(200, 800)
        name = (
            f"{character} - 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}@{n:02d}h00m00s"
        )
        specs.append(
            ChatSpec(character, name, messages, int(size), f"cjk-{lang}",
                     rng.choice((0.5, 0.9, 1.0)), rng.random() < 0.3, (90, 7, 2, 1))
        )  # fmt: skip
    return specs


def generate(root: Path, count: int = 12, seed: int = 1) -> list[GeneratedChat]:
    """Write ``count`` CJK chats under ``root`` (which may already hold the Latin corpus)."""
    pools = {lang: pool(seed, lang) for lang in ("zh", "ja", "ko")}
    return [
        chatgen.write_chat(root, spec, seed * 7_919 + i, pools[spec.role.removeprefix("cjk-")])
        for i, spec in enumerate(plan(count, seed))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--chats", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for chat in generate(args.out, args.chats, args.seed):
        print(
            f"{chat.size:>11,} B {chat.spec.messages:>5} messages {chat.spec.role:<7} {chat.path}"
        )


if __name__ == "__main__":
    main()
