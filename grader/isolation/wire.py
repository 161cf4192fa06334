"""The wire format between the trusted grader and the sandboxed worker: data only, never code.

A message is ``MAGIC | u32 header length | JSON header | raw buffers``. The header holds a small
envelope (``meta``: plain JSON written by the protocol) and a value tree in which every JSON
object is a one-key tag:

    {"t": [...]}                       tuple
    {"d": [[key, value], ...]}         dict (keys: str or int)
    {"f": "nan" | "inf" | "-inf"}      non-finite float
    {"b": i}                           bytes, buffer i
    {"nd": [dtype, shape, i]}          numpy array, buffer i, little-endian, C order
    {"ns": [dtype, i]}                 numpy scalar
    {"tt": [dtype, shape, i, device, requires_grad]}   torch tensor
    {"h": [id, type_name]}             handle: an object that stays in the worker

JSON arrays are lists; strings, ints, finite floats, booleans and null are themselves.
Nothing is ever unpickled: the decoder builds values from the tags alone, checks every dtype
against an allow-list, checks that shape × itemsize equals the bytes present *before*
allocating, and bounds the message size, the nesting depth and the number of nodes.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

MAGIC = b"GW1\n"
_HEADER = struct.Struct("<I")
_FRAME = struct.Struct("<Q")
Buffer = bytes | memoryview  # a message's part: bytes, or a view of an array's memory

# NumPy dtypes allowed on the wire (object, void, string and datetime dtypes never are).
NUMPY_DTYPES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
    "float16 float32 float64 complex64 complex128".split()
)
# torch dtypes by name; bfloat16 has no NumPy twin, so tensors travel as raw bytes.
TORCH_DTYPES = frozenset(
    "bool uint8 int8 int16 int32 int64 float16 bfloat16 float32 float64 complex64 complex128".split()
)


# Names and little-endian dtypes by dtype, looked up per array (``dtype.name`` is slow to compute).
_NUMPY_NAMES = {np.dtype(n): n for n in NUMPY_DTYPES}
_LITTLE = {n: np.dtype(n).newbyteorder("<") for n in NUMPY_DTYPES}
_NATIVE_LITTLE = sys.byteorder == "little"

# One encoder and decoder for every message: json.dumps/loads with options build new ones per call.
_JSON_OUT = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class WireError(ValueError):
    """A message that is malformed, too large, too deep or uses a forbidden type."""


@dataclass(frozen=True)
class WireLimits:
    """Bounds the decoder enforces on every message it reads."""

    max_bytes: int = 512 * 1024 * 1024  # whole message
    max_header: int = 32 * 1024 * 1024  # JSON part
    max_depth: int = 64  # nesting of containers
    max_nodes: int = 1_000_000  # values in one message
    max_ndim: int = 32


DEFAULT_LIMITS = WireLimits()


@dataclass(frozen=True)
class Handle:
    """An object the student's code returned that stays in the worker; pass it back to a later call."""

    id: int
    type_name: str

    def __repr__(self) -> str:
        return f"<opaque {self.type_name} object>"


# ---------------------------------------------------------------------------------------- encode


def encode_message(meta: dict[str, Any], value: Any = None,
                   make_handle: Callable[[Any], Handle] | None = None,
                   devices: Callable[[str], str] | None = None, *, framed: bool = False) -> bytes:
    """Encode ``meta`` (plain JSON) and ``value`` into one message; ``framed``: with the length
    prefix of a stream socket (``frame``), in the same copy.

    ``make_handle`` turns a value the wire cannot carry into a Handle (the worker passes its handle
    table here); without it such a value is an error. ``devices`` (the receiver's
    :class:`Devices`): a tensor on a device the receiver cannot build it on is an error here,
    before anything is sent.
    """
    # Arrays' and tensors' bytes are views of their memory until this one join copies them:
    # a message of large arrays costs their size once more, not three times.
    buffers: list[Buffer] = []
    tree = _encode(value, buffers, make_handle, 0, devices)
    sizes = [len(b) for b in buffers]
    header = _JSON_OUT.encode({"m": meta, "v": tree, "n": sizes}).encode()
    parts: list[Buffer] = [MAGIC, _HEADER.pack(len(header)), header, *buffers]
    if framed:
        parts.insert(0, _FRAME.pack(len(MAGIC) + _HEADER.size + len(header) + sum(sizes)))
    return b"".join(parts)


def _encode(x: Any, bufs: list[Buffer], make_handle: Callable[[Any], Handle] | None,
            depth: int, devices: Callable[[str], str] | None = None) -> Any:
    if depth > DEFAULT_LIMITS.max_depth:
        raise WireError(f"value nested more than {DEFAULT_LIMITS.max_depth} levels deep")
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return x
    if t is float:
        return x if math.isfinite(x) else {"f": repr(x)}
    if t is bytes:
        bufs.append(x)
        return {"b": len(bufs) - 1}
    if t is Handle:
        return {"h": [x.id, x.type_name]}
    if t is np.ndarray and (name := _numpy_name(x.dtype)) is not None:
        a = x if x.flags.c_contiguous else x.copy(order="C")  # ascontiguousarray makes 0-d 1-d
        if not (_NATIVE_LITTLE and a.dtype.isnative):
            a = a.astype(_LITTLE[name])
        bufs.append(memoryview(a.reshape(-1).view(np.uint8)))  # copied once, into the message
        return {"nd": [name, list(a.shape), len(bufs) - 1]}
    if isinstance(x, np.generic) and type(x).__module__ == "numpy" \
            and (name := _numpy_name(x.dtype)) is not None:
        bufs.append(np.asarray(x).astype(_LITTLE[name]).tobytes())
        return {"ns": [name, len(bufs) - 1]}
    if t is list:
        return [_encode(v, bufs, make_handle, depth + 1, devices) for v in x]
    if t is tuple:
        return {"t": [_encode(v, bufs, make_handle, depth + 1, devices) for v in x]}
    if t is dict and all(type(k) in (str, int) for k in x):
        return {"d": [[k, _encode(v, bufs, make_handle, depth + 1, devices)]
                      for k, v in x.items()]}
    tensor = _encode_tensor(x, bufs, devices)
    if tensor is not None:
        return tensor
    if make_handle is not None:
        h = make_handle(x)
        return {"h": [h.id, h.type_name]}
    raise WireError(f"cannot send a value of type {_type_name(x)}")


def _numpy_name(dtype: np.dtype) -> str | None:
    """The allow-listed name of a NumPy dtype in either byte order, or None."""
    name = _NUMPY_NAMES.get(dtype)
    if name is None and dtype.byteorder in "<>":
        name = _NUMPY_NAMES.get(dtype.newbyteorder("="))
    return name


def _encode_tensor(x: Any, bufs: list[Buffer],
                   devices: Callable[[str], str] | None = None) -> dict[str, Any] | None:
    torch = _torch()
    if torch is None or type(x) not in (torch.Tensor, torch.nn.Parameter):
        return None
    name = str(x.dtype).removeprefix("torch.")
    if name not in TORCH_DTYPES or x.layout != torch.strided:
        return None
    if devices is not None:
        devices(str(x.device))  # raises where the receiver cannot hold it
    t = x.detach().to("cpu").contiguous()
    raw = t.reshape(-1).view(torch.uint8) if t.numel() and t.element_size() > 0 else None
    bufs.append(memoryview(raw.numpy()) if raw is not None else b"")  # a view, as for arrays
    return {"tt": [name, list(t.shape), len(bufs) - 1, str(x.device), bool(x.requires_grad)]}


def _type_name(x: Any) -> str:
    t = type(x)
    if t is np.ndarray:
        return f"numpy.ndarray(dtype={x.dtype})"
    mod = getattr(t, "__module__", "") or ""
    return f"{mod}.{t.__qualname__}" if mod not in ("builtins", "") else t.__qualname__


def type_name(x: Any) -> str:
    """A readable name for the type of ``x`` (used for handles and messages)."""
    return _type_name(x)


# ---------------------------------------------------------------------------------------- decode


def decode_message(data: bytes | bytearray | memoryview, limits: WireLimits = DEFAULT_LIMITS,
                   tensor_device: Callable[[str], str] | None = None) -> tuple[dict[str, Any], Any]:
    """Decode a message into ``(meta, value)``, refusing anything outside ``limits``.

    ``tensor_device`` maps the device a tensor was on in the sender to the device to build it on
    here, or raises :class:`WireError` (default: ``Devices(cuda=False)``, CPU tensors only).
    """
    view = memoryview(data)
    if len(view) > limits.max_bytes:
        raise WireError(f"message of {len(view)} bytes exceeds the limit of {limits.max_bytes}")
    if len(view) < len(MAGIC) + _HEADER.size or bytes(view[: len(MAGIC)]) != MAGIC:
        raise WireError("not a grader message (bad magic)")
    (hlen,) = _HEADER.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _HEADER.size
    if hlen > limits.max_header or start + hlen > len(view):
        raise WireError("header length out of bounds")
    try:
        header = _JSON_IN.decode(str(view[start:start + hlen], "utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WireError(f"header is not valid JSON: {str(exc)[:100]}") from None
    if not isinstance(header, dict) or set(header) != {"m", "v", "n"}:
        raise WireError("header must hold exactly m, v and n")
    meta, tree, lens = header["m"], header["v"], header["n"]
    if not isinstance(meta, dict) or not isinstance(lens, list):
        raise WireError("malformed header")
    if not all(type(n) is int and n >= 0 for n in lens):
        raise WireError("buffer lengths must be non-negative integers")
    pos = start + hlen
    if pos + sum(lens) != len(view):
        raise WireError("buffer lengths do not add up to the message size")
    buffers: list[memoryview] = []
    for n in lens:
        buffers.append(view[pos:pos + n])
        pos += n
    state = _DecodeState(limits, buffers, tensor_device)
    return meta, state.value(tree, 0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a header")


_JSON_IN = json.JSONDecoder(parse_constant=_no_constant)


class _DecodeState:
    def __init__(self, limits: WireLimits, buffers: list[memoryview],
                 tensor_device: Callable[[str], str] | None) -> None:
        self.limits = limits
        self.buffers = buffers
        self.used: set[int] = set()
        self.nodes = 0
        self.tensor_device = tensor_device

    def buffer(self, i: Any) -> memoryview:
        if type(i) is not int or not 0 <= i < len(self.buffers) or i in self.used:
            raise WireError("bad buffer reference")
        self.used.add(i)
        return self.buffers[i]

    def value(self, x: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise WireError(f"more than {self.limits.max_nodes} values in one message")
        if depth > self.limits.max_depth:
            raise WireError(f"value nested more than {self.limits.max_depth} levels deep")
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [self.value(v, depth + 1) for v in x]
        if not isinstance(x, dict) or len(x) != 1:
            raise WireError("malformed value node")
        (tag, body), = x.items()
        if tag == "t" and isinstance(body, list):
            return tuple(self.value(v, depth + 1) for v in body)
        if tag == "d" and isinstance(body, list):
            out: dict[Any, Any] = {}
            for item in body:
                if not (isinstance(item, list) and len(item) == 2 and type(item[0]) in (str, int)):
                    raise WireError("malformed dict entry")
                out[item[0]] = self.value(item[1], depth + 1)
            return out
        if tag == "f" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "b":
            return bytes(self.buffer(body))
        if tag == "h" and isinstance(body, list) and len(body) == 2 \
                and type(body[0]) is int and isinstance(body[1], str):
            return Handle(body[0], body[1][:200])
        if tag == "nd" and isinstance(body, list) and len(body) == 3:
            return self.ndarray(*body)
        if tag == "ns" and isinstance(body, list) and len(body) == 2:
            return self.ndarray(body[0], [], body[1])[()]
        if tag == "tt" and isinstance(body, list) and len(body) == 5:
            return self.tensor(*body)
        raise WireError(f"unknown value tag {tag!r}")

    def shape(self, shape: Any) -> tuple[int, ...]:
        if not isinstance(shape, list) or len(shape) > self.limits.max_ndim \
                or not all(type(n) is int and n >= 0 for n in shape):
            raise WireError("bad array shape")
        return tuple(shape)

    def ndarray(self, dtype: Any, shape: Any, i: Any) -> np.ndarray:
        if dtype not in NUMPY_DTYPES:
            raise WireError(f"dtype {str(dtype)[:40]!r} is not allowed on the wire")
        shp = self.shape(shape)
        dt = _LITTLE[dtype]
        buf = self.buffer(i)
        if math.prod(shp) * dt.itemsize != len(buf):
            raise WireError("array size does not match its bytes")
        a = np.frombuffer(buf, dtype=dt).reshape(shp)
        return a.copy() if _NATIVE_LITTLE else a.astype(a.dtype.newbyteorder("="))

    def tensor(self, dtype: Any, shape: Any, i: Any, device: Any, requires_grad: Any) -> Any:
        torch = _torch()
        if torch is None:
            raise WireError("received a torch tensor but torch is not installed")
        if dtype not in TORCH_DTYPES or not isinstance(device, str) or type(requires_grad) is not bool:
            raise WireError(f"tensor dtype {str(dtype)[:40]!r} is not allowed on the wire")
        shp = self.shape(shape)
        tdt = getattr(torch, dtype)
        itemsize = torch.empty((), dtype=tdt).element_size()
        buf = self.buffer(i)
        if math.prod(shp) * itemsize != len(buf):
            raise WireError("tensor size does not match its bytes")
        if len(buf) == 0:
            t = torch.empty(shp, dtype=tdt)
        else:
            t = torch.frombuffer(bytearray(buf), dtype=torch.uint8).view(tdt).reshape(shp)
        target = (self.tensor_device or _CPU_ONLY)(device[:40])
        if target != "cpu":
            t = t.to(target)
        return t.requires_grad_(requires_grad) if t.is_floating_point() or t.is_complex() else t


class Devices:
    """Where a process builds the tensors it receives: on the device they were sent from.

    ``cuda``: whether this process grades on a GPU, decided once by the trusted side and handed
    down as data (never by asking CUDA here: asking starts CUDA's runtime in a process that may
    fork, or fails under the sandbox's limits). A tensor sent from ``cuda:N`` is built on
    ``cuda:N`` where CUDA is in use, so a result on the wrong device shows up as such in the
    checks instead of being moved silently; where it is not, the tensor is refused.
    """

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda

    def __call__(self, device: str) -> str:
        if device == "cpu":
            return "cpu"
        if device.startswith("cuda") and self.cuda:
            return device
        raise WireError(f"a tensor on {device!r} arrived in a process that does not use "
                        f"{'that device' if self.cuda else 'a GPU'}")


_CPU_ONLY = Devices(cuda=False)


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # the grader works for NumPy-only courses too
        return None
    return torch


# ---------------------------------------------------------------------------------------- frames


def frame(message: bytes) -> bytes:
    """Prefix a message with its length for a stream socket."""
    return _FRAME.pack(len(message)) + message


FRAME_HEADER_SIZE = _FRAME.size


def frame_length(prefix: bytes | bytearray, limits: WireLimits = DEFAULT_LIMITS) -> int:
    """The length announced by a frame prefix, refused when over the limit."""
    (n,) = _FRAME.unpack(prefix)
    if n > limits.max_bytes:
        raise WireError(f"the worker sent {n} bytes, more than the limit of {limits.max_bytes}")
    return n


class FrameReader:
    """The bytes of frames from a socket: small reads from whatever has arrived, a large frame
    straight into a buffer of its own. Both ends of a worker's socket read through one.

    ``wait``, when given, is called before each read from the socket: the trusted side blocks
    there until bytes arrive or its deadline passes (raising). A closed socket raises EOFError.
    """

    CHUNK = 64 * 1024

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.pending = bytearray()  # bytes read past the end of the last frame

    def read_exact(self, n: int, wait: Callable[[], None] | None = None) -> bytearray:
        if n <= self.CHUNK:
            while len(self.pending) < n:
                if wait is not None:
                    wait()
                chunk = self.sock.recv(self.CHUNK)
                if not chunk:
                    raise EOFError
                self.pending += chunk
            data = self.pending[:n]
            del self.pending[:n]
            return data
        buf = bytearray(n)
        got = len(self.pending)
        buf[:got] = self.pending
        self.pending.clear()
        view = memoryview(buf)
        while got < n:
            if wait is not None:
                wait()
            k = self.sock.recv_into(view[got:])
            if k == 0:
                raise EOFError
            got += k
        return buf
