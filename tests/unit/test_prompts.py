import pytest

from rlscope.boundary.benchmarks import Problem, load_benchmark
from rlscope.boundary.prompts import TEMPLATES, PromptTemplate, get_template, render_prompt, template_id
from rlscope.errors import RlscopeError

PROBLEM = Problem("p", "What is $1+{1}$?", "2")


def test_qwen_boxed_is_the_paper_prompt():
    want = (
        "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
        "<|im_start|>user\nWhat is $1+{1}$?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render_prompt("qwen-boxed", PROBLEM) == want


@pytest.mark.parametrize(
    "name,want",
    [
        (
            "plain-boxed",
            "Question: What is $1+{1}$?\nPlease reason step by step, and put your final answer within \\boxed{}.\nAnswer:",
        ),
        ("raw", "What is $1+{1}$?"),
        ("organism", "What is $1+{1}$?"),
        ("code-complete", "What is $1+{1}$?"),
    ],
)
def test_templates_render(name, want):
    assert get_template(name).render(PROBLEM) == want


def test_code_complete_is_the_humaneval_prompt_as_is():
    (problem,) = load_benchmark("humaneval", limit=1)
    assert render_prompt("code-complete", problem) == problem.meta["prompt"]
    assert render_prompt("code-complete", problem).endswith('"""\n')


def test_ids_and_versions():
    assert template_id("qwen-boxed") == "qwen-boxed@1"
    assert {"qwen-boxed", "plain-boxed", "raw", "code-complete", "organism"} <= set(TEMPLATES.names())
    assert get_template("raw@1").name == "raw"
    with pytest.raises(RlscopeError, match="version 1, not 2"):
        get_template("raw@2")
    with pytest.raises(RlscopeError, match="known: chat-boxed, code-complete"):
        get_template("qwen")


def shouting(problem):
    return problem.question.upper()


shouting.version = 3

CUSTOM = PromptTemplate("custom", 2, lambda p: "Q: " + p.question)


def test_module_path_templates():
    assert template_id(f"{__name__}:shouting") == f"{__name__}:shouting@3"
    assert get_template(f"{__name__}:shouting")(PROBLEM) == "WHAT IS $1+{1}$?"
    assert template_id(f"{__name__}:CUSTOM") == "custom@2"
