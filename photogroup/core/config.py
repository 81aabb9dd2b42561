"""Configuration: the shipped config.toml holds every default; a user file overrides keys.

Lookup order for the user file: an explicit path (``--config``), the environment
variable ``PHOTOGROUP_CONFIG``, then ``<user config dir>/photogroup/config.toml``
if it exists. Unknown sections or keys and values of the wrong type are errors
that name the key, so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError
from .params import CLUSTERER, OneOf, Range, Rule, Text
from .resources import resource

ENV_CONFIG = "PHOTOGROUP_CONFIG"
ENV_LIBRARY = "PHOTOGROUP_LIBRARY"

#: [xmp] sidecar_name: "photo.xmp" (Lightroom, digiKam's option) or "photo.jpg.xmp"
#: (digiKam's default, darktable).
SIDECAR_NAMES = ("photo.xmp", "photo.jpg.xmp")


@dataclass(frozen=True)
class QualityRamps:
    """(bad, good) pairs: at or below `bad` a signal scores 0, at or above `good` 1."""

    size: tuple[float, float] = (16.0, 24.0)
    """Shorter side of the box, pixels of the full-size photo."""
    score: tuple[float, float] = (0.85, 0.95)
    """Detector confidence."""
    sharpness: tuple[float, float] = (15.0, 30.0)
    """Variance of the Laplacian of the 64x64 grey aligned crop."""
    frontal: tuple[float, float] = (0.0, 0.0)
    """1 - |yaw proxy|: nose offset from the eyes' midline over the eye distance."""
    inside: tuple[float, float] = (0.94, 0.965)
    """Share of the (1.2x enlarged) face box inside the photo."""


@dataclass
class LibraryConfig:
    """[library]: the database file, the photo folders to scan, and which files to take."""

    database: str = ""
    roots: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    follow_symlinks: bool = True


@dataclass
class ScanConfig:
    """[scan]: decoding threads, photos per commit, and seconds to wait for another scan's lock."""

    workers: int = 2
    commit_every: int = 32
    lock_wait_seconds: float = 0.0


@dataclass
class DetectionConfig:
    """[detection]: longest side the detector sees, least face size (pixels) and confidence."""

    max_side: int = 1024
    min_face_size: float = 20.0
    min_confidence: float = 0.9


@dataclass
class EmbeddingConfig:
    """[embedding]: the embedding model, its weights file, and batch sizes on CPU and GPU."""

    model: str = "facenet"
    weights: str = ""
    batch_size: int = 64
    gpu_batch_size: int = 256


@dataclass
class QualityConfig:
    """[quality]: [bad, good] ramps of each face-quality signal, and the quality a face needs."""

    size: list[float] = field(default_factory=lambda: [16.0, 24.0])
    score: list[float] = field(default_factory=lambda: [0.85, 0.95])
    sharpness: list[float] = field(default_factory=lambda: [15.0, 30.0])
    frontal: list[float] = field(default_factory=lambda: [0.0, 0.0])
    inside: list[float] = field(default_factory=lambda: [0.94, 0.965])
    min_quality: float = 0.5

    def ramps(self) -> QualityRamps:
        """The ramps as QualityRamps; ConfigError when one is not [bad, good] with bad <= good."""
        return QualityRamps(
            size=_pair(self.size, "size"),
            score=_pair(self.score, "score"),
            sharpness=_pair(self.sharpness, "sharpness"),
            frontal=_pair(self.frontal, "frontal"),
            inside=_pair(self.inside, "inside"),
        )


def _pair(values: list[float], key: str) -> tuple[float, float]:
    if len(values) != 2 or values[0] > values[1]:
        raise ConfigError(f"[quality] {key} must be [bad, good] with bad <= good, got {values!r}.")
    return (float(values[0]), float(values[1]))


@dataclass
class PeopleConfig:
    """[people]: grouping (HDBSCAN and its post-processing) and the assign and merge thresholds."""

    min_cluster_size: int = 2
    min_samples: int = 1
    cluster_selection_method: str = "eom"
    cluster_selection_epsilon: float = 0.0
    max_distance: float = 0.6
    pair_distance: float = 0.3
    full_size: int = 16
    spread_ratio: float = 1.5
    absorb_distance: float = 0.4
    duplicate_distance: float = 0.05
    pca_components: int = 32
    assign_threshold: float = 0.45
    regroup_after: int = 200
    regroup_growth: float = 0.1
    min_faces_listed: int = 2
    merge_threshold: float = 0.45
    compare_threshold: float = 0.59

    def clusterer_params(self) -> dict[str, Any]:
        """The keyword arguments of core.cluster.FaceClusterer."""
        return {
            "min_cluster_size": self.min_cluster_size,
            "min_samples": self.min_samples,
            "cluster_selection_method": self.cluster_selection_method,
            "cluster_selection_epsilon": self.cluster_selection_epsilon,
            "max_distance": self.max_distance,
            "pair_distance": self.pair_distance,
            "full_size": self.full_size,
            "spread_ratio": self.spread_ratio or None,
            "absorb_distance": self.absorb_distance or None,
            "duplicate_distance": self.duplicate_distance,
            "pca_components": self.pca_components or None,
        }


@dataclass
class ReviewConfig:
    """[review]: target precision and answers needed to learn thresholds, the page's address."""

    target_precision: float = 0.99
    min_answers: int = 10
    who_min_faces: int = 5
    host: str = "127.0.0.1"
    port: int = 0


@dataclass
class ServeConfig:
    """[serve]: minutes between scheduled scans, and whether to scan when the server starts."""

    scan_every_minutes: float = 1440.0
    scan_on_start: bool = False


@dataclass
class XmpConfig:
    """[xmp]: whether to read face regions, the sidecar naming, box matching IoU, and writing."""

    read: bool = True
    sidecar_name: str = "photo.xmp"
    match_iou: float = 0.3
    write: str = "off"


@dataclass
class Config:
    """The whole configuration: one dataclass per section of config.toml."""

    library: LibraryConfig = field(default_factory=LibraryConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    xmp: XmpConfig = field(default_factory=XmpConfig)
    source: list[Path] = field(default_factory=list)
    """The files this configuration was read from, defaults first."""

    def database_path(self, override: str | os.PathLike[str] | None = None) -> Path:
        """The library database: --library, then $PHOTOGROUP_LIBRARY, then config, then default."""
        chosen = override or os.environ.get(ENV_LIBRARY) or self.library.database
        if chosen:
            return Path(chosen).expanduser()
        from platformdirs import user_data_dir

        return Path(user_data_dir("photogroup")) / "library.db"

    def weights_path(self) -> Path | None:
        """The configured embedding weights file (~ expanded), None when none is configured."""
        return Path(self.embedding.weights).expanduser() if self.embedding.weights else None


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "source"}

_THRESHOLD = Range(0.0, 2.0, low_open=True, high_open=True)
_SHARE = Range(0.0, 1.0)

#: What each key accepts beyond its type; checked as each file is read, so that the
#: message names the file and the key. Keys not listed take any value of their type.
#: A list of numbers ([quality] pairs) is checked item by item.
RULES: dict[tuple[str, str], Rule] = {
    ("scan", "workers"): Range(1, integer=True),
    ("scan", "commit_every"): Range(1, integer=True),
    ("scan", "lock_wait_seconds"): Range(0.0),
    ("detection", "max_side"): Range(64, integer=True),
    ("detection", "min_face_size"): Range(0.0),
    ("detection", "min_confidence"): _SHARE,
    ("embedding", "batch_size"): Range(1, integer=True),
    ("embedding", "gpu_batch_size"): Range(1, integer=True),
    **{
        ("people", key): CLUSTERER[key]
        for key in (
            "min_cluster_size",
            "min_samples",
            "cluster_selection_method",
            "cluster_selection_epsilon",
            "max_distance",
            "pair_distance",
            "full_size",
            "duplicate_distance",
        )
    },
    ("people", "spread_ratio"): Range(0.0, 10.0),  # 0: off
    ("people", "absorb_distance"): Range(0.0, 2.0),  # 0: off
    ("people", "pca_components"): Range(0, integer=True),  # 0: no projection
    ("people", "assign_threshold"): _THRESHOLD,
    ("people", "regroup_after"): Range(0, integer=True),
    ("people", "regroup_growth"): Range(0.0, low_open=True),
    ("people", "min_faces_listed"): Range(1, integer=True),
    ("people", "merge_threshold"): _THRESHOLD,
    ("people", "compare_threshold"): _THRESHOLD,
    ("review", "target_precision"): Range(0.5, 1.0, low_open=True, high_open=True),
    ("review", "min_answers"): Range(1, integer=True),
    ("review", "who_min_faces"): Range(1, integer=True),
    ("review", "host"): Text(),
    ("review", "port"): Range(0, 65535, integer=True),  # 0: any free port
    ("serve", "scan_every_minutes"): Range(0.0),  # 0: no scheduled scans
    ("quality", "size"): Range(0.0),
    ("quality", "score"): _SHARE,
    ("quality", "sharpness"): Range(0.0),
    ("quality", "frontal"): _SHARE,
    ("quality", "inside"): _SHARE,
    ("quality", "min_quality"): _SHARE,
    ("xmp", "sidecar_name"): OneOf(SIDECAR_NAMES),
    ("xmp", "write"): OneOf(("off", "sidecar")),
    ("xmp", "match_iou"): Range(0.0, 1.0, low_open=True),
}


def _check_rule(where: str, section: str, key: str, value: Any) -> None:
    rule = RULES.get((section, key))
    if rule is None:
        return
    for item in value if isinstance(value, list) else [value]:
        if not rule.allows(item):
            allowed = f"{rule}" if not isinstance(value, list) else f"a list of {rule}"
            raise ConfigError(f"{where} must be {allowed}, got {value!r}.")


def _check_extensions(where: str, values: list[str]) -> None:
    for ext in values:
        if not (ext.startswith(".") and len(ext) > 1 and ext.isprintable()):
            raise ConfigError(
                f'{where}: {ext!r} is not a file name extension; write it with its dot, as ".jpg".'
            )


def _check_value(where: str, value: Any, expected: Any) -> Any:
    origin = getattr(expected, "__origin__", None)
    if origin is list:
        (item_type,) = expected.__args__
        accepted = (int, float) if item_type is float else item_type
        if not isinstance(value, list) or not all(
            isinstance(v, accepted) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{where} must be a list of {item_type.__name__}, got {value!r}.")
        return [float(v) for v in value] if item_type is float else list(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}.")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be of type {expected.__name__}, got {value!r}.")
    return value


def _apply(config: Config, data: dict[str, Any], path: Path) -> None:
    for section, values in data.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]. Known sections: {', '.join(_SECTIONS)}."
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table.")
        target = getattr(config, section)
        hints = get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(
                    f"{path}: unknown key {key!r} in [{section}]. "
                    f"Known keys: {', '.join(sorted(hints))}."
                )
            where = f"{path}: [{section}] {key}"
            value = _check_value(where, value, hints[key])
            _check_rule(where, section, key, value)
            if (section, key) == ("library", "extensions"):
                _check_extensions(where, value)
            setattr(target, key, value)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Configuration file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Configuration file {str(path)!r} is not valid TOML: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Configuration file {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x}"
            f" at offset {exc.start}). Save it as UTF-8."
        ) from None
    except OSError as exc:  # a folder, no permission, ...
        raise ConfigError(
            f"Cannot read the configuration file {str(path)!r}: {exc.strerror}."
        ) from None


def user_config_path() -> Path:
    """Where the user's config.toml lives (platformdirs' user config dir); it may not exist."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("photogroup")) / "config.toml"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Defaults from the shipped config.toml, then the user's file on top."""
    config = Config()
    default = resource("config")
    _apply(config, _read(default), default)
    config.source.append(default)
    chosen = path or os.environ.get(ENV_CONFIG)
    user = Path(chosen).expanduser() if chosen else user_config_path()
    if chosen or user.is_file():
        _apply(config, _read(user), user)
        config.source.append(user)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    """What involves more than one value (each value was checked as it was read)."""
    config.quality.ramps()  # raises on a [bad, good] pair with bad > good
