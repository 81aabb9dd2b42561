"""`photogroup photos`: photos in which every listed person appears and no excluded one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select

from ..core.errors import UsageError
from ..db.library import Library
from ..db.models import Assignment, Face, Photo, PhotoStatus
from .people import find_person


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


def find_photos(
    library: Library,
    with_people: list[str],
    without_people: list[str] = (),  # type: ignore[assignment]
    date_from: str | None = None,
    date_to: str | None = None,
) -> list[PhotoRow]:
    """Present photos showing every person of `with_people` and none of `without_people`,
    taken (EXIF time, else file time) within [date_from, date_to]; oldest first."""
    when = func.coalesce(Photo.taken_at, Photo.file_time)
    with library.new_session() as s:
        include = [find_person(s, ref).id for ref in with_people]
        exclude = [find_person(s, ref).id for ref in without_people]
        query = select(Photo.id, Photo.path, when, Photo.width, Photo.height).where(
            Photo.status == PhotoStatus.OK
        )
        for pid in dict.fromkeys(include):
            query = query.where(
                Photo.id.in_(
                    select(Face.photo_id)
                    .join(Assignment, Assignment.face_id == Face.id)
                    .where(Assignment.person_id == pid)
                )
            )
        if exclude:
            query = query.where(
                Photo.id.not_in(
                    select(Face.photo_id)
                    .join(Assignment, Assignment.face_id == Face.id)
                    .where(Assignment.person_id.in_(exclude))
                )
            )
        if date_from:
            query = query.where(when >= parse_date(date_from))
        if date_to:
            query = query.where(when <= parse_date(date_to, end=True))
        query = query.order_by(when, Photo.path)
        return [PhotoRow(*row) for row in s.execute(query)]
