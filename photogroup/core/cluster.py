"""Grouping face embeddings into people: HDBSCAN on a k-nearest-neighbour graph.

Pure numpy / scipy / hdbscan, plus hnswlib when installed (all imported when
used); no TensorFlow, no database. Without hnswlib, inputs above
EXACT_NEIGHBOURS_UP_TO faces get exact neighbours too: same result quality,
quadratic time (minutes for 100k faces instead of seconds).

`FaceClusterer` is a scikit-learn-style estimator: ``__init__`` stores the
parameters, ``fit(X)`` validates the embeddings and learns ``labels_`` (-1: the
face belongs to no group) and ``probabilities_``.

How it groups (each step and default measured with ``bench/cluster_quality.py``
on lfw20, lfw_devtrain, five_celebs and group_photos, and ``bench/cluster_scale.py`` on synthetic
libraries of 10k-100k faces):

1. Rows are L2-normalised; distances are euclidean between unit vectors,
   ``sqrt(2 * cosine distance)``, as HDBSCAN expects.
2. The ``n_neighbors`` nearest neighbours of every face: exact (blocked matrix
   products) up to EXACT_NEIGHBOURS_UP_TO faces, otherwise candidates from an
   HNSW index (hnswlib) on a PCA projection to ``pca_components`` dimensions,
   re-ranked with exact full-dimension distances. (hdbscan's own boruvka/prims
   trees took 34-46 s for 10k faces in 128 dimensions on 2 cores; this takes
   about 1 s, and memory stays linear.)
3. Near-duplicates (bursts, copies: neighbours within ``duplicate_distance``)
   are merged into one point of the graph. Without this, a burst of 3-4
   near-identical shots is the densest "cluster" of a person and HDBSCAN's
   excess-of-mass selection cuts the person into pieces.
4. HDBSCAN proper: minimum spanning tree of the mutual-reachability graph over
   those neighbours (core distances from ``min_samples``), then hdbscan's own
   condensed tree and cluster selection. A burst left alone that has
   ``min_cluster_size`` faces is a person. When the whole library is one
   person, HDBSCAN (which never selects the root of its tree) would find nobody
   or that person in pieces; that case is recognised and the root taken.
5. Every cluster is re-cut by average linkage (cosine): two parts stay
   together while their average distance is at most a threshold that grows
   with the faces they hold together, from ``pair_distance`` (two single faces,
   0.3) to ``max_distance`` (``full_size`` = 16 faces or more, 0.6); pieces
   smaller than ``min_cluster_size`` become noise. Precision first: two single
   faces are weak evidence (on lfw_devtrain, mostly people seen once, a flat
   cut at 0.8 gave BCubed P 0.910, at 0.5 still 0.937; pair_distance 0.35
   instead of 0.3 loses 0.009), while average distances between big parts are
   stable. max_distance is the tightest that keeps five_celebs (same-person
   distances: median 0.35, 90th percentile 0.66) at F >= 0.95 (0.55: 0.932).
   Two parts of 4+ faces also stay together only while their average
   distance is at most ``spread_ratio`` (1.5) times the larger of their own
   spreads (average distance within each): some pairs of LFW people are only
   0.49-0.6 apart on average, below max_distance, but each is much tighter
   than that. HDBSCAN keeps them apart on the bench sets anyway; forced to merge
   people (cluster_selection_epsilon 1.0), lfw20's P stays 0.999 with this rule
   and falls to 0.949 without it.
6. With ``groups`` (the photo of every face) two faces of one photo never end
   in one cluster: the re-cut refuses every merge across a photo and merges
   the pieces again without crossing one (see ``_average_linkage_cut``). On the
   four bench sets this gave the same P / R / F as leaving the weaker face of a
   photo out; it is kept because a refused merge also splits two people who
   appear together (twins), which leaving one face out would not.

7. A small piece (``ABSORB_MAX_FACES``, 3 faces or fewer) whose average distance to a
   cluster of ``ABSORB_INTO_FACES`` (8) faces or more is at most
   ``absorb_distance`` (0.4, under FaceNet's same-person 90th percentile) joins
   it, when no other such cluster is within ``ABSORB_MARGIN`` (0.1) of that and no
   photo is in both: HDBSCAN leaves a person's odd photos as a piece of their own.
   lfw20 F 0.9945 -> 0.9967 (P 1.000 both), lfw_devtrain P 0.9830 -> 0.9825,
   F 0.9637 -> 0.9651, five_celebs unchanged.

`person_prototypes` and `nearest_prototypes` serve incremental assignment: a new
face is compared by brute force with a few representative faces of every person.
"""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .params import CLUSTERER, Range, check

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
FloatArray64 = npt.NDArray[np.float64]

#: Up to this many faces the neighbours are computed exactly.
EXACT_NEIGHBOURS_UP_TO = 5000
#: Faces used to fit the PCA projection (a random sample of larger inputs).
PCA_SAMPLE = 20000
#: Largest cluster re-cut with average linkage as a whole; a larger one is re-cut
#: on a random sample of this size and its other faces join the nearest piece.
LINKAGE_SAMPLE = 1000
#: HNSW index settings (hnswlib): links per node, and the beam width while building
#: and while searching (at least twice the candidates wanted).
HNSW_M = 8
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 40
_BLOCK = 4096
#: Pieces of at most this many faces may join a large cluster (FaceClusterer.absorb_distance),
#: one of at least ABSORB_INTO_FACES, when no other is within ABSORB_MARGIN of it.
ABSORB_MAX_FACES = 3
ABSORB_INTO_FACES = 8
ABSORB_MARGIN = 0.1
#: Pieces of fewer faces have no spread of their own (see FaceClusterer.spread_ratio).
SPREAD_MIN_FACES = 4


# --- validation ----------------------------------------------------------------


def _as_matrix(X: Any, name: str) -> FloatArray:
    """A finite 2-D float32 array, or a ValueError that quotes the offending value."""
    if isinstance(X, str | bytes):
        raise ValueError(f"{name} must be a 2-D array of numbers, got {X!r:.80}")
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} is not a rectangular array of numbers: {exc}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (faces x dimensions), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}: a face vector needs 1+ dimensions")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        bad = next((v for v in arr.ravel() if not isinstance(v, int | float)), arr.dtype)
        raise ValueError(f"{name} must hold numbers, got {bad!r:.80} (dtype {arr.dtype})")
    arr = arr.astype(np.float32, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        r, c = (int(v) for v in np.argwhere(~finite)[0])
        raise ValueError(f"{name} must be finite, but {name}[{r}, {c}] = {float(arr[r, c])!r}")
    return arr


def _as_groups(groups: Any, n: int) -> IntArray | None:
    """`groups` as codes 0.. (one per face), None when not given."""
    if groups is None:
        return None
    if isinstance(groups, str | bytes):
        raise ValueError(f"groups must be one value per face, got {groups!r:.80}")
    arr = np.asarray(groups)
    if arr.shape != (n,):
        raise ValueError(
            f"groups must have one value per face ({n}), got shape {arr.shape}: pass the "
            "photo id of each row of X"
        )
    if arr.dtype.kind not in "iuUSO":
        raise ValueError(f"groups must be integers or strings (photo ids), got dtype {arr.dtype}")
    try:
        codes = np.unique(arr, return_inverse=True)[1]
    except TypeError as exc:  # mixed objects that do not compare
        raise ValueError(f"groups must be comparable photo ids: {exc}") from exc
    return codes.reshape(n).astype(np.int64)


def _unit_rows(X: FloatArray, name: str) -> FloatArray:
    norms = np.linalg.norm(X, axis=1)
    zero = norms < 1e-12
    if zero.any():
        r = int(np.flatnonzero(zero)[0])
        raise ValueError(f"{name}[{r}] has length {float(norms[r])!r}: it has no direction")
    return (X / norms[:, None]).astype(np.float32)


# --- the estimator ---------------------------------------------------------------


class FaceClusterer:
    """Groups face embeddings into people with HDBSCAN (scikit-learn conventions).

    Parameters (defaults chosen by measurement, see the module docstring)
    ----------
    min_cluster_size:
        Smallest group of faces that makes a person (2: two photos make a person).
    min_samples:
        HDBSCAN's density smoothing: the core distance of a face is the distance to
        its ``min_samples``-th nearest other face. None: ``min_cluster_size``. 1
        keeps people seen twice; 2 or more leaves them unassigned.
    cluster_selection_method:
        'eom' (excess of mass) or 'leaf' (leaf splits people into many pieces).
    cluster_selection_epsilon:
        HDBSCAN's epsilon, in euclidean distance between unit vectors
        (``sqrt(2 * cosine distance)``); clusters closer than this are merged.
    max_distance:
        Every cluster is re-cut with average linkage (cosine): two parts stay
        together while their average distance is at most a threshold that grows
        with the faces they hold together, from ``pair_distance`` (two single
        faces) to ``max_distance`` (``full_size`` faces or more). None: no re-cut
        (faces of one photo are still kept apart when ``fit`` gets ``groups``).
    pair_distance:
        The threshold for two single faces (see max_distance). None: max_distance
        for pieces of every size (the plain average-linkage cut).
    full_size:
        Faces two parts hold together from which max_distance applies.
    spread_ratio:
        Two parts of SPREAD_MIN_FACES (4) faces or more stay together only while
        their average distance is at most this times the larger of their
        spreads (average distance between the faces within a part): two people
        that HDBSCAN merged are parted even when they are closer than
        max_distance. None: off.
    absorb_distance:
        A piece of at most ABSORB_MAX_FACES faces joins a cluster of at least
        ABSORB_INTO_FACES whose average distance to it is at most this (and no
        other is within ABSORB_MARGIN of that, and no photo is in both). None: off.
    duplicate_distance:
        Faces at most this cosine distance apart count as one point for the
        density estimate (bursts, copies). 0: off.
    pca_components:
        Dimensions of the projection used to *search* for neighbour candidates in
        large inputs (distances are always exact). None: search in full dimension.
    n_neighbors:
        Neighbours per face in the graph the spanning tree is built from.
    n_jobs:
        Threads for the neighbour search (-1: all cores). More than one makes the
        HNSW index, and so the result on large inputs, depend on thread timing.
    random_state:
        Seed of the PCA sample, the HNSW index and the linkage samples.

    Attributes (after ``fit``)
    --------------------------
    labels_: (n,) int64, clusters numbered 0.. by decreasing size, -1 for noise.
    probabilities_: (n,) float64, HDBSCAN's membership strength, 0 for noise.
    n_clusters_: number of clusters.
    n_features_in_: dimension of the embeddings.
    timings_: seconds spent per stage.
    """

    def __init__(
        self,
        min_cluster_size: int = 2,
        min_samples: int | None = 1,
        cluster_selection_method: str = "eom",
        cluster_selection_epsilon: float = 0.0,
        max_distance: float | None = 0.6,
        pair_distance: float | None = 0.3,
        full_size: int = 16,
        spread_ratio: float | None = 1.5,
        absorb_distance: float | None = 0.4,
        duplicate_distance: float = 0.05,
        pca_components: int | None = 32,
        n_neighbors: int = 15,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.max_distance = max_distance
        self.pair_distance = pair_distance
        self.full_size = full_size
        self.spread_ratio = spread_ratio
        self.absorb_distance = absorb_distance
        self.duplicate_distance = duplicate_distance
        self.pca_components = pca_components
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs
        self.random_state = random_state

    # scikit-learn's parameter protocol, without importing scikit-learn.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments by name, as scikit-learn's get_params (`deep` is ignored)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> FaceClusterer:
        """Set constructor arguments by name and return self; ValueError for an unknown name."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{key!r} is not a parameter of FaceClusterer")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"FaceClusterer({args})"

    def _check_params(self) -> None:
        for name, rule in CLUSTERER.items():
            check(name, getattr(self, name), rule)
        if not isinstance(self.n_jobs, int | np.integer) or self.n_jobs == 0 or self.n_jobs < -1:
            raise ValueError(f"n_jobs must be a positive integer or -1, got {self.n_jobs!r}")

    def fit(self, X: Any, y: Any = None, groups: Any = None) -> FaceClusterer:
        """Group the rows of `X` (faces x dimensions); `y` is ignored.

        `groups` (optional, one value per row, e.g. the photo id of each face):
        faces with the same group never end in one cluster (cannot-link).
        """
        self._check_params()
        timings: dict[str, float] = {}
        t = time.perf_counter()
        Xn = _unit_rows(_as_matrix(X, "X"), "X")
        n = len(Xn)
        photo = _as_groups(groups, n)
        min_samples = self.min_samples if self.min_samples is not None else self.min_cluster_size
        timings["validate"] = time.perf_counter() - t
        if n < self.min_cluster_size:
            labels = np.full(n, -1, dtype=np.int64)
            probabilities = np.zeros(n)
        else:
            k = min(n - 1, max(self.n_neighbors, min_samples))
            t = time.perf_counter()
            neighbours, distances = self._neighbours(Xn, k, timings)
            timings["neighbours"] = time.perf_counter() - t
            t = time.perf_counter()
            group, neighbours, distances = _collapse(
                neighbours, distances, float(np.sqrt(2.0 * float(self.duplicate_distance)))
            )
            timings["collapse"] = time.perf_counter() - t
            t = time.perf_counter()
            if len(neighbours) >= 2:
                (labels, probabilities), (one, one_p) = _hdbscan_on_graph(
                    neighbours,
                    distances,
                    min_samples=min(min_samples, k),
                    min_cluster_size=self.min_cluster_size,
                    method=self.cluster_selection_method,
                    epsilon=float(self.cluster_selection_epsilon),
                )
                # HDBSCAN never returns the root of its tree as a cluster (unless
                # told to): a library of one person plus strangers would come out
                # as nobody, or as that person in pieces. When the root is one
                # person (cut at max_distance, it leaves a single piece of
                # min_cluster_size faces or more), all faces are that person and
                # the re-cut below removes the strangers. When hdbscan finds
                # nothing at all, its choice of the root is taken as it is.
                if (
                    self.max_distance is not None
                    and (labels.max(initial=-1) < 0 or one.max(initial=-1) == 0)
                    and self._one_person(Xn)
                ):
                    labels = np.zeros(len(labels), dtype=np.int64)
                    probabilities = np.where(one == 0, one_p, 0.0)
                elif labels.max(initial=-1) < 0:
                    labels, probabilities = one, one_p
            else:
                labels, probabilities = np.full(1, -1, dtype=np.int64), np.zeros(1)
            # A group of near-duplicates left alone is still min_cluster_size photos
            # of one face: a person.
            sizes = np.bincount(group)
            alone = np.flatnonzero((labels < 0) & (sizes >= self.min_cluster_size))
            labels[alone] = labels.max(initial=-1) + 1 + np.arange(len(alone))
            probabilities[alone] = 1.0
            labels, probabilities = labels[group], probabilities[group]
            timings["hdbscan"] = time.perf_counter() - t
            if self.max_distance is not None or photo is not None:
                t = time.perf_counter()
                labels = _recut(
                    Xn,
                    labels,
                    self._cut(),
                    self.min_cluster_size,
                    np.random.default_rng(self.random_state),
                    photo,
                )
                timings["recut"] = time.perf_counter() - t
            if self.absorb_distance is not None:
                t = time.perf_counter()
                labels = _absorb(Xn, labels, float(self.absorb_distance), photo)
                timings["absorb"] = time.perf_counter() - t
        self.labels_ = _renumber(labels)
        self.probabilities_ = np.where(self.labels_ >= 0, probabilities, 0.0)
        self.n_clusters_ = int(self.labels_.max()) + 1 if n else 0
        self.n_features_in_ = int(Xn.shape[1])
        self.timings_ = timings
        return self

    def _one_person(self, Xn: FloatArray) -> bool:
        """Whether the average-linkage cut of all faces leaves one piece of a person."""
        part = _average_linkage_cut(Xn, self._cut(), np.random.default_rng(self.random_state))
        sizes = np.bincount(part[part >= 0])
        return int(np.sum(sizes >= self.min_cluster_size)) == 1

    def _cut(self) -> _Cut:
        """The re-cut's thresholds (max_distance None: none, only photos kept apart)."""
        if self.max_distance is None:
            return _Cut(2.0, 2.0, self.full_size)
        pair = self.max_distance if self.pair_distance is None else self.pair_distance
        ratio = None if self.spread_ratio is None else float(self.spread_ratio)
        return _Cut(float(self.max_distance), float(pair), self.full_size, ratio)

    def fit_predict(self, X: Any, y: Any = None, groups: Any = None) -> IntArray:
        """Fit on the embeddings `X` (`y` ignored); one label per face, -1 for no person."""
        return self.fit(X, groups=groups).labels_

    # -- neighbours ----------------------------------------------------------------

    def _neighbours(
        self, Xn: FloatArray, k: int, timings: dict[str, float]
    ) -> tuple[IntArray, npt.NDArray[np.float64]]:
        """(n, k) indices of the k nearest other faces and their euclidean distances."""
        n = len(Xn)
        if n <= EXACT_NEIGHBOURS_UP_TO or not _have_hnswlib():
            # Without hnswlib (an optional speed-up) large inputs are exact too:
            # same memory, time quadratic (minutes for 100k faces).
            return _exact_neighbours(Xn, k)
        t = time.perf_counter()
        Z = _pca(Xn, self.pca_components, self.random_state)
        timings["pca"] = time.perf_counter() - t
        candidates = min(n, 2 * k + 1) if Z is not Xn else min(n, k + 1)
        t = time.perf_counter()
        found = _hnsw_candidates(Z, candidates, self._threads(), self.random_state)
        timings["hnsw"] = time.perf_counter() - t
        return _rerank(Xn, found, k)

    def _threads(self) -> int:
        return (os.cpu_count() or 1) if self.n_jobs == -1 else int(self.n_jobs)


def _have_hnswlib() -> bool:
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pca(Xn: FloatArray, components: int | None, seed: int) -> FloatArray:
    """Projection on the leading principal axes (fitted on a sample), or Xn itself."""
    if components is None or components >= Xn.shape[1]:
        return Xn
    rng = np.random.default_rng(seed)
    sample = Xn if len(Xn) <= PCA_SAMPLE else Xn[rng.choice(len(Xn), PCA_SAMPLE, replace=False)]
    mean = sample.mean(axis=0)
    centred = (sample - mean).astype(np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    axes = vectors[:, ::-1][:, :components].astype(np.float32)
    return np.ascontiguousarray((Xn - mean) @ axes, dtype=np.float32)


def _exact_neighbours(Xn: FloatArray, k: int) -> tuple[IntArray, npt.NDArray[np.float64]]:
    n = len(Xn)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float64)
    for s in range(0, n, _BLOCK):
        sim = Xn[s : s + _BLOCK] @ Xn.T
        rows = np.arange(sim.shape[0])
        sim[rows, rows + s] = -np.inf  # not its own neighbour
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx[s : s + _BLOCK] = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(top, order, axis=1).astype(np.float64)
        dist[s : s + _BLOCK] = np.sqrt(np.maximum(2.0 - 2.0 * best, 0.0))
    return idx, dist


def _hnsw_candidates(Z: FloatArray, k: int, threads: int, seed: int) -> IntArray:
    import hnswlib

    n, d = Z.shape
    index = hnswlib.Index(space="l2", dim=d)
    index.init_index(
        max_elements=n, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M, random_seed=seed
    )
    index.set_num_threads(max(1, threads))
    index.add_items(Z, np.arange(n))
    index.set_ef(max(k, HNSW_EF_SEARCH))
    labels, _ = index.knn_query(Z, k=k)
    return labels.astype(np.int64)


def _rerank(
    Xn: FloatArray, candidates: IntArray, k: int
) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """The k nearest other faces among the candidates, by exact distance."""
    n = len(Xn)
    dist = np.empty(candidates.shape, dtype=np.float32)
    for s in range(0, n, _BLOCK):
        b = slice(s, s + _BLOCK)
        sim = np.einsum("ij,ikj->ik", Xn[b], Xn[candidates[b]])
        dist[b] = np.sqrt(np.maximum(2.0 - 2.0 * sim, 0.0))
    dist[candidates == np.arange(n)[:, None]] = np.inf  # the face itself
    dist[candidates < 0] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(candidates, order, axis=1),
        np.take_along_axis(dist, order, axis=1).astype(np.float64),
    )


def _collapse(
    neighbours: IntArray, distances: npt.NDArray[np.float64], threshold: float
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Near-duplicate faces (bursts, copies) merged into one point of the graph.

    Faces joined by neighbour links of at most `threshold` (euclidean) form a
    group. Returns each face's group (0..m-1, numbered by first face) and the
    groups' neighbour graph: (m, k) neighbour groups and distances, nearest first,
    padded with -1 / inf; the distance between two groups is the smallest between
    their faces among the neighbour links.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, k = neighbours.shape
    close = (distances <= threshold) & (neighbours >= 0)
    if threshold <= 0 or not close.any():
        return np.arange(n, dtype=np.int64), neighbours, distances
    rows = np.repeat(np.arange(n), k)[close.ravel()]
    links = coo_matrix((np.ones(len(rows)), (rows, neighbours[close])), shape=(n, n))
    _, part = connected_components(links, directed=False)
    # Number the groups in the order of their first face.
    _, first = np.unique(part, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    group = rank[part]
    m = len(first)
    # Every face's links, seen from its group; keep the shortest per pair of groups.
    valid = (neighbours >= 0) & np.isfinite(distances)
    src = np.repeat(group, k)[valid.ravel()]
    dst = group[neighbours[valid]]
    dist = distances[valid]
    other = src != dst
    src, dst, dist = src[other], dst[other], dist[other]
    order = np.lexsort((dist, dst, src))
    src, dst, dist = src[order], dst[order], dist[order]
    keep = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])][: len(src)]
    src, dst, dist = src[keep], dst[keep], dist[keep]
    # Back to rows, nearest first, at most k per group.
    order = np.lexsort((dist, src))
    src, dst, dist = src[order], dst[order], dist[order]
    starts = np.searchsorted(src, np.arange(m))
    pos = np.arange(len(src)) - starts[src]
    fits = pos < k
    out_nb = np.full((m, k), -1, dtype=np.int64)
    out_d = np.full((m, k), np.inf, dtype=np.float64)
    out_nb[src[fits], pos[fits]] = dst[fits]
    out_d[src[fits], pos[fits]] = dist[fits]
    return group, out_nb, out_d


# --- HDBSCAN on the neighbour graph ----------------------------------------------------


def _hdbscan_on_graph(
    neighbours: IntArray,
    distances: npt.NDArray[np.float64],
    min_samples: int,
    min_cluster_size: int,
    method: str,
    epsilon: float,
) -> tuple[tuple[IntArray, FloatArray64], tuple[IntArray, FloatArray64]]:
    """HDBSCAN from each face's nearest neighbours (hdbscan's tree and selection).

    Returns (labels, probabilities) twice: as hdbscan selects by default (never the
    root of the tree), and with ``allow_single_cluster`` (the root may be chosen).
    """
    from hdbscan._hdbscan_linkage import label
    from hdbscan.hdbscan_ import _tree_to_labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    n, k = neighbours.shape
    # Core distance as hdbscan's boruvka computes it: to the min_samples-th other face.
    core = distances[:, min_samples - 1]
    rows = np.repeat(np.arange(n), k)
    cols = neighbours.ravel()
    reach = np.maximum(distances.ravel(), np.maximum(core[rows], core[cols]))
    keep = np.isfinite(reach) & (rows != cols) & (cols >= 0)
    lo = np.minimum(rows, cols)[keep]
    hi = np.maximum(rows, cols)[keep]
    reach = reach[keep]
    # One edge per pair (coo -> csr would add duplicates up); scipy ignores zero
    # weights, so identical faces get a tiny positive one.
    _, first = np.unique(lo * n + hi, return_index=True)
    lo, hi, reach = lo[first], hi[first], np.maximum(reach[first], 1e-12)
    graph = coo_matrix((reach, (lo, hi)), shape=(n, n)).tocsr()
    n_parts, part = connected_components(graph, directed=False)
    if n_parts > 1:
        # Parts with no neighbour link between them hang together only far above
        # any cluster: link them by one very long edge each.
        _, reps = np.unique(part, return_index=True)
        longest = float(reach.max(initial=0.0)) * 2 + 10.0
        links = coo_matrix(
            (np.full(n_parts - 1, longest), (np.full(n_parts - 1, reps[0]), reps[1:])),
            shape=(n, n),
        )
        graph = (graph + links.tocsr()).tocsr()
    mst = minimum_spanning_tree(graph).tocoo()
    edges = np.column_stack([mst.row, mst.col, mst.data]).astype(np.float64)
    edges[edges[:, 2] <= 1e-12, 2] = 0.0
    edges = edges[np.argsort(edges[:, 2], kind="stable")]
    tree = label(edges)
    found = []
    for single in (False, True):
        labels, probabilities, *_ = _tree_to_labels(
            None,
            tree,
            min_cluster_size=min_cluster_size,
            cluster_selection_method=method,
            cluster_selection_epsilon=epsilon,
            allow_single_cluster=single,
        )
        found.append((labels.astype(np.int64), np.asarray(probabilities, dtype=np.float64)))
    return found[0], found[1]


# --- the re-cut ---------------------------------------------------------------------------


def _recut(
    Xn: FloatArray,
    labels: IntArray,
    cut: _Cut,
    min_size: int,
    rng: np.random.Generator,
    photo: IntArray | None = None,
) -> IntArray:
    """Every cluster re-cut by average linkage (cosine) under `cut`; small pieces: noise.

    With `photo`, no piece holds two faces of one photo (see `_average_linkage_cut`).
    """
    out = np.full(len(labels), -1, dtype=np.int64)
    next_label = 0
    for members in _groups(labels):
        part = _average_linkage_cut(
            Xn[members], cut, rng, None if photo is None else photo[members]
        )
        sizes = np.bincount(part[part >= 0])
        for piece in np.flatnonzero(sizes >= min_size):
            out[members[part == piece]] = next_label
            next_label += 1
    return out


def _average_linkage_cut(
    V: FloatArray,
    cut: _Cut,
    rng: np.random.Generator,
    photo: IntArray | None = None,
) -> IntArray:
    """Pieces 0.. of the rows of V grouped by average linkage (cosine) under `cut`.

    Two pieces merge, closest first, while their average distance is at most
    ``cut.threshold`` of their sizes: pair_distance for two single faces, growing
    to max_distance for pieces of full_size faces together. (With pair_distance >=
    max_distance this is the plain average-linkage tree cut at max_distance.)

    Above LINKAGE_SAMPLE rows the pieces are made on a sample; every other row
    joins the piece at the smallest average distance, or none (-1) if even that is
    above the threshold for one face joining that piece.

    With `photo` (one group per row) no piece holds two rows of one group
    (cannot-link): the tree's merges are replayed bottom-up and a merge that would
    put two faces of one photo together is refused (both sides stay pieces, and so
    does every piece under a refused merge); then the pieces are merged again by
    average linkage as above, never across a photo. A face that cannot stay in
    any piece (a stranger next to a person of its own photo) is left alone. After
    the sample path, a piece that still has two faces of one photo keeps the one
    nearest its centre; the others are left out (-1).
    """
    from scipy.cluster.hierarchy import linkage

    n = len(V)
    conflict = photo is not None and len(np.unique(photo)) < n
    centre = V.sum(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    # No two rows further apart than the lowest threshold (cosine): nothing to cut.
    # By the triangle inequality, |x - y| <= 2 max |x - c| on the unit sphere.
    radius2 = float(np.max(2.0 - 2.0 * (V @ centre))) if n else 0.0
    if n < 2 or (2.0 * radius2 <= cut.low and not conflict):
        return np.zeros(n, dtype=np.int64)
    if n > LINKAGE_SAMPLE:
        pick = np.sort(rng.choice(n, LINKAGE_SAMPLE, replace=False))
        part = _average_linkage_cut(V[pick], cut, rng, None if photo is None else photo[pick])
        # The other faces join the piece at the smallest average distance
        # (1 - x . mean of the piece's unit vectors).
        kept = part >= 0
        if not kept.any():
            return np.full(n, -1, dtype=np.int64)
        order = np.argsort(part[kept], kind="stable")
        pk = part[kept][order]
        starts = np.flatnonzero(np.r_[True, np.diff(pk) != 0])
        sizes = np.diff(np.r_[starts, len(order)])
        sums = np.add.reduceat(V[pick][kept][order].astype(np.float64), starts, axis=0)
        means = (sums / sizes[:, None]).astype(np.float32)
        nearest = np.empty(n, dtype=np.int64)
        closest = np.empty(n, dtype=np.float32)
        for s in range(0, n, _BLOCK):  # in blocks: pieces may be many
            sim = V[s : s + _BLOCK] @ means.T
            nearest[s : s + _BLOCK] = np.argmax(sim, axis=1)
            closest[s : s + _BLOCK] = sim.max(axis=1)
        best = pk[starts][nearest]
        best[1.0 - closest > cut.threshold(1, sizes[nearest])] = -1
        best[pick] = part
        if photo is not None:
            best = _one_face_per_photo(V, best, photo)
        return best.astype(np.int64)
    sim = V @ V.T
    iu = np.triu_indices(n, 1)
    merges = linkage(np.clip(1.0 - sim[iu].astype(np.float64), 0.0, 2.0), method="average")
    if not conflict and cut.flat and cut.spread_ratio is None:
        return _cut_below(merges, n, cut.max_distance)
    return _constrained_cut(V, merges, cut, photo)


def _cut_below(merges: npt.NDArray[np.float64], n: int, max_distance: float) -> IntArray:
    """Pieces 0.. of the leaves of a (monotone) linkage tree cut at `max_distance`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # Heights are monotone for average linkage: the merges below the cut are a
    # prefix; the pieces are the connected parts of the leaves under those merges.
    below = int(np.searchsorted(merges[:, 2], max_distance, side="right"))
    node = n + np.arange(below)
    ends = np.concatenate([merges[:below, 0], merges[:below, 1]]).astype(np.int64)
    graph = coo_matrix(
        (np.ones(2 * below), (ends, np.concatenate([node, node]))), shape=(2 * n - 1, 2 * n - 1)
    )
    _, part = connected_components(graph, directed=False)
    return np.unique(part[:n], return_inverse=True)[1].astype(np.int64)


@dataclass(frozen=True)
class _Cut:
    """Where average linkage stops merging: two pieces of a and b faces merge while
    their average cosine distance is at most `threshold(a, b)`, which grows linearly
    with a + b from `pair_distance` (two single faces) to `max_distance` (pieces
    holding `full_size` faces together, or more)."""

    max_distance: float
    pair_distance: float
    full_size: int
    spread_ratio: float | None = None
    """Pieces of SPREAD_MIN_FACES faces or more merge only while their average
    distance is at most this times the larger of their own spreads."""

    @property
    def low(self) -> float:
        return min(self.pair_distance, self.max_distance)

    @property
    def flat(self) -> bool:
        return self.pair_distance >= self.max_distance

    def threshold(self, a: Any, b: Any) -> npt.NDArray[np.float64]:
        size = np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64)
        if self.flat:
            return np.full(size.shape, self.max_distance)
        share = np.clip((size - 2.0) / max(self.full_size - 2, 1), 0.0, 1.0)
        return self.pair_distance + (self.max_distance - self.pair_distance) * share


def _constrained_cut(
    V: FloatArray, merges: npt.NDArray[np.float64], cut: _Cut, photo: IntArray | None
) -> IntArray:
    """Average-linkage pieces under `cut`, never two rows of one photo together.

    See `_average_linkage_cut`. Rows that end alone are pieces of one row.
    """
    n = len(V)
    photo = (
        np.arange(n, dtype=np.int64)
        if photo is None
        else np.unique(photo, return_inverse=True)[1].reshape(n)
    )
    shared_photos = int(photo.max()) + 1 < n
    low = cut.low
    # 1. Replay the tree below the lowest threshold; a node is one piece, or None
    # when a merge under it was refused (its pieces are then final).
    piece_of = np.arange(n, dtype=np.int64)  # row -> piece (union-find root row)
    photos: dict[int, set[int]] = {i: {int(photo[i])} for i in range(n)}
    node_piece: list[int | None] = list(range(n))
    for a, b, height, _ in merges:
        if height > low:
            break
        pa, pb = node_piece[int(a)], node_piece[int(b)]
        if pa is None or pb is None or photos[pa] & photos[pb]:
            node_piece.append(None)
            continue
        if len(photos[pa]) < len(photos[pb]):
            pa, pb = pb, pa
        photos[pa] |= photos.pop(pb)
        piece_of[piece_of == pb] = pa
        node_piece.append(pa)
    roots, part = np.unique(piece_of, return_inverse=True)
    m = len(roots)
    if m == 1:
        return np.zeros(n, dtype=np.int64)
    # 2. Merge the pieces again by average linkage, refusing merges across a photo.
    # Average cosine similarity of two pieces = sum_a . sum_b / (n_a n_b).
    sums = np.zeros((m, V.shape[1]), dtype=np.float64)
    np.add.at(sums, part, V.astype(np.float64))
    count = np.bincount(part, minlength=m).astype(np.float64)
    if shared_photos:
        from scipy.sparse import csr_matrix

        member = csr_matrix(
            (np.ones(n, dtype=np.int32), (part, photo)), shape=(m, int(photo.max()) + 1)
        )
        clash = (member @ member.T).toarray() > 0
    else:
        clash = np.eye(m, dtype=bool)
    dist = 1.0 - (sums @ sums.T) / np.outer(count, count)
    dist[clash] = np.inf  # includes the diagonal
    dist[dist > cut.threshold(count[:, None], count[None, :])] = np.inf
    if cut.spread_ratio is not None:
        spread = _spread(sums, count)
        dist[dist > cut.spread_ratio * np.maximum(spread[:, None], spread[None, :])] = np.inf
    alive = np.ones(m, dtype=bool)
    target = np.arange(m)
    while True:
        flat = int(np.argmin(dist))
        i, j = divmod(flat, m)
        if not np.isfinite(dist[i, j]):
            break
        # j joins i.
        sums[i] += sums[j]
        count[i] += count[j]
        clash[i] |= clash[j]
        clash[:, i] = clash[i]
        alive[j] = False
        target[target == j] = i
        row = 1.0 - (sums @ sums[i]) / (count * count[i])
        row[clash[i] | ~alive] = np.inf
        row[row > cut.threshold(count, count[i])] = np.inf
        if cut.spread_ratio is not None:
            spread = _spread(sums, count)
            row[row > cut.spread_ratio * np.maximum(spread, spread[i])] = np.inf
        dist[i], dist[:, i] = row, row
        dist[j], dist[:, j] = np.inf, np.inf
    return np.unique(target[part], return_inverse=True)[1].astype(np.int64)


def _spread(
    sums: npt.NDArray[np.float64], count: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Average cosine distance between the faces of each piece (from the sums of
    their unit vectors); inf for pieces of fewer than SPREAD_MIN_FACES faces."""
    n = count
    within = 1.0 - (np.einsum("ij,ij->i", sums, sums) - n) / np.maximum(n * (n - 1), 1)
    return np.where(n >= SPREAD_MIN_FACES, within, np.inf)


def _one_face_per_photo(V: FloatArray, part: IntArray, photo: IntArray) -> IntArray:
    """In every piece, of several faces of one photo only the one nearest the
    piece's mean stays; the others are left out (-1)."""
    out = part.copy()
    grouped = np.flatnonzero(part >= 0)
    if not len(grouped):
        return out
    p = part[grouped]
    sums = np.zeros((int(p.max()) + 1, V.shape[1]), dtype=np.float64)
    np.add.at(sums, p, V[grouped].astype(np.float64))
    score = np.einsum("ij,ij->i", V[grouped].astype(np.float64), sums[p])
    order = np.lexsort((-score, photo[grouped], p))
    g, ph = p[order], photo[grouped][order]
    repeat = np.r_[False, (g[1:] == g[:-1]) & (ph[1:] == ph[:-1])]
    out[grouped[order][repeat]] = -1
    return out


def _absorb(Xn: FloatArray, labels: IntArray, limit: float, photo: IntArray | None) -> IntArray:
    """Small pieces join the large cluster they are clearly closest to (see step 7)."""
    labels = labels.copy()
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    large = ids[counts >= ABSORB_INTO_FACES]
    small = ids[counts <= ABSORB_MAX_FACES]
    if len(large) == 0 or len(small) == 0:
        return labels
    members = {int(labels[g[0]]): g for g in _groups(labels)}
    means = np.stack([Xn[members[int(c)]].mean(axis=0) for c in large])
    for c in small:
        rows = members[int(c)]
        # average cosine distance between the piece and each large cluster
        d = 1.0 - means @ Xn[rows].mean(axis=0)
        order = np.argsort(d)
        best = int(order[0])
        if d[best] > limit or (len(d) > 1 and d[order[1]] - d[best] < ABSORB_MARGIN):
            continue
        target = int(large[best])
        if photo is not None and np.intersect1d(photo[rows], photo[members[target]]).size:
            continue
        labels[rows] = target
        members[target] = np.r_[members[target], rows]
    return labels


def _groups(labels: IntArray) -> list[IntArray]:
    """Indices of the members of every cluster (noise left out)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    ends = np.r_[starts[1:], len(order)]
    return [order[s:e] for s, e in zip(starts, ends, strict=True) if sorted_labels[s] >= 0]


def _renumber(labels: IntArray) -> IntArray:
    """Clusters numbered 0.. by decreasing size (ties: by old label); noise stays -1."""
    out = np.full(len(labels), -1, dtype=np.int64)
    valid = labels >= 0
    if not valid.any():
        return out
    ids, counts = np.unique(labels[valid], return_counts=True)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.lexsort((ids, -counts))] = np.arange(len(ids))
    out[valid] = rank[np.searchsorted(ids, labels[valid])]
    return out


# --- incremental assignment --------------------------------------------------------------


def person_prototypes(
    X: Any, labels: Any, k: int = 5, iterations: int = 5
) -> tuple[FloatArray, IntArray]:
    """Up to `k` representative faces per person (label >= 0; -1 rows are ignored).

    A person with at most `k` faces is represented by all of them. A larger one is
    split by a few rounds of spherical k-means (seeded with the face nearest the
    person's mean, then farthest-first), and each part is represented by its
    member nearest the part's centre, i.e. actual faces ("medoid-ish"), most
    populous part first; a part of a single face is dropped when the person has
    more than 2k faces (one stray face should not attract new faces).

    Returns unit-length prototypes (m, d) float32 and their labels (m,) int64.
    """
    check("k", k, Range(1, integer=True))
    Xn = _unit_rows(_as_matrix(X, "X"), "X")
    lab = np.asarray(labels)
    if lab.shape != (len(Xn),) or not (lab.size == 0 or np.issubdtype(lab.dtype, np.integer)):
        raise ValueError(
            f"labels must be {len(Xn)} integers (one per row of X), got shape {lab.shape} "
            f"dtype {lab.dtype}"
        )
    lab = lab.astype(np.int64)
    protos: list[FloatArray] = []
    proto_labels: list[IntArray] = []
    for members in _groups(lab):
        chosen = members if len(members) <= k else members[_medoids(Xn[members], k, iterations)]
        protos.append(Xn[chosen])
        proto_labels.append(lab[chosen])
    if not protos:
        return np.zeros((0, Xn.shape[1]), np.float32), np.zeros(0, np.int64)
    return np.concatenate(protos).astype(np.float32), np.concatenate(proto_labels)


def _medoids(V: FloatArray, k: int, iterations: int) -> IntArray:
    mean = V.mean(axis=0)
    seeds = [int(np.argmax(V @ mean))]
    nearest = V @ V[seeds[0]]
    for _ in range(1, k):
        seeds.append(int(np.argmin(nearest)))
        nearest = np.maximum(nearest, V @ V[seeds[-1]])
    centres = V[seeds].astype(np.float64)
    for _ in range(iterations):
        part = np.argmax(V @ centres.T, axis=1)
        for j in range(k):
            total = V[part == j].sum(axis=0)
            norm = np.linalg.norm(total)
            if norm > 0:
                centres[j] = total / norm
    sim = V @ centres.T
    part = np.argmax(sim, axis=1)
    support = np.bincount(part, minlength=k)
    chosen: list[int] = []
    for j in np.argsort(-support, kind="stable"):
        if support[j] == 0 or (support[j] == 1 and len(V) > 2 * k):
            continue
        members = np.flatnonzero(part == j)
        chosen.append(int(members[np.argmax(sim[members, j])]))
    if not chosen:  # every part a single face: keep the most central one
        chosen = [seeds[0]]
    return np.asarray(chosen, dtype=np.int64)


def nearest_prototypes(
    queries: Any,
    prototypes: Any,
    labels: Any,
    chunk: int = 65536,
    prototypes_normalised: bool = False,
) -> tuple[IntArray, FloatArray]:
    """For each query, the label of its nearest prototype and the cosine distance to it.

    Brute force over `prototypes` in chunks of `chunk` rows (memory: m x chunk
    floats). With no prototypes every label is -1 and every distance inf.
    `prototypes_normalised=True` says the prototypes are already finite float32
    unit rows (as `person_prototypes` returns them): they are then used as they
    are, which saves a pass over them on every call.
    """
    Q = _unit_rows(_as_matrix(queries, "queries"), "queries")
    if prototypes_normalised and isinstance(prototypes, np.ndarray) and prototypes.ndim == 2:
        P = prototypes.astype(np.float32, copy=False)
    else:
        P = _as_matrix(prototypes, "prototypes")
        if len(P):
            P = _unit_rows(P, "prototypes")
    lab = np.asarray(labels)
    if lab.shape != (len(P),):
        raise ValueError(
            f"labels must have one entry per prototype ({len(P)}), got shape {lab.shape}"
        )
    if len(P) and P.shape[1] != Q.shape[1]:
        raise ValueError(f"queries have {Q.shape[1]} dimensions but prototypes have {P.shape[1]}")
    check("chunk", chunk, Range(1, integer=True))
    best_sim = np.full(len(Q), -np.inf, dtype=np.float32)
    best = np.full(len(Q), -1, dtype=np.int64)
    rows = np.arange(len(Q))
    for s in range(0, len(P), chunk):
        sim = Q @ P[s : s + chunk].T
        j = np.argmax(sim, axis=1)
        value = sim[rows, j]
        better = value > best_sim
        best_sim[better] = value[better]
        best[better] = j[better] + s
    found = best >= 0
    out = np.full(len(Q), -1, dtype=np.int64)
    out[found] = lab[best[found]].astype(np.int64)
    distance = np.full(len(Q), np.inf, dtype=np.float32)
    distance[found] = np.clip(1.0 - best_sim[found], 0.0, 2.0)
    return out, distance
