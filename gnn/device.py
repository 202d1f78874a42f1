"""Devices: ``"cpu"``, ``"cuda"`` (``"cuda:1"``, ...) or ``"auto"``; CUDA without CUDA is a clear error.

Examples
--------
>>> str(resolve_device("cpu"))
'cpu'
>>> import torch
>>> str(resolve_device("auto")) == ("cuda" if torch.cuda.is_available() else "cpu")
True
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import DeviceError

logger = logging.getLogger(__name__)

__all__ = ["resolve_device"]


def resolve_device(device: Any = "cpu") -> Any:
    """A ``torch.device`` for ``device``, checked to exist here.

    Raises
    ------
    DeviceError
        For ``"cuda"`` when torch has no CUDA (CPU build, no GPU, no driver) or
        the index is out of range, and for names torch does not know.
    """
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device={device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:N' or 'auto'",
                          "device") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + (" (a CPU-only build)" if torch.version.cuda is None else "")
            raise DeviceError(f"device={device!r} but CUDA is not available here ({build}, "
                              f"{torch.cuda.device_count()} GPU(s) visible); use device='cpu', or 'auto' to take "
                              "a GPU only when there is one", "device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist; "
                              "use 'cuda:0' …", "device")
    elif dev.type != "cpu":
        raise DeviceError(f"device={device!r} is not supported; use 'cpu', 'cuda' or 'auto'", "device")
    return dev
