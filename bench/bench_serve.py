"""Load benchmark of ``grader serve``, against ``grader batch`` on the same submissions.

A class signs in and uploads within a minute, the queue drains, and the same submissions are
then graded by ``grader batch`` for comparison.

    python bench/bench_serve.py                            # 200 students, linear_regression
    python bench/bench_serve.py --students 20              # a quick check
    python bench/bench_serve.py --topic metrics --topic linear_regression --jobs 2
    python bench/bench_serve.py --database postgresql://postgres@127.0.0.1:5432/bench_serve
    python bench/bench_serve.py --students 1000 --web 2 --dispatchers 2 --database postgresql://…

What it does, in this order:

1. builds a class of --students students: a roster, a serve.toml of one assignment of the chosen
   topics, and each student's submission, taken round-robin from the demo class's students
   (examples/class: folders, .zip, the assignments/ layout), so that grades vary: with one
   topic, that student's ``<topic>.py``; with several, a .zip of their modules of those topics;
2. starts ``grader serve`` on a free port (SQLite in its state folder, or --database, which
   must be an empty database) with --jobs; with --web N or --dispatchers M above 1 (PostgreSQL
   only), ``grader serve --web-only --workers N`` and then M ``grader serve --dispatcher-only``
   on the same state folder, --jobs split across them (so the gradings at once are the
   batch's);
3. signs every student in through their first-login link (choosing a password), --concurrency
   at a time;
4. has every student open the assignment's page and upload, at times spread uniformly over
   --window seconds (all at once: one thread per student), each request timed; every upload
   must be accepted (a 303 to its submission page);
5. while the queue drains, --pollers students keep reloading their submission's page and
   /assignments every --poll-interval seconds, each request timed;
6. measures the drain from the database (the first upload received, the first and last
   grading recorded) and samples every second the RSS of each web process and of each
   dispatcher (its own process, not its zygote and gradings), and every 5 s the PSS of the
   whole service (web, dispatchers, zygotes and gradings);
7. once graded, reads every student's submission page for its score;
8. stops the service and grades the same submissions with ``grader batch`` (one entry per
   student, the same topics, the same --jobs, --seed fixed), for the rate the service is to
   match (the goal: no more than 10 % slower);
9. does all that --rounds times (3 by default), each on a fresh class and state (with
   --database, its tables are dropped between rounds), since the same gradings' speed drifts
   from one minute to the next on a shared machine.

The students' side is as light as can be (http.client, one kept-alive connection each), since it
shares the machine with the service it measures. Prints every figure of the median round (by
its grading rate against the batch's), then each round's rates and their medians, with the load
average: the machine may be busy with other work.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from serve_load import (Round, Timings, Upload, empty_database, load, make_class, parse,
                        report, rounds_table, run_batch, run_service)


def main() -> None:
    args = parse(__doc__ or "")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        raise SystemExit(f"{work} is not empty")
    rounds: list[Round] = []
    uploads: list[Upload] = []
    for k in range(args.rounds):
        folder = work / f"round-{k + 1}"
        folder.mkdir()
        if args.database and k:
            empty_database(args.database)
        loads = {"start": load()}
        uploads = make_class(folder, args.students, args.topic)
        timings = Timings()
        run = run_service(args, folder, uploads, timings)
        batch: dict[str, Any] = {}
        if not args.no_batch:
            loads["batch"] = load()
            batch = run_batch(folder, args.jobs, args.topic, args.seed)
        loads["end"] = load()
        rounds.append(Round(run, batch, timings, loads))
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    # The round whose grading rate against the batch's is the median, in full.
    ranked = sorted(range(len(rounds)), key=lambda k: rounds[k].busy_rate / rounds[k].batch_busy_rate
                    if not args.no_batch else rounds[k].busy_rate)
    middle = ranked[(len(ranked) - 1) // 2]
    if len(rounds) > 1:
        print(f"\n== round {middle + 1} of {len(rounds)}, the median one by its grading rate "
              "against the batch's")
    report(args, uploads, rounds[middle])
    if len(rounds) > 1 and not args.no_batch:
        rounds_table(rounds)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept in {work}")


if __name__ == "__main__":
    main()
