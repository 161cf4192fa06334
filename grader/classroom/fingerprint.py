"""A module's fingerprint: winnowed hashes of the runs of its normalised syntax tree's tokens.

Each unit of the module (``grader.classroom.normalise``: a top-level definition, a method, the
rest) gives the hashes of its runs of ``K`` tokens, computed with NumPy (a polynomial hash over the
tokens' ids, mixed); winnowing keeps the smallest of every ``WINDOW`` consecutive ones (as MOSS
and JPlag do), so that any run of ``K + WINDOW - 1`` shared tokens is seen. Runs stay inside
their unit: the order of definitions changes nothing. The module's fingerprint is the union of its
units' (module level), and each unit's is kept too (function level: a copied function inside an
otherwise original module is found).

Code the module built and ran at run time (``TopicResult.runtime_code``) joins the fingerprint:
source text is normalised as the module is; a bytecode listing (``grader.isolation.codelisting``)
is fingerprinted line by line into a separate set, compared with the listing of the other
modules' compiled source (compiling parses, it runs nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from grader.classroom import normalise
from grader.isolation import codelisting

K = 12  # tokens per hashed run of the normalised tree (about a line and a half of code)
WINDOW = 8  # a run of K + WINDOW - 1 shared tokens is always caught
LISTING_K = 8  # instructions per hashed run of a bytecode listing
MAX_RUNTIME_TEXTS = 64  # pieces of run-time code compared per module
MAX_RUNTIME_CHARS = 512 * 1024  # of run-time code compared per module, in all
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_BASE = np.uint64(0x100000001B3)
_ids: dict[str, int] = {}


def token_ids(tokens: Sequence[str]) -> np.ndarray:
    """Each token's 64-bit id (the same in every process: a hash of its text, not ``hash``)."""
    out = np.empty(len(tokens), dtype=np.uint64)
    ids = _ids
    for i, t in enumerate(tokens):
        v = ids.get(t)
        if v is None:
            v = ids[t] = int.from_bytes(hashlib.blake2b(t.encode("utf-8", "replace"),
                                                        digest_size=8).digest(), "little")
        out[i] = v
    return out


def runs(ids: np.ndarray, k: int = K) -> np.ndarray:
    """The hash of every run of ``k`` consecutive ids, in order (one hash of all of them when
    there are fewer). Polynomial in the ids, then mixed so that the smallest is any run's."""
    n = len(ids)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    width = min(k, n)
    with np.errstate(over="ignore"):
        h = np.zeros(n - width + 1, dtype=np.uint64)
        for j in range(width):
            h = h * _BASE + ids[j:n - width + 1 + j]
        h ^= h >> np.uint64(33)
        h *= _MIX1
        h ^= h >> np.uint64(33)
        h *= _MIX2
        h ^= h >> np.uint64(33)
    return h


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """The smallest hash of every ``window`` consecutive ones (all of them for fewer), unique."""
    if len(hashes) <= window:
        return np.unique(hashes[:1] if len(hashes) else hashes) if len(hashes) <= 1 else \
            np.unique(np.array([hashes.min()]))
    view = np.lib.stride_tricks.sliding_window_view(hashes, window)
    return np.unique(view.min(axis=1))


@dataclass(frozen=True)
class UnitPrint:
    name: str
    hashes: frozenset[int]


@dataclass(frozen=True)
class Stub:
    """What every student received: none of its runs is evidence; its names are the topic's API
    (kept in a module even when nothing there calls them)."""

    hashes: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()


EMPTY_STUB = Stub()


@dataclass(frozen=True)
class Fingerprint:
    """One module's fingerprint (its run-time code included), the stub's runs removed."""

    hashes: frozenset[int]  # module level: the union of the units'
    units: tuple[UnitPrint, ...] = ()
    listing: frozenset[int] = frozenset()  # run-time code known only as a bytecode listing


def unit_runs(unit: normalise.Unit, k: int = K) -> np.ndarray:
    return runs(token_ids(unit.tokens), k)


def stub_of(source: str) -> Stub:
    """Every run of the stub (not only the winnowed ones) and the names it defines."""
    tree = normalise.parse(source)
    names = normalise.top_level_names(tree)
    units = normalise.normalise_tree(tree, frozenset())
    hashes: set[int] = set()
    for u in units:
        hashes.update(unit_runs(u).tolist())
    return Stub(frozenset(hashes), names)


def _units_of(source: str, stub: Stub) -> list[normalise.Unit]:
    return normalise.normalise(source, stub.names)


def fingerprint(source: str, stub: Stub = EMPTY_STUB, runtime: Iterable[str] = ()) -> Fingerprint:
    """The fingerprint of ``source`` and of the code it ran at run time (``runtime``: source
    texts or bytecode listings), without the stub's runs."""
    units = [(u.name, u) for u in _units_of(source, stub)]
    listings: list[str] = []
    total = 0
    for i, text in enumerate(list(runtime)[:MAX_RUNTIME_TEXTS]):
        total += len(text)
        if total > MAX_RUNTIME_CHARS:  # as the engine keeps it; a result edited by hand too
            break
        if text.startswith(codelisting.MARK):
            listings.append(text)
        else:
            units += [(f"run-time code {i + 1}: {u.name}", u) for u in _units_of(text, stub)]
    prints: list[UnitPrint] = []
    every: set[int] = set()
    for name, u in units:
        kept = frozenset(winnow(unit_runs(u)).tolist()) - stub.hashes
        if kept:
            prints.append(UnitPrint(name, kept))
            every |= kept
    listing: set[int] = set()
    for text in listings:
        listing |= listing_hashes(text)
    return Fingerprint(frozenset(every), tuple(prints), frozenset(listing))


def listing_hashes(text: str) -> frozenset[int]:
    """Winnowed runs of a bytecode listing's instructions (each ``code NAME`` starts a part).
    The module's own code is left out: it defines the functions (and evaluates their
    annotations, or not, by the compiler's flags); their code is what is compared."""
    out: set[int] = set()
    parts = text.split("\ncode ")
    for part in parts[1:]:
        lines = part.splitlines()
        if lines[0] == "<module>":
            continue
        lines = lines[1:]
        if lines:
            out.update(winnow(runs(token_ids(lines), LISTING_K)).tolist())
    return frozenset(out)


def source_listing(source: str) -> frozenset[int]:
    """The listing hashes of ``source`` compiled (never run), as the worker lists code objects;
    empty when it does not compile."""
    try:
        code = compile(source, "<module>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return frozenset()
    return listing_hashes(codelisting.listing(code))


def dice(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))
