"""XMP face regions during a scan: names other tools gave become confirmed faces.

A scan calls `read_regions` after writing its photos and before completing faces:

1. every present photo under the scanned roots whose XMP changed since it was last
   read (its content, or a sidecar's name, size or time) is read again;
2. each region is matched to a face of the photo by overlap (`[xmp] match_iou`); a
   region no detector found becomes a face of its own, on the region's box (the
   scan's next stage aligns and embeds it like any face without a vector);
3. a region with a name makes its face a confirmed face of the person of that name
   (found case-insensitively, or created): an Assignment with origin "confirmed" and
   a `face_is_person` decision with value "xmp" and details {"origin": "xmp", ...},
   which `photogroup undo` takes back like any answer. What the user said wins: a
   face confirmed as someone else, or rejected for that person, is left alone;
4. a region gone from the files takes back what it added, and nothing else.

Problems (bad XML, an entity bomb, a region outside the photo, a bad name, a huge
packet) are recorded as scan errors of kind "xmp": the photo stays indexed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..core.clock import now
from ..core.config import Config
from ..core.detect import iou
from ..core.errors import UsageError
from ..core.progress import NullProgress, Progress
from ..core.types import Box
from ..crawl.xmp import (
    FaceToWrite,
    Region,
    XmpProblem,
    embedded_packet,
    existing_sidecars,
    merge_faces,
    read_photo_regions,
    read_sidecar,
    sidecar_paths,
)
from ..db.library import Library, sqlite_connection
from ..db.models import (
    Assignment,
    AssignmentOrigin,
    Decision,
    DecisionKind,
    Face,
    Person,
    Photo,
    PhotoStatus,
    ScanError,
    XmpPhoto,
    XmpRegion,
)
from ..db.stats import refresh_people_stats

#: Where the five landmarks of a face made from a region go, as shares of its box
#: (left eye, right eye, nose, mouth left, mouth right): the mean of MTCNN's over
#: five_celebs' 118 faces, made left-right symmetric.
BOX_LANDMARKS = ((0.28, 0.385), (0.72, 0.385), (0.50, 0.59), (0.30, 0.75), (0.70, 0.75))

#: A region read again is the same region when its name is the same and its box
#: overlaps the old one this much.
SAME_REGION_IOU = 0.5

#: Photos whose XMP is read per transaction.
_BATCH = 256

#: Decision.value of the answers XMP gives.
XMP = "xmp"


@dataclass
class XmpSummary:
    """The counts of reading XMP face regions during a scan."""

    photos: int = 0
    """Photos whose XMP was read (new, changed, or with a changed sidecar)."""
    regions: int = 0
    """Face regions found in them."""
    matched: int = 0
    """Regions that lie on a detected face."""
    made: int = 0
    """Faces made from regions no detector found."""
    named: int = 0
    """Faces that became confirmed faces of a person."""
    kept: int = 0
    """Named regions left alone because the user said otherwise."""
    removed: int = 0
    """Regions gone from the files whose effects were taken back."""
    problems: int = 0

    def line(self) -> str:
        """The summary as one line for the user."""
        return (
            f"XMP: {self.photos} photos read, {self.regions} face regions: {self.matched} on "
            f"detected faces, {self.made} new faces, {self.named} named faces confirmed, "
            f"{self.removed} removed"
            + (f", {self.kept} left as you said" if self.kept else "")
            + (f"; {self.problems} problems (photogroup errors)" if self.problems else "")
            + "."
        )


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


class _Sidecars:
    """Sidecar names, sizes and times, one directory listing per folder."""

    def __init__(self) -> None:
        self._dirs: dict[str, dict[str, tuple[int, int]]] = {}

    def _listing(self, folder: str) -> dict[str, tuple[int, int]]:
        if folder not in self._dirs:
            found: dict[str, tuple[int, int]] = {}
            try:
                with os.scandir(folder) as it:
                    for e in it:
                        if e.name.lower().endswith(".xmp"):
                            try:
                                st = e.stat()
                            except OSError:
                                continue
                            found[e.name] = (st.st_size, st.st_mtime_ns)
            except OSError:
                pass
            self._dirs[folder] = found
        return self._dirs[folder]

    def of(self, photo: str) -> list[tuple[str, int, int]]:
        listing = self._listing(os.path.dirname(photo))
        out = []
        for path in sidecar_paths(photo):
            stat = listing.get(os.path.basename(path))
            if stat is not None:
                out.append((path, *stat))
        return out


def fingerprint(content_hash: str | None, sidecars: Iterable[tuple[str, int, int]]) -> str:
    """SHA-256 hex of a photo's content hash and its sidecars' (path, size, mtime) triples."""
    text = "|".join([content_hash or ""] + [f"{p}:{s}:{m}" for p, s, m in sorted(sidecars)])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def read_regions(
    library: Library,
    config: Config,
    roots: Iterable[Path | str],
    run_id: int | None = None,
    progress: Progress | None = None,
) -> XmpSummary:
    """The XMP stage of a scan (see the module's doc). `run_id`: the scan run its
    problems are recorded under."""
    progress = progress or NullProgress()
    summary = XmpSummary()
    root_list = [os.path.abspath(os.fspath(r)) for r in roots]
    with library.new_session() as s:
        rows = s.execute(
            select(Photo.id, Photo.path, Photo.content_hash, XmpPhoto.fingerprint)
            .outerjoin(XmpPhoto, XmpPhoto.photo_id == Photo.id)
            .where(Photo.status == PhotoStatus.OK, Photo.detector.is_not(None))
            .order_by(Photo.path)
        ).all()
    sidecars = _Sidecars()
    todo: list[tuple[int, str, str, list[str]]] = []
    for photo_id, path, content_hash, old in rows:
        if not _under(path, root_list):
            continue
        stats = sidecars.of(path)
        new = fingerprint(content_hash, stats)
        if new != old:
            todo.append((photo_id, path, new, [p for p, _, _ in stats]))
    if not todo:
        return summary
    with library.new_session() as s:
        with_rows = set(s.scalars(select(XmpRegion.photo_id).distinct()))
    shown = len(todo) > _BATCH  # a phase of its own only when it takes a while
    if shown:
        progress.start("reading XMP face regions", len(todo))
    with ThreadPoolExecutor(config.scan.workers, thread_name_prefix="xmp") as pool:
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start : start + _BATCH]
            reads = list(pool.map(lambda t: read_photo_regions(t[1], sidecars=t[3]), chunk))
            states = []
            with library.session() as s:
                for (photo_id, _path, new, _found), read in zip(chunk, reads, strict=True):
                    for source, message in read.problems:
                        summary.problems += 1
                        if run_id is not None:
                            s.add(
                                ScanError(run_id=run_id, path=source, kind="xmp", message=message)
                            )
                    if read.regions or photo_id in with_rows:
                        apply_regions(s, config, photo_id, read.regions, summary)
                    states.append({"photo_id": photo_id, "fingerprint": new, "read_at": now()})
                    summary.photos += 1
                    summary.regions += len(read.regions)
                upsert = sqlite_insert(XmpPhoto).values(states)
                s.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[XmpPhoto.photo_id],
                        set_={
                            "fingerprint": upsert.excluded.fingerprint,
                            "read_at": upsert.excluded.read_at,
                        },
                    )
                )
            if shown:
                progress.advance(len(chunk))
    return summary


# --- one photo ------------------------------------------------------------------------


def _same(row: XmpRegion, region: Region) -> bool:
    a = (row.name or "").casefold()
    b = (region.name or "").casefold()
    return a == b and iou((row.x, row.y, row.w, row.h), region.box) >= SAME_REGION_IOU


def apply_regions(
    s: Session, config: Config, photo_id: int, regions: list[Region], summary: XmpSummary
) -> None:
    """Make the library say what the photo's regions say, and take back what regions
    that are gone had added."""
    old = list(s.scalars(select(XmpRegion).where(XmpRegion.photo_id == photo_id)))
    pairs = sorted(
        (
            (iou((o.x, o.y, o.w, o.h), r.box), i, j)
            for i, o in enumerate(old)
            for j, r in enumerate(regions)
            if _same(o, r)
        ),
        reverse=True,
    )
    row_of: dict[int, XmpRegion] = {}
    used_old: set[int] = set()
    for _, i, j in pairs:
        if i in used_old or j in row_of:
            continue
        used_old.add(i)
        row_of[j] = old[i]
    touched: set[int] = set()
    for i, row in enumerate(old):
        if i not in used_old:
            _take_back(s, row, touched)
            summary.removed += 1
    for j, region in enumerate(regions):
        if j in row_of:
            row = row_of[j]
        else:
            row = XmpRegion(photo_id=photo_id, made_face=False)
            s.add(row)
        row.source, row.format, row.name = region.source, region.format, region.name
        row.x, row.y, row.w, row.h = region.box
        row_of[j] = row
    s.flush()

    # Faces for the regions that have none (new ones, or whose face a re-detection
    # of a changed photo replaced): the best overlaps first.
    rows = [row_of[j] for j in range(len(regions))]
    claimed = {r.face_id for r in rows if r.face_id is not None}
    faces = list(s.scalars(select(Face).where(Face.photo_id == photo_id)))
    need = [r for r in rows if r.face_id is None]
    pairs2 = sorted(
        (
            (iou((r.x, r.y, r.w, r.h), (f.x, f.y, f.w, f.h)), k, f.id)
            for k, r in enumerate(need)
            for f in faces
            if f.id not in claimed
        ),
        reverse=True,
    )
    placed: set[int] = set()
    for overlap, k, fid in pairs2:
        if overlap < config.xmp.match_iou:
            break
        if k in placed or fid in claimed:
            continue
        need[k].face_id = fid
        need[k].made_face = False
        placed.add(k)
        claimed.add(fid)
    for k, row in enumerate(need):
        if k not in placed:
            row.face_id = _make_face(s, photo_id, (row.x, row.y, row.w, row.h))
            row.made_face = True
            summary.made += 1
    summary.matched += sum(1 for r in rows if r.face_id is not None and not r.made_face)
    s.flush()

    people = _people_by_name(s)
    for row in rows:
        if row.name and row.face_id is not None and row.decision_id is None:
            _name_face(s, row, people, summary, touched)
    if touched:
        refresh_people_stats(sqlite_connection(s), touched)


def _make_face(s: Session, photo_id: int, box: Box) -> int:
    """A face on a region's box, landmarks placed in it; the scan's next stage
    (faces without a vector) crops, aligns, scores and embeds it."""
    x, y, w, h = box
    face = Face(
        photo_id=photo_id,
        x=x,
        y=y,
        w=w,
        h=h,
        landmarks=[[round(x + u * w, 2), round(y + v * h, 2)] for u, v in BOX_LANDMARKS],
        score=1.0,
    )
    s.add(face)
    s.flush()
    return face.id


def _people_by_name(s: Session) -> dict[str, Person]:
    named = s.scalars(select(Person).where(Person.name.is_not(None)))
    return {p.name.casefold(): p for p in named if p.name}


def _name_face(
    s: Session,
    row: XmpRegion,
    people: dict[str, Person],
    summary: XmpSummary,
    touched: set[int],
) -> None:
    assert row.name is not None and row.face_id is not None
    person = people.get(row.name.casefold())
    current = s.get(Assignment, row.face_id)
    if person is not None:
        if current is not None and current.person_id == person.id:
            # The file says what the library says (a sidecar `export xmp` wrote, read
            # back): no answer, so the library's own guesses never confirm themselves.
            return
        rejected = s.scalar(
            select(func.count(Decision.id)).where(
                Decision.kind == DecisionKind.FACE_NOT_PERSON,
                Decision.face_id == row.face_id,
                Decision.person_id == person.id,
                Decision.undone_at.is_(None),
            )
        )
        if rejected:
            summary.kept += 1
            return
    if current is not None and current.origin != AssignmentOrigin.AUTO:
        summary.kept += 1  # the user (or enroll) said who this face is
        return
    if person is None:
        person = Person(name=row.name)
        s.add(person)
        s.flush()
        people[row.name.casefold()] = person
    previous = None if current is None else {"person": current.person_id, "origin": current.origin}
    if current is None:
        s.add(
            Assignment(face_id=row.face_id, person_id=person.id, origin=AssignmentOrigin.CONFIRMED)
        )
    else:
        touched.add(current.person_id)
        current.person_id, current.origin = person.id, AssignmentOrigin.CONFIRMED
        current.assigned_at = now()
    decision = Decision(
        kind=DecisionKind.FACE_IS_PERSON,
        face_id=row.face_id,
        person_id=person.id,
        value=XMP,
        details={
            "origin": XMP,
            "previous": previous,
            "source": row.source,
            "format": row.format,
            "region": [row.x, row.y, row.w, row.h],
        },
    )
    s.add(decision)
    s.flush()
    row.decision_id = decision.id
    touched.add(person.id)
    summary.named += 1


def _take_back(s: Session, row: XmpRegion, touched: set[int]) -> None:
    """A region gone from the files: its answer is undone (unless already undone),
    and a face made from it goes unless an answer of the user speaks of it."""
    from .review import _reverse

    decision = s.get(Decision, row.decision_id) if row.decision_id is not None else None
    if decision is not None and decision.undone_at is None:
        _reverse(s, decision)
        decision.undone_at = now()
        decision.details = {**(decision.details or {}), "undone_by": "xmp: region removed"}
        if decision.person_id:
            touched.add(decision.person_id)
    if row.made_face and row.face_id is not None:
        others = s.scalar(
            select(func.count(Decision.id)).where(
                Decision.face_id == row.face_id,
                Decision.undone_at.is_(None),
            )
        )
        if not others:
            current = s.get(Assignment, row.face_id)
            if current is not None:
                touched.add(current.person_id)
            face = s.get(Face, row.face_id)
            if face is not None:
                s.delete(face)
    s.delete(row)
    s.flush()


# --- writing: `photogroup export xmp` ----------------------------------------------------


@dataclass
class ExportSummary:
    """What an XMP export wrote, and the files it could not write."""

    photos: int = 0
    faces: int = 0
    written: list[str] = field(default_factory=list)
    """The files written (sidecars, or photos with --in-place)."""
    problems: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        """The summary as one line for the user (naming the first file not written)."""
        line = f"XMP sidecars: {self.faces} faces of {self.photos} photos written"
        if self.problems:
            line += f"; {len(self.problems)} not written ({self.problems[0][0]}: "
            line += f"{self.problems[0][1]})"
        return line + "."


def sidecar_for(photo: str, convention: str) -> str:
    """The sidecar `export xmp` writes: an existing one of either name, else the
    configured convention's ([xmp] sidecar_name)."""
    for path in existing_sidecars(photo):
        return path
    return photo + ".xmp" if convention == "photo.jpg.xmp" else os.path.splitext(photo)[0] + ".xmp"


def faces_to_write(
    library: Library, person: str | None = None, unnamed: bool = False
) -> dict[str, list[FaceToWrite]]:
    """Photo path -> its faces to write: named people's faces (and unnamed people's
    with `unnamed`), each on the box of the region it came from if it came from one."""
    query = (
        select(Photo.path, Face.x, Face.y, Face.w, Face.h, Person.id, Person.name, XmpRegion)
        .join(Face, Face.photo_id == Photo.id)
        .join(Assignment, Assignment.face_id == Face.id)
        .join(Person, Person.id == Assignment.person_id)
        .outerjoin(XmpRegion, XmpRegion.face_id == Face.id)
        .where(Photo.status == PhotoStatus.OK)
        .order_by(Photo.path, Face.x)
    )
    out: dict[str, list[FaceToWrite]] = {}
    with library.new_session() as s:
        only = None
        if person is not None:
            from .people import find_person

            only = find_person(s, person).id
        for path, x, y, w, h, pid, name, region in s.execute(query):
            if only is not None and pid != only:
                continue
            if name is None and not unnamed:
                continue
            box = (region.x, region.y, region.w, region.h) if region is not None else (x, y, w, h)
            out.setdefault(path, []).append(FaceToWrite(box, name))
    return out


def export_xmp(
    library: Library,
    config: Config,
    *,
    person: str | None = None,
    unnamed: bool = False,
    in_place: bool = False,
    touch: bool = False,
    changed_only: bool = False,
) -> ExportSummary:
    """Write the faces of people into sidecars (merged into one that exists), or with
    `in_place` into the photos' own XMP through exiftool (pixels untouched, file times
    kept unless `touch`). `changed_only`: only photos whose faces or names changed
    since they were last exported (`[xmp] write = "sidecar"`)."""
    tool = _exiftool() if in_place else None
    summary = ExportSummary()
    for path, faces in faces_to_write(library, person, unnamed).items():
        digest = _faces_digest(faces)
        if changed_only and _exported(library, path) == digest:
            continue
        try:
            existing, size, orientation = embedded_packet(path)
            if tool is not None:
                packet = merge_faces(existing, faces, size, orientation)
                _write_in_place(tool, path, packet, touch)
                summary.written.append(path)
            else:
                target = sidecar_for(path, config.xmp.sidecar_name)
                old = read_sidecar(target) if os.path.exists(target) else None
                before = _sidecar_stats(path)
                _write_atomically(target, merge_faces(old, faces, size, orientation))
                summary.written.append(target)
                _record_export(library, path, digest, before)
        except XmpProblem as exc:
            summary.problems.append((path, str(exc)))
            continue
        summary.photos += 1
        summary.faces += len(faces)
    return summary


def sync_sidecars(library: Library, config: Config) -> ExportSummary:
    """`[xmp] write = "sidecar"`: the sidecars of photos whose named faces changed
    since their last export are written again."""
    return export_xmp(library, config, changed_only=True)


def _faces_digest(faces: list[FaceToWrite]) -> str:
    text = "|".join(sorted(f"{f.name or ''}:{','.join(f'{v:.1f}' for v in f.box)}" for f in faces))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _exported(library: Library, path: str) -> str | None:
    with library.new_session() as s:
        return s.scalar(
            select(XmpPhoto.exported)
            .join(Photo, Photo.id == XmpPhoto.photo_id)
            .where(Photo.path == path)
        )


def _sidecar_stats(photo: str) -> list[tuple[str, int, int]]:
    out = []
    for path in sidecar_paths(photo):
        with contextlib.suppress(OSError):
            st = os.stat(path)
            out.append((path, st.st_size, st.st_mtime_ns))
    return out


def _record_export(library: Library, path: str, digest: str, before: list) -> None:
    """Remember what was written; a photo whose XMP was read up to date before the
    write stays up to date (its own sidecar is not read again at the next scan)."""
    with library.session() as s:
        row = s.execute(select(Photo.id, Photo.content_hash).where(Photo.path == path)).first()
        if row is None:
            return
        state = s.get(XmpPhoto, row.id)
        if state is None:
            s.add(XmpPhoto(photo_id=row.id, fingerprint="", exported=digest))
            return
        if state.fingerprint == fingerprint(row.content_hash, before):
            state.fingerprint = fingerprint(row.content_hash, _sidecar_stats(path))
        state.exported = digest


def _write_atomically(target: str, data: bytes) -> None:
    tmp = f"{target}.photogroup-tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # left by an interrupted export
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(tmp, flags, 0o644), "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise XmpProblem(f"cannot write {target!r}: {exc.strerror or exc}") from None


def _exiftool() -> str:
    tool = shutil.which("exiftool")
    if tool is None:
        raise UsageError(
            "--in-place writes through exiftool, which is not installed "
            "(Debian/Ubuntu: apt-get install libimage-exiftool-perl). "
            "Without --in-place, export xmp writes sidecars and needs nothing else."
        )
    return tool


def _write_in_place(tool: str, photo: str, packet: bytes, touch: bool) -> None:
    """The photo's XMP becomes `packet` (which holds all it held); exiftool rewrites
    the metadata only, never the pixels, and keeps the file's time unless `touch`."""
    with tempfile.TemporaryDirectory(prefix="photogroup-xmp-") as tmp:
        source = os.path.join(tmp, "packet.xmp")
        with open(source, "wb") as fh:
            fh.write(packet)
        args = [tool, "-q", "-q", "-overwrite_original", f"-XMP<={source}"]
        if not touch:
            args.insert(1, "-P")
        done = subprocess.run(
            [*args, "--", photo], capture_output=True, text=True, errors="replace", check=False
        )
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise XmpProblem(f"exiftool could not write: {why[-1] if why else done.returncode}")
