"""The wire codec: values round-trip exactly; malformed, oversized and forbidden input is refused."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.isolation import wire
from grader.isolation.wire import Handle, WireError, decode_message, encode_message


def roundtrip(value, **kw):
    meta, out = decode_message(encode_message({"op": "x"}, value, **kw))
    assert meta == {"op": "x"}
    return out


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and \
            torch.equal(a.view(torch.uint8) if a.numel() else a, b.view(torch.uint8) if b.numel() else b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**80, 1.5, float("inf"), float("-inf"), float("nan"), "héllo", b"\x00\xff",
    [1, [2, (3, 4)]], (), {"a": 1, 2: [3.0]}, Handle(12, "Cache"),
])
def test_plain_values_round_trip(value) -> None:
    assert same(value, roundtrip(value))


@pytest.mark.parametrize("dtype", sorted(wire.NUMPY_DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4), (1, 0, 5)])
def test_numpy_arrays_round_trip(dtype: str, shape) -> None:
    a = (np.arange(int(np.prod(shape))) % 3).astype(dtype).reshape(shape)
    assert same(a, roundtrip(a))


def test_non_contiguous_and_big_endian_arrays_arrive_native_and_equal() -> None:
    a = np.arange(12.0).reshape(3, 4).T
    b = np.arange(5, dtype=">i4")
    out = roundtrip((a, b))
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)
    assert out[1].dtype == np.dtype("int32")


def test_numpy_scalars_keep_their_dtype() -> None:
    out = roundtrip([np.float32(1.5), np.int64(3), np.bool_(True)])
    assert [type(x) for x in out] == [np.float32, np.int64, np.bool_]


@pytest.mark.parametrize("dtype", sorted(wire.TORCH_DTYPES))
def test_torch_tensors_round_trip(dtype: str) -> None:
    t = (torch.arange(6) % 2).to(getattr(torch, dtype)).reshape(2, 3)
    assert same(t, roundtrip(t))


def test_tensor_requires_grad_and_views() -> None:
    t = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    out = roundtrip(t[:, 1:3].T)
    assert out.requires_grad is True and out.is_leaf  # arrives as a fresh leaf
    torch.testing.assert_close(out.detach(), t[:, 1:3].T.detach())
    assert roundtrip(t.detach()).requires_grad is False


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20))
def test_any_nesting_of_plain_values_round_trips(value) -> None:
    assert same(value, roundtrip(value))


def test_objects_without_a_wire_form_need_a_handle_table() -> None:
    class Cache:
        pass

    with pytest.raises(WireError, match="cannot send"):
        encode_message({}, Cache())
    table = []

    def make(obj):
        table.append(obj)
        return Handle(len(table), wire.type_name(obj))

    out = roundtrip([Cache(), np.array([object()])], make_handle=make)
    assert all(isinstance(h, Handle) for h in out) and len(table) == 2
    assert "object" in out[1].type_name


# --------------------------------------------------------------------------- hostile input


def message(header: dict, *buffers: bytes) -> bytes:
    h = json.dumps(header).encode()
    return wire.MAGIC + struct.pack("<I", len(h)) + h + b"".join(buffers)


@pytest.mark.parametrize(("data", "why"), [
    (b"", "bad magic"),
    (b"\x80\x04\x95pickle", "bad magic"),
    (wire.MAGIC + struct.pack("<I", 10**9), "out of bounds"),
    (message({"m": {}, "v": 1}), "exactly"),
    (message({"m": {}, "v": {"nd": ["object", [1], 0]}, "n": [8]}, b"\0" * 8), "not allowed"),
    (message({"m": {}, "v": {"nd": ["<U4", [1], 0]}, "n": [16]}, b"\0" * 16), "not allowed"),
    (message({"m": {}, "v": {"nd": ["float64", [2**40], 0]}, "n": [8]}, b"\0" * 8), "size does not match"),
    (message({"m": {}, "v": {"nd": ["float64", [-1], 0]}, "n": [8]}, b"\0" * 8), "shape"),
    (message({"m": {}, "v": {"nd": ["float64", [1], 3]}, "n": [8]}, b"\0" * 8), "buffer reference"),
    (message({"m": {}, "v": [{"b": 0}, {"b": 0}], "n": [1]}, b"x"), "buffer reference"),
    (message({"m": {}, "v": None, "n": [100]}, b"short"), "add up"),
    (message({"m": {}, "v": {"tt": ["float64", [3], 0, "cpu", False]}, "n": [8]}, b"\0" * 8), "size"),
    (message({"m": {}, "v": {"evil": 1}, "n": []}), "unknown value tag"),
    (message({"m": {}, "v": {"f": "1e999"}, "n": []}), "unknown value tag"),
    (message({"m": {}, "v": {"t": 1}, "n": []}), "unknown value tag"),
])
def test_malformed_messages_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        decode_message(data)


def test_a_header_claiming_huge_arrays_allocates_nothing() -> None:
    # 2**31 float64 would be 16 GB: refused before any allocation because the bytes are absent.
    data = message({"m": {}, "v": {"nd": ["float64", [2**31], 0]}, "n": [16]}, b"\0" * 16)
    with pytest.raises(WireError, match="size does not match"):
        decode_message(data)


def test_deep_nesting_is_refused_without_recursion_errors() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    data = wire.MAGIC + struct.pack("<I", len(deep) + 20) + \
        f'{{"m":{{}},"v":{deep},"n":[]}}'.encode()
    with pytest.raises(WireError):
        decode_message(data)
    nested: list = []
    for _ in range(200):
        nested = [nested]
    with pytest.raises(WireError, match="nested"):
        encode_message({}, nested)


def test_size_limits_are_enforced() -> None:
    big = encode_message({}, np.zeros(1000))
    with pytest.raises(WireError, match="exceeds"):
        decode_message(big, wire.WireLimits(max_bytes=1000))
    many = encode_message({}, list(range(5000)))
    with pytest.raises(WireError, match="more than"):
        decode_message(many, wire.WireLimits(max_nodes=100))
    with pytest.raises(WireError, match="more than the limit"):
        wire.frame_length(struct.pack("<Q", 2**40))


def test_nan_constants_in_the_header_are_refused() -> None:
    data = message({"m": {}, "v": 1, "n": []}).replace(b'"v": 1', b'"v": NaN')
    with pytest.raises(WireError):
        decode_message(data)


def _cuda_tensor_message() -> bytes:
    # A worker grading on a GPU returned a float32 tensor of 3 elements on cuda:0.
    return message({"m": {}, "v": {"tt": ["float32", [3], 0, "cuda:0", False]}, "n": [12]},
                   bytes(12))


def test_a_tensor_from_the_gpu_is_refused_where_no_gpu_is_in_use() -> None:
    # Never moved to the CPU in silence: that would hide a result on the wrong device.
    with pytest.raises(WireError, match="cuda:0.*does not use a GPU"):
        decode_message(_cuda_tensor_message(), tensor_device=wire.Devices(cuda=False))
    with pytest.raises(WireError, match="cuda:0"):
        decode_message(_cuda_tensor_message())  # the default: no GPU
    _, out = decode_message(encode_message({}, torch.ones(3)), tensor_device=wire.Devices())
    assert str(out.device) == "cpu"


def test_a_tensor_is_built_on_the_device_it_was_sent_from() -> None:
    class StandIn(wire.Devices):
        """CUDA in use, its device stood in for by torch's meta device (no GPU here)."""

        asked: list[str] = []

        def __call__(self, device: str) -> str:
            self.asked.append(device)
            return "meta" if super().__call__(device).startswith("cuda") else "cpu"

    devices = StandIn(cuda=True)
    _, out = decode_message(_cuda_tensor_message(), tensor_device=devices)
    assert devices.asked == ["cuda:0"] and out.device.type == "meta" and out.shape == (3,)


def test_the_header_carries_each_tensors_device() -> None:
    data = encode_message({}, (torch.ones(2), np.ones(2)))
    header = json.loads(_header(data))
    assert header["v"]["t"][0]["tt"][3] == "cpu"


def _header(data: bytes) -> str:
    (n,) = struct.unpack_from("<I", data, len(wire.MAGIC))
    start = len(wire.MAGIC) + 4
    return data[start:start + n].decode()


def test_a_tensor_the_receiver_cannot_hold_is_refused_before_sending() -> None:
    # The trusted side never sends a worker without GPU access a tensor on another device.
    with pytest.raises(WireError, match="meta"):
        encode_message({}, [torch.empty(2, device="meta")], devices=wire.Devices(cuda=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (CUDA is not available)")
def test_cuda_tensors_travel_on_cuda_both_ways_on_a_gpu() -> None:
    data = encode_message({}, torch.ones(3, device="cuda"), devices=wire.Devices(cuda=True))
    assert json.loads(_header(data))["v"]["tt"][3] == "cuda:0"
    _, out = decode_message(data, tensor_device=wire.Devices(cuda=True))
    assert str(out.device) == "cuda:0"


def test_a_framed_message_is_the_message_behind_its_length() -> None:
    value = {"x": np.arange(6.0).reshape(2, 3), "t": torch.arange(4), "s": "é", "b": b"\x00\x01"}
    framed = encode_message({"op": "call"}, value, framed=True)
    assert framed == wire.frame(encode_message({"op": "call"}, value))
    n = wire.frame_length(framed[:wire.FRAME_HEADER_SIZE])
    meta, got = decode_message(framed[wire.FRAME_HEADER_SIZE:wire.FRAME_HEADER_SIZE + n])
    assert meta == {"op": "call"} and got["s"] == "é" and got["b"] == b"\x00\x01"
    assert np.array_equal(got["x"], value["x"]) and torch.equal(got["t"], value["t"])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_sending_large_arrays_copies_their_bytes_once(kind: str) -> None:
    """The speed tests send calls of several megabytes each; a grading child and a worker run
    beside each other's copies, so each copy made on the way counts in the batch's memory."""
    import tracemalloc

    size = 8 * 2**20
    array = np.ones(size // 8)
    value = [array, array * 2] if kind == "numpy" else \
        [torch.from_numpy(array), torch.from_numpy(array) * 2]
    tracemalloc.start()
    try:
        message = encode_message({"op": "call"}, value, framed=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(message) > 2 * size
    # The message itself: not a copy of each array's bytes before the join (4 × size in all),
    # nor of the whole message again behind its length.
    assert peak < 2.5 * size, f"{peak / 2**20:.1f} MB allocated to send {2 * size / 2**20:.0f} MB"
