"""Build the demo class in examples/class/ from the course's references, mutants and stubs.

    python examples/make_class.py            # rewrite examples/class/ from the current topics
    python examples/make_class.py --out DIR  # somewhere else

Each student shows one thing a batch must cope with: a perfect submission (written differently
from the reference), typical partial work, a classic mistake in every topic, missing topics, a
syntax error, an infinite loop, a hostile submission, a malformed archive, an empty folder, the
unchanged stubs, a late submission, one classic mistake that costs its topic alone, and a student
on the roster who submitted nothing. The output is deterministic: the same topics give the same
bytes (zip timestamps are fixed), and the draws of the typical students are made topic by topic
(and their mutants by a hash of each mutant's name), so a topic or a mutant added to the course
leaves every other draw as it was.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import random
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402

ZIP_TIME = (2026, 3, 1, 12, 0, 0)
DEADLINE = "2026-03-01T23:59:00+00:00"

Files = dict[str, str]  # relative path -> source text


class Sources:
    """The course's versions of each topic module: reference, alternatives, mutants, stub."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self.topics = [t for t in course.topics() if course.solution(t).is_file()]

    def solution(self, topic: str) -> str:
        return self.course.solution(topic).read_text()

    def alternative(self, topic: str, index: int = 0) -> str:
        alts = self.course.alternatives(topic)
        return alts[index % len(alts)].read_text() if alts else self.solution(topic)

    def mutant(self, topic: str, index: int = 0) -> str:
        muts = self.course.mutants(topic)
        return muts[index % len(muts)].read_text() if muts else self.stub(topic)

    def drawn_mutant(self, topic: str, key: str) -> str:
        """The mutant that ranks first for `key` by a hash of its name (rendezvous hashing): a
        mutant added later changes the draw only where it ranks first itself."""
        muts = self.course.mutants(topic)
        if not muts:
            return self.stub(topic)
        first = min(muts, key=lambda p: hashlib.sha256(f"{key}/{p.stem}".encode()).digest())
        return first.read_text()

    def named_mutant(self, topic: str, name: str) -> str:
        """The mutant of that name, else the topic's first one."""
        path = self.course.reference / topic / "mutants" / f"{name}.py"
        return path.read_text() if path.is_file() else self.mutant(topic)

    def stub(self, topic: str) -> str:
        return self.course.stub(topic).read_text()

    def functions(self, topic: str) -> list[str]:
        tree = ast.parse(self.solution(topic))
        return [n.name for n in tree.body
                if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]

    def pick(self, *preferred: str) -> str:
        """The first preferred topic the course has, else its first topic."""
        return next((t for t in preferred if t in self.topics), self.topics[0])


def flat(modules: dict[str, str]) -> Files:
    return {f"{t}.py": src for t, src in modules.items()}


def assignments_layout(modules: dict[str, str]) -> Files:
    return {f"assignments/{t}/{t}.py": src for t, src in modules.items()}


def mixed(src: Sources, seed: str, weights: dict[str, float]) -> dict[str, str]:
    """Typical partial work: each topic drawn as solution, alternative, mutant or stub, from a
    generator of its own (student and topic), so that adding a topic moves no other draw."""
    kinds = list(weights)
    out = {}
    for topic in src.topics:
        rng = random.Random(f"{seed}/{topic}")
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        if kind == "mutant":
            out[topic] = src.drawn_mutant(topic, f"{seed}/{topic}")
        else:
            out[topic] = {"solution": src.solution, "alternative": src.alternative,
                          "stub": src.stub}[kind](topic)
    return out


def with_syntax_error(source: str) -> str:
    """The source with the colon of its first ``def`` line removed, as a typo would."""
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("def ") and line.rstrip().endswith(":"):
            lines[i] = line.rstrip()[:-1] + "\n"
            break
    return "".join(lines)


def with_infinite_loop(source: str, function: str) -> str:
    params = _params(source, function)
    return source + (f"\n\ndef {function}({params}):\n"
                     "    # A loop whose exit condition never becomes true.\n"
                     "    i = 0\n"
                     "    while i >= 0:\n"
                     "        i += 1\n")


def looping(src: Sources) -> dict[str, str]:
    """Correct work but for one function that never returns."""
    topic = src.pick("metrics")
    names = src.functions(topic)
    fn = "accuracy" if "accuracy" in names else names[0]
    return {t: with_infinite_loop(src.solution(t), fn) if t == topic else src.solution(t)
            for t in src.topics}


def one_mistake(src: Sources, topic: str, mutant: str) -> dict[str, str]:
    """Every topic right (the second alternative) but one, which has the named classic mistake."""
    return {t: src.named_mutant(t, mutant) if t == topic else src.alternative(t, 1)
            for t in src.topics}


# (student, name, topic, mutant): the classic mistake each of these students makes
CLASSIC = [
    ("nora", "Nora Embedding", "embeddings", "dE_buffered_add",
     "dE[ids] += g, so repeated words lose gradient"),
    ("omar", "Omar Norm", "transformer", "post_and_pre_norm_swapped",
     "post-norm and pre-norm swapped"),
    ("pia", "Pia Beam", "seq2seq", "beam_extends_finished",
     "beam search that keeps extending finished hypotheses"),
    ("quinn", "Quinn Graph", "autograd", "grad_assigned_not_added",
     "gradients assigned, not added, so a tensor used twice loses one"),
]


def _params(source: str, function: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return ast.unparse(node.args)
    raise ValueError(f"{function} not found")


PAYLOAD = ("</pre></details><script>window.pwned = true; alert('xss')</script>"
           "<img src=x onerror=\"window.pwned = true\"><a href=\"javascript:alert(1)\">click</a>")

HOSTILE_PRINT = '''

# --- what a hostile student adds -----------------------------------------------------------
import os as _os
import sys as _sys

print({payload!r})


def _snoop():
    """Look for the hidden tests and the reference solution from wherever this runs."""
    found = []
    for start in (_os.getcwd(), _os.path.dirname(_os.path.abspath(__file__))):
        here = start
        for _ in range(6):
            for name in ("reference", "tests"):
                path = _os.path.join(here, name)
                try:
                    found.append(path + ": " + ", ".join(sorted(_os.listdir(path))[:5]))
                except OSError as exc:
                    found.append(path + ": " + type(exc).__name__)
            here = _os.path.dirname(here)
    try:
        with open("/etc/passwd") as f:
            found.append("/etc/passwd: " + f.readline().strip())
    except OSError as exc:
        found.append("/etc/passwd: " + type(exc).__name__)
    return found


_original_{fn} = {fn}


def {fn}(*args, **kwargs):
    print({payload!r})
    for line in _snoop()[:8]:
        print(line)
    return _original_{fn}(*args, **kwargs)
'''

HOSTILE_RAISE = '''

# --- an exception whose message is markup -----------------------------------------------------
def {fn}(*args, **kwargs):
    raise ValueError({payload!r})
'''

HOSTILE_EXIT = '''

# --- ends the process the moment it is imported ---------------------------------------------
import os as _os

_os._exit(0)
'''

HOSTILE_CONFTEST = '''"""A conftest.py that would turn every failure into a pass if pytest loaded it."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
'''


def hostile(src: Sources) -> Files:
    """Correct work laced with attacks the grader must contain and show escaped."""
    modules = {t: src.solution(t) for t in src.topics}
    printer = src.pick("metrics", "linear_regression")
    fn = src.functions(printer)[1]
    modules[printer] += HOSTILE_PRINT.format(payload=PAYLOAD, fn=fn)
    raiser = src.pick("linear_regression", "activations")
    if raiser != printer:
        modules[raiser] += HOSTILE_RAISE.format(payload=PAYLOAD, fn=src.functions(raiser)[-1])
    exiter = src.pick("optimizers", "regularization")
    if exiter not in (printer, raiser):
        modules[exiter] += HOSTILE_EXIT
    files = flat(modules)
    files["conftest.py"] = HOSTILE_CONFTEST
    return files


def write_folder(dest: Path, files: Files) -> None:
    dest.mkdir(parents=True)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_zip(dest: Path, files: Files, prefix: str = "") -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in sorted(files.items()):
            info = zipfile.ZipInfo(prefix + rel, date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)


# (id, name, roster's submission time, how the entry is written, what it shows)
Student = tuple[str, str, str, Callable[[Sources, Path], None], str]


def students() -> list[Student]:
    on_time = "2026-03-01T18:30:00+00:00"
    return [
        ("ada", "Ada Perfect", on_time,
         lambda s, d: write_folder(d / "ada", flat({t: s.alternative(t) for t in s.topics})),
         "perfect: every topic correct, written differently from the reference"),
        ("ben", "Ben Typical", "2026-03-02T00:20:00+00:00",
         lambda s, d: write_zip(d / "ben.zip", flat(mixed(
             s, "ben", {"solution": 5, "mutant": 2, "stub": 2}))),
         "typical partial work in a .zip, 21 minutes late (inside the grace period)"),
        ("chloe", "Chloé Typical", on_time,
         lambda s, d: write_folder(d / "chloe", assignments_layout(mixed(
             s, "chloe", {"alternative": 6, "mutant": 3, "stub": 1}))),
         "typical partial work in the assignments/<topic>/ layout"),
        ("dan", "Dan Classic", on_time,
         lambda s, d: write_zip(d / "dan.zip", flat({t: s.mutant(t) for t in s.topics}),
                                prefix="dan/"),
         "a classic mistake in every topic, zipped inside a top-level folder"),
        ("eve", "Eve Halfway", on_time,
         lambda s, d: write_folder(d / "eve", flat(
             {t: s.solution(t) for t in s.topics[: len(s.topics) // 2]})),
         "the first half of the topics right, the rest not submitted"),
        ("finn", "Finn Typo", on_time,
         lambda s, d: write_zip(d / "finn.zip", flat(
             {t: with_syntax_error(s.solution(t)) if t == s.pick("logistic_regression")
              else s.solution(t) for t in s.topics})),
         "a syntax error in one topic, the others right"),
        ("gus", "Gus Loop", on_time,
         lambda s, d: write_folder(d / "gus", flat(looping(s))),
         "an infinite loop in metrics.accuracy: those tests time out, the rest pass"),
        ("hana", "Hana Hostile", on_time,
         lambda s, d: write_folder(d / "hana", hostile(s)),
         "a hostile submission: markup in output and errors, snooping, os._exit, conftest.py"),
        ("ivy", "Ivy Broken", on_time,
         lambda s, d: write_zip(d / "ivy.zip", {"../../escape.py": "print('outside')\n",
                                                **flat({s.topics[0]: s.solution(s.topics[0])})}),
         "a malformed archive (a path that climbs out of it): an error row"),
        ("jack", "Jack Empty", on_time,
         lambda s, d: write_folder(d / "jack", {"notes.txt": "I ran out of time, sorry.\n"}),
         "a folder with no Python file: every topic not submitted"),
        ("kim", "Kim Stub", on_time,
         lambda s, d: write_zip(d / "kim.zip", flat({t: s.stub(t) for t in s.topics})),
         "the stubs as handed out: everything 'not implemented'"),
        ("leo", "Leo Late", "2026-03-03T09:00:00+00:00",
         lambda s, d: write_folder(d / "leo", flat(mixed(
             s, "leo", {"solution": 8, "mutant": 1}))),
         "good work submitted a day and a half late: the late penalty applies"),
        *[(sid, name, on_time, _classic_writer(sid, topic, mutant),
           f"one classic mistake in {topic}, {what}: that topic alone loses points")
          for sid, name, topic, mutant, what in CLASSIC],
    ]


def _classic_writer(sid: str, topic: str, mutant: str) -> Callable[[Sources, Path], None]:
    return lambda s, d: write_folder(d / sid, flat(one_mistake(s, topic, mutant)))


ABSENT = ("mia", "Mia Absent", "on the roster, nothing submitted")

BATCH_TOML = f'''# The demo's late policy and the assignment's name in the Canvas import.
[late]
deadline = "{DEADLINE}"
per_day = 10          # per cent of the score per day started
cap = 50              # never more than half
grace_minutes = 30

[canvas]
assignment = "Deep learning exercises (demo)"
'''


def build(out: Path) -> None:
    src = Sources(Course(ROOT))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    roster = ["student,name,canvas_id,sis_id,login,section,submitted"]
    lines = []
    for i, (sid, name, submitted, write, what) in enumerate(students()):
        write(src, out)
        roster.append(f"{sid},{name},{1001 + i},S{2026000 + i},{sid}@example.edu,"
                      f"{'A' if i % 2 else 'B'},{submitted}")
        lines.append(f"- `{sid}` — {what}")
    sid, name, what = ABSENT
    roster.append(f"{sid},{name},{1001 + len(lines)},S{2026000 + len(lines)},{sid}@example.edu,A,")
    lines.append(f"- `{sid}` — {what}")
    (out / "roster.csv").write_text("\n".join(roster) + "\n")
    (out / "batch.toml").write_text(BATCH_TOML)
    print(f"wrote {len(lines)} students ({len(src.topics)} topics) to {out}")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "class")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
