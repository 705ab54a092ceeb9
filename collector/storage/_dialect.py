"""What the SQL of the SQLite and PostgreSQL backends differs in, as one frozen value per backend (no I/O).

The shared queries (`_sql.py`) are built from a backend's `Dialect`: its parameter placeholder, the
two-argument minimum and maximum, how to keep the planner off an index or point it at one, and the column that
addresses a row. Everything else they use (`ON CONFLICT … DO NOTHING / DO UPDATE SET … excluded.…`,
`RETURNING`, `LIMIT`, `coalesce`) is written alike on both and so is not here. Layout differences (SQLite's
staged key tables) are backend methods, not dialect.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    """One backend's SQL spelling of the things the shared queries need."""

    name: str
    placeholder: str
    """A bound parameter: `?` (sqlite3, qmark) or `%s` (psycopg, format)."""
    least_fn: str
    """The scalar two-argument minimum (SQLite's `min(a, b)`, PostgreSQL's `LEAST`)."""
    greatest_fn: str
    """The scalar two-argument maximum (SQLite's `max(a, b)`, PostgreSQL's `GREATEST`)."""
    row_address: str
    """A pseudo-column naming one row of a table without a key, within one transaction (`rowid`, `ctid`)."""
    serial_key: str
    """The key of the tables whose rows have no natural one (`pending`): SQLite's `rowid`, PostgreSQL's
    `id` column (a BIGSERIAL), because a `ctid` moves when a row is updated."""
    index_hints: bool
    """Whether a query may name the index to use (SQLite's `INDEXED BY`); PostgreSQL has no hints."""
    unindexed_prefix: str
    """Written before a column to keep the planner from using its index: SQLite's unary `+`."""

    def marks(self, n: int) -> str:
        """`n` placeholders separated by commas (a VALUES row or an IN list)."""
        return ", ".join((self.placeholder,) * n)

    def least(self, a: str, b: str) -> str:
        """The smaller of two scalar expressions."""
        return f"{self.least_fn}({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        """The larger of two scalar expressions."""
        return f"{self.greatest_fn}({a}, {b})"

    def unindexed(self, column: str) -> str:
        """`column` as an expression the planner will not serve from an index (same value)."""
        return self.unindexed_prefix + column

    def indexed_by(self, index: str) -> str:
        """A table suffix making the query walk `index` (empty where the backend takes no hints)."""
        return f" INDEXED BY {index}" if self.index_hints else ""


SQLITE = Dialect(name="sqlite", placeholder="?", least_fn="min", greatest_fn="max", row_address="rowid",
                 serial_key="rowid", index_hints=True, unindexed_prefix="+")
POSTGRES = Dialect(name="postgresql", placeholder="%s", least_fn="LEAST", greatest_fn="GREATEST",
                   row_address="ctid", serial_key="id", index_hints=False, unindexed_prefix="")
