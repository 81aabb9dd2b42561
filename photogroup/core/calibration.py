"""P(same person | distance): a calibrated logistic model fitted on the user's answers,
and the distance thresholds it implies.

Every review answer is a labelled pair (a face and a person, or two people) with
the embedding distance the question was asked at. A one-feature logistic
regression, p(d) = 1 / (1 + exp(-(a + b d))), is fitted by Newton's method with
a weak Gaussian prior that pulls it towards the configured threshold (so a
handful of answers moves it a little, hundreds move it a lot). The threshold for
a target precision is the distance at which p(d) equals that precision: every
face joined automatically at or under it is at least that likely to be right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_SLOPE = -40.0
"""b of the prior model: with P(same) = 0.99 at a threshold of 0.45, P = 0.5 at 0.565, where
the closest different-person pairs of FaceNet begin (0.57, measured on 1,710 web photos)."""


@dataclass(frozen=True)
class Calibration:
    """Logistic model P(same) = 1 / (1 + exp(-(a + b d))) of an embedding distance d."""

    a: float
    b: float
    n: int = 0
    """How many answers it rests on (0: the prior alone)."""

    def p_same(self, d: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(same person) at each distance in `d`, as a float64 array (z clipped to [-50, 50])."""
        z = self.a + self.b * np.asarray(d, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def distance_at(self, p: float) -> float:
        """The distance where P(same) = p."""
        return (math.log(p / (1.0 - p)) - self.a) / self.b

    @classmethod
    def prior(cls, threshold: float, target: float, slope: float = DEFAULT_SLOPE) -> Calibration:
        """The model before any answer: P(same | threshold) = target."""
        return cls(a=math.log(target / (1.0 - target)) - slope * threshold, b=slope, n=0)


def fit(
    distances: npt.ArrayLike,
    same: npt.ArrayLike,
    prior: Calibration,
    prior_weight: float = 4.0,
    iterations: int = 50,
) -> Calibration:
    """Logistic regression of `same` (bool) on `distances`, MAP with a Gaussian prior
    centred on `prior` (precision `prior_weight` on each coefficient, in units where
    the distance is scaled by 10). The slope is kept negative (farther never means
    more likely the same)."""
    d = np.asarray(distances, dtype=np.float64).ravel()
    y = np.asarray(same, dtype=np.float64).ravel()
    if d.shape != y.shape:
        raise ValueError(f"{len(d)} distances but {len(y)} answers")
    if len(d) == 0:
        return prior
    # Work in x = 10 d so that both coefficients have a similar scale.
    X = np.stack([np.ones_like(d), 10.0 * d], axis=1)
    mu = np.array([prior.a, prior.b / 10.0])
    w = mu.copy()
    lam = prior_weight

    def loss(v: npt.NDArray[np.float64]) -> float:
        z = X @ v
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + lam / 2 * np.sum((v - mu) ** 2))

    for _ in range(iterations):
        z = np.clip(X @ w, -50, 50)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = X.T @ (p - y) + lam * (w - mu)
        hess = (X.T * (p * (1 - p))) @ X + lam * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # Newton with backtracking: a plain Newton step oscillates when p saturates.
        t, now = 1.0, loss(w)
        while t > 1e-6 and loss(w - t * step) > now - 1e-4 * t * float(grad @ step):
            t /= 2
        w = w - t * step
        if float(np.abs(t * step).max()) < 1e-9:
            break
    b = min(float(w[1]) * 10.0, -1e-3)
    return Calibration(a=float(w[0]), b=b, n=len(d))


@dataclass(frozen=True)
class ThresholdEstimate:
    """A learned distance threshold with its precision and recall on the answers given."""

    value: float
    precision: float | None
    """Share of "same" among the answers at or under the threshold (None: none there)."""
    recall: float | None
    """Share of the "same" answers at or under the threshold (None: no "same" answer)."""


def threshold_for(
    calibration: Calibration,
    target_precision: float,
    distances: npt.ArrayLike = (),
    same: npt.ArrayLike = (),
    bounds: tuple[float, float] = (0.05, 1.0),
) -> ThresholdEstimate:
    """The distance at which P(same) = `target_precision`, clipped to `bounds`, with the
    precision and recall it has on the answers given."""
    t = float(np.clip(calibration.distance_at(target_precision), *bounds))
    d = np.asarray(distances, dtype=np.float64).ravel()
    y = np.asarray(same, dtype=bool).ravel()
    under = d <= t
    precision = float(y[under].mean()) if under.any() else None
    recall = float(under[y].mean()) if y.any() else None
    return ThresholdEstimate(t, precision, recall)
