"""What a person's name may be: the one rule every way a name enters calls.

A name is one line of printable text: no control characters (newline, tab, the
escape that starts a terminal sequence), no invisible format characters (bidi
overrides), at most MAX_LENGTH characters, not a default name ("Person 4", which
means a person's id) and not digits only (read as an id by every command).
Whitespace runs become one space and the text is NFC-normalised, so two spellings
that look the same are one name. Uniqueness (case-insensitive) is the library's
business: see pipeline.people.named.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import UsageError

MAX_LENGTH = 100
DEFAULT_NAME = re.compile(r"person\s*#?\s*(\d+)", re.IGNORECASE)
"""The label of an unnamed person ("Person 17"), as pipeline.query reads it too."""
_JOINERS = {"\u200c", "\u200d"}  # zero-width (non-)joiner: part of some scripts and emoji
_REFUSED = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def check_name(name: object) -> str:
    """The name as stored, or a UsageError saying what is wrong with it and the fix."""
    if not isinstance(name, str):
        raise UsageError(f"A name is text, not {type(name).__name__} ({repr(name)[:60]}).")
    for ch in name:
        if ch in _JOINERS or unicodedata.category(ch) not in _REFUSED:
            continue
        what = "a line break" if ch in "\n\r\x0b\x0c\x85\u2028\u2029" else "a control character"
        shown = name[:60].encode("unicode_escape").decode("ascii") + (
            "..." if len(name) > 60 else ""
        )
        raise UsageError(
            f'The name "{shown}" contains {what} ({ch!r}); a name is one line of printable text.'
        )
    clean = unicodedata.normalize("NFC", " ".join(name.split()))
    if not clean:
        raise UsageError("A name cannot be empty.")
    if len(clean) > MAX_LENGTH:
        raise UsageError(
            f'The name "{clean[:40]}..." has {len(clean)} characters; at most {MAX_LENGTH}.'
        )
    if DEFAULT_NAME.fullmatch(clean):
        raise UsageError(
            f'"{clean}" looks like a default name (the label of an unnamed person); '
            "choose another name."
        )
    if clean.isdigit():
        raise UsageError(f'"{clean}" is a number, which commands read as a person id; use a name.')
    return clean


def name_key(name: str) -> str:
    """Two names with one key are one name (case and Unicode spelling ignored)."""
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()
