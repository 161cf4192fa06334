"""The LTI load benchmark (``python bench/bench_lti.py``): the same class
signs in twice, once through first-login links and once by LTI 1.3 launches from a platform
(tests/lti_platform.py, on 127.0.0.1 in this process), uploads and waits; the service's figures
of the two runs side by side (the goal: LTI within 10 % of first-login sign-in), and every
student's counted score must reach the platform.

    python bench/bench_lti.py                   # 200 students, three rounds
    python bench/bench_lti.py --students 20     # a quick check

It takes bench_serve.py's options; both are built on bench/serve_load.py.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import serve_load as bs

sys.path.insert(0, str(bs.ROOT / "tests"))

from lti_platform import Platform  # noqa: E402

LINK = "bench-link"


def lti_config(platform: Platform) -> str:
    return f"\n[lti]\nretry_seconds = 1\nretry_max_seconds = 10\n\n{platform.toml()}"


def launch(s: bs.Student, platform: Platform) -> bool:
    """A launch as the browser makes it: the login initiation, the platform's form, the tool."""
    login = urllib.parse.urlsplit(platform.login_url(s.login, LINK))
    r = s.request("LTI login initiation", "GET", f"{login.path}?{login.query}", 302)
    if r is None:
        return False
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(r.headers["location"], timeout=bs.TIMEOUT) as page:
            form = page.read().decode()
        s.timings.add("platform: authorisation (bench side)", time.perf_counter() - t0, True)
    except OSError as exc:
        s.timings.add("platform: authorisation (bench side)", time.perf_counter() - t0, False,
                      f"{s.login}: {exc}")
        return False
    fields = {html.unescape(k): html.unescape(v)
              for k, v in re.findall(r"name='([^']+)' value='([^']*)'", form)}
    done = s.request("LTI launch (signed in)", "POST", "/lti/launch", 303, data=fields)
    return done is not None and (done.headers.get("location") or "").endswith(
        f"/assignments/{bs.ASSIGNMENT}")


def run_lti(args: argparse.Namespace, folder: Path, uploads: list[bs.Upload],
            timings: bs.Timings, platform: Platform) -> bs.Run:
    """run_service, with the students signing in by launches (its sign-in step swapped)."""
    with open(folder / "serve.toml", "a") as f:
        f.write(lti_config(platform))
    original = bs.sign_in_all

    def sign_in_all(svc: bs.Service, students: list[bs.Student], concurrency: int) -> float:
        platform.tool_url = svc.url
        t0 = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            done = list(pool.map(lambda s: launch(s, platform), students))
        if not all(done):
            print(f"warning: {done.count(False)} launches failed", file=sys.stderr)
        return time.monotonic() - t0

    drained = bs.wait_drained

    def wait_drained(svc: bs.Service, engine: Any, expected: int, timeout: float) -> bool:
        """The queue drained, and then every student's score at the platform (the service is
        stopped right after this)."""
        done = drained(svc, engine, expected, timeout)
        platform.scores_after_drain = wait_scores(platform, [u.login for u in uploads], 300.0)
        return done

    bs.sign_in_all, bs.wait_drained = sign_in_all, wait_drained
    try:
        return bs.run_service(args, folder, uploads, timings)
    finally:
        bs.sign_in_all, bs.wait_drained = original, drained


def wait_scores(platform: Platform, logins: list[str], timeout: float) -> float:
    """Seconds until the platform holds a score of every student (nan past ``timeout``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with platform.lock:
            got = {s["userId"] for s in platform.scores}
        if got >= set(logins):
            return time.monotonic() - t0
        time.sleep(0.5)
    return float("nan")


def p95(rows: list[tuple[float, bool]]) -> float:
    ok = sorted(s for s, good in rows if good)
    return 1000 * ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else float("nan")


def figures(rnd: bs.Round) -> dict[str, float]:
    t = rnd.timings.rows
    polls = t.get("submission page (polling)", []) + t.get("/assignments (polling)", [])
    return {"upload p95 (ms)": p95(t.get("upload", [])),
            "assignment page p95 (ms)": p95(t.get("assignment page (before upload)", [])),
            "pages while draining p95 (ms)": p95(polls),
            "drain (submissions/min)": rnd.rate,
            "grading (submissions/min)": rnd.busy_rate,
            "web CPU per submission (ms)": bs.cpu_per_submission(rnd.run.samples, "web"),
            "dispatcher CPU per submission (ms)": bs.cpu_per_submission(rnd.run.samples,
                                                                        "dispatcher"),
            "web process peak RSS (MB)": max((mb for x in rnd.run.samples
                                              for label, mb in x.rss.items()
                                              if label.startswith("web")), default=0.0)}


def main(args: argparse.Namespace) -> None:
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-lti-"))
    work.mkdir(parents=True, exist_ok=True)
    pairs: list[tuple[bs.Round, bs.Round, float, int]] = []
    for k in range(args.rounds):
        runs: dict[str, bs.Round] = {}
        sent = float("nan")
        # In turns which goes first: the machine's speed drifts within a round too.
        for kind in ("first-login", "lti") if k % 2 == 0 else ("lti", "first-login"):
            folder = work / f"round-{k + 1}-{kind}"
            folder.mkdir()
            if args.database:
                bs.empty_database(args.database)
            loads = {"start": bs.load()}
            uploads = bs.make_class(folder, args.students, args.topic)
            timings = bs.Timings()
            if kind == "lti":
                # The LMS's user ids on the roster (lms_id), as a class's export has them: each
                # launch signs its student into their roster account.
                (folder / "roster.csv").write_text("student,name,section,lms_id\n" + "".join(
                    f"{u.login},Student {u.login},{'AB'[i % 2]},{u.login}\n"
                    for i, u in enumerate(uploads)))
                platform = Platform()
                for u in uploads:
                    platform.user(u.login, f"Student {u.login}", f"{u.login}@example.edu")
                platform.course("c1", "Bench course", [u.login for u in uploads])
                platform.link(LINK, "c1", "Bench", custom={"assignment": bs.ASSIGNMENT},
                              with_lineitem=True)
                platform.start()
                try:
                    run = run_lti(args, folder, uploads, timings, platform)
                    sent = platform.scores_after_drain
                    with platform.lock:
                        received = len(platform.scores)
                        last = {s["userId"]: f"{s['scoreGiven']:g} / {s['scoreMaximum']:g}"
                                for s in platform.scores}
                    missing = len(uploads) - len(last)
                    wrong = sum(1 for u, page in zip(uploads, run.scores)
                                if u.login in last and last[u.login] != page)
                finally:
                    platform.stop()
            else:
                run = bs.run_service(args, folder, uploads, timings)
            loads["end"] = bs.load()
            runs[kind] = bs.Round(run, {}, timings, loads)
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
        pairs.append((runs["first-login"], runs["lti"], sent, missing + wrong))
        print(f"\nround {k + 1}: the platform received {received} scores, the last of them "
              f"{sent:.1f} s after the queue drained; {len(uploads) - missing} / {len(uploads)} "
              f"students have one, {wrong} differing from their page's score"
              + ("" if missing == 0 else f"; {missing} MISSING"))
        # Each round's figures as it ends: a run stopped later keeps what it measured.
        fa, fb = figures(runs["first-login"]), figures(runs["lti"])
        print("  first-login / LTI: " + "; ".join(f"{name} {fa[name]:.1f} / {fb[name]:.1f}"
                                                 for name in fa), flush=True)
    report(args, pairs)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, pairs: list[tuple[bs.Round, bs.Round, float, int]]
           ) -> None:
    print(f"\n== grader serve: {args.students} students signing in by first-login link, then by "
          f"LTI launch; topic(s) {', '.join(args.topic)}, --jobs {args.jobs}, "
          f"{'PostgreSQL' if args.database else 'SQLite'}, {args.rounds} round(s); medians")
    names = list(figures(pairs[0][0]))
    rows = []
    for name in names:
        a = statistics.median(figures(p[0])[name] for p in pairs)
        b = statistics.median(figures(p[1])[name] for p in pairs)
        if a == 0:  # a figure too small to measure in a small class (web CPU of 4 uploads)
            rows.append((name, f"{a:.1f}", f"{b:.1f}", "n/a", "too small to compare"))
            continue
        worse = (b - a) / a if "submissions/min" not in name else (a - b) / a
        rows.append((name, f"{a:.1f}", f"{b:.1f}", f"{100 * worse:+.0f} %",
                     "within 10 %" if worse <= 0.10 else "NOT within 10 %"))
    bs.table(("figure", "first-login", "LTI", "LTI worse by", ""), rows)
    print("\neach round (first-login / LTI; in odd rounds first-login ran first, in even ones "
          "LTI)")
    per = []
    for k, (a, b, _, _) in enumerate(pairs):
        fa, fb = figures(a), figures(b)
        per.append((str(k + 1), *(f"{fa[n]:.1f} / {fb[n]:.1f}" for n in (
            "drain (submissions/min)", "pages while draining p95 (ms)",
            "web CPU per submission (ms)", "dispatcher CPU per submission (ms)"))))
    bs.table(("round", "drain /min", "pages p95 ms", "web CPU ms", "dispatcher CPU ms"), per)
    lti = pairs[0][1].timings.rows
    bs.table(("request (LTI run)", "count", "failed", "p50", "p95", "max"),
             [bs.ms_row(kind, r) for kind, r in lti.items() if "LTI" in kind or "platform" in kind])
    print("load averages: " + "; ".join(
        f"round {k + 1}: first-login {p[0].loads['start']} → {p[0].loads['end']}, "
        f"LTI {p[1].loads['start']} → {p[1].loads['end']}" for k, p in enumerate(pairs)))
    print("every score reached the platform" if all(p[3] == 0 for p in pairs)
          else "SOME SCORES DID NOT REACH THE PLATFORM")


if __name__ == "__main__":
    main(bs.parse(__doc__ or ""))
