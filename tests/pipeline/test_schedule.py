"""Scheduled scans: they run on time, never two at once, and their state is visible."""

from __future__ import annotations

import threading
import time

from photogroup.cli import main
from photogroup.core.errors import ScanLockedError
from photogroup.pipeline.schedule import Scheduler, service_state, state_path


def test_runs_on_schedule_and_never_two_at_once(tmp_path):
    active, most, runs = [0], [0], []
    lock = threading.Lock()

    def job() -> str:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.15)
        with lock:
            active[0] -= 1
        runs.append(time.monotonic())
        return "ok"

    sched = Scheduler(job, interval_s=0.1, first_delay_s=0).start()
    try:
        time.sleep(0.05)
        # a second run asked for while the first is going is skipped, not stacked
        assert sched.run_once() is False
        time.sleep(0.9)
    finally:
        sched.stop()
    assert len(runs) >= 3 and most[0] == 1
    st = sched.status()
    assert st["runs"] == len(runs) and st["skipped"] >= 1 and st["last_result"] == "ok"


def test_a_scan_holding_the_lock_makes_the_round_skip_and_errors_are_kept(tmp_path):
    results = iter([ScanLockedError("busy"), RuntimeError("disk on fire"), "done"])

    def job() -> str:
        r = next(results)
        if isinstance(r, Exception):
            raise r
        return r

    sched = Scheduler(job, interval_s=60)
    assert sched.run_once() is False and "another scan" in sched.state.last_result
    assert sched.run_once() is True and "disk on fire" in sched.state.last_result
    assert sched.run_once() is True and sched.state.last_result == "done"
    assert sched.state.runs == 2 and sched.state.skipped == 1


def test_status_shows_the_service_schedule(library, config, capsys):
    db = config.database_path()
    sched = Scheduler(lambda: "ok", interval_s=3600, state_file=state_path(db)).start()
    try:
        state = service_state(db)
        assert state is not None and state["next_run"] and state["interval_minutes"] == 60
        assert main(["--library", str(db), "status"]) == 0
        out = capsys.readouterr().out
        assert "Service: photogroup serve" in out and "next scan" in out
    finally:
        sched.stop()
    assert service_state(db) is None  # the file goes with the service
