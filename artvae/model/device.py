"""The one place that picks the compute device and the autocast dtype.

Precision for inference: bf16 autocast on CUDA (fp16 where a GPU lacks bf16), fp16 on MPS, and
on a CPU bf16 only where the CPU computes it natively (AVX512-BF16 or AMX); elsewhere oneDNN
emulates bf16 and it is slower than float32 (measured in README, "Serving many people").
`precision` ("float32", "bfloat16") or $ARTVAE_PRECISION overrides the choice.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def pick_device(name: str | None = None) -> torch.device:
    """`name` ("cuda", "mps", "cpu", "cuda:1") or the best available: cuda -> mps -> cpu."""
    if name and name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("--device mps was asked for, but this PyTorch build has no MPS")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(the CPU's model name, its feature flags) from Linux's /proc/cpuinfo; elsewhere
    (platform's name, no flags)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    name = next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), platform.processor() or "unknown")
    flags = next((line.split(":", 1)[1].split() for line in lines
                  if line.startswith("flags")), [])
    return name, frozenset(flags)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (its /proc/cpuinfo flags)."""
    flags = _cpuinfo()[1]
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(device: torch.device, precision: str | None = None) -> torch.dtype | None:
    """Reduced precision for a forward pass (None: float32). `precision` "auto" (default:
    $ARTVAE_PRECISION, else auto) picks bf16 on CUDA that has it, fp16 on MPS, bf16 on a CPU
    with native bf16, float32 on other CPUs."""
    precision = precision or os.environ.get("ARTVAE_PRECISION") or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides a CPU's speed here


def cpu_description() -> dict:
    """The CPU a speed figure was measured on: its model name, which of ISA_FLAGS it has, the
    kernels PyTorch picked (`ATEN_CPU_CAPABILITY` can lower them), oneDNN's cap
    (`ONEDNN_MAX_CPU_ISA`) and the precision asked for (`ARTVAE_PRECISION`)."""
    name, flags = _cpuinfo()
    return {"cpu": name, "cores": os.cpu_count(),
            "instruction_sets": [f for f in ISA_FLAGS if f in flags],
            "aten_kernels": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "precision": os.environ.get("ARTVAE_PRECISION", "auto")}
