"""Feedback that points the right way: known mistakes graded through the engine, and the message
each gets checked against what the statement teaches (and against the misleading generic hint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options
from grader.checks.topic_hints import current_topic, topic_hint

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEED = 20261121
GENERIC_NAN = "often after an overflow in exp"


def _grade(engine, topic: str, source: str, tmp_path: Path):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def _mutant(topic: str, name: str) -> str:
    return (ROOT / "reference" / topic / "mutants" / f"{name}.py").read_text()


def _failed(result, test: str) -> list:
    return [t for t in result.tests if t.name.startswith(test) and t.outcome != "passed"]


def test_log_of_softmax_is_taught_log_softmax(engine, tmp_path: Path) -> None:
    # Subtracts the row maximum, then takes log(softmax): log(0) for scores around 1e3.
    result = _grade(engine, "backprop", _mutant("backprop", "log_of_softmax"), tmp_path)
    (failure,) = _failed(result, "test_mlp_loss_large_scores_stay_finite")
    assert "divide by zero encountered in log" in failure.message
    assert "log-softmax" in failure.message and "z − max(z) − log Σ exp(z − max(z))" in failure.message
    assert "do not clip" in failure.message
    assert "handle that case explicitly" not in failure.message  # the hint that led to clipping
    statement = (ROOT / "assignments" / "backprop" / "README.md").read_text()
    assert "log-softmax" in statement and "log(0)" in statement


def test_fully_masked_attention_row_gets_the_statements_rule(engine, tmp_path: Path) -> None:
    result = _grade(engine, "attention", _mutant("attention", "nan_rows"), tmp_path)
    failures = _failed(result, "test_sdpa_fully_masked_query_gives_zeros") + _failed(
        result, "test_mha_batch_mask_with_fully_masked_query")
    assert failures
    for failure in failures:
        assert "NaN" in failure.message
        assert "all-zero weights" in failure.message, failure.message
        assert GENERIC_NAN not in failure.message


def test_zero_denominator_metric_gets_the_statements_rule(engine, tmp_path: Path) -> None:
    result = _grade(engine, "metrics", _mutant("metrics", "zero_division_nan"), tmp_path)
    failures = _failed(result, "test_binary_zero_denominators")
    assert {f.name.split("[")[1].rstrip("]") for f in failures} == {"precision", "recall", "f1_score"}
    for failure in failures:
        assert "you returned nan" in failure.message
        assert "the score is 0.0" in failure.message and "before you divide" in failure.message
        assert GENERIC_NAN not in failure.message


def test_metric_warning_on_zero_denominator_gets_the_statements_rule(engine, tmp_path) -> None:
    result = _grade(engine, "metrics", _mutant("metrics", "zero_division_warns"), tmp_path)
    messages = [t.message for t in result.tests if "RuntimeWarning" in t.message]
    assert messages
    assert all("the score is 0.0" in m for m in messages), messages
    assert not any("rearrange it so that case cannot happen" in m for m in messages)


def test_overlapping_max_pool_that_overwrites_is_named_for_it(engine, tmp_path: Path) -> None:
    result = _grade(engine, "conv", _mutant("conv", "overlap_overwrites"), tmp_path)
    # Ties are handled right: the test about ties passes; the one about overlap says what differs.
    assert not _failed(result, "test_max_pool_backward_ties_go_to_first_maximum")
    failures = _failed(result, "test_max_pool_backward_overlapping_windows_add_up")
    assert len(failures) == 2
    for failure in failures:
        assert "with overlapping windows" in failure.message
        assert "gradient is lost where windows overlap" in failure.message
        assert "add (+=), do not assign (=)" in failure.message
        assert "tied" not in failure.message


def test_tie_to_every_maximum_fails_only_the_ties_test(engine, tmp_path: Path) -> None:
    result = _grade(engine, "conv", _mutant("conv", "tie_to_every_max"), tmp_path)
    assert _failed(result, "test_max_pool_backward_ties_go_to_first_maximum")
    assert not _failed(result, "test_max_pool_backward_overlapping_windows_add_up")


def test_adam_without_bias_correction_is_told_its_step_size(engine, tmp_path: Path) -> None:
    result = _grade(engine, "optimizers", _mutant("optimizers", "adam_no_bias_correction"),
                    tmp_path)
    failures = [t for t in result.tests if t.outcome != "passed"]
    first = _failed(result, "test_adam_first_step") + _failed(result, "test_adam_two_steps")
    assert len(first) == 2  # the hidden test and the public one
    for failure in first:
        assert "every entry of w moved 3.16× too far" in failure.message, failure.message
        assert "bias correction" in failure.message
        assert "constant factor" not in failure.message
    # Where the step is not a constant multiple (eps matters), no step hint is invented.
    (custom,) = _failed(result, "test_adam_custom_hyperparameters")
    assert "too far" not in custom.message
    assert all("adam" in t.name for t in failures)


def test_missing_gelu_costs_only_the_gelu_point_at_zero(engine, tmp_path: Path) -> None:
    source = COURSE.solution("activations").read_text().replace(
        '    """d/dx x·Φ(x) = Φ(x) + x·φ(x), φ the standard normal density.  x: any shape → same shape."""',
        '    """Not written yet."""\n    raise NotImplementedError("gelu_grad")', 1)
    assert "NotImplementedError" in source
    result = _grade(engine, "activations", source, tmp_path)
    at_zero = {t.name: t for t in result.tests if t.name.startswith("test_derivative_at_zero[")}
    assert set(at_zero) == {f"test_derivative_at_zero[{fn}]"
                            for fn in ("relu", "leaky_relu", "sigmoid", "tanh", "gelu")}
    assert at_zero["test_derivative_at_zero[gelu]"].outcome == "failed"
    for fn in ("relu", "leaky_relu", "sigmoid", "tanh"):
        assert at_zero[f"test_derivative_at_zero[{fn}]"].outcome == "passed"
    assert sum(t.max_score for t in at_zero.values()) == 5


# ------------------------------------------------------------------------------ the table


@pytest.mark.parametrize(("nodeid", "topic"), [
    ("reference/metrics/test_hidden.py::test_x[a] (call)", "metrics"),
    ("assignments/backprop/test_public.py::test_y (call)", "backprop"),
    ("test_public.py::test_y (call)", None),
    ("", None),
])
def test_current_topic_is_read_from_the_running_test(monkeypatch, nodeid, topic) -> None:
    monkeypatch.setenv("PYTEST_CURRENT_TEST", nodeid)
    assert current_topic() == topic


def test_topic_hint_needs_the_right_topic_and_function(monkeypatch) -> None:
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "reference/metrics/test_hidden.py::t (call)")
    assert "the score is 0.0" in topic_hint("f1_score → value", "nan")
    assert "the score is 0.0" in topic_hint("precision(y_true, y_pred)",
                                            "invalid value encountered in scalar divide")
    assert topic_hint("accuracy", "nan") is None  # no rule of its own: the generic hint stays
    assert topic_hint("f1_score", "inf") is None
    # The same function name in another topic does not borrow the metrics rule.
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "reference/other/test_hidden.py::t (call)")
    assert topic_hint("f1_score", "nan") is None
    # Where the topic cannot be read, the function alone decides.
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "test_public.py::t (call)")
    assert "log-softmax" in topic_hint("mlp_loss with scores around 1e3",
                                       "divide by zero encountered in log")
