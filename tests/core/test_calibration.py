import numpy as np
import pytest

from photogroup.core.calibration import Calibration, fit, threshold_for


def test_prior_puts_the_target_at_the_configured_threshold():
    prior = Calibration.prior(0.45, 0.99)
    assert prior.p_same(0.45) == pytest.approx(0.99)
    assert prior.distance_at(0.99) == pytest.approx(0.45)
    assert prior.p_same(0.2) > prior.p_same(0.45) > prior.p_same(0.7)


def test_fit_recovers_a_known_boundary_from_many_answers():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.1, 0.9, 4000)
    true = Calibration(a=18.0, b=-40.0)  # P = 0.5 at 0.45
    y = rng.random(4000) < true.p_same(d)
    got = fit(d, y, Calibration.prior(0.3, 0.99))
    assert got.distance_at(0.5) == pytest.approx(0.45, abs=0.02)
    assert got.n == 4000


def test_thresholds_move_the_right_way_with_the_answers():
    prior = Calibration.prior(0.45, 0.99)
    # "different" answers below the configured threshold pull it down...
    d_no = np.full(30, 0.40)
    lower = threshold_for(fit(d_no, np.zeros(30, bool), prior), 0.99).value
    # ... "same" answers above it push it up.
    d_yes = np.full(30, 0.55)
    higher = threshold_for(fit(d_yes, np.ones(30, bool), prior), 0.99).value
    assert lower < 0.45 < higher
    # a few answers move it less than many
    few = threshold_for(fit(d_no[:3], np.zeros(3, bool), prior), 0.99).value
    assert lower < few < 0.45


def test_threshold_reports_precision_and_recall_on_the_answers():
    cal = Calibration.prior(0.5, 0.99)
    est = threshold_for(cal, 0.99, [0.2, 0.3, 0.45, 0.6, 0.7], [True, True, False, True, False])
    assert est.value == pytest.approx(0.5)
    assert est.precision == pytest.approx(2 / 3) and est.recall == pytest.approx(2 / 3)


def test_fit_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="3 distances but 2 answers"):
        fit([0.1, 0.2, 0.3], [True, False], Calibration.prior(0.45, 0.99))
