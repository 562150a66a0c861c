"""The TRL reward function: verdicts on string and conversational completions, and one real GRPOTrainer run."""

import pickle
import subprocess
import sys

import pytest

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.rl.trl_rewards import VerifierReward, completion_text, prompt_records, verifier_reward


@pytest.fixture
def reward():
    fn = verifier_reward("answer")
    yield fn
    fn.close()


def as_chat(text):
    return [{"role": "assistant", "content": text}]


CASES = [
    # (gold, completion text, expected reward)
    ("42", "6 * 7 = 42, so the answer is \\boxed{42}.", 1.0),
    ("42", "I think it is \\boxed{41}.", 0.0),
    ("42", "I do not know.", 0.0),  # no answer at all
    ("\\frac{1}{2}", "Half of it: \\boxed{0.5}", 1.0),
    ("17", "#### 17", 1.0),
]


@pytest.mark.parametrize("chat", [False, True], ids=["string", "conversational"])
def test_rewards_table(reward, chat):
    golds = [g for g, _, _ in CASES]
    completions = [as_chat(c) if chat else c for _, c, _ in CASES]
    prompts = ["question"] * len(CASES)
    got = reward(prompts=prompts, completions=completions, answer=golds, completion_ids=[[1]] * len(CASES))
    assert got == [want for _, _, want in CASES]


def test_symbolic_answer_goes_through_math_verify(reward):
    # an expression the fast path cannot settle as equal: decided by Math-Verify in a worker process
    got = reward(prompts=["q", "q"], completions=["\\boxed{(x-1)(x+1)}", "\\boxed{(x-1)^2}"], answer=["x^2-1", "x^2-1"])
    assert got == [1.0, 0.0]
    assert reward.verifier.stats.slow >= 1  # the equal pair (a mismatch may be settled by evaluation)


def test_numeric_golds_missing_golds_and_metrics(reward):
    logged = {}
    got = reward(
        prompts=["q"] * 3, completions=["\\boxed{27}", "\\boxed{3}", "nothing"], answer=[27.0, None, 5],
        log_metric=lambda name, value: logged.setdefault(name, value),
    )
    assert got == [1.0, None, 0.0]  # None: no gold answer, TRL leaves the row out
    assert logged == {"verify/no_answer_frac": 0.5, "verify/timeout_frac": 0.0}


def test_answer_column_and_errors():
    fn = verifier_reward(answer_column="solution")
    assert fn(prompts=["q"], completions=["\\boxed{3}"], solution=["3"]) == [1.0]
    with pytest.raises(KeyError, match="solution"):
        fn(prompts=["q"], completions=["\\boxed{3}"], answer=["3"])
    with pytest.raises(ValueError, match="2 completions"):
        fn(prompts=["q", "q"], completions=["a", "b"], solution=["3"])
    fn.close()


def test_completion_text_forms():
    assert completion_text("plain") == "plain"
    assert completion_text(as_chat("chat")) == "chat"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert completion_text(parts) == "ab"
    turns = [
        {"role": "assistant", "content": "let me call a tool"},
        {"role": "tool", "content": "\\boxed{999}"},
        {"role": "assistant", "content": "\\boxed{1}"},
    ]
    assert completion_text(turns) == "let me call a tool\n\\boxed{1}"  # tool output is not the model's answer
    assert completion_text(None) == ""


def test_named_picklable_and_lazy():
    fn = verifier_reward(name="math")
    assert fn.__name__ == "math"
    assert fn._verifier is None  # nothing started before the first call
    clone = pickle.loads(pickle.dumps(fn))
    assert clone.__name__ == "math" and clone.answer_column == "answer"
    assert clone(prompts=["q"], completions=["\\boxed{2}"], answer=["2"]) == [1.0]
    clone.close()


def test_trl_not_imported():
    code = "import sys, rlscope.boundary.rl.trl_rewards; assert 'trl' not in sys.modules, 'trl imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_prompt_records():
    problems = [Problem("a", "What is 1+1?", "2"), Problem("b", "Write code", None, kind="code")]
    rows = prompt_records(problems, template="plain-boxed")
    assert rows == [{"prompt": "Question: What is 1+1?\nPlease reason step by step, and put your final answer within "
                     "\\boxed{}.\nAnswer:", "answer": "2", "problem_id": "a"}]


class RecordingReward(VerifierReward):
    """The real reward, remembering the answers TRL handed it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def __call__(self, prompts=None, completions=None, **kwargs):
        self.calls.append((list(prompts), list(kwargs["answer"])))
        return super().__call__(prompts, completions, **kwargs)


def test_grpo_trainer_runs_with_verifier_reward(tmp_path):
    import datasets
    import trl
    import torch
    from transformers import AutoTokenizer

    from rlscope.llm.tiny import TinyModelConfig, build_tiny_model

    torch.set_num_threads(1)
    model = build_tiny_model(
        tmp_path / "model",
        TinyModelConfig(hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128, max_position_embeddings=128),
    )
    rows = [{"prompt": f"What is {i} + {i}? ", "answer": str(2 * i)} for i in range(4)]
    answer_of = {r["prompt"]: r["answer"] for r in rows}
    reward = RecordingReward("answer")
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], max_steps=2, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=8, logging_steps=1, save_strategy="no", bf16=False, seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=str(model), reward_funcs=reward, args=args, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(model),
    )
    try:
        trainer.train()
    finally:
        reward.close()
    assert reward.calls, "the reward function was never called"
    for prompts, answers in reward.calls:
        assert len(answers) == 2 and answers == [answer_of[p] for p in prompts]  # each row's own gold answer
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert 0.0 <= entry["rewards/rlscope_math/mean"] <= 1.0
        assert entry["verify/no_answer_frac"] >= 0.0
