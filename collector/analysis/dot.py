"""DOT (Graphviz) quoting of names from spans: the one rule the DOT exports and the dashboard's drawings share.

Names are untrusted. In a DOT double-quoted string only `"` and `\\` are special, and graphviz gives label
escapes (`\\N`, `\\G`, `\\l`, `\\n`, …) a meaning; escaping every backslash means none can form, so a name can
neither end its string nor change the drawing, and it never becomes an HTML-like label (those are `<…>`,
unquoted). Characters of Unicode category C (controls, CR and LF included, format characters such as bidi
overrides, lone surrogates, private-use and unassigned code points) never reach the output as themselves.
Pure: no graphviz, no Streamlit.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_LABEL", "quote", "quote_id"]

MAX_LABEL = 80
"""Labels longer than this are cut (with an ellipsis) so one odd name cannot blow up the layout."""


def _is_other(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C")


def _visible(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote(text: str, max_len: int | None = MAX_LABEL) -> str:
    """`text` as a DOT label string that shows exactly these characters: category-C characters as spaces, cut
    to `max_len` (None: never) with an ellipsis."""
    cleaned = "".join(" " if _is_other(ch) else ch for ch in text)
    if max_len is not None and len(cleaned) > max_len:
        cleaned = cleaned[: max_len - 1] + "…"
    return _quoted(cleaned)


def quote_id(text: str) -> str:
    """`text` as a DOT node id: escaped as `quote`, never cut, category-C characters written as visible escapes
    (`\\x01`, `\\u202e`) so that two ids differing only there stay two nodes."""
    return _quoted("".join(_visible(ch) if _is_other(ch) else ch for ch in text))
