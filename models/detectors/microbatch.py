"""An asyncio micro-batcher: many callers' windows, one detector call per flush.

Callers ``await batcher.submit(window)`` and get their window's score back. The batcher collects
windows until ``batch_max`` are waiting or the oldest has waited ``batch_wait_ms``, then calls the
scoring function once on the stacked batch, in a worker thread (one per batcher, so calls never
overlap and the event loop is never blocked), and resolves each caller's future with its score. An
error in the scoring function goes to every caller of that flush; the batcher goes on.

It knows nothing of Kafka or torch: ``score`` is any function ``(batch, *shape) -> (batch,)``.

>>> import asyncio, numpy as np
>>> async def demo():
...     b = MicroBatcher(lambda w: w.sum(axis=1), batch_max=8, batch_wait_ms=5)
...     scores = await asyncio.gather(*(b.submit(np.full(3, i, np.float32)) for i in range(4)))
...     await b.close()
...     return [float(s) for s in scores], b.stats.flushes
>>> asyncio.run(demo())
([0.0, 3.0, 6.0, 9.0], 1)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wardwatch.errors import ConfigurationError

__all__ = ["MicroBatcher", "BatchStats"]

logger = logging.getLogger(__name__)

ScoreFn = Callable[[NDArray[np.float32]], NDArray[Any]]


@dataclass
class BatchStats:
    """What the batcher has done: flushes, windows, and each window's wait before its flush (ms)."""

    flushes: int = 0
    windows: int = 0
    full_flushes: int = 0
    errors: int = 0
    waits_ms: list[float] = field(default_factory=list)
    keep: int = 10_000

    def record_wait(self, ms: float) -> None:
        self.waits_ms.append(ms)
        if len(self.waits_ms) > self.keep:
            del self.waits_ms[: len(self.waits_ms) - self.keep]

    def wait_percentile(self, q: float) -> float:
        """Percentile ``q`` (0-100) of the recent waits in ms (NaN before any flush)."""
        return float(np.percentile(self.waits_ms, q)) if self.waits_ms else float("nan")


class MicroBatcher:
    """Collect windows from concurrent callers; score them in batches.

    Parameters
    ----------
    score : callable
        ``score(batch) -> scores``: a float array ``(n, *window_shape)`` in, ``(n,)`` out.
    batch_max : int
        Flush at this many waiting windows (``WARDWATCH_DETECT_BATCH_MAX``); a flush never holds more.
    batch_wait_ms : float
        Flush when the oldest waiting window has waited this long (``WARDWATCH_DETECT_BATCH_WAIT_MS``).
    name : str
        Used in log lines and the worker thread's name.
    thread_init : callable, optional
        Run once in the worker thread before its first call. Pass ``lambda: torch.set_num_threads(n)``
        for a torch detector: torch's CPU thread count is per thread, and a new thread gets every
        core, which on a busy machine made small batches 300 times slower (``bench/reports/detectors.md``).
    """

    def __init__(self, score: ScoreFn, *, batch_max: int = 64, batch_wait_ms: float = 50.0, name: str = "detector",
                 thread_init: Callable[[], Any] | None = None) -> None:
        if not isinstance(batch_max, int) or batch_max < 1:
            raise ConfigurationError("WARDWATCH_DETECT_BATCH_MAX", f"got {batch_max!r}", "use an integer >= 1")
        if not batch_wait_ms >= 0:
            raise ConfigurationError("WARDWATCH_DETECT_BATCH_WAIT_MS", f"got {batch_wait_ms!r}", "use a number of milliseconds >= 0")
        self.score = score
        self.batch_max = batch_max
        self.wait_s = batch_wait_ms / 1000.0
        self.name = name
        self.stats = BatchStats()
        self._pending: list[tuple[NDArray[np.float32], asyncio.Future[float], float]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"score-{name}", initializer=thread_init)
        self._closed = False

    async def submit(self, window: NDArray[Any]) -> float:
        """Queue one window and wait for its score."""
        if self._closed:
            raise RuntimeError(f"micro-batcher {self.name} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((np.asarray(window, dtype=np.float32), future, time.perf_counter()))
        if len(self._pending) >= self.batch_max:
            self._flush_now()
        elif self._timer is None:
            self._timer = loop.call_later(self.wait_s, self._flush_now)
        return await future

    def flush(self) -> None:
        """Flush what waits now, without waiting for the timer (a caller that knows no more are coming)."""
        if self._pending:
            self._flush_now()

    @property
    def waiting(self) -> int:
        """Windows queued and not yet flushed."""
        return len(self._pending)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[: self.batch_max], self._pending[self.batch_max:]
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if len(self._pending) < self.batch_max:
                break
        if self._pending:  # a remainder smaller than a batch: flushed when its oldest has waited enough
            left = self.wait_s - (time.perf_counter() - self._pending[0][2])
            self._timer = asyncio.get_running_loop().call_later(max(0.0, left), self._flush_now)

    async def _run(self, batch: list[tuple[NDArray[np.float32], asyncio.Future[float], float]]) -> None:
        start = time.perf_counter()
        self.stats.flushes += 1
        self.stats.windows += len(batch)
        self.stats.full_flushes += len(batch) == self.batch_max
        for _, _, queued in batch:
            self.stats.record_wait((start - queued) * 1000.0)
        try:
            stacked = np.stack([w for w, _, _ in batch])
            scores = await asyncio.get_running_loop().run_in_executor(self._executor, self.score, stacked)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            if scores.shape[0] != len(batch):
                raise ValueError(f"{self.name}: the detector returned {scores.shape[0]} scores for {len(batch)} windows")
        except Exception as exc:  # noqa: BLE001 - every caller of this flush gets the error
            self.stats.errors += 1
            logger.warning("%s: a flush of %d windows failed: %s: %s", self.name, len(batch), type(exc).__name__, exc)
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future, _), s in zip(batch, scores):
            if not future.done():  # a caller that gave up (cancelled) is skipped
                future.set_result(float(s))

    async def close(self) -> None:
        """Flush what waits, wait for running flushes, stop the worker thread."""
        if self._pending:
            self._flush_now()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._closed = True
        self._executor.shutdown(wait=False)
