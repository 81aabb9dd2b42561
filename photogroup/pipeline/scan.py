"""`photogroup scan`: walk, decode, detect, align, embed, store.

Stages (in the spirit of beets' importer):

1. walk the roots and compare every file with what the library knows
   (unchanged / changed / new / gone);
2. read, hash, decode, detect and align in a thread pool ([scan] workers), so
   that one photo's Python work overlaps another's TensorFlow work;
3. in the main thread, embed the aligned faces in batches and write the photos
   of each batch in one transaction (an interrupted scan keeps every committed
   photo);
4. read face regions and names from XMP (pipeline/xmp.py), then embed faces
   that lack a vector of the configured embedder (faces made from regions too);
5. resolve moves (same content under a new path keeps its record and faces),
   mark vanished files missing, and close the scan run with its counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..core.clock import now
from ..core.config import Config
from ..core.errors import ImageError
from ..core.progress import NullProgress, Progress
from ..core.quality import quality_score
from ..core.types import Detection, Detector, Embedder, FloatArray, ImageArray
from ..core.vectors import vector_bytes
from ..crawl.images import DecodedPhoto, decode_photo, file_hash
from ..crawl.walker import FileEntry, walk
from ..db.library import Library, sqlite_connection
from ..db.models import (
    Embedding,
    Face,
    Photo,
    PhotoStatus,
    ScanError,
    ScanRun,
    ScanStatus,
)
from ..db.stats import refresh_people_stats
from .faces import FaceAnalyser, FaceData
from .identify import unmark_references
from .models import ModelSource, ReadyModels
from .xmp import XmpSummary


def display_path(path: str) -> str:
    """A path that can be stored and printed even if its bytes are not UTF-8."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass
class ScanSummary:
    """The counts of one scan, and what went wrong in it."""

    run_id: int = 0
    seen: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    missing: int = 0
    reappeared: int = 0
    failed: int = 0
    decoded: int = 0
    faces: int = 0
    embedded: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    missing_roots: list[str] = field(default_factory=list)
    kept_roots: list[str] = field(default_factory=list)
    """Roots that exist but came back empty while the library has photos there."""
    errors: list[tuple[str, str]] = field(default_factory=list)

    failure: str | None = None
    """Why the scan stopped, when an unexpected error ended it."""

    @property
    def status(self) -> ScanStatus:
        """FAILED, INTERRUPTED, PARTIAL (failed files or missing roots) or OK, in that order."""
        if self.failure:
            return ScanStatus.FAILED
        if self.interrupted:
            return ScanStatus.INTERRUPTED
        if self.failed or self.missing_roots:
            return ScanStatus.PARTIAL
        return ScanStatus.OK


# --- work items --------------------------------------------------------------


@dataclass
class _Known:
    id: int
    path: str
    size: int
    mtime_ns: int
    status: str
    content_hash: str | None
    detector: str | None


@dataclass
class _Item:
    entry: FileEntry
    known: _Known | None


@dataclass
class _Result:
    item: _Item
    content_hash: str | None = None
    decoded: DecodedPhoto | None = None
    error: ImageError | None = None
    moved_from: _Known | None = None
    faces: list[FaceData] | None = None  # detected and aligned in the worker thread
    detect_error: ImageError | None = None


@dataclass
class _PendingPhoto:
    result: _Result
    faces: list[FaceData]


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class Scanner:
    """Runs one scan of a library. Models are used through their interfaces only, and
    built only when a photo needs detection or embedding: give either the models, or
    `models`, a source that names them now and builds them on demand."""

    def __init__(
        self,
        library: Library,
        config: Config,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        progress: Progress | None = None,
        prefetch: int = 8,
        *,
        models: ModelSource | None = None,
    ) -> None:
        if models is None:
            if detector is None or embedder is None:
                raise TypeError("Scanner needs a detector and an embedder, or models")
            models = ReadyModels(detector, embedder)
        self.library = library
        self.config = config
        self.models = models
        self.detector_id = models.detector_id
        self.embedder_id = models.embedder_id
        self._analyser: FaceAnalyser | None = None
        self.progress: Progress = progress or NullProgress()
        self.prefetch = max(prefetch, config.scan.workers * 2)
        self.summary = ScanSummary()
        self._gone_by_hash: dict[str, list[_Known]] = {}
        self._run_id = 0
        self.xmp: XmpSummary | None = None

    # -- public ----------------------------------------------------------------

    @property
    def faces(self) -> FaceAnalyser:
        """The face analyser, with its models built."""
        return self._analyser or self._load_models()

    def _load_models(self) -> FaceAnalyser:
        """Build the models (once; in the main thread, so that loading is a phase of
        the progress display, and a model that cannot be built stops the scan instead
        of failing every photo)."""
        if self._analyser is None:
            waiting = not self.models.loaded
            if waiting:
                self.progress.pause("loading models")
            try:
                detector, embedder = self.models.load()
            finally:
                if waiting:
                    self.progress.pause(None)
            if (detector.id, embedder.id) != (self.detector_id, self.embedder_id):
                raise RuntimeError(
                    f"the models built ({detector.id}, {embedder.id}) are not the ones named "
                    f"({self.detector_id}, {self.embedder_id})"
                )
            self._analyser = FaceAnalyser(self.config, detector, embedder)
        return self._analyser

    def run(
        self, roots: Iterable[Path], *, prune: bool = False, retry_errors: bool = False
    ) -> ScanSummary:
        """Scan the roots. Unchanged files are skipped, and so are unchanged files that
        failed before unless `retry_errors` (after a fix, or a failure that may not
        recur, such as running out of memory)."""
        start = time.monotonic()
        roots = [Path(os.path.abspath(os.fspath(r))) for r in roots]
        self._start_run(roots)
        try:
            present = self._present_roots(roots)
            entries = self._walk(present)
            items, gone = self._classify(entries, present, prune, retry_errors)
            unmark_references(self.library, {e.path for e in entries})
            self._gone_by_hash = {}
            for known in gone:
                if known.content_hash:
                    self._gone_by_hash.setdefault(known.content_hash, []).append(known)
            self._process(items)
            self._read_xmp(present)
            self._reembed()
            self._mark_missing(gone)
        except KeyboardInterrupt:
            self.summary.interrupted = True
        except BaseException as exc:
            self.summary.failure = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.summary.seconds = time.monotonic() - start
            self._finish_run()
            self.progress.close()
        if self.summary.interrupted:
            raise KeyboardInterrupt
        return self.summary

    # -- stage 1: walk and classify ------------------------------------------

    def _start_run(self, roots: list[Path]) -> None:
        with self.library.session() as s:
            run = ScanRun(
                roots=[display_path(str(r)) for r in roots],
                embedder=self.embedder_id,
                detector=self.detector_id,
                pid=os.getpid(),
            )
            s.add(run)
            s.flush()
            self._run_id = run.id
        self.summary.run_id = self._run_id

    def _error(self, path: str, kind: str, message: str) -> None:
        shown = display_path(path)
        self.summary.errors.append((shown, message))
        with self.library.session() as s:
            s.add(ScanError(run_id=self._run_id, path=shown, kind=kind, message=message))

    def _present_roots(self, roots: list[Path]) -> list[Path]:
        present = []
        for root in roots:
            if root.exists():
                present.append(root)
            else:
                self.summary.missing_roots.append(str(root))
                self._error(
                    str(root),
                    "missing_root",
                    "folder not found (unmounted disk?); nothing under it was marked missing",
                )
                self.progress.message(
                    f"Root {str(root)!r} is not there (unmounted?); its photos are left as they are."
                )
        return present

    def _walk(self, roots: list[Path]) -> list[FileEntry]:
        self.progress.message("Looking for photos ...")
        lib = self.config.library
        return list(
            walk(
                roots,
                extensions=lib.extensions,
                ignore=lib.ignore,
                follow_symlinks=lib.follow_symlinks,
                on_error=lambda p, m: self._error(p, "walk", m),
            )
        )

    def _classify(
        self, entries: list[FileEntry], roots: list[Path], prune: bool, retry_errors: bool
    ) -> tuple[list[_Item], list[_Known]]:
        with self.library.session() as s:
            rows = s.execute(
                select(
                    Photo.id,
                    Photo.path,
                    Photo.size,
                    Photo.mtime_ns,
                    Photo.status,
                    Photo.content_hash,
                    Photo.detector,
                )
            ).all()
        known = {r.path: _Known(*r) for r in rows}
        self.summary.seen = len(entries)
        items: list[_Item] = []
        reappeared: list[int] = []
        seen_paths = set()
        for entry in entries:
            seen_paths.add(entry.path)
            if display_path(entry.path) != entry.path:
                self.summary.failed += 1
                self._error(
                    entry.path,
                    "bad_name",
                    "the file name is not valid UTF-8, so photogroup cannot store it; "
                    "rename the file (for example with `convmv -f latin1 -t utf8`)",
                )
                continue
            k = known.get(entry.path)
            if k is not None and k.size == entry.size and k.mtime_ns == entry.mtime_ns:
                if k.status == PhotoStatus.MISSING:
                    reappeared.append(k.id)
                retry = retry_errors and k.status == PhotoStatus.ERROR
                if not retry and (k.detector is not None or k.status == PhotoStatus.ERROR):
                    self.summary.unchanged += 1
                    continue
            items.append(_Item(entry, k))
        if reappeared:
            self.summary.reappeared += len(reappeared)
            with self.library.session() as s:
                for pid in reappeared:
                    photo = s.get(Photo, pid)
                    if photo is not None:
                        photo.status = PhotoStatus.OK if photo.detector else PhotoStatus.ERROR
                        photo.missing_since = None

        gone: list[_Known] = []
        for root in roots:
            prefix = str(root).rstrip(os.sep) + os.sep
            under = [
                k
                for k in known.values()
                if (k.path.startswith(prefix) or k.path == str(root))
                and k.path not in seen_paths
                and k.status != PhotoStatus.MISSING
            ]
            walked_here = any(e.path.startswith(prefix) or e.path == str(root) for e in entries)
            if under and not walked_here and not prune:
                self.summary.kept_roots.append(str(root))
                self._error(
                    str(root),
                    "empty_root",
                    f"folder is empty but the library has {len(under)} photos there; "
                    "nothing was marked missing (scan with --prune if they were deleted)",
                )
                self.progress.message(
                    f"Root {str(root)!r} is empty; its {len(under)} photos are left as they are."
                )
                continue
            gone.extend(under)
        return items, gone

    # -- stage 2: decode, detect and align in worker threads ------------------

    def _read(self, item: _Item) -> _Result:
        """Runs in a worker thread: hash, then decode, detect and align unless the
        content is already known."""
        path = item.entry.path
        try:
            digest = file_hash(path)
        except FileNotFoundError:
            return _Result(
                item, error=ImageError(path, "the file disappeared during the scan", "missing")
            )
        except OSError as exc:
            return _Result(
                item,
                error=ImageError(path, f"cannot read: {exc.strerror or exc}", "unreadable"),
            )
        known = item.known
        if known is not None and known.content_hash == digest and known.detector is not None:
            return _Result(item, content_hash=digest)  # touched, content unchanged
        candidates = self._gone_by_hash.get(digest, []) if known is None else []
        first = next(iter(candidates), None)  # the main thread may claim it meanwhile
        if first is not None:
            return _Result(item, content_hash=digest, moved_from=first)
        try:
            decoded = decode_photo(path, self.config.detection.max_side, content_hash=digest)
        except ImageError as exc:
            return _Result(item, content_hash=digest, error=exc)
        result = _Result(item, content_hash=digest, decoded=decoded)
        if self._analyser is not None:  # else the main thread builds the models first
            self._find_faces(result)
        return result

    def _find_faces(self, result: _Result) -> None:
        """Detect and align: sets result.faces, or result.detect_error."""
        assert result.decoded is not None
        try:
            detections = self._detect(result.decoded)
            result.faces = [self._face_data(result.decoded, d) for d in detections]
        except Exception as exc:  # one bad photo never stops a scan
            result.detect_error = ImageError(
                result.item.entry.path, f"face detection failed: {exc}", "detect"
            )
        finally:
            result.decoded.release_pixels()

    def _results(self, items: list[_Item]) -> Iterator[_Result]:
        """Results in order, with at most `prefetch` photos decoded ahead."""
        with ThreadPoolExecutor(self.config.scan.workers, thread_name_prefix="decode") as pool:
            queue: list[Future[_Result]] = []
            it = iter(items)
            try:
                for item in it:
                    queue.append(pool.submit(self._read, item))
                    if len(queue) >= self.prefetch:
                        yield queue.pop(0).result()
                while queue:
                    yield queue.pop(0).result()
            finally:
                for fut in queue:
                    fut.cancel()

    def _detect(self, decoded: DecodedPhoto) -> list[Detection]:
        return self.faces.detect(decoded)

    def _face_data(self, decoded: DecodedPhoto, detection: Detection) -> FaceData:
        return self.faces.face_data(decoded, detection)

    def _process(self, items: list[_Item]) -> None:
        if not items:
            return
        self.progress.start("scanning", len(items))
        pending: list[_PendingPhoto] = []
        commit_every = self.config.scan.commit_every
        try:
            for result in self._results(items):
                photo = self._handle(result)
                if photo is not None:
                    pending.append(photo)
                if len(pending) >= commit_every or sum(len(p.faces) for p in pending) >= 4 * max(
                    1, self.config.embedding.batch_size
                ):
                    self._flush(pending)
                    pending = []
        except KeyboardInterrupt:
            # Keep what is already decoded and detected; a second Ctrl-C aborts at once.
            self.progress.message("Interrupted: saving the photos already processed ...")
            self._flush(pending)
            raise
        self._flush(pending)

    def _handle(self, result: _Result) -> _PendingPhoto | None:
        """Everything but embedding and writing; returns a photo that needs them."""
        item = result.item
        if result.error is not None:
            self._record_failure(result)
            self.progress.advance(1)
            return None
        if result.moved_from is not None:
            if result.moved_from.status != "moved":
                self._record_move(result)
                self.progress.advance(1)
                return None
            # Two copies of one vanished photo: the first took its record, this
            # one is a new photo.
            result.moved_from = None
            try:
                result.decoded = decode_photo(
                    item.entry.path, self.config.detection.max_side, result.content_hash
                )
            except ImageError as exc:
                result.error = exc
                self._record_failure(result)
                self.progress.advance(1)
                return None
        if result.decoded is None:  # touched only
            self._record_touch(result)
            self.progress.advance(1)
            return None
        self.summary.decoded += 1
        if result.faces is None and result.detect_error is None:
            # Decoded before the models were built, or here (the second copy of a
            # moved photo): detected in this thread.
            self._load_models()
            self._find_faces(result)
        if result.faces is None:
            result.error = result.detect_error
            self._record_failure(result)
            self.progress.advance(1)
            return None
        # The bar moves when a photo's faces are found; they are embedded and
        # written with their batch.
        self.progress.advance(1, faces=len(result.faces))
        return _PendingPhoto(result, result.faces)

    # -- stage 3: embed and write ----------------------------------------------

    def _embed(self, crops: list[ImageArray]) -> FloatArray:
        return self.faces.embed(crops)

    def _flush(self, pending: list[_PendingPhoto]) -> None:
        if not pending:
            return
        crops = [f.crop for p in pending for f in p.faces]
        vectors = self._embed(crops)
        i = 0
        for p in pending:
            for f in p.faces:
                f.vector = vectors[i]
                i += 1
        with self.library.session() as s:
            for p in pending:
                self._write_photo(s, p)
        for p in pending:
            n = len(p.faces)
            self.summary.faces += n
            self.summary.embedded += n
            if p.result.item.known is None:
                self.summary.new += 1
            else:
                self.summary.changed += 1

    def _write_photo(self, s: Session, pending: _PendingPhoto) -> None:
        result = pending.result
        decoded = result.decoded
        assert decoded is not None
        entry = result.item.entry
        known = result.item.known
        photo = s.get(Photo, known.id) if known is not None else None
        if photo is None:
            photo = Photo(path=entry.path)
            s.add(photo)
        old_size = (photo.width, photo.height)
        photo.root = entry.root
        photo.size = entry.size
        photo.mtime_ns = entry.mtime_ns
        photo.content_hash = decoded.content_hash
        photo.width, photo.height = decoded.width, decoded.height
        photo.taken_at = decoded.taken_at
        photo.file_time = datetime.fromtimestamp(entry.mtime_ns / 1e9)
        photo.status = PhotoStatus.OK
        photo.error = None
        photo.missing_since = None
        photo.detector = self.detector_id
        photo.indexed_at = now()
        s.flush()
        old_faces = list(s.scalars(select(Face).where(Face.photo_id == photo.id)))
        self._match_old_faces(pending.faces, old_faces, decoded, old_size)
        kept = {f.face_id for f in pending.faces if f.face_id is not None}
        for old in old_faces:
            if old.id not in kept:
                s.delete(old)
        for fd in pending.faces:
            det = fd.detection
            face = s.get(Face, fd.face_id) if fd.face_id is not None else None
            if face is None:
                face = Face(photo_id=photo.id)
                s.add(face)
            face.x, face.y, face.w, face.h = det.box
            face.landmarks = [list(p) for p in det.landmarks]
            face.score = det.score
            face.quality_signals = fd.signals
            face.quality = quality_score(fd.signals, self.config.quality.ramps())
            s.flush()
            if fd.face_id is not None:  # re-detected: every old vector is stale
                s.execute(delete(Embedding).where(Embedding.face_id == face.id))
            assert fd.vector is not None
            s.add(
                Embedding(
                    face_id=face.id,
                    embedder=self.embedder_id,
                    dim=int(fd.vector.shape[0]),
                    vector=vector_bytes(fd.vector),
                )
            )

    @staticmethod
    def _match_old_faces(
        new: list[FaceData],
        old: list[Face],
        decoded: DecodedPhoto,
        old_size: tuple[int | None, int | None],
    ) -> None:
        """A changed photo keeps the ids (and so the people and decisions) of faces
        found again at the same place (IoU >= 0.5 in relative coordinates)."""
        if not old or not new:
            return

        def rel(
            box: tuple[float, float, float, float], w: float, h: float
        ) -> tuple[float, float, float, float]:
            return (box[0] / w, box[1] / h, box[2] / w, box[3] / h)

        w, h = float(decoded.width), float(decoded.height)
        ow = float(old_size[0] or w)
        oh = float(old_size[1] or h)
        pairs = sorted(
            (
                (_iou(rel(f.detection.box, w, h), rel((o.x, o.y, o.w, o.h), ow, oh)), i, o.id)
                for i, f in enumerate(new)
                for o in old
            ),
            reverse=True,
        )
        used_new: set[int] = set()
        used_old: set[int] = set()
        for iou, i, oid in pairs:
            if iou < 0.5:
                break
            if i in used_new or oid in used_old:
                continue
            new[i].face_id = oid
            used_new.add(i)
            used_old.add(oid)

    def _record_failure(self, result: _Result) -> None:
        err = result.error
        assert err is not None
        entry = result.item.entry
        self.summary.failed += 1
        self._error(entry.path, err.kind, err.reason)
        if err.kind == "missing":
            return
        with self.library.session() as s:
            known = result.item.known
            photo = s.get(Photo, known.id) if known is not None else None
            if photo is None:
                photo = Photo(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
                s.add(photo)
            photo.root = entry.root
            photo.size, photo.mtime_ns = entry.size, entry.mtime_ns
            photo.content_hash = result.content_hash
            # A photo that had faces keeps them: its file is broken now, the
            # faces (and what the user said about them) stay until it is fixed.
            photo.status = PhotoStatus.ERROR
            photo.error = err.reason

    def _record_move(self, result: _Result) -> None:
        assert result.moved_from is not None and result.content_hash is not None
        candidates = self._gone_by_hash.get(result.content_hash, [])
        if result.moved_from in candidates:
            candidates.remove(result.moved_from)
        if not candidates:
            self._gone_by_hash.pop(result.content_hash, None)
        entry = result.item.entry
        with self.library.session() as s:
            photo = s.get(Photo, result.moved_from.id)
            assert photo is not None
            photo.path = entry.path
            photo.root = entry.root
            photo.size, photo.mtime_ns = entry.size, entry.mtime_ns
            photo.file_time = datetime.fromtimestamp(entry.mtime_ns / 1e9)
            photo.status = PhotoStatus.OK if photo.detector else PhotoStatus.ERROR
            photo.missing_since = None
        result.moved_from.status = "moved"
        self.summary.moved += 1

    def _record_touch(self, result: _Result) -> None:
        known = result.item.known
        assert known is not None
        entry = result.item.entry
        with self.library.session() as s:
            photo = s.get(Photo, known.id)
            assert photo is not None
            photo.size, photo.mtime_ns = entry.size, entry.mtime_ns
            photo.status = PhotoStatus.OK
            photo.error = None
            photo.missing_since = None
        self.summary.unchanged += 1

    # -- stage 3b: face regions from XMP (pipeline/xmp.py) -------------------------

    def _read_xmp(self, roots: list[Path]) -> None:
        """Names and faces from XMP; faces it makes are embedded by the next stage."""
        if self.config.xmp.read:
            from .xmp import read_regions

            self.xmp = read_regions(self.library, self.config, roots, self._run_id, self.progress)

    # -- stage 4: re-embed for another embedder --------------------------------

    def _reembed(self) -> None:
        """Faces without a vector of the configured embedder get one, and faces without
        quality signals get them, from their stored landmarks (no detection)."""
        eid = self.embedder_id
        with self.library.session() as s:
            have = select(Embedding.face_id).where(Embedding.embedder == eid)
            rows = s.execute(
                select(Face, Face.id.in_(have), Photo.id, Photo.path)
                .join(Photo, Face.photo_id == Photo.id)
                .where(
                    Photo.status == PhotoStatus.OK,
                    Face.id.not_in(have) | Face.quality_signals.is_(None),
                )
                .order_by(Photo.id, Face.id)
            ).all()
        if not rows:
            return
        self._load_models()
        by_photo: dict[int, tuple[str, list[tuple[Face, bool]]]] = {}
        for face, embedded, photo_id, path in rows:
            by_photo.setdefault(photo_id, (path, []))[1].append((face, bool(embedded)))
        self.progress.start(f"completing faces ({eid})", len(by_photo))
        max_side = self.config.detection.max_side

        def load(path: str) -> DecodedPhoto | ImageError:
            try:
                return decode_photo(path, max_side)
            except ImageError as exc:
                return exc

        batch: list[tuple[int, ImageArray]] = []
        with ThreadPoolExecutor(self.config.scan.workers, thread_name_prefix="decode") as pool:
            paths = [v[0] for v in by_photo.values()]
            for (path, faces), decoded in zip(
                by_photo.values(), pool.map(load, paths), strict=True
            ):
                if isinstance(decoded, ImageError):
                    self.summary.failed += 1
                    self._error(path, decoded.kind, decoded.reason)
                else:
                    signals: dict[int, dict[str, float]] = {}
                    for face, embedded in faces:
                        det = Detection(
                            (face.x, face.y, face.w, face.h),
                            tuple((float(x), float(y)) for x, y in face.landmarks),
                            face.score,
                        )
                        data = self._face_data(decoded, det)
                        if face.quality_signals is None:
                            signals[face.id] = data.signals
                        if not embedded:
                            batch.append((face.id, data.crop))
                    self._write_signals(signals)
                if len(batch) >= self.config.embedding.batch_size * 4:
                    self._write_embeddings(batch)
                    batch = []
                self.progress.advance(1, faces=len(faces))
        self._write_embeddings(batch)

    def _write_signals(self, signals: dict[int, dict[str, float]]) -> None:
        if not signals:
            return
        ramps = self.config.quality.ramps()
        with self.library.session() as s:
            for face_id, sig in signals.items():
                s.execute(
                    update(Face)
                    .where(Face.id == face_id)
                    .values(quality_signals=sig, quality=quality_score(sig, ramps))
                )

    def _write_embeddings(self, batch: list[tuple[int, ImageArray]]) -> None:
        if not batch:
            return
        vectors = self._embed([c for _, c in batch])
        with self.library.session() as s:
            for (face_id, _), vec in zip(batch, vectors, strict=True):
                s.add(
                    Embedding(
                        face_id=face_id,
                        embedder=self.embedder_id,
                        dim=int(vec.shape[0]),
                        vector=vector_bytes(vec),
                    )
                )
        self.summary.embedded += len(batch)

    # -- stage 5: missing files and the run record ------------------------------

    def _mark_missing(self, gone: list[_Known]) -> None:
        ids = [k.id for k in gone if k.status != "moved"]
        if not ids:
            return
        stamp = now()
        with self.library.session() as s:
            for chunk in range(0, len(ids), 500):
                for photo in s.scalars(select(Photo).where(Photo.id.in_(ids[chunk : chunk + 500]))):
                    photo.status = PhotoStatus.MISSING
                    photo.missing_since = stamp
        self.summary.missing += len(ids)

    def _finish_run(self) -> None:
        sm = self.summary
        with self.library.session() as s:
            run = s.get(ScanRun, self._run_id)
            if run is None:
                return
            run.finished_at = now()
            run.status = sm.status
            run.n_seen, run.n_new, run.n_changed = sm.seen, sm.new, sm.changed
            run.n_moved, run.n_unchanged, run.n_missing = sm.moved, sm.unchanged, sm.missing
            run.n_failed, run.n_decoded = sm.failed, sm.decoded
            run.n_faces, run.n_embedded = sm.faces, sm.embedded
            run.message = sm.failure
            if sm.new or sm.changed or sm.moved or sm.missing or sm.reappeared or sm.failed:
                # Faces came, went or changed photos: people's figures follow.
                refresh_people_stats(sqlite_connection(s))


@dataclass
class ScanResult:
    """What `scan_library` did: the scan, the XMP regions read, the grouping, the
    sidecars written ([xmp] write = "sidecar")."""

    summary: ScanSummary
    xmp: XmpSummary | None
    grouping: str
    sidecars: Any = None


def scan_library(
    library: Library,
    config: Config,
    roots: list[Path],
    models: ModelSource,
    progress: Progress | None = None,
    *,
    prune: bool = False,
    retry_errors: bool = False,
) -> ScanResult:
    """The scan use case, one home for `photogroup scan`, `serve`'s scheduled scans and
    the benches: index the roots (the caller holds the scan lock), group the faces,
    then keep XMP sidecars in sync when configured."""
    from .people import group_library

    scanner = Scanner(library, config, progress=progress, models=models)
    summary = scanner.run(roots, prune=prune, retry_errors=retry_errors)
    grouping = group_library(library, config, models.embedder_id)
    sidecars = None
    if config.xmp.write == "sidecar":
        from .xmp import sync_sidecars

        sidecars = sync_sidecars(library, config)
    return ScanResult(summary, scanner.xmp, grouping, sidecars)
