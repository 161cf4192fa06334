"""What queueing a grade for the LMS costs the dispatcher: the CPU of recording a grading
(``queue.complete``) on SQLite, for a class whose students launched from an LMS course (each
grading queues an AGS Score in its transaction) and for one that did not.

    python bench/bench_score_queue.py            # 1000 gradings of 200 students, three times
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from grader.serve import db, queue


def make_class(folder: Path, students: int, submissions: int, lti: bool) -> sa.Engine:
    engine = db.connect(db.sqlite_url(folder))
    db.migrate(engine)
    now = db.now()
    with db.transaction(engine, write=True) as c:
        c.execute(db.assignments.insert().values(id=1, name="a1"))
        c.execute(db.uploads.insert().values(sha256="0" * 64, size=1, created_at=now))
        c.execute(db.accounts.insert(), [{"id": i, "login": f"s{i}", "role": "student"}
                                         for i in range(1, students + 1)])
        if lti:
            c.execute(db.lti_contexts.insert().values(
                id=1, issuer="https://lms.example", client_id="c", deployment_id="d",
                context_id="course", tool_url="https://grader.example", ags_scopes="",
                updated_at=now))
            c.execute(db.lti_lineitems.insert().values(id=1, context_id=1, assignment_id=1,
                                                       url="https://lms.example/li/1"))
            c.execute(db.lti_members.insert(), [
                {"context_id": 1, "account_id": i, "sub": f"u{i}", "role": "student"}
                for i in range(1, students + 1)])
        c.execute(db.submissions.insert(), [
            {"id": i, "account_id": i % students + 1, "assignment_id": 1,
             "upload_sha256": "0" * 64, "filename": "a.py", "graded_name": "a.py",
             "received_at": now, "seed": 1, "status": "queued"}
            for i in range(1, submissions + 1)])
    return engine


def cpu_per_grading(students: int, submissions: int, lti: bool) -> tuple[float, int]:
    """(CPU ms per recorded grading, Scores queued)."""
    with tempfile.TemporaryDirectory(prefix="bench-score-queue-") as tmp:
        engine = make_class(Path(tmp), students, submissions, lti)
        used = 0.0
        for i in range(submissions):
            with db.transaction(engine, write=True) as c:
                claim = queue.claim(c, "bench", queue.tests_generation(engine))
            assert claim is not None
            t0 = time.process_time()
            assert queue.complete(engine, claim, "bench", folder="results", raw=1,
                                  final=1 + i % 3, max_score=3, penalty=0,
                                  topics={"t": [1, 1]}, error="")
            used += time.process_time() - t0
        with db.transaction(engine) as c:
            scores = c.execute(sa.select(sa.func.count()).select_from(db.lti_scores)).scalar_one()
        engine.dispose()
    return 1000 * used / submissions, scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--gradings", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    for _ in range(args.repeat):
        without, _ = cpu_per_grading(args.students, args.gradings, lti=False)
        with_lti, scores = cpu_per_grading(args.students, args.gradings, lti=True)
        print(f"recording a grading: {without:.3f} ms of CPU without an LMS course, "
              f"{with_lti:.3f} ms with one ({scores} Scores queued): "
              f"+{with_lti - without:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
