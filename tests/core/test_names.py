"""A name is one line of printable text, not a default name, not an id."""

from __future__ import annotations

import pytest

from photogroup.core.errors import UsageError
from photogroup.core.names import MAX_LENGTH, check_name, name_key


@pytest.mark.parametrize(
    "given, stored",
    [
        ("  Ann  ", "Ann"),
        ("Ann   Lee", "Ann Lee"),
        ("Ann\u00a0Lee", "Ann Lee"),  # a no-break space is a space
        ("Jose\u0301", "Jos\u00e9"),  # NFC: one spelling of é
        ("Zoë 2", "Zoë 2"),
        ("\u0645\u06cc\u200c\u0631\u0627", "\u0645\u06cc\u200c\u0631\u0627"),  # a ZWNJ in Persian
        ("Person", "Person"),
        ("Persona 4", "Persona 4"),
    ],
)
def test_good_names_are_cleaned_once(given, stored):
    assert check_name(given) == stored


@pytest.mark.parametrize(
    "given, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Ann\nBob", "line break"),
        ("Ann\r", "line break"),
        ("Ann\u2028", "line break"),
        ("\x1b[31mEvil", "control character"),
        ("Ann\tLee", "control character"),
        ("Ann\u202eLee", "control character"),  # a right-to-left override
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
        ("Person 4", "default name"),
        ("person  17", "default name"),
        ("Person4", "default name"),
        ("42", "person id"),
        (None, "A name is text"),
        (17, "A name is text"),
    ],
)
def test_bad_names_are_refused_with_the_reason(given, message):
    with pytest.raises(UsageError, match=message):
        check_name(given)


def test_escape_is_shown_escaped_in_the_message():
    with pytest.raises(UsageError) as err:
        check_name("\x1b[2JHi")
    assert "\x1b" not in str(err.value) and "\\x1b[2JHi" in str(err.value)


def test_name_key_ignores_case_and_spelling():
    assert name_key("mindy") == name_key("MINDY") == name_key(" Mindy ")
    assert name_key("Jose\u0301") == name_key("JOS\u00c9")
    assert name_key("Ann") != name_key("Anna")
