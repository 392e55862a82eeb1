"""The backend's ready probe on its own, in-process: an answer is about one moment even when
the startup finishes while the probe awaits Redis (a local RESP stand-in that holds its PONG
is the Redis; the database is a port nothing listens on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import pytest
from starlette.applications import Starlette

from reference_platform import servers
from reference_platform.backend import Backend, Settings


async def _redis_holding_ping(pinged: asyncio.Event, answer: asyncio.Event) -> asyncio.Server:
    """A local Redis stand-in speaking RESP: HELLO as Redis 6+ answers it (a map naming the
    protocol asked for), +OK to the client's other set-up commands; a PING is answered only
    once ``answer`` is set (``pinged`` says it arrived)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.closing(writer):
            while header := await reader.readline():
                words = []
                for _ in range(int(header[1:])):  # *N, then N times $len and the word
                    await reader.readline()
                    words.append((await reader.readline()).strip().upper())
                if words[:1] == [b"PING"]:
                    pinged.set()
                    await answer.wait()
                    writer.write(b"+PONG\r\n")
                elif words[:1] == [b"HELLO"]:  # redis-py 8 asks for RESP3 first, as Redis 6+
                    proto = words[1] if len(words) > 1 else b"2"
                    writer.write(b"%2\r\n+server\r\n+redis\r\n+proto\r\n:" + proto + b"\r\n")
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()

    return await asyncio.start_server(serve, servers.HOST, 0)


def test_a_ready_probe_the_startup_overtakes_answers_about_one_moment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ready probe taken while starting, whose Redis ping is still out when the startup
    reaches its database: it answers "starting" as it began, and logs no error about the
    database the startup was still waiting for (the startup logs those tries, as warnings)."""

    async def probe() -> tuple[httpx.Response, str]:
        pinged, answer, database_up = asyncio.Event(), asyncio.Event(), asyncio.Event()
        redis_server = await _redis_holding_ping(pinged, answer)
        redis_port = redis_server.sockets[0].getsockname()[1]
        app = Backend(
            Settings(
                database_url=f"postgresql://{servers.HOST}:{servers.free_port()}/none",
                redis_url=f"redis://{servers.HOST}:{redis_port}/0",
                jwt_secret="test-only",
            )
        )
        tries = 0

        async def connect() -> None:
            nonlocal tries
            tries += 1
            if tries == 1:
                raise ConnectionRefusedError("the database system is starting up")
            await database_up.wait()

        starting = asyncio.ensure_future(app.lifecycle.start(connect))
        transport = httpx.ASGITransport(app=Starlette(routes=app.routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            answered = asyncio.ensure_future(client.get("/health/ready"))
            await asyncio.wait_for(pinged.wait(), 5)
            database_up.set()
            await asyncio.wait_for(starting, 5)
            phase_after = app.lifecycle.phase
            answer.set()
            response = await asyncio.wait_for(answered, 5)
        await app.store.redis.aclose()
        redis_server.close()
        await redis_server.wait_closed()
        return response, phase_after

    with caplog.at_level(logging.INFO, logger="backend"):
        response, phase_after = asyncio.run(probe())

    assert phase_after == "serving"
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "starting"
    assert body["reason"].startswith("starting: waiting for the database, attempt 1 failed")
    assert body["startup"]["attempts"] == 1
    assert body["dependencies"]["redis"]["status"] == "up"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
