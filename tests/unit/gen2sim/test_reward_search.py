"""Reward candidates, reflection and their bookkeeping (rlscope.gen2sim.tasks.candidates, .reflect, gen2sim.search):
pass@k over candidates by hand, statistics at tenths of training, the diagnosis, offline variants run on real states,
answers taken apart, the undecomposed reward of a long-horizon task."""

import math

import numpy as np
import pytest

from rlscope.gen2sim.search import best_of, passk_over_candidates, rank_key
from rlscope.gen2sim.tasks.candidates import (
    CandidateError, Variant, first_variants, next_variants, prefixed, reward_from_answer, reward_terms, success_source,
    undecomposed, variant_code, with_success,
)
from rlscope.gen2sim.tasks.reflect import Diagnosis, diagnose, round_feedback, series_statistics, training_statistics


def cand(idx, honest=None, last=None, ret=0.0, **kw):
    c = {"idx": idx, **kw}
    if honest is not None:
        c["eval"] = {"success_rate": honest, "honest_success_rate": honest, "mean_return": ret}
        c["stats"] = {"success": {"tenths": [0.0, last]} if last is not None else None, "terms": {}}
    return c


@pytest.mark.parametrize("honest, success_at, n, c, expected", [
    ([0.9, 0.1, 0.6, None], 0.5, 4, 2, {"1": 0.5, "2": 1 - 1 / 6, "4": 1.0}),  # C(2,2)/C(4,2) = 1/6 miss both
    ([0.0, 0.0], 0.5, 2, 0, {"1": 0.0, "2": 0.0}),
    ([0.5, 0.49, 0.2], 0.5, 3, 1, {"1": 1 / 3, "2": 2 / 3, "3": 1.0}),  # pass@2 = 1 - C(2,2)/C(3,2)
    ([1.0], 0.5, 1, 1, {"1": 1.0}),
])
def test_passk_over_candidates_by_hand(honest, success_at, n, c, expected):
    got = passk_over_candidates([cand(i, h) for i, h in enumerate(honest)], success_at)
    assert got["n"] == n and got["c"] == c
    assert got["passk"].keys() == expected.keys()
    for k, v in expected.items():
        assert got["passk"][k] == pytest.approx(v)


def test_ranking_success_then_training_success_never_return():
    a, b, c, d = cand(0, 0.5, 0.2, 10.0), cand(1, 0.5, 0.4, -50.0), cand(2, 0.5, 0.4, 3.0), cand(3)
    assert best_of([a, b, c, d])["idx"] == 1  # same success; the later training success; returns do not compare
    assert best_of([cand(8, 0.0, 0.0, -5.0), cand(9, 0.0, 0.0, 900.0)])["idx"] == 8  # a reward x9 does not win by return
    assert best_of([a, cand(4, 0.6, 0.0, -99.0)])["idx"] == 4
    assert best_of([cand(5, 0.5, 0.2, 1.0), cand(6, 0.5, 0.2, 1.0)])["idx"] == 5  # equals: the first
    assert best_of([d, cand(7, error="x")]) is None and rank_key(d) < rank_key(a)


def test_statistics_at_tenths_by_hand():
    s = series_statistics(list(range(20)))
    assert s["tenths"] == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 18.5]
    assert (s["mean"], s["min"], s["max"]) == (9.5, 0.0, 19.0)
    short = series_statistics([1.0, math.nan, 3.0])
    assert short["tenths"] == [1.0, None, 3.0] and short["mean"] == 2.0
    assert series_statistics([math.nan]) is None and series_statistics([]) is None
    rows = [{"update": i + 1, "steps": 100 * (i + 1), "charts/success_rate": i / 10, "charts/episodic_return": -i,
             "reward/reach": -1.0 + i / 10, "reward/open": 0.5} for i in range(10)]
    st = training_statistics(rows)
    assert st["updates"] == 10 and st["steps"] == 1000
    assert st["terms"]["reach"]["tenths"] == pytest.approx([-1.0 + i / 10 for i in range(10)])
    assert st["success"]["max"] == pytest.approx(0.9) and st["return"]["min"] == -9.0


def test_diagnosis_and_feedback():
    terms = {"reach": {"tenths": [-0.5, -0.1], "mean": -0.3, "min": -0.5, "max": -0.1},
             "open": {"tenths": [0.01, 0.01], "mean": 0.01, "min": 0.01, "max": 0.01},
             "big": {"tenths": [5.0, 4.0], "mean": 4.5, "min": 4.0, "max": 5.0}}
    best = {"idx": 0, "what": "w", "eval": {"success_rate": 0.0, "honest_success_rate": 0.0, "mean_return": 1.0},
            "stats": {"updates": 2, "success": {"tenths": [0.0, 0.0], "mean": 0, "min": 0, "max": 0}, "return": None,
                      "terms": terms}, "validation": {"ok": True, "warnings": ["term 'open' is 0.01 everywhere"]}}
    bad = {"idx": 1, "what": "v", "validation": {"ok": False, "problems": ["Traceback...\nZeroDivisionError: x"]}}
    d = diagnose(best, [best, bad])
    assert d == Diagnosis(True, "big", pytest.approx(4.5 / 4.81), ("open",))
    text = round_feedback("open", 1, [best, bad], best, 4096, 100)
    assert "Candidate 1 (v): rejected by validation: ZeroDivisionError: x" in text
    assert "reward term 'reach': -0.5 -0.1 | mean -0.3, min -0.5, max -0.1" in text
    assert "validation warning: term 'open' is 0.01 everywhere" in text
    assert "rewrite the reward" in text and "The term 'big' makes 94%" in text and "'open'" in text.split("Guidance:")[1]
    assert not diagnose({**best, "eval": {"success_rate": 0.3}}, [{**best, "eval": {"success_rate": 0.3}}]).zero_success
    # the best so far from an earlier round is named with its round
    later = round_feedback("open", 2, [bad], {**best, "round": 1}, 4096, 100)
    assert "Statistics of the best so far, candidate 0 of round 1, over its training (2 updates)" in later
    assert "Statistics of the best, candidate 0, over its training (2 updates)" in text
    # a term stuck near zero beside a larger one that moves was not optimised either (0 -> 5e-6 against -0.3 -> -0.1)
    tiny = {"reach": terms["reach"], "open": {"tenths": [0.0, 5e-6], "mean": 2e-6, "min": 0.0, "max": 5e-6}}
    assert diagnose({**best, "stats": {**best["stats"], "terms": tiny}}, [best]).flat == ("open",)
    moving = {"reach": terms["reach"], "open": {"tenths": [0.0, 0.05], "mean": 0.02, "min": 0.0, "max": 0.05}}
    assert diagnose({**best, "stats": {**best["stats"], "terms": moving}}, [best]).flat == ()


OPEN = '''import numpy as np

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"
SUCCESS = 0.66  # fraction of the travel


def helper(x):
    return x


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    opened = np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "open": 2.0 * opened}
    return components["reach"] + components["open"] + 0.5, components


def is_success(state):
    return helper(state.joint(JOINT).fraction) >= SUCCESS
'''


class FakeState:
    """The two state-API calls the code above makes, on three environments (no simulator needed for pure code)."""

    n = 3

    class _P:
        def __init__(self, pos=None, fraction=None):
            self.pos, self.fraction = pos, fraction

    def __init__(self):
        self.gripper = self._P(np.array([[0.0, 0.0, 0.0], [0.0, 0.3, 0.4], [1.0, 0.0, 0.0]]))

    def handle(self, name):
        return self._P(np.zeros((3, 3)))

    def joint(self, name):
        return self._P(fraction=np.array([0.0, 0.7, 0.3]))


def _load(code):
    ns = {"np": np}
    exec(compile(code, "candidate", "exec"), ns)  # the test's own code, not a model's
    return ns


def test_offline_variants_change_the_reward_as_described():
    assert reward_terms(OPEN) == ["reach", "open"]
    vs = first_variants(["reach", "open"], 4)
    assert [v.describe() for v in vs] == ["as proposed", "open x3", "reach x3", "reach bounded, success bonus 2"]
    assert variant_code(OPEN, vs[0]) == OPEN
    s = FakeState()
    r0, c0 = _load(OPEN)["compute_reward"](s)
    for v in vs[1:] + [Variant(weights=(("reach", 0.0),), bonus=1.5)]:
        ns = _load(variant_code(OPEN, v))
        r, c = ns["compute_reward"](s)
        expect = {k: v.weight(k) * (np.exp(5 * c0[k]) - 1 if k in v.bounded else c0[k]) for k in c0 if v.weight(k) != 0}
        if v.bonus:
            expect["success"] = v.bonus * np.array([0.0, 1.0, 0.0])
        expect["rest"] = np.full(3, 0.5)  # the proposal adds 0.5 beyond its terms: kept
        assert c.keys() == expect.keys()
        for k in expect:
            np.testing.assert_allclose(c[k], expect[k])
        np.testing.assert_allclose(r, sum(expect.values()))
        np.testing.assert_array_equal(ns["is_success"](s), [False, True, False])  # the test never changes
    diag = Diagnosis(True, "open", 0.8, ("reach",))
    tried = list(vs)
    nxt = next_variants(vs[1], diag, ["reach", "open"], 4, tried)
    assert len(nxt) == 4 and not set(v for v, _ in nxt) & set(tried)  # open x3 then x1/3 is the proposal: tried
    assert [why.split(":")[0] for _, why in nxt][:2] == ["no candidate succeeded", "drop the term(s) training could not move"]
    nxt = next_variants(vs[1], diag, ["reach", "open"], 4, [vs[1]])
    assert nxt[0][0].bonus == 3.0 and "rewrite" in nxt[0][1]
    assert nxt[1][0].weight("open") == pytest.approx(1.0) and "dominant" in nxt[1][1]  # x3, then x1/3
    assert nxt[2][0].weight("reach") == 0.0 and "could not move" in nxt[2][1]


def test_answers_and_the_fixed_success_test():
    answer = ("Here it is.\n```python\nimport numpy as np\nSUCCESS = 0.0\n\ndef compute_reward(state):\n"
              "    d = np.linalg.norm(state.gripper.pos, axis=1)\n    return -d, {'d': -d}\n\n"
              "def is_success(state):\n    return state.joint('x').fraction > SUCCESS\n```\n")
    code = with_success(reward_from_answer(answer), OPEN, header="round 1")
    ns = _load(code)
    s = FakeState()
    np.testing.assert_array_equal(ns["is_success"](s), [False, True, False])  # the proposal's 0.66, not the answer's
    np.testing.assert_allclose(ns["compute_reward"](s)[0], -np.linalg.norm(s.gripper.pos, axis=1))
    assert "task_SUCCESS = 0.66" in code and "SUCCESS = 0.0" in code
    assert success_source(OPEN).splitlines() == ['JOINT = "cabinet/drawer_0_joint"', "SUCCESS = 0.66  # fraction of the travel",
                                                "", "def helper(x):", "    return x", "", "def is_success(state):",
                                                "    return helper(state.joint(JOINT).fraction) >= SUCCESS"]
    with pytest.raises(CandidateError, match="no code block defining compute_reward"):
        reward_from_answer("no code here")
    with pytest.raises(CandidateError, match="does not parse"):
        reward_from_answer("```python\ndef compute_reward(state):\n    return (\n```")
    with pytest.raises(CandidateError, match="Gen2Sim format"):
        reward_from_answer("```python\ndef compute_reward(self):\n    return 0, 0\n```")
    assert "A_x = 1" in prefixed("x = 1\ndef f():\n    return x\n", "A_") and "return A_x" in prefixed("x = 1\ndef f():\n    return x\n", "A_")


def test_undecomposed_reward_of_the_standard_long_horizon_task():
    from rlscope.gen2sim.pipeline import resolve_task_dir
    from rlscope.gen2sim.tasks.static import SceneNames, static_problems
    from rlscope.gen2sim.tasks.task import load_task

    task = load_task(resolve_task_dir("put_cube_in_drawer"))
    whole = undecomposed(task)
    (sub,) = whole.subtasks
    assert whole.task_id == "put_cube_in_drawer_undecomposed"
    assert sub.episode_steps == sum(s.episode_steps for s in task.subtasks)
    assert sub.train_steps == sum(s.train_steps for s in task.subtasks)
    assert sub.init == task.subtasks[0].init and set(sub.observe) == {t for s in task.subtasks for t in s.observe}
    names = SceneNames(links=frozenset({"cabinet/drawer_0", "cabinet/body"}), joints=frozenset({"cabinet/drawer_0_joint"}),
                       handles=frozenset({"cabinet/drawer_0_handle"}), objects=frozenset({"cube"}),
                       graspables=frozenset({"cube", "cabinet/drawer_0_handle"}))
    assert static_problems(sub.code, names) == []
    assert "s1_compute_reward" in sub.code and "STAGE_BONUS" in sub.code


def test_a_candidate_whose_training_failed_is_kept_as_failed(tmp_path):
    """A short training that failed (its task raised, or its Ray worker died for good) stays in the round as failed,
    with its error in the feedback; its own error.json wins over the summary's message."""
    from rlscope.gen2sim.search import _results, best_of

    died = {"idx": 1, "what": "open x3"}
    _results(died, tmp_path / "run1", "open", {"task_id": "t-open-1", "failed": True, "error": "the worker died 3 times"})
    assert died["error"] == "the worker died 3 times" and "eval" not in died
    (tmp_path / "run2" / "subtasks" / "open").mkdir(parents=True)
    (tmp_path / "run2" / "subtasks" / "open" / "error.json").write_text('{"error": "Traceback ...\\nValueError: nan reward"}')
    raised = {"idx": 2, "what": "as proposed"}
    _results(raised, tmp_path / "run2", "open", {"failed": True, "error": "training failed"})
    assert raised["error"].endswith("ValueError: nan reward")
    assert best_of([died, raised]) is None
    text = round_feedback("open", 1, [died, raised], None, 4096, 100)
    assert "Candidate 1 (open x3): failed: the worker died 3 times" in text
    assert "Candidate 2 (as proposed): failed: ValueError: nan reward" in text and "2 candidate(s) could not be trained" in text


def test_start_states_given_to_train_are_checked_and_named(tmp_path):
    from rlscope.errors import RlscopeError
    from rlscope.gen2sim.pipeline import _place_starts, resolve_task_dir
    from rlscope.gen2sim.tasks.task import load_task

    one, three = load_task(resolve_task_dir("open_drawer")), load_task(resolve_task_dir("put_cube_in_drawer"))
    good = tmp_path / "good.npy"
    np.save(good, np.ones((3, 5)))
    _place_starts(good, tmp_path, one)
    np.testing.assert_array_equal(np.load(tmp_path / "start_states.npy"), np.ones((3, 5)))
    _place_starts(None, tmp_path, one)  # a later run without start states does not inherit them
    assert not (tmp_path / "start_states.npy").exists()
    with pytest.raises(RlscopeError, match="3 sub-tasks"):
        _place_starts(good, tmp_path, three)
    flat, nan, text = tmp_path / "flat.npy", tmp_path / "nan.npy", tmp_path / "states.txt"
    np.save(flat, np.ones(5))
    np.save(nan, np.full((2, 5), np.nan))
    text.write_text("1 2 3\n")
    for bad, why in ((flat, r"shape \(5,\)"), (nan, "finite"), (text, "not a .npy array")):
        with pytest.raises(RlscopeError, match=f"--starts {bad}.*{why}"):
            _place_starts(bad, tmp_path, one)
