"""Mocked Task results from an AWS Step Functions Local MockConfigFile.

The file names test cases per state machine; each test case maps state names to a mocked response,
and a mocked response maps invocation numbers ("0", "1-2", ...) to {"Return": value} or
{"Throw": {"Error", "Cause"}}. Invocations are counted per state across the whole execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, loads
from stepline.runtime.integrations.registry import TaskCall, TaskFailure, TaskResult


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
        machines = {}
        for machine, spec in (document.get("StateMachines") or {}).items():
            cases = (spec or {}).get("TestCases") or {}
            machines[machine] = {name: dict(states or {}) for name, states in cases.items()}
        responses = {}
        for name, spec in (document.get("MockedResponses") or {}).items():
            if not isinstance(spec, dict):
                raise MockConfigError(f"MockedResponses.{name} must be an object of invocation numbers")
            entries = []
            for key, answer in spec.items():
                first, _, last = str(key).partition("-")
                try:
                    entries.append((int(first), int(last or first), answer))
                except ValueError:
                    raise MockConfigError(f"MockedResponses.{name}: '{key}' is not an invocation number or "
                                          "range such as \"0\" or \"1-2\"") from None
            responses[name] = entries
        return cls(machines, responses)

    def test_case(self, state_machine_name: str, test_case: str) -> MockedTestCase:
        cases = self.state_machines.get(state_machine_name)
        if cases is None or test_case not in cases:
            raise MockConfigError(f"The mock config has no test case '{test_case}' for state machine "
                                  f"'{state_machine_name}'")
        return MockedTestCase(self, cases[test_case])


class MockedTestCase:
    """The integration that answers the states a test case mocks; other states fall through."""

    name = "mock-config"

    def __init__(self, config: MockConfig, states: dict[str, str]) -> None:
        self.config = config
        self.states = states

    def handles(self, call: TaskCall) -> bool:
        return call.state_name in self.states

    async def invoke(self, call: TaskCall) -> TaskResult:
        response_name = self.states[call.state_name]
        entries = self.config.responses.get(response_name)
        if entries is None:
            raise StatesError("States.Runtime", f"The mock config has no MockedResponses entry '{response_name}'")
        for first, last, answer in entries:
            if first <= call.invocation <= last:
                return _answer(call, answer)
        raise StatesError("States.Runtime", f"The mocked response '{response_name}' has no answer for invocation "
                                            f"{call.invocation} of state '{call.state_name}'")


def _answer(call: TaskCall, answer: JSON) -> TaskResult:
    # a mocked .waitForTaskToken/.sync task stands for the whole exchange: its request was submitted
    submitted = {} if call.resource.pattern in ("callback", "sync") else None
    if isinstance(answer, dict) and "Throw" in answer:
        thrown = answer["Throw"] or {}
        error, cause = thrown.get("Error", "States.TaskFailed"), thrown.get("Cause")
        if submitted is not None:
            raise TaskFailure(error, cause, submitted)
        raise StatesError(error, cause)
    value = answer.get("Return") if isinstance(answer, dict) else None
    if call.resource.kind == "lambda" and isinstance(value, dict) and "Payload" in value:
        value = value["Payload"]  # a function ARN's result is the Invoke response's Payload
    return TaskResult(value, submitted)
