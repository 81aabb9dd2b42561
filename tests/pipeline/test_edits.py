"""The user's edits of a person: split ("Is this one person?" no), move several faces,
"not a face"; each obeyed by later groupings and rescans, and undone whole."""

from __future__ import annotations

import json

from sqlalchemy import select

from photogroup.cli import main
from photogroup.db.models import Assignment, AssignmentOrigin
from photogroup.pipeline import review
from photogroup.pipeline.check import check
from photogroup.pipeline.edits import mark_not_faces, move_faces
from photogroup.pipeline.people import load_faces, regroup
from photogroup.pipeline.scan import Scanner

from ..conftest import marker_people, touch_marker_photos
from .test_people import EMB, OneCluster, add_faces, blob, people_of


def _merged(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 5, spread=0.04))
    regroup(library, config, EMB, clusterer_factory=OneCluster)  # a wrong merge
    (merged,) = set(people_of(library, a + b))
    return a, b, merged


def test_a_merged_person_is_asked_about_first_and_no_splits_it(library, config, rng, centres):
    a, b, merged = _merged(library, config, rng, centres)
    qs = review.questions(library, config, EMB)
    assert qs[0].id == f"split:{merged}" and qs[0].kind == review.SPLIT
    sides = [{f.face_id for f in side.faces} for side in qs[0].sides]
    assert [side.size for side in qs[0].sides] == [8, 5]
    assert sides[0] <= set(a) and sides[1] <= set(b)
    result = review.answer(library, config, EMB, qs[0].id, "no")
    assert "Split 5 faces" in result.message
    (new,) = set(people_of(library, b))
    assert new != merged and set(people_of(library, a)) == {merged}
    # a grouping that sees one person again does not undo the user's split
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, a)) == {merged}
    assert merged not in people_of(library, b)
    assert all(q.id != qs[0].id for q in review.questions(library, config, EMB))
    assert check(library) == []
    # undo puts the faces back together
    assert "split" in review.undo(library, config, EMB)
    assert set(people_of(library, a + b)) == {merged}
    assert check(library) == []


def test_yes_one_person_is_kept_and_not_asked_again(library, config, rng, centres):
    _a, _b, merged = _merged(library, config, rng, centres)
    review.answer(library, config, EMB, f"split:{merged}", "yes")
    assert all(q.kind != review.SPLIT for q in review.questions(library, config, EMB))


def test_moving_several_faces_to_a_new_person_and_back(library, config, rng, centres):
    a, b, merged = _merged(library, config, rng, centres)
    message, _ = move_faces(library, b, new_person=True)
    assert message.startswith("Moved 5 faces to Person ")
    (new,) = set(people_of(library, b))
    with library.session() as s:
        origins = {
            o for (o,) in s.execute(select(Assignment.origin).where(Assignment.person_id == new))
        }
    assert origins == {AssignmentOrigin.CONFIRMED}
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, b)) == {new} and set(people_of(library, a)) == {merged}
    review.undo(library, config, EMB)
    assert set(people_of(library, a + b)) == {merged}
    # "Not X" on a selection: the faces leave and never return automatically
    move_faces(library, b[:3])
    assert people_of(library, b[:3]) == [None] * 3
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert merged not in people_of(library, b[:3])
    assert check(library) == []


def test_not_a_face_is_never_grouped_or_asked_about_and_undo_restores(
    library, config, rng, centres
):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    regroup(library, config, EMB)
    (pid,) = set(people_of(library, a))
    poster = add_faces(library, blob(rng, centres[0], 1, spread=0.3))[0]
    result = review.answer(library, config, EMB, f"face:{poster}:{pid}", "notface")
    assert "not a face" in result.message
    with library.session() as s:
        assert poster not in set(load_faces(s, EMB).face_ids.tolist())
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert people_of(library, [poster]) == [None]
    assert all(str(poster) not in q.id for q in review.questions(library, config, EMB))
    # several at once, undone whole
    mark_not_faces(library, a[:2])
    assert people_of(library, a[:2]) == [None, None]
    assert "2 detections" in review.undo(library, config, EMB)
    assert people_of(library, a[:2]) == [pid, pid]
    assert check(library) == []


def test_a_split_through_the_cli_survives_a_rescan_and_undo(
    library, config, detector, embedder, tmp_path, capsys
):
    photos = tmp_path / "photos"
    marker_people(library, config, detector, embedder, photos)
    cfg = tmp_path / "config.toml"
    cfg.write_text("[quality]\nmin_quality = 0.0\n[people]\nmerge_threshold = 0.1\n")
    args = ["--config", str(cfg), "--library", str(config.database_path())]
    with library.session() as s:
        rows = s.execute(select(Assignment.face_id, Assignment.person_id)).all()
    by_person: dict[int, list[int]] = {}
    for fid, pid in rows:
        by_person.setdefault(pid, []).append(fid)
    first, second = sorted(by_person)[:2]
    assert main([*args, "merge", str(first), str(second)]) == 0
    capsys.readouterr()
    assert main([*args, "review", "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["id"] == f"split:{first}" and len(q["sides"]) == 2
    assert main([*args, "review", "--answer", q["id"], "no"]) == 0
    assert "Split 3 faces" in capsys.readouterr().out
    # the cut follows the marker colours: one of the two old groups left, whole
    (moved,) = [
        set(group)
        for group in (by_person[first], by_person[second])
        if first not in people_of(library, group)
    ]
    (new,) = set(people_of(library, sorted(moved)))
    assert new is not None and new != first
    # a rescan that finds the faces again (every photo touched) keeps the split
    touch_marker_photos(photos)
    Scanner(library, config, detector, embedder).run([photos])
    regroup(library, config, embedder.id, clusterer_factory=OneCluster)
    assert first not in people_of(library, sorted(moved))
    assert main([*args, "undo"]) == 0
    assert "split" in capsys.readouterr().out
    assert set(people_of(library, sorted(moved))) == {first}
    assert check(library) == []


def test_a_question_answered_meanwhile_is_not_applied_twice(library, config, rng, centres):
    """Two front ends (the page, the CLI) answering one question at once: the second
    finds, under the write lock, that it was answered meanwhile."""
    import pytest

    from photogroup.core.errors import UsageError

    _a, b, merged = _merged(library, config, rng, centres)
    qid = f"split:{merged}"
    review._answer_split(library, EMB, qid, merged, False)  # the page's "no"
    with pytest.raises(UsageError, match="answered meanwhile"):
        review._answer_split(library, EMB, qid, merged, False)  # the CLI's, a moment later
    assert len(set(people_of(library, b))) == 1
