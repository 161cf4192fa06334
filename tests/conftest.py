"""Shared fixtures of the grader's own tests."""

import contextlib
import os
import time

# The engine forks trusted children from this process; an OpenMP pool left by an earlier torch
# op would hang them (see the sandbox notes). One thread keeps every fork safe.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Engines keep what they list on disk (``grader.grading.listing``): not in the user's cache, and
# not from one test to the next; the tests of that keep their own folders.
os.environ["GRADER_CACHE"] = "off"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from grader.course import Course  # noqa: E402

# The tiny course's hidden and public tests are run by the engine, never collected directly.
collect_ignore = ["fixtures"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_COURSE = Path(__file__).resolve().parent / "fixtures" / "course"


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(ROOT)


@pytest.fixture(scope="session")
def toy_course() -> Course:
    return Course(FIXTURE_COURSE)


@pytest.fixture(scope="session")
def engine(course):
    """One sandboxed engine for the whole session (zygote started once)."""
    from grader.grading.engine import Engine

    with Engine(course) as e:
        yield e


@pytest.fixture(scope="session")
def toy_engine(toy_course):
    from grader.grading.engine import Engine

    with Engine(toy_course) as e:
        yield e


# The slowest modules, slowest first. ./run hands whole modules to its test processes (pytest-xdist
# --dist loadscope, so that a module's fixtures, a served instance or the demo class's grading,
# are made once) in collection order: started first, none of them is left running alone at the
# end. A module not named here keeps its place after them.
SLOWEST_FIRST = (
    "test_demo.py", "test_serve.py", "test_seed_sweep.py", "test_hostile.py", "test_topics.py",
    "test_serve_accounts.py", "test_mistake_messages.py", "test_release.py", "test_batch.py",
    "test_distributed.py", "test_serve_browser.py", "test_engine.py", "test_similarity_bounds.py",
    "test_export.py", "test_file_names.py", "test_dispatch_bans.py", "test_timing.py",
    "test_bad_input.py", "test_replies.py", "test_host.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: modules stay whole


_STARTED = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No worker cgroup outlives the test run: a group made during this run whose zygote has
    ended is a leak. It fails the run and is removed, so that it cannot fail a later one."""
    from grader.isolation import cgroup

    base, _ = cgroup.find_base()
    if base is None:
        return
    leaked = []
    for parent in {base.memory, base.cpu}:
        for name in os.listdir(parent):
            if not name.startswith(cgroup.PREFIX):
                continue
            path = os.path.join(parent, name)
            zygote = name[len(cgroup.PREFIX):].split("-")[0]
            if zygote.isdigit() and not Path(f"/proc/{zygote}").exists() and \
                    os.stat(path).st_mtime >= _STARTED - 1:
                leaked.append(path)
    if leaked:
        print(f"\nworker cgroups left behind: {sorted(leaked)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        for path in leaked:
            with contextlib.suppress(OSError):
                os.rmdir(path)
