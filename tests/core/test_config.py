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
    with pytest.raises(
        ConfigError,
        match=r"bad.toml: \[detection\] min_confidence must be a finite number "
        r">= 0 and <= 1, got 1.5\.",
    ):
        load_config(user)


# Each finding of issue 14 and one bad value per checked key: the message names the
# file, the section and key, the allowed values and the value given.
BAD_VALUES = [
    ("people", "min_cluster_size", "0", "an integer >= 2"),
    ("people", "min_cluster_size", "1", "an integer >= 2"),
    ("people", "min_samples", "0", "an integer >= 1"),
    ("people", "max_distance", "-0.5", "> 0 and <= 2"),
    ("people", "max_distance", "0.0", "> 0 and <= 2"),
    ("people", "max_distance", "2.5", "> 0 and <= 2"),
    ("people", "cluster_selection_method", '"xyz"', "'eom' or 'leaf'"),
    ("people", "cluster_selection_epsilon", "-0.1", ">= 0 and <= 2"),
    ("people", "duplicate_distance", "nan", ">= 0 and <= 2"),
    ("people", "pca_components", "-1", "an integer >= 0"),
    ("people", "assign_threshold", "inf", "> 0 and < 2"),
    ("people", "assign_threshold", "-1", "> 0 and < 2"),
    ("people", "assign_threshold", "nan", "> 0 and < 2"),
    ("people", "assign_threshold", "2.0", "> 0 and < 2"),
    ("people", "merge_threshold", "-inf", "> 0 and < 2"),
    ("people", "compare_threshold", "0", "> 0 and < 2"),
    ("people", "regroup_after", "-1", "an integer >= 0"),
    ("people", "min_faces_listed", "0", "an integer >= 1"),
    ("review", "min_answers", "-5", "an integer >= 1"),
    ("review", "who_min_faces", "0", "an integer >= 1"),
    ("review", "target_precision", "1.0", "> 0.5 and < 1"),
    ("review", "target_precision", "nan", "> 0.5 and < 1"),
    ("review", "port", "70000", ">= 0 and <= 65535"),
    ("review", "host", '""', "a non-empty line of text"),
    ("review", "host", '"a\\nb"', "a non-empty line of text"),
    ("serve", "scan_every_minutes", "inf", "a finite number >= 0"),
    ("serve", "scan_every_minutes", "-1", "a finite number >= 0"),
    ("scan", "workers", "0", "an integer >= 1"),
    ("scan", "commit_every", "0", "an integer >= 1"),
    ("scan", "lock_wait_seconds", "nan", "a finite number >= 0"),
    ("detection", "max_side", "10", "an integer >= 64"),
    ("detection", "min_face_size", "-inf", "a finite number >= 0"),
    ("detection", "min_confidence", "nan", ">= 0 and <= 1"),
    ("embedding", "batch_size", "0", "an integer >= 1"),
    ("embedding", "gpu_batch_size", "-2", "an integer >= 1"),
    ("quality", "min_quality", "1.5", ">= 0 and <= 1"),
    ("quality", "score", "[0.5, inf]", "a list of a finite number >= 0 and <= 1"),
    ("quality", "size", "[-1.0, 4.0]", "a list of a finite number >= 0"),
    ("quality", "inside", "[0.9, nan]", ">= 0 and <= 1"),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"), BAD_VALUES, ids=lambda v: str(v)[:20]
)
def test_bad_value_names_file_key_and_allowed_values(tmp_path, section, key, value, allowed):
    user = tmp_path / "bad.toml"
    user.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(user)
    message = str(err.value)
    assert f"bad.toml: [{section}] {key} must be " in message, message
    assert allowed in message and "got " in message and "\n" not in message.rstrip()


def test_every_number_and_choice_has_a_rule():
    """No numeric key escapes the range checks (the shipped file passes them all)."""
    from photogroup.core.config import RULES

    cfg = load_config()
    for section in ("library", "scan", "detection", "embedding", "people", "review", "serve"):
        for key, value in vars(getattr(cfg, section)).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert (section, key) in RULES, f"[{section}] {key} has no range"
    assert ("people", "cluster_selection_method") in RULES
    for key in ("size", "score", "sharpness", "frontal", "inside", "min_quality"):
        assert ("quality", key) in RULES


def test_the_clusterer_and_the_configuration_share_one_rule(tmp_path):
    """[people] min_cluster_size is checked by the rule FaceClusterer checks with."""
    from photogroup.core.config import RULES
    from photogroup.core.params import CLUSTERER

    assert RULES[("people", "min_cluster_size")] is CLUSTERER["min_cluster_size"]
    assert RULES[("people", "cluster_selection_method")] is CLUSTERER["cluster_selection_method"]


def test_extensions_need_their_dot(tmp_path):
    user = tmp_path / "ext.toml"
    user.write_text('[library]\nextensions = [".jpg", "png"]\n')
    with pytest.raises(
        ConfigError, match=r"\[library\] extensions: 'png' is not a file name extension.*\.jpg"
    ):
        load_config(user)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    user = tmp_path / "latin1.toml"
    user.write_bytes('[library]\nroots = ["/home/andré"]\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.toml' is not UTF-8 text \(byte 0xe9"):
        load_config(user)


def test_a_folder_given_as_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the configuration file"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "[people]\nmin_cluster_size = 0\n",
        '[people]\ncluster_selection_method = "xyz"\n',
        "[review]\nmin_answers = -5\n",
    ],
)
def test_a_bad_config_is_exit_2_and_one_line_through_the_cli(tmp_path, capsys, text):
    from photogroup.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["--config", str(cfg), "--library", str(tmp_path / "l.db"), "people"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "c.toml: [" in err and "must be" in err


def test_a_non_utf8_config_through_the_cli(tmp_path, capsys):
    from photogroup.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"# \xff\xfe\n")
    assert main(["--config", str(cfg), "--library", str(tmp_path / "l.db"), "people"]) == 2
    err = capsys.readouterr().err
    assert "c.toml" in err and "UTF-8" in err and "Traceback" not in err


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
