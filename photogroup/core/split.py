"""Where one person's faces fall into two sub-groups (pure numpy/scipy).

`two_sides` cuts a person's faces in two by average linkage (cosine): the last merge
of the tree is the cut a user is asked about ("Is this one person?"), and its height
(the average distance between the two sides) says how likely the two sides are one
person. Above SAMPLE faces the tree is built on an evenly spread sample and every
other face joins the side whose mean it is nearest.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Largest number of faces the linkage tree is built on.
SAMPLE = 600


def two_sides(
    vectors: npt.ArrayLike, rng: np.random.Generator | None = None
) -> tuple[npt.NDArray[np.int64], float]:
    """Side (0: the larger, 1) of every row of `vectors` (unit rows), and the average
    cosine distance between the sides. Fewer than 2 rows: all side 0, distance 0."""
    from scipy.cluster.hierarchy import fcluster, linkage

    V = np.asarray(vectors, dtype=np.float32)
    n = len(V)
    if n < 2:
        return np.zeros(n, dtype=np.int64), 0.0
    rng = rng or np.random.default_rng(0)
    pick = np.arange(n) if n <= SAMPLE else np.sort(rng.choice(n, SAMPLE, replace=False))
    S = V[pick]
    sim = S @ S.T
    iu = np.triu_indices(len(S), 1)
    tree = linkage(np.clip(1.0 - sim[iu].astype(np.float64), 0.0, 2.0), method="average")
    part = fcluster(tree, 2, criterion="maxclust").astype(np.int64) - 1
    if n > SAMPLE:
        means = np.stack([S[part == k].mean(axis=0) for k in (0, 1)])
        side = np.argmax(V @ means.T, axis=1).astype(np.int64)
        side[pick] = part
    else:
        side = part
    if (side == 1).sum() > (side == 0).sum():
        side = 1 - side
    a, b = V[side == 0], V[side == 1]
    if len(a) == 0 or len(b) == 0:
        return np.zeros(n, dtype=np.int64), 0.0
    return side, float(1.0 - (a.mean(axis=0) @ b.mean(axis=0)))
