"""TestState: run one state of a definition in isolation and report what it did, as AWS's TestState action does.

The state runs in the interpreter, exactly as in an execution. A subclass of Execution changes only what a
test must do differently:

- leaving the state ends the test (its transition is reported as `nextState`, the next state is not entered);
- a mocked Map or Parallel takes its mocked result instead of running its iterations or branches;
- a Retry that would run the state again reports RETRIABLE instead of waiting; a Catch reports CAUGHT_ERROR;
- the values of the data flow (afterInputPath, afterResultSelector, ...) are recorded on the way.

Pure like the rest of engine/: a Task that is not mocked is handed back to the caller as an InvokeTask, and
the caller answers with task_succeeded / task_failed.

    test = StateTest(program, state, input=..., inspection_level="DEBUG", mock=Mock(result=[1, 2]), ...)
    call = test.start(now)              # None, or the InvokeTask of an unmocked Task for the caller to perform
    response = test.response()          # status, output, error, cause, nextState, inspectionData
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepline.engine.effects import Effect, InvokeTask, StartTimer
from stepline.engine.batching import BatcherSpec, batch_all
from stepline.engine.interpreter import FAILED, SUCCEEDED, Execution
from stepline.engine.retry import first_match
from stepline.engine.threads import Group, Thread
from stepline.engine.program import JSONATA, Catcher, Machine, Program, State, compile_definition
from stepline.expr.limits import DEFAULT_LIMITS, Limits
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON, dumps

INFO, DEBUG, TRACE = "INFO", "DEBUG", "TRACE"
SINGLE_STATE_NAME = "StateName"  # the name AWS gives a lone state under test ("/States/StateName/...")
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"

# A lone state may name Next, Default and Catch targets that its definition cannot hold.
_LONE_STATE_TOLERATES = frozenset({"MISSING_TRANSITION_TARGET", "MISSING_END_STATE"})

# What inspectionData reports for each state type, besides input, variables and errorDetails (as AWS reports them).
_JSONPATH_FIELDS: dict[str, tuple[str, ...]] = {
    "Pass": ("afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"),
    "Task": ("afterInputPath", "afterParameters", "result", "afterResultSelector", "afterResultPath"),
    "Choice": ("afterInputPath",),
    "Wait": ("afterInputPath",),
    "Succeed": ("afterInputPath",),
    "Fail": ("afterInputPath",),
    "Parallel": ("afterResultSelector", "afterResultPath"),
    "Map": ("afterInputPath", "afterItemsPath", "afterItemsPointer", "afterItemSelector", "afterItemBatcher",
            "maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage", "afterResultSelector",
            "afterResultPath"),
}
_PASS_WITH_RESULT_FIELDS = ("result", "afterResultSelector", "afterResultPath")
_JSONATA_FIELDS: dict[str, tuple[str, ...]] = {
    "Task": ("afterArguments", "result"),
    "Map": ("afterItemsPointer", "afterItemSelector", "afterItemBatcher", "maxConcurrency", "toleratedFailureCount",
            "toleratedFailurePercentage"),
}
_NUMBERS = frozenset({"maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Mock:
    """TestState's `mock`: the state's result, or the error it raises (error set)."""

    result: JSON = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateConfiguration:
    """TestState's `stateConfiguration`: where the mocked state stands in an imagined execution."""

    retrier_retry_count: int = 0
    map_iteration_failure_count: int = 0
    error_caused_by_state: str | None = None
    map_item_reader_data: JSON = None  # parsed; None when not given


class StateNotFound(LookupError):
    """`stateName` names no state of the definition."""


def compile_for_test(definition: JSON, state_name: str | None) -> tuple[Program, State]:
    """The program and the state under test: a lone state (named "StateName"), or `state_name` in a whole
    definition, at any depth (a Map's item processor, a Parallel branch). Raises DefinitionError, StateNotFound."""
    if state_name is None:
        program = compile_definition({"StartAt": SINGLE_STATE_NAME, "States": {SINGLE_STATE_NAME: definition}},
                                     tolerate=_LONE_STATE_TOLERATES)
        return program, program.root.states[SINGLE_STATE_NAME]
    program = compile_definition(definition)
    for state in _states(program.root):
        if state.name == state_name:
            return program, state
    raise StateNotFound(state_name)


def _states(machine: Machine) -> Iterator[State]:
    for state in machine.states.values():
        yield state
        for child in (*state.branches, *([state.processor] if state.processor else [])):
            yield from _states(child)


class StateTest:
    """One TestState call: the state under test, run once in an execution of its own."""

    def __init__(self, program: Program, state: State, *, input: JSON, inspection_level: str = INFO,
                 variables: dict[str, JSON] | None = None, context: dict[str, JSON] | None = None, mock: Mock | None = None,
                 configuration: StateConfiguration | None = None, execution_arn: str, execution_name: str,
                 state_machine_arn: str, state_machine_name: str, role_arn: str | None, start_time: datetime,
                 region: str = "us-east-1", item_reader: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
        self.state = state
        self.input = input
        self.inspection_level = inspection_level
        self.mock = mock
        self.configuration = configuration or StateConfiguration()
        if item_reader:  # the items are what the ItemReader would read, as the request gives them
            data = self.configuration.map_item_reader_data
            state.items = _constant(data if data is not None else [])
        machine = Machine(start_at=state.name, states={state.name: state}, language=state.language, at="")
        test_program = Program(definition=program.definition, machine_type="EXPRESS", root=machine,
                               timeout_seconds=None, machines={"": machine})
        self.execution = _TestExecution(
            test_program, self, input=input, execution_arn=execution_arn, name=execution_name,
            state_machine_arn=state_machine_arn, state_machine_name=state_machine_name, role_arn=role_arn,
            start_time=start_time, seed=execution_arn, region=region, redrive_count=None, limits=limits)
        self.execution.initial_variables = dict(variables or {})
        self.execution.context = context
        self.now = start_time
        self.pending: InvokeTask | None = None
        self.item_count: int | None = None  # a Map's items, once it has read them

    # ------------------------------------------------------------------ driving

    def start(self, now: datetime | None = None) -> InvokeTask | None:
        """Run the state; an unmocked Task's call comes back for the caller to perform."""
        self.now = now or self.now
        return self._advance(self.execution.start(self.now))

    def task_succeeded(self, result: JSON) -> InvokeTask | None:
        """The result of the call start() returned."""
        call, self.pending = self.pending, None
        assert call is not None, "no task is waiting for a result"
        self.execution.recorded["result"] = result
        return self._advance(self.execution.task_succeeded(call.thread, call.token, result, self.now))

    def task_failed(self, error: str, cause: str | None) -> InvokeTask | None:
        """The error of the call start() returned."""
        call, self.pending = self.pending, None
        assert call is not None, "no task is waiting for a result"
        return self._advance(self.execution.task_failed(call.thread, call.token, error, cause, self.now))

    def _advance(self, effects: list[Effect]) -> InvokeTask | None:
        execution = self.execution
        for effect in effects:
            if isinstance(effect, InvokeTask):
                key = "afterArguments" if self.state.language == JSONATA else "afterParameters"
                execution.recorded[key] = effect.parameters
                self.pending = effect
                mock = self.mock
                if mock is None:
                    return effect
                if mock.error is not None:
                    return self.task_failed(mock.error, mock.cause)
                return self.task_succeeded(mock.result)
            if isinstance(effect, StartTimer) and effect.purpose == "wait":  # a Wait state does not wait here
                return self._advance(execution.timer_fired(effect.thread, effect.token, self.now))
            if isinstance(effect, StartTimer) and effect.purpose == "retry":
                backoff = (effect.due - self.now).total_seconds()
                execution.error_details["retryBackoffIntervalSeconds"] = int(round(backoff))
                execution.retriable = True
        return None

    # ------------------------------------------------------------------ the answer

    def response(self) -> dict[str, JSON]:
        """TestState's response members (JSON payloads as JSON text)."""
        execution = self.execution
        response: dict[str, Any] = {}
        error, cause = execution.failure or (None, None)
        if execution.retriable:
            response["status"] = "RETRIABLE"
        elif execution.status == FAILED:
            response["status"] = "FAILED"
            error, cause = execution.error, execution.cause
        elif execution.status == SUCCEEDED:
            response["status"] = "CAUGHT_ERROR" if execution.caught else "SUCCEEDED"
            response["output"] = execution.output_text
            if execution.next_state is not None:
                response["nextState"] = execution.next_state
        else:  # a Task still waiting: start() handed its call to the caller, who never answered
            raise RuntimeError("the state under test has not finished")
        if response["status"] != "SUCCEEDED":
            if error is not None:
                response["error"] = error
            if cause is not None:
                response["cause"] = cause
        if self.inspection_level in (DEBUG, TRACE):
            response["inspectionData"] = self._inspection_data()
        return response

    def _inspection_data(self) -> dict[str, JSON]:
        execution = self.execution
        state = self.state
        recorded = execution.recorded
        data: dict[str, Any] = {"input": dumps(self.input)}
        if state.language == JSONATA:
            fields = _JSONATA_FIELDS.get(state.type, ())
        elif state.type == "Pass" and state.has_result:
            fields = _PASS_WITH_RESULT_FIELDS
            recorded["result"] = state.result
        else:
            fields = _JSONPATH_FIELDS.get(state.type, ())
            if state.type == "Pass" and "afterResultSelector" in recorded:
                recorded.setdefault("afterParameters", recorded["afterResultSelector"])
            if state.type == "Fail":  # a Fail state has no InputPath: AWS reports its input unchanged
                recorded.setdefault("afterInputPath", self.input)
        for key in fields:
            if key in recorded:
                data[key] = recorded[key] if key in _NUMBERS else dumps(recorded[key])
        variables = execution.root.variables if execution.root is not None else execution.initial_variables
        if variables:
            data["variables"] = dumps(variables)
        if execution.error_details:
            data["errorDetails"] = dict(execution.error_details)
        return data


def _constant(value: JSON) -> Callable[..., JSON]:
    def evaluate(*args: Any, **kwargs: Any) -> JSON:
        return value
    return evaluate


class _TestExecution(Execution):
    """An execution of just the state under test: the overrides below are the only differences from a run."""

    def __init__(self, program: Program, test: StateTest, **kwargs: Any) -> None:
        super().__init__(program, **kwargs)
        self.test = test
        self.initial_variables: dict[str, JSON] = {}
        self.context: dict[str, JSON] | None = None  # the request's context object, used as is
        self.recorded: dict[str, JSON] = {}
        self.error_details: dict[str, int] = {}
        self.failure: tuple[str | None, str | None] | None = None
        self.retriable = False
        self.caught = False
        self.next_state: str | None = None
        self.root: Thread | None = None

    def _runs_child_executions(self, state: State) -> bool:
        """TestState runs no Map Run: it reads a Map's items from its stateConfiguration (mapItemReaderData)."""
        return False

    def _run_state(self, t: Thread) -> None:
        if self.root is None:  # entering the state under test: set up the imagined execution around it
            self.root = t
            t.variables.update(self.initial_variables)
            count = self.test.configuration.retrier_retry_count
            t.attempts = [count] * len(self.test.state.retriers)
            if self.test.state.type == "Task":
                t.retry_count = count
        super()._run_state(t)

    def _scope(self, t: Thread, **extra: Any) -> Scope:
        scope = super()._scope(t, **extra)
        if self.context is not None:
            context = dict(self.context)
            for key, value in extra.items():
                context.setdefault(key, value)
            scope.context = context
            return scope
        state_context = scope.context["State"]
        state_context["Name"] = SINGLE_STATE_NAME
        if self.test.state.type in ("Map", "Parallel"):
            state_context["RetryCount"] = t.retry_count
        return scope

    def _effective_input(self, t: Thread, scope: Scope) -> JSON:
        value = super()._effective_input(t, scope)
        self.recorded["afterInputPath"] = value
        return value

    def _leave(self, t: Thread, result: JSON, effective: JSON, scope: Scope | None = None) -> None:
        self.recorded["afterResultSelector"] = result
        super()._leave(t, result, effective, scope)

    def _output_path(self, state: State, value: JSON, scope: Scope) -> JSON:  # type: ignore[override]
        self.recorded["afterResultPath"] = value
        return Execution._output_path(state, value, scope)

    def _exit(self, t: Thread, output: JSON, assigned: dict[str, JSON] | None, next_state: str | None) -> None:
        """Leaving the state under test ends the test: its transition is only reported."""
        self.next_state = next_state
        super()._exit(t, output, assigned, None)

    def _handle_error(self, t: Thread, error: str | None, cause: str | None) -> None:
        self.failure = (error, cause)
        index = first_match(self.test.state.retriers, error)
        if index is not None:
            self.error_details["retryIndex"] = index
        super()._handle_error(t, error, cause)  # a retry shows as a StartTimer effect: StateTest reports it

    def _catch(self, t: Thread, catcher: Catcher, error: str | None, cause: str | None) -> None:
        self.error_details["catchIndex"] = self.test.state.catchers.index(catcher)
        self.caught = True
        super()._catch(t, catcher, error, cause)

    def _batcher(self, t: Thread) -> BatcherSpec:
        """The Map's ItemBatcher, evaluated as a Map Run evaluates it."""
        state = t.state
        scope = self._scope(t)
        if state.language == JSONATA:
            return BatcherSpec.parse(self._jsonata(state.item_batcher, self._bindings(t, scope)))
        field, resolved = state.item_batcher(t.effective, scope)  # type: ignore[misc]
        return BatcherSpec.parse(field, resolve=resolved.get)

    def _open_group(self, t: Thread, group: Group) -> None:
        """A mocked Map or Parallel: its result is the mock's; its children do not run."""
        state = t.state
        recorded = self.recorded
        if group.kind == "Map":
            self.test.item_count = len(group.items or [])
            recorded["maxConcurrency"] = group.max_concurrency
            if state.tolerated_count is not None:
                recorded["toleratedFailureCount"] = int(group.tolerated_count)
            if state.tolerated_percentage is not None:
                recorded["toleratedFailurePercentage"] = float(group.tolerated_percentage)
            recorded["afterItemsPath"] = group.items
            reader = state.definition.fields.get("ItemReader")
            if isinstance(reader, dict) and "ItemsPointer" in (reader.get("ReaderConfig") or {}):
                recorded["afterItemsPointer"] = group.items  # mapItemReaderData, at its ItemsPointer
            if state.item_selector is not None:
                recorded["afterItemSelector"] = [self._item_input(t, index, item)
                                                 for index, item in enumerate(group.items or [])]
            if state.item_batcher is not None:
                selected = recorded.get("afterItemSelector", group.items) or []
                recorded["afterItemBatcher"] = batch_all(list(selected), self._batcher(t))
        mock = self.test.mock or Mock(result=[])
        if mock.error is not None:
            self._handle_error(t, mock.error, mock.cause)
            return
        failures = self.test.configuration.map_iteration_failure_count
        if group.kind == "Map" and failures and self._has_tolerance(group) and not self._tolerated(group, failures):
            self._handle_error(t, THRESHOLD_ERROR, THRESHOLD_CAUSE)
            return
        self._complete(t, mock.result)
