"""The conformance corpus recorded on AWS: what AWS accepted, we accept; what it refused, we refuse alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepline.asl import create_error_message, parse_definition
from shared import CASES_DIR

CASES = CASES_DIR

# Refusals another layer reports: the expression compiler checks paths and intrinsic functions.
OTHER_LAYER = {
    "scenarios/base_scenarios.test_illegal_escapes_ESCAPE_SEQUENCES_ILLEGAL_INTRINSIC_FUNCTION",
    "scenarios/base_scenarios.test_illegal_escapes_ESCAPE_SEQUENCES_ILLEGAL_INTRINSIC_FUNCTION_2",
}


def _load() -> list[dict[str, Any]]:
    if not CASES.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(CASES.glob("*/*.json"))]


ALL = _load()


def _accepted() -> list[Any]:
    """Every definition AWS ran or created without complaint: executions, TestState machines, API calls."""
    params = []
    for case in ALL:
        kind = case.get("kind")
        if kind is None and not {"create_error", "validation"} & set(case.get("expected", {})):
            params.append(pytest.param(case["definition"], case.get("type", "STANDARD"), id=case["id"]))
        elif kind == "test_state":
            definition = case["request"].get("definition")
            if isinstance(definition, dict) and "States" in definition and "error" not in case["expected"]:
                params.append(pytest.param(definition, "STANDARD", id=case["id"]))
        elif kind == "api":
            for number, step in enumerate(case["steps"]):
                args = step.get("args", {})
                expect = step.get("expect", {})
                if "definition" in args and "error" not in expect and not step.get("expect_error"):
                    params.append(pytest.param(args["definition"], args.get("type", "STANDARD"),
                                               id=f"{case['id']}#{number}"))
    return params


def _refused() -> list[Any]:
    """(definition, machine type, expected create message or validation diagnostics) for every refusal."""
    params = []
    for case in ALL:
        expected, kind = case.get("expected", {}), case.get("kind")
        if case["id"] in OTHER_LAYER:  # the expression compiler reports these (tests/conformance checks them)
            continue
        if kind is None and ("create_error" in expected or "validation" in expected):
            params.append(pytest.param(case["definition"], case.get("type", "STANDARD"), expected, id=case["id"]))
        elif kind == "test_state" and expected.get("error", {}).get("code") == "InvalidDefinition":
            definition = case["request"]["definition"]
            message = expected["error"]["message_contains"]
            if not message.startswith("Invalid State Machine Definition"):
                continue  # TestState's own restrictions (no Map or Parallel), not the definition's
            if "States" not in definition:  # one state: TestState names it "StateName"
                definition = {"StartAt": "StateName", "States": {"StateName": definition}}
            params.append(pytest.param(definition, "STANDARD", {"create_error": {"message_contains": message}},
                                       id=case["id"]))
        elif kind == "api":
            for number, step in enumerate(case["steps"]):
                error = step.get("expect", {}).get("error", {})
                if error.get("code") == "InvalidDefinition":
                    # LocalStack's wording (not validated on AWS): only the reason inside it is compared
                    reason = error["message_contains"].split("Args=['", 1)[1].split("']", 1)[0]
                    params.append(pytest.param(step["args"]["definition"], "STANDARD",
                                               {"reason": reason}, id=f"{case['id']}#{number}"))
    return params


@pytest.mark.parametrize(("definition", "machine_type"), _accepted())
def test_accepted_by_aws_is_accepted(definition: Any, machine_type: str) -> None:
    _, diagnostics = parse_definition(definition if isinstance(definition, str) else json.dumps(definition),
                                      machine_type=machine_type)
    assert [d for d in diagnostics if d.severity == "ERROR"] == []


@pytest.mark.parametrize(("definition", "machine_type", "expected"), _refused())
def test_refused_by_aws_is_refused_alike(definition: Any, machine_type: str, expected: dict[str, Any]) -> None:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    _, diagnostics = parse_definition(text, machine_type=machine_type)
    if "validation" in expected:
        want = expected["validation"]
        assert [d.to_json() for d in diagnostics] == want["diagnostics"]
        assert ("FAIL" if any(d.severity == "ERROR" for d in diagnostics) else "OK") == want["result"]
    elif "create_error" in expected:
        message = expected["create_error"]["message_contains"].replace("<partition>", "aws")
        assert message in create_error_message(diagnostics)
    else:
        assert expected["reason"] in [d.message for d in diagnostics]


def test_corpus_counts() -> None:
    """Guards the guard: the corpus tests above really see the cases."""
    assert len(_accepted()) > 900
    assert len(_refused()) >= 23  # 26 refusals, less the 2 the expression compiler reports
