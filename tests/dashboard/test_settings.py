"""Dashboard configuration and time arithmetic."""

from __future__ import annotations

from pathlib import Path

from eventlens.collector.timerange import parse_duration
from eventlens.dashboard import settings


def test_store_url_defaults_to_the_collectors_sqlite_file() -> None:
    """Without EVENTLENS_STORE the dashboard reads the collector's default SQLite file."""
    assert settings.store_url({}) == "sqlite:///.eventlens/eventlens.db"


def test_store_url_comes_from_eventlens_store() -> None:
    """EVENTLENS_STORE names the store (surrounding blanks ignored)."""
    assert settings.store_url({"EVENTLENS_STORE": " postgresql://u@h/db "}) == "postgresql://u@h/db"


def test_refresh_seconds_reads_the_variable_and_falls_back_on_bad_values() -> None:
    """A readable non-negative number is used; garbage, negatives and NaN give the default."""
    assert settings.refresh_seconds({"EVENTLENS_DASHBOARD_REFRESH": "3"}) == 3.0
    assert settings.refresh_seconds({"EVENTLENS_DASHBOARD_REFRESH": "0"}) == 0.0
    for bad in ("soon", "-1", "nan", "inf"):
        assert settings.refresh_seconds({"EVENTLENS_DASHBOARD_REFRESH": bad}) == settings.DEFAULT_REFRESH_S


def test_missing_sqlite_file_names_an_absent_file(tmp_path: Path) -> None:
    """A sqlite URL to a file that does not exist is reported, so the dashboard never creates an empty store."""
    absent = tmp_path / "none.db"
    assert settings.missing_sqlite_file(f"sqlite:///{absent}") == absent
    assert settings.missing_sqlite_file(str(absent)) == absent


def test_missing_sqlite_file_is_none_for_existing_files_and_postgres(tmp_path: Path) -> None:
    """Existing files and PostgreSQL URLs are not reported missing."""
    present = tmp_path / "s.db"
    present.write_bytes(b"")
    assert settings.missing_sqlite_file(f"sqlite:///{present}") is None
    assert settings.missing_sqlite_file("postgresql://u@localhost/db") is None


def test_tick_rounds_up_to_the_tick_boundary() -> None:
    """Times within one tick share one cache key; a boundary stays itself."""
    assert settings.tick(1, tick_ns=10) == 10
    assert settings.tick(10, tick_ns=10) == 10
    assert settings.tick(11, tick_ns=10) == 20


def test_window_ends_at_the_next_tick_and_spans_its_length() -> None:
    """A window is [end - length, end) with end the tick after now."""
    win = settings.window(now_ns=95, length_ns=50, tick_ns=10)
    assert (win.start_ns, win.end_ns) == (50, 100)


def test_redact_url_hides_the_password_only() -> None:
    """Passwords never appear on screen; user, host and database do."""
    assert settings.redact_url("postgresql://bob:s3cret@db:5432/ev") == "postgresql://bob:***@db:5432/ev"
    assert settings.redact_url("postgresql://bob@db/ev") == "postgresql://bob@db/ev"
    assert settings.redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_window_label_reads_a_duration_in_the_collectors_grammar() -> None:
    """`24h`, `1d` and `86400` name the "24 h" choice; a duration not offered, garbage or nothing the default."""
    assert [settings.window_label(t) for t in ("24h", "1d", "86400", "15m")] == ["24 h", "24 h", "24 h", "15 min"]
    assert [settings.window_label(t) for t in ("3h", "soon", "", None)] == [settings.DEFAULT_WINDOW] * 4


def test_the_offered_windows_are_durations_of_the_shared_grammar() -> None:
    """Each picker choice is written in the grammar `?window=` and `--window` read."""
    assert {label: parse_duration(text) for label, text in settings.WINDOW_CHOICES.items()} == settings.WINDOWS
    assert settings.WINDOWS["7 days"] == 7 * 86400 * 10**9
