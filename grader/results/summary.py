"""The CI view of a result: a Markdown summary for $GITHUB_STEP_SUMMARY and ``::error`` annotations,
both from the student's view of the result (``grader.results.visibility.student_view``).

Annotations point at the ``def`` line of the student's function. The line is found by parsing
the student's file with ``ast`` in the trusted process: the file is read as text, never
imported or executed.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.results.report import environment
from grader.results.model import Flag, Outcome, SubmissionResult, TestResult
from grader.results.numbers import number
from grader.results.scoring import percentage
from grader.results.visibility import StudentView, seen

# GitHub shows at most 10 annotations of each level per step; the rest are dropped silently,
# so the last slot says how many more there are.
MAX_PER_LEVEL = 10
MAX_MESSAGE = 3000  # characters of one test's message in the summary (the step summary caps at 1 MiB)
MAX_LISTED = 60  # failing tests listed in the summary; results.json and report.html hold them all
FAILED = ("failed", "error", "timeout")


@dataclass(frozen=True)
class Annotation:
    """One GitHub workflow command: ``::error file=…,line=…,title=…::message``."""

    level: str  # "error" | "warning" | "notice"
    title: str
    message: str
    file: str | None = None  # relative to the repository root, with forward slashes
    line: int | None = None

    def command(self) -> str:
        props = []
        if self.file is not None:
            props.append(f"file={_escape_property(self.file)}")
            if self.line is not None:
                props.append(f"line={self.line}")
        props.append(f"title={_escape_property(self.title)}")
        return f"::{self.level} {','.join(props)}::{_escape_data(self.message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --------------------------------------------------------------------------- where functions are


@dataclass(frozen=True)
class SourceMap:
    """Line numbers of a student file's top-level functions and classes, or of its syntax error."""

    definitions: dict[str, int]
    syntax_error: int | None = None
    imports: dict[str, int] = field(default_factory=dict)  # top-level package -> first line

    def line_of(self, name: str | None) -> int:
        if self.syntax_error is not None:
            return self.syntax_error
        return self.definitions.get(name or "", 1)


def source_map(path: Path) -> SourceMap:
    """Parse (never run) the student's file; a missing file maps everything to line 1."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return SourceMap({})
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return SourceMap({}, syntax_error=exc.lineno or 1)
    defs: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.setdefault(node.name, node.lineno)
    imports: dict[str, int] = {}
    for found in ast.walk(tree):
        if isinstance(found, ast.Import):
            names = [a.name for a in found.names]
        elif isinstance(found, ast.ImportFrom) and found.module and not found.level:
            names = [found.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            imports[top] = min(imports.get(top, found.lineno), found.lineno)
    return SourceMap(defs, imports=imports)


def import_failure_line(message: str, topic: str, smap: SourceMap) -> int:
    """The line of the student's file where importing it failed: its syntax error, else the last
    frame of the traceback in the file, else the import of a package the environment lacks."""
    if smap.syntax_error is not None:
        return smap.syntax_error
    frames = re.findall(rf'File "[^"\n]*?(?<![\w.-]){re.escape(topic)}\.py", line (\d+)', message)
    if frames:
        return int(frames[-1])
    missing = re.search(r"\bimports ([\w.]+), which", message)
    return smap.imports.get(missing.group(1).split(".")[0], 1) if missing else 1


def culprit(t: TestResult) -> str | None:
    """The student function a failed test is about: the one its message names first, else the
    last one it called (the call that raised)."""
    if not t.functions:
        return None
    found = [(m.start(), fn) for fn in set(t.functions)
             if (m := re.search(rf"\b{re.escape(fn)}\b", t.message))]
    return min(found)[1] if found else t.functions[-1]


def _not_implemented(t: TestResult) -> bool:
    return Flag.NOT_IMPLEMENTED in t.flags


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def github_annotations(view: StudentView, files: Mapping[str, Path],
                       root: Path | None = None) -> list[Annotation]:
    """Annotations for the failed tests, one per student function (GitHub caps how many show).

    ``files`` maps each topic to the student's file; ``root`` is the repository root that the
    annotation paths are relative to (default: the current directory).
    """
    result = seen(view)
    base = Path(root or Path.cwd()).resolve()
    out: list[Annotation] = []
    for topic in result.topics:
        failed = [t for t in result.tests if t.topic == topic.topic and t.outcome in FAILED]
        if not failed:
            continue
        path = files.get(topic.topic)
        if path is None or not Path(path).is_file():
            if topic.submitted:  # handed in as a notebook: no lines of a .py to point at
                kind = "test" if len(failed) == 1 else "tests"
                body = "\n\n".join(f"{t.name}: {_shorten(t.message, 800)}" for t in failed[:5])
                out.append(Annotation("error", f"{topic.topic}: " + (
                    topic.note.splitlines()[0][:200] if topic.note else
                    f"{len(failed)} {kind} failed"), _shorten(body, 4000)))
            else:
                out.append(Annotation("error", f"{topic.topic}: not submitted",
                                      topic.note or f"no {topic.topic}.py was found"))
            continue
        where = Path(os.path.relpath(Path(path).resolve(), base)).as_posix()
        smap = source_map(Path(path))
        imports = [t for t in failed if Flag.IMPORT_FAILED in t.flags]
        if imports:  # the module did not load: one annotation says why, at the syntax error if any
            out.append(Annotation("error", f"{topic.topic}.py could not be imported",
                                  _shorten(imports[0].message, 1500), where,
                                  import_failure_line(imports[0].message, topic.topic, smap)))
            continue
        todo = sorted({culprit(t) or topic.topic for t in failed if _not_implemented(t)},
                      key=smap.line_of)
        if todo:
            out.append(Annotation("notice", f"{topic.topic}: not implemented yet",
                                  ", ".join(todo), where, smap.line_of(todo[0])))
        by_function: dict[str, list[TestResult]] = {}
        for t in failed:
            if not _not_implemented(t):
                by_function.setdefault(culprit(t) or topic.topic, []).append(t)
        for fn, tests in sorted(by_function.items(), key=lambda kv: smap.line_of(kv[0])):
            kind = "test" if len(tests) == 1 else "tests"
            body = "\n\n".join(f"{t.name}: {_shorten(t.message, 800)}" for t in tests)
            out.append(Annotation("error", f"{fn}: {len(tests)} {kind} failed",
                                  _shorten(body, 4000), where, smap.line_of(fn)))
    return _cap(out)


def _cap(items: list[Annotation]) -> list[Annotation]:
    kept: list[Annotation] = []
    for level in ("error", "warning", "notice"):
        mine = [a for a in items if a.level == level]
        if len(mine) > MAX_PER_LEVEL:
            rest = len(mine) - (MAX_PER_LEVEL - 1)
            mine = mine[:MAX_PER_LEVEL - 1] + [Annotation(
                level, f"{rest} more", f"{rest} more functions have {level}s: see the job "
                "summary or the grader-report artifact")]
        kept.extend(mine)
    return kept


# --------------------------------------------------------------------------------- the summary


def _plural(n: int, noun: str) -> str:
    """"1 hidden test", "3 hidden tests"; "" for none."""
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


def _cell(text: str) -> str:
    """Text that cannot end a Markdown table cell early."""
    return text.replace("|", "\\|")


def _summary_context(result: SubmissionResult, hidden_counts: Mapping[str, int]) -> dict[str, Any]:
    """Everything the template shows, prepared here so the template only loops and branches."""
    hidden_ran = any(t.kind == "hidden" for t in result.tests)
    rows = []
    for topic in result.topics:
        tests = [t for t in result.tests if t.topic == topic.topic and t.counted]
        passed = sum(t.outcome == Outcome.PASSED for t in tests)
        todo = sorted({culprit(t) or topic.topic for t in tests if _not_implemented(t)})
        hidden = 0 if hidden_ran else int(hidden_counts.get(topic.topic, 0))
        notes = [f"not implemented yet: {', '.join(todo)}" if todo else "",
                 topic.note.splitlines()[0] if topic.note else "",
                 _plural(hidden, "hidden test")]
        rows.append({
            "topic": topic.topic, "passed": passed, "total": len(tests),
            "score": number(topic.score), "max_score": number(topic.max_score),
            "ok": bool(tests) and passed == len(tests),
            "notes": _cell("; ".join(n for n in notes if n)),
        })
    failures = [{"topic": t.topic, "name": t.name, "kind": t.kind, "outcome": t.outcome,
                 "message": _shorten(t.message, MAX_MESSAGE),
                 "output": _shorten(t.output, MAX_MESSAGE)}
                for t in result.tests if t.outcome in FAILED and not _not_implemented(t)]
    return {
        "submission": result.submission,
        "hidden_ran": hidden_ran,
        "hidden_total": 0 if hidden_ran else sum(int(n) for n in hidden_counts.values()),
        "rows": rows,
        "passed": sum(r["passed"] for r in rows),
        "total": sum(r["total"] for r in rows),
        "score": number(result.score),
        "max_score": number(result.max_score),
        "percent": number(percentage(result.score, result.max_score)),
        "failures": failures[:MAX_LISTED],
        "unlisted": max(0, len(failures) - MAX_LISTED),
        "not_graded": sum(t.outcome == Outcome.NOT_GRADED for t in result.tests),
        "error": result.error,
        "seed": result.seed,
    }


def summary_markdown(view: StudentView, hidden_counts: Mapping[str, int] | None = None) -> str:
    """The Markdown summary. ``hidden_counts``: hidden tests per topic, when they did not run."""
    result = seen(view)
    context = _summary_context(result, hidden_counts or result.hidden_tests)
    return environment().get_template("summary.md.j2").render(**context)
