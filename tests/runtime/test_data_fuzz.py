"""Whatever data an execution gets, it is refused at the API or it ends with a complete history (never stuck RUNNING,
never a crash of the worker): JSON of every shape and depth (up to the reader's 1,024 levels), numbers of any size,
any Unicode, through Pass templates, intrinsic functions, JSONata, Choice, Wait and Map, on the durable runtime."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepline.service import errors
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from support import check_history

ROLE = "arn:aws:iam::123456789012:role/test"
DEFINITIONS: dict[str, tuple[dict, str | None]] = {  # name -> (definition, the input field the data goes in)
    "templates": ({"StartAt": "P", "States": {"P": {
        "Type": "Pass", "ResultPath": "$.copy", "End": True,
        "Parameters": {"whole.$": "$", "text.$": "States.JsonToString($)", "items.$": "States.Array($, $)",
                       "hash.$": "States.Hash(States.JsonToString($), 'SHA-256')"}}}}, None),
    "jsonata": ({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "End": True, "Assign": {"seen": "{% $states.input %}"},
        "Output": "{% {'wrapped': $states.input, 'type': $type($states.input), 'text': $string($states.input),"
                  " 'keys': $keys($states.input)} %}"}}}, None),
    "choice": ({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "No", "Choices": [
            {"Variable": "$.value", "NumericGreaterThan": 1, "Next": "Yes"},
            {"Variable": "$.value", "StringMatches": "*a*", "Next": "Yes"},
            {"Variable": "$.value", "TimestampLessThan": "2030-01-01T00:00:00Z", "Next": "Yes"}]},
        "Yes": {"Type": "Succeed"}, "No": {"Type": "Pass", "End": True}}}, "value"),
    "wait": ({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "T"},
                                         "T": {"Type": "Wait", "TimestampPath": "$.seconds", "End": True}}},
             "seconds"),
    "map": ({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "End": True,
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Parameters": {"item.$": "$"},
                                                           "End": True}}}}}}, "items"),
}

leaves = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["2029-12-31T23:59:59Z", "\u0000", "\U0001F600",
                                                                        "\u202e", "a" * 1000]))
shallow = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=4), max_leaves=20)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested up to 300 levels, across the 254 a history can hold."""
    value = draw(leaves)
    for level in range(draw(st.integers(0, 300))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


texts = st.one_of(shallow.map(json.dumps), deep().map(json.dumps),
                  st.sampled_from(["1e400", "-1e400", "123456789012345678901234567890", "1e-400", '"\\ud800"',
                                   "[" * 1025 + "]" * 1025, "[" * 1000 + "]" * 1000, '{"a": 1, "a": 2}', "-0"]))


async def run_all(directory: str, inputs: list[str]) -> None:
    service = StepFunctionsService(Settings(db=str(Path(directory) / "store.db"), time_scale=0))
    await service.start()
    try:
        machines = {name: (await service.create_state_machine(name=name, definition=json.dumps(definition),
                                                              roleArn=ROLE))["stateMachineArn"]
                    for name, (definition, _) in DEFINITIONS.items()}
        started = []
        for text in inputs:
            for name, (_, field) in DEFINITIONS.items():
                payload = text if field is None else f'{{"{field}": {text}}}'
                try:
                    execution = await service.start_execution(stateMachineArn=machines[name], input=payload)
                except errors.ApiError as error:
                    assert type(error).__name__ == "InvalidExecutionInput", error
                    continue
                started.append(execution["executionArn"])
        for arn in started:
            await asyncio.wait_for(service.runtime.wait(arn), 30)
            described = await service.describe_execution(executionArn=arn)
            assert described["status"] in ("SUCCEEDED", "FAILED"), described
            history = await service.full_history(arn)
            check_history(history)
            assert history[-1]["type"] == f"Execution{described['status'].title()}"
    finally:
        await service.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(texts, min_size=1, max_size=6))
def test_any_data_is_refused_or_ends_with_a_complete_history(inputs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run_all(directory, inputs))
