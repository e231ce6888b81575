"""What a profile records of the machine that measured it: CPU model, device, library versions."""
from __future__ import annotations

import platform
import sys
from typing import Dict


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def library_versions() -> Dict[str, str]:
    """Versions of Python and of the loaded numerical libraries (torch, ultralytics, numpy, cv2)."""
    out = {"python": platform.python_version()}
    for mod in ("torch", "ultralytics", "numpy", "cv2"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__version__", None):
            out[mod] = str(m.__version__)
    return out


def device_description(device: str) -> str:
    """Describe the compute device (GPU name for CUDA, CPU model otherwise)."""
    if device.startswith("cuda"):
        try:
            import torch
            return f"{device} ({torch.cuda.get_device_name(int(device.split(':')[1]))})"
        except Exception:  # noqa: BLE001 - description only
            return device
    return f"cpu ({cpu_model()})"
