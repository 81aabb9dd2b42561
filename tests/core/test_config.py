"""Configuration: shipped defaults, user overrides, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from photogroup.core.config import Config, load_config
from photogroup.core.errors import ConfigError
from photogroup.core.resources import resource


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("PHOTOGROUP_CONFIG", raising=False)
    monkeypatch.delenv("PHOTOGROUP_LIBRARY", raising=False)


def test_defaults_come_from_the_shipped_file():
    cfg = load_config()
    assert cfg.embedding.model == "facenet"
    assert cfg.source == [resource("config")]
    assert ".heic" in cfg.library.extensions


def test_every_key_in_config_toml_is_commented():
    """Each key line of config.toml is preceded by a comment line (or a comment block)."""
    lines = resource("config").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+\s*=", line):
            above = lines[i - 1].strip()
            assert above.startswith("#"), f"config.toml key without a comment: {line!r}"


def test_every_dataclass_field_is_in_config_toml():
    text = resource("config").read_text()
    cfg = Config()
    for section in ("library", "scan", "detection", "embedding"):
        for key in vars(getattr(cfg, section)):
            assert re.search(rf"^{key}\s*=", text, re.M), f"[{section}] {key} missing"


def test_user_file_overrides(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text('[detection]\nmin_face_size = 40\n[library]\nroots = ["~/Pictures"]\n')
    cfg = load_config(user)
    assert cfg.detection.min_face_size == 40.0
    assert cfg.library.roots == ["~/Pictures"]
    assert cfg.detection.max_side == 1024  # untouched default
    assert cfg.source[-1] == user


def test_unknown_key_names_it(tmp_path):
    user = tmp_path / "typo.toml"
    user.write_text("[detection]\nmin_face_sise = 40\n")
    with pytest.raises(ConfigError, match="min_face_sise.*Known keys: max_side"):
        load_config(user)


def test_wrong_type_names_key_and_value(tmp_path):
    user = tmp_path / "bad.toml"
    user.write_text('[scan]\nworkers = "two"\n')
    with pytest.raises(ConfigError, match=r"\[scan\] workers must be of type int, got 'two'"):
        load_config(user)


def test_out_of_range_value(tmp_path):
    user = tmp_path / "bad.toml"
    user.write_text("[detection]\nmin_confidence = 1.5\n")
    with pytest.raises(ConfigError, match="min_confidence must lie between 0 and 1, got 1.5"):
        load_config(user)


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[detection\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_database_path_precedence(tmp_path, monkeypatch):
    cfg = load_config()
    cfg.library.database = str(tmp_path / "from-config.db")
    assert cfg.database_path() == tmp_path / "from-config.db"
    monkeypatch.setenv("PHOTOGROUP_LIBRARY", str(tmp_path / "from-env.db"))
    assert cfg.database_path() == tmp_path / "from-env.db"
    assert cfg.database_path(tmp_path / "flag.db") == Path(tmp_path / "flag.db")
