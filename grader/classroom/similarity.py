"""Similar submissions: fingerprints of normalised syntax trees, and of the code modules ran at run
time, compared per topic, per module and per function.

Each topic module is parsed (never imported or run) and normalised (``grader.classroom.normalise``)
so that layout, comments, docstrings, names, literals, the order of definitions and of commutative
operands, dead code and the common equivalent rewrites change nothing; the hashes of its runs of
tokens are winnowed into its fingerprint (``grader.classroom.fingerprint``), together with the
code it built and ran at run time as the worker reported it (``TopicResult.runtime_code``: data,
never run here) and the code it hides in decodable ``exec`` payloads (``payloads``). The stub's
runs are removed first, so the code every student received is never evidence, and so is a passage
that more than ``common`` modules of the topic hold (MOSS's ``-m``; 10 by default, set in
batch.toml's ``[similarity]``): a count, not a share, so that a copy shared by half of a small
section is still evidence. Two modules' similarity is the share of fingerprints they have in
common (Dice: 2·|A∩B| / (|A|+|B|)), or that of a function of one copied in the other; pairs are
found from an index of who holds each fingerprint (``grader.classroom.pairs``).

Everything here is data prepared for the CSV and the side-by-side pages
(``grader.classroom.sidebyside``); the pages are rendered with the same autoescaping Jinja
environment as the reports.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from grader.classroom import fingerprint as fingerprints
from grader.classroom import pairs, payloads, sidebyside
from grader.errors import GraderError
from grader.results.model import read_csv_rows, write_csv_atomic, write_text_atomic

CSV_NAME = "similarity.csv"
NOTES_NAME = "similarity-notes.csv"  # modules left out of the comparison, and why
PAGES = "similarity"  # folder of the side-by-side pages, inside the batch folder
DEFAULT_THRESHOLD = 0.8
# As MOSS's -m (whose default is 10): a passage more than this many modules hold is the common
# way to write it, or code everyone had, and says nothing about two of them. A count, not a
# share of the class: in a section of 4, three copies of one file are half the class and still
# copies.
DEFAULT_COMMON = 10
MIN_FINGERPRINTS = 5  # below this a module is too small (or too close to the stub) to compare
# A function is compared on its own from this many fingerprints (about ten lines of code): a
# shorter one is written the same way by many who never met.
MIN_UNIT_FINGERPRINTS = 16
MAX_SOURCE_BYTES = 512 * 1024  # a generated or padded file is not worth tokenising whole
# with the code it hides in exec() payloads (grader.classroom.payloads) appended
MAX_TEXT = MAX_SOURCE_BYTES + payloads.MAX_BYTES + 4096
# The comparison of a class runs in a child process with these bounds (see compare_class).
SECONDS = 120.0
SECONDS_PER_MODULE = 0.25
MEMORY_MB = 2048


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

Stub = fingerprints.Stub
Fingerprint = fingerprints.Fingerprint
fingerprint = fingerprints.fingerprint


def stub_hashes(source: str) -> Stub:
    """The stub's runs (none of them is evidence) and the names it defines."""
    return fingerprints.stub_of(source)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Share of the modules' fingerprints in common (Dice), in [0, 1]; 0 when either module is
    too small to judge. Code known only as a bytecode listing is compared as listings."""
    value = 0.0
    if len(a.hashes) >= MIN_FINGERPRINTS and len(b.hashes) >= MIN_FINGERPRINTS:
        value = fingerprints.dice(a.hashes, b.hashes)
    return value


# ------------------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pair:
    topic: str
    student_a: str
    student_b: str
    similarity: float
    page: str = ""  # the side-by-side page, relative to the batch folder
    # The functions that are copies of each other where the modules as wholes are less similar
    # ("softmax ~ soft_max (0.95)"); empty when the modules are.
    functions: tuple[str, ...] = ()


def _prints(topic_modules: Mapping[str, str], stub: Stub,
            runtime: Mapping[str, Sequence[str]]) -> dict[str, Fingerprint]:
    return {s: fingerprint(src, stub, runtime.get(s, ())) for s, src in
            sorted(topic_modules.items())}


def compare(modules: Mapping[str, Mapping[str, str]], stubs: Mapping[str, str],
            threshold: float, common: int = DEFAULT_COMMON,
            runtime: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> list[Pair]:
    """Pairs of students whose modules of a topic are at least ``threshold`` similar, most
    similar first. ``modules``: topic -> student -> source; ``stubs``: topic -> stub source;
    ``common``: a passage more than this many modules hold is no evidence; ``runtime``: topic ->
    student -> the code their module built and ran at run time (``TopicResult.runtime_code``).

    Two modules are similar as wholes (the share of fingerprints they hold in common), or by a
    function of one that is a copy of a function of the other (each large enough to judge).
    Pairs are counted from an index of who holds each fingerprint (``grader.classroom.pairs``):
    the work grows with the size of the modules, not with the square of the class."""
    runtime = runtime or {}
    found: list[Pair] = []
    for topic in sorted(modules):
        stub = stub_hashes(stubs.get(topic, ""))
        prints = _prints(modules[topic], stub, runtime.get(topic, {}))
        found += _topic_pairs(topic, prints, modules[topic], stubs.get(topic, ""), threshold,
                              common)
    found.sort(key=lambda p: (-p.similarity, p.topic, p.student_a, p.student_b))
    return found


def _topic_pairs(topic: str, prints: Mapping[str, Fingerprint], sources: Mapping[str, str],
                 stub_source: str, threshold: float, common: int) -> list[Pair]:
    students = list(prints)
    n = len(students)
    if n < 2:
        return []
    # Module level.
    owners, hashes = pairs.flatten([prints[s].hashes for s in students])
    held = pairs.held_by_many(owners, hashes, common)
    keep = ~np.isin(hashes, held)
    owners, hashes = owners[keep], hashes[keep]
    sizes = np.bincount(owners, minlength=n)
    best: dict[tuple[int, int], float] = {}
    a, b, shared = pairs.shared_counts(owners, hashes, n, common)
    ok = (sizes[a] >= MIN_FINGERPRINTS) & (sizes[b] >= MIN_FINGERPRINTS)
    value = np.where(ok, 2 * shared / np.maximum(sizes[a] + sizes[b], 1), 0.0)
    for i, j, v in zip(a.tolist(), b.tolist(), value.tolist()):
        if v >= threshold:
            best[(i, j)] = float(v)
    # Function level: a copied function inside an otherwise original module.
    unit_sets, unit_module, unit_names = [], [], []
    held_set = frozenset(held.tolist())
    for m, s in enumerate(students):
        for u in prints[s].units:
            kept = u.hashes - held_set if held_set else u.hashes
            if len(kept) >= MIN_UNIT_FINGERPRINTS:
                unit_sets.append(kept)
                unit_module.append(m)
                unit_names.append(u.name)
    functions: dict[tuple[int, int], list[tuple[float, str]]] = {}
    if len(unit_sets) > 1:
        u_owners, u_hashes = pairs.flatten(unit_sets)
        u_sizes = np.bincount(u_owners, minlength=len(unit_sets))
        ua, ub, u_shared = pairs.shared_counts(u_owners, u_hashes, len(unit_sets), 2 * common)
        module = np.asarray(unit_module)
        u_value = 2 * u_shared / np.maximum(u_sizes[ua] + u_sizes[ub], 1)
        hit = (u_value >= threshold) & (module[ua] != module[ub])
        for i, j, v in zip(ua[hit].tolist(), ub[hit].tolist(), u_value[hit].tolist()):
            mi, mj = unit_module[i], unit_module[j]
            key, names = ((mi, mj), (unit_names[i], unit_names[j])) if mi < mj else \
                ((mj, mi), (unit_names[j], unit_names[i]))
            functions.setdefault(key, []).append((v, f"{names[0]} ~ {names[1]} ({v:.2f})"))
    # Code known only as a bytecode listing: compared with the listings of the others' source.
    if any(prints[s].listing for s in students):
        stub_listing = fingerprints.source_listing(stub_source)
        listings = [(prints[s].listing | fingerprints.source_listing(sources[s])) - stub_listing
                    for s in students]
        la, lb, l_shared = pairs.shared_counts(*pairs.flatten(listings), n, common)
        l_sizes = [len(x) for x in listings]
        for i, j, c in zip(la.tolist(), lb.tolist(), l_shared.tolist()):
            if min(l_sizes[i], l_sizes[j]) < MIN_FINGERPRINTS:
                continue
            v = 2 * c / (l_sizes[i] + l_sizes[j])
            if v >= threshold and v > best.get((i, j), 0.0):
                best[(i, j)] = v
    out = []
    for key in set(best) | set(functions):
        matched = sorted(functions.get(key, []), reverse=True)
        score = max(best.get(key, 0.0), matched[0][0] if matched else 0.0)
        named = tuple(text for _, text in matched) if key not in best else ()
        out.append(Pair(topic, students[key[0]], students[key[1]], round(score, 4),
                        functions=named))
    return out


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


def page_path(pair: Pair, folder_of: Mapping[str, str]) -> str:
    """The pair's page, relative to the batch folder (student folders are file-name safe)."""
    return (f"{PAGES}/{pair.topic}/"
            f"{folder_of.get(pair.student_a, pair.student_a)}--"
            f"{folder_of.get(pair.student_b, pair.student_b)}.html")


def _common(prints: Iterable[Fingerprint], limit: int) -> frozenset[int]:
    """Fingerprints held by more than ``limit`` of the modules."""
    seen: collections.Counter[int] = collections.Counter()
    for f in prints:
        seen.update(f.hashes)
    return frozenset(h for h, n in seen.items() if n > limit)


def write_outputs(out: Path, pairs: Sequence[Pair], modules: Mapping[str, Mapping[str, str]],
                  stubs: Mapping[str, str], folder_of: Mapping[str, str],
                  reports: Mapping[str, str], common_limit: int = DEFAULT_COMMON,
                  runtime: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> list[Pair]:
    """similarity.csv and one side-by-side page per pair; returns the pairs with their pages.

    ``reports``: student -> their report relative to the batch folder (for links back)."""
    written = write_pages(out, pairs, modules, stubs, folder_of, reports, common_limit, runtime)
    write_csv(out, written)
    return written


def write_csv(out: Path, pairs: Sequence[Pair]) -> None:
    write_csv_atomic(out / CSV_NAME, ["topic", "student_a", "student_b", "similarity"],
                     ([p.topic, p.student_a, p.student_b, f"{p.similarity:g}"] for p in pairs))


def write_pages(out: Path, pairs: Sequence[Pair], modules: Mapping[str, Mapping[str, str]],
                stubs: Mapping[str, str], folder_of: Mapping[str, str],
                reports: Mapping[str, str], common_limit: int = DEFAULT_COMMON,
                runtime: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> list[Pair]:
    """One side-by-side page per pair; the pairs with their pages."""

    from grader.results.report import environment

    runtime = runtime or {}
    template = environment().get_template("similarity.html.j2")
    written: list[Pair] = []
    common: dict[str, frozenset[int]] = {}
    stub_of: dict[str, Stub] = {}
    sides: dict[tuple[str, str], Any] = {}  # each module made ready for its pages once
    for pair in pairs:
        if pair.topic not in stub_of:
            stub_of[pair.topic] = stub_hashes(stubs.get(pair.topic, ""))
        stub = stub_of[pair.topic]
        ran = runtime.get(pair.topic, {})
        if pair.topic not in common:
            topic = modules[pair.topic]
            common[pair.topic] = _common(
                (fingerprint(src, stub, ran.get(s, ())) for s, src in topic.items()),
                common_limit) if len(topic) > common_limit else frozenset()
        shown = []
        for s in (pair.student_a, pair.student_b):
            if (pair.topic, s) not in sides:
                sides[(pair.topic, s)] = sidebyside.side(
                    sidebyside.shown_text(modules[pair.topic][s], ran.get(s, ())), stub)
            shown.append(sides[(pair.topic, s)])
        page = page_path(pair, folder_of)
        depth = "../" * page.count("/")
        context = sidebyside.side_by_side(
            pair.topic, pair.student_a, pair.student_b, pair.similarity, shown[0], shown[1], stub,
            common=common[pair.topic], functions=pair.functions,
            reports={s: depth + quote(r) for s, r in reports.items() if r})
        write_text_atomic(out / page, template.render(**context), durable=False)
        written.append(replace(pair, page=page))
    return written


def read_pairs(out: Path) -> list[Pair]:
    """The pairs of a batch folder's similarity.csv (none when there is no such file)."""
    try:
        rows = read_csv_rows(out / CSV_NAME)
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    pairs = []
    for row in rows:
        try:
            pairs.append(Pair(row["topic"], row["student_a"], row["student_b"],
                              float(row["similarity"])))
        except (KeyError, ValueError, TypeError):  # a row cut short: None where a cell is not
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
    read = in_two(lambda part: read_modules(part, topics, work),
                  [(s, p) for s, p, _ in entries])
    modules: dict[str, dict[str, str]] = {t: {} for t in topics}
    left_out: dict[str, str] = {}
    for got, unread in read:
        for t, by_student in got.items():
            modules.setdefault(t, {}).update(by_student)
        left_out.update(unread)
    write_notes(out, left_out)
    stubs = {t: course.stub(t).read_text(encoding="utf-8") for t in topics
             if course.stub(t).is_file()}
    runtime = read_runtime(out, ((s, f) for s, _, f in entries), topics)
    shutil.rmtree(out / PAGES, ignore_errors=True)  # pages of pairs no longer similar go
    folder_of = {s: f for s, _, f in entries}
    reports = {s: f"students/{f}/report.html" for s, _, f in entries}

    def topics_pairs(part: list[str]) -> list[dict[str, Any]]:
        found = compare({t: modules[t] for t in part}, stubs, threshold, common, runtime)
        return [asdict(p) for p in write_pages(out, found, modules, stubs, folder_of, reports,
                                               common, runtime)]

    # The largest topics first, dealt to the two halves in turn.
    by_size = sorted(modules, key=lambda t: -sum(len(s) for s in modules[t].values()))
    written = [Pair(**{**d, "functions": tuple(d["functions"])})
               for half in in_two(topics_pairs, by_size) for d in half]
    written.sort(key=lambda p: (-p.similarity, p.topic, p.student_a, p.student_b))
    write_csv(out, written)
    return written


def in_two(work: Callable[[list[Any]], Any], items: Sequence[Any]) -> list[Any]:
    """``work`` over the items at even places here and over those at odd places in a child
    process at the same time (where this process may use two cores): the results, as JSON
    carries them. The child dies with this process; if it fails, its half is done here."""
    items = list(items)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    if len(items) < 2 or cores < 2:
        return [work(items)]
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            from grader.isolation.sandbox import die_with_parent

            if not die_with_parent(parent):
                os._exit(code)
            data = json.dumps(work(items[1::2])).encode()
            with os.fdopen(write_end, "wb") as f:
                f.write(data)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent does this half again
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        mine = json.loads(json.dumps(work(items[0::2])))
        with os.fdopen(read_end, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:
        _stop(pid)
        raise
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
        return [mine, json.loads(data)]
    return [mine, json.loads(json.dumps(work(items[1::2])))]


def read_runtime(out: Path, students: Iterable[tuple[str, str]], topics: Sequence[str]
                 ) -> dict[str, dict[str, tuple[str, ...]]]:
    """topic -> student -> the code their module built and ran at run time, from each student's
    full result in the batch folder (``students/<folder>/``); nothing for a student not graded
    there. Texts only: nothing of it is run here."""
    from grader.classroom.layout import STUDENTS
    from grader.results.files import FULL
    from grader.results.model import load_result

    out_map: dict[str, dict[str, tuple[str, ...]]] = {t: {} for t in topics}
    for student, folder in students:
        try:
            result = load_result(out / STUDENTS / folder / FULL)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for t in result.topics:
            if t.topic in out_map and t.runtime_code:
                out_map[t.topic][student] = tuple(str(c) for c in t.runtime_code)
    return out_map


def write_notes(out: Path, notes: Mapping[str, str]) -> None:
    """similarity-notes.csv: one row per student left out of the comparison (none: no file)."""
    if not notes:
        (out / NOTES_NAME).unlink(missing_ok=True)
        return
    write_csv_atomic(out / NOTES_NAME, ["student", "note"],
                     ([s, n] for s, n in sorted(notes.items())))


def read_notes(out: Path) -> dict[str, str]:
    """student -> note of a batch folder's similarity-notes.csv."""
    try:
        rows = read_csv_rows(out / NOTES_NAME)
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {row.get("student") or "": row.get("note") or "" for row in rows}


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
    # Every step up to the child's start is undone by the ``finally`` below wherever a stop
    # lands: the folder is named before it is made. A stop is held meanwhile (its handler runs
    # once the child exists): raised while forking, inside an at-fork hook, it would be
    # swallowed, and raised between the fork and ``pid``, the child would run on unattended.
    work = Path(tempfile.gettempdir()) / f"grader-similarity-{secrets.token_hex(8)}"
    read_end = write_end = -1
    pid = 0
    try:
        with _held((signal.SIGINT, signal.SIGTERM)):
            work.mkdir(mode=0o700)
            read_end, write_end = os.pipe()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the child: report a failure on the pipe, then end without cleanup
                os.close(read_end)
                _child(write_end, out, course, entries, topics, threshold, common, work,
                       memory_mb, parent)
        os.close(write_end)
        write_end = -1
        error = _wait(pid, read_end, seconds)
    except BaseException:
        if pid > 0:
            _stop(pid)
        raise
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


@contextlib.contextmanager
def _held(signals: Sequence[int]) -> Iterator[None]:
    """Hold ``signals`` inside: their handlers run once it is left, whatever thread the signal
    was delivered to (a mask would hold it only in this thread, and torch starts threads of
    its own). Nothing is held where this is not the main thread (no handler can be set there)."""
    got: list[int] = []
    previous: dict[int, Any] = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, lambda signum, frame: got.append(signum))
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        if previous:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sig in dict.fromkeys(got):
                signal.raise_signal(sig)


def _child(pipe: int, out: Path, course: Any, entries: list[tuple[str, Path, str]],
           topics: Sequence[str], threshold: float, common: int, work: Path,
           memory_mb: int, parent: int) -> None:
    code = 1
    try:
        from grader.isolation.sandbox import die_with_parent

        # Killed with the batch: left running, it would write the class's similarity into a
        # folder a rerun of the batch is writing.
        if not die_with_parent(parent):
            return  # (os._exit below)
        # SIGTERM (from the batch, or to its process group) unwinds, as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
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
