"""Allowed values of parameters, written once: the clusterer checks its arguments
against them, and the configuration checks its keys (photogroup.core.config).

Pure Python (no numpy: every command loads the configuration). numpy's numbers
count as numbers (they register with the `numbers` ABCs).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Protocol


class Rule(Protocol):
    """A set of allowed values that can say whether it allows one and describe itself (str)."""

    def allows(self, value: Any) -> bool:
        """Whether `value` is allowed."""

    def __str__(self) -> str: ...


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Range:
    """A finite number (or integer) between optional bounds, each included or not."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    none: str | None = None
    """Where None is allowed: how to say it ("None"); None: not allowed."""

    def allows(self, value: Any) -> bool:
        """Whether `value` is a finite number of the right kind in bounds, or an allowed None."""
        if value is None:
            return self.none is not None
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def __str__(self) -> str:
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_number(self.high)}")
        text = ("an integer" if self.integer else "a finite number") + (
            " " + " and ".join(bounds) if bounds else ""
        )
        return text + (f" or {self.none}" if self.none else "")


@dataclass(frozen=True)
class OneOf:
    """One of a few strings."""

    choices: tuple[str, ...]

    def allows(self, value: Any) -> bool:
        """Whether `value` is one of the choices (strings only)."""
        return isinstance(value, str) and value in self.choices

    def __str__(self) -> str:
        return " or ".join(repr(c) for c in self.choices)


@dataclass(frozen=True)
class Text:
    """A non-empty string on one line."""

    def allows(self, value: Any) -> bool:
        """Whether `value` is a printable string that is not blank."""
        return isinstance(value, str) and value.strip() != "" and value.isprintable()

    def __str__(self) -> str:
        return "a non-empty line of text"


def check(name: str, value: Any, rule: Rule) -> None:
    """ValueError naming the parameter, the allowed values and the value given."""
    if not rule.allows(value):
        raise ValueError(f"{name} must be {rule}, got {value!r}")


COSINE = Range(0.0, 2.0)
"""A cosine distance between unit vectors."""

CLUSTERER: dict[str, Rule] = {
    "min_cluster_size": Range(2, integer=True),
    "min_samples": Range(1, integer=True, none="None"),
    "cluster_selection_method": OneOf(("eom", "leaf")),
    "cluster_selection_epsilon": COSINE,
    "max_distance": Range(0.0, 2.0, low_open=True, none="None"),
    "pair_distance": Range(0.0, 2.0, low_open=True, none="None"),
    "full_size": Range(3, integer=True),
    "absorb_distance": Range(0.0, 2.0, low_open=True, none="None"),
    "spread_ratio": Range(0.0, 10.0, low_open=True, none="None"),
    "duplicate_distance": COSINE,
    "pca_components": Range(1, integer=True, none="None"),
    "n_neighbors": Range(1, integer=True),
}
"""The parameters of core.cluster.FaceClusterer (besides n_jobs)."""
