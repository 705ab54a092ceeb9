"""The rule that sizes an ingest worker's task: a fair share of the queue, never nothing."""

from __future__ import annotations

from eventlens.collector.workers import batch_length


def test_a_worker_takes_its_share_of_the_queue_not_all_of_it():
    assert batch_length([100] * 16, 1600, workers=2, max_batch_bytes=10_000) == 8


def test_one_worker_takes_everything_up_to_the_batch_cap():
    assert batch_length([100] * 16, 1600, workers=1, max_batch_bytes=1000) == 10


def test_a_body_larger_than_the_share_still_goes_alone():
    assert batch_length([5000, 100], 5100, workers=2, max_batch_bytes=1000) == 1


def test_a_short_queue_is_split_between_idle_workers():
    assert batch_length([100, 100], 200, workers=2, max_batch_bytes=10_000) == 1


def test_the_share_is_counted_in_bytes_not_bodies():
    assert batch_length([50, 50, 50, 150], 300, workers=2, max_batch_bytes=10_000) == 3
