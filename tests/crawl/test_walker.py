"""Walking photo folders."""

from __future__ import annotations

import os

from photogroup.crawl.walker import walk

EXTS = [".jpg", ".png", ".heic"]


def names(entries):
    return sorted(os.path.relpath(e.path, e.root) for e in entries)


def test_walk_finds_photos_recursively_and_skips_the_rest(tmp_path):
    for rel in [
        "a.jpg",
        "B.PNG",
        "sub/c.heic",
        "sub/deeper/d.jpg",
        "notes.txt",
        ".hidden.jpg",
        ".cache/e.jpg",
        "@eaDir/thumb.jpg",
        "sub/f.jpg.part",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    found = list(walk([tmp_path], extensions=EXTS, ignore=["*/@eaDir", "*.part"]))
    assert names(found) == ["B.PNG", "a.jpg", "sub/c.heic", "sub/deeper/d.jpg"]
    assert all(e.size == 1 and e.mtime_ns > 0 for e in found)


def test_symlink_loops_end_and_linked_folders_are_followed(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    (tmp_path / "photos" / "loop").symlink_to(tmp_path / "photos")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.jpg").write_bytes(b"x")
    (tmp_path / "photos" / "linked").symlink_to(tmp_path / "elsewhere")
    found = list(walk([tmp_path / "photos"], extensions=EXTS))
    assert names(found) == ["a.jpg", "linked/b.jpg"]
    no_links = list(walk([tmp_path / "photos"], extensions=EXTS, follow_symlinks=False))
    assert names(no_links) == ["a.jpg"]


def test_broken_link_and_missing_root_are_reported(tmp_path):
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    errors = []
    found = list(
        walk(
            [tmp_path, tmp_path / "absent"],
            extensions=EXTS,
            on_error=lambda p, m: errors.append((p, m)),
        )
    )
    assert found == []
    assert {os.path.basename(p) for p, _ in errors} == {"dangling.jpg", "absent"}


def test_a_single_file_can_be_a_root(tmp_path):
    (tmp_path / "one.jpg").write_bytes(b"xy")
    (found,) = walk([tmp_path / "one.jpg"], extensions=EXTS)
    assert found.path == str(tmp_path / "one.jpg") and found.size == 2
