"""Progress bars on stderr (tqdm); silent when stderr is not a terminal (cron).

The rate and the ETA count from the first item finished, and leave out pauses
(models loading): the first photo of a scan carries TensorFlow's start-up, which
says nothing about the photos after it.
"""

from __future__ import annotations

import sys

import click
from tqdm import tqdm


class BarProgress:
    """Progress as a tqdm bar on stderr (when `enabled`, by default when stderr is a terminal)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: tqdm | None = None
        self._phase = ""
        self._faces = 0
        self._started = False

    def start(self, phase: str, total: int) -> None:
        """Close any bar and start one for `phase` with `total` photos."""
        self.close()
        self._faces = 0
        self._phase = phase
        self._started = False
        if self.enabled:
            self._bar = tqdm(
                total=total,
                desc=phase,
                unit="photo",
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def advance(self, items: int = 1, faces: int = 0) -> None:
        """Count `items` photos and `faces` faces; the rate's clock starts at the first."""
        if self._bar is not None:
            self._faces += faces
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            if self._started:
                self._bar.update(items)
            else:  # the first: counted, and the clock starts now
                self._started = True
                self._bar.n += items
                self._restart_clock()

    def pause(self, text: str | None) -> None:
        """Show `text` as the bar's description (a line of its own without a bar); None ends it."""
        if self._bar is None:  # outside a phase (or no bar): a line of its own
            if text:
                click.echo(f"{text[:1].upper()}{text[1:]} …", err=True)
            return
        self._bar.set_description_str(f"{text} …" if text else self._phase, refresh=False)
        if text is None:
            self._restart_clock()
        else:
            self._bar.refresh()

    def message(self, text: str) -> None:
        """Print `text` on stderr (above the bar, if one is shown)."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            click.echo(text, err=True)

    def close(self) -> None:
        """Close the bar, if one is shown."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _postfix(self) -> str:
        return f"{self._faces} face{'' if self._faces == 1 else 's'}"

    def _restart_clock(self) -> None:
        """The rate and the ETA count from now, with the items done so far kept."""
        bar = self._bar
        if bar is None:
            return
        done = bar.n
        bar.reset()
        bar.n = bar.last_print_n = bar.initial = done  # tqdm's rate: (n - initial) / elapsed
        bar.set_postfix_str(self._postfix(), refresh=False)
        bar.refresh()
