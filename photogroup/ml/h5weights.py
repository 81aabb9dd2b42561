"""Load Keras 2 HDF5 weights into a Keras 3 model by layer name, with h5py.

Keras 2 wrote two layouts: a whole-model file (weights under the group
``model_weights``) and a weights-only file (``save_weights``; layers at the root).
Both keep the attribute ``layer_names`` and, on each layer group, ``weight_names``
in the order Keras expects them. The model is built in code; nothing of the file's
pickled configuration (Lambda bytecode) is ever executed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError


def _decode(values: Any) -> list[str]:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_keras2_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> its weight arrays in stored order (layers without weights left out)."""
    import h5py

    if not path.is_file():
        raise ModelError(f"Weights file {str(path)!r} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(
            f"Weights file {str(path)!r} is not an HDF5 file ({exc}). "
            "Check the path, or delete the file to have it provisioned again."
        ) from exc
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise ModelError(
                f"Weights file {str(path)!r} has no Keras layer list (attribute 'layer_names'); "
                "it is not a Keras 2 HDF5 weights file."
            )
        out: dict[str, list[np.ndarray]] = {}
        for name in _decode(group.attrs["layer_names"]):
            weight_names = _decode(group[name].attrs.get("weight_names", []))
            if weight_names:
                out[name] = [np.asarray(group[name][w]) for w in weight_names]
        return out


def load_weights_by_name(
    model: Any,
    path: Path,
    rename: Callable[[str], str] = lambda name: name,
) -> int:
    """Set every weighted layer of `model` from the file; returns the number of layers set.

    `rename` maps a stored layer name to the model's layer name (Keras 3 forbids
    '/' in names, which keras-vggface used). Every stored layer must exist in the
    model with weights of the same shapes, and every model layer that has weights
    must be in the file: a partial load would give silently wrong embeddings.
    """
    stored = read_keras2_weights(path)
    layers = {layer.name: layer for layer in model.layers}
    loaded: set[str] = set()
    for stored_name, values in stored.items():
        name = rename(stored_name)
        layer = layers.get(name)
        if layer is None:
            raise ModelError(
                f"Weights file {str(path)!r} has layer {stored_name!r}, which the model lacks: "
                "the file belongs to another architecture."
            )
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ModelError(
                f"Weights file {str(path)!r}: layer {stored_name!r} has shapes {got}, "
                f"the model expects {expected}."
            )
        layer.set_weights(values)
        loaded.add(name)
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in loaded]
    if missing:
        raise ModelError(
            f"Weights file {str(path)!r} lacks {len(missing)} layers of the model "
            f"(first: {missing[:3]}): the file belongs to another architecture."
        )
    return len(loaded)
