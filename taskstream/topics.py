"""Topic creation: every topic with the configured partition count."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from taskstream.settings import Settings

log = logging.getLogger(__name__)

BASE_TOPICS = ("commands", "events", "logs", "workers", "deadletter", "control")


def base_topic_names(settings: Settings) -> list[str]:
    """Names of the topics every deployment has."""
    return [settings.topic(name) for name in BASE_TOPICS]


async def ensure_topics(settings: Settings, names: list[str], *, attempts: int = 30) -> None:
    """Create `names` if missing (idempotent), retrying while the broker starts."""
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                new = [NewTopic(n, settings.partitions, 1) for n in missing]
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
                log.info("topics created", extra={"topics": missing})
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("broker not ready, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(min(2.0, 0.2 * attempt))
        finally:
            await admin.close()
