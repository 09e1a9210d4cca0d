"""Schema migrations: `migrations/NNNN_name.sql`, applied in order, each exactly once.

Every process that needs the read model (projector, API) calls `migrate(pool)` at start;
a Postgres advisory lock makes concurrent calls safe, and `schema_migrations` records
what was applied. Tables are unqualified, so a pool whose `search_path` names another
schema gets its own copy (rebuilds, tests).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# An arbitrary constant: the advisory lock every migrating process takes.
LOCK_KEY = 0x7473_6D69_6772  # "tsmigr"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file, to notice a migration edited after it was applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in `directory`, in the order they apply."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        if not _NAME.match(path.name):
            raise ValueError(f"migration file {path.name!r} is not named NNNN_name.sql")
        found.append(Migration(path.stem, path.read_text(encoding="utf-8")))
    return found


async def migrate(pool: asyncpg.Pool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; returns the names applied by this call."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
            done = {r["name"]: r["checksum"] for r in rows}
            for migration in migrations(directory):
                if migration.name in done:
                    if done[migration.name] != migration.checksum:
                        log.warning(
                            "migration changed after it was applied",
                            extra={"migration": migration.name},
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        migration.name,
                        migration.checksum,
                    )
                log.info("migration applied", extra={"migration": migration.name})
                applied.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return applied
