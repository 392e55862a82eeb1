"""The backend's data: threads and messages in PostgreSQL, recent threads cached in Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    id uuid PRIMARY KEY,
    user_id text NOT NULL,
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS threads_user ON threads (user_id, created_at DESC);
CREATE TABLE IF NOT EXISTS messages (
    id uuid PRIMARY KEY,
    thread_id uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    role text NOT NULL,
    content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, created_at);
"""
RECENT_THREADS = 20


@dataclasses.dataclass(frozen=True)
class Check:
    """One dependency's health as the ready endpoint reports it."""

    status: str  # "up", "slow" or "down"
    latency_ms: float
    limit_ms: float
    error: str | None = None
    timed_out: bool = False  # latency_ms is then only how long the check waited

    def as_json(self) -> dict[str, Any]:
        """The check as the ready endpoint's JSON."""
        body: dict[str, Any] = {
            "status": self.status,
            "latency_ms": round(self.latency_ms, 2),
            "limit_ms": self.limit_ms,
        }
        if self.error:
            body["error"] = self.error
        if self.timed_out:
            body["timed_out"] = True
        return body


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _thread(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "title": row["title"], "created_at": _iso(row["created_at"])}


def _message(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "thread_id": str(row["thread_id"]),
        "role": row["role"],
        "content": row["content"],
        "created_at": _iso(row["created_at"]),
    }


class Store:
    """PostgreSQL and Redis behind one object; ``db_delay_s`` slows every query (a fault)."""

    def __init__(self, database_url: str, redis_url: str, db_delay_s: float = 0.0) -> None:
        self._database_url = database_url
        self._db_delay_s = db_delay_s
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self.redis = aioredis.Redis.from_url(
            redis_url, socket_connect_timeout=1.0, socket_timeout=2.0, decode_responses=True
        )

    async def close(self) -> None:
        """Closes the pool and the Redis connection."""
        if self._pool is not None:
            await self._pool.close()
        await self.redis.aclose()

    async def connect(self) -> asyncpg.Pool:
        """The pool, opened (with the schema created) on the first call; raises while
        PostgreSQL cannot be reached. Never delayed by ``db_delay_s``: the backend's startup
        retries this until the database answers."""
        # Not opened in __init__, so that the service starts (and reports the database on its
        # ready endpoint) even when PostgreSQL cannot be reached.
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    pool = await asyncpg.create_pool(
                        self._database_url,
                        min_size=1,
                        max_size=10,
                        timeout=5.0,
                        command_timeout=30.0,
                    )
                    try:
                        await pool.execute(SCHEMA)
                    except BaseException:  # the startup retries: no pool left open per try
                        await pool.close()
                        raise
                    self._pool = pool
        return self._pool

    async def _db(self) -> asyncpg.Pool:
        pool = await self.connect()
        if self._db_delay_s:
            await asyncio.sleep(self._db_delay_s)
        return pool

    async def check_postgres(self, limit_ms: float, timeout_s: float) -> Check:
        """Times ``SELECT 1``; slower than ``limit_ms`` (or no answer in time) is "slow", an
        error "down"."""
        return await _timed(self._select_one(), limit_ms, timeout_s)

    async def check_redis(self, limit_ms: float, timeout_s: float) -> Check:
        """Times a PING."""
        return await _timed(self.redis.ping(), limit_ms, timeout_s)

    async def _select_one(self) -> None:
        await (await self._db()).fetchval("SELECT 1")

    async def create_thread(self, user_id: str, title: str) -> dict[str, Any]:
        """Stores a thread and puts it first in the user's recent threads."""
        row = await (await self._db()).fetchrow(
            "INSERT INTO threads (id, user_id, title) VALUES ($1, $2, $3) RETURNING *",
            uuid.uuid4(),
            user_id,
            title,
        )
        thread = _thread(row)
        key = f"recent_threads:{user_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, thread["id"])
            pipe.ltrim(key, 0, RECENT_THREADS - 1)
            await pipe.execute()
        return thread

    async def recent_threads(self, user_id: str) -> list[dict[str, Any]]:
        """The user's recent threads, newest first, ids from Redis and rows from PostgreSQL."""
        ids = await self.redis.lrange(f"recent_threads:{user_id}", 0, RECENT_THREADS - 1)
        if not ids:
            return []
        rows = await (await self._db()).fetch(
            "SELECT * FROM threads WHERE user_id = $1 AND id = ANY($2::uuid[])", user_id, ids
        )
        by_id = {str(row["id"]): _thread(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def thread(self, user_id: str, thread_id: str) -> dict[str, Any] | None:
        """The thread if it exists and belongs to the user; None otherwise (never another's)."""
        try:
            key = uuid.UUID(thread_id)
        except ValueError:
            return None
        row = await (await self._db()).fetchrow(
            "SELECT * FROM threads WHERE id = $1 AND user_id = $2", key, user_id
        )
        return _thread(row) if row else None

    async def add_message(self, thread_id: str, role: str, content: str) -> dict[str, Any]:
        """Stores one message of a thread."""
        row = await (await self._db()).fetchrow(
            "INSERT INTO messages (id, thread_id, role, content) VALUES ($1, $2, $3, $4) "
            "RETURNING *",
            uuid.uuid4(),
            uuid.UUID(thread_id),
            role,
            content,
        )
        return _message(row)

    async def messages(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's messages, oldest first."""
        rows = await (await self._db()).fetch(
            "SELECT * FROM messages WHERE thread_id = $1 ORDER BY created_at, id",
            uuid.UUID(thread_id),
        )
        return [_message(row) for row in rows]


async def _timed(probe: Any, limit_ms: float, timeout_s: float) -> Check:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe, timeout_s)
    except TimeoutError:  # it answers too late, which is slow, not down
        elapsed = (time.perf_counter() - started) * 1000
        return Check("slow", elapsed, limit_ms, f"no answer within {timeout_s:g} s", timed_out=True)
    except Exception as exc:  # noqa: BLE001 - whatever fails, the dependency is down
        elapsed = (time.perf_counter() - started) * 1000
        return Check("down", elapsed, limit_ms, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    return Check("slow" if elapsed > limit_ms else "up", elapsed, limit_ms)
