"""Every library function that calls a topic's banned function by name is banned too, or does
none of the exercise.

The trip-wire lets a library frame that names a banned function call it (its own use: ``nn.Linear``
initialising its weights where ``torch.nn.init`` is banned), so an allowed library function that
wraps a banned one would hand its work to the student (``numpy.ma.polyfit``). Here the installed
numpy, scipy and torch are scanned for such callers (``grader.publish.wrappers``), and each must
be banned itself (the object a pattern names, or a caller that only reaches a banned class, which
is wired whole and refused whoever calls it), in a library the topic bans, or judged below with
the reason it does none of the exercise. A new caller (a library upgrade) fails until judged.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from grader.course import Course
from grader.environment import read_lock
from grader.grading import banned
from grader.isolation import profiles
from grader.publish.wrappers import callers, outside

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)


def _patterns(topic: str) -> tuple[str, ...]:
    """What a topic's worker refuses by name and the scan is asked about: its banned calls, and
    autograd's ways in where it bans autograd (torch's decompositions and TorchScript apart)."""
    config = COURSE.config(topic)
    extra = profiles.AUTOGRAD if profiles.profile(
        config.banned_libraries, config.banned_capabilities) == profiles.NO_AUTOGRAD else ()
    return tuple(dict.fromkeys((*config.banned, *extra)))


TOPICS = [t for t in COURSE.topics() if _patterns(t)]
PACKAGES = [Path(str(importlib.util.find_spec(n).origin)).parent for n in ("numpy", "scipy", "torch")]

# Why a caller does none of the exercise.
OPERATOR = "what it calls computes with an operator the topic bans, which the dispatcher refuses"
AUTOGRAD = "what it calls differentiates with autograd, and no graph is recorded in this topic"
COMPILER = "torch.compile's tracer, which student code cannot run in a worker"
SHARDED = "works on sharded tensors, which need a process group"
SUBCLASS = "a subclass of a banned class, whose constructor it calls: refused there"

# topic -> caller -> why it is left allowed
JUDGED: dict[str, dict[str, str]] = {
    "attention": {
        "torch._dynamo.variables.higher_order_ops.FlexAttentionBackwardHighOrderVariable": COMPILER,
        "torch.ao.quantization.fx.lstm_utils._get_lstm_with_individually_observed_parts":
            "builds a quantizable LSTM, no attention",
        "torch.nested._internal.sdpa.jagged_scaled_dot_product_attention": OPERATOR,
        "torch.nn.attention.bias.CausalBias": OPERATOR,
    },
    "gnn": {
        "torch.ao.nn.qat.modules.embedding_ops.Embedding": SUBCLASS,
        "torch.ao.nn.qat.modules.embedding_ops.EmbeddingBag": SUBCLASS,
        "torch.ao.nn.quantized.reference.modules.sparse.Embedding": OPERATOR,
        "torch.ao.nn.quantized.reference.modules.sparse.EmbeddingBag": OPERATOR,
        "torch.distributed._shard.sharding_spec.chunk_sharding_spec_ops.embedding."
        "_handle_row_wise_sharding": SHARDED,
        "torch.distributed._shard.sharding_spec.chunk_sharding_spec_ops.embedding_bag."
        "_handle_row_wise_sharding": SHARDED,
    },
    "linear_regression": {
        "scipy.signal._filter_design._campos_zeros": "a Bessel filter's zeros, no line fitted",
        "scipy.signal._filter_design.bilinear": "a filter's transform, no line fitted",
        "scipy.stats._continuous_distns.skewnorm_gen": "a distribution's moments, no line fitted",
        "scipy.stats._morestats.anderson_ksamp":
            "a test statistic's p-value, interpolated from a table; no line fitted",
    },
    "optimizers": {
        "torch._dynamo.eval_frame.TorchPatcher": COMPILER,
        "torch.distributed._tools.mem_tracker.MemTracker":
            "registers hooks to measure memory; updates nothing",
    },
    "performance": {
        "torch._dynamo.variables.ctx_manager.SDPAKernelVariable": COMPILER,
        "torch._dynamo.variables.higher_order_ops.FlexAttentionBackwardHighOrderVariable": COMPILER,
        "torch.nested._internal.sdpa.jagged_scaled_dot_product_attention": OPERATOR,
        "torch._dynamo.variables.user_defined.UserDefinedObjectVariable": COMPILER,
        "torch._numpy._funcs_impl._conv_corr_impl": OPERATOR,
        "torch.ao.nn.intrinsic.qat.modules.conv_fused._ConvBnNd": SUBCLASS,
        "torch.ao.nn.qat.modules.conv._ConvNd": SUBCLASS,
        "torch.backends.cuda.sdp_kernel": "chooses attention's kernels; computes nothing",
        "torch.distributed.pipelining.microbatch._split_block_mask":
            "splits a block mask into micro-batches; computes no attention",
        **{f"torch.ao.nn.quantized.reference.modules.conv.{c}": SUBCLASS
           for c in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                     "ConvTranspose3d")},
    },
    "regularization": {
        "torch._decomp.decompositions._rnn_helper": OPERATOR,
        **{f"torch._inductor.fx_passes.fuse_attention._sfdp_{p}": OPERATOR
           for p in ("pattern_3", "pattern_4", "pattern_6", "pattern_7", "pattern_9",
                     "pattern_12", "pattern_13", "pattern_16", "pattern_17", "pattern_18",
                     "pattern_19", "pattern_20", "pattern_25", "pattern_26", "pattern_27",
                     "replacement_16")},
        "torch.ao.nn.intrinsic.qat.modules.conv_fused._ConvBnNd": SUBCLASS,
        "torch.ao.nn.intrinsic.qat.modules.linear_fused.LinearBn1d":
            "initialises a batch norm's weights by uniform_ and zeros_: no Xavier bound",
        "torch.ao.nn.quantizable.modules.activation.MultiheadAttention": SUBCLASS,
        **{name: SHARDED for name in (
            "torch.distributed._shard.sharded_tensor._ops.init.constant_",
            "torch.distributed._shard.sharded_tensor._ops.init.kaiming_uniform_",
            "torch.distributed._shard.sharded_tensor._ops.init.normal_",
            "torch.distributed._shard.sharded_tensor._ops.init.uniform_",
            "torch.distributed._shard.sharded_tensor.full",
            "torch.distributed._shard.sharded_tensor.rand",
            "torch.distributed._shard.sharded_tensor.randn")},
        **{name: "initialises its own weights: constants, or a bound that is not Xavier's "
                 "(kaiming_uniform_ with a = √5, U(±1/√hidden))"
           for name in ("torch.nn.modules.activation.PReLU", "torch.nn.modules.batchnorm._NormBase",
                        "torch.nn.modules.conv._ConvNd", "torch.nn.modules.linear.Bilinear",
                        "torch.nn.modules.linear.Linear",
                        "torch.nn.modules.normalization.GroupNorm",
                        "torch.nn.modules.normalization.LayerNorm",
                        "torch.nn.modules.normalization.RMSNorm",
                        "torch.nn.modules.rnn.RNNBase", "torch.nn.modules.rnn.RNNCellBase",
                        "torch.nn.modules.sparse.Embedding",
                        "torch.nn.modules.sparse.EmbeddingBag")},
    },
    "rnn": {},
    "seq2seq": {},
    "transformer": {
        "torch._dynamo.eval_frame.export": COMPILER,
        "torch._dynamo.variables.higher_order_ops.FlexAttentionBackwardHighOrderVariable": COMPILER,
        "torch._vendor.quack.rmsnorm.layernorm_ref": OPERATOR,
        **{name: OPERATOR for name in (
            "torch.nested._internal.sdpa.jagged_scaled_dot_product_attention",
            "torch.nn.attention.bias.CausalBias",
            "torch.nn.utils._expanded_weights.group_norm_expanded_weights.GroupNormPerSampleGrad",
            "torch.nn.utils._expanded_weights.instance_norm_expanded_weights."
            "InstanceNormPerSampleGrad",
            "torch.nn.utils._expanded_weights.layer_norm_expanded_weights."
            "LayerNormPerSampleGrad")},
        "torch.ao.quantization.fx.lstm_utils._get_lstm_with_individually_observed_parts":
            "builds a quantizable LSTM, no attention",
        # callers of the rest of torch.func and of autograd's engine classes, banned here only
        **{name: AUTOGRAD for name in (
            "torch._functorch.aot_autograd.aot_module",
            "torch._higher_order_ops.auto_functionalize.FunctionalCallableWithEpilogue",
            "torch._higher_order_ops.partitioner.create_hop_joint_graph",
            "torch._inductor.fx_passes.efficient_conv_bn_eval.efficient_conv_bn_eval",
            "torch._subclasses.functional_tensor.CppFunctionalizeAPI",
            "torch._subclasses.functional_tensor.FunctorchFunctionalizeAPI",
            "torch.autograd.variable.Variable",
            "torch.nn.utils._per_sample_grad.call_for_per_sample_grads")},
    },
}


# Callers of autograd's ways in, which every topic that bans autograd refuses (profiles.AUTOGRAD;
# the transformer topic bans all of torch.func besides): judged once for them all.
AUTOGRAD_CALLERS = {name: AUTOGRAD for name in (
    "torch._functorch._aot_autograd.graph_capture_wrappers.create_joint",
    "torch._functorch.eager_transforms._autograd_grad",
    "torch._higher_order_ops.invoke_leaf_function.autograd_grad_with_gradient_info",
    "torch._tensor.Tensor",
    "torch.autograd.gradcheck._check_analytical_jacobian_attributes",
    "torch.autograd.gradcheck._test_backward_mul_by_grad_output",
    "torch.autograd.gradcheck._test_undefined_backward_mode",
    "torch.autograd.gradcheck.get_analytical_jacobian",
    "torch.autograd.gradcheck.gradgradcheck",
    "torch.cuda.graphs.make_graphed_callables",
    "torch.distributed.pipelining._backward._autograd_grad_for_inputs",
    "torch.distributed.pipelining._backward.stage_backward",
    "torch.distributed.pipelining._backward.stage_backward_weight",
    "torch.distributions.exp_family.ExponentialFamily",
    "torch.distributions.kl._kl_expfamily_expfamily",
    "torch.jit._trace.verify",
    "torch.utils.checkpoint.CheckpointFunction",
    "torch.xpu.graphs.make_graphed_callables")}


def _resolve(dotted: str) -> Any:
    """The object ``dotted`` names, imported; None where it cannot be found."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except Exception:  # noqa: BLE001 - not a module, or one that cannot load here
            continue
        try:
            for attr in parts[n:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _banned_objects(patterns: tuple[str, ...]) -> list[Any]:
    objects = []
    for pattern in patterns:
        parent, _, last = pattern.rpartition(".")
        if any(ch in last for ch in "*?["):
            holder = _resolve(parent)
            objects += [getattr(holder, n) for n in dir(holder) if fnmatch.fnmatchcase(n, last)]
        elif (obj := _resolve(pattern)) is not None:
            objects.append(obj)
    return objects


def _reaches_a_banned_class(name: str, objects: list[Any], patterns: tuple[str, ...]) -> bool:
    """Whether ``name`` is a banned class, one of its methods or one of its objects (flex
    attention's operator): such a class is wired whole, with no name a library frame could call
    it by, so it is refused whoever calls it."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        obj = _resolve(".".join(parts[:n]))
        cls = obj if isinstance(obj, type) else type(obj) if n == len(parts) else None
        if cls is not None and cls.__module__ != "builtins" and (
                any(cls is o for o in objects) or
                any(banned.matches(f"{cls.__module__}.{cls.__qualname__}", p) for p in patterns)):
            return True
    return False


@functools.lru_cache(maxsize=1)
def _inventory() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """One pass over the libraries (some 30 s on one core), for every topic: the callers left
    open (neither banned nor judged), and the judged callers the pass no longer finds."""
    found = callers(sorted({p for t in TOPICS for p in _patterns(t)}), PACKAGES)
    open_: dict[str, list[str]] = {}
    stale: dict[str, list[str]] = {}
    for topic in TOPICS:
        config = COURSE.config(topic)
        patterns = _patterns(topic)
        objects = _banned_objects(patterns)
        mine = outside(found, patterns)
        judged = {**{c.name: AUTOGRAD for c in mine if c.name in AUTOGRAD_CALLERS},
                  **JUDGED.get(topic, {})}
        open_[topic] = sorted({
            f"{c.name} calls {c.calls}" for c in mine
            if c.name not in judged
            and not any(banned.matches(c.module, lib) for lib in config.banned_libraries)
            and not any(_resolve(c.name) is o for o in objects)
            and not _reaches_a_banned_class(c.calls, objects, patterns)})
        stale[topic] = sorted(n for n in JUDGED.get(topic, {}) if not any(c.name == n for c in mine))
    stale["autograd's callers"] = sorted(
        n for n in AUTOGRAD_CALLERS if not any(c.name == n for c in outside(found, profiles.AUTOGRAD)))
    return open_, stale


def _not_the_locks() -> list[str]:
    """The scanned libraries installed at another version than the lock's (a build's local label
    such as ``+cpu`` or ``+cu130`` apart: the same release is the same Python code)."""
    locked = read_lock(ROOT / "requirements" / "lock.txt")
    return [f"{name} {metadata.version(name)} (the lock's: {locked.get(name)})"
            for name in ("numpy", "scipy", "torch")
            if metadata.version(name).split("+", 1)[0] != locked.get(name, "").split("+", 1)[0]]


def test_every_library_caller_of_a_banned_function_is_banned_or_judged() -> None:
    """Whatever versions are installed: on another release of torch (one kept by
    ``GRADER_KEEP_TORCH``) a caller the lock's has not is a way round the trip-wire there too."""
    open_, _ = _inventory()
    assert not any(open_.values()), ("library code that calls what a topic bans, by a name "
                                     "the trip-wire lets through: ban it too, or judge it in "
                                     "JUDGED", {t: o for t, o in open_.items() if o})
    assert set(JUDGED) <= set(TOPICS)


def test_every_judged_caller_still_calls_what_its_topic_bans() -> None:
    """The judgements name the lock's library code: an entry that no longer calls anything
    banned is taken out. Another release names its code otherwise (torch 2.14's
    ``auto_functionalize`` calls nothing banned any more), which is no fault of the grader."""
    if other := _not_the_locks():
        pytest.skip("the judged callers are those of the lock's libraries; installed here: "
                    + ", ".join(other))
    _, stale = _inventory()
    assert not any(stale.values()), ("judged callers that no longer call anything the topic "
                                     "bans", {t: s for t, s in stale.items() if s})


def test_a_wrapper_of_a_banned_function_is_found(tmp_path: Path) -> None:
    """The scan finds a caller by any import form, and only calls: a class or function named in
    a check, an annotation or an import is no call of it."""
    package = tmp_path / "lib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fit.py").write_text(
        "import numpy as np\n"
        "from numpy import polyfit as pf\n"
        "import numpy.polynomial.polynomial as P\n\n"
        "def line(x, y):\n    return np.polyfit(x, y, 1)\n\n"
        "def other(x, y):\n    return pf(x, y, 2)\n\n"
        "class Fitter:\n    def fit(self, x, y):\n        return P.polyfit(x, y, 1)\n\n"
        "def checks(f) -> 'np.polyfit':\n    return f is np.polyfit\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_fit.py").write_text("import numpy as np\n\n"
                                                   "def test():\n    np.polyfit([0, 1], [0, 1], 1)\n")
    got = callers(["numpy.polyfit", "numpy.polynomial"], [package])
    assert [(c.name, c.calls) for c in got] == [
        ("lib.fit.Fitter", "numpy.polynomial.polynomial.polyfit"),
        ("lib.fit.line", "numpy.polyfit"), ("lib.fit.other", "numpy.polyfit")]
    assert outside(got, ["numpy.polyfit"]) == [c for c in got if c.calls == "numpy.polyfit"]
    assert outside(got, ["lib.fit", "numpy.polyfit"]) == []  # a banned module's own calls
