"""Study settings that are checked before any work starts."""

import json

import pytest

from rlscope.boundary.organism.task import parse_question
from rlscope.boundary.study import StudyConfig, run_study
from rlscope.errors import RlscopeError


def test_bad_difficulty_range_is_one_clear_error(tmp_path):
    with pytest.raises(RlscopeError, match="min_ops <= max_ops"):
        run_study(StudyConfig(out=tmp_path, min_ops=6, max_ops=3))


def test_hard_held_out_set_has_only_long_problems(tmp_path, monkeypatch):
    import rlscope.boundary.study as study

    def stop(*_a, **_k):  # the held-out set is written before any training: stop there
        raise KeyboardInterrupt

    monkeypatch.setattr("rlscope.boundary.rl.trainer.train", stop)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(StudyConfig(out=tmp_path, problems=20, min_ops=7, max_ops=8))
    rows = [json.loads(line) for line in (tmp_path / "organism.jsonl").read_text().splitlines()]
    assert len(rows) == 20
    assert all(len(parse_question(r["question"]).ops) in (7, 8) for r in rows)
