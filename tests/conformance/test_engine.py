"""The conformance corpus run in process: every execution, CreateStateMachine and validation case."""

from __future__ import annotations

import pytest
from conformance.corpus import harness, case_params

from stepline.errors import DefinitionError
from stepline.runtime.integrations.mock_config import MockConfig
from stepline.service.definitions import create_error_message, validate_definition
from stepline.service.workflow import Workflow


@pytest.mark.parametrize("case", case_params(("execution",)))
def test_execution(case: dict) -> None:
    name = harness.state_machine_name(case["id"])
    mock = MockConfig.from_json(harness.mock_config([case])) if case.get("mock") else None
    workflow = Workflow(case["definition"], name=name, mock_config=mock, role_arn=harness.DEFAULT_ROLE_ARN,
                        type=case.get("type", "STANDARD"))
    result = workflow.run(case["input"], time_scale=0, test_case=harness.MOCK_TEST_CASE if mock else None)
    history = None if case.get("type") == "EXPRESS" else result.history
    diffs = harness.compare(case, result.status, result.output_text, result.error, result.cause, history)
    assert not diffs, diffs


@pytest.mark.parametrize("case", case_params(("create_error",)))
def test_create_error(case: dict) -> None:
    try:
        Workflow(case["definition"], type=case.get("type", "STANDARD"))
    except DefinitionError as error:
        diffs = harness.compare_create_error(case, "InvalidDefinition", create_error_message(error.diagnostics))
    else:
        diffs = harness.compare_create_error(case, None, None)
    assert not diffs, diffs


@pytest.mark.parametrize("case", case_params(("validation",)))
def test_validation(case: dict) -> None:
    options = {"severity": "severity", "maxResults": "max_results", "type": "machine_type"}
    arguments = {"machine_type": case.get("type", "STANDARD")}
    arguments.update({options[k]: v for k, v in (case.get("validate_args") or {}).items() if k in options})
    response = validate_definition(case["definition"], **arguments)
    diffs = harness.compare_validation(case, response)
    assert not diffs, diffs
