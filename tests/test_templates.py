"""The workflow templates in templates/ci/: they parse, run on the right events, call `grader`
commands that exist with arguments those commands accept, and keep secrets where they belong."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from grader.commands.main import main

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow files")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "ci"
WORKFLOWS = ("student.yml", "instructor.yml")


def load(name: str) -> dict:
    data = yaml.safe_load((TEMPLATES / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(data: dict) -> list[dict]:
    return [s for job in data["jobs"].values() for s in job["steps"]]


def grader_commands(data: dict) -> list[tuple[list[str], str]]:
    """Every `grader ...` command line of the workflow's run steps, with its working directory."""
    found = []
    for step in steps(data):
        for line in step.get("run", "").splitlines():
            words = shlex.split(line, comments=True)
            if "grader" in words:
                found.append((words[words.index("grader") + 1:],
                              step.get("working-directory", ".")))
    return found


def parse(args: list[str]) -> click.Context:
    """Parse a command line the way `grader` would, without running it: click raises a
    UsageError for an unknown command or option, a missing argument or a path that must exist."""
    ctx = main.make_context("grader", list(args))
    command: click.Command = main
    rest = list(args)
    while isinstance(command, click.Group):  # our groups take no options of their own
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        ctx = sub.make_context(name, list(rest), parent=ctx)
        command = sub
    return ctx


def test_parse_refuses_what_grader_refuses(tmp_path: Path) -> None:
    assert parse(["export", "gradescope", "b.zip"]).params["out"] == Path("b.zip")
    for bad in (["nosuch"], ["ci", "--no-such-option"], ["batch", str(tmp_path / "none"),
                                                          "--out", "x"], ["batch", str(tmp_path)]):
        with pytest.raises(click.UsageError):
            parse(bad)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_parses_and_has_steps(name: str) -> None:
    data = load(name)
    assert data["name"] and data["jobs"] and steps(data)
    assert data["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("name", WORKFLOWS)
def test_grader_commands_exist_and_accept_their_arguments(name: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    commands = grader_commands(load(name))
    assert commands
    for args, workdir in commands:
        # Paths that must exist are laid out as the job lays them out.
        cwd = tmp_path / "job" / workdir
        (tmp_path / "job" / "submissions").mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        ctx = parse(args)
        assert ctx.params.get("out"), f"`grader {' '.join(args)}` names no --out folder"


def test_student_workflow_runs_public_tests_on_every_push() -> None:
    data = load("student.yml")
    assert {"push", "pull_request"} <= set(data["on"])
    commands = grader_commands(data)
    assert [args[0] for args, _ in commands] == ["ci"]
    args = commands[0][0]
    assert "--hidden" not in args  # hidden tests never go near the student's repository
    upload = [s for s in steps(data) if s.get("uses", "").startswith("actions/upload-artifact")]
    out = args[args.index("--out") + 1]
    assert upload and upload[0]["with"]["path"].rstrip("/") == out
    assert upload[0]["if"] == "always()"  # the report is kept when the job fails too


def test_instructor_workflow_grades_with_batch_where_students_cannot_reach() -> None:
    data = load("instructor.yml")
    assert {"repository_dispatch", "schedule", "workflow_dispatch"} <= set(data["on"])
    assert [args[0] for args, _ in grader_commands(data)] == ["batch"]
    assert "--unsafe-no-sandbox" not in str(data)
    checkout = [s for s in steps(data) if s.get("uses", "").startswith("actions/checkout")]
    assert checkout[0]["with"]["persist-credentials"] is False
    upload = [s for s in steps(data) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "gradebook/" in upload[0]["with"]["path"]


def test_instructor_fetch_step_follows_the_roster_and_drops_the_token(tmp_path: Path) -> None:
    step = next(s for s in steps(load("instructor.yml")) if "roster.txt" in s.get("run", ""))
    fake = tmp_path / "bin"
    fake.mkdir()
    # A stand-in for git: `clone URL DIR` makes DIR/.git/config holding the URL (fails for
    # repositories named "missing"); `log` prints a commit.
    (fake / "git").write_text("""#!/usr/bin/env bash
if [ "$1" = clone ]; then
    url="${@: -2:1}"; dir="${@: -1}"
    case "$url" in *missing*) exit 128 ;; esac
    mkdir -p "$dir/.git" "$dir/assignments/vec" && echo "$url" > "$dir/.git/config"
    echo "def add(a, b): return a + b" > "$dir/assignments/vec/vec.py"
elif [ "$2" = log ] || [ "$3" = log ]; then
    printf '%s\\n' "${@: -1}" | sed 's/--format=//; s/%H/0123abc/'
fi
""")
    (fake / "git").chmod(0o755)
    work = tmp_path / "job"
    (work / "course").mkdir(parents=True)
    (work / "course" / "roster.txt").write_text(
        "# class of 2025\norg/work-alice\n\n   \norg/work-missing\norg/work-bob\n")
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
           "TOKEN": "s3cret-token"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=work, env=env, text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (work / "submissions").iterdir()) == ["work-alice", "work-bob"]
    assert "::warning title=not fetched::org/work-missing could not be cloned" in done.stdout
    assert (work / "commits.txt").read_text().split("\n")[:2] == \
        ["org/work-alice 0123abc", "org/work-bob 0123abc"]
    leftovers = [p for p in (work / "submissions").rglob("*")
                 if p.is_file() and "s3cret-token" in p.read_text()]
    assert leftovers == [] and not list((work / "submissions").rglob(".git"))
