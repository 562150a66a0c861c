import sqlite3

from rlscope.boundary.benchmarks.base import Problem
from rlscope.store import GenerationRow, Store, VerdictRow


def make(tmp_path):
    s = Store(tmp_path / "run")
    probs = [Problem("a", "q1", "1"), Problem("b", "q2", "2")]
    s.put_problems(probs, ["p1", "p2"])
    return s


def test_wal_mode_and_layout(tmp_path):
    s = make(tmp_path)
    assert s.path == tmp_path / "run" / "results.sqlite"
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_idempotent_inserts_and_unverified(tmp_path):
    s = make(tmp_path)
    rows = [GenerationRow(pid, i, f"{pid}{i}") for pid in "ab" for i in range(3)]
    assert s.put_generations(rows) == 6
    assert s.put_generations(rows) == 0  # replay after a crash adds nothing
    assert s.put_generations([GenerationRow("a", 0, "different")]) == 0  # first write wins
    assert s.count_generations() == 6
    assert s.sample_indices() == {"a": {0, 1, 2}, "b": {0, 1, 2}}
    s.put_verdicts([VerdictRow("a", 0, True, "1", "exact", "m"), VerdictRow("a", 1, False, "7", "mismatch", "m")])
    pending = [r for batch in s.iter_unverified(batch=2) for r in batch]
    assert [(p, i) for p, i, _ in pending] == [("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert s.count_unverified() == 4
    assert s.correct_counts() == {"a": (2, 1)}
    samples = list(s.iter_samples())
    assert [(r["problem_id"], r["sample_idx"], r["correct"]) for r in samples][:3] == [("a", 0, True), ("a", 1, False), ("a", 2, None)]
    assert s.get_meta("nothing", 5) == 5
    s.set_meta("x", {"y": 1})
    assert s.get_meta("x") == {"y": 1}
    s.close()


def test_committed_rows_survive_a_second_connection(tmp_path):
    s = make(tmp_path)
    s.put_generations([GenerationRow("a", 0, "x")])
    other = sqlite3.connect(s.path)
    assert other.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 1
    other.close()
    s.close()


def test_runs_are_separate(tmp_path):
    s1 = Store(tmp_path / "run", run="base")
    s2 = Store(tmp_path / "run", run="rl")
    s1.put_generations([GenerationRow("a", 0, "x")])
    assert s2.count_generations() == 0
    s1.close()
    s2.close()
