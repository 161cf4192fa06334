"""A paper in a real headless browser: its form fills, collects and saves answers that grade in full."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

from grader.exam.answers import read_answers
from grader.exam.bank import Exam, ExamQuestion, load_bank
from grader.exam.grading import grade_paper
from grader.exam.parts import Choice
from grader.exam.render import render_paper_html

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (the test "
                                       "set-up installs it); the paper's form is not checked here")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def paper(course):
    from grader.exam.variant import Maker

    bank = load_bank(course)
    questions = tuple(ExamQuestion(f"q{i}", i, q, 2.0)
                      for i, q in enumerate(sorted(bank.values(), key=lambda q: q.kind), 1))
    exam = Exam("browser", "Every kind, in a browser", "Answer everything.", "1 hour", questions)
    return Maker(course, exam, b"browser-test-secret-0123456789").paper("ada <b>&")


def typed_key(paper) -> dict:
    """The key as a student types it into the form: the texts the grader shows, choice letters."""
    answers = {}
    for v in paper.variants:
        answers[v.qid] = {}
        for p in v.parts:
            key = v.key[p.name]
            if isinstance(p, Choice):
                answers[v.qid][p.name] = key
            elif p.kind == "array":
                rows = key if isinstance(key[0], list) else [key]
                cells = [[p.show([x])[1:-1] for x in row] for row in rows]
                answers[v.qid][p.name] = cells if isinstance(key[0], list) else cells[0]
            else:
                answers[v.qid][p.name] = p.show(key)
    return answers


def test_the_form_saves_answers_that_grade_in_full(paper, tmp_path):
    page = render_paper_html(paper, "Ada")
    # Drive the paper's own form code: fill every box, collect the answers file, print it.
    harness = (
        "<script>const doc = window.examAnswers; doc.fill({answers: "
        + json.dumps(typed_key(paper)).replace("</", "<\\/")
        + "}); const out = document.createElement('pre'); out.id = 'collected';"
        " out.textContent = JSON.stringify(doc.collect()); document.body.appendChild(out);</script>")
    path = tmp_path / "paper.html"
    path.write_text(page.replace("</body>", harness + "</body>"))
    done = chromium(tmp_path, "--dump-dom", path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    found = re.search(r'<pre id="collected">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, done.stdout[-2000:]
    saved = tmp_path / "saved.json"
    saved.write_text(html.unescape(found.group(1)))
    answers = read_answers(saved)
    assert (answers.student, answers.paper) == (paper.student, paper.code)
    graded = grade_paper(paper, answers)
    wrong = [(t.name, t.message) for t in graded.result.tests if t.outcome != "passed"]
    assert not wrong
    assert graded.result.score == pytest.approx(2.0 * len(paper.variants))


def test_the_plain_paper_loads_without_errors_and_prints(paper, tmp_path):
    path = tmp_path / "paper.html"
    path.write_text(render_paper_html(paper, "Ada"))
    done = chromium(tmp_path, "--dump-dom", path.as_uri())
    assert done.returncode == 0 and "Uncaught" not in done.stderr, done.stderr[-2000:]
    boxes = sum(1 for v in paper.variants for p in v.parts if p.kind != "choice")
    assert done.stdout.count('class="part"') == sum(len(v.parts) for v in paper.variants)
    assert done.stdout.count("<input") >= boxes
    assert "ada &lt;b&gt;&amp;" in done.stdout  # the student id is text, never markup
    pdf = tmp_path / "paper.pdf"
    printed = chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    assert printed.returncode == 0 and pdf.stat().st_size > 10_000, printed.stderr[-2000:]
