"""The runner's own parts: child processes without orphans, preflight checks, the work folder, options."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventlens.demo.processes import ManagedProcess, port_open, stop_all
from eventlens.demo.runner import (
    Demo,
    DemoError,
    DemoOptions,
    _reset_workdir,
    missing_parts,
    options_from_env,
    wait_until,
)

GRANDCHILD = "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; " \
             "time.sleep(300)']); print(p.pid, flush=True); time.sleep(300)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for_line(path: Path, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.strip():
            return text.strip().splitlines()[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing written to {path}")


def test_stopping_a_child_ends_its_whole_process_group(tmp_path: Path) -> None:
    """A child's own children are stopped with it: nothing is orphaned."""
    proc = ManagedProcess("parent", [sys.executable, "-c", GRANDCHILD], tmp_path / "p.log").start()
    grandchild = int(_wait_for_line(tmp_path / "p.log"))
    assert _alive(grandchild)
    proc.stop(timeout_s=10)
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not proc.alive
    assert not _alive(grandchild)


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    """SIGTERM first; SIGKILL when the child does not end in time."""
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
             "time.sleep(300)"
    proc = ManagedProcess("stubborn", [sys.executable, "-c", script], tmp_path / "s.log").start()
    _wait_for_line(tmp_path / "s.log")
    assert proc.stop(timeout_s=1) == -signal.SIGKILL


def test_children_live_in_their_own_session(tmp_path: Path) -> None:
    """Ctrl-C in the terminal reaches only the runner, which then stops children in order."""
    proc = ManagedProcess("c", [sys.executable, "-c", "import time; time.sleep(300)"], tmp_path / "c.log").start()
    try:
        assert proc.pid is not None
        assert os.getsid(proc.pid) == proc.pid
        assert os.getsid(proc.pid) != os.getsid(0)
    finally:
        stop_all([proc], timeout_s=10)
    assert not proc.alive


def test_a_child_log_tail_is_kept_for_error_messages(tmp_path: Path) -> None:
    """What a child printed before it died is available to explain the failure."""
    proc = ManagedProcess("x", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path / "x.log").start()
    assert proc.wait(30)
    assert proc.returncode == 3
    assert "boom" in proc.log_tail()


def test_wait_until_reports_a_child_that_died_first(tmp_path: Path) -> None:
    """Waiting for a port of a process that exited fails at once with its log, not after the timeout."""
    proc = ManagedProcess("dead", [sys.executable, "-c", "print('no luck')"], tmp_path / "d.log").start()
    proc.wait(30)
    started = time.monotonic()
    with pytest.raises(DemoError, match="no luck"):
        wait_until(lambda: False, 60, "its port", alive=proc)
    assert time.monotonic() - started < 30


def test_wait_until_times_out_with_what_it_waited_for() -> None:
    """A condition that never holds ends in a DemoError naming it."""
    with pytest.raises(DemoError, match="the moon"):
        wait_until(lambda: False, 0.5, "the moon")


def test_a_port_in_use_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    """preflight names the busy port and the option to change it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_open(port)
        demo = Demo(DemoOptions(bootstrap="127.0.0.1:1", dashboard=False, otlp_http_port=port, workdir=tmp_path),
                    out=lambda _line: None)
        with pytest.raises(DemoError, match=f"port {port}.*--otlp-http-port"):
            demo.preflight()


def test_every_part_the_demo_needs_is_installed() -> None:
    """With the collector and the instrumentation installed, only the dashboard may be reported missing."""
    missing = missing_parts(dashboard=False)
    assert missing == []


def test_a_fresh_run_removes_only_the_demos_own_files(tmp_path: Path) -> None:
    """State of a previous run goes; anything else in the work folder stays."""
    for name in ("eventlens.db", "eventlens.db-wal", "payments.db", "order-view.db", "mine.txt"):
        (tmp_path / name).write_text("x")
    for folder in ("kafka", "claims", "logs", "notes"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f").write_text("x")
    _reset_workdir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "notes"]


def test_an_external_broker_comes_from_kafka_bootstrap_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """KAFKA_BOOTSTRAP_SERVERS replaces the local broker unless a bootstrap was given explicitly."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    assert options_from_env(DemoOptions()).bootstrap == "broker:9092"
    assert options_from_env(DemoOptions(bootstrap="other:1")).bootstrap == "other:1"
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    assert options_from_env(DemoOptions()).bootstrap is None


def test_services_get_the_runs_settings() -> None:
    """Rate, seed, prefix, duration and an absolute work folder reach every service."""
    options = DemoOptions(rate=7, seed=3, prefix="p.", duration_s=30, workdir=Path("rel"))
    cfg = options.service_config("127.0.0.1:1")
    assert (cfg.rate, cfg.seed, cfg.prefix, cfg.duration_s, cfg.bootstrap) == (7, 3, "p.", 30, "127.0.0.1:1")
    assert cfg.workdir.is_absolute()
    assert options.store_url == f"sqlite:///{Path('rel').resolve() / 'eventlens.db'}"


def test_the_demo_command_fails_clearly_when_a_port_is_taken(tmp_path: Path) -> None:
    """`eventlens demo` exits 1 with the preflight message and leaves nothing running."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "eventlens", "demo", "--no-dashboard", "--otlp-http-port", str(port),
             "--workdir", str(tmp_path)],
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, capture_output=True, text=True,
            timeout=120, check=False)
    assert result.returncode == 1
    assert f"port {port}" in result.stdout
    assert "demo stopped" in result.stdout


def test_missing_parts_are_named_with_what_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation without the dashboard, or an instrumentation without the pattern API, is reported by name."""
    import importlib.util

    import eventlens.instrumentation as instr

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "eventlens.dashboard.cli" else real(name, *a))
    monkeypatch.delattr(instr, "send_context")
    missing = missing_parts(dashboard=True)
    assert any("eventlens dashboard" in m for m in missing)
    assert any("lacks send_context" in m for m in missing)
    assert not any("collector" in m for m in missing)
