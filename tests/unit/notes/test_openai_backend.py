"""The OpenAI backend against a real local HTTP server speaking the completions API."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from wardwatch.models.notes.backends import OpenAIBackend
from wardwatch.models.notes.facts import Fact, utc_hhmm
from wardwatch.models.notes.summarizer import NoteWriter
from wardwatch.streams.records import Alert

from .conftest import T0


async def _serve(answer: str, delay_s: float = 0.0) -> tuple[web.AppRunner, str, list[dict]]:
    seen: list[dict] = []

    async def completions(request: web.Request) -> web.Response:
        seen.append({"auth": request.headers.get("Authorization"), "body": await request.json()})
        await asyncio.sleep(delay_s)
        return web.json_response({"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": answer}]})

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}", seen


def test_accepted_answer_rejected_answer_and_timeout(alert: Alert, facts: list[Fact]) -> None:
    good = f" Bed 07: SpO2 84 % for 20 s; high priority since {utc_hhmm(T0)} UTC.\nSpO2 falling over 15 min.\nEND\nmore"

    async def run() -> None:
        runner, url, seen = await _serve(good)
        backend = OpenAIBackend(url, api_key="k-123", model="gemma", timeout_s=5)
        note = await NoteWriter(backend).write(alert, facts)
        assert note.backend == "openai" and note.verified and note.rejection == ""
        assert note.text.splitlines()[0].startswith("Bed 07: SpO2 84 %") and "END" not in note.text
        assert seen[0]["auth"] == "Bearer k-123" and seen[0]["body"]["temperature"] == 0
        assert "Bed: 07" in seen[0]["body"]["prompt"] and "p-0123456789abcdef0123" not in json.dumps(seen)
        await backend.close()
        await runner.cleanup()

        runner, url, _ = await _serve("Bed 07: SpO2 84 %, likely pneumonia; start antibiotics.")
        backend = OpenAIBackend(url, timeout_s=5)
        note = await NoteWriter(backend).write(alert, facts)
        assert note.backend == "template" and note.verified and note.rejection in ("openai: diagnosis: 'pneumonia'", "openai: treatment or advice: 'antibiotics'")
        assert "pneumonia" not in note.text
        await backend.close()
        await runner.cleanup()

        runner, url, _ = await _serve(good, delay_s=3.0)
        backend = OpenAIBackend(url, timeout_s=10)
        note = await NoteWriter(backend, timeout_s=0.5).write(alert, facts)
        assert note.backend == "template" and note.rejection == "openai: timed out after 0.5 s" and note.latency_ms < 2500
        await backend.close()
        await runner.cleanup()

    asyncio.run(run())


def test_unreachable_endpoint_falls_back(alert: Alert, facts: list[Fact]) -> None:
    async def run() -> object:
        backend = OpenAIBackend("http://127.0.0.1:9", timeout_s=2)
        try:
            return await NoteWriter(backend).write(alert, facts)
        finally:
            await backend.close()

    note = asyncio.run(run())
    assert note.backend == "template" and note.verified and "unreachable" in note.rejection  # type: ignore[attr-defined]
