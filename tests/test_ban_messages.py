"""A banned call in a hidden test: the student's copy names what is banned and the student's line.

What is banned and where the student called it are the grader's own words, not hidden inputs:
withholding what the worker sent must not take them out. Each kind of banned thing is graded
in a whole submission (the reference with the one banned call put in) and read as the student
reads it, through ``student_view``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options
from grader.results.visibility import WITHHELD_TEXT, student_view

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)

LOSS = "    return torch.where(keep, nll, torch.zeros_like(nll)).sum() / keep.sum()\n"
PER_ROW = "    return torch.where(keep, per, torch.zeros_like(per)).sum() / keep.sum()\n"

# (topic, the solution's line, the line with the banned call (+ what follows), what is named)
KINDS = {
    "function": ("seq2seq", LOSS,
                 "    per = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets,"
                 " reduction='none')\n" + PER_ROW,
                 "torch.nn.functional.cross_entropy"),
    "class": ("seq2seq", LOSS,
              "    per = torch.nn.NLLLoss(reduction='none')(logp.transpose(1, 2), targets)\n"
              + PER_ROW,
              "torch.nn.NLLLoss"),
    "module": ("gnn", "    return weight[ids]  # (B, T, D)\n",
               "    import torch.nn.modules.sparse as sparse; return sparse.Embedding"
               ".from_pretrained(weight).forward(ids)\n",
               "torch.nn.modules.sparse"),
    "operator": ("seq2seq", LOSS,
                 "    per = torch.ops.aten.nll_loss_nd(logp.reshape(-1, logp.shape[-1]), "
                 "targets.reshape(-1), None, 0, -100).reshape(targets.shape)\n" + PER_ROW,
                 "nll_loss_nd"),
    "library": ("activations", "    return (x > 0).astype(np.float64)\n",
                "    import torch; return torch.from_numpy(x).gt(0).double().numpy()\n",
                "torch"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_hidden_tests_ban_message_names_the_banned_thing_and_the_line(engine, tmp_path: Path,
                                                                       kind: str) -> None:
    topic, old, new, name = KINDS[kind]
    source = COURSE.solution(topic).read_text()
    assert old in source, f"{old!r} is not in the {topic} solution"
    line = source[:source.index(old)].count("\n") + 1  # where the banned call is put
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source.replace(old, new))
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=1))
    assert not result.error, result.error
    shown = student_view(result).result
    hidden = [t for t in shown.tests if t.kind == "hidden" and t.outcome != "passed"]
    assert hidden, f"no hidden test of {topic} failed"
    for t in hidden:
        first = t.message.splitlines()[0]
        assert first.startswith(name) or f".{name} " in first, t.message
        assert "is not allowed" in first and not first.startswith(WITHHELD_TEXT), t.message
        assert f"line {line}" in first, t.message
        bans = [x for x in t.message.splitlines() if "write it with basic array" in x]
        assert all(WITHHELD_TEXT not in x for x in bans), t.message
