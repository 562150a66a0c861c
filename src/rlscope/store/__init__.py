"""Durable results: SQLite in WAL mode, idempotent inserts, batched commits, export."""

from rlscope.store.sqlite import GenerationRow, Store, VerdictRow

__all__ = ["GenerationRow", "Store", "VerdictRow"]
