"""Similar submissions: token fingerprints (winnowing, as MOSS and JPlag use) compared per topic.

Each topic module is tokenised with the standard library's ``tokenize`` (never imported or run),
then normalised so that the usual disguises change nothing: comments, docstrings and layout are
dropped, every name that is not a keyword, a builtin or an attribute becomes ``N``, every number
``0`` and every string ``S``. Hashes of each run of ``K`` tokens are winnowed (the smallest hash
of every window of ``WINDOW`` of them is kept) into the module's fingerprint; the stub's own
runs are removed first, so the code every student received is never evidence, and so is a
passage that more than ``common`` modules of the topic hold (MOSS's ``-m``; 10 by default, set
in batch.toml's ``[similarity]``): a count, not a share, so that a copy shared by half of a small
section is still evidence. Two modules'
similarity is the share of fingerprints they have in common (Dice: 2·|A∩B| / (|A|+|B|)), which
moving functions around or renaming variables hardly changes.

Everything here is data prepared for the CSV and the side-by-side pages; the pages are rendered
with the same autoescaping Jinja environment as the reports.
"""

from __future__ import annotations

import collections
import hashlib
import io
import itertools
import keyword
import os
import shutil
import signal
import tempfile
import time
import tokenize
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader.classroom import payloads
from grader.errors import GraderError
from grader.results.model import write_csv_atomic, write_text_atomic

CSV_NAME = "similarity.csv"
NOTES_NAME = "similarity-notes.csv"  # modules left out of the comparison, and why
PAGES = "similarity"  # folder of the side-by-side pages, inside the batch folder
DEFAULT_THRESHOLD = 0.8
# As MOSS's -m (whose default is 10): a passage more than this many modules hold is the common
# way to write it, or code everyone had, and says nothing about two of them. A count, not a
# share of the class: in a section of 4, three copies of one file are half the class and still
# copies.
DEFAULT_COMMON = 10
K = 10  # tokens per hashed run: shorter runs match between any two solutions of a topic
WINDOW = 6  # a run of K + WINDOW - 1 shared tokens is always caught
MIN_FINGERPRINTS = 8  # below this a module is too small (or too close to the stub) to compare
MAX_SOURCE_BYTES = 512 * 1024  # a generated or padded file is not worth tokenising whole
# with the code it hides in exec() payloads (grader.classroom.payloads) appended
MAX_TEXT = MAX_SOURCE_BYTES + payloads.MAX_BYTES + 4096
# The comparison of a class runs in a child process with these bounds (see compare_class).
SECONDS = 120.0
SECONDS_PER_MODULE = 0.25
MEMORY_MB = 2048
PASSAGE_COLOURS = 6

_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_PARTS = {getattr(tokenize, n) for n in ("FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)


class SimilarityError(GraderError, ValueError):
    """batch.toml's [similarity] table is wrong; the message says how."""


def threshold_from_mapping(table: Mapping[str, Any]) -> float:
    """The threshold of batch.toml's ``[similarity]`` table (``threshold = 0.8``)."""
    unknown = sorted(set(table) - {"threshold", "common"})
    if unknown:
        raise SimilarityError(f"[similarity] unknown key {unknown[0]!r}; known: threshold, "
                              "common")
    value = table.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise SimilarityError(f"[similarity] threshold must be a number in (0, 1], not {value!r}")
    return float(value)


def common_from_mapping(table: Mapping[str, Any]) -> int:
    """batch.toml's ``[similarity] common = 10``: a passage more than this many modules of a
    topic hold is not evidence."""
    value = table.get("common", DEFAULT_COMMON)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise SimilarityError(f"[similarity] common must be a whole number of modules, at least "
                              f"2, not {value!r}")
    return value


# -------------------------------------------------------------------------------- fingerprints


@dataclass(frozen=True)
class Token:
    text: str  # normalised
    line: int  # 1-based line of the original source
    segment: int = 0  # which top-level statement it belongs to


def normalised_tokens(source: str) -> list[Token]:
    """The module's tokens with comments, docstrings, layout, names and literals normalised.

    A module that does not tokenise to the end (a syntax error) keeps the tokens before it.
    """
    out: list[Token] = []
    statement_start = True  # the next token starts a statement (a lone string there is a docstring)
    previous = ""
    pending_string: Token | None = None
    segment = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                pending_string = None  # a string alone on its line: a docstring, dropped
                statement_start = True
                continue
            if tok.type in _DROPPED or tok.type in _FSTRING_PARTS:
                continue
            if pending_string is not None:
                out.append(pending_string)
                pending_string = None
            if statement_start and tok.start[1] == 0:
                segment += 1  # a new top-level statement: runs never cross into it
            if tok.type == tokenize.STRING or tok.type == _FSTRING_START:
                token = Token("S", tok.start[0], segment)
                if statement_start:
                    pending_string = token
                else:
                    out.append(token)
                statement_start = False
                previous = "S"
                continue
            statement_start = False
            if tok.type == tokenize.NAME:
                text = tok.string
                # Every name but keywords and attributes: a local may be renamed to anything,
                # a builtin's name included (``sum``, ``input``), and still be the same code.
                if not (keyword.iskeyword(text) or previous == "."):
                    text = "N"
            elif tok.type == tokenize.NUMBER:
                text = "0"
            else:
                text = tok.string
            out.append(Token(text, tok.start[0], segment))
            previous = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    if pending_string is not None:
        out.append(pending_string)
    return out


def _hash(tokens: Sequence[Token]) -> int:
    text = "\x1f".join(t.text for t in tokens).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Fingerprint:
    """One module's winnowed fingerprint, and where each of its K-token runs lies."""

    hashes: frozenset[int]  # winnowed, stub removed
    runs: tuple[tuple[int, int, int], ...]  # (hash, first line, last line) of every run


def token_runs(source: str) -> list[tuple[int, tuple[int, ...], int]]:
    """Every K-token run of ``source`` in order: its hash, the line of each of its tokens and
    its top-level statement. Runs stay inside one top-level statement, so moving functions
    around changes none of them."""
    out: list[tuple[int, tuple[int, ...], int]] = []
    for segment, group in itertools.groupby(normalised_tokens(source[:MAX_TEXT]),
                                            key=lambda t: t.segment):
        tokens = list(group)
        if len(tokens) < K:  # a short statement is one run of its own
            out.append((_hash(tokens), tuple(t.line for t in tokens), segment))
            continue
        out.extend((_hash(tokens[i:i + K]), tuple(t.line for t in tokens[i:i + K]), segment)
                   for i in range(len(tokens) - K + 1))
    return out


def fingerprint(source: str, stub: frozenset[int] = frozenset()) -> Fingerprint:
    """The winnowed fingerprint of ``source`` without the runs in ``stub`` (see stub_hashes)."""
    all_runs = token_runs(source)
    kept: set[int] = set()
    # Winnowed per top-level statement: a window never spans two functions, so the order in
    # which a module defines its functions changes nothing.
    for _, group in itertools.groupby(all_runs, key=lambda r: r[2]):
        kept |= winnow([h for h, _, _ in group])
    runs = [(h, lines[0], lines[-1]) for h, lines, _ in all_runs]
    return Fingerprint(frozenset(kept - stub), tuple(r for r in runs if r[0] not in stub))


def winnow(hashes: Sequence[int], window: int = WINDOW) -> set[int]:
    """The smallest hash of every ``window`` consecutive ones (all of them for fewer), in one
    pass: a deque of candidates, each pushed and popped once (linear in ``len(hashes)``)."""
    if len(hashes) <= window:
        return {min(hashes)} if hashes else set()
    kept: set[int] = set()
    candidates: collections.deque[int] = collections.deque()  # positions, values increasing
    for i, h in enumerate(hashes):
        while candidates and hashes[candidates[-1]] >= h:
            candidates.pop()
        candidates.append(i)
        if candidates[0] <= i - window:
            candidates.popleft()
        if i >= window - 1:
            kept.add(hashes[candidates[0]])
    return kept


def stub_hashes(source: str) -> frozenset[int]:
    """Every run of the stub (not only the winnowed ones): none of them is evidence."""
    return frozenset(h for h, _, _ in fingerprint(source).runs)


def common_hashes(prints: Iterable[Fingerprint], limit: int = DEFAULT_COMMON) -> frozenset[int]:
    """Fingerprints held by more than ``limit`` of the modules."""
    seen: dict[int, int] = {}
    for f in prints:
        for h in f.hashes | {h for h, _, _ in f.runs}:
            seen[h] = seen.get(h, 0) + 1
    return frozenset(h for h, n in seen.items() if n > limit)


def without(f: Fingerprint, hashes: frozenset[int]) -> Fingerprint:
    return Fingerprint(f.hashes - hashes, tuple(r for r in f.runs if r[0] not in hashes))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Share of fingerprints in common, in [0, 1]; 0 when either module is too small to judge."""
    if len(a.hashes) < MIN_FINGERPRINTS or len(b.hashes) < MIN_FINGERPRINTS:
        return 0.0
    return 2 * len(a.hashes & b.hashes) / (len(a.hashes) + len(b.hashes))


# ------------------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pair:
    topic: str
    student_a: str
    student_b: str
    similarity: float
    page: str = ""  # the side-by-side page, relative to the batch folder


def compare(modules: Mapping[str, Mapping[str, str]], stubs: Mapping[str, str],
            threshold: float, common: int = DEFAULT_COMMON) -> list[Pair]:
    """Pairs of students whose modules of a topic are at least ``threshold`` similar, most
    similar first. ``modules``: topic -> student -> source; ``stubs``: topic -> stub source;
    ``common``: a passage more than this many modules hold is no evidence.

    Pairs are counted from an index of who holds each fingerprint: every fingerprint left is
    held by at most ``common`` modules, so the work grows with the size of the modules, not
    with the square of the class."""
    pairs: list[Pair] = []
    for topic in sorted(modules):
        stub = stub_hashes(stubs.get(topic, ""))
        by_student = {s: fingerprint(src, stub) for s, src in sorted(modules[topic].items())}
        held = common_hashes(by_student.values(), common)
        by_student = {s: without(f, held) for s, f in by_student.items()}
        holders: dict[int, list[str]] = {}
        for student, f in by_student.items():
            if len(f.hashes) >= MIN_FINGERPRINTS:
                for h in f.hashes:
                    holders.setdefault(h, []).append(student)
        shared: collections.Counter[tuple[str, str]] = collections.Counter()
        for students in holders.values():
            shared.update(itertools.combinations(sorted(students), 2))
        for (a, b), n in shared.items():
            value = 2 * n / (len(by_student[a].hashes) + len(by_student[b].hashes))
            if value >= threshold:
                pairs.append(Pair(topic, a, b, round(value, 4)))
    pairs.sort(key=lambda p: (-p.similarity, p.topic, p.student_a, p.student_b))
    return pairs


def read_modules(entries: Iterable[tuple[str, Path]], topics: Sequence[str],
                 work: Path | None = None) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(topic -> student -> source of each submitted module, student -> why their submission
    could not be read). Modules are found as grading finds them (folders, archives, notebooks),
    each followed by the code it hides in exec() payloads (``payloads.with_hidden_code``). A
    submission that cannot be read is left out, with its reason: never the class's failure.
    ``work``: where to unpack (a temporary folder by default)."""
    from grader.grading.submission import stage

    out: dict[str, dict[str, str]] = {t: {} for t in topics}
    left_out: dict[str, str] = {}
    for student, path in entries:
        try:
            with tempfile.TemporaryDirectory(prefix="grader-similarity-", dir=work) as tmp:
                staged = stage(path, Path(tmp), list(topics))
                for topic, module in staged.modules.items():
                    source = module.read_bytes()[:MAX_SOURCE_BYTES].decode("utf-8",
                                                                           errors="replace")
                    out[topic][student] = payloads.with_hidden_code(source)
        except Exception as exc:  # noqa: BLE001 - one student's file, never the class's step
            left_out[student] = f"{type(exc).__name__}: {exc}"[:500]
            for modules in out.values():
                modules.pop(student, None)
    return out, left_out


# -------------------------------------------------------------------------------- side by side


@dataclass
class _Side:
    student: str
    lines: list[dict[str, Any]] = field(default_factory=list)


def _match_runs(runs_a: Sequence[tuple[int, tuple[int, ...], int]],
                runs_b: Sequence[tuple[int, tuple[int, ...], int]],
                shared: set[int]) -> dict[int, int]:
    """For each of B's shared runs (by position), the position of the run of A it copies.

    A run that occurs once in A is its own anchor. A run that occurs several times (a line
    that every function starts with, a repeated block) takes the occurrence its nearest anchor
    in the same statement points at (the same distance away, in one statement of A), else the
    occurrence of the same rank. Linear in the number of runs: the nearest anchors on either
    side are found in one pass each way."""
    where: dict[int, list[int]] = {}  # hash -> its positions in A
    for i, (h, _, _) in enumerate(runs_a):
        if h in shared:
            where.setdefault(h, []).append(i)
    places = {h: set(p) for h, p in where.items()}
    mine = [j for j, (h, _, _) in enumerate(runs_b) if h in shared]
    anchors = {j: where[runs_b[j][0]][0] for j in mine if len(where[runs_b[j][0]]) == 1}
    n = len(runs_b)
    before: list[int | None] = [None] * n  # the nearest anchor before j in j's statement
    after: list[int | None] = [None] * n
    last: int | None = None
    for j in range(n):
        if j and runs_b[j][2] != runs_b[j - 1][2]:
            last = None
        before[j] = last
        if j in anchors:
            last = j
    last = None
    for j in range(n - 1, -1, -1):
        if j + 1 < n and runs_b[j][2] != runs_b[j + 1][2]:
            last = None
        after[j] = last
        if j in anchors:
            last = j
    out: dict[int, int] = {}
    seen: dict[int, int] = {}
    for j in mine:
        h = runs_b[j][0]
        rank = seen.get(h, 0)
        seen[h] = rank + 1
        if j in anchors:
            out[j] = anchors[j]
            continue
        candidates = where[h]
        choice = candidates[min(rank, len(candidates) - 1)]
        near = [k for k in (before[j], after[j]) if k is not None]
        if near:
            d = min(abs(j - k) for k in near)
            for k in sorted(k for k in near if abs(j - k) == d):  # j - d first, as in A
                at = anchors[k] + j - k
                if at in places[h] and runs_a[at][2] == runs_a[anchors[k]][2]:
                    choice = at
                    break
        out[j] = choice
    return out


def _passages(a: Fingerprint, b: Fingerprint, source_a: str, source_b: str
              ) -> tuple[dict[int, int], dict[int, int]]:
    """Line -> passage number in each module: runs of lines made of K-token runs both share,
    numbered in A's order. Each of B's lines takes the passage of the line of A its tokens copy
    (``_match_runs``), so a line and its copy have the same colour, even where the same code
    occurs more than once."""
    shared = {h for h, _, _ in a.runs} & {h for h, _, _ in b.runs}
    runs_a, runs_b = token_runs(source_a), token_runs(source_b)
    covered: set[int] = set()
    for h, lines, _ in runs_a:
        if h in shared:
            covered.update(range(lines[0], lines[-1] + 1))
    passage_a: dict[int, int] = {}
    number, previous = -1, -2
    for line in sorted(covered):
        if line != previous + 1:
            number += 1
        previous = line
        passage_a[line] = number
    passage_b: dict[int, int] = {}
    for j, i in sorted(_match_runs(runs_a, runs_b, shared).items()):
        lines_b, lines_a = runs_b[j][1], runs_a[i][1]
        for line_b, line_a in zip(lines_b, lines_a):
            passage_b.setdefault(line_b, passage_a[line_a])
        # Lines inside the run without tokens (a comment, a blank line) go with the run.
        for line_b in range(lines_b[0], lines_b[-1] + 1):
            passage_b.setdefault(line_b, passage_a[lines_a[0]])
    return passage_a, passage_b


def side_by_side(pair: Pair, source_a: str, source_b: str, a: Fingerprint, b: Fingerprint,
                 *, reports: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the side-by-side page shows: both modules line by line, shared passages marked."""
    passage_a, passage_b = _passages(a, b, source_a, source_b)
    reports = reports or {}
    sides = []
    for student, source, passages in ((pair.student_a, source_a, passage_a),
                                      (pair.student_b, source_b, passage_b)):
        side = _Side(student)
        for number, text in enumerate(source.splitlines(), start=1):
            p = passages.get(number)
            side.lines.append({"number": number, "text": text,
                               "passage": "" if p is None else f"m{p % PASSAGE_COLOURS}"})
        shared = sum(1 for line in side.lines if line["passage"])
        sides.append({"student": student, "lines": side.lines, "shared": shared,
                      "total": len(side.lines),
                      "report": reports.get(student, "")})
    return {"topic": pair.topic, "similarity": f"{pair.similarity:.2f}",
            "percent": f"{100 * pair.similarity:.0f}", "sides": sides}


def page_path(pair: Pair, folder_of: Mapping[str, str]) -> str:
    """The pair's page, relative to the batch folder (student folders are file-name safe)."""
    return (f"{PAGES}/{pair.topic}/"
            f"{folder_of.get(pair.student_a, pair.student_a)}--"
            f"{folder_of.get(pair.student_b, pair.student_b)}.html")


def write_outputs(out: Path, pairs: Sequence[Pair], modules: Mapping[str, Mapping[str, str]],
                  stubs: Mapping[str, str], folder_of: Mapping[str, str],
                  reports: Mapping[str, str], common_limit: int = DEFAULT_COMMON) -> list[Pair]:
    """similarity.csv and one side-by-side page per pair; returns the pairs with their pages.

    ``reports``: student -> their report relative to the batch folder (for links back)."""

    from grader.results.report import environment

    template = environment().get_template("similarity.html.j2")
    written: list[Pair] = []
    common: dict[str, frozenset[int]] = {}
    for pair in pairs:
        stub = stub_hashes(stubs.get(pair.topic, ""))
        if pair.topic not in common:
            common[pair.topic] = common_hashes((fingerprint(src, stub)
                                                for src in modules[pair.topic].values()),
                                               common_limit)
        src_a, src_b = modules[pair.topic][pair.student_a], modules[pair.topic][pair.student_b]
        page = page_path(pair, folder_of)
        depth = "../" * page.count("/")
        context = side_by_side(pair, src_a, src_b,
                               without(fingerprint(src_a, stub), common[pair.topic]),
                               without(fingerprint(src_b, stub), common[pair.topic]),
                               reports={s: depth + quote(r) for s, r in reports.items() if r})
        write_text_atomic(out / page, template.render(**context), durable=False)
        written.append(Pair(pair.topic, pair.student_a, pair.student_b, pair.similarity, page))
    write_csv_atomic(out / CSV_NAME, ["topic", "student_a", "student_b", "similarity"],
                     ([p.topic, p.student_a, p.student_b, f"{p.similarity:g}"] for p in written))
    return written


def read_pairs(out: Path) -> list[Pair]:
    """The pairs of a batch folder's similarity.csv (none when there is no such file)."""
    import csv

    try:
        text = (out / CSV_NAME).read_text(encoding="utf-8")
    except OSError:
        return []
    pairs = []
    for row in csv.DictReader(text.splitlines()):
        try:
            pairs.append(Pair(row["topic"], row["student_a"], row["student_b"],
                              float(row["similarity"])))
        except (KeyError, ValueError):
            continue
    return pairs


def mark_rows(rows: Sequence[dict[str, Any]], pairs: Sequence[Pair]) -> None:
    """Set each gradebook row's similarity flag and the text saying with whom, where, how much."""
    with_whom: dict[str, list[str]] = {}
    for p in pairs:
        with_whom.setdefault(p.student_a, []).append(
            f"{p.topic} ~ {p.student_b} ({p.similarity:.2f})")
        with_whom.setdefault(p.student_b, []).append(
            f"{p.topic} ~ {p.student_a} ({p.similarity:.2f})")
    for row in rows:
        found = with_whom.get(row["student"], [])
        row["flag_similarity"] = bool(found)
        row["similar_to"] = "; ".join(found)


def overview_pairs(pairs: Sequence[Pair], folder_of: Mapping[str, str],
                   reports: Mapping[str, str]) -> list[dict[str, Any]]:
    """The overview's table of similar pairs, with links to the pages and the reports."""
    return [{"topic": p.topic, "a": p.student_a, "b": p.student_b,
             "similarity": f"{p.similarity:.2f}",
             "href": quote(page_path(p, folder_of)),
             "href_a": quote(reports[p.student_a]) if reports.get(p.student_a) else "",
             "href_b": quote(reports[p.student_b]) if reports.get(p.student_b) else ""}
            for p in pairs]


def check_class(out: Path, course: Any, entries: Iterable[tuple[str, Path, str]],
                topics: Sequence[str], threshold: float,
                common: int = DEFAULT_COMMON, work: Path | None = None) -> list[Pair]:
    """Compare a batch's submissions and write similarity.csv, the side-by-side pages and
    similarity-notes.csv (the submissions that could not be read, and why).

    ``entries``: (student, submission, their folder under students/) of each submission.
    In the grader's own process prefer :func:`compare_class`, which bounds it."""
    entries = list(entries)
    modules, left_out = read_modules(((s, p) for s, p, _ in entries), topics, work)
    write_notes(out, left_out)
    stubs = {t: course.stub(t).read_text(encoding="utf-8") for t in topics
             if course.stub(t).is_file()}
    pairs = compare(modules, stubs, threshold, common)
    shutil.rmtree(out / PAGES, ignore_errors=True)  # pages of pairs no longer similar go
    folder_of = {s: f for s, _, f in entries}
    reports = {s: f"students/{f}/report.html" for s, _, f in entries}
    return write_outputs(out, pairs, modules, stubs, folder_of, reports, common)


def write_notes(out: Path, notes: Mapping[str, str]) -> None:
    """similarity-notes.csv: one row per student left out of the comparison (none: no file)."""
    if not notes:
        (out / NOTES_NAME).unlink(missing_ok=True)
        return
    write_csv_atomic(out / NOTES_NAME, ["student", "note"],
                     ([s, n] for s, n in sorted(notes.items())))


def read_notes(out: Path) -> dict[str, str]:
    """student -> note of a batch folder's similarity-notes.csv."""
    import csv

    try:
        text = (out / NOTES_NAME).read_text(encoding="utf-8")
    except OSError:
        return {}
    return {row.get("student", ""): row.get("note", "") for row in csv.DictReader(text.splitlines())}


@dataclass(frozen=True)
class Outcome:
    """What a bounded comparison of a class gave."""

    pairs: list[Pair]
    left_out: dict[str, str]  # student -> why their submission was not compared
    error: str = ""  # why the comparison did not finish ("" when it did)


def compare_class(out: Path, course: Any, entries: Iterable[tuple[str, Path, str]],
                  topics: Sequence[str], threshold: float, common: int = DEFAULT_COMMON, *,
                  seconds: float | None = None, memory_mb: int = MEMORY_MB) -> Outcome:
    """:func:`check_class` in a child process, bounded: at most ``seconds`` (by default
    ``SECONDS`` and ``SECONDS_PER_MODULE`` for each submission and topic) and ``memory_mb`` of
    memory beyond what it starts with. Whatever happens there (a runaway module, a grader bug, a
    signal) it is one note: this process, its gradings and its files go on. Its unpacked files
    live in a folder this process removes, also when the child had to be killed; a stop of this
    process (KeyboardInterrupt, or SIGTERM turned into one) stops the child first."""
    entries = list(entries)
    if seconds is None:
        seconds = SECONDS + SECONDS_PER_MODULE * len(entries) * max(1, len(topics))
    work = Path(tempfile.mkdtemp(prefix="grader-similarity-"))
    read_end, write_end = os.pipe()
    stops = {signal.SIGINT, signal.SIGTERM}
    try:
        # A stop that arrives while forking would be raised inside an at-fork hook, which
        # swallows it: held until the child exists, then raised here (or in the child, once its
        # own handler is set).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        pid = os.fork()
        if pid == 0:  # the child: report a failure on the pipe, then end without cleanup
            os.close(read_end)
            _child(write_end, out, course, entries, topics, threshold, common, work, memory_mb,
                   mask)
        os.close(write_end)
        write_end = -1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except BaseException:
            _stop(pid)
            raise
        error = _wait(pid, read_end, seconds)
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work, ignore_errors=True)
    if error:
        # Nothing half-written stays: no pair of an earlier comparison passes for this one's.
        (out / CSV_NAME).unlink(missing_ok=True)
        shutil.rmtree(out / PAGES, ignore_errors=True)
        return Outcome([], read_notes(out), error)
    return Outcome(read_pairs(out), read_notes(out))


def _child(pipe: int, out: Path, course: Any, entries: list[tuple[str, Path, str]],
           topics: Sequence[str], threshold: float, common: int, work: Path,
           memory_mb: int, mask: Iterable[int]) -> None:
    code = 1
    try:
        # SIGTERM (from the batch, or to its process group) unwinds, as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        from grader.grading import bounds

        bounds.limit_memory(memory_mb)
        check_class(out, course, entries, topics, threshold, common, work)
        code = 0
    except MemoryError:
        _say(pipe, f"it needed more than {memory_mb} MB of memory")
    except BaseException as exc:  # noqa: BLE001 - everything becomes the note
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" ({frames[-1].name}, line {frames[-1].lineno})" if frames else ""
        _say(pipe, f"{type(exc).__name__}: {exc}{where}"[:1000])
    finally:
        os._exit(code)


def _say(pipe: int, text: str) -> None:
    try:
        os.write(pipe, text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _wait(pid: int, pipe: int, seconds: float) -> str:
    """Wait for the child: "" when it finished, else why not. Killed past ``seconds``."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"it ran past its time limit ({seconds:.0f} s) and was stopped"
            time.sleep(0.05)
    except BaseException:
        _stop(pid)
        raise
    said = b""
    os.set_blocking(pipe, False)
    try:
        said = os.read(pipe, 4000)
    except (BlockingIOError, OSError):
        pass
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return ""
    if said:
        return said.decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        return f"it was ended by signal {os.WTERMSIG(status)}"
    return f"it exited with status {os.WEXITSTATUS(status)}"


def _stop(pid: int) -> None:
    """End the child: politely first (it removes what it unpacked), then for good."""
    try:
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
