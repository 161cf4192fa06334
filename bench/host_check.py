"""The demo class graded several times in a row under another Python (a CUDA build of torch, as
every GPU host and a plain ``pip install torch`` have), compared each time with the recorded
grades (examples/expected_grades.csv); no temporary folder may be left behind.

By default worker cgroups are turned off (``GRADER_NO_CGROUP=1``), so each worker's tree is
watched by its launcher, as on a host whose cgroups the grader cannot use. The grader is run
from this checkout (``PYTHONPATH``), with the packages of the given interpreter.

A venv with the CUDA build of torch and the rest of the lock (about 5 GB):

    python3.11 -m venv /tmp/cuda-venv
    grep -v '^torch==' requirements/lock.txt > /tmp/lock-without-torch.txt
    /tmp/cuda-venv/bin/pip install --no-deps -r /tmp/lock-without-torch.txt
    /tmp/cuda-venv/bin/pip install torch==2.14.1      # a CUDA build

    python bench/host_check.py --python /tmp/cuda-venv/bin/python [--runs 5] [--cgroups]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import golden  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter to grade with")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cgroups", action="store_true",
                        help="use worker cgroups where the machine has them")
    args = parser.parse_args()
    torch = subprocess.run([args.python, "-c", "import torch, numpy; print(torch.__version__, "
                            "'cuda ' + str(torch.version.cuda), 'numpy', numpy.__version__)"],
                           capture_output=True, text=True, check=False).stdout.strip()
    print(f"{args.python}: torch {torch}; worker cgroups "
          f"{'where available' if args.cgroups else 'off (the launchers watch the trees)'}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} cores")
    failed = 0
    for run in range(1, args.runs + 1):
        tmp = Path(tempfile.mkdtemp(prefix="host-check-"))
        try:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp / "tmp")}
            (tmp / "tmp").mkdir()
            if not args.cgroups:
                env["GRADER_NO_CGROUP"] = "1"
            t0 = time.monotonic()
            done = subprocess.run([args.python, "-m", "grader", "batch",
                                   str(ROOT / "examples" / "class"), "--out", str(tmp / "grades"),
                                   "--jobs", str(args.jobs)], cwd=ROOT, env=env, text=True,
                                  capture_output=True, check=False)
            took = time.monotonic() - t0
            if done.returncode != 0:
                print(f"run {run}: grader batch failed ({done.returncode})\n"
                      f"{(done.stdout + done.stderr)[-2000:]}")
                failed += 1
                continue
            diff = golden.differences(golden.grades(tmp / "grades" / "gradebook.csv"))
            left = sorted(p.name for p in (tmp / "tmp").iterdir())
            ok = not diff and not left
            failed += not ok
            print(f"run {run}: {'same grades' if not diff else f'{len(diff)} cells differ'}, "
                  f"{'nothing' if not left else ', '.join(left)} left in TMPDIR, {took:.0f} s")
            for line in diff:
                print(f"    {line}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.runs - failed} of {args.runs} runs matched the recorded grades")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
