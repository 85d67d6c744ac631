"""Run the ward page against the real Kafka: feed, state, sessions, acknowledgement API, HTTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from wardwatch.agents.ack_api import AckApi
from wardwatch.config import Settings
from wardwatch.errors import ConfigurationError
from wardwatch.streams.topics import topic_name

from .auth import Sessions
from .feed import WardFeed
from .server import WardPage
from .state import WardState

__all__ = ["serve_ward"]

logger = logging.getLogger(__name__)


async def serve_ward(settings: Settings, *, host: str | None = None, port: int | None = None, stop: asyncio.Event | None = None,
                     on_ready: Callable[[WardPage], Any] | None = None) -> None:
    """Serve the ward page of ``settings.ward.name`` until ``stop`` is set.

    Raises
    ------
    ConfigurationError
        When ``WARDWATCH_API_TOKENS`` holds no token: nobody could log in.
    """
    from wardwatch.streams.publish import RecordProducer

    staff = settings.api.staff()
    if not staff:
        raise ConfigurationError("WARDWATCH_API_TOKENS", "no staff tokens configured: nobody could log in to the ward page",
                                 'set it to JSON such as {"<random token>": {"role": "nurse", "user": "staff-0042"}}')
    stop = stop or asyncio.Event()
    state = WardState(settings.ward.name, history_s=settings.api.ward_history_s)
    async with RecordProducer(settings.kafka) as producer:
        ack_api = AckApi(staff, producer, topic_name(settings.kafka.topic_prefix, "acks"), max_body_bytes=settings.api.max_body_bytes)
        page: WardPage | None = None
        feed = WardFeed(settings.kafka, state, lambda bed: page.changed(bed) if page is not None else None,
                        history_s=settings.api.ward_history_s)
        page = WardPage(state, Sessions(staff, ttl_s=settings.api.session_ttl_s), ack_api, is_ready=feed.ready.is_set)
        await feed.start()
        try:
            bind = host or settings.api.host
            await page.start(bind, settings.api.ward_port if port is None else port)
            logger.info("ward page of %s on http://%s:%d/", settings.ward.name, bind, page.port)
            if on_ready is not None:
                on_ready(page)
            while not stop.is_set():
                failure = feed.failed()
                if failure is not None:
                    raise failure
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
        finally:
            await page.close()
            await feed.stop()
