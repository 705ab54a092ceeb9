"""The rules that size an ingest worker's task: the free workers' share of the queue, after a short linger."""

from __future__ import annotations

from eventlens.collector.pipeline import batch_length
from eventlens.collector.workers import should_linger


def test_two_free_workers_split_the_queue():
    assert batch_length([100] * 16, 1600, takers=2, max_batch=10_000) == 8


def test_the_only_free_worker_takes_everything_up_to_the_batch_cap():
    assert batch_length([100] * 16, 1600, takers=1, max_batch=1000) == 10


def test_a_body_larger_than_the_share_still_goes_alone():
    assert batch_length([5000, 100], 5100, takers=2, max_batch=1000) == 1


def test_a_short_queue_is_split_between_free_workers():
    assert batch_length([100, 100], 200, takers=2, max_batch=10_000) == 1


def test_the_share_is_counted_in_bytes_not_bodies():
    assert batch_length([50, 50, 50, 150], 300, takers=2, max_batch=10_000) == 3


def test_a_free_worker_lingers_for_a_fuller_batch_while_another_is_busy():
    assert should_linger(queued_bytes=100, busy_workers=1, max_batch_bytes=1000)


def test_no_linger_when_every_worker_is_idle():
    """A lone request is never delayed."""
    assert not should_linger(queued_bytes=100, busy_workers=0, max_batch_bytes=1000)


def test_no_linger_once_half_a_batch_is_queued():
    assert not should_linger(queued_bytes=500, busy_workers=1, max_batch_bytes=1000)
