"""Wall time of a student's check of one topic, against plain pytest on the same files.

In a student repository built like `grader release` builds one (with the reference solution as
the student's module, so every test passes), each command runs ``--n`` times in a fresh process:

(a) plain pytest: ``python -m pytest test_public.py`` with a three-line conftest that imports
    the module as the ``student`` fixture and nothing of the grader's (the floor);
(b) ``python -m pytest assignments/<topic>`` with the grader's plugin (as a student runs it);
(c) ``python -m grader check <topic>``.

(a) and (b) load the pytest plugins this environment has installed, as a student's pytest would;
``--no-autoload`` leaves them out of every command (a student's environment from the release's
lock has none of the test extras). Prints the median and spread of each, and whether torch was
imported (it must not be for a NumPy topic).

Each command runs once before it is timed, without ``PYTHONDONTWRITEBYTECODE``, so that Python has
written its compiled copies of the release's modules, as on a student's machine from the second
run on: with that variable set (some containers set it), every run would compile the modules it
imports from the release (some thirty of the grader's, against a dozen for the plain run) and
the figures would measure the compiler. The runs of the three commands alternate, so that a
change of the machine's load during the benchmark falls on each alike.

    python bench/bench_check.py [--topic linear_regression] [--n 7] [--no-autoload]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAIN_CONFTEST = '''
import importlib, pytest

@pytest.fixture
def student():
    return importlib.import_module("{topic}")
'''

TORCH_PROBE = ("import sys, runpy; sys.argv = {argv!r}\n"
               "try:\n    runpy.run_module({module!r}, run_name='__main__')\n"
               "finally:\n    print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n")


def make_release(topic: str, out: Path) -> tuple[Path, Path]:
    """(student repository, plain copy): the release of ``topic`` with its solution in place,
    and the same test file and module beside a plain conftest."""
    from grader.course import Course
    from grader.publish.release import build

    course = Course(ROOT)
    repo = out / "release"
    build(course, repo, [topic], {topic: 0})
    shutil.copyfile(course.solution(topic), repo / "assignments" / topic / f"{topic}.py")
    plain = out / "plain"
    plain.mkdir()
    for name in ("test_public.py", f"{topic}.py"):
        shutil.copyfile(repo / "assignments" / topic / name, plain / name)
    (plain / "conftest.py").write_text(PLAIN_CONFTEST.format(topic=topic))
    (plain / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return repo, plain


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, bool]:
    """Wall and CPU (user + system) seconds of one run, and whether it imported torch. CPU time
    says more than wall time on a machine other work is loading."""
    module = "pytest" if argv[0] == "pytest" else "grader"
    code = TORCH_PROBE.format(argv=[module, *argv[1:]], module=module)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, "TORCH True" in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="linear_regression")
    parser.add_argument("--n", type=int, default=7)
    parser.add_argument("--no-autoload", action="store_true",
                        help="load no installed pytest plugin but the grader's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        repo, plain = make_release(args.topic, Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRADER_"))
               and k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(repo)  # the release's grader, as `pip install -e .` gives it
        if args.no_autoload:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        # Named as well as registered by its entry point (the same name: loaded once), so that
        # an environment whose installed grader is another checkout runs this one's.
        extra = ["-p", "grader.student.plugin"]
        runs = [
            ("(a) plain pytest + conftest", ["pytest", "test_public.py", "-q"], plain, []),
            ("(b) pytest assignments/<topic>", ["pytest", f"assignments/{args.topic}", "-q"],
             repo, extra),
            ("(c) grader check <topic>", ["grader", "check", args.topic], repo, []),
        ]
        print(f"topic {args.topic}, {args.n} runs each, {os.cpu_count()} cores, "
              f"{'no installed plugins' if args.no_autoload else 'installed plugins loaded'}")
        for _, argv, cwd, more in runs:  # writes the compiled copies; not timed
            timed([*argv, *more], cwd, env)
        figures: list[list[tuple[float, float, bool]]] = [[] for _ in runs]
        for _ in range(args.n):
            for (_, argv, cwd, more), of in zip(runs, figures):
                of.append(timed([*argv, *more], cwd, env))
        for (label, *_), of in zip(runs, figures):
            times, cpu = [w for w, _, _ in of], [c for _, c, _ in of]
            print(f"{label:32s} wall median {statistics.median(times):.3f} s "
                  f"(min {min(times):.3f}, max {max(times):.3f}), CPU median "
                  f"{statistics.median(cpu):.3f} s, torch imported: {of[-1][2]}")
        print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
