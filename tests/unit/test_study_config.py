"""Study settings that are checked before any work starts."""

import collections
import json

import pytest

from rlscope.boundary.organism.task import parse_question, problem_class
from rlscope.boundary.study import StudyConfig, algorithms, run_study
from rlscope.errors import RlscopeError


def test_bad_difficulty_range_is_one_clear_error(tmp_path):
    with pytest.raises(RlscopeError, match="min_ops <= max_ops"):
        run_study(StudyConfig(out=tmp_path, min_ops=6, max_ops=3))


@pytest.mark.parametrize(("shares", "message"), [((0.7, 0.5), "at most 1 together"), ((-0.1, 0.2), "between 0 and 1")])
def test_bad_class_shares_are_one_clear_error(tmp_path, shares, message):
    with pytest.raises(RlscopeError, match=message):
        run_study(StudyConfig(out=tmp_path, below_zero_share=shares[0], division_share=shares[1]))


def test_all_algorithms():
    assert algorithms(("all",)) == ["grpo", "dr_grpo", "ppo", "rloo", "reinforce_pp", "remax", "dapo"]
    assert algorithms(("ppo", "grpo", "ppo")) == ["ppo", "grpo"]


def _held_out(tmp_path, monkeypatch, **kw):
    import rlscope.boundary.study as study

    def stop(*_a, **_k):  # the held-out set is written before any training: stop there
        raise KeyboardInterrupt

    monkeypatch.setattr("rlscope.boundary.rl.trainer.train", stop)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(StudyConfig(out=tmp_path, **kw))
    return [json.loads(line) for line in (tmp_path / "organism.jsonl").read_text().splitlines()]


def test_held_out_set_is_stratified_by_class(tmp_path, monkeypatch):
    rows = _held_out(tmp_path, monkeypatch, problems=40, min_ops=5, max_ops=6, below_zero_share=0.5, division_share=0.25)
    assert len(rows) == 40 and all(len(parse_question(r["question"]).ops) in (5, 6) for r in rows)
    assert collections.Counter(r["class"] for r in rows) == {"plain": 10, "below_zero": 20, "division": 10}
    assert all(problem_class(parse_question(r["question"])) == r["class"] for r in rows)


def test_no_division_problems_without_a_teacher(tmp_path, monkeypatch):
    rows = _held_out(tmp_path, monkeypatch, problems=20, teacher="none")
    assert collections.Counter(r["class"] for r in rows) == {"plain": 10, "below_zero": 10}  # the default half below zero
