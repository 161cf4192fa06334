"""Similarity: planted copies (renamed variables, reordered functions, added comments) are found,
and the course's independent correct solutions (reference and alternatives) are not."""

from __future__ import annotations

import ast
import builtins
import csv
import datetime as dt
import io
import itertools
import keyword
import tokenize
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import gradebook
from grader.classroom import normalise, sidebyside, similarity
from grader.classroom.batch import Batch, BatchError, read_config
from grader.course import Course
from grader.results.model import SubmissionResult
from grader.results.scoring import topic_results

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
TOPICS = [t for t in COURSE.topics() if COURSE.alternatives(t)]


# --------------------------------------------------------------------------------- disguises


def rename_variables(source: str) -> str:
    """Every parameter and local variable gets a new name (keyword-argument names of calls and
    attributes stay, as they must for the code to keep working)."""
    tree = ast.parse(source)
    keep = {k.arg for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    names -= keep | set(dir(builtins)) | {"self"}
    mapping = {n: f"renamed_{i}" for i, n in enumerate(sorted(names))}
    out = []
    previous = ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        text = tok.string
        # (from Python 3.12, the conversion of an f-string's field, !r, is a name token)
        if tok.type == tokenize.NAME and previous not in (".", "!") and \
                not keyword.iskeyword(text):
            text = mapping.get(text, text)
        out.append((tok.type, text))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.string
    return tokenize.untokenize(out)


def reorder_functions(source: str) -> str:
    """The module's top-level functions in reverse order, after everything else."""
    tree = ast.parse(source)
    lines = source.splitlines()
    other, functions = [], []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunk = "\n".join(lines[start - 1:node.end_lineno])
        (functions if isinstance(node, ast.FunctionDef) else other).append(chunk)
    return "\n\n".join(other + functions[::-1]) + "\n"


def add_comments(source: str) -> str:
    """A comment after every third line, and a changed layout (blank lines doubled)."""
    out = []
    for i, line in enumerate(source.splitlines()):
        out.append(line)
        if i % 3 == 2 and line.strip() and not line.rstrip().endswith(("\\", ",", "(", "[")):
            out.append(" " * (len(line) - len(line.lstrip())) + "# my own working, step " + str(i))
        if not line.strip():
            out.append("")
    return "\n".join(out) + "\n"


def disguise(source: str) -> str:
    return add_comments(reorder_functions(rename_variables(source)))


def test_the_disguises_keep_the_code_valid_and_change_it() -> None:
    src = COURSE.solution(TOPICS[0]).read_text()
    changed = disguise(src)
    ast.parse(changed)
    assert changed != src and "renamed_" in changed and "my own working" in changed


# ------------------------------------------------------------------------------ the measure


@pytest.mark.parametrize("topic", TOPICS)
def test_a_disguised_copy_is_found(topic: str) -> None:
    stub = similarity.stub_hashes(COURSE.stub(topic).read_text())
    for original in [COURSE.solution(topic), *COURSE.alternatives(topic)]:
        src = original.read_text()
        value = similarity.similarity(similarity.fingerprint(src, stub),
                                      similarity.fingerprint(disguise(src), stub))
        assert value >= 0.9, (topic, original.name, value)


@pytest.mark.parametrize("topic", TOPICS)
def test_independent_correct_solutions_are_not_flagged(topic: str) -> None:
    stub = similarity.stub_hashes(COURSE.stub(topic).read_text())
    versions = [COURSE.solution(topic), *COURSE.alternatives(topic)]
    prints = {p.name: similarity.fingerprint(p.read_text(), stub) for p in versions}
    for a, b in itertools.combinations(prints, 2):
        value = similarity.similarity(prints[a], prints[b])
        assert value < 0.5, (topic, a, b, value)


def test_the_stubs_code_is_no_evidence() -> None:
    topic = TOPICS[0]
    stub_src = COURSE.stub(topic).read_text()
    stub = similarity.stub_hashes(stub_src)
    # Two students who handed in the stub with a comment each: nothing of their own to compare.
    a = similarity.fingerprint(stub_src + "\n# started\n", stub)
    b = similarity.fingerprint("# mine\n" + stub_src, stub)
    assert similarity.similarity(a, b) == 0.0 and not a.hashes and not b.hashes
    # Control: without removing the stub's code, it has fingerprints of its own.
    assert similarity.fingerprint(stub_src).hashes


def _tokens(source: str) -> list[str]:
    return [t for u in normalise.normalise(source) for t in u.tokens]


def test_normalising_ignores_names_literals_comments_docstrings_and_layout() -> None:
    a = 'def f(x, n=3):\n    """Doc."""\n    total = x * 2  # twice\n    return total + n\n'
    b = 'def g(y,k=7):\n\n    """Another doc, longer."""\n    t=y*5\n\n    return t+k\n'
    assert _tokens(a) == _tokens(b)
    # attributes are kept: np.sum is not np.mean, and neither is what an import alias stands
    # for (np and xp both numpy); a name the module does not bind (a builtin) is kept, while a
    # local is a local whatever its name, a builtin's included
    assert _tokens("import numpy as np\nnp.sum(len(x))") != \
        _tokens("import numpy as np\nnp.mean(len(x))")
    assert _tokens("import numpy as np\nnp.sum(x)") == _tokens("import numpy as xp\nxp.sum(x)")
    assert _tokens("import numpy as np\nnp.sum(x)") != _tokens("import torch as np\nnp.sum(x)")
    assert _tokens("def f(a):\n    sum = a + 1\n    return sum * len(a)\n") == \
        _tokens("def f(b):\n    total = b + 1\n    return total * len(b)\n")
    # a syntax error keeps the statements before it rather than failing
    assert _tokens("def f(a):\n    return a + 1\nx = (1,\n") != []


def test_the_threshold_comes_from_batch_toml(tmp_path: Path) -> None:
    assert read_config(None).similarity == 0.8
    cfg = tmp_path / "batch.toml"
    cfg.write_text("[similarity]\nthreshold = 0.65\n")
    assert read_config(cfg).similarity == 0.65
    cfg.write_text("[similarity]\nthreshold = 2\n")
    with pytest.raises(BatchError, match=r"threshold must be a number in \(0, 1\]"):
        read_config(cfg)


# --------------------------------------------------------------------------- a whole class


class InstantEngine:
    """Grades nothing: every submission gets an empty result at once (similarity does not
    depend on grading, and this keeps the class test fast)."""

    layers: tuple[str, ...] = ()
    sandboxed = False

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics

    def start(self, path: Path, folder: Path, options: Any, name: str,
              finish: Any = None) -> SubmissionResult:
        return SubmissionResult(submission=name, topics=topic_results([], self.topics), tests=(),
                                seed=1, sandbox=(), duration=0.0,
                                started=dt.datetime.now(dt.timezone.utc).isoformat())

    def prepare_children(self) -> None:
        pass

    def close(self) -> None:
        pass


def planted_class(dest: Path, topics: list[str]) -> tuple[Path, set[tuple[str, str, str]]]:
    """Per topic: the reference and each alternative handed in by different students
    (independent), a disguised copy of the reference and one of the first alternative (planted),
    and the unchanged stub twice. Returns the folder and the planted pairs."""
    subs = dest / "subs"
    planted: set[tuple[str, str, str]] = set()
    students: dict[str, dict[str, str]] = {}
    for topic in topics:
        versions = [COURSE.solution(topic), *COURSE.alternatives(topic)]
        for i, path in enumerate(versions):
            students.setdefault(f"indep{i}", {})[topic] = path.read_text()
        students.setdefault("copy_ref", {})[topic] = disguise(versions[0].read_text())
        students.setdefault("copy_alt", {})[topic] = disguise(versions[1].read_text())
        for s in ("stub1", "stub2"):
            students.setdefault(s, {})[topic] = COURSE.stub(topic).read_text()
        planted |= {(topic, "copy_ref", "indep0"), (topic, "copy_alt", "indep1")}
    # Student text reaches the side-by-side page: it must come out escaped.
    students["copy_ref"][topics[0]] += "\n# </pre><script>alert(1)</script>\n"
    for student, files in students.items():
        (subs / student).mkdir(parents=True)
        for topic, text in files.items():
            (subs / student / f"{topic}.py").write_text(text)
    return subs, planted


def test_a_class_with_planted_copies_is_flagged_exactly_as_planted(tmp_path: Path) -> None:
    topics = TOPICS[:4]
    subs, planted = planted_class(tmp_path, topics)
    out = tmp_path / "out"
    said = io.StringIO()
    Batch(course=COURSE, submissions=subs, out=out, topics=tuple(topics), jobs=1,
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False,
          engine_factory=lambda *a, **k: InstantEngine(topics)).run()

    with (out / "similarity.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["topic", "student_a", "student_b", "similarity"]
    found = {(r["topic"], *sorted((r["student_a"], r["student_b"]))) for r in rows}
    assert found == {(t, *sorted((a, b))) for t, a, b in planted}
    assert all(0.8 <= float(r["similarity"]) <= 1 for r in rows)
    assert f"similarity: {len(planted)} pair(s)" in said.getvalue()

    book = gradebook.read_gradebook(out / "gradebook.csv").set_index("student")
    flagged = set(book.index[book["flag_similarity"]])
    assert flagged == {"copy_ref", "indep0", "copy_alt", "indep1"}
    assert f"{topics[0]} ~ indep0" in book.loc["copy_ref", "similar_to"]

    index = (out / "index.html").read_text()
    assert 'id="similar"' in index and "similarity</span>" in index
    page = out / similarity.page_path(
        similarity.Pair(topics[0], "copy_ref", "indep0", 1.0), {})
    assert f'href="{similarity.page_path(similarity.Pair(topics[0], "copy_ref", "indep0", 1.0), {})}"' \
        in index
    html = page.read_text()
    assert html.count('class="m') > 10  # shared passages are marked on both sides
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'href="../../students/copy_ref/report.html"' in html


def test_a_lowered_threshold_flags_more_and_a_raised_one_fewer(tmp_path: Path) -> None:
    topics = TOPICS[:1]
    subs, _ = planted_class(tmp_path, topics)
    counts = []
    for threshold in (0.3, 0.8, 1.0):
        (subs / "batch.toml").write_text(f"[similarity]\nthreshold = {threshold}\n")
        out = tmp_path / f"out{threshold}"
        Batch(course=COURSE, submissions=subs, out=out, topics=tuple(topics), jobs=1,
              echo=lambda s: None, progress_stream=io.StringIO(), tty=False,
              engine_factory=lambda *a, **k: InstantEngine(topics)).run()
        counts.append(len(similarity.read_pairs(out)))
    assert counts[0] >= counts[1] >= counts[2] and counts[1] == 2


def test_a_copy_shared_by_three_of_a_section_of_four_is_flagged(tmp_path: Path) -> None:
    topic = TOPICS[0]
    reference = COURSE.solution(topic).read_text()
    section = {"ann": reference, "bob": reference, "cai": disguise(reference),
               "dia": COURSE.alternatives(topic)[0].read_text()}
    stubs = {topic: COURSE.stub(topic).read_text()}
    pairs = similarity.compare({topic: section}, stubs, 0.8)
    assert {(p.student_a, p.student_b) for p in pairs} == \
        {("ann", "bob"), ("ann", "cai"), ("bob", "cai")}
    # The rule is a count of modules (MOSS's -m), set in batch.toml: with common = 2, a passage
    # three modules hold is the common way to write it.
    assert similarity.compare({topic: section}, stubs, 0.8, common=2) == []
    assert read_config(None).similarity_common == similarity.DEFAULT_COMMON == 10
    cfg = tmp_path / "batch.toml"
    cfg.write_text("[similarity]\nthreshold = 0.7\ncommon = 4\n")
    assert (read_config(cfg).similarity, read_config(cfg).similarity_common) == (0.7, 4)
    cfg.write_text("[similarity]\ncommon = 0.5\n")
    with pytest.raises(BatchError, match="common must be a whole number of modules"):
        read_config(cfg)


def _colours_by_function(source: str, colours: list[str]) -> dict[str, list[str]]:
    """Each top-level function's lines' colours on a side-by-side page, by function name; a
    function that normalises to the same tokens as another (``f1`` and ``precision`` both one
    call with another number) is a copy of either, and left out."""
    out: dict[str, list[str]] = {}
    lines = source.splitlines()
    seen: dict[tuple[str, ...], list[str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            body = "\n".join(lines[node.lineno - 1:node.end_lineno])
            key = tuple(_tokens(body))
            seen.setdefault(key, []).append(node.name)
            out[node.name] = colours[node.lineno - 1:node.end_lineno]
    twins = {n for names in seen.values() if len(names) > 1 for n in names}
    return {n: c for n, c in out.items() if n not in twins}


@pytest.mark.parametrize("topic", [t for t in COURSE.topics() if COURSE.alternatives(t)])
def test_a_line_and_its_copy_have_the_same_colour(topic: str) -> None:
    stub = similarity.stub_hashes(COURSE.stub(topic).read_text())
    for original in [COURSE.solution(topic), *COURSE.alternatives(topic)]:
        src = original.read_text()
        # The very same module, and the same functions in another order: code that occurs more
        # than once (a repeated block) must still be coloured as the copy it is.
        for copy in (src, reorder_functions(src)):
            page = sidebyside.side_by_side(topic, "a", "b", 1.0, src, copy, stub)
            colours = [[line["passage"] for line in side["lines"]] for side in page["sides"]]
            assert any(colours[0]), (topic, original.name)
            assert _colours_by_function(src, colours[0]) == \
                _colours_by_function(copy, colours[1]), (topic, original.name)
            # The normalised forms of a module and of its reordered copy are the same text, with
            # the same lines in shared passages (their colours may differ between functions that
            # are twins, as above).
            normalised = [[(line["text"], bool(line["passage"])) for line in side["normalised"]]
                          for side in page["sides"]]
            assert normalised[0] == normalised[1] and any(p for _, p in normalised[0])
