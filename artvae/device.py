"""The one place that picks the compute device and the autocast dtype."""

from __future__ import annotations

import torch


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


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Reduced precision for a forward pass: bf16 on CUDA that has it, fp16 on MPS, none on CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None
