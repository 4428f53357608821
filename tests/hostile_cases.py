"""Hostile chat files: how each one is made in a SillyTavern-style data root and what indexing it
must give. Every file holds good messages (``extra.ext.n`` set) around its bad lines.

Expected semantics follow SillyTavern, which reads a chat as UTF-8 text (invalid bytes become
U+FFFD) and gives each line to ``JSON.parse`` (NaN/Infinity are errors, the last duplicate key
wins, a lone ``\\ud83d`` escape or ``1e999`` are fine), and the spec: a bad line is reported with
its line number and the rest of the file is indexed. The parts are in ``hostile_parts.py``.
"""

from __future__ import annotations

from tests.hostile_parts import (
    BIG_LINE_BYTES,
    HEADER,
    Big,
    Case,
    big_line,
    deep,
    directory,
    fifo,
    folder_loops,
    good,
    joined,
    not_utf8_name,
    odd_swipe_ids,
    saved,
    symlink_loop,
    wrong_types,
)
from tests.st_files import dumps

CASES: list[Case] = [
    Case(
        "truncated_last_line",
        saved(joined(HEADER, good(1), good(2), b'{"name":"Seraphina","mes":"cut off in the mid')),
        (("good 1", 1), ("good 2", 2)),
        ((4, "invalid JSON"),),
    ),
    Case(
        "invalid_utf8",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"Seraphina","mes":"caf\xe9 \xff!","extra":{"ext":{"n":2}}}',
                b'{"name":"Seraphina",\xff"mes":"x"}',
                good(4),
            )
        ),
        (("good 1", 1), ("caf\ufffd \ufffd!", 2), ("good 4", 4)),
        ((3, "invalid UTF-8"), (4, "invalid JSON")),
    ),
    Case(
        "utf8_bom",
        saved(b"\xef\xbb\xbf" + joined(HEADER, good(1), b"\xef\xbb\xbf" + good(2), good(3))),
        (("good 1", 1), ("good 3", 3)),
        ((3, "invalid JSON"),),  # a BOM inside the file is not JSON whitespace
    ),
    Case(
        "crlf_line_ends",
        saved(joined(HEADER, good(1), b"", good(2), b"", newline=b"\r\n")),
        (("good 1", 1), ("good 2", 2)),
    ),
    Case(
        "nul_bytes",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"Seraphina","mes":"a\x00b"}',
                b"\x00" * 64,
                b'{"name":"Seraphina","mes":"esc\\u0000aped","extra":{"ext":{"n":5}}}',
                good(6),
            )
        ),
        (("good 1", 1), ("esc\x00aped", 5), ("good 6", 6)),
        ((3, "invalid JSON"), (4, "invalid JSON")),
    ),
    Case(
        "line_of_50_mb",
        big_line,
        (("good 1", 1), (Big("lorem lorem ", BIG_LINE_BYTES // 6 * 6), 2), ("good 3", 3)),
        appendable=False,
    ),
    Case(
        "nesting_100000_deep_line",
        saved(joined(HEADER, good(1), deep(b"[", b"]"), deep(b'{"a":', b"}"), good(4))),
        (("good 1", 1), ("good 4", 4)),
        ((3, "nested deeper than 512"), (4, "nested deeper than 512")),
    ),
    Case(
        "nesting_100000_deep_in_extra",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"deep","extra":{"ext":{"n":' + deep(b"[", b"]") + b"}}}",
                # Just under msgspec's own limit: read, but once failed to be encoded again.
                b'{"name":"S","mes":"deep tracker","tracker":' + deep(b"[", b"]", 992) + b"}",
                b'{"name":"S","mes":"513 deep","extra":{"ext":{"n":5,"v":'
                + deep(b"[", b"]", 510)
                + b"}}}",
                b'{"name":"S","mes":"512 deep","extra":{"ext":{"n":6,"v":'
                + deep(b"[", b"]", 509)
                + b"}}}",
                good(7),
            )
        ),
        (("good 1", 1), ("512 deep", 6), ("good 7", 7)),
        ((3, "nested deeper than 512"), (4, "nested deeper than 512"), (5, "nested deeper")),
    ),
    Case(
        "nan_and_infinity",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"a","extra":{"ext":{"n":NaN}}}',
                b'{"name":"S","mes":Infinity}',
                b'{"name":"S","mes":"b","extra":{"ext":{"n":-Infinity}}}',
                good(6),
            )
        ),
        (("good 1", 1), ("good 6", 6)),
        ((3, "NaN is not a JSON value"), (4, "Infinity is not"), (5, "-Infinity is not")),
    ),
    Case(
        "duplicate_keys",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"first","mes":"last","extra":{"ext":{"n":0}},"extra":{"ext":{"n":3}}}',
                good(4),
            )
        ),
        (("good 1", 1), ("last", 3), ("good 4", 4)),  # JSON.parse keeps the last
    ),
    Case(
        "lines_that_are_not_objects",
        saved(joined(HEADER, good(1), "[1,2]", "42", '"text"', "null", "true", "false", good(9))),
        (("good 1", 1), ("good 9", 9)),
        (
            (3, "an array"),
            (4, "a number"),
            (5, "a string"),
            (6, "null"),
            (7, "a boolean"),
            (8, "a boolean"),
        ),
    ),
    Case(
        "swipes_swipe_info_extra_of_wrong_type",
        saved(wrong_types()),
        (
            ("m2", 2),
            ("m3", 3),
            ("m4", 4),
            ("m5", 5),
            ("m6", 6),
            ("m7", 7),
            ("m8", None),
            ("m9", None),
            ("m10", None),
            ("m11", None),
        ),
        (
            (2, "swipes is not a list"),
            (3, "swipes is not a list"),
            (5, "swipe_info is not a list"),
            (6, "swipe_info is not a list"),
            (8, "extra is not an object"),
            (9, "extra is not an object"),
            (10, "extra is not an object"),
        ),
    ),
    Case(
        "swipe_id_out_of_range_negative_float_string_bool",
        saved(odd_swipe_ids()),
        tuple((f"m{n}", n) for n in range(2, 8)),  # swipe 0, message.extra: kept and reported
        (
            (2, "swipe_id 5 is out of range"),
            (3, "swipe_id -1 is out of range"),
            (4, "swipe_id 1.5 is not an integer"),
            # m5's swipe_id 1.0 is swipe 1, as JSON.parse reads it: no problem
            (6, "swipe_id 1 is not an integer"),
            (7, "swipe_id true is not an integer"),
        ),
    ),
    Case("zero_byte_file", saved(b"")),
    Case("header_only", saved(HEADER)),
    Case(
        "header_that_is_not_an_object",
        saved(joined('"the header"', good(1), good(2))),
        (("good 1", 1), ("good 2", 2)),
        ((1, "a string"),),
    ),
    Case(
        "header_with_chat_metadata_not_an_object",
        saved(joined(dumps({"chat_metadata": "oops", "user_name": "u"}), good(1))),
        (("good 1", 1),),
        ((1, "chat_metadata is not an object"),),
    ),
    Case(
        "lone_surrogate_and_huge_number",
        saved(
            joined(
                HEADER,
                good(1),
                b'{"name":"S","mes":"cut \\ud83d","extra":{"ext":{"n":2,"big":1e999}}}',
                good(3),
            )
        ),
        (("good 1", 1), ("cut \ufffd", 2), ("good 3", 3)),
        ((3, "lone UTF-16 surrogate"), (3, "too large for a double")),
    ),
    Case("directory_named_like_a_chat", directory, indexed=False),
    Case("fifo_named_like_a_chat", fifo, indexed=False),
    Case(
        "symlink_loop",
        symlink_loop,
        indexed=False,
        file_problem="Too many levels of symbolic links",
        extra_paths=("symlink_loop-b.jsonl",),
    ),
    Case("folder_symlink_loops", folder_loops, (("good 1", 1), ("good 2", 2))),
    Case("file_name_not_utf8", not_utf8_name, indexed=False),
]
