"""The AWS-recorded conformance corpus (../shared/conformance) and its harness, shared by the conformance tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shared import CONFORMANCE_DIR

KNOWN_FAILURES_FILE = Path(__file__).with_name("known_failures.txt")

if str(CONFORMANCE_DIR) not in sys.path:
    sys.path.insert(0, str(CONFORMANCE_DIR))

import run as harness  # noqa: E402  (the corpus's own run.py)


def known_failures() -> dict[str, str]:
    """case id -> reason, from known_failures.txt (`<case_id>  # reason` per line, as run.py reads it)."""
    failures = {}
    for line in KNOWN_FAILURES_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        case_id, _, reason = line.partition("#")
        failures[case_id.strip()] = reason.strip()
    return failures


def case_params(kinds: tuple[str, ...]) -> list:
    """One pytest param per case of these kinds, marked xfail(strict) when listed as a known failure."""
    failures = known_failures()
    params = []
    for case in harness.load_cases([str(CONFORMANCE_DIR / "cases")]):
        if harness.case_kind(case) not in kinds:
            continue
        marks = [pytest.mark.xfail(reason=failures[case["id"]], strict=True)] if case["id"] in failures else []
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params
