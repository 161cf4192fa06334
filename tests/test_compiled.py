"""torch.compile where student code is graded: its compiler cannot work in a worker (it builds
kernels in processes of its own, and traces through torch's decompositions, banned in most
torch topics), so a submission that compiles its functions is graded on the code it wrote, and
told so."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options
from grader.grading.guarded import compile_note
from grader.isolation.compiled import as_written

ROOT = Path(__file__).resolve().parent.parent

# A function of each topic, compiled as students write it: called, and as a decorator with
# options. Without the worker's stand-in, each scored less: seq2seq 40/48 and rnn 29/41 (a
# decomposition the compiler ran, told as a banned call of the student's), performance 0/49 (the
# compiler's import of a banned module failed the student's module).
COMPILED = {"seq2seq": "greedy_decode", "rnn": "rnn_cell", "performance": "conv2d_fast",
            "transformer": "layer_norm_backward"}


@pytest.mark.parametrize("topic", sorted(COMPILED))
def test_a_compiled_function_is_graded_as_written(engine, topic: str, tmp_path: Path) -> None:
    fn = COMPILED[topic]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(
        Course(ROOT).solution(topic).read_text() + "\n\nimport torch\n\n"
        f"{fn} = torch.compile({fn})\n{fn} = torch.compile(mode='max-autotune')({fn})\n")
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,)))
    assert result.topic(topic).score == result.topic(topic).max_score, \
        [(t.name, t.message) for t in result.tests if t.outcome != "passed"][:2]
    note = result.topic(topic).note or ""
    assert f"torch.compile ({topic}.py, line" in note and "ran as you wrote them" in note, note


def test_torch_compile_in_a_worker_hands_back_what_it_is_given() -> None:
    def f(x: int) -> int:
        return x + 1

    assert as_written(f) is f
    assert as_written(mode="reduce-overhead", fullgraph=True)(f) is f
    assert as_written(f, backend="eager", dynamic=True) is f


def test_the_note_names_each_way_of_writing_torch_compile(tmp_path: Path) -> None:
    module = tmp_path / "rnn.py"
    module.write_text("import torch\nfrom torch import compile as fast\n\n"
                      "@torch.compile\ndef f(x):\n    return x\n\ng = fast(f)\n")
    note = compile_note(module)
    assert "rnn.py, line 4" in note and "rnn.py, line 8" in note, note
    module.write_text("import torch\n\ndef f(x):\n    return torch.tanh(x)\n")
    assert compile_note(module) == ""
