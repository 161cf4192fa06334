"""What the service's load benchmarks share (bench_serve.py: first-login sign-in against
``grader batch``; bench_lti.py: the same class by LTI launches): the class and its uploads, the
service started and sampled, the students' light HTTP clients, the rounds' figures and tables,
the command-line options. Neither benchmark imports the other; both import this."""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench_batch import pss_mb  # noqa: E402
from grader.results.model import load_result  # noqa: E402
from grader.serve import db  # noqa: E402

DEMO = ROOT / "examples" / "class"
PASSWORD = "a long benchmark password"
ASSIGNMENT = "bench"
TIMEOUT = 300.0  # one request's limit: a refused or hung request is a failure, not a wait
CONFIG = """instructors = ["prof"]
max_upload_mb = 5

[[assignment]]
name = "{name}"
title = "Benchmark assignment"
topics = [{topics}]
per_day = 10
"""


# ---------------------------------------------------------------------------------- the class


def demo_modules(topics: list[str]) -> list[tuple[str, dict[str, bytes]]]:
    """(demo student, {topic: module bytes}) for every demo student who handed in at least one
    of ``topics``, whatever the layout (folder, assignments/<topic>/, .zip, .zip with a folder)."""
    found = []
    for entry in sorted(DEMO.iterdir()):
        modules: dict[str, bytes] = {}
        if entry.is_dir():
            for topic in topics:
                hits = sorted(entry.rglob(f"{topic}.py"))
                if hits:
                    modules[topic] = hits[0].read_bytes()
        elif entry.suffix == ".zip":
            with zipfile.ZipFile(entry) as z:
                for topic in topics:
                    hits = sorted(n for n in z.namelist() if ".." not in n
                                  and (n == f"{topic}.py" or n.endswith(f"/{topic}.py")))
                    if hits:
                        modules[topic] = z.read(hits[0])
        if modules:
            found.append((entry.name.removesuffix(".zip"), modules))
    if not found:
        raise SystemExit(f"no demo student in {DEMO} handed in {', '.join(topics)}")
    return found


def zipped(modules: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for topic, data in sorted(modules.items()):
            z.writestr(zipfile.ZipInfo(f"{topic}.py", (2026, 3, 1, 12, 0, 0)), data)
    return buf.getvalue()


@dataclass
class Upload:
    login: str
    source: str  # the demo student it was taken from
    filename: str
    data: bytes


def make_class(work: Path, n: int, topics: list[str]) -> list[Upload]:
    """The roster, serve.toml, the uploads, and the same submissions as a batch folder."""
    sources = demo_modules(topics)
    uploads = []
    for i in range(n):
        source, modules = sources[i % len(sources)]
        login = f"s{i:04d}"
        if len(topics) == 1:
            uploads.append(Upload(login, source, f"{topics[0]}.py", modules[topics[0]]))
        else:
            uploads.append(Upload(login, source, "submission.zip", zipped(modules)))
    (work / "roster.csv").write_text("student,name,section\n" + "".join(
        f"{u.login},Student {u.login},{'AB'[i % 2]}\n" for i, u in enumerate(uploads)))
    (work / "serve.toml").write_text(CONFIG.format(
        name=ASSIGNMENT, topics=", ".join(f'"{t}"' for t in topics)))
    batch = work / "batch-class"
    batch.mkdir()
    for u in uploads:
        if u.filename.endswith(".zip"):
            (batch / f"{u.login}.zip").write_bytes(u.data)
        else:
            (batch / u.login).mkdir()
            (batch / u.login / u.filename).write_bytes(u.data)
    return uploads


# -------------------------------------------------------------------------------- the service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shares(jobs: int, dispatchers: int) -> list[int]:
    """--jobs (gradings at once in all, as the batch's) split across the dispatchers."""
    return [max(1, jobs // dispatchers + (k < jobs % dispatchers)) for k in range(dispatchers)]


@dataclass
class Service:
    """The service under test: one ``grader serve`` (its web process and its dispatcher), or,
    with several web processes or dispatchers, ``grader serve --web-only --workers N`` and M
    ``grader serve --dispatcher-only`` on the same state folder and database."""

    work: Path
    jobs: int
    database: str | None
    web: int = 1  # web processes
    dispatchers: int = 1
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)  # the web command first

    @property
    def split(self) -> bool:
        return self.web > 1 or self.dispatchers > 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        return self.work / "state"

    @property
    def database_url(self) -> str:
        return self.database or db.sqlite_url(self.state)

    def _command(self, *flags: str) -> list[str]:
        cmd = [sys.executable, "-m", "grader", "serve", "--course", str(ROOT),
               "--roster", str(self.work / "roster.csv"),
               "--config", str(self.work / "serve.toml"), "--state", str(self.state), *flags]
        return cmd + (["--database", self.database] if self.database else [])

    def _spawn(self, cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, stdout=open(self.work / log, "ab"),
                                stderr=subprocess.STDOUT, cwd=self.work, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 120.0) -> None:
        if not self.split:
            self._spawn(self._command("--port", str(self.port), "--jobs", str(self.jobs)),
                        "serve.log")
        else:
            self._spawn(self._command("--port", str(self.port), "--web-only",
                                      "--workers", str(self.web)), "serve.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                raise SystemExit(f"grader serve ended ({self.procs[0].returncode}):\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"grader serve did not listen within {timeout:.0f} s:\n{self.log()}")
        if self.split:  # the schema and accounts are there: the dispatchers start
            for k, jobs in enumerate(shares(self.jobs, self.dispatchers), 1):
                self._spawn(self._command("--dispatcher-only", "--jobs", str(jobs)),
                            f"dispatcher-{k}.log")

    def web_processes(self) -> list[psutil.Process]:
        """The processes serving pages: the command's own, and its workers (the command then
        only watches them)."""
        try:
            main = psutil.Process(self.procs[0].pid)
            if self.web == 1:
                return [main]
            return [main] + [kid for kid in main.children() if "spawn_main" in _cmdline(kid)]
        except psutil.Error:
            return []

    def dispatcher_processes(self) -> list[psutil.Process]:
        """Each dispatcher's own process (not its zygote and gradings)."""
        try:
            if self.split:
                return [psutil.Process(p.pid) for p in self.procs[1:]]
            return [kid for kid in psutil.Process(self.procs[0].pid).children()
                    if "grader.serve.dispatcher" in _cmdline(kid)]
        except psutil.Error:
            return []

    def log(self) -> str:
        out = []
        for path in sorted(self.work.glob("*.log")):
            try:
                out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def ended(self) -> subprocess.Popen[bytes] | None:
        return next((p for p in self.procs if p.poll() is not None), None)

    def links(self) -> dict[str, str]:
        with open(self.state / "first-login.csv", newline="") as f:
            return {r["login"]: r["link"] for r in csv.DictReader(f)}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


# ------------------------------------------------------------------------ timing the requests


class Timings:
    """Every request's (kind, seconds, success), kept from all threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        self.failures: list[str] = []

    def add(self, kind: str, seconds: float, ok: bool, why: str = "") -> None:
        with self.lock:
            self.rows[kind].append((seconds, ok))
            if not ok:
                self.failures.append(f"{kind}: {why}")


class Page(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    text: str


class Browser:
    """What a student's browser does here, at as little CPU as can be, since this benchmark
    shares the machine with the service it measures: one kept-alive HTTP/1.1 connection
    (http.client), the cookies the service sets, form and multipart bodies."""

    IDLE = 4.0  # seconds: uvicorn closes a connection idle for 5 s, so a new one before then

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, data: dict[str, str] | None = None,
                files: dict[str, tuple[str, bytes, str]] | None = None) -> Page:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body: bytes | None = None
        if files:
            boundary = uuid.uuid4().hex
            parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                     f"{v}\r\n".encode() for k, v in (data or {}).items()]
            parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; '
                      f'filename="{name}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
                      + content + b"\r\n" for k, (name, content, kind) in files.items()]
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.conn is None or time.monotonic() - self.used > self.IDLE:
            self.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            text = r.read().decode("utf-8", errors="replace")
        except BaseException:
            self.close()
            raise
        finally:
            self.used = time.monotonic()
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if r.will_close:
            self.close()
        return Page(r.status, r.headers, text)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def message_of(r: Page) -> str:
    """A refusal's one line (the service's message page), or the status alone."""
    m = re.search(r'<p id="message">(.*?)</p>', r.text, re.S)
    text = re.sub(r"<[^>]+>", " ", m[1]) if m else r.text[:200]
    return f"HTTP {r.status} {' '.join(text.split())[:200]}"


class Student:
    """One browser: its cookies, the form token of the last page, its submission."""

    def __init__(self, url: str, login: str, timings: Timings) -> None:
        self.http = Browser(url)
        self.login = login
        self.timings = timings
        self.csrf = ""
        self.sid: int | None = None
        self.uploaded = threading.Event()

    def request(self, kind: str, method: str, path: str, expect: int, **kw: Any
                ) -> Page | None:
        t0 = time.perf_counter()
        try:
            r = self.http.request(method, path, **kw)
        except (OSError, http.client.HTTPException) as exc:
            self.timings.add(kind, time.perf_counter() - t0, False,
                             f"{self.login} {type(exc).__name__}: {exc}")
            return None
        ok = r.status == expect
        self.timings.add(kind, time.perf_counter() - t0, ok,
                         "" if ok else f"{self.login} {method} {path}: {message_of(r)}")
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        if m:
            self.csrf = m[1]
        return r if ok else None

    def first_login(self, link: str) -> bool:
        path = "/" + link.split("://", 1)[1].split("/", 1)[1]
        if self.request("first-login page", "GET", path, 200) is None:
            return False
        r = self.request("first-login (password set)", "POST", path, 303,
                         data={"csrf": self.csrf, "password": PASSWORD, "again": PASSWORD})
        return r is not None

    def upload(self, u: Upload) -> bool:
        if self.request("assignment page (before upload)", "GET",
                        f"/assignments/{ASSIGNMENT}", 200) is None:
            return False
        r = self.request("upload", "POST", f"/assignments/{ASSIGNMENT}/submit", 303,
                         data={"csrf": self.csrf},
                         files={"file": (u.filename, u.data, "application/octet-stream")})
        if r is None:
            return False
        m = re.fullmatch(r"/submissions/(\d+)", r.headers.get("location") or "")
        if not m:
            self.timings.failures.append(f"upload: {self.login} redirected to "
                                         f"{r.headers.get('location')!r}")
            return False
        self.sid = int(m[1])
        self.uploaded.set()
        return True

    def poll(self, stop: threading.Event, interval: float) -> None:
        """Reload the submission's page and the assignments until ``stop``."""
        self.uploaded.wait()
        while not stop.is_set():
            self.request("submission page (polling)", "GET", f"/submissions/{self.sid}", 200)
            if stop.is_set():
                break
            self.request("/assignments (polling)", "GET", "/assignments", 200)
            stop.wait(interval)

    def score(self) -> str | None:
        if self.sid is None:
            return None
        r = self.request("submission page (after the drain)", "GET",
                         f"/submissions/{self.sid}", 200)
        m = re.search(r'id="score">([^<]+)<', r.text) if r is not None else None
        return " ".join(m[1].split()) if m else None


# -------------------------------------------------------------------------- memory and queue


class Sample(NamedTuple):
    t: float  # monotonic
    rss: dict[str, float]  # RSS MB of each process of the service, by its label
    tree: float  # PSS MB of the whole service
    received: int
    graded: int  # or ended in an error row
    cpu: dict[str, float]  # CPU seconds so far of the web processes, of the dispatchers


PSS_EVERY = 5  # samples: reading a process's PSS costs this one several ms of CPU


class Sampler(threading.Thread):
    """Every second: RSS of each web process and each dispatcher, and how many submissions are
    graded (from the database); every PSS_EVERY seconds the PSS of the whole service, which
    costs more to read (the other samples repeat the last value). So that this benchmark takes
    little of the CPU the service is measured on, as it takes little from the batch."""

    def __init__(self, svc: Service, engine: sa.Engine) -> None:
        super().__init__(daemon=True)
        self.svc, self.engine = svc, engine
        self.samples: list[Sample] = []
        self.webs: list[psutil.Process] = []
        self.dispatchers: list[psutil.Process] = []
        self.stop = threading.Event()

    def labelled(self) -> list[tuple[str, str, psutil.Process]]:
        """(label, role, process) of each process measured."""
        if len(self.webs) < 1 + (self.svc.web if self.svc.web > 1 else 0):
            self.webs = self.svc.web_processes()
        if len(self.dispatchers) < self.svc.dispatchers:
            self.dispatchers = self.svc.dispatcher_processes()
        out = []
        for i, p in enumerate(self.webs):
            label = ("web process" if len(self.webs) == 1 else
                     "web command (watches its workers)" if i == 0 else f"web worker {i}")
            out.append((label, "web", p))
        for i, p in enumerate(self.dispatchers, 1):
            out.append(("dispatcher" if len(self.dispatchers) == 1 else f"dispatcher {i}",
                        "dispatcher", p))
        return out

    def sample(self) -> None:
        rss: dict[str, float] = {}
        cpu = {"web": 0.0, "dispatcher": 0.0}
        for label, role, p in self.labelled():
            try:
                rss[label] = p.memory_info().rss / 2**20
            except psutil.Error:
                continue
            cpu[role] += cpu_of(p)
        received, graded = queue_counts(self.engine)
        if len(self.samples) % PSS_EVERY == 0 or self.stop.is_set():
            pids = []
            for proc in self.svc.procs:
                try:
                    top = psutil.Process(proc.pid)
                    pids += [top.pid] + [k.pid for k in top.children(recursive=True)]
                except psutil.Error:
                    continue
            tree = sum(pss_mb(p) for p in pids)
        else:
            tree = self.samples[-1].tree
        self.samples.append(Sample(time.monotonic(), rss, tree, received, graded, cpu))

    def run(self) -> None:
        while True:
            self.sample()
            if self.stop.wait(1.0):
                self.sample()  # the end, its PSS read
                return


def queue_counts(engine: sa.Engine) -> tuple[int, int]:
    """(submissions received, submissions graded or ended in an error row)."""
    s = db.submissions
    done = sa.case((s.c.status.in_(("graded", "error")), 1), else_=0)
    try:
        with engine.connect() as c:
            received, graded = c.execute(sa.select(sa.func.count(),
                                                   sa.func.coalesce(sa.func.sum(done), 0))).one()
    except sa.exc.SQLAlchemyError:
        return -1, -1
    return int(received), int(graded)


def drain_times(engine: sa.Engine, state: Path) -> dict[str, Any]:
    """From the database: the first upload received, the first and last grading recorded, and
    how the submissions ended."""
    s, g = db.submissions, db.gradings
    with engine.connect() as c:
        first_in, last_in = c.execute(sa.select(sa.func.min(s.c.received_at),
                                                sa.func.max(s.c.received_at))).one()
        first_out, last_out = c.execute(sa.select(sa.func.min(g.c.graded_at),
                                                  sa.func.max(g.c.graded_at))).one()
        status = dict(c.execute(sa.select(s.c.status, sa.func.count()).group_by(s.c.status))
                      .all())
        graded = c.execute(sa.select(s.c.score, s.c.max_score).where(
            s.c.status == "graded")).all()
        folders = c.execute(sa.select(g.c.folder)).scalars().all()
    return {"first_in": db.aware(first_in), "last_in": db.aware(last_in),
            "first_out": db.aware(first_out), "last_out": db.aware(last_out),
            "status": status, "scores": [(r.score, r.max_score) for r in graded],
            "graded_s": sum(duration_of(state / f / "result.json") for f in folders)}


def duration_of(path: Path) -> float:
    """A grading's own duration (its result's), 0 where it cannot be read."""
    try:
        return float(load_result(path).duration)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


# ----------------------------------------------------------------------------- the phases


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sign_in_all(svc: Service, students: list[Student], concurrency: int) -> float:
    links = svc.links()
    missing = [s.login for s in students if s.login not in links]
    if missing:
        raise SystemExit(f"no first-login link for {missing[:5]} in {svc.state}")
    t0 = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(lambda s: s.first_login(links[s.login]), students))
    if not all(done):
        print(f"warning: {done.count(False)} first logins failed", file=sys.stderr)
    return time.monotonic() - t0


def upload_all(students: list[Student], uploads: list[Upload], window: float, seed: int
               ) -> tuple[float, float, int]:
    """Every student uploads at a time drawn uniformly over ``window`` seconds, one thread
    each; (seconds from the first upload's start to the last's answer, the start's monotonic
    time, accepted)."""
    rng = random.Random(seed)
    offsets = sorted(rng.uniform(0, window) for _ in students)
    order = list(range(len(students)))
    rng.shuffle(order)
    t0 = time.monotonic() + 0.5

    def one(k: int) -> bool:
        i = order[k]
        time.sleep(max(0.0, t0 + offsets[k] - time.monotonic()))
        return students[i].upload(uploads[i])

    with ThreadPoolExecutor(len(students)) as pool:
        accepted = sum(pool.map(one, range(len(students))))
    return time.monotonic() - t0, t0, accepted


def wait_drained(svc: Service, engine: sa.Engine, expected: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_counts(engine)[1] >= expected:
            return True
        ended = svc.ended()
        if ended is not None:
            raise SystemExit(f"grader serve ended ({ended.returncode}) before the queue "
                             f"drained:\n{svc.log()}")
        time.sleep(0.5)
    return False


def run_batch(work: Path, jobs: int, topics: list[str], seed: int) -> dict[str, Any]:
    out = work / "batch-out"
    cmd = [sys.executable, "-m", "grader", "batch", str(work / "batch-class"), "--out", str(out),
           "--jobs", str(jobs), "--seed", str(seed), "--course", str(ROOT)]
    for t in topics:
        cmd += ["--topic", t]
    t0 = time.time()
    log = open(work / "batch.log", "wb")
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    # (results written, the batch process's CPU seconds), every 0.25 s: its own CPU per
    # submission, as the dispatcher's is measured
    cpu: list[tuple[int, float]] = []
    me = psutil.Process(proc.pid)
    while proc.poll() is None:
        used = cpu_of(me)
        if used == used:  # not NaN: the process is still there
            cpu.append((sum(1 for _ in (out / "students").glob("*/result.json")), used))
        time.sleep(0.25)
    wall = time.time() - t0
    log.close()
    if proc.returncode != 0:
        raise SystemExit("grader batch failed:\n"
                         + (work / "batch.log").read_text(errors="replace")[-3000:])
    results = list((out / "students").glob("*/result.json"))
    done = sorted(p.stat().st_mtime for p in results)
    first = next(((n, c) for n, c in cpu if n >= 1), None)
    last = cpu[-1] if cpu else None
    per_sub = (1000 * (last[1] - first[1]) / (last[0] - first[0])
               if first and last and last[0] > first[0] else float("nan"))
    finals = []
    with open(out / "gradebook.csv", newline="") as f:
        for row in csv.DictReader(f):
            try:
                finals.append((float(row["final"]), float(row["max_score"])))
            except ValueError:
                continue
    return {"wall": wall, "results": len(done), "first": done[0] - t0 if done else float("nan"),
            "last": done[-1] - t0 if done else float("nan"), "finals": finals,
            "cpu_per_sub": per_sub, "graded_s": sum(duration_of(p) for p in results)}


# ------------------------------------------------------------------------------- reporting


def ms_row(kind: str, rows: list[tuple[float, bool]]) -> tuple[str, ...]:
    secs = sorted(s for s, _ in rows)
    bad = sum(1 for _, ok in rows if not ok)

    def q(p: float) -> float:
        return 1000 * secs[min(len(secs) - 1, int(p * len(secs)))]

    return (kind, str(len(rows)), str(bad), f"{q(0.5):.0f}", f"{q(0.95):.0f}",
            f"{1000 * secs[-1]:.0f}")


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for j, row in enumerate((header, *rows)):
        print("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                        for i, (x, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def memory_rows(samples: list[Sample], warm: int) -> list[tuple[str, ...]]:
    """start (the service just up), before the first upload (everyone signed in), warm (the
    first sample with ``warm`` graded), peak and end (drained), per process; 'flat': end within
    10 % (at least 30 MB) of warm."""
    if not samples:
        return []
    before = [s for s in samples if s.received == 0] or samples[:1]
    warm_at = next((s for s in samples if s.graded >= warm), samples[-1])
    labels = list(dict.fromkeys(k for s in samples for k in s.rss))
    series = [(label, [s.rss.get(label, float("nan")) for s in samples],
               before[-1].rss.get(label, float("nan")), warm_at.rss.get(label, float("nan")))
              for label in labels]
    series.append(("service tree PSS (web, dispatchers, gradings)", [s.tree for s in samples],
                   before[-1].tree, warm_at.tree))
    rows = []
    for name, values, signed_in, w in series:
        seen = [v for v in values if v == v]
        if not seen:
            continue
        flat = seen[-1] - w <= max(30.0, 0.1 * w) if w == w else True
        rows.append((name, f"{seen[0]:.0f}", f"{signed_in:.0f}", f"{w:.0f}", f"{max(seen):.0f}",
                     f"{seen[-1]:.0f}", "flat" if flat else "GROWING"))
    return rows


def idle_seconds(samples: list[Sample]) -> int:
    """Samples (one a second) after the first upload, before the last, with nothing queued or
    running: the dispatcher waiting for uploads (the drain then measures the arrivals)."""
    last = max((s.received for s in samples), default=0)
    return sum(1 for s in samples if 0 < s.received < last and s.graded >= s.received)


def cpu_per_submission(samples: list[Sample], which: str) -> float:
    """CPU ms per graded submission of the web processes or the dispatchers, from the first
    sample with a submission graded to the last sample."""
    first = next((s for s in samples if s.graded >= 1), None)
    last = samples[-1] if samples else None
    if first is None or last is None or last.graded <= first.graded:
        return float("nan")
    used = last.cpu[which] - first.cpu[which]
    return 1000 * used / (last.graded - first.graded)


def mean_percent(pairs: list[tuple[float, float]]) -> float:
    return statistics.fmean(100 * a / b for a, b in pairs if b) if pairs else float("nan")


# ----------------------------------------------------------------------------------- main


def parse(doc: str) -> argparse.Namespace:
    """The options both benchmarks take; ``doc``: the benchmark's docstring (its help)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--students", type=int, default=200, help="students in the class")
    p.add_argument("--jobs", type=int, default=2,
                   help="gradings at once, service (in all, split across its dispatchers) and "
                        "batch")
    p.add_argument("--web", type=int, default=1, metavar="N",
                   help="web processes (grader serve --web-only --workers N; PostgreSQL)")
    p.add_argument("--dispatchers", type=int, default=1, metavar="M",
                   help="dispatchers (M × grader serve --dispatcher-only; PostgreSQL)")
    p.add_argument("--topic", action="append", default=None,
                   help="the assignment's topic (repeatable; default linear_regression)")
    p.add_argument("--window", type=float, default=30.0,
                   help="seconds over which the uploads arrive (at most 60)")
    p.add_argument("--pollers", type=int, default=10,
                   help="students who keep reloading their pages while the queue drains")
    p.add_argument("--poll-interval", type=float, default=2.0,
                   help="seconds between one poller's rounds (submission page, /assignments); "
                        "default: the waiting page's own refresh")
    p.add_argument("--concurrency", type=int, default=16, help="first logins at once")
    p.add_argument("--database", metavar="URL", default=None,
                   help="an empty PostgreSQL database (postgresql://…) instead of SQLite")
    p.add_argument("--seed", type=int, default=1, help="the batch's --seed; upload times")
    p.add_argument("--drain-timeout", type=float, default=3600.0)
    p.add_argument("--no-batch", action="store_true", help="skip the grader batch comparison")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of the service then the batch, each on a fresh class and "
                        "state (the rates' medians are given: one round alone is noisy)")
    p.add_argument("--keep", type=Path, default=None, help="work here, and keep it")
    args = p.parse_args()
    args.topic = args.topic or ["linear_regression"]
    if not 0 <= args.window <= 60:
        p.error("--window must be from 0 to 60 seconds")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.web < 1 or args.dispatchers < 1:
        p.error("--web and --dispatchers must be at least 1")
    if (args.web > 1 or args.dispatchers > 1) and not args.database:
        p.error("several web processes or dispatchers need --database postgresql://… "
                "(SQLite's queue has one dispatcher, beside one command's web processes)")
    if args.dispatchers > args.jobs:
        p.error("--jobs counts the gradings at once in all: give at least one per dispatcher")
    return args


@dataclass
class Run:
    """What the service's part measured."""

    accepted: int = 0
    ready_s: float = 0.0
    sign_in_s: float = 0.0
    upload_span_s: float = 0.0
    drained: bool = False
    drain: dict[str, Any] = field(default_factory=dict)
    scores: list[str | None] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def cpu_of(proc: psutil.Process | None) -> float:
    try:
        t = proc.cpu_times() if proc is not None else None
    except psutil.Error:
        return float("nan")
    return t.user + t.system if t is not None else float("nan")


def wait_ready(svc: Service, timeout: float = 300.0) -> None:
    """Until every dispatcher has started its engine (the zygote, the preloaded tests) and waits
    for uploads: they and their children used under 0.1 s of CPU over 2 s."""
    deadline = time.monotonic() + timeout
    before: float | None = None
    while time.monotonic() < deadline:
        disps = svc.dispatcher_processes()
        if len(disps) == svc.dispatchers:
            try:
                used = sum(cpu_of(p) for d in disps for p in [d, *d.children(recursive=True)])
            except psutil.Error:
                used = float("nan")
            if before is not None and used - before < 0.1:
                return
            before = used if used == used else None
        ended = svc.ended()
        if ended is not None:
            raise SystemExit(f"grader serve ended ({ended.returncode}):\n{svc.log()}")
        time.sleep(2.0)
    raise SystemExit(f"the dispatchers were not ready within {timeout:.0f} s:\n{svc.log()}")


def run_service(args: argparse.Namespace, work: Path, uploads: list[Upload],
                timings: Timings) -> Run:
    svc = Service(work, args.jobs, args.database, args.web, args.dispatchers)
    run = Run()
    t0 = time.monotonic()
    svc.start()
    engine = db.connect(svc.database_url)
    try:
        wait_ready(svc)
        run.ready_s = time.monotonic() - t0
        sampler = Sampler(svc, engine)
        sampler.start()
        students = [Student(svc.url, u.login, timings) for u in uploads]
        run.sign_in_s = sign_in_all(svc, students, args.concurrency)
        stop = threading.Event()
        step = max(1, len(students) // max(1, args.pollers))
        pollers = [threading.Thread(target=s.poll, args=(stop, args.poll_interval), daemon=True)
                   for s in students[::step][: args.pollers]]
        for t in pollers:
            t.start()
        run.upload_span_s, _, run.accepted = upload_all(students, uploads, args.window,
                                                        args.seed)
        run.drained = wait_drained(svc, engine, run.accepted, args.drain_timeout)
        stop.set()
        for s in students:
            s.uploaded.set()  # a poller whose student's upload failed ends too
        for t in pollers:
            t.join()
        sampler.stop.set()
        sampler.join()
        run.samples = sampler.samples
        run.drain = drain_times(engine, svc.state)
        run.cpu = dict(run.samples[-1].cpu) if run.samples else {}
        with ThreadPoolExecutor(8) as pool:
            run.scores = list(pool.map(Student.score, students))
        for s in students:
            s.http.close()
    finally:
        svc.stop()
        engine.dispose()
    if not run.drained:
        print(f"warning: the queue had not drained after {args.drain_timeout:.0f} s; the "
              f"service's log:\n{svc.log()}", file=sys.stderr)
    return run


@dataclass
class Round:
    """One round: the service's run, then the batch on the same submissions."""

    run: Run
    batch: dict[str, Any]
    timings: Timings
    loads: dict[str, str]

    def seconds(self, a: str, b: str) -> float:
        d = self.run.drain
        return (d[b] - d[a]).total_seconds() if d.get(a) and d.get(b) else float("nan")

    @property
    def graded(self) -> int:
        status = self.run.drain.get("status", {})
        return int(status.get("graded", 0) + status.get("error", 0))

    @property
    def rate(self) -> float:
        """Per minute, from the first upload received to the last graded."""
        span = self.seconds("first_in", "last_out")
        return 60 * self.graded / span if span > 0 else float("nan")

    @property
    def busy_rate(self) -> float:
        """Per minute, from the first graded to the last."""
        busy = self.seconds("first_out", "last_out")
        return 60 * (self.graded - 1) / busy if busy > 0 else float("nan")

    @property
    def batch_rate(self) -> float:
        b = self.batch
        return 60 * b["results"] / b["wall"] if b else float("nan")

    @property
    def batch_busy_rate(self) -> float:
        b = self.batch
        busy = b["last"] - b["first"] if b else float("nan")
        return 60 * (b["results"] - 1) / busy if busy > 0 else float("nan")


def report(args: argparse.Namespace, uploads: list[Upload], rnd: Round) -> None:
    run, batch, timings, loads = rnd.run, rnd.batch, rnd.timings, rnd.loads
    n = len(uploads)
    d = run.drain
    status = d.get("status", {})
    graded = rnd.graded
    span = rnd.seconds("first_in", "last_out")
    busy = rnd.seconds("first_out", "last_out")
    arrivals = rnd.seconds("first_in", "last_in")
    rate, busy_rate = rnd.rate, rnd.busy_rate
    sources = sorted({u.source for u in uploads})
    print(f"\n== grader serve under load: {n} students, topic(s) {', '.join(args.topic)}, "
          f"--jobs {args.jobs}, {args.web} web process(es), {args.dispatchers} dispatcher(s)"
          + (f" (--jobs {'+'.join(map(str, shares(args.jobs, args.dispatchers)))})"
             if args.dispatchers > 1 else "") + ", "
          f"{'PostgreSQL' if args.database else 'SQLite'}, "
          f"{os.cpu_count()} cores")
    print(f"submissions taken round-robin from {len(sources)} demo students "
          f"({', '.join(sources)}); uploads spread over {args.window:.0f} s; "
          f"{min(args.pollers, n)} pollers every {args.poll_interval:g} s")
    print(f"load average at the start: {loads['start']}\n")

    print("requests (ms)")
    table(("request", "count", "failed", "p50", "p95", "max"),
          [ms_row(kind, rows) for kind, rows in timings.rows.items()])
    for line in timings.failures[:10]:
        print(f"  failure: {line}")
    if len(timings.failures) > 10:
        print(f"  … and {len(timings.failures) - 10} more failures")

    scored = [s for s in run.scores if s]
    rows = [
        ("grader serve: command → dispatchers idle", f"{run.ready_s:.1f} s",
         "its engine started; the figures below begin here"),
        ("first logins (all students)", f"{run.sign_in_s:.1f} s",
         f"{args.concurrency} at a time"),
        ("uploads accepted", f"{run.accepted} / {n}",
         "all accepted" if run.accepted == n else f"{n - run.accepted} REFUSED OR FAILED"),
        ("uploads: first received → last received", f"{arrivals:.1f} s",
         f"bench side, first sent → last answered: {run.upload_span_s:.1f} s"),
        ("submissions graded (or error rows)", f"{graded} / {run.accepted}",
         f"status {dict(sorted(status.items()))}"
         + ("" if run.drained else f"; NOT DRAINED within {args.drain_timeout:.0f} s")),
        ("drain: first upload → last graded", f"{span:.1f} s", f"{rate:.1f} submissions/min"),
        ("queue empty while uploads still came", f"{idle_seconds(run.samples)} s",
         "the drain is bound by the arrivals, not the grading" if idle_seconds(run.samples)
         else "the dispatcher was never idle"),
        ("grading: first graded → last graded", f"{busy:.1f} s",
         f"{busy_rate:.1f} submissions/min"),
        ("grading slots busy, first → last graded",
         f"{100 * d.get('graded_s', 0) / (args.jobs * busy):.0f} %" if busy > 0 else "nan",
         f"the gradings' own durations, {d.get('graded_s', 0):.1f} s, over --jobs × that time"),
        ("pages showing a score afterwards", f"{len(scored)} / {n}",
         f"{len(set(scored))} distinct scores; mean {mean_percent(d.get('scores', [])):.1f} %"),
        ("CPU seconds: web processes, dispatchers", f"{run.cpu.get('web', 0):.1f} s",
         f"{run.cpu.get('dispatcher', 0):.1f} s (the dispatchers alone, not their gradings)"),
        ("dispatchers' CPU per graded submission",
         f"{cpu_per_submission(run.samples, 'dispatcher'):.0f} ms",
         f"web processes: {cpu_per_submission(run.samples, 'web'):.0f} ms (pages, pollers)"),
    ]
    if batch:
        b_rate, b_busy_rate = rnd.batch_rate, rnd.batch_busy_rate
        b_busy = batch["last"] - batch["first"]
        slower = 100 * (1 - rate / b_rate)
        rows += [
            ("grader batch: command → done", f"{batch['wall']:.1f} s",
             f"{b_rate:.1f} submissions/min ({batch['results']} results; "
             f"mean {mean_percent(batch['finals']):.1f} %)"),
            ("grader batch: command → first result", f"{batch['first']:.1f} s",
             "its start: imports, the course, the engine"),
            ("grader batch: first result → last result", f"{b_busy:.1f} s",
             f"{b_busy_rate:.1f} submissions/min"),
            ("grader batch: grading slots busy, first → last",
             f"{100 * batch['graded_s'] / (args.jobs * b_busy):.0f} %" if b_busy > 0 else "nan",
             f"the gradings' own durations, {batch['graded_s']:.1f} s"),
            ("grader batch process CPU per submission", f"{batch['cpu_per_sub']:.0f} ms",
             "as the dispatcher's, its gradings not counted"),
            ("service rate / batch rate (drain / command)", f"{100 * rate / b_rate:.0f} %",
             f"{'slower' if slower > 0 else 'faster'} by {abs(slower):.0f} %: goal ≤ 10 % "
             f"slower {'met' if slower <= 10 else 'NOT MET'}"
             + (" (bound by the arrivals: more students, or a shorter --window)"
                if idle_seconds(run.samples) else "")),
            ("service rate / batch rate (grading only)",
             f"{100 * busy_rate / b_busy_rate:.0f} %", "first graded → last graded, both"),
        ]
    print()
    table(("figure", "value", ""), rows)

    print("\nmemory (MB), sampled every second")
    table(("process", "start", "signed in", f"at {min(10, n)} graded", "peak", "end", ""),
          memory_rows(run.samples, min(10, n)))
    print(f"\nload average at the end: {loads['end']}"
          + (f" (before the batch: {loads['batch']})" if "batch" in loads else ""))


def empty_database(url: str) -> None:
    """The service's tables dropped, for the next round (--database is the bench's own)."""
    engine = db.connect(url)
    try:
        db.metadata.drop_all(engine)
        with engine.begin() as c:
            c.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


def rounds_table(rounds: list[Round]) -> None:
    """Each round's rates and the medians: the machine's speed drifts from one minute to the
    next (the same gradings' CPU time varies by a tenth), so one round alone says little."""
    def pct(a: float, b: float) -> str:
        return f"{100 * a / b:.0f} %" if b == b and b > 0 and a == a else "nan"

    rows = [(str(k + 1), f"{r.rate:.1f}", f"{r.batch_rate:.1f}", pct(r.rate, r.batch_rate),
             f"{r.busy_rate:.1f}", f"{r.batch_busy_rate:.1f}",
             pct(r.busy_rate, r.batch_busy_rate), r.loads["start"])
            for k, r in enumerate(rounds)]
    med = statistics.median
    rows.append(("median", f"{med(r.rate for r in rounds):.1f}",
                 f"{med(r.batch_rate for r in rounds):.1f}",
                 f"{med(100 * r.rate / r.batch_rate for r in rounds):.0f} %",
                 f"{med(r.busy_rate for r in rounds):.1f}",
                 f"{med(r.batch_busy_rate for r in rounds):.1f}",
                 f"{med(100 * r.busy_rate / r.batch_busy_rate for r in rounds):.0f} %", ""))
    print(f"\n{len(rounds)} rounds, each the service and then the batch (submissions per "
          "minute; drain: first upload → last graded, against the batch's command → done; "
          "grading: first graded → last graded, both)")
    table(("round", "drain", "batch", "drain / batch", "grading", "batch grading",
           "grading / batch", "load at the start"), rows)
