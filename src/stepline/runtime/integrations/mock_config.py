"""Mocked Task results from an AWS Step Functions Local MockConfigFile.

The file names test cases per state machine; each test case maps state names to a mocked response,
and a mocked response maps invocation numbers ("0", "1-2", ...) to {"Return": value} or
{"Throw": {"Error", "Cause"}}. Invocations are counted per state across the whole execution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.registry import Failed, Integration, Outcome, Succeeded, TaskCall


_INVOCATIONS = re.compile(r"(\d+)(?:-(\d+))?")


class MockConfigError(ValueError):
    """The mock configuration file is not usable."""


@dataclass(frozen=True, slots=True)
class MockConfig:
    state_machines: dict[str, dict[str, dict[str, str]]]  # machine -> test case -> state -> response name
    responses: dict[str, list[tuple[int, int, JSON]]]  # response name -> [(first, last, answer)]

    @classmethod
    def load(cls, path: str | Path) -> MockConfig:
        try:
            document = loads(Path(path).read_bytes())
        except OSError as error:
            raise MockConfigError(f"Cannot read the mock config file {path}: {error.strerror}") from None
        except ValueError as error:
            raise MockConfigError(f"The mock config file {path} is not valid JSON: {error}") from None
        return cls.from_json(document)

    @classmethod
    def from_json(cls, document: JSON) -> MockConfig:
        if not isinstance(document, dict):
            raise MockConfigError("A mock config must be a JSON object with StateMachines and MockedResponses")
        responses = {}
        for name, spec in _object(document.get("MockedResponses", {}), "MockedResponses").items():
            entries = []
            for key, answer in _object(spec, f"MockedResponses.{name}", "an object of invocation numbers").items():
                match = _INVOCATIONS.fullmatch(key)
                first_number = int(match[1]) if match else -1
                last_number = int(match[2] or match[1]) if match else -1
                if first_number < 0 or last_number < first_number:
                    raise MockConfigError(f"MockedResponses.{name}: '{key}' is not an invocation number or "
                                          "range such as \"0\" or \"1-2\"")
                entries.append((first_number, last_number, checked_answer(answer, f"MockedResponses.{name}.{key}")))
            responses[name] = entries
        machines: dict[str, dict[str, dict[str, str]]] = {}
        for machine, spec in _object(document.get("StateMachines", {}), "StateMachines").items():
            where = f"StateMachines.{machine}"
            cases = _object(_object(spec, where).get("TestCases", {}), f"{where}.TestCases")
            machines[machine] = {}
            for case_name, states in cases.items():
                states = _object(states, f"{where}.TestCases.{case_name}", "an object of state names")
                for state, response in states.items():
                    if not isinstance(response, str) or response not in responses:
                        raise MockConfigError(f"{where}.TestCases.{case_name}.{state}: the mocked response "
                                              f"{dumps(response)} is not in MockedResponses")
                machines[machine][case_name] = dict(states)
        return cls(machines, responses)

    def test_case(self, state_machine_name: str, test_case: str) -> MockedTestCase:
        cases = self.state_machines.get(state_machine_name)
        if cases is None or test_case not in cases:
            raise MockConfigError(f"The mock config has no test case '{test_case}' for state machine "
                                  f"'{state_machine_name}'")
        return MockedTestCase(self, cases[test_case])


def _object(value: JSON, where: str, what: str = "an object") -> dict:
    if not isinstance(value, dict):
        raise MockConfigError(f"{where} must be {what}, not {dumps(value)}")
    return value


def checked_answer(answer: JSON, where: str) -> JSON:
    """A mocked response: exactly one of Return (any JSON) or Throw ({"Error": string, "Cause": string})."""
    if not isinstance(answer, dict) or len(answer.keys() & {"Return", "Throw"}) != 1 or len(answer) != 1:
        raise MockConfigError(f"{where} must be an object with exactly one field, Return or Throw")
    if "Throw" in answer:
        thrown = answer["Throw"]
        if not isinstance(thrown, dict) or not isinstance(thrown.get("Error"), str) or not isinstance(
                thrown.get("Cause", ""), str):
            raise MockConfigError(f"{where}.Throw must be an object with an Error string and an optional Cause "
                                  "string")
    return answer


class MockedTestCase(Integration):
    """The integration that answers the states a test case mocks; other states fall through."""

    name = "mock-config"

    def __init__(self, config: MockConfig, states: dict[str, str]) -> None:
        self.config = config
        self.states = states

    def handles(self, call: TaskCall) -> bool:
        return call.state_name in self.states

    async def invoke(self, call: TaskCall) -> Outcome:
        response_name = self.states[call.state_name]
        entries = self.config.responses.get(response_name)
        if entries is None:
            raise StatesError("States.Runtime", f"The mock config has no MockedResponses entry '{response_name}'")
        for first, last, answer in entries:
            if first <= call.invocation <= last:
                return mocked_answer(call, answer)
        raise StatesError("States.Runtime", f"The mocked response '{response_name}' has no answer for invocation "
                                            f"{call.invocation} of state '{call.state_name}'")


def mocked_answer(call: TaskCall, answer: JSON) -> Outcome:
    # a mocked .waitForTaskToken/.sync task stands for the whole exchange: its request was submitted
    submitted: JSON = {} if call.resource.pattern in ("callback", "sync") else None
    if isinstance(answer, dict) and "Throw" in answer:
        thrown = answer["Throw"] or {}
        error, cause = thrown.get("Error", "States.TaskFailed"), thrown.get("Cause")
        return Failed(error, cause, submitted)
    value = answer.get("Return") if isinstance(answer, dict) else None
    if call.resource.kind == "lambda" and isinstance(value, dict) and "Payload" in value:
        value = value["Payload"]  # a function ARN's result is the Invoke response's Payload
    return Succeeded(value, submitted)
