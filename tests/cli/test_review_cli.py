"""The scriptable and terminal front ends of `photogroup review`, `undo`, `thresholds`."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from photogroup.cli import cli, main
from photogroup.db.models import Decision

from ..conftest import marker_people


@pytest.fixture
def lib_args(library, config, detector, embedder, tmp_path):
    """A library of marker photos in three groups, and the CLI arguments to use it."""
    cfg = tmp_path / "config.toml"
    # The fake embedder's marker colours lie 0.3 apart: with the default merge threshold
    # the three people would look like one, and "Same person?" would come first.
    cfg.write_text(
        "[quality]\nmin_quality = 0.0\n[review]\nwho_min_faces = 2\n"
        "[people]\nmerge_threshold = 0.1\n"
    )
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    return ["--config", str(cfg), "--library", str(config.database_path())]


def test_json_answer_thresholds_and_undo(lib_args, library, capsys):
    assert main([*lib_args, "review", "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["kind"] == "who" and q["sides"][0]["faces"] and q["id"].startswith("who:")
    assert main([*lib_args, "review", "--answer", q["id"], "yes", "--name", "Ann"]) == 0
    assert "is now Ann" in capsys.readouterr().out
    # answered: never asked again; answering twice is a usage error naming undo
    assert main([*lib_args, "review", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] != q["id"]
    assert main([*lib_args, "review", "--answer", q["id"], "yes", "--name", "Ann"]) == 2
    assert "photogroup undo" in capsys.readouterr().err
    assert main([*lib_args, "thresholds", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in rows] == ["assign", "merge"]
    assert all(r["source"] == "config" for r in rows)
    assert [r["in_force"] for r in rows] == [0.45, 0.1]
    assert main([*lib_args, "undo"]) == 0
    assert "Undone" in capsys.readouterr().out
    assert main([*lib_args, "review", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == q["id"]
    assert main([*lib_args, "undo"]) == 2
    assert "Nothing to undo" in capsys.readouterr().err


def test_bad_answers_are_clear_errors(lib_args, capsys):
    assert main([*lib_args, "review", "--answer", "who:1", "perhaps"]) == 2
    assert "use yes, no, skip or notface" in capsys.readouterr().err
    assert main([*lib_args, "review", "--answer", "same:1", "yes"]) == 2
    assert "not a question id" in capsys.readouterr().err


def test_terminal_review_writes_contact_sheets_and_reads_keys(lib_args, library, monkeypatch):
    from PIL import Image

    import photogroup.cli.review as review_cli

    sizes = []

    def show(path):  # while the question is asked, its contact sheet is there
        with Image.open(path) as im:
            sizes.append(im.size)

    monkeypatch.setattr(review_cli, "_show_inline", show)
    runner = CliRunner()
    # first question: "Who is this?" -> type a name; second: skip with an empty name; then quit
    result = runner.invoke(cli, [*lib_args, "review", "--terminal"], input="Bo\n\nq\n")
    assert result.exit_code == 0, result.output
    sheets = [
        line.split("faces: ", 1)[1] for line in result.output.splitlines() if "faces: " in line
    ]
    assert len(sheets) >= 2 and len(sizes) == len(sheets)
    assert all(w >= 128 and h >= 128 for w, h in sizes)
    # ... and gone with their folder once review ends
    assert not any(os.path.exists(p) for p in sheets)
    assert not os.path.exists(os.path.dirname(sheets[0]))
    with library.session() as s:
        kinds = [d.kind for d in s.scalars(select(Decision).order_by(Decision.id))]
    assert kinds[:2] == ["name", "skip"]
    assert "is now Bo" in result.output
