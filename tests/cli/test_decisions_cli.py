"""Answers through the command line: undo in words (and --list), checked answers and
names, merge of a person with itself, enroll of a far face and its reference photos."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from photogroup.cli import cli, main
from photogroup.db.models import Assignment, Decision, Person

from ..conftest import make_photo, marker_people


@pytest.fixture
def lib_args(library, config, detector, embedder, tmp_path):
    """Marker photos in three unnamed people, and the CLI arguments to use them."""
    cfg = tmp_path / "config.toml"
    # merge_threshold: the fake marker colours lie 0.3 apart (see test_review_cli)
    cfg.write_text(
        "[quality]\nmin_quality = 0.0\n[review]\nwho_min_faces = 2\n"
        "[people]\nmerge_threshold = 0.1\n"
    )
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    return ["--config", str(cfg), "--library", str(config.database_path())]


def people(library) -> list[tuple[int, str | None]]:
    with library.session() as s:
        return [(p.id, p.name) for p in s.scalars(select(Person).order_by(Person.id))]


def run(args, capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_name_twice_then_undo_the_first_is_refused_in_words(lib_args, library, capsys):
    pid = people(library)[0][0]
    assert run([*lib_args, "name", str(pid), "A"], capsys)[:2] == (
        0,
        f'Person {pid} is now named "A".\n',
    )
    assert run([*lib_args, "name", str(pid), "B"], capsys)[0] == 0
    code, out, _ = run([*lib_args, "undo", "--list"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["N", "WHEN", "ANSWER"]
    assert lines[1].split()[0] == "2" and lines[1].endswith(f'named Person {pid} "B" (was "A")')
    assert lines[2].endswith(f'named Person {pid} "A" (was unnamed)  (undo 2 first)')
    code, out, _ = run([*lib_args, "undo", "--list", "--json"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["superseded_by"]) for r in rows] == [(2, None), (1, 2)]
    code, _, err = run([*lib_args, "undo", "1"], capsys)
    assert code == 2
    assert f'Cannot undo answer 1 (named Person {pid} "A" (was unnamed)): answer 2' in err
    assert "Undo 2 first" in err
    assert dict(people(library))[pid] == "B"
    code, out, _ = run([*lib_args, "undo"], capsys)
    assert out == f'Undone: named Person {pid} "B" (was "A"). Person {pid} is "A" again.\n'
    code, out, _ = run([*lib_args, "undo"], capsys)
    assert out == f'Undone: named Person {pid} "A" (was unnamed). Person {pid} is unnamed again.\n'
    assert run([*lib_args, "undo", "--list"], capsys)[1] == "No answers to undo.\n"
    assert "There is no answer 7" in run([*lib_args, "undo", "7"], capsys)[2]
    assert run([*lib_args, "undo", str(2**64)], capsys)[0] == 2  # no OverflowError


def test_confirmed_face_undo_names_the_person(lib_args, library, capsys):
    (p1, _), (p2, _), _ = people(library)
    assert run([*lib_args, "name", str(p2), "Ann"], capsys)[0] == 0
    with library.session() as s:
        face = s.scalar(select(Assignment.face_id).where(Assignment.person_id == p1).limit(1))
    assert run([*lib_args, "review", "--answer", f"face:{face}:{p2}", "yes"], capsys)[0] == 0
    code, out, _ = run([*lib_args, "undo"], capsys)
    assert out == (
        f"Undone: face {face} is no longer confirmed as Ann; it is with Person {p1} again.\n"
    )


@pytest.mark.parametrize(
    "answer, message",
    [
        (["same:1:1", "no"], "two different people"),
        (["who:1", "no", "--name", "X"], "takes no name"),
        (["face:1:1", "yes", "--name", "Bob"], "A name answers only"),
        (["who:1", "yes", "--name", "Ann\nfake"], "line break"),
        (["who:1", "yes", "--name", "\x1b[31mEvil"], "control character"),
        (["who:1", "yes", "--name", "Person 4"], "default name"),
    ],
)
def test_bad_answers_and_names_are_refused(lib_args, library, capsys, answer, message):
    code, out, err = run([*lib_args, "review", "--answer", *answer], capsys)
    assert code == 2 and message in err and "\x1b" not in err and out == ""
    assert all(name is None for _, name in people(library))
    with library.session() as s:
        assert s.scalars(select(Decision)).all() == []


def test_name_checks_and_case_insensitive_uniqueness(lib_args, library, capsys):
    (p1, _), (p2, _), _ = people(library)
    assert run([*lib_args, "name", str(p1), "Mindy"], capsys)[0] == 0
    code, _, err = run([*lib_args, "name", str(p2), "mindy"], capsys)
    assert code == 2 and '"Mindy" is already the name of person' in err
    code, _, err = run([*lib_args, "name", str(p2), "Ann\nBob"], capsys)
    assert code == 2 and "one line of printable text" in err
    assert dict(people(library))[p2] is None


def test_merge_of_a_person_with_itself_says_so_and_merge_speaks_in_names(lib_args, library, capsys):
    (p1, _), (p2, _), _ = people(library)
    assert run([*lib_args, "name", str(p1), "Madonna"], capsys)[0] == 0
    code, _, err = run([*lib_args, "merge", str(p1), "Madonna"], capsys)
    assert code == 2
    assert err.strip() == (
        f'Error: "{p1}" and "Madonna" are the same person, Madonna (id {p1}): there is nothing to merge.'
    )
    code, out, _ = run([*lib_args, "merge", str(p2), "Madonna"], capsys)
    assert code == 0
    assert out == f"Merged Madonna (3 faces) into Person {p2}, now named Madonna (id {p2}).\n"


def test_terminal_review_u_undoes_the_last_answer(lib_args, library):
    runner = CliRunner()
    # "Who is this?" -> Bo; the next question -> u (undo: Bo goes); then quit
    result = runner.invoke(cli, [*lib_args, "review", "--terminal"], input="Bo\nu\nq\n")
    assert result.exit_code == 0, result.output
    assert "Undone: named Person" in result.output and "is unnamed again" in result.output
    assert all(name is None for _, name in people(library))
    with library.session() as s:
        (d,) = s.scalars(select(Decision)).all()
        assert d.undone_at is not None


def test_enroll_far_face_needs_force_and_references_stay_out_of_photos(
    lib_args, library, capsys, tmp_path, fake_models
):
    # the fake embedder's marker vectors lie close together: thresholds to match
    cfg = lib_args[1]
    with open(cfg) as f:
        text = f.read().replace("merge_threshold = 0.1", "merge_threshold = 0.05")
    with open(cfg, "w") as f:
        f.write(text + "assign_threshold = 0.05\n")
    refs = tmp_path / "refs"
    red = make_photo(refs / "red.png", [("red", 40, 40, 90)])
    blue = make_photo(refs / "blue.png", [("blue", 40, 40, 90)])
    code, out, err = run([*lib_args, "enroll", "Rosa", str(red)], capsys)
    assert code == 0, err
    assert out.startswith("Created Rosa (person ") and "1 unnamed group(s)" in out
    # the library's red photos are Rosa's; the reference photo is not a library photo
    code, out, _ = run([*lib_args, "photos", "--person", "Rosa", "--json"], capsys)
    paths = [json.loads(line)["path"] for line in out.splitlines()]
    assert len(paths) == 3 and all("/photos/red" in p for p in paths)
    code, out, _ = run([*lib_args, "people", "--json"], capsys)
    rosa = next(json.loads(line) for line in out.splitlines() if '"Rosa"' in line)
    assert (rosa["faces"], rosa["photos"]) == (4, 3)  # the reference face counts, its photo not
    code, out, _ = run([*lib_args, "status", "--json"], capsys)
    last = json.loads(out)["last_scan"]
    assert last["roots"] == [str(tmp_path / "photos")]
    # a face of someone else: refused with the distance, nothing changes
    code, out, err = run([*lib_args, "enroll", "rosa", str(blue)], capsys)
    assert code == 2 and "from Rosa's other faces, farther than the assign threshold" in err
    assert "--force" in err
    assert [n for _, n in people(library) if n] == ["Rosa"]
    code, out, err = run([*lib_args, "enroll", "rosa", str(blue), "--force"], capsys)
    assert code == 0 and out.startswith("Extended Rosa (person ")
    assert "Warning: the face in" in err and "enrolled anyway (--force)" in err
    code, _, err = run([*lib_args, "enroll", "Person 4", str(red)], capsys)
    assert code == 2 and "default name" in err
    assert [n for _, n in people(library) if n] == ["Rosa"]
    # once a scan finds the reference photos under its root, they are library photos
    assert run([*lib_args, "scan", "--no-progress", str(refs)], capsys)[0] == 0
    code, out, _ = run([*lib_args, "photos", "--person", "Rosa"], capsys)
    listed = out.split()
    assert {str(red), str(blue)} <= set(listed)
    code, out, _ = run([*lib_args, "people", "--json"], capsys)
    rosa = next(json.loads(line) for line in out.splitlines() if '"Rosa"' in line)
    assert rosa["photos"] == len(listed)


def test_check_finds_nothing_after_the_hostile_answers_and_undos(lib_args, library, capsys):
    """Issue 14's inputs, refused or undone in the wrong order, leave `check` clean."""
    (p1, _), (p2, _), (p3, _) = people(library)
    hostile = [
        ["review", "--answer", f"same:{p1}:{p1}", "no"],
        ["review", "--answer", f"who:{p1}", "no", "--name", "X"],
        ["review", "--answer", f"who:{p1}", "yes", "--name", "Mindy\nfake"],
        ["name", str(p2), "Person 4"],
        ["name", str(p1), "Mindy"],
        ["name", str(p2), "MINDY"],
        ["name", str(p1), "Mandy"],
        ["undo", "5"],
        ["undo", "1"],
        ["review", "--answer", f"who:{p3}", "skip"],
        ["merge", str(p3), str(p2)],
        ["undo", "3"],
    ]
    for args in hostile:
        main([*lib_args, *args])
    capsys.readouterr()
    assert main([*lib_args, "check", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert dict(people(library))[p1] == "Mandy"
