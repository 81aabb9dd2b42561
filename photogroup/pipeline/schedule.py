"""Scans on a schedule inside `photogroup serve`: never two at once, status on record.

The job runs in a background thread every `interval` seconds. A run that would
overlap one still going (in this process, or a cron scan holding the library's
scan lock) is skipped and recorded as such. The state (last run, next run) is
kept in memory for the page and written next to the library
(`<library>.serve.json`) so that `photogroup status` in another process shows it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.clock import now
from ..core.errors import ScanLockedError


@dataclass
class ScheduleState:
    """The scheduler's state as `serve` shows it and writes to its state file."""

    interval_minutes: float
    next_run: str | None = None
    running: bool = False
    last_started: str | None = None
    last_finished: str | None = None
    last_result: str | None = None
    runs: int = 0
    skipped: int = 0
    pid: int = field(default_factory=os.getpid)


class Scheduler:
    """Runs a scan job every `interval_s` seconds on a daemon thread."""

    def __init__(
        self,
        job: Callable[[], str],
        interval_s: float,
        first_delay_s: float | None = None,
        state_file: Path | None = None,
    ) -> None:
        """`job` runs one scan and returns a one-line summary; it may raise
        ScanLockedError (another scan runs: skipped) or any error (recorded)."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.job = job
        self.interval = interval_s
        self.first_delay = interval_s if first_delay_s is None else first_delay_s
        self.state_file = state_file
        self.state = ScheduleState(interval_minutes=interval_s / 60)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        """The current state as a dict."""
        return asdict(self.state)

    def start(self) -> Scheduler:
        """Start the thread (first run after `first_delay_s`) and return self."""
        self._set_next(self.first_delay)
        self._thread = threading.Thread(target=self._loop, name="scheduled-scans", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waiting up to `timeout` seconds) and delete the state file."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def run_now(self) -> None:
        """Ask for a run at once (the page's "Scan now")."""
        self._set_next(0)
        self._wake.set()

    def _set_next(self, delay_s: float) -> None:
        self._next = datetime.now() + timedelta(seconds=delay_s)
        self.state.next_run = self._next.replace(microsecond=0).isoformat()
        self._save()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = (self._next - datetime.now()).total_seconds()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            self._set_next(self.interval)
            self.run_once()

    def run_once(self) -> bool:
        """Run the job unless a run is going on; returns whether it ran."""
        if not self._running.acquire(blocking=False):
            self._skipped("a scheduled scan is still running")
            return False
        try:
            self.state.running = True
            self.state.last_started = now().isoformat()
            self._save()
            try:
                result = self.job()
            except ScanLockedError:
                self.state.running = False
                self._skipped("another scan holds the library's lock")
                return False
            except Exception as exc:  # recorded; the schedule goes on
                result = f"failed: {type(exc).__name__}: {exc}"
            self.state.runs += 1
            self.state.last_result = result
            self.state.last_finished = now().isoformat()
            return True
        finally:
            self.state.running = False
            self._save()
            self._running.release()

    def _skipped(self, why: str) -> None:
        self.state.skipped += 1
        self.state.last_result = f"skipped at {now().isoformat()}: {why}"
        self._save()

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status()), encoding="utf-8")
        os.replace(tmp, self.state_file)


def service_state(database: Path) -> dict[str, Any] | None:
    """The schedule of a running `photogroup serve` on this library, if any."""
    path = state_path(database)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(state.get("pid", -1)), 0)
    except (OSError, ValueError):
        return None  # the service is gone (a stale file)
    return state


def state_path(database: Path) -> Path:
    """The state file of `serve` for the library `database`: `<name>.serve.json` beside it."""
    return database.with_name(database.name + ".serve.json")
