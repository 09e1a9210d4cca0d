"""An aiokafka producer whose metadata refreshes never forget a topic it has sent to.

aiokafka's client learns every topic from the full metadata it fetches when it starts,
but only *tracks* (names in later metadata requests) the topics it had to look up. The
first send to a topic created after the start looks it up with a request naming the
tracked topics only, and the answer replaces the cluster view: a topic known since the
start (say `events`) drops out, and a batch for it still lingering in the accumulator
finds no leader and fails after `request_timeout_ms` (40 s) with
NotLeaderForPartitionError. Tracking every topic before its first record is appended
keeps them all in every refresh.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer


class TrackingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """AIOKafkaProducer that tracks each topic in its metadata before the first send."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._tracked: set[str] = set()

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        """Send as AIOKafkaProducer does, once `topic` is named in every metadata refresh."""
        if topic not in self._tracked:
            # One metadata refresh naming every tracked topic plus this one.
            await self.client.add_topic(topic)
            self._tracked.add(topic)
        return await super().send(topic, *args, **kwargs)
