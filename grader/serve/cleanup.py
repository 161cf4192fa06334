"""Sweeping the state folder after a killed server: the working folders and result folders of
gradings that will never be recorded (their dispatcher died, or its claim was lost), and uploads
a killed web process left half-written.

What the database points to is kept: the result folder of every recorded grading, and the
working and result folders of every claim still running (on any machine). The folders are
listed before the database is read, so a claim made meanwhile, whose folders did not exist yet
when they were listed, is never swept."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from grader.serve import db, store

RESULTS = "results"  # results/<submission>/<attempt>/: one grading's files
WORK = "work"  # work/<submission>-<attempt>/: the upload as the grading reads it
INCOMING_SECONDS = 3600.0  # an upload still being written after an hour was abandoned


@dataclass
class Swept:
    work: list[Path] = field(default_factory=list)
    results: list[Path] = field(default_factory=list)
    incoming: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.work or self.results or self.incoming)

    def __str__(self) -> str:
        return (f"{len(self.results)} result folder(s) and {len(self.work)} working folder(s) "
                f"of gradings never recorded, {len(self.incoming)} unfinished upload(s)")


def _attempt(name: str, sep: str) -> tuple[int, int] | None:
    head, _, tail = name.partition(sep)
    return (int(head), int(tail)) if head.isdigit() and tail.isdigit() else None


def _dirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def sweep(state: Path, engine: sa.Engine) -> Swept:
    """Remove what no recorded grading and no running claim refers to; what was removed."""
    work = [(p, a) for p in _dirs(state / WORK) if (a := _attempt(p.name, "-"))]
    results = [(p, (int(p.parent.name), int(p.name)))
               for sub in _dirs(state / RESULTS) if sub.name.isdigit()
               for p in _dirs(sub) if p.name.isdigit()]
    incoming = [p for sub in _dirs(state / store.UPLOADS) for p in sub.glob(".incoming-*")]
    s, g = db.submissions, db.gradings
    with db.transaction(engine) as c:
        running = {(int(i), int(a)) for i, a in c.execute(
            sa.select(s.c.id, s.c.attempt).where(s.c.status == "running")).all()}
        recorded = {Path(f).parts[-2:] for f in c.execute(sa.select(g.c.folder)).scalars()}
    swept = Swept()
    for path, attempt in work:
        if attempt not in running:
            shutil.rmtree(path, ignore_errors=True)
            swept.work.append(path)
    for path, attempt in results:
        if attempt not in running and (path.parent.name, path.name) not in recorded:
            shutil.rmtree(path, ignore_errors=True)
            swept.results.append(path)
    for sub in {p.parent for p, _ in results}:
        try:
            sub.rmdir()  # only if nothing is left in it
        except OSError:
            pass
    old = time.time() - INCOMING_SECONDS
    for path in incoming:
        try:
            if path.stat().st_mtime < old:
                path.unlink()
                swept.incoming.append(path)
        except OSError:
            pass
    return swept
