"""The exam question bank: keys against independent oracles, sane and distinct variants, round trips."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
import torch.nn.functional as F
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from grader.exam.bank import Exam, ExamQuestion, exam_names, load_bank, load_exam
from grader.exam.grading import grade_variant
from grader.exam.keys import load_keys
from grader.exam.parts import LETTERS, Array, Choice, Number
from grader.exam.render import blank_answers_text, render_paper_html, render_paper_md
from grader.exam.variant import Maker, Variant

SECRET = b"test-secret-for-the-exam-bank-0123456789"
STUDENTS = [f"s{i:03d}" for i in range(12)]


@pytest.fixture(scope="module")
def bank(course):
    return load_bank(course)


@pytest.fixture(scope="module")
def every_kind(course, bank):
    """An exam with one question of every kind of the bank."""
    questions = tuple(ExamQuestion(f"q{i}", i, q, 3.0)
                      for i, q in enumerate(sorted(bank.values(), key=lambda q: q.kind), 1))
    return Exam("every-kind", "Every kind", "", "", questions)


@pytest.fixture(scope="module")
def maker(course, every_kind):
    return Maker(course, every_kind, SECRET, load_keys(course))


@pytest.fixture(scope="module")
def papers(maker):
    return {s: maker.paper(s) for s in STUDENTS}


def variants_of(papers, kind: str) -> list[Variant]:
    return [v for p in papers.values() for v in p.variants if v.q.question.kind == kind]


# --------------------------------------------------------------------------- the bank itself


def test_bank_has_twenty_kinds_across_the_topics(course, bank):
    assert len(bank) >= 20
    topics = {q.topic for q in bank.values()}
    assert topics >= {"conv", "metrics", "batchnorm", "logistic_regression", "linear_regression",
                      "gaussian_classifier", "optimizers", "regularization", "attention", "rnn",
                      "model_selection"}
    assert topics <= set(course.topics())
    kinds = {p.kind for q in bank.values() for p in q.parts}
    assert {"number", "array", "choice", "integer", "integers"} <= kinds


def test_every_kind_has_an_answer_function_and_is_in_an_exam(course, bank):
    keys = load_keys(course)
    assert set(keys) == set(bank)
    used = {q.question.kind for name in exam_names(course)
            for q in load_exam(course, name, bank).questions}
    assert used == set(bank), f"kinds in no exam: {sorted(set(bank) - used)}"


def test_multiple_choice_distractors_come_from_mutants(course, papers):
    mutants = {(t, p.stem) for t in course.topics() for p in course.mutants(t)}
    for p in papers.values():
        for v in p.variants:
            for part in v.parts:
                if isinstance(part, Choice):
                    from_mutants = [n for n, m in v.mistakes.items()
                                    if part.name in m.values and (v.q.question.topic, n) in mutants]
                    assert len(from_mutants) >= 2, v.q.question.kind
                    options = [np.asarray(o, dtype=float) for o in v.options[part.name]]
                    for i, a in enumerate(options):
                        for b in options[i + 1:]:  # at least 2 % apart: tellable by hand
                            gap = np.max(np.abs(a - b)) / max(np.abs(a).max(), np.abs(b).max())
                            assert gap > 0.02, (v.q.question.kind, v.options)


# ------------------------------------------------------------------ keys against the oracles


def _t(x: Any) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _labels(C: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    C = np.array(C)
    y_true = np.repeat(np.repeat(np.arange(len(C)), len(C)), C.ravel())
    y_pred = np.repeat(np.tile(np.arange(len(C)), len(C)), C.ravel())
    return y_true, y_pred


def _conv_size(p: dict) -> dict:
    out = F.conv2d(torch.zeros(1, 1, p["H"], p["W"]), torch.zeros(1, 1, p["KH"], p["KW"]),
                   stride=p["stride"], padding=p["padding"], dilation=p["dilation"])
    return {"height": out.shape[2], "width": out.shape[3]}


def _max_pool(p: dict) -> dict:
    x = _t(p["x"])[None, None].requires_grad_()
    F.max_pool2d(x, 2, 1).backward(_t(p["dout"])[None, None])
    return {"dx": x.grad[0, 0].numpy()}


def _binary(p: dict) -> dict:
    yt, yp = _labels(p["C"])
    return {"precision": skm.precision_score(yt, yp), "recall": skm.recall_score(yt, yp),
            "f1": skm.f1_score(yt, yp)}


def _macro(p: dict) -> dict:
    yt, yp = _labels(p["C"])
    return {"macro_precision": skm.precision_score(yt, yp, average="macro"),
            "macro_recall": skm.recall_score(yt, yp, average="macro"),
            "macro_f1": skm.f1_score(yt, yp, average="macro"),
            "micro_f1": skm.f1_score(yt, yp, average="micro")}


def _batchnorm(p: dict) -> dict:
    bn = torch.nn.BatchNorm1d(2, momentum=p["momentum"], eps=1e-5).double().train()
    with torch.no_grad():
        bn.weight.copy_(_t(p.get("gamma", [1.0, 1.0])))
        bn.bias.copy_(_t(p.get("beta", [0.0, 0.0])))
        bn.running_mean.copy_(_t(p["running_mean"]))
        bn.running_var.copy_(_t(p["running_var"]))
        out = bn(_t(p["x"]))
    return {"out": out.numpy(), "running_mean": bn.running_mean.numpy(),
            "running_var": bn.running_var.numpy()}


def _softmax_ce(p: dict) -> dict:
    Z = _t(p["Z"]).requires_grad_()
    loss = F.cross_entropy(Z, torch.tensor(p["y"]))
    loss.backward()
    return {"probs": torch.softmax(Z, 1).detach().numpy(), "loss": loss.item(),
            "dZ": Z.grad.numpy()}


def _bce(p: dict) -> dict:
    w, b = _t(p["w"]).requires_grad_(), _t(p["b"]).requires_grad_()
    loss = F.binary_cross_entropy_with_logits(_t(p["X"]) @ w + b, _t(p["y"]))
    loss.backward()
    return {"loss": loss.item(), "dw": w.grad.numpy(), "db": b.grad.item()}


def _gradient_step(p: dict) -> dict:
    w, b = _t(p["w"]).requires_grad_(), _t(p["b"]).requires_grad_()
    ((_t(p["X"]) @ w + b - _t(p["y"])) ** 2).mean().backward()
    return {"w": (w - p["lr"] * w.grad).detach().numpy(), "b": (b - p["lr"] * b.grad).item()}


def _gaussian(p: dict) -> dict:
    pts = np.array(p["points"], dtype=float)
    X1, X0 = pts[pts[:, 2] == 1, :2], pts[pts[:, 2] == 0, :2]
    n1, n0 = len(X1), len(X0)
    sigma = (n1 * np.cov(X1.T, bias=True) + n0 * np.cov(X0.T, bias=True)) / (n1 + n0)
    mu1, mu0 = X1.mean(0), X0.mean(0)
    inv = np.linalg.inv(sigma)
    return {"mu1": mu1, "mu0": mu0, "sigma": sigma, "w": inv @ (mu1 - mu0),
            "b": -0.5 * mu1 @ inv @ mu1 + 0.5 * mu0 @ inv @ mu0 + np.log(n1 / n0)}


def _adam(p: dict) -> dict:
    w = _t(p["w"]).requires_grad_()
    opt = torch.optim.Adam([w], lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=1e-8)
    w.grad = _t(p["g"])
    opt.step()
    state = opt.state[w]
    return {"m": state["exp_avg"].numpy(), "v": state["exp_avg_sq"].numpy(),
            "w": w.detach().numpy()}


def _momentum(p: dict) -> dict:
    w = _t(p["w"]).requires_grad_()
    opt = torch.optim.SGD([w], lr=p["lr"], momentum=p["mu"])
    opt.state[w]["momentum_buffer"] = _t(p["v"])
    w.grad = _t(p["g"])
    opt.step()
    return {"w": w.detach().numpy()}


def _rmsprop(p: dict) -> dict:
    g, s = np.array(p["g"]), np.array(p["s"])
    s = p["rho"] * s + (1 - p["rho"]) * g**2
    return {"s": s, "w": np.array(p["w"]) - p["lr"] * g / (np.sqrt(s) + 1e-8)}


def _dropout(p: dict) -> dict:
    x, u = np.array(p["x"]), np.array(p["u"])
    return {"out": np.where(u >= p["p"], x / (1 - p["p"]), 0.0)}


def _xavier(p: dict) -> dict:
    W = torch.empty(p["fan_out"], p["fan_in"], dtype=torch.float64)
    torch.nn.init.xavier_uniform_(W, generator=torch.Generator().manual_seed(0))
    a = float(np.sqrt(6 / (p["fan_in"] + p["fan_out"])))  # torch's documented bound
    assert W.abs().max().item() <= a
    return {"bound": a, "variance": a * a / 3}


def _attention(p: dict) -> dict:
    q, k, v = _t(p["q"]), _t(p["k"]), _t(p["v"])
    mask = torch.tensor(p["mask"], dtype=torch.bool)
    scores = (q @ k.T / np.sqrt(2)).masked_fill(~mask, float("-inf"))
    return {"weights": torch.softmax(scores, 1).numpy(),
            "out": F.scaled_dot_product_attention(q[None], k[None], v[None],
                                                  attn_mask=mask[None])[0].numpy()}


def _mha(p: dict) -> dict:
    E = p["E"]
    return {"head_dim": E // p["heads"], "count": 4 * E * E + 4 * E}


def _lstm(p: dict) -> dict:
    cell = torch.nn.LSTMCell(2, 1).double()
    with torch.no_grad():
        cell.weight_ih.copy_(_t(p["W_ih"]))
        cell.weight_hh.copy_(_t(p["W_hh"]))
        cell.bias_ih.copy_(_t(p["b_ih"]))
        cell.bias_hh.zero_()
        h, c = cell(_t([p["x"]]), (_t([[p["h"]]]), _t([[p["c"]]])))
    return {"c": c.item(), "h": h.item()}


def _gru(p: dict) -> dict:
    cell = torch.nn.GRUCell(2, 1).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(_t(p[name.replace("weight", "W").replace("bias", "b")]))
        return {"h": cell(_t([p["x"]]), _t([[p["h"]]])).item()}


def _param_count(p: dict) -> dict:
    I, H = p["I"], p["H"]
    return {"lstm": 4 * H * (I + H) + 8 * H, "gru": 3 * H * (I + H) + 6 * H}


def _kfold(p: dict) -> dict:
    folds = [val for _, val in KFold(p["k"]).split(np.zeros(p["n"]))]
    return {"sizes": [len(f) for f in folds], "val": folds[p["fold"] - 1]}


def _standardize(p: dict) -> dict:
    scaler = StandardScaler().fit(np.array(p["train"])[:, None])
    return {"X_test_s": scaler.transform(np.array(p["test"])[:, None])[:, 0]}


def _activations(p: dict) -> dict:
    out = {}
    for name, f in (("relu", F.relu), ("leaky", lambda x: F.leaky_relu(x, p["slope"])),
                    ("sigmoid", torch.sigmoid)):
        x = _t(p["x"]).requires_grad_()
        f(x).sum().backward()
        out[name] = x.grad.numpy()
    return out


def _affine(p: dict) -> dict:
    W, b = _t(p["W"]).requires_grad_(), _t(p["b"]).requires_grad_()
    (_t(p["x"]) @ W + b).backward(_t(p["dout"]))
    return {"dW": W.grad.numpy(), "db": b.grad.numpy()}


def _message_passing(p: dict) -> dict:
    msgs: dict[int, list[float]] = {i: [] for i in range(4)}
    for s, d in zip(p["src"], p["dst"]):
        msgs[d].append(p["x"][s] * p["w"])
    return {"sum": [sum(m) for m in msgs.values()],
            "mean": [float(np.mean(m)) if m else 0.0 for m in msgs.values()]}


def _shared_node(p: dict) -> dict:
    x, y = _t(float(p["x"])).requires_grad_(), _t(float(p["y"])).requires_grad_()
    u = x * y
    f = u * (u + x)
    f.backward()
    return {"f": f.item(), "dx": x.grad.item(), "dy": y.grad.item()}


def _bert_mask(p: dict) -> dict:
    inputs, labels = list(p["ids"]), [-100] * len(p["ids"])
    for i, (token, (u0, u1, u2)) in enumerate(zip(p["ids"], p["u"])):
        if token in (p["cls"], p["sep"], p["mask"]) or u0 >= p["rate"]:
            continue
        labels[i] = token
        inputs[i] = p["mask"] if u1 < 0.8 else int(u2 * p["vocab"]) if u1 < 0.9 else token
    return {"inputs": inputs, "labels": labels}


def _sinusoids(p: dict) -> dict:
    def pe(pos: int, j: int) -> float:
        angle = pos / 10000 ** ((j - j % 2) / p["d"])
        return float(np.sin(angle) if j % 2 == 0 else np.cos(angle))

    return {"values": [pe(pos, j) for pos, j in zip(p["p"], p["j"])]}


def _encoder_params(p: dict) -> dict:
    layer = torch.nn.TransformerEncoderLayer(p["E"], p["heads"], p["F"])
    return {"count": sum(t.numel() for t in layer.parameters())}


def _gnmt(p: dict) -> dict:
    rows = np.array(p["rows"], dtype=float)
    scores = rows[:, 1] / ((5 + rows[:, 0]) / 6) ** p["alpha"]
    return {"scores": scores, "best": int(np.argmax(scores)) + 1}


ORACLES: dict[str, Callable[[dict], dict]] = {
    "conv.output_size": _conv_size,
    "conv.conv2d_forward": lambda p: {"out": F.conv2d(
        _t(p["x"])[None, None], _t(p["w"])[None, None], _t([p["b"]]), stride=p["stride"],
        padding=p["pad"])[0, 0].numpy()},
    "conv.max_pool_backward": _max_pool,
    "metrics.confusion_matrix": lambda p: {"C": skm.confusion_matrix(p["y_true"], p["y_pred"],
                                                                     labels=[0, 1, 2])},
    "metrics.binary_prf": _binary,
    "metrics.macro_average": _macro,
    "batchnorm.forward_train": _batchnorm,
    "batchnorm.running_var_choice": lambda p: {"running_var": _batchnorm(p)["running_var"]},
    "logistic_regression.softmax_ce": _softmax_ce,
    "logistic_regression.bce_grad": _bce,
    "linear_regression.least_squares": lambda p: dict(zip("ab", np.polyfit(p["x"], p["y"], 1))),
    "linear_regression.gradient_step": _gradient_step,
    "gaussian_classifier.mle": _gaussian,
    "optimizers.adam_step": _adam,
    "optimizers.momentum_choice": _momentum,
    "optimizers.rmsprop_step": _rmsprop,
    "regularization.dropout": _dropout,
    "regularization.xavier_choice": _xavier,
    "attention.masked_weights": _attention,
    "attention.mha_params": _mha,
    "rnn.lstm_step": _lstm,
    "rnn.gru_choice": _gru,
    "rnn.param_count": _param_count,
    "model_selection.kfold": _kfold,
    "model_selection.standardize": _standardize,
    "activations.derivatives": _activations,
    "backprop.affine_backward": _affine,
    "gnn.message_passing": _message_passing,
    "autograd.shared_node": _shared_node,
    "embeddings.mask_tokens": _bert_mask,
    "transformer.positional_encoding": _sinusoids,
    "transformer.param_count": _encoder_params,
    "seq2seq.length_penalty": _gnmt,
}


def test_every_kind_has_an_oracle(bank):
    assert set(ORACLES) == set(bank)


@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_keys_equal_independent_oracles(papers, kind):
    """The key computed through the course's reference equals torch / scikit-learn / NumPy."""
    for v in variants_of(papers, kind)[:6]:
        expected = ORACLES[kind](v.params)
        for part in v.parts:
            key = v.key[part.name]
            if isinstance(part, Choice):
                key = v.options[part.name][LETTERS.index(key)]
            np.testing.assert_allclose(np.asarray(key, dtype=float),
                                       np.asarray(expected[part.name], dtype=float),
                                       rtol=1e-9, atol=1e-12, err_msg=f"{kind} {part.name}")


# ---------------------------------------------------------------------------------- variants


def _distinct(variants: list[Variant]) -> int:
    return len({json.dumps(v.params, sort_keys=True) for v in variants})


@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_students_get_different_numbers(papers, kind):
    variants = variants_of(papers, kind)
    assert _distinct(variants) >= len(variants) - 1, kind


def test_variants_are_reproducible_and_secret_bound(course, every_kind, maker, papers):
    again = Maker(course, every_kind, SECRET, maker.answers).paper("s000")
    assert again.public() == papers["s000"].public() and again.code == papers["s000"].code
    other = Maker(course, every_kind, SECRET + b"!", maker.answers).paper("s000")
    differ = sum(a.params != b.params for a, b in zip(other.variants, again.variants))
    assert differ >= len(again.variants) - 2
    assert other.code != again.code


def _sane(kind: str, p: dict) -> bool:
    """What 'a sane variant' means for each kind, checked independently of its generator."""
    a = {k: np.asarray(v) for k, v in p.items() if not isinstance(v, str)}
    if kind == "conv.output_size":
        return min(_conv_size(p).values()) >= 2
    if kind == "metrics.binary_prf":
        return bool(a["C"].min() >= 1)
    if kind == "metrics.macro_average":
        return bool(a["C"].sum(0).min() > 0 and a["C"].sum(1).min() > 0)
    if kind in ("batchnorm.forward_train", "batchnorm.running_var_choice"):
        return a["x"].shape == (3, 2) and bool(a["x"].var(0).min() > 0.1) and \
            bool(a["running_var"].min() > 0)
    if kind == "linear_regression.least_squares":
        return 3 <= len(a["x"]) <= 5 and len(set(p["x"])) == len(p["x"]) and \
            bool(np.ptp(a["x"]) >= 2)
    if kind == "gaussian_classifier.mle":
        s = _gaussian(p)["sigma"]
        labels = a["points"][:, 2]
        return bool(np.linalg.cond(s) < 20 and np.linalg.det(s) > 0.1 and
                    (labels == 1).sum() != (labels == 0).sum() and min(np.bincount(labels)) >= 2)
    if kind == "model_selection.kfold":
        return p["n"] % p["k"] != 0 and 1 <= p["fold"] <= p["k"] and p["n"] // p["k"] >= 2
    if kind == "model_selection.standardize":
        return bool(a["train"].std() > 0.5)
    if kind == "regularization.dropout":
        return 0 < p["p"] < 1 and bool(np.any(a["u"] == p["p"])) and bool(np.all(a["x"] != 0))
    if kind == "attention.masked_weights":
        return bool(a["mask"].any(1).all()) and not bool(a["mask"].all())
    if kind == "attention.mha_params":
        return p["E"] % p["heads"] == 0
    if kind == "gnn.message_passing":
        return len(set(p["dst"])) == 3 and all(s != d for s, d in zip(p["src"], p["dst"]))
    if kind in ("optimizers.adam_step", "optimizers.rmsprop_step", "optimizers.momentum_choice"):
        return bool(np.abs(a["g"]).min() > 0) and (kind != "optimizers.rmsprop_step" or
                                                   bool(a["s"].min() > 0))
    if kind == "rnn.gru_choice":
        return p["b_hh"][2] != 0
    if kind == "activations.derivatives":
        return 0 in p["x"] and min(p["x"]) < 0 < max(p["x"])
    return SANE_SEQUENCES.get(kind, lambda p, a: True)(p, a)


def _sane_mask(p: dict, a: dict) -> bool:
    """Words chosen for each of the three actions, and a special token that would be chosen."""
    u, ids = a["u"], a["ids"]
    words = (u[:, 0] < p["rate"]) & (ids != p["cls"]) & (ids != p["sep"])
    special = (u[:, 0] < p["rate"]) & ((ids == p["cls"]) | (ids == p["sep"]))
    acts = u[words, 1]
    return bool(special.any() and (acts < 0.8).any() and ((acts >= 0.8) & (acts < 0.9)).any()
                and (acts >= 0.9).any())


# Sanity of the kinds on embeddings, the Transformer, decoding and autodiff.
SANE_SEQUENCES: dict[str, Callable[[dict, dict], bool]] = {
    "autograd.shared_node": lambda p, a: p["x"] != 0 and p["y"] != 0,
    "embeddings.mask_tokens": _sane_mask,
    "transformer.positional_encoding":
        lambda p, a: {j % 2 for j in p["j"]} == {0, 1} and min(p["j"]) >= 2,
    "seq2seq.length_penalty": lambda p, a: len(set(a["rows"][:, 0])) == 3
        and int(np.argmax(a["rows"][:, 1])) + 1 != _gnmt(p)["best"],
}


@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_variants_are_sane(maker, every_kind, kind):
    eq = next(q for q in every_kind.questions if q.question.kind == kind)
    from grader.exam.variant import make_variant

    for i in range(40):
        v = make_variant(eq, "sanity", f"student{i}", SECRET, maker.answers[kind], maker.refs)
        assert _sane(kind, v.params), (kind, v.params)
        assert v.mistakes, kind  # at least one classic mistake shows in every variant


# ----------------------------------------------------------------------- papers and round trips


def _key_digits(paper) -> list[str]:
    """Key values as a paper could print them: floats with 4 or more significant digits."""
    found = []
    for v in paper.variants:
        for part in v.parts:
            if isinstance(part, (Number, Array)) and not getattr(part, "exact", False):
                for x in np.ravel(v.key[part.name]):
                    text = part.show(float(x)) if isinstance(part, Number) else \
                        part.show([float(x)])[1:-1]
                    if len(re.sub(r"\D", "", text).lstrip("0")) >= 4:
                        found.append(text)
    return found


def test_papers_never_contain_their_keys(papers):
    for paper in list(papers.values())[:4]:
        texts = {"html": render_paper_html(paper), "md": render_paper_md(paper),
                 "template": blank_answers_text(paper)}
        digits = _key_digits(paper)
        assert len(digits) > 40
        for where, text in texts.items():
            leaked = [d for d in digits if d in text]
            assert not leaked, f"{where} shows key values {leaked[:5]}"
            for v in paper.variants:
                for m in v.mistakes.values():
                    assert m.why not in text, f"{where} names a classic mistake"
            assert "mistake" not in text.lower() and "data-answer" not in text
        # The right option is not marked: a paper's options carry no state.
        assert " checked" not in texts["html"]


def _typed(part, value):
    """What a student types for a value: the text the grader shows for it."""
    return value if isinstance(part, Choice) else part.show(value)


@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_round_trip_key_full_marks_mistake_wrong(papers, kind):
    for v in variants_of(papers, kind)[:6]:
        html = render_paper_html(papers[next(s for s, p in papers.items() if v in p.variants)])
        for part in v.parts:
            assert f'data-q="{v.qid}" data-part="{part.name}"' in html
        results = grade_variant(v, {p.name: _typed(p, v.key[p.name]) for p in v.parts})
        assert [r.fraction for r in results] == [1.0] * len(results), \
            [(r.part.name, r.message) for r in results]
        assert abs(sum(r.points for r in results) - v.q.points) < 1e-9
        for name, mistake in v.mistakes.items():
            raw = {p.name: _typed(p, mistake.values.get(p.name, v.key[p.name])) for p in v.parts}
            for r in grade_variant(v, raw):
                if r.part.name in mistake.values:
                    assert r.fraction < 1, (kind, name, r.part.name)
                else:
                    assert r.fraction == 1
