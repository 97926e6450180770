"""The TestState action: the request checked as AWS checks it, the state run by engine/test_state.py, and an
unmocked Task answered by stepline's integrations (the services themselves, local functions, HTTP endpoints).

A mocked Task result is checked against the output shape of the API the Task calls (mock_results.py); a mocked
Map result is an array (unless the Map writes its results with a ResultWriter), a mocked Parallel result an array
with one item per branch.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stepline.asl.parse import parse_definition
from stepline.asl.rules import VARIABLE_NAME_RULE, is_variable_name
from stepline.engine.effects import InvokeTask
from stepline.engine.program import State
from stepline.engine.resources import describe_resource
from stepline.engine.test_state import Mock, StateConfiguration, StateNotFound, StateTest, compile_for_test
from stepline.errors import DefinitionError, StatesError
from stepline.jsonvalue import JSON, loads, too_deep
from stepline.runtime.integrations.registry import (AwaitCallback, Failed, Integrations, Submitted, Succeeded,
                                                    TaskCall)
from stepline.runtime.applying import STEPS
from stepline.runtime.items import csv as csv_file
from stepline.service import errors
from stepline.service.arns import check_role_arn
from stepline.service.definitions import create_error_message
from stepline.service.mock_results import check_mock_result
from stepline.service.settings import Settings
from stepline.service.shapes import TOO_DEEP

MAX_PAYLOAD = 256 * 1024
TIMEOUT_SECONDS = 300  # "The TestState API can run for up to five minutes"
MOCKABLE = frozenset({"Task", "Map", "Parallel"})
_RETRYING = MOCKABLE  # the state types that may have a Retry field
SUPPORTED_WITHOUT_MOCK = "[Task, Wait, Pass, Succeed, Fail, Choice]"


async def test_state(request: Mapping[str, Any], *, settings: Settings, integrations: Integrations,
                     now: datetime) -> dict:
    """TestState: the response members, or an ApiError as AWS reports it."""
    if request.get("roleArn") is not None:
        check_role_arn(request["roleArn"])
    mock_request = request.get("mock")
    mock = _mock(mock_request) if mock_request is not None else None
    if mock is not None and request.get("revealSecrets"):
        raise errors.ValidationException("TestState does not support RevealSecrets when a mock is specified.")
    definition = _definition(request.get("definition"))
    state_name = request.get("stateName")
    try:
        program, state = await asyncio.to_thread(compile_for_test, definition, state_name)  # up to 1 MB
    except DefinitionError as error:
        raise errors.InvalidDefinition(create_error_message(error.diagnostics)) from None
    except StateNotFound:
        raise errors.ValidationException("State not found in definition") from None
    body = state.definition.fields
    resource = describe_resource(state.resource, settings.region) if state.type == "Task" else None
    if mock is None:
        if state.type in ("Map", "Parallel"):
            raise errors.InvalidDefinition("TestState API does not support Map or Parallel states. Supported state "
                                           f"types include: {SUPPORTED_WITHOUT_MOCK}")
        if resource is not None:
            if not request.get("roleArn"):
                raise errors.ValidationException("RoleArn must be specified when testing a Task state")
            if resource.kind == "activity" or resource.pattern != "request":
                raise errors.ValidationException("TestState supports Activity tasks and the .sync and "
                                                 ".waitForTaskToken integration patterns only when a mock is specified")
    elif state.type not in MOCKABLE:
        raise errors.ValidationException(f"State type '{state.type}' is not supported when a mock is specified")
    input_value = _input(request.get("input"))
    variables = _variables(request.get("variables"))
    context = request.get("context")
    if context is not None:
        if mock is None:
            raise errors.ValidationException("A Context object can only be specified when a mock is specified")
        context = _context(context)
    configuration = _configuration(request.get("stateConfiguration"), state, mock)
    if mock is not None and mock.error is None:
        if state.type in ("Map", "Parallel"):
            _check_group_result(mock.result, state, body)
        elif resource is not None:
            check_mock_result(mock.result, resource, (mock_request or {}).get("fieldValidationMode") or "STRICT")

    machine_name, execution_name = str(uuid.uuid4()), str(uuid.uuid4())
    prefix = f"arn:aws:states:{settings.region}:{settings.account}"
    test = StateTest(program, state, input=input_value, inspection_level=request.get("inspectionLevel") or "INFO",
                     variables=variables, context=context, mock=mock, configuration=configuration,
                     execution_arn=f"{prefix}:express:{machine_name}:{execution_name}", execution_name=execution_name,
                     state_machine_arn=f"{prefix}:stateMachine:{machine_name}", state_machine_name=machine_name,
                     role_arn=request.get("roleArn"), start_time=now, region=settings.region,
                     item_reader=state.type == "Map" and "ItemReader" in body, limits=settings.limits)
    # the state's expressions run off the event loop, which serves everything else meanwhile (expr/limits.py)
    call = await STEPS.run(test.start, now)
    if test.item_count is not None and configuration.map_iteration_failure_count > test.item_count:
        raise errors.ValidationException(f"mapIterationFailureCount ({configuration.map_iteration_failure_count}) "
                                         f"cannot be greater than the number of Map items ({test.item_count})")
    exchanges: list[JSON] = []
    while call is not None:  # an unmocked Task: stepline's integrations answer it
        task = TaskCall.of(call, test.execution.execution_arn)
        call = await _perform(test, task, integrations, min(call.timeout_seconds or TIMEOUT_SECONDS, TIMEOUT_SECONDS),
                              exchanges)
    response = test.response()
    if exchanges and test.inspection_level == "TRACE":
        _show_exchange(response["inspectionData"], exchanges[-1], reveal=bool(request.get("revealSecrets")))
    return response


def _show_exchange(data: dict, exchange: JSON, *, reveal: bool) -> None:
    """TRACE: the HTTP Task's request and response; what the connection added to the request (its secrets) only
    when revealSecrets is true ("Step Functions omits all secrets in the HTTP request and response data")."""
    assert isinstance(exchange, dict)
    data["request"] = exchange["request"] if reveal else exchange["requestWithoutSecrets"]
    if "response" in exchange:
        data["response"] = exchange["response"]


async def _perform(test: StateTest, task: TaskCall, integrations: Integrations,
                   timeout: float, exchanges: list[JSON]) -> InvokeTask | None:
    """Call the Task's resource through the first integration that handles it; its answer goes to the test."""
    if not integrations.handles(task):
        return await STEPS.run(
            test.task_failed, "States.Runtime", f"stepline has no integration for the resource '{task.resource.arn}': "
                                                "register a local function (--functions) or give the request a mock")
    try:
        outcome = await asyncio.wait_for(_outcome(task, integrations), timeout)
    except asyncio.TimeoutError:
        return await STEPS.run(test.task_failed, "States.Timeout", None)
    if not isinstance(outcome, AwaitCallback) and outcome.inspection is not None:
        exchanges.append(outcome.inspection)
    if isinstance(outcome, Failed):
        return await STEPS.run(test.task_failed, outcome.error, outcome.cause)
    return await STEPS.run(test.task_succeeded, None if isinstance(outcome, AwaitCallback) else outcome.output)


async def _outcome(task: TaskCall, integrations: Integrations) -> Succeeded | Failed | AwaitCallback:
    outcome = await integrations.invoke(task)
    return await integrations.wait(task, outcome.handle) if isinstance(outcome, Submitted) else outcome


# ---------------------------------------------------------------------------------------------- the request

def _definition(definition: Any) -> JSON:
    if isinstance(definition, (dict, list)):
        return definition
    if not isinstance(definition, str) or not definition.strip():
        raise errors.InvalidDefinition("Invalid State Machine Definition: 'MISSING_DESCRIPTION: Received a null or "
                                       "empty workflow input. at null'")
    try:
        return loads(definition)
    except ValueError:  # the parser's diagnostics word the JSON syntax error as AWS does
        _, diagnostics = parse_definition(definition)
        raise errors.InvalidDefinition(create_error_message(diagnostics)) from None


def _input(text: str | None) -> JSON:
    text = "{}" if text is None else text
    if len(text.encode()) > MAX_PAYLOAD:
        raise errors.InvalidExecutionInput("Invalid State Machine Execution Input: 'The input exceeds the maximum "
                                           "size of 262144 bytes'")
    try:
        value = loads(text)
    except ValueError:
        raise errors.InvalidExecutionInput("Invalid State Machine Execution Input: 'The input is not valid "
                                           "JSON'") from None
    if too_deep(value):
        raise errors.InvalidExecutionInput(f"Invalid State Machine Execution Input: '{TOO_DEEP}'")
    return value


def _variables(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        variables = loads(text)
    except ValueError:
        raise errors.ValidationException("Variables must be a valid JSON object") from None
    if not isinstance(variables, dict):
        raise errors.ValidationException("Variables must be a valid JSON object")
    for name in variables:
        if not is_variable_name(name):
            raise errors.ValidationException(f"The variable name '{name}' is not valid: {VARIABLE_NAME_RULE}")
    return variables


def _mock(mock: Mapping[str, Any]) -> Mock:
    has_result, error_output = mock.get("result") is not None, mock.get("errorOutput")
    if has_result and error_output is not None:
        raise errors.ValidationException("A test mock should have only one of the following fields: "
                                         "[result, errorOutput].")
    if error_output is not None:
        if not error_output.get("error"):
            raise errors.ValidationException("A mocked errorOutput must specify an error")
        return Mock(error=error_output["error"], cause=error_output.get("cause"))
    if not has_result:
        raise errors.ValidationException("A test mock should have one of the following fields: [result, errorOutput].")
    try:
        return Mock(result=loads(mock["result"]))
    except ValueError:
        raise errors.ValidationException("Mocked result must be valid JSON") from None


def _configuration(configuration: Mapping[str, Any] | None, state: State, mock: Mock | None) -> StateConfiguration:
    """stateConfiguration, each member checked against the state it configures: a member that cannot apply to the
    state (or to the mock) is refused rather than ignored."""
    if not configuration:
        return StateConfiguration()
    retry_count = configuration.get("retrierRetryCount")
    if retry_count is not None and state.type not in _RETRYING:
        raise errors.ValidationException(f"retrierRetryCount is not supported for state type '{state.type}': only "
                                         "Task, Map and Parallel states have a Retry field")
    failure_count = configuration.get("mapIterationFailureCount")
    if failure_count is not None and state.type != "Map":
        raise errors.ValidationException("mapIterationFailureCount can only be specified when testing a Map state")
    caused_by = configuration.get("errorCausedByState")
    if caused_by is not None:
        if state.type not in ("Map", "Parallel"):
            raise errors.ValidationException("errorCausedByState can only be specified when testing a Map or "
                                             "Parallel state")
        if mock is None or mock.error is None:
            raise errors.ValidationException("errorCausedByState can only be specified when mock.errorOutput is "
                                             "specified")
        if caused_by not in _inner_states(state):
            raise errors.ValidationException(f"errorCausedByState '{caused_by}' is not a state of the "
                                             f"{state.type} state '{state.name}'")
    reader_data = configuration.get("mapItemReaderData")
    if reader_data is not None:
        reader = state.definition.fields.get("ItemReader") if state.type == "Map" else None
        if not isinstance(reader, dict):
            raise errors.ValidationException("mapItemReaderData can only be specified when testing a Map state "
                                             "with an ItemReader")
        reader_data = _reader_items(reader_data, reader)
    return StateConfiguration(retrier_retry_count=retry_count or 0, map_iteration_failure_count=failure_count or 0,
                              error_caused_by_state=caused_by, map_item_reader_data=reader_data)


# The context object a request may give, field by field: what each may hold.
_CONTEXT_FIELDS: dict[str, dict[str, type | tuple[type, ...] | None]] = {
    "Execution": {"Id": str, "Input": None, "Name": str, "RoleArn": str, "StartTime": str, "RedriveCount": int},
    "State": {"EnteredTime": str, "Name": str, "RetryCount": int},
    "StateMachine": {"Id": str, "Name": str},
    "Task": {"Token": str},
}
_TYPE_NAMES = {str: "a string", int: "an integer"}


def _context(text: str) -> dict:
    def invalid(problem: str) -> errors.ApiError:
        return errors.ValidationException(f"Invalid Context object provided: {problem}")

    try:
        context = loads(text)
    except ValueError:
        raise invalid("The Context object must be valid JSON") from None
    if not isinstance(context, dict):
        raise invalid("The Context object must be a JSON object")
    for key, value in context.items():
        if key == "Map":
            raise invalid("'Map' field is not supported when mocking a Context object")
        fields = _CONTEXT_FIELDS.get(key)
        if fields is None:
            raise invalid(f"Field '{key}' is not allowed")
        if not isinstance(value, dict):
            raise invalid(f"{key} must be an object")
        for name, member in value.items():
            if name not in fields:
                raise invalid(f"Field '{name}' is not allowed")
            kind = fields[name]
            if kind is not None and (not isinstance(member, kind) or isinstance(member, bool)):
                raise invalid(f"{key}.{name} must be {_TYPE_NAMES[kind]}")  # type: ignore[index]
    return context


def _inner_states(state: State) -> set[str]:
    """The names of the states a Map's item processor or a Parallel's branches hold, at any depth."""
    names: set[str] = set()
    for machine in (*state.branches, *([state.processor] if state.processor else [])):
        for inner in machine.states.values():
            names |= {inner.name, *_inner_states(inner)}
    return names


def _check_group_result(result: JSON, state: State, body: Mapping[str, JSON]) -> None:
    """A Map's mocked result is its results, an array (the ResultWriter's answer when it writes them); a
    Parallel's is one result per branch."""
    if state.type == "Map" and "ResultWriter" in body:
        return
    if not isinstance(result, list):
        raise errors.ValidationException("Mocked result must be an array.")
    if state.type == "Parallel" and len(result) != len(state.branches):
        raise errors.ValidationException("Mocked result must contain the same number of items as number of "
                                         "Parallel branches.")


def _reader_items(text: str, reader: Mapping[str, Any]) -> JSON:
    """mapItemReaderData is the data "as found in its original source": the items the ItemReader would read from
    it, as its ReaderConfig says (CSV rows as objects keyed by the first row's or the given headers, JSONL lines,
    a JSON file's array or the one its ItemsPointer points at; a listing or manifest as the JSON given), up to
    MaxItems."""
    found = reader.get("ReaderConfig")
    config: Mapping[str, Any] = found if isinstance(found, dict) else {}
    input_type = config.get("InputType")
    try:
        if input_type == "CSV":
            rows = [row for row, _ in csv_file.rows(io.BytesIO(text.encode()), 0,
                                                    csv_file.DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ","))]
            headers = config.get("CSVHeaders") if config.get("CSVHeaderLocation") == "GIVEN" else None
            if headers is None:
                headers, rows = (rows[0] if rows else []), rows[1:]
            items: JSON = [item for item, _ in csv_file.items(iter((row, 0) for row in rows), list(headers))]
        elif input_type == "JSONL":
            items = [loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = loads(text)
            if input_type == "JSON" and isinstance(config.get("ItemsPointer"), str):
                items = _pointed(items, config["ItemsPointer"])
    except (ValueError, StatesError):
        raise errors.ValidationException("mapItemReaderData must be valid JSON" if input_type != "CSV" else
                                         "mapItemReaderData must be valid CSV") from None
    max_items = config.get("MaxItems")
    if isinstance(items, list) and isinstance(max_items, int) and not isinstance(max_items, bool) and max_items > 0:
        items = items[:max_items]
    return items


def _pointed(document: JSON, pointer: str) -> JSON:
    """The value a JSON Pointer (RFC 6901) points at."""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and token in document:
            document = document[token]
        elif isinstance(document, list) and token.isdigit() and int(token) < len(document):
            document = document[int(token)]
        else:
            raise ValueError(pointer)
    return document
