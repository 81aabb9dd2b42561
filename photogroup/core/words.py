"""Words in messages."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 photo', '2 photos' ('1 person', '3 people' with many='people')."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def person_label(person_id: int, name: str | None) -> str:
    """What a person is called: their name, or "Person N" (N: their id) until named."""
    return name or f"Person {person_id}"
