"""Distance thresholds of one embedder: configured, then learned from review answers.

Two kinds: ``assign`` (a face joins a person: cosine distance to the person's
prototype faces) and ``merge`` (two people are one: distance between their
closest prototype faces). Every review answer with a distance is a labelled
pair of one kind; once `[review] min_answers` of a kind exist, with at least one
"same" and one "different", a calibrated P(same | distance) is fitted and the
threshold becomes the distance where it equals `[review] target_precision`.
Each change is a new row of `thresholds` (the history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.calibration import Calibration, fit, threshold_for
from ..core.config import Config
from ..db.models import Decision, DecisionKind, Threshold

KINDS = ("assign", "merge")
_LABELS = {
    "assign": {DecisionKind.FACE_IS_PERSON: True, DecisionKind.FACE_NOT_PERSON: False},
    "merge": {DecisionKind.SAME_PERSON: True, DecisionKind.DIFFERENT_PEOPLE: False},
}


def configured(config: Config, kind: str) -> float:
    """The configured assign threshold when `kind` is 'assign', else the merge threshold."""
    return config.people.assign_threshold if kind == "assign" else config.people.merge_threshold


def answers(s: Session, embedder: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(distances, same) of the active answers of `kind` asked with `embedder`."""
    labels = _LABELS[kind]
    rows = s.execute(
        select(Decision.kind, Decision.distance).where(
            Decision.undone_at.is_(None),
            Decision.kind.in_(list(labels)),
            Decision.distance.is_not(None),
            Decision.embedder == embedder,
        )
    ).all()
    d = np.array([r[1] for r in rows], dtype=np.float64)
    y = np.array([labels[DecisionKind(r[0])] for r in rows], dtype=bool)
    return d, y


@dataclass
class ThresholdState:
    """A threshold in force: its value, where it comes from, and the answers behind it."""

    kind: str
    value: float
    source: str
    """'config' or 'learned'."""
    n_answers: int
    n_same: int
    calibration: Calibration
    precision: float | None
    recall: float | None

    def as_json(self) -> dict[str, Any]:
        """The state as a JSON object (value and model rounded to 4 places)."""
        return {
            "kind": self.kind,
            "value": round(self.value, 4),
            "source": self.source,
            "answers": self.n_answers,
            "same": self.n_same,
            "precision": self.precision,
            "recall": self.recall,
            "model": {"a": round(self.calibration.a, 4), "b": round(self.calibration.b, 4)},
        }


def estimate(s: Session, config: Config, embedder: str, kind: str) -> ThresholdState:
    """The threshold the answers so far support (not stored)."""
    target = config.review.target_precision
    prior = Calibration.prior(configured(config, kind), target)
    d, y = answers(s, embedder, kind)
    enough = len(d) >= config.review.min_answers and y.any() and (~y).any()
    cal = fit(d, y, prior) if len(d) else prior
    if not enough:
        base = threshold_for(prior, target, d, y)
        return ThresholdState(
            kind,
            configured(config, kind),
            "config",
            len(d),
            int(y.sum()),
            cal,
            base.precision,
            base.recall,
        )
    est = threshold_for(cal, target, d, y)
    return ThresholdState(
        kind, est.value, "learned", len(d), int(y.sum()), cal, est.precision, est.recall
    )


def current(s: Session, config: Config, embedder: str, kind: str) -> float:
    """The threshold in force: the newest learned one of this embedder, else config."""
    row = s.scalar(
        select(Threshold)
        .where(Threshold.embedder == embedder, Threshold.kind == kind)
        .order_by(Threshold.id.desc())
        .limit(1)
    )
    if row is None or row.source != "learned":
        return configured(config, kind)
    return float(row.value)


def calibration(s: Session, config: Config, embedder: str, kind: str) -> Calibration:
    """P(same | distance) for questions: fitted on the answers so far (prior alone at first)."""
    return estimate(s, config, embedder, kind).calibration


def learn(s: Session, config: Config, embedder: str) -> list[ThresholdState]:
    """Re-estimate both thresholds; store a history row where the one in force changes."""
    states = []
    for kind in KINDS:
        st = estimate(s, config, embedder, kind)
        states.append(st)
        latest = s.scalar(
            select(Threshold)
            .where(Threshold.embedder == embedder, Threshold.kind == kind)
            .order_by(Threshold.id.desc())
            .limit(1)
        )
        in_force_source = latest.source if latest is not None else "config"
        in_force = float(latest.value) if latest is not None else configured(config, kind)
        if st.source == in_force_source and abs(st.value - in_force) < 1e-4:
            continue
        if latest is None and st.source == "config":
            continue
        s.add(
            Threshold(
                embedder=embedder,
                kind=kind,
                value=st.value,
                source=st.source,
                n_answers=st.n_answers,
                precision=st.precision,
                recall=st.recall,
                details={
                    "a": st.calibration.a,
                    "b": st.calibration.b,
                    "target_precision": config.review.target_precision,
                },
            )
        )
    return states


def history(s: Session, embedder: str) -> list[Threshold]:
    """Every threshold stored for `embedder`, oldest first."""
    return list(
        s.scalars(select(Threshold).where(Threshold.embedder == embedder).order_by(Threshold.id))
    )
