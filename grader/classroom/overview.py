"""The class overview page: flags first, then students, distribution, and each topic's hardest tests.

Everything a chart needs (bar positions, sizes, labels) is computed here; the Jinja template
only loops over it and draws inline SVG, so the page is one self-contained file that works
offline. Student-supplied text (ids, messages, printed output) is only ever autoescaped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from grader.classroom.gradebook import FLAG_DETAILS, FLAGS, ClassEntry, Stats, first_line
from grader.classroom.late import in_words
from grader.results.numbers import number
from grader.results.report import environment
from grader.results.model import Flag, Outcome

HIST_BINS = 10
FAILURES_SHOWN = 3  # most common failure messages per test
HARDEST_SHOWN = 20  # tests per topic shown before the rest are folded away
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

# Chart geometry, in SVG user units.
HIST_W, HIST_H, HIST_PAD = 600, 220, 30
BAR_W, BAR_ROW = 360, 24


def histogram(percents: Sequence[float]) -> dict[str, Any]:
    """Bars of the final-percentage distribution: 10 bins of 10 points (100 % in the last)."""
    counts = [0] * HIST_BINS
    for p in percents:
        counts[min(HIST_BINS - 1, max(0, int(p // (100 / HIST_BINS))))] += 1
    top = max(counts, default=0) or 1
    plot_h = HIST_H - 2 * HIST_PAD
    step = (HIST_W - 2 * HIST_PAD) / HIST_BINS
    bars = []
    for i, n in enumerate(counts):
        h = plot_h * n / top
        x = HIST_PAD + i * step
        bars.append({"x": round(x + 2, 1), "y": round(HIST_PAD + plot_h - h, 1),
                     "w": round(step - 4, 1), "h": round(h, 1), "count": n,
                     "label_x": round(x + step / 2, 1), "label_y": round(HIST_PAD + plot_h - h - 4, 1),
                     "range": f"{i * 10}–{i * 10 + 10} %"})
    ticks = [{"x": round(HIST_PAD + i * step, 1), "text": f"{i * 10}"}
             for i in range(0, HIST_BINS + 1, 2)]
    return {"width": HIST_W, "height": HIST_H, "bars": bars, "ticks": ticks,
            "axis_y": HIST_PAD + plot_h, "x0": HIST_PAD, "x1": HIST_W - HIST_PAD,
            "tick_y": HIST_PAD + plot_h + 16}


def topic_bars(entries: Sequence[ClassEntry], topics: Sequence[str]) -> dict[str, Any]:
    """Mean percentage per topic over the students whose grading ran."""
    sums: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        if e.result is None or e.status != "graded":
            continue
        for t in e.result.topics:
            if t.max_score:
                sums[t.topic].append(100.0 * t.score / t.max_score)
    bars = []
    for i, topic in enumerate(topics):
        values = sums.get(topic, [])
        mean = sum(values) / len(values) if values else 0.0
        bars.append({"topic": topic, "mean": number(mean), "n": len(values),
                     "y": i * BAR_ROW, "w": round(BAR_W * mean / 100, 1),
                     "text_y": i * BAR_ROW + BAR_ROW * 0.65})
    return {"width": BAR_W, "height": max(1, len(topics)) * BAR_ROW, "bars": bars}


def normalise(message: str) -> str:
    """A failure message with its numbers blanked, so the same mistake groups together."""
    return _NUMBER.sub("#", first_line(message, 200))


def _base_name(name: str) -> str:
    """A test's name without its parametrisation: "test_f1[absent-class]" → "test_f1"."""
    return name.split("[", 1)[0]


# A student whose function is a stub or whose module did not load fails every test of it: that
# says nothing about which tests are hard, so such students are counted apart.
_NOT_ATTEMPTED = ("not_implemented", "import_failed")


def table_per_test(entries: Sequence[ClassEntry]) -> list[dict[str, Any]]:
    """Per test, its parametrised variants folded into one row: how many students passed every
    variant, failed one or more (once per student), or had not implemented what it calls;
    hardest first, with the most common failure messages (each counted once per student).
    A topic not submitted says nothing about a test's difficulty and is left out."""
    stats: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in entries:
        if e.result is None:
            continue
        mine: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        for t in e.result.tests:
            if t.counted and Flag.NOT_SUBMITTED not in t.flags:
                mine[(t.topic, _base_name(t.name), t.kind)].append(t)
        for key, variants in mine.items():
            s = stats.setdefault(key, {"variants": set(), "functions": set(), "passed": 0,
                                       "failed": 0, "not_attempted": 0, "groups": Counter(),
                                       "example": {}})
            s["variants"].update(t.name for t in variants)
            s["functions"].update(f for t in variants for f in t.functions)
            failing = [t for t in variants if t.outcome != Outcome.PASSED]
            if not failing:
                s["passed"] += 1
            elif any(f in t.flags for t in failing for f in _NOT_ATTEMPTED):
                s["not_attempted"] += 1
            else:
                s["failed"] += 1
                seen = set()
                for t in failing:
                    k = f"[{t.outcome}] " + normalise(t.message) if t.message else f"[{t.outcome}]"
                    if k not in seen:
                        seen.add(k)
                        s["groups"][k] += 1
                        s["example"].setdefault(k, first_line(t.message, 200) or t.outcome)
    rows = []
    for (topic, name, kind), s in stats.items():
        tried = s["passed"] + s["failed"]
        rate = 100.0 * s["passed"] / tried if tried else 100.0
        failures = [{"count": n, "message": s["example"][k]}
                    for k, n in s["groups"].most_common(FAILURES_SHOWN)]
        rows.append({"topic": topic, "name": name, "kind": kind, "variants": len(s["variants"]),
                     "functions": ", ".join(sorted(s["functions"])),
                     "passed": s["passed"], "failed": s["failed"], "total": tried,
                     "not_attempted": s["not_attempted"], "rate": round(rate, 2),
                     "rate_text": number(rate), "bar": round(rate, 1), "failures": failures})
    rows.sort(key=lambda r: (r["rate"], -r["failed"], r["topic"], r["name"]))
    return rows


def tests_by_topic(entries: Sequence[ClassEntry], topics: Sequence[str]
                   ) -> list[dict[str, Any]]:
    """Per topic, its folded tests hardest first: the first HARDEST_SHOWN, then the rest."""
    rows = table_per_test(entries)
    out = []
    for topic in topics:
        mine = [r for r in rows if r["topic"] == topic]
        if mine:
            out.append({"topic": topic, "hardest": mine[:HARDEST_SHOWN],
                        "rest": mine[HARDEST_SHOWN:], "count": len(mine)})
    return out


FLAG_TEXT = {"syntax_error": "syntax error", "import_error": "import error",
             "timeout": "timeout", "crash": "crash", "banned": "banned call",
             "dynamic_access": "dynamic access",
             "no_recognised_file": "no recognised file",
             "not_submitted": "not submitted", "stub": "not started",
             "late": "late", "error": "error",
             "similarity": "similarity", "duplicate": "claims a student twice"}
# Flags a row may carry beyond gradebook.FLAGS (set by checks that add their own column).
EXTRA_FLAGS: tuple[str, ...] = ()


def _all_flags(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    extra = [f for f in EXTRA_FLAGS if f not in FLAGS and any(r.get(f"flag_{f}") for r in rows)]
    return [*FLAGS, *extra]


def _flag_text(flag: str) -> str:
    return FLAG_TEXT.get(flag, flag.replace("_", " "))


def _missing(row: Mapping[str, Any]) -> list[str]:
    return [t for t in str(row.get("missing_topics") or "").split(";") if t]


def usual_topics(rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """The topics most of the graded students handed in. A topic missing from a student's work
    needs the instructor only then: in a class handing in one topic at a time, a topic few have
    handed in yet is no student's omission."""
    graded = [r for r in rows if r.get("status") == "graded"]
    missed: dict[str, int] = {}
    for r in graded:
        for t in _missing(r):
            missed[t] = missed.get(t, 0) + 1
    every = {t for r in rows for t in _missing(r)}
    return {t for t in every if 2 * (len(graded) - missed.get(t, 0)) > len(graded)}


def flagged(row: Mapping[str, Any], flag: str, usual: set[str] | None = None) -> bool:
    """Whether ``flag`` on this row needs the instructor: every flag the row has, except a
    "not submitted" of some topics only, which counts where one of them is ``usual`` (None:
    every topic is)."""
    if not row.get(f"flag_{flag}"):
        return False
    if flag == "not_submitted" and row.get("status") != "not_submitted" and usual is not None:
        return any(t in usual for t in _missing(row))
    return True


def handed_in(rows: Sequence[Mapping[str, Any]], topics: Sequence[str]) -> dict[str, Any]:
    """How many students handed in what: each topic's count, and those with nothing yet."""
    nothing = sum(1 for r in rows if r.get("status") == "not_submitted")
    counts = [{"topic": t, "count": sum(1 for r in rows if r.get("status") != "not_submitted"
                                        and t not in _missing(r))} for t in topics]
    return {"students": len(rows), "nothing": nothing, "topics": counts}


def flag_detail(row: Mapping[str, Any], flag: str, usual: set[str] | None = None) -> str:
    """What raised ``flag`` on this row, in one line (``usual``: see ``flagged``)."""
    column = FLAG_DETAILS.get(flag)
    if column:
        return str(row.get(column) or "")
    if flag == "no_recognised_file":
        return str(row.get("files") or "the submission holds no file")
    if flag == "not_submitted":
        if row["status"] == "not_submitted":
            return "nothing submitted"
        return "missing: " + ", ".join(t for t in _missing(row) if usual is None or t in usual)
    if flag == "stub":
        return "the stub as released: " + str(row.get("stub_topics") or "").replace(";", ", ")
    if flag == "late":
        return (f"{number(row['late_days'])} days late, "
                f"−{number(row['late_penalty_percent'])} %")
    if flag == "error":
        return first_line(str(row["error"]), 200)
    if flag == "similarity":
        return "similar to " + str(row.get("similar_to") or "")
    if flag == "duplicate":
        return str(row.get("duplicate") or "")
    return ""


# Flags whose detail is a list of topics: a topic's name is one word, its underscores
# included, so the list wraps between topics only (no break is offered inside a name).
TOPIC_LISTS = ("not_submitted", "stub")


def flag_groups(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The flagged students, flag by flag, each with what raised the flag and their report."""
    groups = []
    usual = usual_topics(rows)
    for flag in _all_flags(rows):
        items = [{"student": r["student"], "name": r["name"], "href": _href(r),
                  "detail": flag_detail(r, flag, usual), "topic_list": flag in TOPIC_LISTS}
                 for r in rows if flagged(r, flag, usual)]
        if items:
            groups.append({"flag": flag, "text": _flag_text(flag), "css": flag.replace("_", "-"),
                           "count": len(items), "students": items})
    return groups


def _href(row: Mapping[str, Any]) -> str:
    # Ids come from file names: quote them so the link is the file, whatever they hold.
    return quote(row["report"]) if row["report"] else ""


def student_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    flags = _all_flags(rows)
    usual = usual_topics(rows)
    for r in rows:
        # What is missing shows in the notes, flagged or not.
        notes = [x for x in (str(r.get("files") or ""),
                             "adjusted: " + str(r["adjustments"]) if r.get("adjustments") else "",
                             "missing: " + ", ".join(_missing(r))
                             if _missing(r) and r.get("status") != "not_submitted"
                             and not flagged(r, "not_submitted", usual) else "")
                 if x]
        out.append({
            "student": r["student"], "name": r["name"], "status": r["status"],
            "status_text": str(r["status"]).replace("_", " "),
            "score": number(r["score"]), "max_score": number(r["max_score"]),
            "score_value": number(r["score"]),
            "percent": number(r["percent"]), "penalty": number(r["late_penalty_percent"]),
            "penalty_value": number(r["late_penalty_percent"]),
            "final": number(r["final"]), "final_value": number(r["final"]),
            "final_percent": number(r["final_percent"]),
            "flags": [{"text": _flag_text(f), "css": f.replace("_", "-")}
                      for f in flags if flagged(r, f, usual)],
            "notes": " · ".join(notes), "href": _href(r),
            # One line of what raised the row's flags (the exam overview's "Detail" column).
            "detail": " · ".join(d for d in (str(r.get("error") or ""),
                                             *(flag_detail(r, f, usual) for f in flags
                                               if flagged(r, f, usual)))
                                 if d),
        })
    return out


def render_overview(rows: Sequence[Mapping[str, Any]], entries: Sequence[ClassEntry],
                    topics: Sequence[str], stats: Stats, *, late_text: str = "",
                    similar: Sequence[Mapping[str, Any]] = (), back: str = "") -> str:
    """The class overview; ``back``: the address of the page it is reached from, where it is
    served (a batch's own file, opened from disk, has none)."""
    graded = [float(r["final_percent"]) for r in rows if r["status"] == "graded"]
    flags = flag_groups(rows)
    usual = usual_topics(rows)
    context = {
        "generated": in_words(dt.datetime.now().astimezone()),
        "stats": stats,
        "mean": number(stats.mean) if stats.mean is not None else "–",
        "median": number(stats.median) if stats.median is not None else "–",
        "flagged": sum(1 for r in rows if any(flagged(r, f, usual) for f in _all_flags(rows))),
        "handed_in": handed_in(rows, topics),
        "hist": histogram(graded),
        "topics": topic_bars(entries, topics),
        "tests": tests_by_topic(entries, topics),
        "hardest_shown": HARDEST_SHOWN,
        "flags": flags,
        "students": student_table(rows),
        "late_text": late_text,
        "similar": similar,  # grader.classroom.similarity.overview_pairs
        "back": back,
    }
    return environment().get_template("overview.html.j2").render(**context)
