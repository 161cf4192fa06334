"""Whether this grading run grades on a GPU: decided once, without ever starting CUDA in a
process that a worker or a grading child is forked from.

CUDA does not survive ``fork``: once a process has initialised it (``torch.cuda.is_available()``
is enough), no child it forks can use CUDA ("Cannot re-initialize CUDA in forked subprocess").
The engine forks grading children and the zygote forks workers, so neither may ask CUDA
anything. The engine decides instead, once, before it forks: from what needs no CUDA (a torch
built with CUDA, NVIDIA device files) and, only where both are there and GPU grading is on, from
a fresh interpreter that asks CUDA and reports as data. Its grading children inherit the
decision; each worker is told in its start-up configuration whether it grades on the GPU.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CUDA_WORKERS", "Device", "NO_GPU_WORKERS", "adopt", "current", "decide"]

# The one switch of the GPU path. On, where CUDA is present: workers of topics whose
# grading.toml sets `gpu_workers` get the NVIDIA devices and no address-space cap from the
# sandbox, tensors travel on the GPU, speed is graded there and @pytest.mark.gpu tests run. Off:
# none of that, anywhere: the sandbox is never relaxed for a GPU, speed is graded on the CPU and
# GPU tests are reported as not graded. The path has not yet run on a real GPU, so it stays off
# until it has.
CUDA_WORKERS = False

NO_GPU_WORKERS = "GPU workers are not yet verified on a real GPU"

# A fresh interpreter that asks CUDA and prints what it found; it exits, and its CUDA with it.
_ASK_CUDA = """
import json, torch
found = {"available": bool(torch.cuda.is_available())}
if found["available"]:
    props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    found.update(names=[p.name for p in props], memory=[int(p.total_memory) for p in props],
                 l2=[int(getattr(p, "L2_cache_size", 0)) for p in props])
print(json.dumps(found))
"""


@dataclass(frozen=True)
class Device:
    """Whether speed is graded on a GPU and GPU tests run (``cuda``), and what is known of it."""

    cuda: bool
    reason: str = ""  # why not, where ``cuda`` is false
    names: tuple[str, ...] = ()  # of the GPUs CUDA shows
    memory_bytes: int = 0  # of the first
    l2_bytes: int = 0  # of the first: timed calls write more than this between samples

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Device:
        return cls(cuda=bool(data["cuda"]), reason=str(data.get("reason", "")),
                   names=tuple(str(n) for n in data.get("names", ())),
                   memory_bytes=int(data.get("memory_bytes", 0)),
                   l2_bytes=int(data.get("l2_bytes", 0)))


_DECIDED: Device | None = None


def current() -> Device:
    """The decision of this process (made here by :func:`decide` on first use, or inherited)."""
    return _DECIDED if _DECIDED is not None else decide()


def adopt(device: Device) -> None:
    """Take a decision made elsewhere (by the process that started this one)."""
    global _DECIDED
    _DECIDED = device


def decide(enabled: bool | None = None, *, timeout: float = 120.0) -> Device:
    """Decide once for this process and those it forks; never starts CUDA here.

    ``enabled``: whether GPU grading is on (default: :data:`CUDA_WORKERS`).
    """
    global _DECIDED
    if _DECIDED is None:
        _DECIDED = _decide(CUDA_WORKERS if enabled is None else enabled, timeout)
    return _DECIDED


def _decide(enabled: bool, timeout: float) -> Device:
    absent = _absent()
    if absent:
        return Device(False, f"no CUDA on this machine ({absent})")
    if not enabled:
        return Device(False, NO_GPU_WORKERS)
    try:
        proc = subprocess.run([sys.executable, "-c", _ASK_CUDA], capture_output=True, text=True,
                              timeout=timeout, check=False)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return Device(False, "no CUDA on this machine (asking CUDA failed)")
    if not found.get("available") or not found.get("names"):
        return Device(False, "no CUDA on this machine (CUDA reports no usable GPU)")
    return Device(True, "", tuple(found["names"]), int(found["memory"][0]), int(found["l2"][0]))


def _absent() -> str:
    """Why there can be no CUDA here, found without asking CUDA, or importing torch (which the
    engine imports meanwhile, in parallel with the zygote); "" where there may be."""
    if not glob.glob("/dev/nvidia[0-9]*"):
        return "no NVIDIA GPU device"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        built, version = getattr(torch.version, "cuda", None), torch.__version__
    else:
        built, version = _torch_build()
    if version is None:
        return "torch is not installed"
    if not built:
        return f"torch {version} is built without CUDA"
    return ""


def _torch_build() -> tuple[str | None, str | None]:
    """(CUDA version torch was built with, torch's version) read from torch/version.py."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None, None
    version = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", text, re.M)
    cuda = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)", text, re.M)
    return (cuda.group(1) if cuda else None), (version.group(1) if version else "unknown")
