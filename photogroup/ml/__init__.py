"""Models: the only package that imports TensorFlow, Keras or mtcnn, always lazily.

Modules here import TensorFlow inside functions or at the top of modules that
are themselves imported only when a model is needed (see `registry`).

TensorFlow's C++ start-up lines (CPU features, oneDNN, "All log messages before
absl::InitializeLog() is called ...") are information for TensorFlow's developers,
not for users of a photo scan. TensorFlow 2.21 prints some of them from absl before
it reads TF_CPP_MIN_LOG_LEVEL, so the variable alone does not hide them: the first
import of TensorFlow (whoever triggers it: Keras, mtcnn or our code) runs with file
descriptor 2 sent to a temporary file, and every line of it that is not such
information is written to stderr afterwards (errors still show).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

# Setting TF_CPP_MIN_LOG_LEVEL yourself keeps your value (3 also hides errors, 0 shows all).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Lines TensorFlow's native code prints while it is imported that are not errors:
#: absl's notice, its info ("I") and warning ("W") lines (glog format) and the
#: continuation of the CPU-features line.
_START_UP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:. ]+\d+ [\w./-]+:\d+\]"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def start_up_noise(line: str) -> bool:
    """Whether a line written while TensorFlow is imported is information, not an error."""
    return bool(_START_UP_NOISE.match(line))


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Runs the body with file descriptor 2 sent to a temporary file, then writes
    the lines that are not TensorFlow's start-up information to stderr. Honours
    TF_CPP_MIN_LOG_LEVEL=0 (show everything)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 (an embedding host)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not start_up_noise(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, as the normal finders do, and runs its first import
    inside `quiet_native_stderr`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; the rest of TensorFlow imports normally
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec_module(module: ModuleType) -> None:
            with quiet_native_stderr():
                exec_module(module)

        loader.exec_module = quiet_exec_module  # type: ignore[method-assign]
        return spec


if "tensorflow" not in sys.modules and not any(
    isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path
):
    sys.meta_path.insert(0, _QuietTensorFlowImport())
