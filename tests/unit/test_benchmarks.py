import json
import sys
import types

import pytest

from rlscope.boundary.benchmarks import BENCHMARKS, Benchmark, Problem, list_benchmarks, load_benchmark
from rlscope.boundary.benchmarks import sources
from rlscope.boundary.benchmarks.math import gsm8k_gold, olympiad_gold
from rlscope.boundary.verify.extract import last_boxed
from rlscope.errors import DataError, RlscopeError

MATH_ROWS = {"aime24": 30, "amc23": 40, "gsm8k": 1319, "math500": 500, "minerva_math": 272, "olympiadbench": 675}


def math_file(shared_data, name):
    return str(shared_data / "benchmarks" / "math" / name / "test.jsonl")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------ the paper's six math sets, local files


@pytest.mark.parametrize("name,rows", sorted(MATH_ROWS.items()))
def test_math_row_counts_and_shape(shared_data, name, rows):
    problems = load_benchmark(name, data=math_file(shared_data, name))
    assert len(problems) == rows
    assert len({p.problem_id for p in problems}) == rows
    for p in problems:
        assert p.kind == "math"
        assert isinstance(p.problem_id, str)
        assert p.question.strip() and p.answer and p.answer.strip()
        assert "$" not in p.answer or name != "olympiadbench"


@pytest.mark.parametrize(
    "name,index,problem_id,gold",
    [
        ("gsm8k", 0, "0", "18"),
        ("gsm8k", 146, "146", "2125"),  # "#### 2,125": thousands separator removed
        ("gsm8k", 489, "489", "-10"),
        ("gsm8k", 611, "611", "1450000"),  # "#### 1,450,000"
        ("amc23", 0, "0", "27"),  # 27.0
        ("amc23", 3, "3", "3159"),  # 3159.0
        ("amc23", 15, "17", "-1"),  # ids skip numbers: the file's own id, not the line
        ("aime24", 0, "60", "204"),
        ("aime24", 7, "67", "025"),  # the answer string as written
        ("math500", 0, "test/precalculus/807.json", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("math500", 1, "test/intermediate_algebra/1994.json", "p - q"),
        ("minerva_math", 0, "0", "1.6"),
        ("minerva_math", 25, "25", "\\frac{a M^{1 / 3}}{G M^{2 / 3}+b}"),  # nested braces
        ("minerva_math", 30, "30", "\\sqrt{4 \\pi G \\rho_{0} r_{0}^{2}}"),
        ("olympiadbench", 0, "1606", "2"),
        ("olympiadbench", 5, "1618", "(1,8,19), (2,7,13), (4,5,7)"),  # multiple answers, $ stripped
        ("olympiadbench", 13, "1664", "69,84"),  # "$69$,$84$"
    ],
)
def test_math_gold_answers(shared_data, name, index, problem_id, gold):
    problem = load_benchmark(name, data=math_file(shared_data, name))[index]
    assert problem.problem_id == problem_id
    assert problem.answer == gold


def test_math_meta_and_questions(shared_data):
    (m,) = load_benchmark("math500", data=math_file(shared_data, "math500"), limit=1)
    assert m.meta["subject"] == "Precalculus" and m.meta["level"] == 2 and m.meta["unique_id"] == m.problem_id
    assert m.question.startswith("Convert the point $(0,3)$")
    (g,) = load_benchmark("gsm8k", data=math_file(shared_data, "gsm8k"), limit=1)
    assert g.question.startswith("Janet") and g.meta["answer"].endswith("#### 18")  # worked solution kept
    (a,) = load_benchmark("aime24", data=math_file(shared_data, "aime24"), limit=1)
    assert "problem" not in a.meta and "question" not in a.meta  # the question is not duplicated


def test_default_data_folder_from_env(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(shared_data))
    monkeypatch.chdir(tmp_path)
    assert len(load_benchmark("amc23")) == 40
    info = {i.name: i for i in list_benchmarks()}
    assert info["amc23"].source == math_file(shared_data, "amc23")
    assert info["amc23"].rows == 40 and info["amc23"].kind == "math"
    assert info["humaneval"].rows == 164 and info["humaneval"].source.endswith("HumanEval.jsonl.gz")


def test_env_folder_wins_and_data_folder_forms(monkeypatch, tmp_path):
    folder = tmp_path / "benchmarks" / "math" / "math500"
    folder.mkdir(parents=True)
    write_jsonl(folder / "test.jsonl", [{"problem": "1+1?", "answer": "2", "unique_id": "a/1.json"}])
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path))
    (p,) = load_benchmark("math500")
    assert (p.problem_id, p.question, p.answer) == ("a/1.json", "1+1?", "2")
    # data= may be the file, the folder holding test.jsonl, or a whole data folder
    for data in (folder / "test.jsonl", folder, tmp_path):
        assert load_benchmark("math500", data=str(data)) == [p]


def test_limit(shared_data):
    problems = load_benchmark("gsm8k", data=math_file(shared_data, "gsm8k"), limit=3)
    assert [p.problem_id for p in problems] == ["0", "1", "2"]
    assert load_benchmark("gsm8k", data=math_file(shared_data, "gsm8k"), limit=0) == []
    with pytest.raises(RlscopeError, match="limit"):
        load_benchmark("gsm8k", limit=-1)


def test_math_field_override(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"q": "How many?", "gold": "The answer.\n#### 1,234", "uid": "x"}])
    (p,) = load_benchmark("gsm8k", data=str(path), fields={"question": "q", "answer": "gold", "id": "uid"})
    assert (p.problem_id, p.question, p.answer) == ("x", "How many?", "1234")


def test_minerva_without_box_names_problem_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [{"problem": "a", "solution": "\\boxed{1}", "idx": 0}, {"problem": "b", "solution": "no box", "idx": 7}],
    )
    with pytest.raises(DataError, match=r"m\.jsonl:2: problem 7: no \\boxed"):
        load_benchmark("minerva_math", data=str(path))


def test_hub_format_minerva_and_olympiad_rows():
    # the hub copies name fields differently; one row reader serves both
    from rlscope.boundary.benchmarks.math import MATH_SETS, math_problem

    where = sources.Where("hub x row 3", None, 3)
    p = math_problem(MATH_SETS["minerva_math"], {"question": "q?", "answer": "4.2"}, where)
    assert (p.problem_id, p.question, p.answer) == ("3", "q?", "4.2")
    o = math_problem(MATH_SETS["olympiadbench"], {"id": 9, "question": "q?", "final_answer": ["$1$", "$x^2$"]}, where)
    assert (o.problem_id, o.answer) == ("9", "1, x^2")


@pytest.mark.parametrize(
    "text,want",
    [
        ("so \\boxed{5}.", "5"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\left\\{ 1 \\right\\}}", "\\left\\{ 1 \\right\\}"),  # escaped braces do not count
        ("\\fbox{7} units", "7"),
        ("\\boxed{unclosed", None),
        ("nothing", None),
    ],
)
def test_last_boxed(text, want):
    assert last_boxed(text) == want


def test_gold_helpers():
    assert gsm8k_gold("work\n#### 2,125") == "2125"
    assert olympiad_gold(["$69$,$84$"]) == "69,84"
    assert olympiad_gold(["$2$", "$3$"]) == "2, 3"


# ------------------------------------------------------------------ code


def test_humaneval_bundled():
    problems = load_benchmark("humaneval")
    assert len(problems) == 164
    first = problems[0]
    assert first.problem_id == "HumanEval/0" and first.kind == "code" and first.answer is None
    assert first.meta["entry_point"] == "has_close_elements"
    assert first.question == first.meta["prompt"] and first.question.startswith("from typing import List")
    assert "def check(candidate)" in first.meta["test"] and first.meta["test_style"] == "check"
    assert first.meta["canonical_solution"]
    assert all(p.meta["entry_point"] and p.meta["entry_point"] in p.question for p in problems)


def test_mbpp_and_livecodebench_local_rows(tmp_path):
    mbpp = write_jsonl(
        tmp_path / "mbpp.jsonl",
        [
            {
                "task_id": 11,
                "text": "Write a python function to remove first and last occurrence of a given character.",
                "code": "def remove_Occ(s,ch): ...",
                "test_list": ['assert remove_Occ("hello","l") == "heo"'],
                "test_setup_code": "",
                "challenge_test_list": [],
            }
        ],
    )
    (p,) = load_benchmark("mbpp", data=str(mbpp))
    assert p.problem_id == "11" and p.meta["entry_point"] == "remove_Occ" and p.meta["test_style"] == "asserts"
    assert p.question.endswith('assert remove_Occ("hello","l") == "heo"') and "assert" in p.meta["test"]

    import base64
    import pickle
    import zlib

    cases = json.dumps([{"input": "2\n", "output": "4\n", "testtype": "stdin"}])
    private = base64.b64encode(zlib.compress(pickle.dumps(cases)))
    lcb = write_jsonl(
        tmp_path / "lcb.jsonl",
        [
            {
                "question_id": "abc123_a",
                "question_content": "Print twice N.",
                "starter_code": "",
                "public_test_cases": json.dumps([{"input": "1\n", "output": "2\n", "testtype": "stdin"}]),
                "private_test_cases": private.decode(),
                "metadata": "{}",
            }
        ],
    )
    (q,) = load_benchmark("livecodebench", data=str(lcb))
    assert q.problem_id == "abc123_a" and q.meta["test_style"] == "io" and q.meta["entry_point"] is None
    assert [t["output"] for t in q.meta["tests"]] == ["2\n", "4\n"] and q.meta["public_tests"] == 1


# ------------------------------------------------------------------ generic jsonl


def test_jsonl_defaults_and_line_number_ids(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"question": "a?", "answer": 3.0}, {"question": "b?", "answer": "x"}])
    problems = load_benchmark(f"jsonl:{path}")
    assert [(p.problem_id, p.question, p.answer) for p in problems] == [("0", "a?", "3"), ("1", "b?", "x")]


def test_jsonl_field_overrides_and_kind(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"uid": "u1", "prompt": "P", "target": "T", "extra": 1}])
    (p,) = load_benchmark(f"jsonl:{path}", fields={"id": "uid", "question": "prompt", "answer": "target"})
    assert (p.problem_id, p.question, p.answer, p.kind) == ("u1", "P", "T", "math")
    assert p.meta == {"uid": "u1", "target": "T", "extra": 1}
    code_path = write_jsonl(tmp_path / "c.jsonl", [{"task_id": "t/0", "question": "def f():", "test": "assert f()"}])
    (c,) = load_benchmark(f"jsonl:{code_path}", kind="code")
    assert (c.problem_id, c.kind, c.answer, c.meta["prompt"]) == ("t/0", "code", None, "def f():")
    with pytest.raises(RlscopeError, match="unknown field"):
        load_benchmark(f"jsonl:{path}", fields={"qestion": "prompt"})


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a", "answer": "1"}\n\n{"question": "b", "answer": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: not valid JSON") as err:
        load_benchmark(f"jsonl:{path}")
    assert err.value.path == str(path) and err.value.line == 3


def test_missing_field_names_field_line_and_problem(tmp_path):
    rows = [{"id": "p1", "question": "a", "answer": "1"}, {"id": "p2", "answer": "2"}]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    with pytest.raises(DataError, match=r"m\.jsonl:2: problem p2: no question field 'question'"):
        load_benchmark(f"jsonl:{path}")
    path = write_jsonl(tmp_path / "n.jsonl", [{"id": "p1", "question": "a"}])
    with pytest.raises(DataError, match=r"n\.jsonl:1: problem p1: no answer field 'answer'"):
        load_benchmark(f"jsonl:{path}")


def test_empty_file_and_missing_path(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="empty"):
        load_benchmark(f"jsonl:{tmp_path / 'empty.jsonl'}")
    with pytest.raises(DataError, match="no such file"):
        load_benchmark("math500", data=str(tmp_path / "nope.jsonl"))


def test_duplicate_ids_rejected(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": 1, "question": "a", "answer": "1"}] * 2)
    with pytest.raises(RlscopeError, match="duplicate problem_id '1'"):
        load_benchmark(f"jsonl:{path}")


# ------------------------------------------------------------------ registry


def test_unknown_benchmark_lists_known_names():
    with pytest.raises(RlscopeError) as err:
        load_benchmark("math5000")
    message = str(err.value)
    for name in ("aime24", "amc23", "gsm8k", "math500", "minerva_math", "olympiadbench", "humaneval", "jsonl:"):
        assert name in message


def my_loader(data=None):
    """Two toy problems."""
    return [Problem("a", "1+1?", "2"), Problem("b", "2+2?", str(4 if data is None else data))]


def test_user_loaders_by_registry_and_module_path(monkeypatch):
    monkeypatch.setitem(BENCHMARKS._items, "toy", my_loader)
    assert [p.answer for p in load_benchmark("toy")] == ["2", "4"]
    assert load_benchmark("toy", data="5")[1].answer == "5"
    with pytest.raises(RlscopeError, match="does not accept fields"):
        load_benchmark("toy", fields={"question": "q"})
    assert len(load_benchmark(f"{__name__}:my_loader", limit=1)) == 1
    info = {i.name: i for i in list_benchmarks()}["toy"]
    assert (info.source, info.description) == ("custom", "Two toy problems.")

    bench = Benchmark("toy2", "math", "toy", load=lambda data=None, fields=None: my_loader(data))
    monkeypatch.setitem(BENCHMARKS._items, "toy2", bench)
    assert len(load_benchmark("toy2")) == 2


# ------------------------------------------------------------------ hub


def test_hub_without_datasets_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    wanted = r"'math500' from the hub \(HuggingFaceH4/MATH-500 split test\) needs the `datasets` package"
    with pytest.raises(RlscopeError, match=wanted):
        load_benchmark("math500", data="hub")
    monkeypatch.setattr(sources, "default_data_dirs", lambda: [])  # nothing local: the hub is the default
    with pytest.raises(RlscopeError, match=r"openai/gsm8k \(main\) split test"):
        load_benchmark("gsm8k")
    assert {i.name: i for i in list_benchmarks()}["gsm8k"].source == "hub"
    with pytest.raises(RlscopeError, match="no local copy"):
        load_benchmark("gsm8k", allow_hub=False)
    assert len(load_benchmark("humaneval", limit=1, allow_hub=False)) == 1


def test_hub_rows_through_a_stand_in_datasets(monkeypatch):
    calls = []

    def load_dataset(repo, config=None, split=None, **kwargs):
        calls.append((repo, config, split))
        if repo == "AI-MO/aimo-validation-aime":
            return [
                {"id": 0, "problem": "old", "answer": "1", "url": "https://aops/2022_AIME_I"},
                {"id": 60, "problem": "new", "answer": "204", "url": "https://aops/2024_AIME_I"},
            ]
        if repo == "openai/gsm8k":
            return [{"question": "q", "answer": "w\n#### 1,000"}]
        raise ConnectionError("offline")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    (a,) = load_benchmark("aime24", data="hub")
    assert (a.problem_id, a.question, a.answer) == ("60", "new", "204")
    (g,) = load_benchmark("gsm8k", data="hub")
    assert (g.problem_id, g.answer) == ("0", "1000")
    assert calls == [("AI-MO/aimo-validation-aime", None, "train"), ("openai/gsm8k", "main", "test")]
    with pytest.raises(RlscopeError, match=r"cannot load benchmark 'math500' from the hub.*ConnectionError: offline"):
        load_benchmark("math500", data="hub")
