"""Math answer extraction, normalization and verification."""

from __future__ import annotations

import json
import pathlib
import random
import threading
import time

import pytest

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.extract import extract_answer, normalize_answer
from rlscope.boundary.verify.fastpath import fast_check
from rlscope.boundary.verify.math import MathVerifier, check_pair, verify_one
from rlscope.errors import DataError

MATH500 = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks" / "math" / "math500"


def _problem(gold: str, problem_id: str = "p") -> Problem:
    return Problem(problem_id=problem_id, question="", answer=gold)


@pytest.fixture(scope="module")
def verifier():
    with MathVerifier(workers=2, timeout_s=5.0) as v:
        yield v


# --- extraction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
        (r"try \boxed{3}, no: \boxed{\left\{ 1, 2 \right\}}", r"\left\{ 1, 2 \right\}"),
        (r"\boxed{a^{b^{c}}} end", r"a^{b^{c}}"),
        (r"\fbox{7}", "7"),
        (r"hence $\boxed 5$.", "5"),
        (r"\boxed{} so 4", "4"),
        (r"good \boxed{2} then truncated \boxed{\frac{1}{", "2"),
        ("3 + 4 = 7\n#### 1,234\n", "1234"),
        ("#### 12 dollars", "12"),
        ("The answer is 12 apples.", "12"),
        ("**Final Answer:** $\\frac{3}{4}$", r"\frac{3}{4}"),
        ("The answer is:\n$$42$$", "42"),
        ("Answer: \\(x=3\\)", "x=3"),
        ("The final answer is (C).", "(C)"),
        ("I wonder if the answer is correct. It is 17", "17"),
        ("the total is 1,234 and then -3.5", "-3.5"),
        ("we get 3/4", "3/4"),
        ("cut off at $\\frac{80}{12}$, which we", "\\frac{80}{12}"),
        ("we get 1,2345", "2345"),
        ("The answer is $x^5-x^4+x^3-x^2+x-1$.", "x^5-x^4+x^3-x^2+x-1"),
        ("The answer is $\\$36$.", "\\$36"),
        ("The answer is 3. Wait, the answer is 4.", "4"),
        ("Final answer:\n$$\n\\frac{1}{2}\n$$", "\\frac{1}{2}"),
        ("the answer is unknown yet and x_2 = 7", "7"),
        ("so far $60^2", "60"),
        ("no numbers here", None),
        ("", None),
        # a fraction before a full stop keeps its numerator
        ("we get 3/4.", "3/4"),
        ("x = 1/2.", "1/2"),
        # every box of a multi-answer completion, as a list; a box the text retracts is not one of them
        (r"\boxed{(2, 2)} and \boxed{(6, 2)}", "(2, 2), (6, 2)"),
        (r"$\boxed{1},\boxed{2},\boxed{3}$", "1, 2, 3"),
        (r"$\boxed{-1}$ or $\boxed{4}$.", "-1, 4"),
        # relations, intervals and matrices stated in prose math, not their last number
        (r"Therefore $x \geq 5$ is the solution.", r"x \geq 5"),
        (r"So the solution set is $(-\infty, 2] \cup [5, \infty)$.", r"(-\infty, 2] \cup [5, \infty)"),
        (r"Thus the matrix is $\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}$.",
         r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}"),
        (r"So $3 + 4 = 7$.", "7"),  # a computation: its result
        (r"gives $2 \times 58 = 116$", "116"),
        (r"so $x = 3$", "x = 3"),  # an equation in a variable stays whole (the grader reads x = 3)
        (r"Thus $x = 3$, which makes 12 in all.", "12"),  # a number stated after the last math span
        # decimal commas where they cannot be thousands separators; a comma and a space split numbers
        ("The mass is 1,22", "1.22"),
        ("so 0,111", "0.111"),
        (r"\boxed{0,111}", "0.111"),
        ("we get 32, 349", "349"),
        ("the total is 1,234", "1234"),
        # an explicit final-answer statement after an intermediate box
        (r"First $\boxed{4}$ is the area. The final answer is 7.", "7"),
        (r"**Final Answer:** \boxed{5}", "5"),
        # an expression stated after "the answer is"
        ("The answer is x^3+3x-6.", "x^3+3x-6"),
        # a box cut off before it closed holds no answer (no fallback into it)
        (r"so \boxed{3", None),
        (r"The answer is \boxed{3", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


NORMALIZE_EQUAL = [
    (r"$\left( 3, \dfrac{\pi}{2} \right)$.", r"(3,\frac{\pi}{2})"),
    (r"12\text{ cm}", "12"),
    (r"\frac{1}{2}\text{ cm}^2", r"\frac{1}{2}"),
    (r"\text{(C)}", "(C)"),
    (r"90^\circ", "90"),
    (r"90^{\circ}", "90"),
    (r"\tfrac{3}{4}", r"\frac{3}{4}"),
    (r"\dfrac12", r"\frac12"),
    (r"1\,000", "1000"),
    (r"\$18.90", "18.90"),
    (r"\displaystyle x", "x"),
    (r"\left\{1,\!2\right\}", r"\{1,2\}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
]


@pytest.mark.parametrize(("a", "b"), NORMALIZE_EQUAL)
def test_normalize_equal(a, b):
    assert normalize_answer(a) == normalize_answer(b)


NORMALIZE_DISTINCT = [
    (r"\cdot x", r"\cdotx"),  # a space ending a control word is kept
    (r"\leftarrow", "arrow"),  # \left only goes before a delimiter
    ("1,2", "12"),
    (r"10\%", "10"),
    ("(1,3)", "[1,3)"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 \ 2 \end{pmatrix}"),  # row break vs space
]


@pytest.mark.parametrize(("a", "b"), NORMALIZE_DISTINCT)
def test_normalize_keeps_distinct(a, b):
    assert normalize_answer(a) != normalize_answer(b)


# --- verification -------------------------------------------------------------------------

VERIFY_TABLE = [
    # boxed, nesting, last box wins
    ("27", r"so the answer is $\boxed{27}$.", True),
    (r"\frac{\sqrt{3}}{2}", r"\boxed{\frac{\sqrt{3}}{2}}", True),
    (r"\frac{1}{2}", r"first \boxed{3} then \boxed{\frac{1}{2}}", True),
    ("3", r"first \boxed{3} then \boxed{\frac{1}{2}}", False),
    ("7", r"\fbox{7}", True),
    ("5", r"$\boxed 5$", True),
    # gsm8k style and bare final numbers
    ("1234", "She pays 1234.\n#### 1,234", True),
    ("18", "She has 3 * 6 = 18 apples left", True),
    ("-3.5", "so the slope is -3.5", True),
    ("27", "The answer is 27.0", True),
    ("27", "The answer is 28", False),
    # fractions vs decimals
    (r"\frac{1}{2}", r"\boxed{0.5}", True),
    ("0.5", r"\boxed{\frac12}", True),
    ("3/4", r"\boxed{\dfrac{3}{4}}", True),
    (r"\frac{1}{3}", r"\boxed{0.333333}", True),
    (r"\frac{1}{3}", r"\boxed{0.33}", False),
    (r"-\frac{2}{3}", r"\boxed{\frac{-2}{3}}", True),
    # tuples, intervals, sets
    (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3, \frac{\pi}{2})}", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3, \pi/2)}", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3, \pi)}", False),
    ("[1, 3)", r"\boxed{[1,3)}", True),
    ("[1, 3)", r"\boxed{(1,3)}", False),
    (r"(-\infty, 2] \cup [5, \infty)", r"\boxed{(-\infty,2]\cup[5,\infty)}", True),
    ("1, 2", r"\boxed{2, 1}", True),
    # LaTeX variants and symbolic equality
    (r"\sqrt{2}", r"\boxed{\sqrt2}", True),
    (r"2\sqrt{2}", r"\boxed{\sqrt{8}}", True),
    ("x^2+2x+1", r"\boxed{(x+1)^2}", True),
    (r"\pi", r"\boxed{3}", False),
    (r"\text{(C)}", r"\boxed{(C)}", True),
    (r"\text{(C)}", r"\boxed{\text{(D)}}", False),
    # units and degrees
    ("12", r"\boxed{12\text{ cm}}", True),
    ("90", r"\boxed{90^\circ}", True),
    ("18.90", r"\boxed{\$18.90}", True),
    # multi-answer, prose math, decimal commas, final statements, truncation
    ("(2, 2), (6, 2)", r"\boxed{(2, 2)} and \boxed{(6, 2)}", True),
    ("1, 2, 3", r"\boxed{1},\boxed{2},\boxed{3}", True),
    (r"x \geq 5", r"Therefore $x \geq 5$ is the solution.", True),
    ("0.111", r"\boxed{0,111}", True),
    ("1.22", "The mass is 1,22", True),
    ("32349", r"\boxed{32, 349}", False),
    ("7", r"First $\boxed{4}$ is the area. The final answer is 7.", True),
    ("x^3+3x-6", "The answer is x^3+3x-6.", True),
    ("3", r"so \boxed{3", False),
    ("3/4", "we get 3/4.", True),
    ("7", r"So $3 + 4 = 7$.", True),
    ("E", r"The best choice is $E$", True),
    # no answer
    ("5", "I am not sure how to proceed.", False),
    ("5", "", False),
    ("5", r"\boxed{} and nothing else", False),
]


@pytest.mark.parametrize(("gold", "completion", "expected"), VERIFY_TABLE)
def test_verify_table(verifier, gold, completion, expected):
    (verdict,) = verifier.verify([(_problem(gold), completion)])
    assert verdict.correct is expected, verdict


def test_verify_batch_matches_table_and_order(verifier):
    items = [(_problem(g, str(i)), c) for i, (g, c, _) in enumerate(VERIFY_TABLE)]
    verdicts = verifier.verify(items[::-1])
    assert [v.correct for v in verdicts] == [e for _, _, e in VERIFY_TABLE][::-1]


@pytest.mark.parametrize(
    ("gold", "completion", "reason", "extracted"),
    [
        ("27", r"\boxed{27}", "exact", "27"),
        (r"\frac{1}{2}", r"\boxed{\dfrac{1}{2}}", "exact", r"\dfrac{1}{2}"),
        (r"\frac{1}{2}", r"\boxed{0.5}", "numeric", "0.5"),
        ("27", r"\boxed{26}", "mismatch", "26"),
        ("2\\sqrt{2}", r"\boxed{\sqrt{8}}", "numeric", r"\sqrt{8}"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3, \pi/2)}", "numeric", r"(3, \pi/2)"),
        (r"\{1, 2\}", r"\boxed{\{2,1\}}", "numeric", r"\{2,1\}"),
        (r"\frac{\sqrt{3}}{2}", r"\boxed{\frac{\sqrt{2}}{2}}", "mismatch", r"\frac{\sqrt{2}}{2}"),
        ("x^2+2x+1", r"\boxed{(x+1)^2}", "math_verify", "(x+1)^2"),
        ("5", "no idea", "no_answer", None),
    ],
)
def test_verdict_reason_and_extracted(verifier, gold, completion, reason, extracted):
    (verdict,) = verifier.verify([(_problem(gold), completion)])
    assert (verdict.reason, verdict.extracted) == (reason, extracted)


FAST_PAIRS = [
    ("27", "27.0"),
    ("27", "28"),
    (r"\frac{1}{2}", "0.5"),
    (r"\frac{1}{3}", "0.3333333333333333"),
    (r"\frac{1}{3}", "0.33"),
    ("2\\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt{2}}{2}"),
    (r"\sqrt[3]{27}", "3"),
    ("3\\pi", r"\frac{6\pi}{2}"),
    ("2^{10}", "1024"),
    (r"(3,\frac{\pi}{2})", r"(3,\pi/2)"),
    (r"(3,\frac{\pi}{2})", r"(\frac{\pi}{2},3)"),
    ("[1,3)", "[1,3.5)"),
    ("1,2", "2,1"),
    (r"\{1,2\}", r"\{2,3\}"),
    (r"-\frac{2}{3}", r"\frac{-2}{3}"),
    (r"\frac 59", r"\frac{5}{9}"),
    (r"\frac43", r"\frac{4}{3}\cdot 1"),
    (r"\frac43", "1.3"),
    ("6+9i", "9i+6"),
    ("x^2+1", "y^2+1"),  # variables: evaluated at fixed points
    (r"\frac{11+9a}{20}", r"\frac{8a+11}{20}"),
    ("15x - 80", "15x-81"),
    ("x+y", "x+z"),
    ("C", "D"),
    (r"\text{(C)}", r"\text{(D)}"),
    (r"(2,12) \cup (12,102)", r"(2,12) \cup (12,103)"),
    (r"(2,12) \cup (12,102)", r"(12,102)\cup(2,12)"),
    (r"(2,12) \cup (12,102)", "7"),
    (r"(-\infty, 2] \cup [5, \infty)", r"(-\infty,2)\cup[5,\infty)"),
    (r"(-\infty, 2) \cup (3, \infty)", r"(-\infty, 6) \cup (3, \infty)"),
    (r"[1,2] \cup [2,3]", "[1,3]"),  # unions compared as sets
    (r"(1,2) \cup (2,3)", "(1,3)"),
    ("(1,5)", r"(1,3)\cup[3,5)"),
    (r"\{1\pm\sqrt{5},-2\}", r"\{1+\sqrt{5},1-\sqrt{5},-2\}"),  # \pm: both values
    (r"1\pm\sqrt{5}", r"1+\sqrt{5}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "5"),
    ("6+9i", "6+2i"),
    ("-2,1", "8"),
    ("[1,3)", "(1,5)"),
    (r"\begin{pmatrix} -1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}-1\\ \frac{4}{2}\end{pmatrix}"),
    (r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}", r"\begin{pmatrix} -1 & 0 \\ 0 & 1 \end{pmatrix}"),
]


@pytest.mark.parametrize(("gold", "answer"), FAST_PAIRS)
def test_fast_path_agrees_with_math_verify(gold, answer):
    fast = fast_check(normalize_answer(gold), normalize_answer(answer))
    assert fast is not None, "expected the fast path to settle this pair"
    assert fast[0] == check_pair(gold, answer)[0]


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        (r"\frac{7}{2}", r"3\frac{1}{2}"),  # mixed number or product: left to Math-Verify
        ("2", "2.0000001"),  # inside Math-Verify's rounding band
        ("2^23", "8388608"),  # TeX: 2^2 3; Math-Verify: 2^{23}
        ("[1,3)", "(1,3)"),  # different brackets
        ("1,2", r"\{1,2\}"),
        ("x+1", "1+x"),  # equal at the points: evidence, left to Math-Verify
        ("X+y", "x+y"),
        ("12", "12 cm"),  # Math-Verify drops trailing unit words, one letter included
        ("5", "5t"),
        ("2k", "2n"),
        ("e^2", "7.389056"),  # e is Euler's number to Math-Verify
        (r"10\%", "0.1"),
        ("2", "2,2"),  # a repeated element: a set or a list?
        ("5", "(5)"),
        (r"(1,2) \cup (2.0000001,3)", "(1,3)"),  # ends too close to tell
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "(1,2)"),
    ],
)
def test_fast_path_defers(gold, answer):
    assert fast_check(normalize_answer(gold), normalize_answer(answer)) is None


def test_problem_without_gold_is_an_error(verifier):
    with pytest.raises(DataError, match="no gold"):
        verifier.verify([(Problem("h/0", "", None, kind="code"), "x")])


def test_dedup_sends_each_distinct_pair_once():
    gold = "x^2+2x+1"
    spellings = ["(x+1)^2", "(x + 1)^2", r"\left(x+1\right)^2", "(x-1)^2", "x^2+1"]
    items = [(_problem(gold), f"Thinking... step {i}. So $\\boxed{{{spellings[i % 5]}}}$.") for i in range(200)]
    with MathVerifier(workers=1) as v:
        sent = []
        run = v._pool.run
        v._pool.run = lambda pairs: (sent.extend(pairs), run(pairs))[1]
        verdicts = v.verify(items)
        # The three spellings of (x+1)^2 normalize alike: one symbolic check; the two wrong
        # answers differ from the gold at the fast path's evaluation points.
        assert sent == [(gold, "(x+1)^2")]
        assert (v.stats.slow, v.stats.fast) == (1, 2)
        assert [x.correct for x in verdicts[:5]] == [True, True, True, False, False]
        assert verdicts[1].extracted == "(x + 1)^2"  # the sample's own spelling, not the representative's
        v.verify(items)  # a second call is answered from the cache
        assert len(sent) == 1
        assert v.stats.cache_hits == 3


# Checkers for the timeout tests: module-level so worker processes can unpickle them.


def _spin_or_sleep_checker(gold: str, answer: str) -> tuple[bool, str]:
    if answer == "spin?":  # burns CPU: stopped by the worker's CPU-time alarm
        while True:
            pass
    if answer == "sleep?":  # no CPU, never returns: only the parent's hard deadline stops it
        time.sleep(60)
    return answer == "ok?", "stub"


def test_timeouts_soft_and_hard():
    # "?" keeps these answers off the fast path.
    items = [(_problem("x"), r"\boxed{" + a + "}") for a in ("spin?", "sleep?", "ok?")]
    with MathVerifier(workers=2, timeout_s=0.3, hard_timeout_s=1.5, checker=_spin_or_sleep_checker) as v:
        v.start(wait=True)
        assert len(v._pool.workers) == 2 and all(w.ready and w.warm for w in v._pool.workers)
        start = time.monotonic()
        verdicts = v.verify(items)
        assert time.monotonic() - start < 8
        assert [(x.correct, x.reason) for x in verdicts] == [(False, "timeout"), (False, "timeout"), (True, "stub")]
        assert v.stats.timeouts == 2
        assert v.stats.killed == 1  # only the sleeper; the spinner's worker survived its alarm
        # Timeouts are not cached, and the replacement worker serves the next call.
        assert [x.reason for x in v.verify([items[0], items[2]])] == ["timeout", "stub"]
        assert v.stats.timeouts == 3


def test_verify_from_a_thread(verifier):
    out: list = []
    items = [(_problem("x^2-1", "t"), r"\boxed{(x-1)(x+1)}"), (_problem("4", "t"), "#### 4")]
    thread = threading.Thread(target=lambda: out.append(verifier.verify(items)))
    thread.start()
    thread.join(timeout=60)
    assert [v.correct for v in out[0]] == [True, True]


def test_verify_one():
    assert verify_one("27", "The answer is 27.0").correct
    assert not verify_one("27", r"\boxed{72}").correct


# --- real gold answers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def math500_golds():
    path = MATH500 / "test.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found")
    with path.open() as f:
        return [json.loads(line)["answer"] for line in f if line.strip()]


def test_math500_gold_boxed_is_correct(verifier, math500_golds):
    items = [
        (_problem(g, str(i)), f"Working through it.\nSo the answer is $\\boxed{{{g}}}$.")
        for i, g in enumerate(math500_golds)
    ]
    verdicts = verifier.verify(items)
    assert [g for g, v in zip(math500_golds, verdicts) if not v.correct] == []


def test_math500_gold_parses_and_matches_itself(math500_golds):
    # The symbolic path itself (no fast path) on a fifth of the golds.
    failures = [g for g in math500_golds[::5] if not check_pair(g, g)[0]]
    assert failures == []


def test_math500_fast_path_agrees_with_math_verify(math500_golds):
    # Wherever the fast path settles a pair (another problem's gold, near misses, respellings),
    # Math-Verify must say the same.
    rng = random.Random(0)
    golds = math500_golds[::10]
    pairs = []
    for i, g in enumerate(golds):
        digits = [j for j, ch in enumerate(g) if ch.isdigit()]
        j = rng.choice(digits) if digits else None
        near = g[:j] + str((int(g[j]) + 1) % 10) + g[j + 1 :] if j is not None else "-" + g
        pairs += [(g, golds[(i + 1) % len(golds)]), (g, near), (g, g.replace("\\frac", "\\dfrac"))]
    decided = [(g, a, fast) for g, a in pairs if (fast := fast_check(normalize_answer(g), normalize_answer(a)))]
    assert len(decided) > 0.8 * len(pairs)
    assert [(g, a) for g, a, fast in decided if fast[0] != check_pair(g, a)[0]] == []


def test_math500_other_gold_is_mostly_incorrect(verifier, math500_golds):
    golds = math500_golds[::3]
    items = [(_problem(g, str(i)), f"So $\\boxed{{{golds[(i + 1) % len(golds)]}}}$.") for i, g in enumerate(golds)]
    verdicts = verifier.verify(items)
    wrong = sum(not v.correct for v in verdicts)
    assert wrong >= 0.95 * len(golds)


def test_the_fast_path_never_decides_differently_from_the_full_check():
    """Differential: every (gold, completion) and (gold, answer) pair of this file's tables, extracted as the
    verifier does; wherever the fast path settles a pair, Math-Verify on the same answer agrees."""
    pairs = [(g, extract_answer(c)) for g, c, _ in VERIFY_TABLE] + list(FAST_PAIRS)
    pairs += [(a, b) for a, b in NORMALIZE_EQUAL] + [(a, b) for a, b in NORMALIZE_DISTINCT]
    settled = disagree = 0
    for gold, answer in pairs:
        if not answer:
            continue
        fast = fast_check(normalize_answer(gold), normalize_answer(answer))
        if fast is None:
            continue
        settled += 1
        if fast[0] != check_pair(gold, answer)[0]:
            disagree += 1
            print("disagree:", gold, answer, fast)
    assert settled >= 80 and disagree == 0
