"""`photogroup serve` as a process: answers on 127.0.0.1 with its schedule, stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_serve_starts_schedules_and_stops(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[library]\nroots = ["{photos}"]\n[serve]\nscan_every_minutes = 720.0\n')
    db = tmp_path / "library.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "photogroup", "--config", str(cfg), "--library", str(db), "serve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + proc.stderr.read()
        with urllib.request.urlopen(url[0] + "api/status", timeout=10) as r:
            st = json.loads(r.read())
        assert st["schedule"]["interval_minutes"] == 720 and st["schedule"]["next_run"]
        assert (tmp_path / "library.db.serve.json").exists()
        # no model was loaded to serve: TensorFlow waits for the first scan
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert not (tmp_path / "library.db.serve.json").exists()


def test_serve_logs_its_scans_and_status_sees_it(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[library]\nroots = ["{photos}"]\n[serve]\nscan_every_minutes = 720.0\n'
        "scan_on_start = true\n"
    )
    db = tmp_path / "library.db"
    base = [sys.executable, "-m", "photogroup", "--config", str(cfg), "--library", str(db)]
    proc = subprocess.Popen(
        [*base, "serve"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert "serving" in proc.stdout.readline()
        started = proc.stderr.readline()
        finished = proc.stderr.readline()
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Scan of .*photos started", started)
        assert "Scan finished: ok: 0 photos seen" in finished, finished
        status = subprocess.run(
            [*base, "status", "--json"], cwd=REPO, capture_output=True, text=True, check=True
        )
        service = json.loads(status.stdout)["service"]
        assert service["pid"] == proc.pid and service["runs"] == 1
        # where identify, compare and draw find the warm models: for its owner only
        endpoint = tmp_path / "library.db.serve-api.json"
        assert endpoint.stat().st_mode & 0o777 == 0o600
        assert json.loads(endpoint.read_text())["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)  # as systemd stops it
        proc.wait(timeout=20)
    assert proc.returncode == 0 and not endpoint.exists()
