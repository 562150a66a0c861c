"""Prompt templates: named, versioned functions from a :class:`Problem` to the model's input text.

A run records :func:`template_id` (``"qwen-boxed@1"``) in its manifest. Changing what a
template renders means a new version, so recorded runs keep meaning what they meant. A template
is *raw* (the whole text a model continues, chat tokens included where the model wants them; for
``/completions`` and local backends) or *chat* (the content of one user message; a chat endpoint
applies the model's own chat template around it).

=============  =======================================================================
name           renders
=============  =======================================================================
qwen-boxed     the paper's Qwen2.5-Math chat prompt (system: reason step by step, \\boxed{})
plain-boxed    ``Question: ...`` + the same instruction + ``Answer:``, no chat tokens (base models)
chat-boxed     chat: the question and the same instruction, as one user message (``--chat``)
raw            the question as it is
code-complete  the code prompt as it is (HumanEval signature + docstring), for completion
organism       the question as it is, for the small synthetic-task model
=============  =======================================================================

Add one with ``@template("name", version=1)`` on a ``render(problem) -> str`` function, or
name a ``module:function`` (a function or a :class:`PromptTemplate`) where a template is asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rlscope.boundary.benchmarks.base import Problem
from rlscope.errors import RlscopeError
from rlscope.registry import Registry

__all__ = ["TEMPLATES", "PromptTemplate", "get_template", "render_prompt", "template", "template_id"]

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""The paper's instruction (Qwen2.5-Math evaluation, ``qwen25-math-cot``)."""


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt template."""

    name: str
    """Registry name (``qwen-boxed``)."""
    version: int
    """Bumped whenever the rendered text changes."""
    render: Callable[[Problem], str]
    """``render(problem) -> prompt text``."""
    description: str = ""
    """One line for listings."""
    chat: bool = False
    """True: renders one user message for a chat endpoint; False: the raw text the model continues."""

    @property
    def id(self) -> str:
        """``name@version``, as recorded in run manifests."""
        return f"{self.name}@{self.version}"

    def __call__(self, problem: Problem) -> str:
        return self.render(problem)


TEMPLATES: Registry[PromptTemplate] = Registry("prompt template")
"""Known templates by name."""


def template(name: str, version: int, description: str = "", chat: bool = False
             ) -> Callable[[Callable[[Problem], str]], PromptTemplate]:
    """Register ``render`` as template ``name`` (decorator); the name then refers to the template."""

    def deco(render: Callable[[Problem], str]) -> PromptTemplate:
        doc = (render.__doc__ or "").strip().splitlines()
        tpl = PromptTemplate(name, version, render, description or (doc[0] if doc else ""), chat)
        TEMPLATES.add(name, tpl)
        return tpl

    return deco


@template("qwen-boxed", version=1)
def qwen_boxed(problem: Problem) -> str:
    """The paper's prompt: Qwen2.5-Math chat format, reason step by step, answer in \\boxed{}."""
    return (
        "<|im_start|>system\n"
        + BOXED_INSTRUCTION
        + "<|im_end|>\n<|im_start|>user\n"
        + problem.question
        + "<|im_end|>\n<|im_start|>assistant\n"
    )


@template("plain-boxed", version=1)
def plain_boxed(problem: Problem) -> str:
    """Question, the boxed-answer instruction and ``Answer:``, without chat tokens."""
    return "Question: " + problem.question + "\n" + BOXED_INSTRUCTION + "\nAnswer:"


@template("chat-boxed", version=1, chat=True)
def chat_boxed(problem: Problem) -> str:
    """Chat: the question, then the boxed-answer instruction, as one user message (no chat tokens)."""
    return problem.question + "\n" + BOXED_INSTRUCTION


@template("raw", version=1)
def raw(problem: Problem) -> str:
    """The question as it is."""
    return problem.question


@template("code-complete", version=1)
def code_complete(problem: Problem) -> str:
    """The code prompt as it is (``meta["prompt"]``, else the question), for completion."""
    prompt = problem.meta.get("prompt")
    return prompt if isinstance(prompt, str) else problem.question


@template("organism", version=1)
def organism(problem: Problem) -> str:
    """The question text alone, for the small synthetic-task model."""
    return problem.question


def _split_version(name: str) -> tuple[str, int | None]:
    base, sep, version = name.rpartition("@")
    if sep and version.isdigit():
        return base, int(version)
    return name, None


def get_template(name: str) -> PromptTemplate:
    """The template called ``name``: ``qwen-boxed``, ``qwen-boxed@1`` (version checked), or ``module:function``."""
    base, version = _split_version(name)
    obj = TEMPLATES.get(base)
    if isinstance(obj, PromptTemplate):
        tpl = obj
    elif callable(obj):
        tpl = PromptTemplate(base, int(getattr(obj, "version", 1)), obj, (obj.__doc__ or "").strip(),
                             bool(getattr(obj, "chat", False)))
    else:
        raise RlscopeError(f"prompt template {base!r} is a {type(obj).__name__}, not a function or PromptTemplate")
    if version is not None and version != tpl.version:
        raise RlscopeError(
            f"prompt template {base!r} is at version {tpl.version}, not {version}; "
            f"the text it renders changed since {base}@{version}"
        )
    return tpl


def template_id(name: str) -> str:
    """``name@version`` of a template (``template_id("qwen-boxed") == "qwen-boxed@1"``)."""
    return get_template(name).id


def render_prompt(name: str, problem: Problem) -> str:
    """Render ``problem`` with template ``name``."""
    return get_template(name).render(problem)
