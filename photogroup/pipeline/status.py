"""`photogroup status` and `photogroup errors`: what the library holds, how scans went."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..db.library import Library
from ..db.models import Assignment, Face, Person, Photo, ScanError, ScanRun


def _run_json(run: ScanRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "started": run.started_at.isoformat(timespec="seconds"),
        "finished": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "roots": run.roots,
        "embedder": run.embedder,
        "seen": run.n_seen,
        "new": run.n_new,
        "changed": run.n_changed,
        "moved": run.n_moved,
        "unchanged": run.n_unchanged,
        "missing": run.n_missing,
        "failed": run.n_failed,
        "faces": run.n_faces,
        "embedded": run.n_embedded,
    }


def library_status(library: Library) -> dict[str, Any]:
    """A dict: the library's path, photos by status, face and people counts, the last scan."""
    with library.new_session() as s:
        photos = dict(s.execute(select(Photo.status, func.count()).group_by(Photo.status)).all())
        last = s.scalars(
            select(ScanRun).where(ScanRun.kind == "scan").order_by(ScanRun.id.desc()).limit(1)
        ).first()
        return {
            "library": str(library.path),
            "photos": {str(k): v for k, v in photos.items()},
            "faces": s.scalar(select(func.count(Face.id))) or 0,
            "assigned_faces": s.scalar(select(func.count(Assignment.face_id))) or 0,
            "people": s.scalar(select(func.count(Person.id))) or 0,
            "named_people": s.scalar(select(func.count(Person.id)).where(Person.name.is_not(None)))
            or 0,
            "last_scan": _run_json(last) if last else None,
        }


def scan_errors(library: Library, run_id: int | None = None) -> list[dict[str, Any]]:
    """Per-file errors of one scan run (default: the newest run)."""
    with library.new_session() as s:
        if run_id is None:
            run_id = s.scalar(select(func.max(ScanRun.id)))
        if run_id is None:
            return []
        rows = s.scalars(select(ScanError).where(ScanError.run_id == run_id).order_by(ScanError.id))
        return [
            {"run": e.run_id, "path": e.path, "kind": e.kind, "message": e.message} for e in rows
        ]
