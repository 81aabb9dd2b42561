"""Progress bars on stderr (tqdm); silent when stderr is not a terminal (cron)."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm


class BarProgress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: tqdm | None = None
        self._faces = 0

    def start(self, phase: str, total: int) -> None:
        self.close()
        self._faces = 0
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
        if self._bar is not None:
            self._faces += faces
            self._bar.set_postfix_str(f"{self._faces} faces", refresh=False)
            self._bar.update(items)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            click.echo(text, err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
