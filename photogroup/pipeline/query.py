"""Answers for the listing commands: people, photos containing X (and Y, not Z, dates),
and every read of the review page (a person's faces, a face, a photo, a decision).

Plain SQL on a read-only `Reader` (standard-library sqlite3), so these commands
import neither SQLAlchemy nor numpy nor TensorFlow and answer at once on large
libraries. Person figures come from the counts kept on each person
(photogroup.db.stats).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from ..core.errors import NotFoundError, UsageError
from ..core.ids import MAX_ID
from ..core.words import person_label
from ..db.reader import Reader

if TYPE_CHECKING:
    from ..db.library import Library


class _Executes(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


@contextmanager
def reader_of(source: Reader | Library) -> Iterator[Reader]:
    """The reader itself, or a reader on an open Library's file (closed afterwards)."""
    if isinstance(source, Reader):
        yield source
        return
    with source.reader() as reader:
        yield reader


# --- people ---------------------------------------------------------------------------

_DEFAULT_NAME = re.compile(r"(?:person\s+)?(\d+)", re.I)


def match_person(conn: _Executes, ref: str | int) -> tuple[int, str | None]:
    """(id, name) of a person given by id ("17"), default name ("Person 17") or name
    (case-insensitive); an unknown name is a NotFoundError listing close names."""
    text = str(ref).strip()
    m = _DEFAULT_NAME.fullmatch(text)
    if m and int(m[1]) <= MAX_ID:
        row = conn.execute("SELECT id, name FROM people WHERE id = ?", (int(m[1]),)).fetchone()
        if row is not None and (text.isdigit() or row[1] is None or row[1] == text):
            return int(row[0]), row[1]
    named = [
        (int(i), n) for i, n in conn.execute("SELECT id, name FROM people WHERE name IS NOT NULL")
    ]
    for pid, name in named:
        if name.casefold() == text.casefold():
            return pid, name
    names = [n for _, n in named]
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    close += [n for n in names if text.casefold() in n.casefold() and n not in close][:3]
    hint = f" Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
    raise NotFoundError(
        f'No person named "{text}".{hint} Run "photogroup people" to list names and ids.'
    )


@dataclass
class PersonRow:
    id: int
    name: str | None
    faces: int
    photos: int
    hidden: bool
    cover_photo: str | None
    cover_box: list[float] | None
    cover_face_id: int | None = None

    @property
    def label(self) -> str:
        return person_label(self.id, self.name)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "faces": self.faces,
            "photos": self.photos,
            "hidden": self.hidden,
            "cover": None
            if self.cover_photo is None
            else {"face_id": self.cover_face_id, "photo": self.cover_photo, "box": self.cover_box},
        }


def list_people(
    source: Reader | Library,
    include_all: bool = False,
    min_faces: int = 2,
    min_quality: float = 0.0,
) -> list[PersonRow]:
    """Named people first, then unnamed by size. Hidden people, strangers (unnamed
    groups seen in fewer than `min_faces` photos), and unnamed groups made mostly of
    faces under `min_quality` (small, blurred faces of crowds) are listed only with
    `include_all`. An unnamed person with no faces left (a split or a move to a new
    person undone, every face moved away) is never listed: there is nothing to show."""
    with reader_of(source) as reader:
        found = _person_rows(reader)
    rows = []
    for row, q_mid in found:
        if row.faces == 0 and not row.name:
            continue
        mostly_low = q_mid is not None and q_mid < min_quality
        if not include_all and (
            row.hidden or (not row.name and (min(row.faces, row.photos) < min_faces or mostly_low))
        ):
            continue
        rows.append(row)
    rows.sort(key=lambda r: (r.hidden, r.name is None, -r.faces, r.id))
    return rows


def get_person(source: Reader | Library, person_id: int) -> PersonRow:
    """One person's row, whatever the listing filters say; NotFoundError if none."""
    with reader_of(source) as reader:
        found = _person_rows(reader, person_id)
    if not found:
        raise NotFoundError(f"No person {person_id}.")
    return found[0][0]


def _person_rows(reader: Reader, person_id: int | None = None) -> list[tuple[PersonRow, Any]]:
    """(row, middle quality) of every person, or of `person_id` only."""
    where, params = ("", ()) if person_id is None else (" WHERE p.id = ?", (person_id,))
    out = []
    for pid, name, nf, nph, hidden, q_mid, path, x, y, w, h, fid in reader.rows(
        "SELECT p.id, p.name, p.face_count, p.photo_count, p.hidden, p.quality_mid, "
        "ph.path, f.x, f.y, f.w, f.h, f.id FROM people p "
        "LEFT JOIN faces f ON f.id = p.cover_face_id LEFT JOIN photos ph ON ph.id = f.photo_id"
        + where,
        params,
    ):
        box = None if path is None else [x, y, w, h]
        out.append((PersonRow(pid, name, nf, nph, bool(hidden), path, box, fid), q_mid))
    return out


# --- photos ---------------------------------------------------------------------------


@dataclass
class PhotoRow:
    id: int
    path: str
    taken: datetime | None
    width: int | None
    height: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "taken": self.taken.isoformat() if self.taken else None,
            "width": self.width,
            "height": self.height,
        }


def parse_date(text: str, end: bool = False) -> datetime:
    """YYYY, YYYY-MM, YYYY-MM-DD or a full ISO time; `end` takes the end of that period."""
    t = text.strip()
    try:
        if len(t) == 4 and t.isdigit():
            d = date(int(t), 12 if end else 1, 31 if end else 1)
        elif len(t) == 7:
            y, m = int(t[:4]), int(t[5:7])
            if end:
                nxt = date(y + (m == 12), m % 12 + 1, 1)
                d = date.fromordinal(nxt.toordinal() - 1)
            else:
                d = date(y, m, 1)
        elif len(t) == 10:
            d = date.fromisoformat(t)
        else:
            return datetime.fromisoformat(t)
    except ValueError:
        raise UsageError(
            f"{text!r} is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM."
        ) from None
    return datetime.combine(d, time.max if end else time.min)


def _stored(moment: datetime) -> str:
    """A time as the library stores it (SQLAlchemy's SQLite DateTime text)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


_PHOTOS_OF = (
    "SELECT f.photo_id FROM faces f JOIN assignments a ON a.face_id = f.id WHERE a.person_id"
)


def find_photos(
    source: Reader | Library,
    with_people: list[str],
    without_people: list[str] = (),  # type: ignore[assignment]
    date_from: str | None = None,
    date_to: str | None = None,
) -> list[PhotoRow]:
    """Present photos showing every person of `with_people` and none of `without_people`,
    taken (EXIF time, else file time) within [date_from, date_to]; oldest first."""
    with reader_of(source) as reader:
        include = list(dict.fromkeys(match_person(reader.conn, r)[0] for r in with_people))
        exclude = list(dict.fromkeys(match_person(reader.conn, r)[0] for r in without_people))
        return _photos(reader, include, exclude, date_from, date_to)


def _photos(
    reader: Reader,
    include: list[int],
    exclude: list[int],
    date_from: str | None,
    date_to: str | None,
) -> list[PhotoRow]:
    when = "coalesce(p.taken_at, p.file_time)"
    # enroll's reference photos from outside the library are not photos of it
    sql = [
        f"SELECT p.id, p.path, {when}, p.width, p.height FROM photos p "
        "WHERE p.status = 'ok' AND NOT p.reference"
    ]
    params: list[Any] = []
    for pid in include:
        sql.append(f"AND p.id IN ({_PHOTOS_OF} = ?)")
        params.append(pid)
    if exclude:
        sql.append(f"AND p.id NOT IN ({_PHOTOS_OF} IN ({', '.join('?' * len(exclude))}))")
        params.extend(exclude)
    if date_from:
        sql.append(f"AND {when} >= ?")
        params.append(_stored(parse_date(date_from)))
    if date_to:
        sql.append(f"AND {when} <= ?")
        params.append(_stored(parse_date(date_to, end=True)))
    sql.append(f"ORDER BY {when}, p.path")
    return [
        PhotoRow(i, path, datetime.fromisoformat(t) if t else None, w, h)
        for i, path, t, w, h in reader.rows(" ".join(sql), params)
    ]


# --- faces, photos and decisions by id (the review page's lookups) --------------------


@dataclass
class FaceRow:
    """A face's box in its photo (upright pixels), with the photo's path, size and time."""

    face_id: int
    photo_id: int
    path: str
    box: list[float]
    width: int | None
    height: int | None
    taken: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "photo_id": self.photo_id,
            "path": self.path,
            "taken": self.taken.isoformat(timespec="seconds") if self.taken else None,
            "width": self.width,
            "height": self.height,
            "box": self.box,
        }


def get_face(source: Reader | Library, face_id: int) -> FaceRow:
    """One face and its photo; NotFoundError if none."""
    with reader_of(source) as reader:
        row = reader.one(
            "SELECT f.id, p.id, p.path, f.x, f.y, f.w, f.h, p.width, p.height, "
            "coalesce(p.taken_at, p.file_time) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.id = ?",
            (face_id,),
        )
    if row is None:
        raise NotFoundError(f"No face {face_id}.")
    fid, pid, path, x, y, w, h, width, height, taken = row
    when = datetime.fromisoformat(taken) if taken else None
    return FaceRow(fid, pid, path, [x, y, w, h], width, height, when)


@dataclass
class PersonFace:
    """One of a person's faces as their page shows it; `origin`: how it was assigned."""

    face_id: int
    photo_id: int
    box: list[float]
    origin: str

    def as_json(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "photo_id": self.photo_id,
            "box": self.box,
            "origin": self.origin,
        }


def person_faces(source: Reader | Library, person_id: int, limit: int = 500) -> list[PersonFace]:
    """A person's faces in present photos, by origin (descending) then face id."""
    with reader_of(source) as reader:
        rows = reader.rows(
            "SELECT f.id, p.id, f.x, f.y, f.w, f.h, a.origin FROM faces f "
            "JOIN assignments a ON a.face_id = f.id JOIN photos p ON p.id = f.photo_id "
            "WHERE a.person_id = ? AND p.status = 'ok' ORDER BY a.origin DESC, f.id LIMIT ?",
            (person_id, limit),
        )
    return [PersonFace(f, ph, [x, y, w, h], o) for f, ph, x, y, w, h, o in rows]


def photo_path(source: Reader | Library, photo_id: int) -> str:
    """The path of a photo of the library; NotFoundError if none."""
    with reader_of(source) as reader:
        row = reader.one("SELECT path FROM photos WHERE id = ?", (photo_id,))
    if row is None or row[0] is None:
        raise NotFoundError(f"No photo {photo_id}.")
    return str(row[0])


def decision_person(source: Reader | Library, decision_id: int) -> int | None:
    """The person a recorded decision is about (a move's target), if any."""
    with reader_of(source) as reader:
        row = reader.one("SELECT person_id FROM decisions WHERE id = ?", (decision_id,))
    return None if row is None or row[0] is None else int(row[0])
