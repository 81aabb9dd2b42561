"""The page as a new user meets it (issue 16, item 8), in a real Chromium: a phone-width
header with every control visible, a clicked face marked in its photo, page words in
error messages, "Merge with…" as faces, a person's photos, an Undo right after ✕, the
name box focused, human dates, and photo results with a thumbnail, file name and date."""

from __future__ import annotations

import io
import os
import re

import pytest
from sqlalchemy import select

from photogroup.db.models import Assignment, Face, Photo
from photogroup.pipeline.people import name_person
from photogroup.pipeline.query import find_photos
from photogroup.pipeline.schedule import Scheduler

from .conftest import assert_controls_fit
from .test_review_page import CHROMIUM, _browser_or_skip

HEADER = ["#tab-review", "#tab-people", "#tab-photos", "#scan-status", "#scan-now", "#undo"]
SHOTS = os.environ.get("PHOTOGROUP_SCREENSHOTS")  # a folder: keep the screenshots there


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def service(served):  # type: ignore[no-untyped-def]
    """The page as `photogroup serve` shows it (with "Scan now")."""
    served.scheduler = Scheduler(lambda: "nothing", interval_s=3600).start()
    yield served
    served.scheduler.stop()


def _open(browser, server, width, height):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url)
    page.wait_for_selector("#question-text")
    page.wait_for_function(
        "() => /Last scan/.test(document.querySelector('#scan-status').textContent)"
    )
    page.wait_for_selector("#scan-now:not([hidden])")
    return page, errors


def _shot(page, name):  # type: ignore[no-untyped-def]
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def _assert_header_fits(page, width):  # type: ignore[no-untyped-def]
    assert page.evaluate(
        "() => { const h = document.querySelector('header'); return h.scrollWidth <= h.clientWidth }"
    )
    assert_controls_fit(page, HEADER, width)


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)])
def test_header_controls_visible_and_a_clicked_face_is_marked(browser, service, library, size):
    width, height = size
    page, errors = _open(browser, service, width, height)
    _assert_header_fits(page, width)
    # the header says when in words, not an ISO timestamp
    status = page.text_content("#scan-status")
    assert "today" in status and not re.search(r"\d{4}-\d\d-\d\dT", status), status
    # "Who is this?" puts the cursor in the name box
    assert page.get_attribute("#question-text", "data-id").startswith("who:")
    assert page.evaluate("document.activeElement.id") == "name"
    _shot(page, f"review-{width}.png")

    # a face clicked: its photo, with that face marked
    page.wait_for_function(
        "() => [...document.querySelectorAll('.faces img')].every(i => i.naturalWidth > 0)"
    )
    face_id = int(page.get_attribute(".faces img", "data-face"))
    page.click(f".faces img[data-face='{face_id}']")
    page.wait_for_selector("#face-box:not([hidden])")
    page.wait_for_function("() => document.querySelector('#viewer-img').naturalWidth > 0")
    with library.session() as s:
        x, y, w, h, pw_, ph_, path = s.execute(
            select(Face.x, Face.y, Face.w, Face.h, Photo.width, Photo.height, Photo.path)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Face.id == face_id)
        ).one()
    img = page.locator("#viewer-img").bounding_box()
    box = page.locator("#face-box").bounding_box()
    assert img and box
    assert abs((box["x"] - img["x"]) / img["width"] - x / pw_) < 0.02
    assert abs((box["y"] - img["y"]) / img["height"] - y / ph_) < 0.02
    assert abs(box["width"] / img["width"] - w / pw_) < 0.02
    assert abs(box["height"] / img["height"] - h / ph_) < 0.02
    # and inside the mark is the face (the marker square's colour), not the background
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    r, g, b = shot.getpixel((int(box["x"] + box["width"] / 2), int(box["y"] + box["height"] / 2)))
    assert max(r, g, b) > 200 and min(r, g, b) < 60, (r, g, b)
    assert os.path.basename(path) in page.text_content("#viewer-caption")
    _shot(page, f"face-marked-{width}.png")
    page.keyboard.press("Escape")
    assert page.is_hidden("#overlay")
    assert errors == []


def test_people_merge_photos_undo_and_page_words(browser, service, library):
    with library.session() as s:
        people = sorted(set(s.scalars(select(Assignment.person_id))))
    a, _, c = people[:3]
    name_person(library, a, "Rita")
    name_person(library, c, "Cleo")
    page, errors = _open(browser, service, 390, 844)
    page.click("#tab-people")
    page.click(f".card[data-person='{a}']")
    page.wait_for_selector("#person-title")

    # "Merge with…" shows the others as faces, not a list of names
    assert page.locator("select").count() == 0
    page.click("#merge-panel summary")
    choices = page.locator(".merge-choice")
    assert choices.count() == len(people) - 1
    page.wait_for_function(
        "() => [...document.querySelectorAll('.merge-choice img')].every(i => i.naturalWidth > 0)"
    )
    _shot(page, "merge-390.png")

    # an error speaks of the page, not of a command: Cleo's name given to Rita's person
    page.fill("#rename", "Cleo")
    page.click("#save-name")
    page.wait_for_function(
        "() => /already the name/.test(document.querySelector('#status').textContent)"
    )
    message = page.text_content("#status")
    assert "photogroup" not in message and "Merge with" in message, message

    # ✕ offers Undo at once, and Undo puts the face back
    count = page.locator(".face").count()
    face = int(page.get_attribute(".face", "data-face"))
    page.click(f".face[data-face='{face}'] button.remove")
    page.wait_for_function(f"() => document.querySelectorAll('.face').length === {count - 1}")
    page.click("#undo-inline")
    page.wait_for_function(f"() => document.querySelectorAll('.face').length === {count}")
    with library.session() as s:
        assert s.scalar(select(Assignment.person_id).where(Assignment.face_id == face)) == a

    # the person's photos: the Photos tab, filtered, with thumbnail, file name and date
    page.click("#person-photos")
    want = find_photos(library, ["Rita"])
    page.wait_for_function(f"() => document.querySelectorAll('.card.photo').length === {len(want)}")
    assert page.input_value("#with") == "Rita" and page.is_visible("#photos")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card.photo img')].every(i => i.naturalWidth > 0)"
    )
    for p in want:
        card = page.locator(f".card.photo[data-photo='{p.id}']")
        assert card.locator(".file").text_content() == os.path.basename(p.path)
        assert re.search(r"today|\d{4}", card.locator(".n").text_content())
    # inputs a thumb can use: at least 36 px high and most of the width
    for sel in ("#with", "#without", "#from", "#to", "#find"):
        box = page.locator(sel).bounding_box()
        assert box and box["height"] >= 36 and box["width"] >= 200, (sel, box)
    _shot(page, "photos-390.png")
    page.click(".card.photo img")
    page.wait_for_selector("#overlay:not([hidden])")
    assert os.path.basename(want[0].path) in page.text_content("#viewer-caption")
    page.keyboard.press("Escape")

    # an unknown name: the message points at the People tab
    page.fill("#with", "Nobody")
    page.click("#find")
    page.wait_for_function(
        "() => /No person named/.test(document.querySelector('#found').textContent)"
    )
    found = page.text_content("#found")
    assert "photogroup" not in found and "People tab" in found, found
    # the console names only the two refusals asked for above (400: the name, 404: Nobody)
    assert [e for e in errors if "status of 400" not in e and "status of 404" not in e] == []
    assert len(errors) == 2


def test_a_question_face_marked_not_a_face(browser, service, library):
    """⊘ on a question's face answers "not a face" for that face (the pipeline's
    notface answer): it leaves its person, and Undo right there brings it back."""
    from photogroup.db.models import Decision, DecisionKind

    page, errors = _open(browser, service, 390, 844)
    face = int(page.get_attribute(".qface", "data-face"))
    with library.session() as s:
        person = s.scalar(select(Assignment.person_id).where(Assignment.face_id == face))
    page.click(f".qface[data-face='{face}'] button.notface")
    page.wait_for_function("() => /not a face/.test(document.querySelector('#status').textContent)")
    with library.session() as s:
        assert s.scalar(select(Assignment.person_id).where(Assignment.face_id == face)) is None
        kinds = s.scalars(select(Decision.kind).where(Decision.face_id == face)).all()
        assert DecisionKind.NOT_A_FACE in kinds
    page.click("#undo-inline")
    page.wait_for_function("() => /Undone/.test(document.querySelector('#status').textContent)")
    with library.session() as s:
        assert s.scalar(select(Assignment.person_id).where(Assignment.face_id == face)) == person
    assert errors == []
