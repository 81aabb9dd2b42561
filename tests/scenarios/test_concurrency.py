"""A scan and the queries at the same time (WAL): readers never fail or see half a photo."""

from __future__ import annotations

import threading

from photogroup.db.reader import open_reader
from photogroup.pipeline.query import find_photos, list_people
from photogroup.pipeline.scan import Scanner

from ..conftest import FakeEmbedder, make_photo
from .killable_scan import SlowDetector


def test_queries_answer_while_a_scan_writes(library, config, tmp_path):
    root = tmp_path / "photos"
    for i in range(40):
        make_photo(root / f"p{i:02d}.png", [("red", 20 + i, 30, 80)], size=(320, 240))
    config.scan.commit_every = 2
    errors: list[BaseException] = []

    def scanning() -> None:
        try:
            Scanner(library, config, SlowDetector(0.02), FakeEmbedder()).run([root])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=scanning)
    thread.start()
    seen: list[int] = []
    reads = 0
    with open_reader(config.database_path()) as reader:
        while thread.is_alive() or reads == 0:
            # one statement, one snapshot: every photo visible has its one face
            n, faces, embedded = reader.one(
                "SELECT (SELECT count(*) FROM photos), (SELECT count(*) FROM faces), "
                "(SELECT count(*) FROM embeddings)"
            )
            assert faces == n == embedded, (n, faces, embedded)
            list_people(reader, include_all=True)
            seen.append(n)
            reads += 1
        thread.join()
    assert not errors, errors
    assert seen == sorted(seen) and seen[-1] <= 40 and reads > 5
    with open_reader(config.database_path()) as reader:
        assert reader.one("SELECT count(*) FROM photos")[0] == 40
        assert find_photos(reader, [], date_from="2000") is not None
