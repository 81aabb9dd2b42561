"""Quality of a grouping against ground truth: pairwise and BCubed precision/recall/F.

Pure numpy. ``truth`` and ``pred`` are one label per item. In ``pred`` a negative
label (noise, "not grouped") is *not* a cluster: every such item counts as a
cluster of its own, which is what the user sees (a face in no person). Negative
labels in ``truth`` are ordinary labels.

- Pairwise: over all pairs of items, precision = share of the pairs put together
  that belong together, recall = share of the pairs that belong together that
  were put together.
- BCubed (Amigo et al. 2009): per item, precision = share of its cluster that
  has its label, recall = share of its label that is in its cluster; both are
  averaged over items, and F is the harmonic mean of the two averages.

A measure with nothing to count (no pair put together, no pair belonging
together) is 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Labels = npt.ArrayLike


@dataclass(frozen=True)
class Score:
    """Precision and recall of a grouping against ground truth."""

    precision: float
    recall: float

    @property
    def f(self) -> float:
        """The harmonic mean of precision and recall (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _encode(truth: Labels, pred: Labels) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Both label arrays as 0..k-1 codes, every negative prediction a code of its own."""
    t = np.asarray(truth)
    p = np.asarray(pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shapes {t.shape} and {p.shape}")
    if len(t) != len(p):
        raise ValueError(f"truth has {len(t)} labels but pred has {len(p)}")
    if p.size and not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"predicted labels must be integers, got dtype {p.dtype}")
    _, t_codes = np.unique(t, return_inverse=True)
    p = p.astype(np.int64)
    noise = p < 0
    top = int(p.max()) + 1 if len(p) and not noise.all() else 0
    p = p.copy()
    p[noise] = top + np.arange(int(noise.sum()))
    _, p_codes = np.unique(p, return_inverse=True)
    return t_codes.astype(np.int64), p_codes.astype(np.int64)


def _contingency(
    t: npt.NDArray[np.int64], p: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Non-zero cells n_ck with, for each cell, the size of its class and of its cluster."""
    class_size = np.bincount(t)
    cluster_size = np.bincount(p)
    key = t * (int(p.max()) + 1) + p
    cells, counts = np.unique(key, return_counts=True)
    k = int(p.max()) + 1
    return counts.astype(np.int64), class_size[cells // k], cluster_size[cells % k]


def pairwise(truth: Labels, pred: Labels) -> Score:
    """Pairwise precision and recall (noise predictions are singletons)."""
    t, p = _encode(truth, pred)
    if len(t) == 0:
        return Score(1.0, 1.0)
    n_ck, _, _ = _contingency(t, p)
    together = float(np.sum(n_ck * (n_ck - 1)) / 2)
    pred_pairs = float(np.sum((c := np.bincount(p)) * (c - 1)) / 2)
    true_pairs = float(np.sum((c := np.bincount(t)) * (c - 1)) / 2)
    precision = together / pred_pairs if pred_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    return Score(precision, recall)


def bcubed(truth: Labels, pred: Labels) -> Score:
    """BCubed precision and recall averaged over items (noise predictions are singletons)."""
    t, p = _encode(truth, pred)
    if len(t) == 0:
        return Score(1.0, 1.0)
    n_ck, class_size, cluster_size = _contingency(t, p)
    # Each of the n_ck items of a cell has precision n_ck/|cluster| and recall n_ck/|class|.
    sq = n_ck.astype(np.float64) ** 2
    precision = float(np.sum(sq / cluster_size) / len(t))
    recall = float(np.sum(sq / class_size) / len(t))
    return Score(precision, recall)


def coverage(pred: Labels) -> float:
    """Share of items put into some cluster (not noise)."""
    p = np.asarray(pred)
    return float(np.mean(p >= 0)) if len(p) else 1.0
