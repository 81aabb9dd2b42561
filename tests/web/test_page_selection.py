"""Several faces at once on a person's page (issue 13, item 5), in a real Chromium:
click and shift-click select, then "Move to…" (a new person or someone), "Not X" and
"Not a face" act on the whole selection, each undone whole by the Undo beside its
message; and "Is this one person?" answered No through the page splits the person,
a rescan keeps the split and Undo puts it back. Each step is checked in the library."""

from __future__ import annotations

from sqlalchemy import select

from photogroup.db.models import Assignment, AssignmentOrigin, Decision, DecisionKind
from photogroup.pipeline.people import merge_people, regroup
from photogroup.pipeline.scan import Scanner

from ..conftest import touch_marker_photos
from ..pipeline.test_people import OneCluster
from .conftest import assert_controls_fit
from .test_page_first_hour import SHOTS, _open, _shot, browser, service  # noqa: F401 (fixtures)


def _by_person(library) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[int]] = {}
    with library.session() as s:
        for fid, pid in s.execute(select(Assignment.face_id, Assignment.person_id)):
            out.setdefault(pid, []).append(fid)
    return {p: sorted(f) for p, f in out.items()}


def _assigned(library, faces):  # type: ignore[no-untyped-def]
    """face -> (person, origin), None for a face of no one."""
    with library.session() as s:
        rows = dict(
            (f, (p, o))
            for f, p, o in s.execute(
                select(Assignment.face_id, Assignment.person_id, Assignment.origin).where(
                    Assignment.face_id.in_(faces)
                )
            )
        )
    return {f: rows.get(f) for f in faces}


def _two_merged(library) -> tuple[int, int, dict[int, list[int]]]:  # type: ignore[no-untyped-def]
    """Two marker people merged by hand: one person of six faces, two colours."""
    before = _by_person(library)
    first, second = sorted(before)[:2]
    merge_people(library, first, second)
    return first, second, before


def _person_page(chromium, server, pid, width, height):  # type: ignore[no-untyped-def]
    page, errors = _open(chromium, server, width, height)
    page.click("#tab-people")
    page.click(f".card[data-person='{pid}']")
    page.wait_for_selector("#person-title")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.person-faces img')].every(i => i.naturalWidth > 0)"
    )
    return page, errors


def _faces_shown(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        int(x)
        for x in page.eval_on_selector_all(
            ".person-faces .face", "es => es.map(e => e.dataset.face)"
        )
    ]


def _select(page, first: int, last: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Click the face at index `first`, shift-click the one at `last`: the range between."""
    shown = _faces_shown(page)
    page.click(f".face[data-face='{shown[first]}'] img")
    page.click(f".face[data-face='{shown[last]}'] img", modifiers=["Shift"])
    return shown[first : last + 1]


def _assert_bar_fits(page, width: int) -> None:  # type: ignore[no-untyped-def]
    assert_controls_fit(page, ("#selection-count", "#not-person", "#move-to", "#not-face"), width)


def test_select_with_click_and_shift_click_then_move_to_a_new_person_and_undo(
    browser,  # noqa: F811
    service,  # noqa: F811
    library,
):
    first, _, _ = _two_merged(library)
    old_people = set(_by_person(library))
    for width, height in ((390, 844), (1280, 800)):
        page, errors = _person_page(browser, service, first, width, height)
        assert page.is_hidden("#selection")  # nothing selected: no bar
        shown = _faces_shown(page)
        assert len(shown) == 6
        # a click toggles one face, twice: off again
        page.click(f".face[data-face='{shown[5]}'] img")
        assert page.text_content("#selection-count") == "1 face selected"
        page.click(f".face[data-face='{shown[5]}'] img")
        assert page.is_hidden("#selection")
        # click the second face, shift-click the fourth: three faces, marked as selected
        chosen = _select(page, 1, 3)
        assert page.text_content("#selection-count") == "3 faces selected"
        marked = page.eval_on_selector_all(
            ".person-faces .face.selected", "es => es.map(e => Number(e.dataset.face))"
        )
        assert sorted(marked) == sorted(chosen)
        assert page.is_hidden("#overlay")  # selecting does not open the photo
        _assert_bar_fits(page, width)
        before = _assigned(library, chosen)

        # Move to… shows the people as faces, and "A new person" first
        page.click("#move-to")
        page.wait_for_selector("#move-picker .move-choice")
        # the others, as faces (not the person shown, nor the new person of an undone move)
        offered = page.eval_on_selector_all(
            "#move-picker .move-choice", "es => es.map(e => e.dataset.person)"
        )
        assert offered == ["new"] + [str(p) for p in sorted(old_people - {first})]
        page.wait_for_function(
            "() => [...document.querySelectorAll('#move-picker img')].every(i => i.naturalWidth > 0)"
        )
        _shot(page, f"selection-move-{width}.png")
        _assert_bar_fits(page, width)
        page.click("#move-picker .new-person")
        page.wait_for_function(
            "() => /Moved 3 faces/.test(document.querySelector('#status').textContent)"
        )
        page.wait_for_function(
            "() => document.querySelectorAll('.person-faces .face').length === 3"
        )
        _shot(page, f"selection-moved-{width}.png")
        after = _assigned(library, chosen)
        (new,) = {p for p, _ in after.values() if p is not None}
        assert new not in old_people
        assert {o for _, o in after.values()} == {AssignmentOrigin.CONFIRMED}
        assert sorted(_by_person(library)[new]) == sorted(chosen)
        assert page.is_hidden("#selection")  # the page shows the person anew

        # Undo beside the message puts them back, as they were
        page.click("#undo-inline")
        page.wait_for_function("() => /Undone/.test(document.querySelector('#status').textContent)")
        page.wait_for_function(
            "() => document.querySelectorAll('.person-faces .face').length === 6"
        )
        assert _assigned(library, chosen) == before
        assert errors == []
        page.close()


def test_not_x_and_not_a_face_on_a_selection(browser, service, library):  # noqa: F811
    first, _, _ = _two_merged(library)
    page, errors = _person_page(browser, service, first, 390, 844)
    label = page.text_content("#person-title")
    assert page.text_content("#not-person") == f"Not {label}"

    # ⤢ shows a face in its photo (a click on the face selects it instead)
    page.click(f".face[data-face='{_faces_shown(page)[0]}'] button.zoom")
    page.wait_for_selector("#face-box:not([hidden])")
    page.keyboard.press("Escape")
    assert page.is_hidden("#overlay") and page.is_hidden("#selection")

    # the keyboard selects too: Space on a focused face
    page.focus(f".face[data-face='{_faces_shown(page)[0]}']")
    page.keyboard.press(" ")
    assert page.text_content("#selection-count") == "1 face selected"
    page.keyboard.press(" ")
    assert page.is_hidden("#selection")

    # "Not X": the faces leave the person and belong to no one
    chosen = _select(page, 0, 1)
    page.click("#not-person")
    page.wait_for_function(
        f"() => document.querySelector('#status').textContent.startsWith('2 faces are no longer {label}.')"
    )
    page.wait_for_function("() => document.querySelectorAll('.person-faces .face').length === 4")
    assert _assigned(library, chosen) == {f: None for f in chosen}
    with library.session() as s:
        kinds = s.scalars(select(Decision.kind).where(Decision.undone_at.is_(None))).all()
    assert DecisionKind.MOVE_FACES in kinds
    assert page.is_visible("#undo-inline")

    # "Not a face": false detections, one decision each, none of them anyone's face
    shown = _faces_shown(page)
    page.click(f".face[data-face='{shown[3]}'] img")
    page.click(f".face[data-face='{shown[2]}'] img", modifiers=["Shift"])  # backwards
    marked = sorted(shown[2:4])
    assert page.text_content("#selection-count") == "2 faces selected"
    _shot(page, "selection-390.png")
    page.click("#not-face")
    page.wait_for_function("() => /not a face/.test(document.querySelector('#status').textContent)")
    page.wait_for_function("() => document.querySelectorAll('.person-faces .face').length === 2")
    assert _assigned(library, marked) == {f: None for f in marked}
    with library.session() as s:
        not_faces = s.scalars(
            select(Decision.face_id).where(
                Decision.kind == DecisionKind.NOT_A_FACE, Decision.undone_at.is_(None)
            )
        ).all()
    assert sorted(not_faces) == marked
    # one Undo takes the whole "Not a face" back
    page.click("#undo-inline")
    page.wait_for_function("() => document.querySelectorAll('.person-faces .face').length === 4")
    assert {p for p, _ in _assigned(library, marked).values()} == {first}
    assert errors == []


def test_a_split_answered_no_in_the_page_survives_a_rescan_and_undo(
    browser,  # noqa: F811
    service,  # noqa: F811
    library,
    config,
    detector,
    embedder,
    tmp_path,
):
    first, second, before = _two_merged(library)
    page, errors = _open(browser, service, 390, 844)
    refused: list[str] = []  # which request a console error is about
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    page.wait_for_selector(f"#question-text[data-id='split:{first}']")
    assert page.text_content("#question-text") == "Is this one person?"
    # the two sides in two rows, one above the other, each face with ⊘
    sides = page.locator(".sides.rows .side")
    assert sides.count() == 2
    top, bottom = sides.nth(0).bounding_box(), sides.nth(1).bounding_box()
    assert top and bottom and bottom["y"] >= top["y"] + top["height"]
    shown = [
        {
            int(x)
            for x in sides.nth(k)
            .locator(".qface")
            .evaluate_all("es => es.map(e => e.dataset.face)")
        }
        for k in (0, 1)
    ]
    colours = [set(before[first]), set(before[second])]
    assert all(side and any(side <= c for c in colours) for side in shown), (shown, colours)
    assert shown[0] | shown[1] <= colours[0] | colours[1]
    for k in (0, 1):
        assert sides.nth(k).locator("button.notface").count() == len(shown[k])
    assert page.is_visible("#yes") and page.is_visible("#no")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.qface img')].every(i => i.naturalWidth > 0)"
    )
    _shot(page, "split-question-390.png")
    if SHOTS:
        page.set_viewport_size({"width": 1280, "height": 800})
        _shot(page, "split-question-1280.png")
        page.set_viewport_size({"width": 390, "height": 844})

    page.keyboard.press("n")  # No: two people
    page.wait_for_function(
        "() => /Split 3 faces/.test(document.querySelector('#status').textContent)"
    )
    # the next question shown, its faces loaded, before the photos are rewritten below
    page.wait_for_function(
        f"""() => {{ const q = document.querySelector('#question-text');
                   return document.querySelector('#done') || (q && q.dataset.id !== 'split:{first}'); }}"""
    )
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    (moved,) = [c for c in colours if first not in {p for p, _ in _assigned(library, c).values()}]
    (new,) = {p for p, _ in _assigned(library, moved).values()}
    assert new is not None and new not in before

    # a rescan that finds every face again (each photo touched) keeps the split
    photos = tmp_path / "photos"
    touch_marker_photos(photos)
    Scanner(library, config, detector, embedder).run([photos])
    regroup(library, config, embedder.id, clusterer_factory=OneCluster)
    assert first not in {p for p, _ in _assigned(library, moved).values()}

    # Undo beside the message, through the page: one person again
    page.click("#undo-inline")
    page.wait_for_function("() => /split/.test(document.querySelector('#status').textContent)")
    assert {p for p, _ in _assigned(library, moved).values()} == {first}
    assert errors == [], refused
