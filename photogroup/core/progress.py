"""Progress reporting, as an interface: the pipeline reports, the CLI draws."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where the pipeline reports progress: phases, items done, messages and waits."""

    def start(self, phase: str, total: int) -> None:
        """A new phase ('scanning', 're-embedding') with `total` items."""

    def advance(self, items: int = 1, faces: int = 0) -> None:
        """`items` finished, with `faces` faces among them."""

    def message(self, text: str) -> None:
        """A line for the user (above the bar)."""

    def pause(self, text: str | None) -> None:
        """A wait inside or before a phase ('loading models'), shown while it lasts;
        None ends it. The time it takes is not counted in the rate."""

    def close(self) -> None:
        """End the current phase, if any."""


class NullProgress:
    """Reports nothing."""

    def start(self, phase: str, total: int) -> None:
        """Ignored."""
        pass

    def advance(self, items: int = 1, faces: int = 0) -> None:
        """Ignored."""
        pass

    def message(self, text: str) -> None:
        """Ignored."""
        pass

    def pause(self, text: str | None) -> None:
        """Ignored."""
        pass

    def close(self) -> None:
        """Ignored."""
        pass
