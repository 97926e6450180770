"""Where the shared, read-only material is: ../shared beside this checkout, else /work/shared (override with
STEPLINE_SHARED)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    candidates = [Path(os.environ["STEPLINE_SHARED"])] if os.environ.get("STEPLINE_SHARED") else []
    candidates += [ROOT.parent / "shared", Path("/work/shared")]
    return next((path for path in candidates if path.exists()), candidates[0])


SHARED = shared_dir()
CONFORMANCE_DIR = SHARED / "conformance"
CASES_DIR = CONFORMANCE_DIR / "cases"
