"""The review page in a real browser: headless Chromium (Debian's package) driven by
Playwright; every action is checked in the database afterwards."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from photogroup.db.models import Assignment, Decision, DecisionKind
from photogroup.pipeline.scan import Scanner
from photogroup.web.server import make_server

from ..conftest import make_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("PHOTOGROUP_BROWSER_TESTS") == "require"  # set by .ci/run


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip("playwright is not installed (pip install -e .[dev])")
    if not os.path.exists(CHROMIUM):
        if REQUIRED:
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return sync_playwright


def _people(library):
    with library.session() as s:
        return dict(s.execute(select(Assignment.face_id, Assignment.person_id)).all())


def _decisions(library):
    with library.session() as s:
        return [
            (d.kind, d.question, d.face_id, d.person_id, d.other_person_id)
            for d in s.scalars(select(Decision).where(Decision.undone_at.is_(None)))
        ]


def test_answer_merge_and_remove_a_face_in_the_browser(served, library):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(served.url)

        # 1. Answer the first question ("Who is this?" for a group: type a name).
        page.wait_for_selector("#question-text")
        qid = page.get_attribute("#question-text", "data-id")
        assert qid and qid.startswith("who:")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.faces img')].every(i => i.naturalWidth > 0)"
        )
        page.fill("#name", "Rita")
        page.click("#save")
        page.wait_for_function(
            f"() => document.querySelector('#question-text')?.dataset.id !== '{qid}'"
        )
        named = int(qid.split(":")[1])
        assert ("name", qid, None, named, None) in _decisions(library)
        # the next one is skipped with the keyboard (Esc leaves the name box first)
        qid2 = page.get_attribute("#question-text", "data-id")
        if qid2.startswith("who:"):
            assert page.evaluate("document.activeElement.id") == "name"
            page.keyboard.press("Escape")
        page.keyboard.press("s")
        page.wait_for_function(
            f"() => document.querySelector('#question-text')?.dataset.id !== '{qid2}'"
            " || document.querySelector('#done')"
        )
        assert ("skip", qid2, None, None, None) in _decisions(library)

        # 2. Merge two people from the people grid.
        before = _people(library)
        others = sorted(set(before.values()) - {named})
        page.click("#tab-people")
        page.click(f".card[data-person='{named}']")
        page.click("#merge-panel summary")
        page.click(f".merge-choice[data-person='{others[0]}']")
        page.wait_for_function(
            "() => /^Merge .* into /.test(document.querySelector('#merge').textContent)"
        )
        page.click("#merge")
        page.wait_for_function("() => /Merged/.test(document.querySelector('#status').textContent)")
        after = _people(library)
        moved = [f for f, p in before.items() if p == others[0]]
        assert moved and all(after[f] == named for f in moved)
        assert any(d[0] == "same_person" and d[3] == named for d in _decisions(library))

        # 3. Remove one face from the person ("not this person").
        count = sum(1 for p in after.values() if p == named)
        page.wait_for_function(f"() => document.querySelectorAll('.face').length === {count}")
        face = int(page.get_attribute(".face", "data-face"))
        page.click(f".face[data-face='{face}'] button.remove")
        page.wait_for_function(f"() => document.querySelectorAll('.face').length === {count - 1}")
        assert face not in _people(library)
        assert (DecisionKind.FACE_NOT_PERSON, f"face:{face}:{named}", face, named, None) in [
            (DecisionKind(d[0]), *d[1:]) for d in _decisions(library)
        ]

        # 4. Undo brings the face back.
        page.click("#undo")
        page.wait_for_function(f"() => document.querySelectorAll('.face').length === {count}")
        assert _people(library)[face] == named
        assert errors == []
        browser.close()


def test_the_api_refuses_forged_posts_and_paths(served, library):
    base = f"http://127.0.0.1:{served.port}"

    def request(path, data=None, headers=None):
        req = urllib.request.Request(base + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    # no CSRF token: refused, nothing changed
    status, _ = request("/api/undo", b"{}", {"Content-Type": "application/json"})
    assert status == 403
    # a wrong Host (DNS rebinding): refused
    status, _ = request("/api/people", headers={"Host": "evil.example:80"})
    assert status == 403
    # paths never reach the filesystem: only ids are understood
    for path in ("/face/../../etc/passwd", "/photo/%2e%2e%2fetc%2fpasswd.jpg", "/face/1.jpg/../x"):
        status, body = request(path)
        assert status == 404, path
        assert b"root:" not in body
    status, body = request("/face/999999.jpg")
    assert status == 404 and b"No face" in body
    status, body = request("/api/people")
    assert status == 200 and json.loads(body)["people"]
    assert _decisions(library) == []


def test_another_address_requires_the_access_token(library, config, embedder):
    server = make_server(library, config, "fake-embedder-v1", host="0.0.0.0", port=0).start()
    try:
        assert server.access_token and f"?token={server.access_token}" in server.url
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/api/people")
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/api/people?token=wrong")
        with urllib.request.urlopen(f"{base}/?token={server.access_token}") as r:
            cookie = r.headers["Set-Cookie"]
            assert r.status == 200 and "HttpOnly" in cookie
        # the cookie from the first visit is enough afterwards
        req = urllib.request.Request(base + "/api/people", headers={"Cookie": cookie.split(";")[0]})
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
    finally:
        server.stop()


def test_service_page_search_status_and_a_scheduled_scan(
    served, library, config, detector, embedder, tmp_path
):
    """`photogroup serve`'s page: photos of a person found through the search form,
    the schedule's status shown, and "Scan now" runs a real (fake-model) scan."""
    from photogroup.pipeline.people import name_person
    from photogroup.pipeline.query import find_photos
    from photogroup.pipeline.schedule import Scheduler

    sync_playwright = _browser_or_skip()
    someone = sorted(set(_people(library).values()))[0]
    name_person(library, someone, "Rita")
    new_root = tmp_path / "photos"
    make_photo(new_root / "late.png", [("red", 40, 40, 90)], size=(320, 240))
    scans: list[int] = []

    def job() -> str:
        sm = Scanner(library, config, detector, embedder).run([new_root])
        scans.append(sm.new)
        return f"{sm.new} new"

    served.scheduler = Scheduler(job, interval_s=3600).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.goto(served.url)
            page.wait_for_function(
                "() => /next/.test(document.querySelector('#scan-status').textContent)"
            )
            page.click("#tab-photos")
            page.fill("#with", "Rita")
            page.click("#find")
            want = len(find_photos(library, ["Rita"]))
            page.wait_for_function(
                f"() => document.querySelectorAll('.card.photo').length === {want}"
            )
            assert page.text_content("#found") == f"{want} photo(s)"
            page.wait_for_function(
                "() => [...document.querySelectorAll('.card.photo img')].every(i => i.naturalWidth > 0)"
            )
            # an unknown name is a clear message, not a crash
            page.fill("#with", "Nobody")
            page.click("#find")
            page.wait_for_function(
                "() => /No person named/.test(document.querySelector('#found').textContent)"
            )
            page.click("#scan-now")
            deadline = time.monotonic() + 20
            while not scans and time.monotonic() < deadline:
                time.sleep(0.1)
            browser.close()
    finally:
        served.scheduler.stop()
    assert scans == [1]
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/api/status") as r:
        st = json.loads(r.read())
    assert st["schedule"]["runs"] == 1 and st["schedule"]["last_result"] == "1 new"
    assert st["library"]["last_scan"]["new"] == 1
