"""One mistake, charged once, with a message that names it: real code graded by the hidden tests.

Each case is a classic mistake (a mutant, or a known piece of course or textbook code) graded on
several seeds: it must fail exactly the tests listed, whatever the seed, and the failure must
say what is wrong rather than what a generic hint guesses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest


from grader.course import Course
from grader.grading.engine import Options
from grader.results.visibility import student_view

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEEDS = (20261121, 7, 424242)


def _grade(engine, topic: str, source: str, tmp_path: Path, seed: int):
    sub = tmp_path / f"submission-{seed}"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(source)
    result = engine.grade(sub, tmp_path / f"out-{seed}", Options(topics=(topic,), seed=seed))
    assert not result.error, result.error
    return result


def _failed(result) -> dict[str, str]:
    return {t.name: t.message for t in result.tests if t.outcome != "passed"}


def _mutant(topic: str, name: str) -> str:
    return (ROOT / "reference" / topic / "mutants" / f"{name}.py").read_text()


def _solution_with(topic: str, old: str, new: str) -> str:
    source = COURSE.solution(topic).read_text()
    assert old in source, f"{old!r} is not in the {topic} solution"
    return source.replace(old, new)


def _check(engine, tmp_path: Path, topic: str, source: str, fails: set[str],
           says: str, never: tuple[str, ...] = ()) -> None:
    for seed in SEEDS:
        failed = _failed(_grade(engine, topic, source, tmp_path, seed))
        assert set(failed) == fails, f"seed {seed}: failed {sorted(failed)}, expected {sorted(fails)}"
        text = "\n".join(failed.values())
        assert re.search(says, text, re.IGNORECASE), f"seed {seed}: no {says!r} in\n{text}"
        for phrase in never:
            assert phrase not in text, f"seed {seed}: {phrase!r} in\n{text}"


# ------------------------------------------------------------------------- conventions, once


def test_dropout_that_drops_ties_loses_only_the_tie_test(engine, tmp_path: Path) -> None:
    # d2l's dropout keeps u > p: right everywhere except at u == p.
    _check(engine, tmp_path, "regularization", _mutant("regularization", "dropout_strict_inequality"),
           {"test_dropout_forward_u_equal_to_p_is_kept"},
           says=r"u == p.*u >= p", never=("all zeros", "still missing"))


# The public test about a convention is the student's own check of the hidden one: both grade it.
def test_relu_grad_of_one_at_zero_loses_only_the_tests_at_zero(engine, tmp_path: Path) -> None:
    _check(engine, tmp_path, "activations", _mutant("activations", "relu_grad_one_at_zero"),
           {"test_relu_derivative_at_zero", "test_derivative_at_zero[relu]"}, says=r"relu_grad\(0\) = 0")


def test_leaky_grad_at_zero_loses_only_the_tests_at_zero(engine, tmp_path: Path) -> None:
    _check(engine, tmp_path, "activations", _mutant("activations", "leaky_grad_one_at_zero"),
           {"test_leaky_relu_derivative_at_zero",
            "test_derivative_at_zero[leaky_relu]"}, says=r"leaky_relu_grad\(0, slope\) = slope")


# ------------------------------------------------------------------- numerical failures named

PINV_NORMAL_EQUATIONS = '''

def fit_univariate(x, y):
    A = np.stack([x, np.ones_like(x)], axis=1)  # (n, 2)
    a, b = np.linalg.pinv(A.T @ A) @ A.T @ y
    return float(a), float(b)
'''


def test_cancellation_at_a_large_mean_is_named_not_a_constant_factor(engine,
                                                                    tmp_path: Path) -> None:
    source = COURSE.solution("linear_regression").read_text() + PINV_NORMAL_EQUATIONS
    _check(engine, tmp_path, "linear_regression", source, {"test_fit_univariate_large_mean"},
           says=r"x ≈ 10⁶.*cancellation.*Centre x",
           never=("constant factor", "sign is wrong"))


# --------------------------------------------------------------------- classic mistakes named


def test_a_forgotten_intercept_is_named_with_b_and_no_conditioning_advice(engine,
                                                                          tmp_path: Path) -> None:
    result = _grade(engine, "linear_regression", _mutant("linear_regression", "no_intercept"),
                    tmp_path, SEEDS[0])
    failed = _failed(result)
    assert {"test_fit_linear_random", "test_fit_linear_ill_conditioned"} <= set(failed)
    random = failed["test_fit_linear_random"]
    assert "classic mistake: fit_linear forgets the intercept" in random, random
    assert re.search(r"Also wrong: fit_linear → b: expected -?[\d.]+, got 0", random), random
    ill = failed["test_fit_linear_ill_conditioned"]
    assert "→ b: expected" in ill and "XᵀX" not in ill, ill
    assert "classic mistake: fit_linear forgets the intercept" in ill, ill


def test_normal_equations_on_ill_conditioned_data_get_the_conditioning_advice(
        engine, tmp_path: Path) -> None:
    for seed in SEEDS:
        result = _grade(engine, "linear_regression",
                        _mutant("linear_regression", "normal_equation_inv"), tmp_path, seed)
        failed = _failed(result)
        assert set(failed) == {"test_fit_linear_ill_conditioned"}, sorted(failed)
        message = failed["test_fit_linear_ill_conditioned"]
        assert "right when the columns are well apart" in message and "lstsq" in message, message


# ------------------------------------------------------------------- one mistake, one charge

CLIPPED_POSTERIOR = '''

def posterior(X, w, b):
    z = np.asarray(X, dtype=np.float64) @ w + b  # (n,)
    p = np.exp(-np.logaddexp(0.0, -z))  # σ(z) without overflow
    return np.clip(p, 1e-8, 1 - 1e-8)
'''


def test_a_clipped_posterior_is_charged_by_the_tests_about_saturation_only(
        engine, tmp_path: Path) -> None:
    source = COURSE.solution("gaussian_classifier").read_text() + CLIPPED_POSTERIOR
    _check(engine, tmp_path, "gaussian_classifier", source,
           {"test_posterior_huge_logits", "test_posterior_stable"},
           says=r"clip")


# Mistakes of cost, not of value: finite differences give the reference's values (within the
# tests' tolerance) wherever they finish, and run out of time in the at-scale tests whatever the
# seed, 10 s of a busy CPU each; tests/test_topics.py grades each at one seed.
OF_COST = ("finite_differences",)


def _mutants(*topics: str) -> list:
    return [pytest.param(t, p.stem, id=f"{t}-{p.stem}") for t in topics for p in COURSE.mutants(t)
            if p.stem not in OF_COST]


# The topics whose tests were made seed-independent; each mistake fails the same tests on each seed.
SEED_CHECKED = ("gaussian_classifier", "regularization", "attention", "batchnorm", "gnn",
                "optimizers", "embeddings")


@pytest.mark.parametrize(("topic", "name"), _mutants(*SEED_CHECKED))
def test_a_mistake_fails_the_same_tests_whatever_the_seed(engine, tmp_path: Path, topic: str,
                                                          name: str) -> None:
    seen = {seed: sorted(_failed(_grade(engine, topic, _mutant(topic, name), tmp_path, seed)))
            for seed in SEEDS}
    assert len({tuple(v) for v in seen.values()}) == 1, seen


# ------------------------------------------------------------------------- nearest neighbours

# d2l's get_similar_tokens in NumPy: the k + 1 best, the first dropped as the word itself.
NEAREST_D2L = '''

def nearest(E, word_id, k):
    x = E[word_id]
    cos = E @ x / np.sqrt(np.sum(E * E, axis=1) * np.sum(x * x) + 1e-9)
    return np.argsort(-cos, kind="stable")[1:k + 1].astype(np.int64)
'''


def test_dropping_the_top_ranked_word_is_caught_at_every_seed(engine, tmp_path: Path) -> None:
    source = COURSE.solution("embeddings").read_text() + NEAREST_D2L
    _check(engine, tmp_path, "embeddings", source,
           {"test_nearest_with_the_words_vector_at_a_smaller_id", "test_nearest_of_a_zero_vector"},
           says=r"classic mistake: nearest drops the top-ranked word instead of word_id")


@pytest.mark.parametrize(("sims", "fails", "says"), [
    # 0/0 for a zero query: every similarity NaN, which sorts into the right order.
    ("sims = unit @ E[word_id] / norms[word_id]", {"test_nearest_of_a_zero_vector"},
     r"zero vector.*invalid value.*similarity 0"),
    # 0/0 for a zero candidate: its NaN sorts last, below the similarities under 0.
    ("sims = E @ E[word_id] / (norms * norms[word_id])",
     {"test_nearest_with_a_zero_vector_and_ties", "test_nearest_of_a_zero_vector"},
     r"classic mistake: nearest computes u·v / \(‖u‖ ‖v‖\) unguarded"),
], ids=["zero_query", "zero_candidate"])
def test_a_nan_similarity_for_a_zero_vector_is_caught_at_every_seed(engine, tmp_path: Path,
                                                                     sims, fails, says) -> None:
    source = _solution_with("embeddings", "sims = unit @ unit[word_id]", sims)
    _check(engine, tmp_path, "embeddings", source, fails, says=says)


# --------------------------------------------------------------- what the statements promise


def test_a_fully_masked_query_is_charged_only_where_the_statement_is_not_followed(
        engine, tmp_path: Path) -> None:
    # The statement: zero heads, then the output projection, so SA(x) = out_proj.bias there.
    _check(engine, tmp_path, "transformer",
           _mutant("transformer", "fully_masked_query_without_bias"),
           {"test_encoder_layer_fully_masked_query"},
           says=r"classic mistake: a query that may attend to no key gets SA\(x\) = 0")


def test_a_loss_averaged_over_padding_gets_one_hint_that_agrees(engine, tmp_path: Path) -> None:
    _check(engine, tmp_path, "seq2seq", _mutant("seq2seq", "loss_averaged_over_padding"),
           {"test_teacher_forcing_loss_ignores_padding[float64]",
            "test_teacher_forcing_loss_ignores_padding[float32]",
            "test_teacher_forcing_loss_pad_id_not_zero",
            "test_teacher_forcing_loss_stable_for_large_logits",
            "test_teacher_forcing_loss_ignores_padding"},
           says=r"classic mistake: the teacher-forcing loss divides by every position",
           never=("n − 1", "ddof"))


# ---------------------------------------------------------------------- what went wrong named


def test_a_stub_left_in_a_class_is_named_not_the_function_the_test_called(
        engine, tmp_path: Path) -> None:
    source = _solution_with(
        "autograd", "    def sum(self, axis: int | None = None) -> Tensor:\n",
        "    def sum(self, axis: int | None = None) -> Tensor:\n"
        "        raise NotImplementedError(\"Tensor.sum: not implemented yet\")\n")
    failed = _failed(_grade(engine, "autograd", source, tmp_path, SEEDS[0]))
    assert failed
    for name, message in failed.items():
        assert message.startswith("Tensor.sum: not implemented (run_program calls it)"), \
            f"{name}: {message}"


def test_a_broadcast_gradient_not_summed_back_is_named_not_a_numpy_traceback(
        engine, tmp_path: Path) -> None:
    failed = _failed(_grade(engine, "autograd", _mutant("autograd", "no_unbroadcast_in_place"),
                            tmp_path, SEEDS[0]))
    for name in ("test_broadcasting[row_vector]", "test_broadcasting[leading_axis]"):
        message = failed[name]
        assert "your backward raised ValueError: non-broadcastable output operand" in message
        assert "sum it over the axes broadcasting added or stretched" in message, message


def test_a_recursion_without_end_in_an_operator_is_named_not_blamed_on_backward(
        engine, tmp_path: Path) -> None:
    """An __rsub__ that leads back into itself fails every test that subtracts a tensor from a
    number: each says where the recursion is, in the student's view too, and none blames
    backward's walk, which only a deep graph overflows."""
    result = _grade(engine, "autograd", _mutant("autograd", "rsub_recurses"), tmp_path, SEEDS[0])
    failed = _failed(result)
    assert "test_op_with_a_python_number[rsub]" in failed and \
        "test_chain_of_ten_thousand_operations" not in failed, sorted(failed)
    shown = {t.name: t for t in student_view(result).result.tests}
    for name, message in failed.items():
        assert "__rsub__ calls itself over and over: line" in message, f"{name}: {message}"
        said = shown[name].message
        assert "topological" not in message + said, name
        if shown[name].kind == "hidden":  # where, in the words a hidden test's message may use
            assert re.search(r"Hint: your traceback ends in the same line over and over "
                             r"\(autograd\.py, line \d+\)", said), f"{name}: {said}"
        else:
            assert "__rsub__ calls itself over and over" in said, f"{name}: {said}"
    deep = _failed(_grade(engine, "autograd", _mutant("autograd", "recursive_topo_sort"),
                          tmp_path, SEEDS[1]))
    assert set(deep) == {"test_chain_of_ten_thousand_operations"}
    assert "a recursive walk (building the topological order by recursion)" in \
        deep["test_chain_of_ten_thousand_operations"]


def test_a_shape_error_in_a_forward_operation_is_not_blamed_on_backward(
        engine, tmp_path: Path) -> None:
    """A __matmul__ that multiplies elementwise raises NumPy's broadcasting error in the forward
    pass: the failures point at __matmul__, and none tells the student their backward raised it
    or to sum a broadcast gradient back, the hint for that error in backward."""
    failed = _failed(_grade(engine, "autograd", _mutant("autograd", "matmul_elementwise"),
                            tmp_path, SEEDS[0]))
    raised = {name: m for name, m in failed.items() if "could not be broadcast" in m}
    assert "test_matmul[rectangular]" in raised and "test_two_layer_network" in raised, failed
    for name, message in raised.items():
        assert "your backward raised" not in message and "sum it over the axes" not in message, \
            f"{name}: {message}"
        assert re.search(r"line \d+, in __matmul__", message), f"{name}: {message}"


# ----------------------------------------------------------- what a message may claim

def test_an_accuracy_averaged_one_vs_rest_is_named(engine, tmp_path: Path) -> None:
    source = _solution_with(
        "metrics", "    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))\n",
        "    classes = np.union1d(y_true, y_pred)\n"
        "    return float(np.mean([np.mean((np.asarray(y_true) == c) == (np.asarray(y_pred) == c))"
        " for c in classes]))\n")
    _check(engine, tmp_path, "metrics", source,
           {"test_accuracy_and_error_rate_random[accuracy]", "test_accuracy_and_error_rate"},
           says=r"classic mistake: accuracy is the mean of each class's one-vs-rest accuracy")


def test_a_dropout_without_the_scaling_is_not_told_the_rest_matches(engine, tmp_path: Path) -> None:
    # No 1/(1 − p), and u > p: in the tie test, the entries that are not ties are kept unscaled.
    source = _solution_with("regularization",
                            "    keep = u >= p  # (x.shape) bool\n    return x * keep / (1.0 - p), keep",
                            "    keep = u > p  # (x.shape) bool\n    return x * keep, keep")
    for seed in SEEDS:
        failed = _failed(_grade(engine, "regularization", source, tmp_path, seed))
        tie = failed["test_dropout_forward_u_equal_to_p_is_kept"]
        assert "matches" not in tie and "u >= p" not in tie, tie
        assert "test_dropout_forward_train" in failed


def test_a_beam_that_finishes_at_max_len_only_for_one_penalty_is_caught(engine,
                                                                         tmp_path: Path) -> None:
    source = _solution_with("seq2seq", "if token == eos or t == max_len:",
                            "if token == eos or (t == max_len and alpha == 0.5):")
    for seed in SEEDS:  # a random model may reach max_len too: the test about it always does
        failed = _failed(_grade(engine, "seq2seq", source, tmp_path, seed))
        message = failed["test_beam_when_nothing_finishes_before_max_len"]
        assert re.search(r"alpha=0\.0\) where eos never wins.*expected 2, got 0", message), message
