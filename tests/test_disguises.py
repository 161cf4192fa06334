"""The ladder of disguises (bench/disguises.py): a copy is flagged at the default threshold whatever
its disguise, L1 to L8, a copy run from a string or a code object included (graded by the real
engine: the worker reports the code that ran); a function copied into an otherwise original module
is found; and the page shows the shared passages on the normalised form too."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import similarity
from grader.course import Course

from test_engine import FIX, REFERENCE, grade

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
THRESHOLD = similarity.DEFAULT_THRESHOLD
_spec = importlib.util.spec_from_file_location("disguises", ROOT / "bench" / "disguises.py")
assert _spec and _spec.loader
disguises: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(disguises)

TOPICS = ["linear_regression", "metrics", "backprop", "batchnorm", "rnn", "conv", "attention",
          "autograd"]
LEVELS = [level for level in disguises.ladder(frozenset()) if not level.startswith("L7")]


def _stub(topic: str) -> str:
    return COURSE.stub(topic).read_text()


def _flagged(topic: str, original: str, copy: str, stub: str,
             runtime: tuple[str, ...] = ()) -> list[similarity.Pair]:
    return similarity.compare({topic: {"original": original, "copy": copy}}, {topic: stub},
                              THRESHOLD, runtime={topic: {"copy": runtime}})


@pytest.mark.parametrize("level", LEVELS)
def test_every_static_disguise_is_flagged(level: str) -> None:
    # A couple of topics per level, a different couple for each (the benchmark runs them all).
    i = LEVELS.index(level)
    for topic in (TOPICS[i % len(TOPICS)], TOPICS[(i + 3) % len(TOPICS)]):
        stub = _stub(topic)
        api = similarity.stub_hashes(stub).names
        for original in (COURSE.solution(topic), COURSE.alternatives(topic)[0]):
            src = original.read_text()
            for variant, disguise in disguises.ladder(api)[level]:
                copy = disguise(src)
                if copy is None:  # ruff format where ruff is not installed
                    continue
                compile(copy, "copy", "exec")
                assert copy != src
                pairs = _flagged(topic, src, copy, stub)
                assert [(p.student_a, p.student_b) for p in pairs] == [("copy", "original")], \
                    (level, variant, topic, original.name)


@pytest.mark.parametrize("topic", COURSE.topics())
def test_every_static_disguise_of_every_topic_is_still_a_module(topic: str) -> None:
    """The ladder applies to any module: the text of the references and alternatives of every
    topic (docstrings spanning lines with non-ASCII characters, continued lines, f-strings)
    still compiles after each disguise, on every Python the grader runs on, and comes out
    changed by those that always change something (a formatter may find nothing to do)."""
    api = similarity.stub_hashes(_stub(topic)).names
    for original in (COURSE.solution(topic), *COURSE.alternatives(topic)):
        src = original.read_text()
        changed = set()
        for level in LEVELS:
            for variant, disguise in disguises.ladder(api)[level]:
                copy = disguise(src)
                if copy is None:  # ruff format where ruff is not installed
                    continue
                compile(copy, f"{original.name} ({variant})", "exec")
                if copy != src:
                    changed.add(level.split()[0])
        assert {"L1", "L3", "L8"} <= changed, (original.name, changed)


def test_renaming_keeps_the_text_around_each_name() -> None:
    src = ('def f(x):\n    """x → y,\n    mapped → there."""; y = x\n    return y  \\\n'
           '        + x  # x\n')
    assert disguises.replace_tokens(src, [((3, 24), "y", "out"), ((4, 11), "y", "out")]) == \
        src.replace("; y", "; out").replace("return y", "return out")
    with pytest.raises(ValueError, match="not at line 1"):
        disguises.replace_tokens(src, [((1, 0), "y", "z")])


# The toy topic's reference with a real topic's code after it: large enough to compare, and
# graded by the toy course's engine (which starts in a second).
ORIGINAL = REFERENCE + "\n\n" + COURSE.solution("metrics").read_text().replace(
    "from __future__ import annotations\n", "")
TOY_STUB = (FIX / "assignments" / "toy" / "toy.py").read_text()


@pytest.mark.parametrize("route", sorted(disguises.ROUTES))
def test_a_copy_run_at_run_time_is_flagged_by_the_code_that_ran(toy_engine, route: str,
                                                                tmp_path: Path) -> None:
    copy = disguises.ROUTES[route](ORIGINAL)
    result = grade(toy_engine, tmp_path, copy)
    toy = result.topic("toy")
    assert toy.score == toy.max_score, [t.message for t in result.tests if t.outcome != "passed"]
    assert toy.runtime_code and toy.dynamic, (toy.dynamic, toy.note)
    pairs = _flagged("toy", ORIGINAL, copy, TOY_STUB, toy.runtime_code)
    assert [(p.student_a, p.student_b) for p in pairs] == [("copy", "original")], route
    assert pairs[0].similarity >= 0.95
    # What ran is the evidence: the module's own text holds none of it.
    assert similarity.similarity(similarity.fingerprint(ORIGINAL),
                                 similarity.fingerprint(copy)) < 0.2


def test_run_time_code_joins_the_comparison_in_a_batch(toy_engine, tmp_path: Path) -> None:
    # The comparison reads each student's runtime_code from their result in the batch folder.
    copy = disguises.ROUTES["vars(builtins)['exec'] of a xor-ed string"](ORIGINAL)
    result = grade(toy_engine, tmp_path / "graded", copy)
    from grader.classroom.layout import STUDENTS
    from grader.results.files import FULL
    from grader.results.model import dumps_readable

    out = tmp_path / "out"
    (out / STUDENTS / "bob").mkdir(parents=True)
    (out / STUDENTS / "bob" / FULL).write_text(dumps_readable(result.to_dict()))
    runtime = similarity.read_runtime(out, [("bob", "bob"), ("ann", "ann")], ["toy"])
    assert runtime["toy"]["bob"] == result.topic("toy").runtime_code and "ann" not in runtime["toy"]


def test_a_function_copied_into_an_original_module_is_found() -> None:
    topic = "backprop"
    mine = COURSE.alternatives(topic)[0].read_text()
    theirs = COURSE.solution(topic).read_text()
    stub = similarity.stub_hashes(_stub(topic))
    # The classmate's largest function, renamed, replaces nothing: it is added to my module.
    units = [u for u in similarity.fingerprint(theirs, stub).units if not u.name.startswith("<")]
    largest = max(units, key=lambda u: len(u.hashes)).name
    import ast

    tree = ast.parse(theirs)
    node = next(n for n in tree.body if getattr(n, "name", "") == largest)
    lines = theirs.splitlines()[node.lineno - 1:node.end_lineno]
    copied = disguises.rename("\n".join(lines) + "\n")
    module = mine + "\n\n" + copied + f"\n\n__all__ = [{largest!r}]\n"
    whole = similarity.similarity(similarity.fingerprint(mine, stub),
                                  similarity.fingerprint(module, stub))
    pairs = similarity.compare({topic: {"mine": module, "theirs": theirs}}, {topic: _stub(topic)},
                               THRESHOLD)
    assert [(p.student_a, p.student_b) for p in pairs] == [("mine", "theirs")], pairs
    assert pairs[0].functions and largest in pairs[0].functions[0]
    # The modules as wholes are not similar: only the function is evidence.
    assert similarity.similarity(similarity.fingerprint(module, stub),
                                 similarity.fingerprint(theirs, stub)) < THRESHOLD <= whole
    # Independent solutions have no such function in common.
    for a in [COURSE.solution(t) for t in TOPICS]:
        t = a.parent.name
        alts = {p.stem: p.read_text() for p in [a, *COURSE.alternatives(t)]}
        assert similarity.compare({t: alts}, {t: _stub(t)}, THRESHOLD) == []


def test_the_page_shows_the_normalised_form_beside_the_original(tmp_path: Path) -> None:
    topic = "conv"
    src = COURSE.solution(topic).read_text()
    copy = disguises.everything(src, similarity.stub_hashes(_stub(topic)).names)
    modules = {topic: {"ann": src, "bob": copy}}
    pairs = similarity.compare(modules, {topic: _stub(topic)}, THRESHOLD)
    written = similarity.write_outputs(tmp_path, pairs, modules, {topic: _stub(topic)}, {}, {})
    html = (tmp_path / written[0].page).read_text()
    assert 'id="original"' in html and 'id="normalised"' in html
    original, normalised = html.split('id="normalised"')
    # Shared passages are marked in both views; the normalised view names by role.
    assert original.count('class="m') > 20 and normalised.count('class="m') > 20
    assert "def f1(a1" in normalised and "_scratch" not in normalised
    assert textwrap.dedent("_scratch") in original  # the dead stores are in what was handed in
