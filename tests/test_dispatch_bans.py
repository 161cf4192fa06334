"""Banned functionality is refused in torch's dispatcher, whatever route student code takes.

Two halves. The registry: for each topic, every operator the dispatcher knows whose name says
it does what the topic bans (a convolution, an LSTM, attention, a layer norm...) is in the
topic's ``[banned] ops``, every overload of it, forward and backward, but for the few listed
here with the reason they are not that functionality. The routes: submissions that reach the
banned kernels without a banned name (a module's private method, a class made with ``__new__``,
the classes found through ``__subclasses__()``, the operator registry, ``torch.ops``, a tensor
subclass's ``__torch_function__``, a quantized reference module) are graded by the real engine
and lose the points of the function that took the route, with a message saying what was not
allowed; the reference beside them keeps full marks.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from grader.course import Course
from grader.grading.engine import Options
from grader.isolation import dispatch

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEED = 20261121

# topic -> the words that name its banned functionality in an operator's name, and the operators
# that carry such a word without computing it (each with its reason)
FUNCTIONALITY: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "performance": (("conv1d", "conv2d", "conv3d", "convolution", "conv_transpose", "conv_tbc",
                     "conv_depthwise", "slow_conv", "qconv", "lstm", "rnn", "attention",
                     "scaled_dot_product", "sdp", "multi_head", "masked_softmax", "transformer"),
                    {}),
    "rnn": (("lstm", "gru", "rnn"), {}),
    "attention": (("attention", "scaled_dot_product", "sdp", "multi_head", "masked_softmax",
                   "transformer"), {}),
    "transformer": (("layer_norm", "group_norm", "instance_norm", "batch_norm", "rms_norm",
                     "attention", "scaled_dot_product", "sdp", "multi_head", "masked_softmax",
                     "transformer"), {}),
    "gnn": (("embedding",), {
        "aten::cosine_embedding_loss": "a loss between pairs of vectors, not a table lookup",
        "aten::hinge_embedding_loss": "a loss, not a table lookup"}),
    "seq2seq": (("nll_loss", "cross_entropy"), {
        "aten::poisson_nll_loss": "a Poisson loss, not the sequence's negative log-likelihood",
        "aten::binary_cross_entropy": "two-class loss on probabilities, not over a vocabulary",
        "aten::binary_cross_entropy_backward": "the two-class loss's backward",
        "aten::binary_cross_entropy_with_logits": "two-class loss, not over a vocabulary"}),
    "regularization": (("dropout",), {
        "aten::_cudnn_init_dropout_state": "cuDNN's RNN state, not a dropout of tensors",
        "aten::_fill_mem_eff_dropout_mask_": "attention's internal mask, not a dropout layer",
        "aten::_flash_attention_forward_no_dropout_inplace": "attention without dropout"}),
    "optimizers": (("_fused_adam", "_fused_sgd", "_fused_adagrad"), {}),
}


def _registry() -> list[str]:
    return sorted(torch._C._dispatch_get_all_op_names())


def test_every_topic_with_banned_ops_is_described_here() -> None:
    with_ops = {t for t in COURSE.topics() if COURSE.config(t).banned_ops}
    assert with_ops == set(FUNCTIONALITY)


@pytest.mark.parametrize("topic", sorted(FUNCTIONALITY))
def test_banned_ops_cover_every_operator_and_overload_of_the_functionality(topic: str) -> None:
    words, exceptions = FUNCTIONALITY[topic]
    patterns = COURSE.config(topic).banned_ops
    banned = set(dispatch.operators(patterns))
    registry = _registry()
    doing_it = [op for op in registry if any(w in op.split("::", 1)[1].split(".")[0]
                                             for w in words)]
    assert doing_it, f"no operator of {topic}'s functionality in this torch"
    missed = [op for op in doing_it if op not in banned and op.split(".")[0] not in exceptions]
    assert not missed, f"{topic}: operators doing what it bans are not refused: {missed}"
    # every overload of a banned operator is banned with it
    bases = {op.split(".")[0] for op in banned}
    assert {op for op in registry if op.split(".")[0] in bases} <= banned
    # and nothing is banned that does something else
    stray = [op for op in banned if not any(w in op for w in words)]
    assert not stray, f"{topic} refuses operators that are not its functionality: {stray}"


@pytest.mark.parametrize("topic", sorted(FUNCTIONALITY))
def test_the_backward_kernels_are_banned_with_the_forward_ones(topic: str) -> None:
    banned = set(dispatch.operators(COURSE.config(topic).banned_ops))
    for op in _registry():
        base = op.split(".")[0]
        forward = base.removesuffix("_backward")
        if base.endswith("_backward") and any(b.split(".")[0] == forward for b in banned):
            assert op in banned, f"{topic} refuses {forward} but not its backward {op}"


def test_refusal_keys_leave_other_layouts_working() -> None:
    """A composite operator is refused where it has kernels of its own, and at no backend key
    it has none for: a backend kernel beside its composite one would break tensors of other
    layouts."""
    keys = dispatch.keys_of("aten::conv2d")
    assert keys[0] == "CompositeImplicitAutograd"
    assert not {"CPU", "CUDA", "Meta", "SparseCPU", "MkldnnCPU"} & set(keys), keys
    assert "CompositeImplicitAutograd" not in dispatch.keys_of("aten::convolution_backward")


def test_an_operator_is_refused_at_every_key_it_has_a_kernel_at() -> None:
    """A kernel can be called by its key (``OpOverload._op_dk``, ``redispatch``), and a key no
    call reaches by itself is reached in a mode or by a layout: every key at which the
    dispatcher lists a kernel of a banned operator's own is one it is refused at."""
    patterns = sorted({p for t in COURSE.topics() for p in COURSE.config(t).banned_ops})
    line = re.compile(r"^(\w+)(?:\[alias\])?(?: \(inactive\))?: .*registered at ")
    seen = set()
    for op in dispatch.operators([*patterns, *dispatch.GRADIENT_OPERATORS]):
        own = {m.group(1) for m in map(line.match, torch._C._dispatch_dump(op).splitlines())
               if m} - {"debug"}  # where the schema was registered
        seen |= own
        assert own - set(dispatch.keys_of(op)) == set(), op
    # the dump is read as this torch writes it: its keys include those Python cannot name
    assert {"CompositeImplicitAutograd", "FuncTorchBatchedDecomposition", "Tracer",
            "MkldnnCPU", "NestedTensorCPU"} <= seen, seen


def test_the_dispatchers_own_account_decides_the_keys_whatever_the_build(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds of torch differ in the keys an operator has kernels at, and in those Python can
    name (torch 2.11 has a kernel of ``aten::_backward`` at ``Named``, which this one has not and
    Python does not name): a key the dispatcher lists for the operator is refused, whether or
    not any list of keys names it."""
    dump = torch._C._dispatch_dump

    def with_named(op: str) -> str:
        extra = "Named: registered at aten/src/ATen/core/NamedRegistrations.cpp:7 :: (boxed)\n"
        return dump(op) + (extra if op == "aten::_backward" else "")

    monkeypatch.setattr(dispatch, "_KEYS_OF", {})
    monkeypatch.setattr(torch._C, "_dispatch_dump", with_named)
    assert "Named" in dispatch.keys_of("aten::_backward")
    monkeypatch.setattr(dispatch, "_keys", lambda torch: dispatch._COMPOSITE)  # names none
    assert {"Tracer", "Named"} <= set(dispatch.keys_of("aten::_backward"))
    assert {"CompositeExplicitAutograd", "FuncTorchBatched", "Tracer"} <= \
        set(dispatch.keys_of("aten::convolution"))


def test_an_operator_is_refused_once_at_each_of_its_keys() -> None:
    """Every key where an operator is refused is named once: a second registration at the same
    key would only stack another kernel behind the first, in every worker."""
    patterns = sorted({p for t in COURSE.topics() for p in COURSE.config(t).banned_ops})
    for op in dispatch.operators([*patterns, *dispatch.GRADIENT_OPERATORS]):
        keys = dispatch.keys_of(op)
        assert len(keys) == len(set(keys)), (op, keys)
        assert "CPU" in keys or "CompositeImplicitAutograd" in keys or \
            "CompositeExplicitAutograd" in keys or \
            "CompositeExplicitAutogradNonFunctional" in keys, (op, keys)


def test_the_autograd_kernels_taken_away_are_every_one_the_dispatcher_has(monkeypatch) -> None:
    """``no_autograd`` asks the dispatcher once per key for the operators with a kernel there;
    on a torch that cannot list them it asks operator by operator: the same operators either
    way, for every autograd key (one this torch does not know has none)."""
    listed = {key: sorted(dispatch._kernels_at(torch, key))
              for key in dispatch.autograd_keys(torch)}
    assert len(listed["Autograd"]) > 1000
    monkeypatch.delattr(torch._C, "_dispatch_get_registrations_for_dispatch_key")
    assert {key: sorted(dispatch._kernels_at(torch, key))
            for key in dispatch.autograd_keys(torch)} == listed
    assert dispatch._kernels_at(torch, "NoSuchKey") == []


# ---------------------------------------------------------------------------------------- routes

def _with(topic: str, override: str) -> str:
    """The reference solution of ``topic`` with some of its functions replaced."""
    return COURSE.solution(topic).read_text() + "\n\n" + textwrap.dedent(override)


CONV_ROUTES = {
    "module_private_method": """
        import torch as _t
        from types import SimpleNamespace as _NS
        def conv2d_fast(x, w, b, stride=1, pad=0):
            me = _NS(padding_mode="zeros", stride=(stride, stride), padding=(pad, pad),
                     dilation=(1, 1), groups=1)
            return _t.nn.Conv2d._conv_forward(me, x, w, b)
        """,
    "class_found_by_subclasses": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            (cls,) = [c for c in _t.nn.Module.__subclasses__()[0].__subclasses__()
                      if c.__name__ == "Conv2d"] or [None]
            if cls is None:
                todo, seen = list(_t.nn.Module.__subclasses__()), []
                while todo:
                    c = todo.pop()
                    seen.append(c)
                    todo.extend(c.__subclasses__())
                cls = next(c for c in seen if c.__name__ == "Conv2d")
            m = cls.__new__(cls)
            _t.nn.Module.__init__(m)
            m.padding_mode, m.stride, m.padding = "zeros", (stride, stride), (pad, pad)
            m.dilation, m.groups = (1, 1), 1
            return m._conv_forward(x, w, b)
        """,
    "variable_functions_class": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            return getattr(_t._C, "_VariableFunctionsClass").conv2d(x, w, b, stride, pad)
        """,
    "operator_registry": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            op = _t._C._get_operation_overload("aten::conv2d", "")[0]
            return op(x, w, b, [stride, stride], [pad, pad], [1, 1], 1)
        """,
    "jit_operation": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            return _t._C._jit_get_operation("aten::conv2d")[0](
                x, w, b, [stride, stride], [pad, pad], [1, 1], 1)
        """,
    "torch_ops_by_a_built_name": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            ns = getattr(_t.ops, "at" + "en")
            return getattr(ns, "convo" + "lution")(x, w, b, [stride] * 2, [pad] * 2, [1, 1],
                                                    False, [0, 0], 1)
        """,
    "torch_function_of_a_tensor_subclass": """
        import torch as _t
        class _Spy(_t.Tensor):
            got = []
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if "conv" in getattr(func, "__name__", ""):
                    cls.got.append(func)
                plain = [a.as_subclass(_t.Tensor) if isinstance(a, _t.Tensor) else a
                         for a in args]
                return func(*plain, **(kwargs or {}))
        def conv2d_fast(x, w, b, stride=1, pad=0):
            layer = _t.ao.nn.quantized.reference.Conv2d(w.shape[1], w.shape[0], w.shape[2:],
                                                        stride=stride, padding=pad)
            with _t.no_grad():
                layer.weight.copy_(w)
                layer.bias.copy_(b)
            return layer(x.as_subclass(_Spy)).as_subclass(_t.Tensor)
        """,
    "mkldnn_namespace": """
        import torch as _t
        def conv2d_fast(x, w, b, stride=1, pad=0):
            return _t.ops.mkldnn._convolution_pointwise(x, w, b, [pad, pad], [stride, stride],
                                                        [1, 1], 1, "none", [], "")
        """,
}

LSTM_ROUTES = {
    "operator_registry": """
        import torch as _t
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            op = _t._C._get_operation_overload("aten::lstm_cell", "")[0]
            return tuple(op(x, [h, c], W_ih, W_hh, b_ih, b_hh))
        """,
    "variable_functions_class": """
        import torch as _t
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            return tuple(_t._C._VariableFunctionsClass.lstm_cell(x, (h, c), W_ih, W_hh, b_ih,
                                                                 b_hh))
        """,
    "fused_kernel": """
        import torch as _t
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            hy, cy, _ = getattr(_t.ops.aten, "_thnn_fused_lstm_cell")(x @ W_ih.T, h @ W_hh.T, c, b_ih,
                                                             b_hh)
            return hy, cy
        """,
    "module_made_with_new": """
        import torch as _t
        def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
            cell = _t.nn.LSTMCell.__new__(_t.nn.LSTMCell)
            _t.nn.Module.__init__(cell)
            cell.input_size, cell.hidden_size, cell.bias = x.shape[1], h.shape[1], True
            cell.weight_ih, cell.weight_hh = W_ih, W_hh
            cell.bias_ih, cell.bias_hh = b_ih, b_hh
            return _t.nn.LSTMCell.forward(cell, x, (h, c))
        """,
}

LAYER_NORM_ROUTES = {
    "aten_backward_kernel": """
        import torch as _t
        def layer_norm_backward(dout, cache):
            xhat, inv_std, gamma = cache
            zero = _t.zeros_like(inv_std)
            one = _t.ones_like(inv_std)
            dx, dgamma, dbeta = _t.ops.aten.native_layer_norm_backward(
                dout, xhat, [xhat.shape[-1]], zero, one, gamma, _t.zeros_like(gamma),
                [True, True, True])
            return dx * inv_std, dgamma, dbeta
        """,
    "forward_kernel": """
        import torch as _t
        def layer_norm_forward(x, gamma, beta, eps=1e-5):
            out, mean, rstd = _t.ops.aten.native_layer_norm(x, [x.shape[-1]], gamma, beta, eps)
            return out, ((x - mean) * rstd, rstd, gamma)
        """,
}


@pytest.mark.parametrize(("topic", "function", "route"), [
    *[("performance", "conv2d_fast", r) for r in CONV_ROUTES],
    *[("rnn", "lstm_cell", r) for r in LSTM_ROUTES],
    *[("transformer", "layer_norm", r) for r in LAYER_NORM_ROUTES],
])
def test_a_banned_kernel_reached_without_a_banned_name_loses_its_points(
        engine, topic: str, function: str, route: str, tmp_path: Path) -> None:
    source = {"performance": CONV_ROUTES, "rnn": LSTM_ROUTES,
              "transformer": LAYER_NORM_ROUTES}[topic][route]
    result = _grade(engine, topic, _with(topic, source), tmp_path)
    t = result.topic(topic)
    assert t.score < t.max_score, f"{route} kept full marks"
    hit = [x for x in result.tests if function in x.name and x.outcome != "passed"]
    assert hit, f"no test of {function} failed: {[(x.name, x.outcome) for x in result.tests]}"
    assert any("not allowed" in x.message for x in hit), [x.message[:300] for x in hit]
    assert not [x for x in result.tests if x.outcome == "error"], \
        [(x.name, x.message[:200]) for x in result.tests if x.outcome == "error"]


@pytest.mark.parametrize("topic", ["performance", "rnn", "transformer", "attention", "gnn",
                                   "seq2seq", "regularization", "optimizers"])
def test_the_reference_keeps_full_marks_under_the_dispatcher_bans(engine, topic: str,
                                                                 tmp_path: Path) -> None:
    result = _grade(engine, topic, COURSE.solution(topic).read_text(), tmp_path)
    t = result.topic(topic)
    assert t.score == t.max_score, [(x.name, x.message[:200]) for x in result.tests
                                    if x.outcome != "passed"]


def _grade(engine, topic: str, source: str, tmp_path: Path):
    sub = tmp_path / "submission"
    sub.mkdir(parents=True)
    (sub / f"{topic}.py").write_text(source)
    if topic == "model_selection":
        shutil.copyfile(COURSE.solution("linear_regression"), sub / "linear_regression.py")
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def test_no_grad_around_a_correct_forward_is_allowed_and_autograd_is_not(engine,
                                                                          tmp_path: Path) -> None:
    """The transformer topic bans computing gradients with autograd, not torch.no_grad()."""
    honest = _with("transformer", """
        import torch as _t
        _plain_encoder_layer = encoder_layer
        def encoder_layer(*args, **kwargs):
            with _t.no_grad():
                return _plain_encoder_layer(*args, **kwargs)
        """)
    result = _grade(engine, "transformer", honest, tmp_path / "honest")
    t = result.topic("transformer")
    assert t.score == t.max_score, [(x.name, x.message[:200]) for x in result.tests
                                    if x.outcome != "passed"]
    for route, call in (("grad", "_t.autograd.grad(out, (x, gamma, beta), dout)"),
                        ("backward", "out.backward(dout) or (x.grad, gamma.grad, beta.grad)")):
        source = _with("transformer", f"""
            import torch as _t
            def layer_norm_backward(dout, cache):
                xhat, inv_std, gamma = cache
                x = xhat.detach().clone().requires_grad_(True)
                gamma = gamma.detach().clone().requires_grad_(True)
                beta = _t.zeros_like(gamma).requires_grad_(True)
                out = layer_norm_forward(x, gamma, beta)[0]
                return tuple({call})
            """)
        result = _grade(engine, "transformer", source, tmp_path / route)
        hit = [x for x in result.tests if "layer_norm_backward" in x.functions and
               x.outcome != "passed"]
        assert hit and all("banned" in x.flags for x in hit), (route, [
            (x.name, x.flags, x.message[:200]) for x in result.tests if "layer_norm" in x.name])
