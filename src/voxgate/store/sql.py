"""Hand-written SQL for the per-request path, run straight on the driver.

Holding, settling and authenticating run on every request. Through SQLAlchemy each statement
costs about 150 µs of Python and, on aiosqlite, a thread hop more; on the bare driver a whole
settle costs tens of microseconds. A statement is written once with `:name` parameters and runs
on SQLite (`sqlite3`, which takes that style) and on PostgreSQL (asyncpg, which needs `$n`).
"""

import re
import sqlite3
from datetime import datetime
from typing import Any, Protocol

import asyncpg

# A quoted literal is matched whole, so a ':word' inside it is left alone; '::' is a cast.
_PARAMETER = re.compile(r"'[^']*'|(?<![:\w]):(\w+)")
Row = tuple[Any, ...]


class Sql:
    """One statement, with its PostgreSQL spelling made once."""

    __slots__ = ("names", "numbered", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return match.group(0)
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        self.numbered = _PARAMETER.sub(number, text)
        self.names = tuple(names)


class Tx(Protocol):
    """A transaction (or a plain connection, for reads) on either database."""

    async def execute(self, statement: Sql, **params: Any) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def fetch_one(self, statement: Sql, **params: Any) -> Row | None: ...

    async def fetch_all(self, statement: Sql, **params: Any) -> list[Row]: ...


class SqliteTx:
    """Runs on the event loop's thread: each statement takes microseconds, far less than a hop
    to a worker thread and back."""

    __slots__ = ("_connection", "_times")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        # A transaction writes one `now` into several rows: it is formatted once.
        self._times: dict[datetime, str] = {}

    async def execute(self, statement: Sql, **params: Any) -> int:
        return self._connection.execute(statement.text, self._values(params)).rowcount

    async def fetch_one(self, statement: Sql, **params: Any) -> Row | None:
        cursor = self._connection.execute(statement.text, self._values(params))
        row: Row | None = cursor.fetchone()
        cursor.close()
        return row

    async def fetch_all(self, statement: Sql, **params: Any) -> list[Row]:
        rows: list[Row] = self._connection.execute(statement.text, self._values(params)).fetchall()
        return rows

    def _values(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters with each time written as SQLite stores it (most statements have
        none, and go as they are)."""
        for name, value in params.items():
            if type(value) is datetime:
                params[name] = self._time(value)
        return params

    def _time(self, value: datetime) -> str:
        text = self._times.get(value)
        if text is None:
            text = self._times[value] = sqlite_time(value)
        return text


class PostgresTx:
    __slots__ = ("_connection",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def execute(self, statement: Sql, **params: Any) -> int:
        status: str = await self._connection.execute(
            statement.numbered, *(params[name] for name in statement.names)
        )
        # asyncpg answers with the command tag, e.g. "UPDATE 1" or "INSERT 0 1".
        return int(status.rsplit(" ", 1)[-1])

    async def fetch_one(self, statement: Sql, **params: Any) -> Row | None:
        record = await self._connection.fetchrow(
            statement.numbered, *(params[name] for name in statement.names)
        )
        return tuple(record) if record is not None else None

    async def fetch_all(self, statement: Sql, **params: Any) -> list[Row]:
        records = await self._connection.fetch(
            statement.numbered, *(params[name] for name in statement.names)
        )
        return [tuple(record) for record in records]


def sqlite_time(value: datetime) -> str:
    """A UTC time as SQLAlchemy writes it into SQLite ("2026-11-24 21:00:00.000000"), so both
    read and compare it alike; isoformat is several times faster than strftime."""
    return value.isoformat(" ", "microseconds")[:26]
