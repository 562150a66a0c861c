"""SQLite store of one run directory.

Tables are keyed by ``(run, problem_id, sample_idx)``; inserts are ``INSERT OR IGNORE``
so replaying a batch after a crash neither loses nor duplicates a sample. WAL with
``synchronous=FULL`` makes each committed batch durable; callers commit in batches.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from rlscope.errors import RlscopeError

SCHEMA_VERSION = 1


class ProblemLike(Protocol):
    """What the store keeps of a problem (a benchmark's problem type fits)."""

    problem_id: str
    question: str
    answer: str | None
    kind: str
    meta: dict[str, Any]


class StoreError(RlscopeError):
    """The store cannot be opened: one line naming the file and why."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (
    run TEXT NOT NULL, problem_id TEXT NOT NULL, position INTEGER NOT NULL,
    question TEXT NOT NULL, answer TEXT, kind TEXT NOT NULL, prompt TEXT, meta TEXT NOT NULL,
    PRIMARY KEY (run, problem_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generations (
    run TEXT NOT NULL, problem_id TEXT NOT NULL, sample_idx INTEGER NOT NULL,
    completion TEXT NOT NULL, num_tokens INTEGER, finish_reason TEXT, seed INTEGER,
    source TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (run, problem_id, sample_idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scores (
    run TEXT NOT NULL, problem_id TEXT NOT NULL, sample_idx INTEGER NOT NULL, scorer TEXT NOT NULL,
    logprob REAL NOT NULL, tokens INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (run, problem_id, sample_idx, scorer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS verdicts (
    run TEXT NOT NULL, problem_id TEXT NOT NULL, sample_idx INTEGER NOT NULL,
    correct INTEGER NOT NULL, extracted TEXT, reason TEXT NOT NULL, verifier TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run, problem_id, sample_idx)
) WITHOUT ROWID;
"""


@dataclasses.dataclass(frozen=True)
class GenerationRow:
    """One stored sample."""

    problem_id: str
    sample_idx: int
    completion: str
    num_tokens: int | None = None
    finish_reason: str | None = None
    seed: int | None = None
    source: str = "sample"
    """``sample`` (drawn by a backend here) or ``import`` (completions generated elsewhere)."""


@dataclasses.dataclass(frozen=True)
class VerdictRow:
    """One stored verdict."""

    problem_id: str
    sample_idx: int
    correct: bool
    extracted: str | None
    reason: str
    verifier: str


class Store:
    """The results database of a run directory (``DIR/results.sqlite``)."""

    FILENAME = "results.sqlite"

    def __init__(self, directory: str | Path, run: str = "main"):
        """Open (creating if needed) ``directory/results.sqlite``; ``directory`` is always a folder, whatever
        its name (``runs/qwen2.5-math-7b`` included). Raises :class:`StoreError` for a file that is not a
        store of this kind (truncated, or another program's database)."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"{directory}: is a file; a run is a directory (it holds {self.FILENAME})")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.FILENAME
        self.path = path
        self.run = run
        self.conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=60000")
            self.conn.executescript(_SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            version = int(self.get_meta("schema_version", SCHEMA_VERSION))
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(generations)")}
        except (sqlite3.DatabaseError, ValueError) as exc:
            self.conn.close()
            raise StoreError(f"{path}: not a readable rlscope results store ({exc}); move it away or use another run "
                             "directory") from None
        if version > SCHEMA_VERSION or not {"completion", "sample_idx", "source"} <= cols:
            self.conn.close()
            raise StoreError(f"{path}: a results store of another kind or a newer rlscope (schema {version}, columns "
                             f"{sorted(cols)})")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def _insert_many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert rows in one transaction; returns the number actually inserted."""
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            before = self.conn.total_changes
            cur.executemany(sql, rows)
            inserted = self.conn.total_changes - before
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return inserted

    def put_problems(self, problems: Sequence[ProblemLike], prompts: Sequence[str | None]) -> int:
        rows = (
            (self.run, p.problem_id, i, p.question, p.answer, p.kind, prompt, json.dumps(p.meta, default=str))
            for i, (p, prompt) in enumerate(zip(problems, prompts))
        )
        return self._insert_many("INSERT OR IGNORE INTO problems VALUES (?,?,?,?,?,?,?,?)", rows)

    def put_generations(self, rows: Iterable[GenerationRow]) -> int:
        now = time.time()
        return self._insert_many(
            "INSERT OR IGNORE INTO generations VALUES (?,?,?,?,?,?,?,?,?)",
            (
                (self.run, r.problem_id, r.sample_idx, r.completion, r.num_tokens, r.finish_reason, r.seed, r.source, now)
                for r in rows
            ),
        )

    def put_verdicts(self, rows: Iterable[VerdictRow]) -> int:
        now = time.time()
        return self._insert_many(
            "INSERT OR IGNORE INTO verdicts VALUES (?,?,?,?,?,?,?,?)",
            ((self.run, r.problem_id, r.sample_idx, int(r.correct), r.extracted, r.reason, r.verifier, now) for r in rows),
        )

    def replace_generations(self, rows: Sequence[GenerationRow]) -> int:
        """Overwrite the completions of ``rows`` (same problem and sample index) and drop their verdicts,
        in one transaction; returns the number replaced."""
        now = time.time()
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for r in rows:
                for table in ("verdicts", "scores"):
                    cur.execute(f"DELETE FROM {table} WHERE run = ? AND problem_id = ? AND sample_idx = ?",
                                (self.run, r.problem_id, r.sample_idx))
                cur.execute("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?)",
                            (self.run, r.problem_id, r.sample_idx, r.completion, r.num_tokens, r.finish_reason, r.seed,
                             r.source, now))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return len(rows)

    def put_scores(self, scorer: str, rows: Iterable[tuple[str, int, float, int]]) -> int:
        """Store ``(problem_id, sample_idx, log-likelihood, tokens)`` of samples under the model ``scorer``."""
        now = time.time()
        return self._insert_many("INSERT OR IGNORE INTO scores VALUES (?,?,?,?,?,?,?)",
                                 ((self.run, pid, idx, scorer, float(lp), int(n), now) for pid, idx, lp, n in rows))

    def scores(self, scorer: str) -> dict[tuple[str, int], tuple[float, int]]:
        """(problem_id, sample_idx) -> (log-likelihood, tokens) of the samples scored under ``scorer``."""
        return {(pid, idx): (lp, n) for pid, idx, lp, n in self.conn.execute(
            "SELECT problem_id, sample_idx, logprob, tokens FROM scores WHERE run = ? AND scorer = ?", (self.run, scorer))}

    def scorers(self) -> list[str]:
        """The models this run's samples were scored under."""
        return [s for (s,) in self.conn.execute("SELECT DISTINCT scorer FROM scores WHERE run = ? ORDER BY scorer", (self.run,))]

    def delete_verdicts(self) -> int:
        cur = self.conn.execute("DELETE FROM verdicts WHERE run = ?", (self.run,))
        return cur.rowcount

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- reading ---------------------------------------------------------------------------
    def problems(self) -> list[tuple[dict[str, Any], str | None]]:
        """Each stored problem's fields (``problem_id``, ``question``, ``answer``, ``kind``, ``meta``) and its
        prompt, in benchmark order."""
        rows = self.conn.execute(
            "SELECT problem_id, question, answer, kind, meta, prompt FROM problems WHERE run = ? ORDER BY position",
            (self.run,),
        ).fetchall()
        return [({"problem_id": pid, "question": q, "answer": a, "kind": k, "meta": json.loads(m)}, prompt)
                for pid, q, a, k, m, prompt in rows]

    def sample_indices(self) -> dict[str, set[int]]:
        """problem_id -> sample indices already stored."""
        out: dict[str, set[int]] = {}
        for pid, idx in self.conn.execute(
            "SELECT problem_id, sample_idx FROM generations WHERE run = ?", (self.run,)
        ):
            out.setdefault(pid, set()).add(idx)
        return out

    def sources(self) -> set[str]:
        """Where the stored samples come from: ``sample`` (drawn here) and/or ``import``."""
        return {s for (s,) in self.conn.execute("SELECT DISTINCT source FROM generations WHERE run = ?", (self.run,))}

    def completions(self) -> dict[tuple[str, int], str]:
        """(problem_id, sample_idx) -> stored completion."""
        return {(pid, idx): text for pid, idx, text in self.conn.execute(
            "SELECT problem_id, sample_idx, completion FROM generations WHERE run = ?", (self.run,))}

    def sample_counts(self) -> dict[str, int]:
        """problem_id -> number of stored samples, for problems with at least one."""
        return dict(self.conn.execute(
            "SELECT problem_id, COUNT(*) FROM generations WHERE run = ? GROUP BY problem_id", (self.run,)))

    def count_generations(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM generations WHERE run = ?", (self.run,)).fetchone()[0]

    def count_verdicts(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM verdicts WHERE run = ?", (self.run,)).fetchone()[0]

    def count_unverified(self) -> int:
        return self.conn.execute(
            """SELECT COUNT(*) FROM generations g LEFT JOIN verdicts v
               ON v.run = g.run AND v.problem_id = g.problem_id AND v.sample_idx = g.sample_idx
               WHERE g.run = ? AND v.sample_idx IS NULL""",
            (self.run,),
        ).fetchone()[0]

    def iter_unverified(self, batch: int = 2048) -> Iterator[list[tuple[str, int, str]]]:
        """Batches of (problem_id, sample_idx, completion) that have no verdict yet, problem-grouped."""
        cur = self.conn.execute(
            """SELECT g.problem_id, g.sample_idx, g.completion FROM generations g LEFT JOIN verdicts v
               ON v.run = g.run AND v.problem_id = g.problem_id AND v.sample_idx = g.sample_idx
               WHERE g.run = ? AND v.sample_idx IS NULL ORDER BY g.problem_id, g.sample_idx""",
            (self.run,),
        )
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            yield rows

    def correct_counts(self) -> dict[str, tuple[int, int]]:
        """problem_id -> (n verified samples, c correct), for problems with at least one verdict."""
        return {
            pid: (n, c)
            for pid, n, c in self.conn.execute(
                "SELECT problem_id, COUNT(*), SUM(correct) FROM verdicts WHERE run = ? GROUP BY problem_id",
                (self.run,),
            )
        }

    def iter_samples(self) -> Iterator[dict[str, Any]]:
        """Every sample with its verdict (if any), ordered by problem position and sample index."""
        cur = self.conn.execute(
            """SELECT g.problem_id, g.sample_idx, g.completion, v.extracted, v.correct, v.reason,
                      g.num_tokens, g.finish_reason, g.seed, g.source, p.answer
               FROM generations g
               LEFT JOIN verdicts v ON v.run = g.run AND v.problem_id = g.problem_id AND v.sample_idx = g.sample_idx
               LEFT JOIN problems p ON p.run = g.run AND p.problem_id = g.problem_id
               WHERE g.run = ? ORDER BY p.position, g.problem_id, g.sample_idx""",
            (self.run,),
        )
        for pid, idx, comp, ext, corr, reason, ntok, fin, seed, src, gold in cur:
            yield {
                "problem_id": pid,
                "sample_idx": idx,
                "gold": gold,
                "completion": comp,
                "extracted": ext,
                "correct": None if corr is None else bool(corr),
                "reason": reason,
                "num_tokens": ntok,
                "finish_reason": fin,
                "seed": seed,
                "source": src,
            }
