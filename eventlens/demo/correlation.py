"""Request/reply over Kafka: the requester remembers which correlation ids it waits for, with a deadline.

Pure bookkeeping with time passed in; the inventory service owns one table and feeds it replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request: answered after `latency_s`, or timed out."""

    correlation_id: str
    answered: bool
    latency_s: float


@dataclass
class PendingRequests:
    """Requests sent and not yet answered, each with the time it was sent."""

    timeout_s: float = 30.0
    _sent: dict[str, float] = field(default_factory=dict)

    def sent(self, correlation_id: str, now: float) -> None:
        """Remember a request sent at `now`."""
        self._sent[correlation_id] = now

    def answered(self, correlation_id: str, now: float) -> Outcome | None:
        """Match a reply; None when nothing waits for that id (a duplicate or late reply)."""
        started = self._sent.pop(correlation_id, None)
        if started is None:
            return None
        return Outcome(correlation_id, answered=True, latency_s=max(0.0, now - started))

    def expire(self, now: float) -> list[Outcome]:
        """Forget the requests older than the timeout and report them as timed out."""
        late = [cid for cid, started in self._sent.items() if now - started > self.timeout_s]
        return [Outcome(cid, answered=False, latency_s=now - self._sent.pop(cid)) for cid in late]

    def __len__(self) -> int:
        return len(self._sent)
