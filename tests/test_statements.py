"""What a statement says is not allowed is what the grader enforces: each topic's "Not allowed"
list is written from its grading.toml, and a list that differs is found, named and rewritten."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course import Course, load_topic_config
from grader.publish import statement
from grader.publish.release import ReleaseProblem, release

ROOT = Path(__file__).resolve().parent.parent


def test_every_statement_says_what_its_topic_bans(course: Course) -> None:
    assert statement.drifts(course) == []


def test_each_ban_is_named_with_where_it_is_enforced(course: Course) -> None:
    text = statement.section(course.config("transformer"))
    for config_name in ("torch.nn.functional.layer_norm", "torch.autograd.grad"):
        assert f"`{config_name}`" in text
    assert "refused while your code runs" in text  # trip-wires
    assert "refused in torch's dispatcher" in text and "`layer_norm`" in text  # operators
    assert "no autograd graph is recorded" in text  # the capability
    assert "`torch._decomp`" in text  # decompositions absent with the operators
    conv = statement.section(course.config("conv"))
    assert "`torch`" in conv and "`scipy.signal`" in conv and "not in the process" in conv
    assert "dispatcher" not in conv  # a worker without torch has no operators to refuse
    assert statement.section(course.config("metrics")).count("- **") == 1


def test_seq2seqs_list_is_the_loss_functions_it_names(course: Course) -> None:
    config = course.config("seq2seq")
    assert "torch.nn.modules.loss" not in config.banned  # KLDivLoss and its kin stay allowed
    text = (course.assignments / "seq2seq" / "README.md").read_text()
    for name in ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
                 "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss"):
        assert f"`{name}`" in text


@pytest.fixture
def copy(tmp_path: Path) -> Course:
    """A copy of the course's statements and grading tables, to change."""
    for room in ("assignments", "reference"):
        shutil.copytree(ROOT / room, tmp_path / room, ignore=shutil.ignore_patterns(
            "__pycache__", "test_*.py", "mutants", "alternatives", "*.ipynb"))
    shutil.copy(ROOT / "course.toml", tmp_path / "course.toml")
    return Course(tmp_path)


def _ban_more(course: Course, topic: str, call: str) -> None:
    path = course.reference / topic / "grading.toml"
    text = path.read_text()
    path.write_text(text.replace("[banned]\n", f"[banned]\ncalls = [\"{call}\"]\n", 1)
                    if "calls = " not in text else
                    text.replace("calls = [", f"calls = [\"{call}\", ", 1))
    assert call in load_topic_config(path).banned


def test_a_ban_the_statement_does_not_name_is_found_and_rewritten(copy: Course) -> None:
    _ban_more(copy, "metrics", "numpy.bincount")
    found = statement.drifts(copy)
    assert [d.topic for d in found] == ["metrics"]
    run = subprocess.run([sys.executable, "-m", "grader", "statements", "--course", str(copy.root)],
                         capture_output=True, text=True, cwd=copy.root)
    assert run.returncode == 1 and "metrics" in run.stdout and "--write" in run.stdout
    run = subprocess.run([sys.executable, "-m", "grader", "statements", "--write", "--course",
                          str(copy.root)], capture_output=True, text=True, cwd=copy.root)
    assert run.returncode == 0, run.stdout + run.stderr
    readme = (copy.assignments / "metrics" / "README.md").read_text()
    assert "`numpy.bincount`" in readme and statement.drifts(copy) == []
    assert readme.count(statement.BEGIN) == 1 and "## Checking your work" in readme


def test_a_release_with_an_out_of_date_statement_is_refused(copy: Course, tmp_path: Path) -> None:
    _ban_more(copy, "optimizers", "numpy.cumsum")
    with pytest.raises(ReleaseProblem, match="optimizers.*grader statements --write"):
        release(copy, tmp_path / "out", topics=["optimizers"], echo=lambda line: None)


def test_a_statement_without_a_place_for_its_list_says_how_to_add_one(copy: Course) -> None:
    readme = copy.assignments / "metrics" / "README.md"
    readme.write_text(readme.read_text().replace(statement.BEGIN, "").replace(statement.END, ""))
    drift, = statement.drifts(copy, ["metrics"])
    with pytest.raises(statement.StatementError, match="add a line"):
        statement.write(drift)


def test_the_performance_statement_gives_the_speed_thresholds_the_grader_uses(
        course: Course) -> None:
    """The statement's table of speed thresholds is the one grading.toml holds: a threshold
    changed in one place only tells students one thing and grades them by another."""
    import re

    from grader.checks.timing import thresholds_for

    config = course.config("performance").extra
    text = (course.assignments / "performance" / "README.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"(?m)^\s*\| `(\w+)` \| (.*)$", text)}
    checked = 0
    for fn, spec in config["speed"].items():
        if not isinstance(spec, dict) or "cpu" not in spec:
            continue
        t = thresholds_for(config, fn, "cpu")
        cpu_cell = rows[fn].split("|")[0]
        said = re.search(r"from ([0-9.]+)× \(none\) to ([0-9.]+)× \(full\)", cpu_cell)
        assert said is not None, cpu_cell
        assert (float(said.group(1)), float(said.group(2))) == (t.zero, t.full), (fn, cpu_cell)
        checked += 1
    assert checked >= 2
