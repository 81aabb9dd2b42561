"""A new user's first hour as a transcript (issue 16), with the real models on real
photos, each command a fresh process as a user types it: a fresh library, a
misspelled path, a scan, names, `compare`, `enroll` of a wrong face, `undo` twice.
The whole transcript has no TensorFlow start-up line, no traceback, and speaks of
named people by name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from ..conftest import DATA

pytestmark = pytest.mark.slow

FIVE = DATA / "five_celebs"
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "Traceback", "cpu_feature_guard")


@pytest.mark.skipif(not FIVE.is_dir(), reason="real photos not found (set PHOTOGROUP_DATA)")
def test_first_hour_transcript(tmp_path):
    photos = tmp_path / "Pictures"
    for person in ("madonna", "elton_john"):
        shutil.copytree(FIVE / person, photos / person)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    library = str(tmp_path / "library.db")
    transcript: list[str] = []

    def pg(*args: str) -> tuple[int, str]:
        run = subprocess.run(
            [sys.executable, "-m", "photogroup", "--library", library, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        out = run.stdout + run.stderr
        transcript.append(f"$ photogroup {' '.join(args)}  [exit {run.returncode}]\n{out}")
        return run.returncode, out

    code, out = pg("scan", "--no-progress", str(tmp_path / "Pictrues"))  # a typo
    assert code == 3 and "Pictrues" in out
    code, out = pg("scan", "--no-progress", str(photos))
    assert code == 0, out
    code, out = pg("people", "--json")
    import json

    people = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(people) >= 2, out
    # name the two largest groups after who most of their photos show
    for row in people[:2]:
        name = "Madonna" if "/madonna/" in row["cover"]["photo"] else "Elton"
        assert pg("name", str(row["id"]), name)[0] == 0
    madonna = sorted((photos / "madonna").iterdir())
    elton = sorted((photos / "elton_john").iterdir())
    code, out = pg("compare", str(madonna[0]), str(madonna[1]))
    assert code == 0 and re.search(r"0\.\d\d", out) and "0.59" in out, out
    for wrong in elton[:3]:  # the wrong face (a photo where one is found)
        code, out = pg("enroll", "Madonna", str(wrong))
        if "no face found" not in out:
            break
    assert code == 2 and "distance" in out, out
    code, out = pg("undo", "--list")
    assert code == 0 and "named" in out, out
    code, out = pg("undo")
    assert code == 0 and "Undone: named Person" in out and '"' in out, out
    code, out = pg("undo")
    assert code == 0 and "Undone" in out, out
    text = "\n".join(transcript)
    print(text)  # the transcript, for -s
    for line in NOISE:
        assert line not in text, text
    # names where names exist: the listing says them
    code, out = pg("people")
    assert code == 0 and "Madonna" in out, out
