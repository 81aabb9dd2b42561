"""Clustering measures against small examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from photogroup.core.metrics import Score, bcubed, coverage, pairwise

TRUTH = [0, 0, 0, 1, 1]
PRED = [0, 0, 1, 1, 1]


def test_pairwise_by_hand() -> None:
    # True pairs: 3 (class 0) + 1 (class 1) = 4; predicted pairs: 1 + 3 = 4;
    # pairs both put and belonging together: (0,1) and (3,4) = 2.
    s = pairwise(TRUTH, PRED)
    assert s.precision == pytest.approx(2 / 4)
    assert s.recall == pytest.approx(2 / 4)
    assert s.f == pytest.approx(0.5)


def test_bcubed_by_hand() -> None:
    # Per item (precision, recall): 0,1: (1, 2/3); 2: (1/3, 1/3); 3,4: (2/3, 1).
    s = bcubed(TRUTH, PRED)
    assert s.precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert s.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert s.f == pytest.approx(11 / 15)


def test_noise_counts_as_singletons() -> None:
    truth, pred = ["ann", "ann", "bob"], [-1, -1, 0]
    # Two unassigned faces of ann are two clusters, not one.
    b = bcubed(truth, pred)
    assert b.precision == pytest.approx(1.0)
    assert b.recall == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    p = pairwise(truth, pred)
    assert p.precision == 1.0  # nothing put together: nothing wrong
    assert p.recall == 0.0  # the one true pair was missed
    assert coverage(pred) == pytest.approx(1 / 3)


def test_everything_in_one_cluster() -> None:
    truth, pred = [0, 1, 2], [5, 5, 5]
    assert pairwise(truth, pred) == Score(0.0, 1.0)
    b = bcubed(truth, pred)
    assert b.precision == pytest.approx(1 / 3)
    assert b.recall == pytest.approx(1.0)


def test_perfect_and_label_names_do_not_matter() -> None:
    truth = np.array(["a", "a", "b", "c", "c", "c"])
    pred = np.array([7, 7, 3, 9, 9, 9])
    assert pairwise(truth, pred) == Score(1.0, 1.0)
    assert bcubed(truth, pred) == Score(1.0, 1.0)
    assert bcubed(truth, pred).f == 1.0


def test_empty_and_zero_f() -> None:
    assert bcubed([], []) == Score(1.0, 1.0)
    assert coverage([]) == 1.0
    assert Score(0.0, 0.0).f == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="3 labels but pred has 2"):
        bcubed([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="integers"):
        pairwise([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        bcubed([[0, 1]], [[0, 1]])
