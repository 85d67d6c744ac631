"""The micro-batcher: concurrent submits give a direct call's scores; flushes at size and time."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from wardwatch.errors import ConfigurationError
from wardwatch.models.detectors.microbatch import MicroBatcher


class Recorder:
    """A scoring function that remembers the batch sizes it was called with and its thread."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(batch.shape[0])
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        return np.tanh(batch.reshape(batch.shape[0], -1) @ np.linspace(-1, 1, batch[0].size)).astype(np.float64)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_concurrent_submits_give_the_scores_of_one_direct_call() -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(100, 6, 4)).astype(np.float32)
    direct = Recorder()(windows)

    async def go() -> tuple[list[float], Recorder]:
        rec = Recorder()
        b = MicroBatcher(rec, batch_max=32, batch_wait_ms=20)
        scores = await asyncio.gather(*(b.submit(w) for w in windows))
        await b.close()
        return scores, rec

    scores, rec = run(go())
    np.testing.assert_allclose(scores, direct, rtol=1e-6)
    assert sum(rec.sizes) == 100 and max(rec.sizes) <= 32
    assert rec.sizes[:3] == [32, 32, 32]  # full batches flush at once, the remainder on the timer
    assert rec.threads and all(t.startswith("score-") for t in rec.threads)  # not on the event loop thread


def test_flush_at_size_limit_does_not_wait_for_the_timer() -> None:
    async def go() -> tuple[float, MicroBatcher]:
        b = MicroBatcher(Recorder(), batch_max=4, batch_wait_ms=5_000)
        t = time.perf_counter()
        await asyncio.gather(*(b.submit(np.ones(3, np.float32)) for _ in range(4)))
        elapsed = time.perf_counter() - t
        await b.close()
        return elapsed, b

    elapsed, b = run(go())
    assert elapsed < 1.0, "a full batch waited for the 5-s timer"
    assert b.stats.flushes == 1 and b.stats.full_flushes == 1


def test_flush_at_time_limit_with_a_partial_batch() -> None:
    async def go() -> tuple[float, MicroBatcher, Recorder]:
        rec = Recorder()
        b = MicroBatcher(rec, batch_max=1000, batch_wait_ms=80)
        t = time.perf_counter()
        await asyncio.gather(*(b.submit(np.ones(3, np.float32)) for _ in range(3)))
        elapsed = time.perf_counter() - t
        await b.close()
        return elapsed, b, rec

    elapsed, b, rec = run(go())
    assert rec.sizes == [3]
    assert 0.07 <= elapsed < 1.0
    assert b.stats.full_flushes == 0 and b.stats.wait_percentile(50) >= 70


def test_windows_arriving_while_a_flush_runs_go_in_the_next_flush() -> None:
    async def go() -> Recorder:
        rec = Recorder(delay_s=0.1)
        b = MicroBatcher(rec, batch_max=64, batch_wait_ms=10)
        first = asyncio.ensure_future(b.submit(np.ones(2, np.float32)))
        await asyncio.sleep(0.05)  # the first flush is running now
        later = [asyncio.ensure_future(b.submit(np.ones(2, np.float32))) for _ in range(5)]
        await asyncio.gather(first, *later)
        await b.close()
        return rec

    assert run(go()).sizes == [1, 5]


def test_an_error_in_the_detector_goes_to_every_caller_of_that_flush_and_the_batcher_goes_on() -> None:
    calls = {"n": 0}

    def flaky(batch: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("model exploded")
        return batch.sum(axis=1)

    async def go() -> tuple[list[object], list[float]]:
        b = MicroBatcher(flaky, batch_max=3, batch_wait_ms=10)
        first = await asyncio.gather(*(b.submit(np.ones(2, np.float32)) for _ in range(3)), return_exceptions=True)
        second = await asyncio.gather(*(b.submit(np.full(2, 2.0, np.float32)) for _ in range(2)))
        await b.close()
        return first, second

    first, second = run(go())
    assert all(isinstance(e, RuntimeError) and "exploded" in str(e) for e in first)
    assert second == [4.0, 4.0]


def test_wrong_number_of_scores_and_mixed_shapes_are_errors_for_the_callers() -> None:
    async def go() -> list[object]:
        b = MicroBatcher(lambda w: np.zeros(1), batch_max=2, batch_wait_ms=5)
        bad_count = await asyncio.gather(*(b.submit(np.ones(2, np.float32)) for _ in range(2)), return_exceptions=True)
        b2 = MicroBatcher(lambda w: w.sum(axis=1), batch_max=2, batch_wait_ms=5)
        mixed = await asyncio.gather(b2.submit(np.ones(2, np.float32)), b2.submit(np.ones(3, np.float32)), return_exceptions=True)
        await b.close()
        await b2.close()
        return [*bad_count, *mixed]

    out = run(go())
    assert all(isinstance(e, ValueError) for e in out)


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="BATCH_MAX"):
        MicroBatcher(lambda w: w, batch_max=0)
    with pytest.raises(ConfigurationError, match="BATCH_WAIT_MS"):
        MicroBatcher(lambda w: w, batch_wait_ms=-1)


def test_added_latency_is_bounded_by_the_wait_setting() -> None:
    """Measure: single windows arriving every 5 ms wait at most about batch_wait_ms (+ loop jitter)."""

    async def go() -> MicroBatcher:
        b = MicroBatcher(lambda w: w.sum(axis=1), batch_max=64, batch_wait_ms=20)

        async def one(i: int) -> float:
            await asyncio.sleep(i * 0.005)
            return await b.submit(np.ones(4, np.float32))

        await asyncio.gather(*(one(i) for i in range(60)))
        await b.close()
        return b

    b = run(go())
    p50, p95 = b.stats.wait_percentile(50), b.stats.wait_percentile(95)
    print(f"micro-batching wait at 200 windows/s, batch_wait_ms=20: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {b.stats.flushes} flushes")
    assert p95 <= 20 + 30  # event-loop jitter on a shared CPU
    assert b.stats.flushes < 60 / 2  # windows were batched


def test_thread_init_runs_in_the_scoring_thread_before_the_first_call() -> None:
    seen: list[str] = []

    def init() -> None:
        seen.append(threading.current_thread().name)

    async def go() -> None:
        b = MicroBatcher(lambda w: w.sum(axis=1), batch_max=2, batch_wait_ms=5, thread_init=init)
        await asyncio.gather(*(b.submit(np.ones(2, np.float32)) for _ in range(6)))
        await b.close()

    run(go())
    assert len(seen) == 1 and seen[0].startswith("score-")
