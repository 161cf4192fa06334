"""The grading of one submission in Gradescope's container: what the bundle's ``run_autograder``
runs, as ``python -m grader.publish.autograder ROOT``.

It grades ``ROOT/submission`` with the hidden tests in ``ROOT/source`` into
``ROOT/results/results.json``, with the choices ``grader export gradescope`` wrote to
``ROOT/source/autograder.json``. Where Landlock is missing, the hidden tests and the reference
solution in ``ROOT/source`` and the results file would be open to the student's code, so the
submission is not graded: the results say so, and an instructor who accepts the risk exports
with ``--unsafe-no-sandbox``. Other missing layers are recorded in the results and grading goes
ahead (the container is thrown away after each submission).
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from grader.course import Course
from grader.results.model import write_json_atomic

CONFIG = "autograder.json"  # the export's choices, in the bundle's root


def not_graded(reason: str, *, visibility: str = "visible") -> dict[str, Any]:
    """A valid results.json that tells the student the submission was not graded, and why."""
    return {
        "score": 0.0,
        "output": "Your submission was not graded: the autograder could not run. This is not "
                  "a problem with your code; your instructor will regrade it.\n\n"
                  f"Reason: {reason}",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"error": reason, "not_graded": True},
    }


def _submitters(root: Path) -> str:
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
        names = [u.get("email") or u.get("name") for u in meta.get("users", [])]
        return ", ".join(n for n in names if n) or "submission"
    except (OSError, ValueError, AttributeError):
        return "submission"


def autograde(root: Path) -> int:
    """Grade ``root/submission`` into ``root/results/results.json``; 0 when it was graded.

    Always leaves a valid results.json, so the student reads what happened instead of
    Gradescope's generic failure page.
    """
    from grader.isolation import sandbox
    from grader.results.gradescope import results_json
    from grader.results.visibility import GATED, student_view
    from grader.grading.engine import Engine, Options

    results = root / "results" / "results.json"
    source = root / "source"
    config = json.loads((source / CONFIG).read_text())
    visibility = str(config.get("visibility", "visible"))
    statuses = sandbox.probe()
    missing = sandbox.missing_layers(statuses)
    landlock = [s for s in statuses if s.name == "landlock"]
    if not (landlock and landlock[0].available) and not config.get("unsafe_no_sandbox"):
        detail = landlock[0].detail if landlock else "not probed"
        reason = (f"Landlock is not available in this container ({detail}); without it the "
                  "student's code could read the hidden tests. Export the bundle with "
                  "--unsafe-no-sandbox to grade here anyway (see docs/ci.md)")
        write_json_atomic(results, not_graded(reason, visibility=visibility))
        print(f"run_autograder: not graded: {reason}", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp, \
                Engine(Course(source), sandboxed=True, allow_unsandboxed=True) as engine:
            result = engine.grade(root / "submission", Path(tmp),
                                  Options(topics=tuple(config["topics"])),
                                  name=_submitters(root))
    except Exception as exc:  # noqa: BLE001 - whatever broke, the student gets a results file
        traceback.print_exc()
        reason = f"the grader failed: {type(exc).__name__}: {exc}"
        write_json_atomic(results, not_graded(reason, visibility=visibility))
        return 1
    # What Gradescope shows the student: their view, with the tests it holds back until their
    # time written in full, for it to show then.
    doc = results_json(student_view(result, GATED), visibility=visibility)
    doc["extra_data"]["missing_sandbox_layers"] = [s.name for s in missing]
    write_json_atomic(results, doc)
    print(f"graded {result.submission}: {result.score:g} / {result.max_score:g}"
          + (f" (missing sandbox layers: {', '.join(s.name for s in missing)})" if missing else ""),
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.publish.autograder ROOT``: what run_autograder runs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m grader.publish.autograder AUTOGRADER_ROOT", file=sys.stderr)
        return 2
    return autograde(Path(args[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
