"""The class overview page: distribution, topic averages, hardest tests, flags, links to reports.

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

from grader.classroom.gradebook import FLAGS, ClassEntry, Stats, first_line
from grader.results.report import environment

HIST_BINS = 10
FAILURES_SHOWN = 3  # most common failure messages per test
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
        bars.append({"topic": topic, "mean": round(mean, 1), "n": len(values),
                     "y": i * BAR_ROW, "w": round(BAR_W * mean / 100, 1),
                     "text_y": i * BAR_ROW + BAR_ROW * 0.65})
    return {"width": BAR_W, "height": max(1, len(topics)) * BAR_ROW, "bars": bars}


def normalise(message: str) -> str:
    """A failure message with its numbers blanked, so the same mistake groups together."""
    return _NUMBER.sub("#", first_line(message, 200))


def table_per_test(entries: Sequence[ClassEntry]) -> list[dict[str, Any]]:
    """Per test: pass rate over the students who submitted its topic, hardest first, with the
    most common failure messages. A topic not submitted says nothing about a test's difficulty."""
    stats: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.result is None:
            continue
        for t in e.result.tests:
            if not t.counted or "not_submitted" in t.flags:
                continue
            s = stats.setdefault(t.nodeid, {"topic": t.topic, "name": t.name, "kind": t.kind,
                                             "passed": 0, "total": 0, "groups": Counter(),
                                             "example": {}})
            s["total"] += 1
            if t.outcome == "passed":
                s["passed"] += 1
                continue
            key = f"[{t.outcome}] " + normalise(t.message) if t.message else f"[{t.outcome}]"
            s["groups"][key] += 1
            s["example"].setdefault(key, first_line(t.message, 200) or t.outcome)
    rows = []
    for s in stats.values():
        rate = 100.0 * s["passed"] / s["total"] if s["total"] else 0.0
        failures = [{"count": n, "message": s["example"][k]}
                    for k, n in s["groups"].most_common(FAILURES_SHOWN)]
        rows.append({"topic": s["topic"], "name": s["name"], "kind": s["kind"],
                     "passed": s["passed"], "total": s["total"], "rate": round(rate, 1),
                     "bar": round(rate, 1), "failures": failures})
    rows.sort(key=lambda r: (r["rate"], r["topic"], r["name"]))
    return rows


FLAG_TEXT = {"timeout": "timeout", "crash": "crash", "banned": "banned API",
             "dynamic_access": "dynamic access (review by hand)",
             "import_error": "import error",
             "not_submitted": "not submitted", "late": "late", "error": "error",
             "similarity": "similarity"}


def _flags(row: Mapping[str, Any]) -> list[str]:
    return [FLAG_TEXT[f] for f in FLAGS if row.get(f"flag_{f}")]


def _detail(row: Mapping[str, Any]) -> str:
    parts = []
    if row["error"]:
        parts.append(first_line(str(row["error"]), 200))
    if row.get("import_errors"):
        parts.append(str(row["import_errors"]))
    if row["missing_topics"] and row["status"] != "not_submitted":
        parts.append("missing: " + str(row["missing_topics"]).replace(";", ", "))
    if row["flag_late"]:
        parts.append(f"{row['late_days']:.1f} days late, −{row['late_penalty_percent']:g} %")
    if row.get("similar_to"):
        parts.append("similar: " + str(row["similar_to"]))
    if row.get("adjustments"):
        parts.append("adjusted: " + str(row["adjustments"]))
    return " · ".join(parts)


def student_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        out.append({
            "student": r["student"], "name": r["name"], "status": r["status"],
            "score": f"{r['score']:g}", "max_score": f"{r['max_score']:g}",
            "percent": f"{r['percent']:.0f}", "penalty": f"{r['late_penalty_percent']:g}",
            "final": f"{r['final']:g}", "final_percent": f"{r['final_percent']:.0f}",
            "flags": _flags(r), "detail": _detail(r),
            # Ids come from file names: quote them so the link is the file, whatever they hold.
            "href": quote(r["report"]) if r["report"] else "",
        })
    return out


def render_overview(rows: Sequence[Mapping[str, Any]], entries: Sequence[ClassEntry],
                    topics: Sequence[str], stats: Stats, *, late_text: str = "",
                    similar: Sequence[Mapping[str, Any]] = ()) -> str:
    graded = [float(r["final_percent"]) for r in rows if r["status"] == "graded"]
    students = student_table(rows)
    context = {
        "generated": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "stats": stats,
        "mean": f"{stats.mean:.1f}" if stats.mean is not None else "–",
        "median": f"{stats.median:.1f}" if stats.median is not None else "–",
        "flag_counts": [{"flag": FLAG_TEXT[f], "n": n} for f, n in stats.counts.items()],
        "hist": histogram(graded),
        "topics": topic_bars(entries, topics),
        "tests": table_per_test(entries),
        "flagged": [s for s in students if s["flags"]],
        "students": students,
        "late_text": late_text,
        "similar": similar,  # grader.classroom.similarity.overview_pairs
    }
    return environment().get_template("overview.html.j2").render(**context)
