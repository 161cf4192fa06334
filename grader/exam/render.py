"""Rendering papers: question texts, the HTML paper with its answer form, the Markdown print version.

Question texts are Jinja templates in a small markup: paragraphs separated by blank lines,
`code` in backticks, math in Unicode, and three filters for arrays — ``vec`` (inline
``(1, −2, 3)``), ``matrix`` (a bracketed matrix) and ``table(rows, cols)`` (a labelled table).
Each renders for two targets: HTML (autoescaped) and Markdown. Nothing here sees a key except
the answer-key pages, which are rendered from separate functions and templates.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup, escape

from grader.exam.bank import Params, Question
from grader.exam.parts import LETTERS, Array, Choice, Part, fmt
from grader.exam.variant import Paper, Variant
from grader.results.report import template_dirs

ANSWERS_FORMAT = "dl-grader-exam-answers/1"


def value_text(x: Any) -> str:
    """A parameter as printed: numbers to 6 significant digits, lists as vectors."""
    if isinstance(x, (list, tuple, np.ndarray)):
        return "(" + ", ".join(value_text(v) for v in x) + ")"
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        return fmt(float(x) if isinstance(x, (float, np.floating)) else int(x), 6)
    return str(x)


def _rows(m: Any) -> list[list[str]]:
    a = np.asarray(m, dtype=object)
    if a.ndim == 1:
        a = a[:, None] if a.size else a.reshape(0, 1)
    return [[value_text(v) for v in row] for row in a.tolist()]


# -------------------------------------------------------------------------------- HTML target


def _html_vec(v: Any) -> Markup:
    return escape(value_text(list(np.asarray(v).tolist())))


def _html_matrix(m: Any) -> Markup:
    rows = "".join("<span class=\"row\">" + "".join(f"<span>{escape(c)}</span>" for c in r) +
                   "</span>" for r in _rows(m))
    return Markup(f"<span class=\"matrix\">{rows}</span>")


def _html_table(m: Any, rows: Sequence[Any] | None = None, cols: Sequence[Any] | None = None,
                corner: str = "") -> Markup:
    body = _rows(m)
    head = ""
    if cols is not None:
        head = "<tr>" + (f"<th>{escape(corner)}</th>" if rows is not None else "") + \
            "".join(f"<th>{escape(value_text(c))}</th>" for c in cols) + "</tr>"
    lines = []
    for i, r in enumerate(body):
        label = f"<th>{escape(value_text(rows[i]))}</th>" if rows is not None else ""
        lines.append("<tr>" + label + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>")
    return Markup(f"<div class=\"data\"><table>{head}{''.join(lines)}</table></div>")


# ---------------------------------------------------------------------------- Markdown target


def _md_vec(v: Any) -> str:
    return value_text(list(np.asarray(v).tolist()))


def _md_matrix(m: Any) -> str:
    # A marker that _md_layout replaces once the whole paragraph around the matrix is known.
    return f"{_MARK}{json.dumps(_rows(m))}{_MARK}"


def _matrix_lines(rows: list[list[str]]) -> list[str]:
    width = max((len(c) for r in rows for c in r), default=1)
    lines = ["  ".join(c.rjust(width) for c in r) for r in rows]
    if len(lines) == 1:
        return [f"[ {lines[0]} ]"]
    brackets = [("⎡", "⎤")] + [("⎢", "⎥")] * (len(lines) - 2) + [("⎣", "⎦")]
    return [f"{a} {ln} {b}" for (a, b), ln in zip(brackets, lines)]


def _md_layout(paragraph: str) -> str:
    """A paragraph with matrices, laid out side by side in a code block (text on the middle row)."""
    pieces = paragraph.split(_MARK)
    blocks = [[re.sub(r"\s+", " ", p)] if i % 2 == 0 else _matrix_lines(json.loads(p))
              for i, p in enumerate(pieces)]
    height = max(len(b) for b in blocks)
    lines = [""] * height
    for b in blocks:
        width = max(len(x) for x in b)
        top = (height - len(b)) // 2
        for i in range(height):
            j = i - top
            lines[i] += (b[j] if 0 <= j < len(b) else "").ljust(width)
    return "```\n" + "\n".join(ln.rstrip() for ln in lines).strip("\n") + "\n```"


def _md_table(m: Any, rows: Sequence[Any] | None = None, cols: Sequence[Any] | None = None,
              corner: str = "") -> str:
    body = _rows(m)
    n = len(body[0]) if body else 0
    header = ([corner] if rows is not None else []) + \
        ([value_text(c) for c in cols] if cols is not None else [""] * n)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(body):
        label = [value_text(rows[i])] if rows is not None else []
        lines.append("| " + " | ".join(label + r) + " |")
    return "\n\n" + "\n".join(lines) + "\n\n"


def _finalize(value: Any) -> Any:
    if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
        return value_text(value)
    return value


def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=html, undefined=jinja2.StrictUndefined,
                             finalize=_finalize, keep_trailing_newline=False)
    env.filters.update({"vec": _html_vec, "matrix": _html_matrix, "table": _html_table}
                       if html else {"vec": _md_vec, "matrix": _md_matrix, "table": _md_table})
    return env


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}
_CODE = re.compile(r"`([^`\n]+)`")
_MARK = "\x00"


@functools.lru_cache(maxsize=256)
def _compiled(text: str, html: bool) -> jinja2.Template:
    return _ENVIRONMENTS[html].from_string(text)


def render_text(question: Question, params: Params, *, html: bool) -> str:
    """A question's text for one variant: HTML paragraphs (autoescaped) or Markdown."""
    try:
        text = _compiled(question.text, html).render(**params)
    except jinja2.TemplateError as exc:
        raise jinja2.TemplateError(f"question kind {question.kind}: {exc}") from exc
    if not html:
        paragraphs = [_md_layout(c.strip()) if _MARK in c else c.strip()
                      for c in re.split(r"\n\s*\n", text)]
        return "\n\n".join(c for c in paragraphs if c)
    out = []
    for chunk in re.split(r"\n\s*\n", text):
        chunk = _CODE.sub(r"<code>\1</code>", chunk.strip())
        if chunk:
            out.append(chunk if chunk.startswith("<div") else f"<p>{chunk}</p>")
    return Markup("\n".join(out))


# ------------------------------------------------------------------------------------- papers


def part_view(v: Variant, part: Part, index: int) -> dict[str, Any]:
    """What the paper shows of one part: its label, its input and (for a choice) its options."""
    view: dict[str, Any] = {"name": part.name, "label": part.label, "kind": part.kind,
                            "letter": "abcdefghij"[index], "hint": part.hint(),
                            "field": f"{v.qid}.{part.name}"}
    if isinstance(part, Array):
        shape = part.shape if len(part.shape) == 2 else (1, part.shape[0])
        view["shape"] = ",".join(str(s) for s in part.shape)
        view["grid"] = [[",".join(str(x) for x in ((i, j) if len(part.shape) == 2 else (j,)))
                         for j in range(shape[1])] for i in range(shape[0])]
    if isinstance(part, Choice):
        view["options"] = [{"letter": LETTERS[i], "text": part.option_text(o)}
                           for i, o in enumerate(v.options[part.name])]
    return view


def question_views(paper: Paper, *, html: bool) -> list[dict[str, Any]]:
    return [{"qid": v.qid, "number": v.q.number, "title": v.q.question.title,
             "points": fmt(v.q.points), "text": render_text(v.q.question, v.params, html=html),
             "parts": [part_view(v, p, i) for i, p in enumerate(v.parts)]}
            for v in paper.variants]


def paper_context(paper: Paper, name: str = "", *, html: bool) -> dict[str, Any]:
    exam = paper.exam
    return {"exam": exam.name, "title": exam.title, "instructions": exam.instructions,
            "duration": exam.duration, "points": fmt(exam.points), "student": paper.student,
            "name": name, "code": paper.code, "format": ANSWERS_FORMAT,
            "filename": answers_filename(paper), "questions": question_views(paper, html=html),
            "blank": blank_answers_text(paper)}


def answers_filename(paper: Paper) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", paper.student).strip("._") or "student"
    return f"{paper.exam.name}-{safe}.json"


def blank_answers(paper: Paper) -> dict[str, Any]:
    """The answers file a student fills in: exam, student, paper code and an empty box per part."""
    return {"format": ANSWERS_FORMAT, "exam": paper.exam.name, "student": paper.student,
            "paper": paper.code,
            "answers": {v.qid: {p.name: p.blank() for p in v.parts} for v in paper.variants}}


def blank_answers_text(paper: Paper) -> str:
    return json.dumps(blank_answers(paper), indent=1, ensure_ascii=False)


@functools.lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dirs()), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"),
                                            disabled_extensions=("md.j2", "md"),
                                            default=True))


def render_paper_html(paper: Paper, name: str = "") -> str:
    return _templates().get_template("exam/paper.html.j2").render(
        **paper_context(paper, name, html=True))


def render_paper_md(paper: Paper, name: str = "") -> str:
    text = _templates().get_template("exam/paper.md.j2").render(
        **paper_context(paper, name, html=False))
    return re.sub(r"\n{3,}", "\n\n", text)


# ----------------------------------------------------------------------------- answer keys


def key_record(paper: Paper, fingerprint: str) -> dict[str, Any]:
    """A paper's key, instructor-only: parameters, answers, options and mistakes per question."""
    questions = []
    for v in paper.variants:
        questions.append({
            "id": v.qid, "kind": v.q.question.kind, "points": v.q.points, "seed": v.seed,
            "params": v.params, "options": v.options, "answers": v.key,
            "shown": {p.name: p.show(v.key[p.name]) for p in v.parts},
            "mistakes": {n: {"why": m.why, "values": m.values} for n, m in v.mistakes.items()},
        })
    return {"exam": paper.exam.name, "student": paper.student, "paper": paper.code,
            "secret_fingerprint": fingerprint, "questions": questions}


def render_keys_md(papers: Sequence[tuple[Paper, str]]) -> str:
    """Every student's answers, one section each, for the instructor."""
    students = []
    for paper, name in papers:
        rows = []
        for v in paper.variants:
            for p in v.parts:
                shown = p.show(v.key[p.name])
                if isinstance(p, Choice):
                    shown += " = " + p.option_text(v.options[p.name][LETTERS.index(v.key[p.name])])
                rows.append({"qid": v.qid, "part": p.name, "label": p.label, "answer": shown})
        students.append({"student": paper.student, "name": name, "code": paper.code,
                         "rows": rows})
    exam = papers[0][0].exam if papers else None
    return _templates().get_template("exam/keys.md.j2").render(
        title=exam.title if exam else "", exam=exam.name if exam else "", students=students)
