"""FaceClusterer and the prototype helpers on small synthetic embeddings (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from photogroup.core import cluster
from photogroup.core.cluster import FaceClusterer, nearest_prototypes, person_prototypes

DIM = 128


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def blobs(
    sizes: list[int], spread: float = 0.05, n_noise: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """People as tight blobs around random directions (same-person cosine distance
    about 128 * spread**2 / (1 + 128 * spread**2) ~ 0.24), plus noise faces (-1):
    strangers at cosine distance 1 from each other and from the blobs' centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((len(sizes), DIM)))
    X = [
        unit(c + spread * rng.standard_normal((s, DIM)))
        for c, s in zip(centres, sizes, strict=True)
    ]
    X.append(strangers(n_noise, rng, away_from=centres))
    y = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)] + [np.full(n_noise, -1)])
    order = rng.permutation(len(y))
    return np.concatenate(X)[order], y[order]


def strangers(n: int, rng: np.random.Generator, away_from: np.ndarray | None = None) -> np.ndarray:
    """n unit vectors orthogonal to each other and to the rows of `away_from`."""
    known = np.zeros((0, DIM)) if away_from is None else away_from
    q, _ = np.linalg.qr(np.concatenate([known, rng.standard_normal((DIM - len(known), DIM))]).T)
    return q.T[len(known) : len(known) + n].astype(np.float32)


def assert_same_grouping(truth: np.ndarray, labels: np.ndarray) -> None:
    """Every true person is exactly one predicted cluster (one-to-one), noise is -1."""
    people = sorted(set(truth[truth >= 0]))
    found = set()
    for p in people:
        got = set(labels[truth == p])
        assert len(got) == 1 and -1 not in got, f"person {p} spread over {got}"
        found |= got
    assert len(found) == len(people)
    assert set(labels[truth < 0]) <= {-1}


def test_separated_blobs_are_found() -> None:
    X, y = blobs([30, 20, 10, 5, 2], n_noise=15)
    model = FaceClusterer().fit(X)
    assert_same_grouping(y, model.labels_)
    assert model.n_clusters_ == 5
    # Clusters are numbered by decreasing size.
    sizes = np.bincount(model.labels_[model.labels_ >= 0])
    assert list(sizes) == [30, 20, 10, 5, 2]
    assert model.probabilities_.shape == (len(X),)
    assert np.all(model.probabilities_[model.labels_ < 0] == 0)
    assert np.all((model.probabilities_ >= 0) & (model.probabilities_ <= 1))
    assert model.n_features_in_ == DIM


def test_noise_faces_are_unassigned() -> None:
    X = strangers(40, np.random.default_rng(3))
    assert np.all(FaceClusterer().fit(X).labels_ == -1)
    assert np.all(FaceClusterer().fit(X).probabilities_ == 0)


def test_one_person_library() -> None:
    # HDBSCAN alone either finds nobody or the person in pieces.
    X, y = blobs([25], n_noise=5, seed=11)
    labels = FaceClusterer().fit(X).labels_
    assert set(labels[y == 0]) <= {0, -1} and np.mean(labels[y == 0] == 0) >= 0.8
    assert set(labels[y < 0]) == {-1}
    assert list(FaceClusterer().fit(X[y == 0][:3]).labels_) == [0, 0, 0]


def test_fit_returns_self_and_fit_predict() -> None:
    X, _ = blobs([6, 6])
    model = FaceClusterer()
    assert model.fit(X) is model
    assert np.array_equal(FaceClusterer().fit_predict(X), model.labels_)


def test_init_only_stores_parameters() -> None:
    model = FaceClusterer(min_cluster_size=3, max_distance=None)
    assert model.get_params()["min_cluster_size"] == 3
    assert model.get_params()["max_distance"] is None
    assert not hasattr(model, "labels_")
    assert model.set_params(min_samples=2) is model and model.min_samples == 2
    with pytest.raises(ValueError, match="'nope'"):
        model.set_params(nope=1)


def test_scale_and_dtype_do_not_matter() -> None:
    X, y = blobs([8, 8, 8], seed=2)
    a = FaceClusterer().fit(X).labels_
    b = FaceClusterer().fit((X * 7.5).astype(np.float64)).labels_
    assert np.array_equal(a, b)
    assert_same_grouping(y, a)


def test_duplicates_and_tiny_inputs() -> None:
    X, y = blobs([5, 5], seed=4)
    X = np.concatenate([X, X[:3]])  # the same photo stored twice
    y = np.concatenate([y, y[:3]])
    assert_same_grouping(y, FaceClusterer().fit(X).labels_)
    assert FaceClusterer().fit(np.zeros((0, DIM))).labels_.shape == (0,)
    assert list(FaceClusterer().fit(X[:1]).labels_) == [-1]
    assert list(FaceClusterer().fit(np.stack([X[0], X[0]])).labels_) == [0, 0]


def test_recut_splits_what_hdbscan_merged() -> None:
    # Two look-alikes A and B (centres ~0.36 apart, cosine) and a third person C. A
    # large epsilon makes HDBSCAN put A and B together; the average-linkage re-cut
    # at a distance between their spread (~0.1) and their separation parts them.
    rng = np.random.default_rng(5)
    a, c = unit(rng.standard_normal((2, DIM)))
    b = unit(a + 1.2 * unit(rng.standard_normal(DIM)))
    X = np.concatenate([unit(v + 0.03 * rng.standard_normal((10, DIM))) for v in (a, b, c)])
    y = np.repeat([0, 1, 2], 10)
    params = {"cluster_selection_epsilon": 1.0}
    merged = FaceClusterer(max_distance=None, **params).fit(X).labels_
    assert len(set(merged[:20])) == 1 and set(merged[20:]).isdisjoint(merged[:20])
    split = FaceClusterer(max_distance=0.3, **params).fit(X).labels_
    assert_same_grouping(y, split)


def test_large_input_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The approximate neighbour search (PCA + HNSW + exact re-ranking) on a small
    # input, by lowering the size where it takes over.
    pytest.importorskip("hnswlib")
    monkeypatch.setattr(cluster, "EXACT_NEIGHBOURS_UP_TO", 10)
    X, y = blobs([40, 25, 12, 6, 3], n_noise=20, seed=6)
    model = FaceClusterer(pca_components=16).fit(X)
    assert "hnsw" in model.timings_
    assert_same_grouping(y, model.labels_)
    exact = FaceClusterer(pca_components=16)
    monkeypatch.setattr(cluster, "EXACT_NEIGHBOURS_UP_TO", 10_000)
    assert np.array_equal(exact.fit(X).labels_, model.labels_)


def test_large_input_without_hnswlib(monkeypatch: pytest.MonkeyPatch) -> None:
    # hnswlib is optional: without it the neighbours are exact.
    monkeypatch.setattr(cluster, "EXACT_NEIGHBOURS_UP_TO", 10)
    monkeypatch.setattr(cluster, "_have_hnswlib", lambda: False)
    X, y = blobs([20, 10, 4], n_noise=5, seed=12)
    model = FaceClusterer().fit(X)
    assert "hnsw" not in model.timings_
    assert_same_grouping(y, model.labels_)


def test_large_cluster_recut_on_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "LINKAGE_SAMPLE", 20)
    X, y = blobs([60, 30], seed=7)
    assert_same_grouping(y, FaceClusterer().fit(X).labels_)


def at_distance(u: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at cosine distance `d` from the unit vector `u`."""
    w = rng.standard_normal(DIM)
    w = unit(w - (w @ u) * u)
    return unit((1 - d) * u + np.sqrt(1 - (1 - d) ** 2) * w)


def test_two_single_faces_need_to_be_closer_than_two_big_parts() -> None:
    # The re-cut's threshold grows with the faces two parts hold together: two
    # lone faces at 0.4 (a stranger pair in a library of people seen once) are not
    # a person at the default pair_distance 0.3, but are with a flat 0.65 cut.
    rng = np.random.default_rng(31)
    away = strangers(20, rng)
    u = away[0]
    pair = np.stack([u, at_distance(u, 0.4, rng)])
    X = np.concatenate([pair, away[1:]])
    assert list(FaceClusterer().fit(X).labels_[:2]) == [-1, -1]
    assert len(set(FaceClusterer(pair_distance=None).fit(X).labels_[:2]) - {-1}) == 1
    close = np.concatenate([np.stack([u, at_distance(u, 0.2, rng)]), away[1:]])
    labels = FaceClusterer().fit(close).labels_
    assert labels[0] == labels[1] >= 0
    # Two parts of 8 faces each, about 0.5 apart on average (kept together by
    # HDBSCAN with a large epsilon): one person by the size rule alone (16 faces:
    # max_distance 0.6), two at a flat cut at 0.45.
    a = unit(rng.standard_normal(DIM))
    b = at_distance(a, 0.45, rng)
    X = np.concatenate([unit(v + 0.025 * rng.standard_normal((8, DIM))) for v in (a, b)])
    eps = {"cluster_selection_epsilon": 1.0, "spread_ratio": None}
    assert len(set(FaceClusterer(**eps).fit(X).labels_)) == 1
    split = FaceClusterer(max_distance=0.45, pair_distance=None, **eps).fit(X).labels_
    assert len(set(split[:8])) == 1 and set(split[:8]).isdisjoint(split[8:])


def test_two_tight_people_merged_by_hdbscan_are_parted_by_their_spread() -> None:
    # The same two parts are two people: each part's faces lie about 0.07 apart,
    # the parts 0.5 apart, far more than 1.5 times their own spread. The default
    # spread_ratio parts them though they are closer than max_distance.
    rng = np.random.default_rng(32)
    a = unit(rng.standard_normal(DIM))
    b = at_distance(a, 0.45, rng)
    X = np.concatenate([unit(v + 0.025 * rng.standard_normal((8, DIM))) for v in (a, b)])
    y = np.repeat([0, 1], 8)
    eps = {"cluster_selection_epsilon": 1.0}
    assert_same_grouping(y, FaceClusterer(**eps).fit(X).labels_)
    assert len(set(FaceClusterer(spread_ratio=None, **eps).fit(X).labels_)) == 1
    # A spread person (parts as far apart as their own faces) stays one.
    X = unit(a + 0.05 * rng.standard_normal((16, DIM)))
    assert set(FaceClusterer(**eps).fit(X).labels_) == {0}


def two_in_one(labels: np.ndarray, groups: np.ndarray) -> int:
    """Clusters holding two faces of one group (photo)."""
    return sum(
        len(labels[labels == c]) != len(set(groups[labels == c])) for c in set(labels) - {-1}
    )


def test_faces_of_one_photo_are_never_one_person() -> None:
    # Twins A and B (drawn around one centre, indistinguishable by distance) in 12
    # photos together, plus C alone. Without photos they are one cluster; with the
    # photos as cannot-link groups no cluster holds two faces of a photo.
    rng = np.random.default_rng(21)
    twins, c = unit(rng.standard_normal((2, DIM)))
    X = np.concatenate(
        [unit(v + 0.03 * rng.standard_normal((n, DIM))) for v, n in ((twins, 24), (c, 8))]
    )
    photo = np.concatenate([np.repeat(np.arange(12), 2), 100 + np.arange(8)])
    merged = FaceClusterer().fit(X).labels_
    assert len(set(merged[:24])) == 1 and two_in_one(merged, photo) == 1
    model = FaceClusterer().fit(X, groups=photo)
    assert two_in_one(model.labels_, photo) == 0
    assert len(set(model.labels_[:24]) - {-1}) >= 2  # the twins are split, not dropped
    c_label = model.labels_[24]
    assert c_label >= 0 and set(model.labels_[24:]) == {c_label}
    assert c_label not in model.labels_[:24]
    # Photo ids may be any integers or strings.
    names = np.array([f"IMG_{g}.jpg" for g in photo])
    assert np.array_equal(FaceClusterer().fit(X, groups=names).labels_, model.labels_)
    assert np.array_equal(FaceClusterer().fit_predict(X, groups=photo), model.labels_)


def test_a_stranger_beside_a_person_does_not_split_the_person() -> None:
    # 20 photos of A; in three of them a stranger stands beside A whose face is
    # close to A's (a look-alike, or a bad detection). The strangers must not end in
    # A's cluster, and A must stay one person.
    rng = np.random.default_rng(22)
    a = unit(rng.standard_normal(DIM))
    A = unit(a + 0.04 * rng.standard_normal((20, DIM)))
    near = unit(a + 0.06 * rng.standard_normal((3, DIM)))
    X = np.concatenate([A, near])
    photo = np.r_[np.arange(20), [0, 5, 9]]
    assert two_in_one(FaceClusterer().fit(X).labels_, photo) == 1  # without the photos
    labels = FaceClusterer().fit(X, groups=photo).labels_
    assert two_in_one(labels, photo) == 0
    assert len(set(labels[:20])) == 1 and labels[0] >= 0
    # Only faces of the three shared photos may have been left out of A.
    assert np.sum(labels[:20] == labels[1]) >= 17


def test_photo_groups_hold_on_the_sampled_recut(monkeypatch: pytest.MonkeyPatch) -> None:
    # Clusters above LINKAGE_SAMPLE faces are re-cut on a sample; faces of a
    # sampled-out photo must still not share a cluster.
    monkeypatch.setattr(cluster, "LINKAGE_SAMPLE", 20)
    rng = np.random.default_rng(23)
    X = unit(unit(rng.standard_normal(DIM)) + 0.03 * rng.standard_normal((60, DIM)))
    photo = np.arange(60) // 2
    labels = FaceClusterer().fit(X, groups=photo).labels_
    assert two_in_one(labels, photo) == 0
    assert np.sum(labels >= 0) >= 30


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([1, 2], r"one value per face \(4\), got shape \(2,\)"),
        ([0.5, 1.0, 2.0, 3.0], "integers or strings"),
        ("photo", "one value per face"),
    ],
)
def test_bad_groups_are_refused(groups: object, message: str) -> None:
    X, _ = blobs([2, 2])
    with pytest.raises(ValueError, match=message):
        FaceClusterer().fit(X, groups=groups)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.ones(5), r"2-D .* shape \(5,\)"),
        (np.ones((2, 3, 4)), r"shape \(2, 3, 4\)"),
        ([[1.0, float("nan")], [1.0, 2.0]], r"finite, but X\[0, 1\] = nan"),
        ([[1.0, 0.0], [float("-inf"), 2.0]], r"X\[1, 0\] = -inf"),
        ([["a", "b"], ["c", "d"]], r"numbers, got np.str_\('a'\)|numbers, got 'a'"),
        ([[1.0, 2.0], [0.0, 0.0]], r"X\[1\] has length 0.0"),
        ([[1.0, 2.0], [3.0]], "rectangular"),
        ("faces", "'faces'"),
        (np.ones((3, 0)), r"shape \(3, 0\)"),
    ],
)
def test_bad_input_is_refused(X: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceClusterer().fit(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size .* got 1"),
        ({"min_cluster_size": 2.5}, "got 2.5"),
        ({"min_samples": 0}, "min_samples .* got 0"),
        ({"cluster_selection_method": "best"}, "got 'best'"),
        ({"cluster_selection_epsilon": -0.1}, "got -0.1"),
        ({"max_distance": 3.0}, "max_distance .* got 3.0"),
        ({"max_distance": "far"}, "got 'far'"),
        ({"pair_distance": -0.1}, "pair_distance .* got -0.1"),
        ({"full_size": 2}, "full_size .* got 2"),
        ({"spread_ratio": 0}, "spread_ratio .* got 0"),
        ({"pca_components": 0}, "pca_components .* got 0"),
        ({"n_neighbors": 0}, "n_neighbors .* got 0"),
        ({"n_jobs": 0}, "n_jobs .* got 0"),
    ],
)
def test_bad_parameters_are_refused_by_fit(params: dict[str, object], message: str) -> None:
    model = FaceClusterer(**params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        model.fit(blobs([3, 3])[0])


# --- prototypes and incremental assignment ------------------------------------------


def test_person_prototypes() -> None:
    X, y = blobs([3, 40, 12], seed=8)
    y = y.copy()
    y[:4] = -1  # unassigned faces are ignored
    P, labels = person_prototypes(X, y, k=5)
    assert P.shape[1] == DIM and len(P) == len(labels)
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1.0, rtol=1e-5)
    for person in set(y[y >= 0]):
        mine = P[labels == person]
        assert 1 <= len(mine) <= 5
        if np.sum(y == person) <= 5:
            assert len(mine) == np.sum(y == person)
        # Prototypes are actual faces of that person.
        faces = unit(X[y == person])
        assert np.all(np.max(mine @ faces.T, axis=1) > 1 - 1e-5)
    assert -1 not in set(labels)


def test_nearest_prototypes_assigns_new_faces() -> None:
    X, y = blobs([20, 20, 20], seed=9)
    P, labels = person_prototypes(X, y, k=5)
    rng = np.random.default_rng(10)
    # New photos of the same people: faces near each person's faces.
    new = unit(X[:30] + 0.02 * rng.standard_normal((30, DIM)))
    got, dist = nearest_prototypes(new, P, labels)
    assert np.array_equal(got, y[:30])
    assert dist.dtype == np.float32 and np.all((dist >= 0) & (dist < 0.5))
    # The distance is the cosine distance to the nearest prototype.
    expected = 1 - np.max(unit(new) @ P.T, axis=1)
    np.testing.assert_allclose(dist, expected, atol=1e-5)
    # A stranger is far from everyone.
    _, far = nearest_prototypes(unit(rng.standard_normal((1, DIM))), P, labels)
    assert far[0] > 0.6
    # Chunking does not change the answer.
    got2, dist2 = nearest_prototypes(new, P, labels, chunk=7)
    assert np.array_equal(got2, got)
    np.testing.assert_allclose(dist2, dist, atol=1e-6)


def test_nearest_prototypes_edge_cases() -> None:
    q = unit(np.ones((2, 4)))
    got, dist = nearest_prototypes(q, np.zeros((0, 4)), np.zeros(0, dtype=int))
    assert list(got) == [-1, -1] and np.all(np.isinf(dist))
    with pytest.raises(ValueError, match="3 dimensions but prototypes have 4"):
        nearest_prototypes(np.ones((1, 3)), np.ones((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="one entry per prototype"):
        nearest_prototypes(q, np.ones((2, 4)), [0])
    with pytest.raises(ValueError, match=r"queries must be finite, but queries\[0, 0\] = nan"):
        nearest_prototypes([[float("nan"), 1.0, 1.0, 1.0]], np.ones((1, 4)), [0])
    with pytest.raises(ValueError, match="labels must be 2 integers"):
        person_prototypes(np.ones((2, 4)), [0.5, 1.0])


def test_a_small_piece_joins_the_large_cluster_it_is_clearly_closest_to() -> None:
    from photogroup.core.cluster import _absorb

    rng = np.random.default_rng(3)
    dim = 32
    a, b = unit(rng.standard_normal((2, dim)))
    s = 1 / np.sqrt(dim)
    big = unit(a + 0.5 * s * rng.standard_normal((12, dim)))
    other = unit(b + 0.5 * s * rng.standard_normal((12, dim)))
    piece = unit(a + 0.7 * s * rng.standard_normal((2, dim)))
    X = np.concatenate([big, other, piece]).astype(np.float32)
    labels = np.array([0] * 12 + [1] * 12 + [2] * 2)
    assert (_absorb(X, labels, 0.4, None)[-2:] == 0).all()
    # not when a photo of the piece is in the cluster already
    photo = np.arange(len(X))
    photo[-1] = photo[0]
    assert (_absorb(X, labels, 0.4, photo)[-2:] == 2).all()
    # not beyond the distance
    assert (_absorb(X, labels, 0.01, None)[-2:] == 2).all()
    # not when another large cluster is about as close
    twin = unit(a + 0.5 * s * rng.standard_normal((12, dim)))
    X2 = np.concatenate([big, twin, piece]).astype(np.float32)
    assert (_absorb(X2, labels, 0.4, None)[-2:] == 2).all()
