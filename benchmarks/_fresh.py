"""Shared by the benchmark scripts: a case in a fresh Python process, and the environment line.

A case runs in its own interpreter so that its peak resident memory (``ru_maxrss``) is its own;
its script prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import scipy


def run_fresh(code: str, *args) -> dict:
    """Run ``code`` with ``sys.argv[1:] = args`` in a fresh interpreter; its last JSON line."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def environment_line(*extra: str) -> str:
    """Python, numpy and scipy versions (and ``extra``), CPU count and load average."""
    parts = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        *extra,
        f"cpus {os.cpu_count()}",
        "load avg " + " ".join(f"{v:.2f}" for v in os.getloadavg()),
    ]
    return "  ".join(parts)
