"""The CPU as Linux describes it (``/proc/cpuinfo``), for the GEMM choice and the benchmark's header."""

from __future__ import annotations

import platform
from typing import Optional

__all__ = ['cpuinfo_field', 'cpu_model', 'cpu_vendor']


def cpuinfo_field(name: str) -> Optional[str]:
    """The first ``name`` field of ``/proc/cpuinfo`` (None where there is no such file or field)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (``model name``; else ``platform.processor()``)."""
    return cpuinfo_field('model name') or platform.processor() or 'unknown CPU'


def cpu_vendor() -> str:
    """The CPU vendor (``GenuineIntel``, ``AuthenticAMD``, ...; ``''`` when unknown)."""
    vendor = cpuinfo_field('vendor_id')
    if vendor is not None:
        return vendor
    return 'GenuineIntel' if 'Intel' in platform.processor() else ''
