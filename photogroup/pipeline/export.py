"""`photogroup export faces`: one JSON object per face."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from ..core.vectors import vector_from_bytes
from ..db.library import Library
from ..db.models import Assignment, Embedding, Face, Person, Photo


def export_faces(
    library: Library, *, embedder: str | None = None, include_missing: bool = False
) -> Iterator[dict[str, Any]]:
    """Faces in photo order. With `embedder`, each object has its `embedding` (or null)."""
    query = (
        select(Face, Photo.path, Photo.status, Assignment.person_id, Person.name)
        .join(Photo, Face.photo_id == Photo.id)
        .outerjoin(Assignment, Assignment.face_id == Face.id)
        .outerjoin(Person, Person.id == Assignment.person_id)
        .order_by(Photo.path, Face.id)
    )
    if not include_missing:
        query = query.where(Photo.status == "ok")
    if embedder is not None:
        query = query.add_columns(Embedding.vector).outerjoin(
            Embedding, (Embedding.face_id == Face.id) & (Embedding.embedder == embedder)
        )
    with library.new_session() as s:
        for row in s.execute(query.execution_options(yield_per=1000)):
            face: Face = row[0]
            obj: dict[str, Any] = {
                "face_id": face.id,
                "photo": row[1],
                "box": [round(face.x, 2), round(face.y, 2), round(face.w, 2), round(face.h, 2)],
                "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
                "score": round(face.score, 5),
                "person_id": row[3],
                "person": row[4],
            }
            if include_missing:
                obj["status"] = row[2]
            if embedder is not None:
                vec = row[5]  # type: ignore[misc]  # the column added above
                obj["embedding"] = (
                    None if vec is None else [round(float(v), 6) for v in vector_from_bytes(vec)]
                )
            yield obj
