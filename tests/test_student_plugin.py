"""pytest as the student's runner: in a fresh release, `python -m pytest assignments/<topic>` runs
the public tests on the student's own code with the grader's messages, and the plugin leaves
every other pytest session alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from grader.student.check import split_args
from grader.student.report import cap_output
from grader.course import Course
from grader.publish.release import build

TOPIC = "linear_regression"
HIDDEN = 22


@pytest.fixture(scope="module")
def release(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student repository as `grader release` builds it (without its slow verification)."""
    out = tmp_path_factory.mktemp("release") / "students"
    build(course, out, [TOPIC, "metrics"], {TOPIC: HIDDEN, "metrics": 37})
    return out


def installed(release: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a student who ran `pip install -e .` in the release: the release's
    grader on the path, and the pytest11 entry point its pyproject.toml declares registered
    (a distribution's metadata, as pip writes it)."""
    project = tomllib.loads((release / "pyproject.toml").read_text())["project"]
    points = project["entry-points"]["pytest11"]
    info = tmp_path / "site" / "dl_grader-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dl-grader\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS",
                        "PYTEST_CURRENT_TEST", "GRADER_COURSE")}
    env["PYTHONPATH"] = os.pathsep.join([str(release), str(tmp_path / "site")])
    return env


def pytest_in(release: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=release, env=env,
                          capture_output=True, text=True, timeout=600)


def before_short_summary(out: str) -> str:
    """pytest's output up to its short test summary, whose lines repeat each failure's message
    as far as the terminal's width allows (so how often depends on the width)."""
    return out.split("short test summary info")[0]


def student_copy(release: Path, tmp_path: Path, source: str) -> Path:
    """The release with the student's ``linear_regression.py``."""
    repo = tmp_path / "repo"
    shutil.copytree(release, repo)
    (repo / "assignments" / TOPIC / f"{TOPIC}.py").write_text(source)
    return repo


def test_correct_code_passes_and_wrong_code_fails_with_the_graders_message(
        release: Path, course: Course, tmp_path: Path) -> None:
    solution = course.solution(TOPIC).read_text()
    repo = student_copy(release, tmp_path, solution)
    env = installed(repo, tmp_path)
    done = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    assert f"public tests passed — {HIDDEN} more hidden tests will grade this" in done.stdout

    # fit_linear without the intercept: the grader's comparison and hint, not a bare assert.
    wrong = solution.replace("return fit_ridge(X, y, 0.0)",
                             "return np.linalg.lstsq(X, y, rcond=None)[0], 0.0", 1)
    assert wrong != solution
    (repo / "assignments" / TOPIC / f"{TOPIC}.py").write_text(wrong)
    done = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 5 passed" in done.stdout
    assert "fit_linear(X, y) → w: 2 of 2 values differ" in done.stdout
    assert "first at [0]: expected 2.0, got 2.33333" in done.stdout
    assert f"FAIL {TOPIC}: 5/6 public tests passed" in done.stdout
    assert f"{HIDDEN} hidden tests will grade this topic" in done.stdout
    assert "total: 5/6 public tests passed in 1 topic" in done.stdout
    assert "Traceback" not in done.stdout and "\x1b[" not in done.stdout  # no colour in a pipe


def test_what_grading_gives_full_marks_passes_the_students_check_in_every_topic(
        course: Course, tmp_path: Path) -> None:
    """Each topic's reference, then each of its correct alternatives, passes its public tests in
    `grader check` on the student's machine, where their code runs in-process: what their
    function raises is read as grading reads it (conv's `assert_raises` of a window that does
    not fit failed the reference there)."""
    topics = course.topics()
    repo = tmp_path / "students"
    build(course, repo, topics, {t: 1 for t in topics})
    env = installed(repo, tmp_path)
    alternatives = {t: course.alternatives(t) for t in topics}
    rounds = [{t: course.solution(t) for t in topics}]
    rounds += [{t: files[i] for t, files in alternatives.items() if i < len(files)}
               for i in range(max(len(files) for files in alternatives.values()))]
    for files in rounds:
        for topic in topics:  # a topic may import another's module (model_selection)
            shutil.copy(files.get(topic, course.solution(topic)),
                        repo / "assignments" / topic / f"{topic}.py")
        done = subprocess.run([sys.executable, "-m", "grader", "check", *files], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=600)
        told = {t: str(f.relative_to(course.reference)) for t, f in files.items()}
        assert done.returncode == 0, f"{told}\n{done.stdout}{done.stderr}"
        assert f"in {len(files)} topic" in done.stdout and "(all passed)" in done.stdout, \
            done.stdout

    # And what must raise but does not, or raises something else, fails in grading's words.
    stub = repo / "assignments" / "conv" / "conv.py"
    shutil.copy(course.reference / "conv" / "mutants" / "no_size_validation.py", stub)
    done = subprocess.run([sys.executable, "-m", "grader", "check", "conv"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "conv_output_size(2, 5) (the window does not fit) should raise ValueError, but " \
        "returned -2" in done.stdout, done.stdout
    stub.write_text(course.solution("conv").read_text().replace(
        "if size < 1:\n        raise ValueError(", "if size < 1:\n        raise IndexError(", 1))
    done = subprocess.run([sys.executable, "-m", "grader", "check", "conv"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "should raise ValueError, but raised IndexError instead: a window of 5" in done.stdout, \
        done.stdout


# What a check of a topic's ``.py`` has no use for, and the student would wait for each run: torch
# for a NumPy topic, the notebook reader, and the results model and its visibility rules (the
# engine's, for a grading's results).
NOT_NEEDED = ("torch", "grader.grading.notebook", "grader.results.model",
              "grader.results.visibility")


def test_a_numpy_topic_runs_without_importing_what_it_does_not_need(
        release: Path, course: Course, tmp_path: Path) -> None:
    repo = student_copy(release, tmp_path, course.solution(TOPIC).read_text())
    env = installed(repo, tmp_path)
    code = ("import sys, pytest\n"
            f"rc = pytest.main(['assignments/{TOPIC}', '-q', '-p', 'no:hypothesispytest'])\n"
            f"print('imported:', [m for m in {NOT_NEEDED!r} if m in sys.modules])\n"
            "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    assert "imported: []" in done.stdout


def test_problems_are_told_once_and_point_at_the_students_file(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = course.solution(TOPIC).read_text()
    # numpy.polyfit (banned) reached from two tested functions, one of which prints a lot,
    # and a crash.
    source = source.replace("import numpy as np", "import numpy as np\n\n\ndef _line(x, y):\n"
                            "    return tuple(np.polyfit(x, y, 1))\n", 1)
    source = re.sub(r"(def fit_univariate\(.*?\n    \"\"\"\n)",
                    r"\1    _line(x, y)\n    for i in range(500):\n        print('step', i)\n",
                    source, count=1, flags=re.S)
    source = re.sub(r"(def fit_ridge\(.*?\n    \"\"\"\n)", r"\1    _line(X[:, 0], y)\n", source,
                    count=1, flags=re.S)
    source = re.sub(r"(def gradient_step\(.*?:\n)", r"\1    raise ValueError('oops')\n", source,
                    count=1, flags=re.S)
    repo = student_copy(release, tmp_path, source)
    env = installed(repo, tmp_path)
    done = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    stub = f"assignments/{TOPIC}/{TOPIC}.py"
    # The banned call: explained once, with its lines, then referred to.
    assert before_short_summary(out).count("numpy.polyfit is not allowed") == 1, out
    assert re.search(rf"{re.escape(stub)}: line \d+ in _line, which fit_univariate calls", out)
    assert "uses numpy.polyfit, which this exercise does not allow: see " \
        "test_fit_univariate_small" in out
    # The crash names the student's file and line, not a copy.
    assert "gradient_step raised ValueError: oops" in out
    assert re.search(rf'File "{re.escape(stub)}", line \d+, in gradient_step', out)
    assert "/tmp/grader-sub-" not in out
    # Printed output is shown, cut short.
    assert "step 0" in out and "step 499" not in out and "more lines cut" in out

    # A syntax error: once, not once per test.
    (repo / stub).write_text(source + "\ndef broken(:\n")
    done = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    assert done.returncode == 1
    assert before_short_summary(done.stdout).count("has a syntax error") == 1, done.stdout
    assert f'File "{stub}", line' in done.stdout
    assert before_short_summary(done.stdout).count(
        f"{TOPIC}.py does not import: see test_fit_univariate_small") == 5


def test_a_recursion_without_end_is_named_with_its_line_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = course.solution(TOPIC).read_text().replace(
        "    return w - lr * grad_w, float(b - lr * grad_b)",
        "    return gradient_step(X, y, w - lr * grad_w, b, lr)", 1)
    repo = student_copy(release, tmp_path, source)
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert "gradient_step raised RecursionError: maximum recursion depth exceeded" in out, out
    assert re.search(r"Hint: gradient_step calls itself over and over: line \d+ "
                     r"\(`return gradient_step\(X, y, w - lr \* grad_w, b, lr\)`\) leads "
                     r"back into gradient_step, until Python stops", out), out


def test_data_loaded_at_the_top_level_is_told_to_go_under_the_main_guard_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = course.solution(TOPIC).read_text().replace(
        "import numpy as np", "import numpy as np\n_data = np.load('my_data.npy')", 1)
    repo = student_copy(release, tmp_path, source)
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert f"{TOPIC}.py raised FileNotFoundError while being imported" in out, out
    assert "Hint: your code reads a file or folder while the module is imported. Every line at " \
        "the top level of a module (every code cell of a notebook) runs whenever it is " \
        "imported" in out, out
    assert 'under `if __name__ == "__main__":`' in out, out


def test_a_relative_import_is_told_to_import_by_name_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = course.solution(TOPIC).read_text().replace(
        "import numpy as np", "import numpy as np\nfrom .helpers import SCALE", 1)
    repo = student_copy(release, tmp_path, source)
    (repo / "assignments" / TOPIC / "helpers.py").write_text("SCALE = 1.0\n")
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert "Hint: `from .helpers import SCALE` is a relative import, which only a package has. " \
        "When it is graded, your modules lie in one folder beside each other, in no package: " \
        "write `import helpers`" in out, out


def test_outputs_returned_as_one_array_are_told_so_in_the_check(
        course: Course, tmp_path: Path) -> None:
    """bce_grad returning np.append(dw, db) unpacks, in the public test, into two scalars."""
    repo = tmp_path / "repo"
    build(course, repo, ["logistic_regression"], {"logistic_regression": 1})
    source = course.solution("logistic_regression").read_text()
    assert "    return X.T @ r / n, float(np.mean(r))" in source
    (repo / "assignments" / "logistic_regression" / "logistic_regression.py").write_text(
        source.replace("    return X.T @ r / n, float(np.mean(r))",
                       "    return np.append(X.T @ r / n, np.mean(r))"))
    done = pytest_in(repo, installed(repo, tmp_path), "assignments/logistic_regression", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert "bce_grad returned a NumPy array of shape (2,) and dtype float64, not a tuple of 2 " \
        "outputs: the test takes 2 outputs from what bce_grad returns" in out, out


def test_a_librarys_error_is_told_what_it_means_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    """predict with the weights as a row (1, d): NumPy's words, and what they mean; and a
    NotImplementedError a library raised is an error, not a stub left unwritten."""
    source = course.solution(TOPIC).read_text()
    assert "    return np.asarray(X, dtype=np.float64) @ w + b  # (n,)" in source
    source = source.replace("    return np.asarray(X, dtype=np.float64) @ w + b  # (n,)",
                            "    return np.asarray(X, dtype=np.float64) @ w[None, :] + b", 1)
    assert source.count("    return a, b\n") == 1
    source = source.replace("    return a, b\n",
                            "    import datetime\n    return datetime.tzinfo().utcoffset(a)\n")
    repo = student_copy(release, tmp_path, source)
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert "predict raised ValueError: matmul: Input operand 1 has a mismatch in its core " \
        "dimension 0" in out, out
    assert "Hint: the sizes of a matrix product did not fit: a @ b needs a's last size to " \
        "equal b's second-to-last" in out, out
    assert "fit_univariate raised NotImplementedError: a tzinfo subclass must implement " \
        "utcoffset()" in out, out
    assert "not implemented" not in out.replace("must implement", ""), out


def test_a_function_under_another_name_is_told_where_it_stands_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = course.solution(TOPIC).read_text()
    assert source.count("def predict(") == 1
    repo = student_copy(release, tmp_path, source.replace("def predict(", "def Predict("))
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    line = source.splitlines().index(next(x for x in source.splitlines()
                                          if x.startswith("def predict("))) + 1
    assert f"there is no function predict at the top level of {TOPIC}.py\n  Hint: your module " \
        f"defines Predict (line {line}), not predict: the tests call the statement's names " \
        "exactly, so rename it predict" in out, out


def test_a_module_saved_as_windows_1252_is_told_so_in_the_check(
        release: Path, course: Course, tmp_path: Path) -> None:
    source = 'AUTHOR = "Zoë"\n' + course.solution(TOPIC).read_text()
    repo = student_copy(release, tmp_path, "")
    (repo / "assignments" / TOPIC / f"{TOPIC}.py").write_bytes(
        source.encode("cp1252", errors="replace"))
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert f"{TOPIC}.py has a syntax error: it is not saved as UTF-8, the encoding Python reads: " \
        "line 1 holds the byte 0xeb (most likely saved as Windows-1252 or Latin-1, where it is " \
        "'ë'). Save it again as UTF-8" in out, out


def test_a_package_the_course_does_not_offer_fails_the_check_as_it_fails_grading(
        release: Path, course: Course, engine, tmp_path: Path) -> None:
    """pandas is installed beside the grader, but course.toml offers numpy, scipy and torch:
    where the student's code is graded the worker goes without it, and so does their check."""
    solution = course.solution(TOPIC).read_text()
    source = solution.replace("import numpy as np", "import numpy as np\nimport pandas as pd", 1)
    repo = student_copy(release, tmp_path, source)
    env = installed(repo, tmp_path)
    done = subprocess.run([sys.executable, "-m", "grader", "check", TOPIC], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    from grader.grading.engine import Options

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"{TOPIC}.py").write_text(source)
    graded = engine.grade(tmp_path / "sub", tmp_path / "out", Options(topics=(TOPIC,)))
    assert graded.topic(TOPIC).score == 0
    said = graded.topic(TOPIC).note.splitlines()[0]
    assert said.startswith(f"{TOPIC}.py imports pandas, which the grading environment does not "
                           "offer"), said
    assert said in done.stdout  # the same words, before it is handed in
    assert "0/6 public tests passed" in done.stdout

    # What grading lets through, the check does too: a fallback where the import fails, a
    # file of the student's own by a name such a package also has, and the tests' own imports.
    (repo / "assignments" / TOPIC / "example.py").write_text("SCALE = 1.0\n")
    fallback = solution.replace("import numpy as np", (
        "import numpy as np\nimport example\ntry:\n    import pandas as pd\n"
        "except ImportError:\n    pd = None\n"), 1)
    (repo / "assignments" / TOPIC / f"{TOPIC}.py").write_text(fallback)
    (repo / "assignments" / TOPIC / "test_public.py").write_text(
        (repo / "assignments" / TOPIC / "test_public.py").read_text() +
        "\n\ndef test_the_tests_own_import():\n    import pandas\n")
    done = subprocess.run([sys.executable, "-m", "grader", "check", TOPIC], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7/7 public tests passed" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def banning_release(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of two topics that ban part of SciPy (conv: scipy.ndimage and scipy.signal;
    embeddings: scipy.spatial), one that bans none of it, and one that bans part of torch
    (attention: torch.onnx), and one that bans autograd (transformer)."""
    out = tmp_path_factory.mktemp("release") / "students"
    topics = ["conv", "embeddings", TOPIC, "attention", "transformer"]
    build(course, out, topics, {t: 1 for t in topics})
    return out


def test_a_library_the_topic_bans_fails_the_check_as_it_fails_grading(
        banning_release: Path, course: Course, engine, tmp_path: Path) -> None:
    """Where a topic's code is graded, the worker goes without the libraries it bans and every
    module that imports one (scipy.stats needs scipy.ndimage): the check refuses the same
    imports, in grading's words, and only in the topic that bans them."""
    from grader.grading.engine import Options

    repo = tmp_path / "repo"
    shutil.copytree(banning_release, repo)
    env = installed(repo, tmp_path)

    def check(topic: str, source: str) -> subprocess.CompletedProcess:
        (repo / "assignments" / topic / f"{topic}.py").write_text(source)
        return subprocess.run([sys.executable, "-m", "grader", "check", topic], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=600)

    def importing(topic: str, line: str) -> str:
        return course.solution(topic).read_text().replace(
            "import numpy as np", f"import numpy as np\n{line}", 1)

    stats = importing("conv", "import scipy.stats")
    done = check("conv", stats)
    assert done.returncode == 1 and "0/5 public tests passed" in done.stdout, done.stdout
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "conv.py").write_text(stats)
    graded = engine.grade(tmp_path / "sub", tmp_path / "out", Options(topics=("conv",)))
    said = graded.topic("conv").note.splitlines()[0]
    assert said == ("conv.py raised ModuleNotFoundError while being imported: scipy.stats needs "
                    "scipy.ndimage, which is not available in this exercise: write it without "
                    "scipy.stats"), said
    assert said in done.stdout  # the same words, before it is handed in

    for topic, line, told in [
            ("conv", "from scipy import ndimage", "scipy.ndimage is not available in this "
             "exercise: write it without scipy.ndimage"),
            ("embeddings", "from scipy.optimize import minimize", "scipy.optimize needs "
             "scipy.spatial, which is not available in this exercise: write it without "
             "scipy.optimize")]:
        done = check(topic, importing(topic, line))
        assert done.returncode == 1 and f"{topic}.py raised ModuleNotFoundError while being " \
            f"imported: {told}" in done.stdout, done.stdout

    # Imported where one function runs, it fails that function's test alone, as in grading.
    lazy = course.solution("conv").read_text() + (
        "\n\n_avg = avg_pool_forward\n\n\ndef avg_pool_forward(*args):\n"
        "    import scipy.stats\n    return _avg(*args)\n")
    done = check("conv", lazy)
    assert done.returncode == 1 and "4/5 public tests passed" in done.stdout, done.stdout
    assert "test_avg_pool_small: avg_pool_forward raised ModuleNotFoundError: scipy.stats " \
        "needs scipy.ndimage" in done.stdout, done.stdout

    # A topic that bans none of it imports the same modules, and scipy itself is everyone's.
    done = check(TOPIC, importing(TOPIC, "import scipy.stats, scipy.optimize, scipy.ndimage"))
    assert done.returncode == 0, done.stdout + done.stderr
    done = check("conv", importing("conv", "import scipy"))
    assert done.returncode == 0, done.stdout + done.stderr

    # torch's compiler imports torch.onnx, which attention bans; grading never runs it (a
    # compiled function is graded as written), so the check does not refuse what it imports.
    compiled = course.solution("attention").read_text() + (
        "\n\nscaled_dot_product_attention = torch.compile(scaled_dot_product_attention, "
        "backend='eager')\n")
    done = check("attention", compiled)
    assert done.returncode == 0, done.stdout + done.stderr
    done = check("attention", course.solution("attention").read_text().replace(
        "import torch\n", "import torch\nimport torch.onnx\n", 1))
    assert "torch.onnx is not available in this exercise" in done.stdout, done.stdout


def test_autograd_where_the_topic_bans_it_fails_the_check_as_it_fails_grading(
        banning_release: Path, course: Course, engine, tmp_path: Path) -> None:
    """transformer's layer_norm_backward is written by hand: a worker records no graph there.
    A backward left to autograd fails the check in grading's words, also where the student's
    code catches the refusal; the reference passes."""
    from grader.grading.engine import Options

    repo = tmp_path / "repo"
    shutil.copytree(banning_release, repo)
    env = installed(repo, tmp_path)
    mutant = (course.reference / "transformer" / "mutants" / "backward_by_autograd.py").read_text()
    caught = mutant.replace("    out.backward(dout)\n", "    try:\n        out.backward(dout)\n"
                            "    except BaseException:\n        pass\n", 1)
    assert caught != mutant
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "transformer.py").write_text(mutant)
    graded = engine.grade(tmp_path / "sub", tmp_path / "out",
                          Options(topics=("transformer",), kinds=("public",)))
    [said] = [t.message for t in graded.tests if t.name == "test_layer_norm_forward_and_backward"]
    assert said.startswith("torch.Tensor.backward is not allowed here (transformer.py, line "), said
    for source in (mutant, caught):
        (repo / "assignments" / "transformer" / "transformer.py").write_text(source)
        done = subprocess.run([sys.executable, "-m", "grader", "check", "transformer"], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 1 and "5/6 public tests passed" in done.stdout, done.stdout
        line = source.splitlines().index("        out.backward(dout)" if source is caught
                                         else "    out.backward(dout)") + 1
        told = re.sub(r"line \d+", f"line {line}", said.splitlines()[0])
        assert f"test_layer_norm_forward_and_backward: {told}" in done.stdout, done.stdout
    (repo / "assignments" / "transformer" / "transformer.py").write_text(
        course.solution("transformer").read_text())
    done = subprocess.run([sys.executable, "-m", "grader", "check", "transformer"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_files_beside_the_module_import_in_the_check_as_in_grading_and_folders_do_not(
        release: Path, course: Course, engine, tmp_path: Path) -> None:
    """Grading stages the Python files beside a module, flat, and no folder: the student's
    check finds a helper file beside their module, and fails a helper folder in the words
    grading uses."""
    from grader.grading.engine import Options

    solution = course.solution(TOPIC).read_text()
    uses = solution.replace("import numpy as np", "import numpy as np\nfrom util import TWO", 1)
    repo = student_copy(release, tmp_path, uses)
    folder = repo / "assignments" / TOPIC
    (folder / "util.py").write_text("TWO = 2\n")
    env = installed(repo, tmp_path)
    check = [sys.executable, "-m", "grader", "check", TOPIC]
    done = subprocess.run(check, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "6/6 public tests passed" in done.stdout, \
        done.stdout + done.stderr

    (folder / "util.py").unlink()
    (folder / "util").mkdir()
    (folder / "util" / "__init__.py").write_text("TWO = 2\n")
    done = subprocess.run(check, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    (tmp_path / "sub" / "util").mkdir(parents=True)
    (tmp_path / "sub" / f"{TOPIC}.py").write_text(uses)
    (tmp_path / "sub" / "util" / "__init__.py").write_text("TWO = 2\n")
    graded = engine.grade(tmp_path / "sub", tmp_path / "out", Options(topics=(TOPIC,)))
    said = graded.topic(TOPIC).note.splitlines()[0]
    assert said.startswith(f"{TOPIC}.py imports util, a folder beside it"), said
    assert said in done.stdout

    # A folder named like an installed package: grading imports the package, and so does the check.
    (folder / "util").rename(folder / "scipy")
    (folder / f"{TOPIC}.py").write_text(solution.replace("import numpy as np",
                                                         "import numpy as np\nimport scipy", 1))
    done = subprocess.run(check, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_grader_check_passes_pytest_options_and_totals_topics(
        release: Path, course: Course, tmp_path: Path) -> None:
    repo = student_copy(release, tmp_path, course.solution(TOPIC).read_text())
    env = installed(repo, tmp_path)
    done = subprocess.run([sys.executable, "-m", "grader", "check", TOPIC, "metrics", "--",
                           "-k", "fit_linear or accuracy"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr  # metrics is still a stub
    assert "without a sandbox" in out
    assert f"ok   {TOPIC}: 1/1 public tests passed" in out
    assert "FAIL metrics: 0/1 public tests passed" in out
    assert "test_accuracy_and_error_rate: accuracy: not implemented" in out
    assert "total: 1/2 public tests passed in 2 topics (1 of 2 topics failing)" in out


def test_the_plugin_leaves_other_sessions_alone(release: Path, tmp_path: Path) -> None:
    env = installed(release, tmp_path)
    # A test file called test_public.py that is not a course's: no student fixture.
    other = tmp_path / "project" / "tests"
    other.mkdir(parents=True)
    (other / "test_public.py").write_text("def test_x(student):\n    pass\n")
    (other / "test_other.py").write_text("def test_y(student):\n    pass\n")
    done = pytest_in(release, env, str(other), "-q", "-p", "no:cacheprovider")
    assert "fixture 'student' not found" in done.stdout and "2 error" in done.stdout, done.stdout
    assert "grader" not in done.stdout.split("short test summary")[0].split("ERRORS")[0]
    # Beside a public test file, another file still has no student fixture.
    mixed = release / "assignments" / TOPIC / "test_mine.py"
    mixed.write_text("def test_z(student):\n    pass\n")
    try:
        done = pytest_in(release, env, f"assignments/{TOPIC}/test_public.py", str(mixed), "-q")
    finally:
        mixed.unlink()
    assert "fixture 'student' not found" in done.stdout, done.stdout
    # The public tests did get it.
    assert before_short_summary(done.stdout).count("not implemented") == 6, done.stdout


def test_the_engine_grading_session_is_not_touched() -> None:
    from grader.student import plugin as student_plugin
    from grader.grading.plugin import GraderPlugin

    class Config:
        def __init__(self, plugins: list[object]) -> None:
            self.pluginmanager = type("PM", (), {"get_plugins": lambda _: plugins})()

    assert student_plugin.in_grading_session(Config([GraderPlugin(None)]))  # type: ignore[arg-type]
    assert not student_plugin.in_grading_session(Config([object()]))  # type: ignore[arg-type]


def test_split_args_and_cap_output() -> None:
    assert split_args(["a", "b", "-k", "fit", "-x"]) == (["a", "b"], ["-k", "fit", "-x"])
    assert split_args(["a"]) == (["a"], [])
    text = "".join(f"line {i}\n" for i in range(100))
    capped = cap_output(text)
    assert capped.startswith("line 0\n") and "line 19\n" in capped and "line 20\n" not in capped
    assert "80 more lines cut" in capped
    assert cap_output("short\n") == "short\n"
