"""The interpreter: one execution's state, advanced by signals, producing history events and effects.

An Execution is driven from outside: start() and then, as the runtime performs the effects it asked
for, task_succeeded / task_failed / task_timed_out / timer_fired, or stop / time_out. Each call runs
every thread that can run until it waits again, and returns the new effects. There is no I/O, no
clock and no randomness of its own here: `now` and `rng` come in as arguments.

Threads: the root thread runs the state machine; each Parallel branch and Map iteration is a child
thread with its own position, owned by the Group of the state that started it.
"""

from __future__ import annotations

import functools
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from random import Random
from typing import Any, TypeVar

from stepline.engine.effects import CancelTask, Effect, InvokeTask, StartTimer
from stepline.engine.fanout import FanOut
from stepline.engine.program import JSONATA, Catcher, Program, State
from stepline.engine.resources import Resource, describe_resource
from stepline.engine.retry import MAX_WAIT_SECONDS, first_match, retry_delay
from stepline.engine.threads import Thread
from stepline.engine.timestamps import format_timestamp, parse_timestamp
from stepline.errors import StatesError
from stepline.expr import limits as evaluation
from stepline.expr.limits import DEFAULT_LIMITS, Limits
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON, dumps

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_VARIABLES_BYTES = 10 * 1024 * 1024  # all the variables of one scope
MAX_HISTORY_EVENTS = 25_000
MAX_TASK_SECONDS = 99_999_999  # TimeoutSeconds and HeartbeatSeconds, as the definition's fields allow
MAX_LONG = 2**63 - 1
EVALUATION_ERRORS = frozenset({"States.Runtime", "States.QueryEvaluationError"})

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"


_Signal = TypeVar("_Signal", bound=Callable[..., list[Effect]])


def _contained(method: _Signal) -> _Signal:
    """A signal method that never raises: whatever its execution cannot process (data nested too deeply to be
    written, a value out of range, a bug) fails that execution alone with States.Runtime."""

    @functools.wraps(method)
    def contained(self: Execution, *args: Any, **kwargs: Any) -> list[Effect]:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            return self.fail_unexpectedly(error)

    return contained  # type: ignore[return-value]


class Execution(FanOut):
    """One execution of a Program."""

    def __init__(self, program: Program, *, input: JSON, execution_arn: str, name: str, state_machine_arn: str,
                 state_machine_name: str, role_arn: str, start_time: datetime, seed: str | int = 0,
                 region: str = "us-east-1", redrive_count: int | None = 0, limits: Limits = DEFAULT_LIMITS) -> None:
        self.program = program
        self.limits = limits
        self.input = input
        self.execution_arn = execution_arn
        self.region = region
        self.seed = seed
        self.rng = Random()
        self.events: list[dict[str, JSON]] = []  # recorded and not yet taken (take_events); ids count from 1 across all
        self.event_count = 0
        self.status = RUNNING
        self.output: JSON = None
        self.output_text: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.start_time = start_time
        self.stop_time: datetime | None = None
        self.execution_context = {"Id": execution_arn, "Input": input, "StartTime": format_timestamp(start_time),
                                  "Name": name, "RoleArn": role_arn}
        if redrive_count is not None:  # Express executions cannot be redriven and have no RedriveCount
            self.execution_context["RedriveCount"] = redrive_count
        self.machine_context = {"Id": state_machine_arn, "Name": state_machine_name}
        self.threads: dict[str, Thread] = {}
        self.invocations: Counter[str] = Counter()
        self.stored_maps: list[str] = []  # the Maps whose rows the last durable checkpoint wrote (checkpoint.py)
        self._ready: deque[Thread] = deque()
        self._effects: list[Effect] = []
        self._now = start_time
        self._now_text = ""

    # ------------------------------------------------------------------ signals

    @_contained
    def start(self, now: datetime) -> list[Effect]:
        self.begin(now)
        root = Thread("", self.program.root, None, 0, {}, self.input, 0, True)  # AWS: the first state follows 0
        self.threads[""] = root
        self._ready.append(root)
        return self._drain()

    def begin(self, now: datetime) -> None:
        """Record the start (ExecutionStarted); `start` runs the first state too."""
        self._clock(now)
        self._record(None, "ExecutionStarted", "executionStartedEventDetails",
                     {"input": dumps(self.input), "inputDetails": {"truncated": False},
                      "roleArn": self.execution_context["RoleArn"]})

    @_contained
    def task_succeeded(self, thread: str, token: int, result: JSON, now: datetime) -> list[Effect]:
        t = self._waiting(thread, token, "task")
        if t is None:
            return []
        try:
            output = dumps(result)
        except TypeError:
            return self.task_failed(thread, token, "States.Runtime", "The task result is not JSON", now)
        if _over_limit(output):  # a connector's output is limited like a state's
            return self.task_failed(thread, token, "States.DataLimitExceeded", _too_big(t.state.name), now)
        self._clock(now)
        t.waiting = None
        if t.state.type == "Map":
            self._map_run_ended(t, result, None)
        else:
            self._record_task_event(t, "Succeeded", {"output": output, "outputDetails": {"truncated": False}})
            self._guard(t, self._complete, t, result)
        self._ready.append(t)
        return self._drain()

    def task_submitted(self, thread: str, token: int, output: JSON, now: datetime) -> None:
        """A callback or .sync task reached its service; the result comes later."""
        t = self._waiting(thread, token, "task")
        if t is None:
            return
        if t.state.type == "Map":  # its Map Run started (MapRunStarted)
            return
        self._clock(now)
        resource = self._resource(t)
        self._record(t, "TaskSubmitted", "taskSubmittedEventDetails",
                     {"resourceType": resource.resource_type, "resource": resource.name, "output": dumps(output),
                      "outputDetails": {"truncated": False}})

    @_contained
    def task_failed(self, thread: str, token: int, error: str, cause: str | None, now: datetime,
                    timed_out: bool = False) -> list[Effect]:
        t = self._waiting(thread, token, "task")
        if t is None:
            return []
        self._clock(now)
        t.waiting = None
        if t.state.type == "Map":
            self._map_run_ended(t, None, (error, cause))
        else:
            self._record_task_event(t, "TimedOut" if timed_out else "Failed", _error_details(error, cause))
            self._handle_error(t, error, cause)
        self._ready.append(t)
        return self._drain()

    def activity_started(self, thread: str, token: int, worker_name: str, now: datetime) -> None:
        """An activity worker took the task (GetActivityTask)."""
        t = self._waiting(thread, token, "task")
        if t is None:
            return
        self._clock(now)
        self._record(t, "ActivityStarted", "activityStartedEventDetails", {"workerName": worker_name})

    def _record_task_event(self, t: Thread, outcome: str, details: dict[str, JSON]) -> None:
        """TaskSucceeded/Failed/TimedOut, or their Lambda-function and activity forms, as the resource calls for."""
        resource = self._resource(t)
        prefix = _EVENT_PREFIX.get(resource.kind)
        if prefix is None:
            details = {"resourceType": resource.resource_type, "resource": resource.name, **details}
            prefix = "Task"
        key = prefix[0].lower() + prefix[1:]
        self._record(t, f"{prefix}{outcome}", f"{key}{outcome}EventDetails", details)

    @_contained
    def task_timed_out(self, thread: str, token: int, now: datetime, heartbeat: bool = False) -> list[Effect]:
        error = "States.HeartbeatTimeout" if heartbeat else "States.Timeout"
        return self.task_failed(thread, token, error, None, now, timed_out=True)

    @_contained
    def timer_fired(self, thread: str, token: int, now: datetime) -> list[Effect]:
        t = self.threads.get(thread)
        if t is None or t.token != token or t.waiting not in ("timer", "retry"):
            return []
        self._clock(now)
        waiting, t.waiting = t.waiting, None
        if waiting == "timer":
            self._guard(t, self._leave, t, t.effective, t.effective)
        else:
            self._guard(t, self._run_state, t)
        self._ready.append(t)
        return self._drain()

    @_contained
    def stop(self, error: str | None, cause: str | None, now: datetime) -> list[Effect]:
        """StopExecution: abort every thread."""
        if self.status != RUNNING:
            return []
        self._clock(now)
        details = _error_details(error, cause)
        self._record(None, "ExecutionAborted", "executionAbortedEventDetails", details)  # follows no event: 0
        self._end(ABORTED, None, None, {}, error, cause)
        return self._cancel_all()

    @_contained
    def redrive(self, now: datetime) -> list[Effect]:
        """RedriveExecution: continue a FAILED, TIMED_OUT or ABORTED execution from the states that did not
        succeed, with the same input; successful Map iterations and Parallel branches are not run again."""
        self._clock(now)
        count = self.execution_context.get("RedriveCount", 0) + 1
        self.execution_context["RedriveCount"] = count
        self.status, self.error, self.cause, self.stop_time = RUNNING, None, None, None
        self._record(None, "ExecutionRedriven", "executionRedrivenEventDetails", {"redriveCount": count})
        self._revive(self.threads[""])
        return self._drain()

    def _revive(self, t: Thread) -> None:
        t.finished = False
        t.token += 1
        failed = t.failed_group
        if failed is not None:
            t.failed_group, t.group, t.failed_events = None, failed, ()
            failed.failures -= 1  # the failure that broke the group is run again
            for index, child in sorted(failed.unfinished.items()):
                failed.running[index] = child
            failed.unfinished.clear()
            failed.done = failed.next_index - len(failed.running)
        group = t.group
        if group is None:
            t.waiting = None
            if t.map_run is not None:  # its Map Run failed: the run is redriven, not started again
                self._guard(t, self._run_map, t, True)
                return
            self._ready.append(t)  # enter the state again
            return
        t.waiting = "children"
        for child in list(group.running.values()):
            self.threads[child.key] = child
            self._revive(child)
        self._start_children(group)

    @_contained
    def time_out(self, now: datetime) -> list[Effect]:
        """The state machine's TimeoutSeconds elapsed."""
        if self.status != RUNNING:
            return []
        self._clock(now)
        self._end(TIMED_OUT, "ExecutionTimedOut", "executionTimedOutEventDetails", {}, None, None)
        return self._cancel_all()

    def fail_unexpectedly(self, error: Exception, now: datetime | None = None) -> list[Effect]:
        """End the execution with States.Runtime: it cannot go on (see _contained); the effects cancel its tasks."""
        self._effects = []  # what the failed step asked for is not done
        if now is not None:
            self._clock(now)
        if not self.event_count:  # failed before its start was committed: the history still begins with it
            self.begin(self._now)
        if self.status == RUNNING:
            cause = f"The execution cannot continue: {_unprocessable(error)}"
            self._end(FAILED, "ExecutionFailed", "executionFailedEventDetails",
                      {"error": "States.Runtime", "cause": cause}, "States.Runtime", cause, previous=self.event_count)
        return self._cancel_all()

    def take_events(self) -> list[dict[str, JSON]]:
        """The events recorded since the last call (a durable runtime commits them)."""
        events, self.events = self.events, []
        return events

    # ------------------------------------------------------------------ the run loop

    def _drain(self) -> list[Effect]:
        ready = self._ready
        while ready and self.status == RUNNING:
            t = ready.popleft()
            while t.waiting is None and not t.finished and self.status == RUNNING:
                evaluation.tick()  # a step of a long run ends an inline budget too (expr/limits.py)
                if self.event_count >= MAX_HISTORY_EVENTS - 100:  # room for the events of one more state
                    self._fail_history_full()
                    break
                self._enter(t)
        effects, self._effects = self._effects, []
        return effects

    def _fail_history_full(self) -> None:
        """AWS ends an execution whose history reaches its quota (25,000 events)."""
        cause = (f"The execution reached the maximum number of events in its history ({MAX_HISTORY_EVENTS}). "
                 "Use a Distributed Map or start child executions to split the work.")
        self._end(FAILED, "ExecutionFailed", "executionFailedEventDetails",
                  {"error": "States.Runtime", "cause": cause}, "States.Runtime", cause)
        self._effects += self._cancel_all()

    def _clock(self, now: datetime) -> None:
        """Start handling a signal: fix the time and the randomness (a function of the seed and the history so far,
        so an execution restored from a checkpoint draws the same numbers again)."""
        self._now = now
        self._now_text = format_timestamp(now)
        self.rng.seed(f"{self.seed}:{self.event_count}")

    def awaits_task(self, thread: str, token: int) -> bool:
        """Whether the thread waits for this invocation of its task (an answer for another one is stale)."""
        return self._waiting(thread, token, "task") is not None

    def _resource(self, t: Thread) -> Resource:
        """What the Task state of the thread names, described once per state entered."""
        if t.resource is None:
            t.resource = describe_resource(t.state.resource, self.region)
        return t.resource

    def _waiting(self, key: str, token: int, what: str) -> Thread | None:
        t = self.threads.get(key)
        if self.status != RUNNING or t is None or t.token != token or t.waiting != what:
            return None
        return t

    def _record(self, t: Thread | None, kind: str, details_key: str | None, details: dict[str, JSON] | None,
                previous: int = 0) -> int:
        if t is not None and not t.recorded:
            return t.last_event
        self.event_count += 1
        event_id = self.event_count
        event: dict[str, Any] = {"timestamp": self._now, "type": kind, "id": event_id,
                                 "previousEventId": t.last_event if t is not None else previous}
        if details_key is not None:
            event[details_key] = details
        self.events.append(event)
        if t is not None:
            t.last_event = event_id
        return event_id

    def _scope(self, t: Thread, **extra: Any) -> Scope:
        state = t.state
        state_context: dict[str, Any] = {"EnteredTime": t.entered_time, "Name": state.name}
        if state.type == "Task":
            state_context["RetryCount"] = t.retry_count
        context = {"Execution": self.execution_context, "StateMachine": self.machine_context, "State": state_context}
        context.update(extra)
        return Scope(context=context, variables=t.variables, rng=self.rng)

    def _jsonata(self, evaluate: Any, bindings: dict[str, JSON]) -> JSON:
        return evaluate(bindings, rng=self.rng, now=self._now)

    def _bindings(self, t: Thread, scope: Scope, **states: Any) -> dict[str, JSON]:
        return {**t.variables, "states": {"input": t.input, "context": scope.context, **states}}

    # ------------------------------------------------------------------ entering and running a state

    def _enter(self, t: Thread) -> None:
        state = t.state
        t.token += 1
        t.entered_time = self._now_text
        t.attempts = [0] * len(state.retriers)
        t.retry_count = 0
        t.resource = None  # a Task describes its own Resource; never the previous Task's
        t.map_run = None
        t.entered_id = self._record(t, f"{state.type}StateEntered", "stateEnteredEventDetails",
                                    {"name": state.name, "input": dumps(t.input), "inputDetails": {"truncated": False}})
        self._guard(t, self._run_state, t)

    def _guard(self, t: Thread, step: Any, *args: Any) -> None:
        """Run one step of a state within the evaluation limits; an error raised by an expression goes to Retry/Catch
        or ends the thread."""
        try:
            self._bounded(step, *args)
        except StatesError as error:
            cause = error.cause
            if error.error in EVALUATION_ERRORS:
                cause = (f"An error occurred while executing the state '{t.state.name}' "
                         f"(entered at the event id #{t.entered_id}). {cause}")
                if error.error == "States.QueryEvaluationError":
                    details = {"error": error.error, "cause": cause, "state": t.state.name}
                    location = getattr(error, "location", None)
                    if location:
                        details["location"] = location
                    self._record(t, "EvaluationFailed", "evaluationFailedEventDetails", details)
            if t.group is not None:  # the error came while a Map or Parallel was starting its children
                self._close_group(t, failed=True)
            self._bounded(self._handle_error, t, error.error, cause)  # a Catch's expressions get their own time

    def _bounded(self, step: Any, *args: Any) -> None:
        bound = evaluation.begin(self.limits)
        try:
            step(*args)
        finally:
            evaluation.end(bound)

    def _run_state(self, t: Thread) -> None:
        _RUNNERS[t.state.type](self, t)

    def _effective_input(self, t: Thread, scope: Scope) -> JSON:
        state = t.state
        if state.input_path is not None:
            return state.input_path(t.input, scope)
        return t.input

    def _run_pass(self, t: Thread) -> None:
        state = t.state
        if state.language == JSONATA:
            self._leave(t, t.input, t.input)
            return
        scope = self._scope(t)
        effective = self._effective_input(t, scope)
        if state.has_result:  # AWS: a Pass state's Result wins over its Parameters (TestState corpus)
            result = state.result
        elif state.parameters is not None:
            result = state.parameters(effective, scope)
        else:
            result = effective
        self._leave(t, result, effective, scope)

    def _run_succeed(self, t: Thread) -> None:
        state = t.state
        if state.language == JSONATA:
            self._leave(t, t.input, t.input)
            return
        scope = self._scope(t)
        effective = self._effective_input(t, scope)
        self._leave(t, effective, effective, scope)

    def _run_fail(self, t: Thread) -> None:
        state = t.state
        scope = self._scope(t)
        values = []
        for value in (state.error, state.cause):
            if callable(value):
                value = (self._jsonata(value, self._bindings(t, scope)) if state.language == JSONATA else value(t.input, scope))
            values.append(value)
        error, cause = values
        self._fail_thread(t, error, cause)

    def _run_choice(self, t: Thread) -> None:
        state = t.state
        scope = self._scope(t)
        if state.language == JSONATA:
            bindings = self._bindings(t, scope)
            for condition, next_state, assign, output in state.choose:
                matched = self._jsonata(condition, bindings)
                if not isinstance(matched, bool):
                    raise StatesError("States.QueryEvaluationError", "The Condition field must evaluate to a boolean")
                if matched:
                    self._exit(t, t.input if output is None else self._jsonata(output, bindings),
                               self._jsonata(assign, bindings) if assign else None, next_state)
                    return
            if state.default is None:
                raise StatesError("States.NoChoiceMatched", f"No Matches! for state '{state.name}'")
            output, assigned = self._jsonata_outputs(t, bindings, t.input)
            self._exit(t, output, assigned, state.default)
            return
        effective = self._effective_input(t, scope)
        for rule, next_state, assign, _ in state.choose:
            if rule(effective, scope):
                assigned = assign(effective, scope) if assign is not None else None
                self._exit(t, self._output_path(state, effective, scope), assigned, next_state)
                return
        if state.default is None:
            raise StatesError("States.NoChoiceMatched", f"No Matches! for state '{state.name}'")
        assigned = state.assign(effective, scope) if state.assign is not None else None
        self._exit(t, self._output_path(state, effective, scope), assigned, state.default)

    def _run_wait(self, t: Thread) -> None:
        state = t.state
        scope = self._scope(t)
        if state.language == JSONATA:
            bindings = self._bindings(t, scope)
            effective = t.input
            seconds = self._jsonata(state.wait_seconds, bindings) if callable(state.wait_seconds) else state.wait_seconds
            timestamp = self._jsonata(state.wait_timestamp, bindings) if callable(state.wait_timestamp) else state.wait_timestamp
            error = "States.QueryEvaluationError"
        else:
            effective = self._effective_input(t, scope)
            seconds, timestamp = state.wait_seconds, state.wait_timestamp
            if callable(seconds):
                seconds = self._wait_path(state, seconds, effective, scope)
            if callable(timestamp):
                timestamp = self._wait_path(state, timestamp, effective, scope)
            error = "States.Runtime"
        if timestamp is not None:
            due = parse_timestamp(timestamp)
            if due is None:
                if state.wait_field == "TimestampPath":
                    message = ("The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
                               f"date-time format string: {state.field_text[state.wait_field]} == {timestamp}")
                else:
                    message = ("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                               f"format string: {timestamp}")
                raise StatesError(error, message)
        else:
            due = self._now + timedelta(seconds=self._wait_seconds(state, seconds, error))
        if (due - self._now).total_seconds() > MAX_WAIT_SECONDS:
            raise StatesError(error, "Wait state delay is too long.")
        t.effective = effective
        t.waiting = "timer"
        self._effects.append(StartTimer(thread=t.key, token=t.token, due=due, purpose="wait"))

    def _wait_path(self, state: State, getter: Any, effective: JSON, scope: Scope) -> JSON:
        try:
            return getter(effective, scope)
        except StatesError:
            raise StatesError("States.Runtime", f"The {state.wait_field} parameter does not reference an input value: "
                                                f"{state.field_text[state.wait_field]}") from None

    def _wait_seconds(self, state: State, seconds: JSON, error: str) -> int:
        path = state.wait_field == "SecondsPath"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or (
                isinstance(seconds, float) and not seconds.is_integer()):
            if path:
                raise StatesError(error, "The SecondsPath parameter cannot be parsed as a long value: "
                                         f"{state.field_text[state.wait_field]} == {dumps(seconds) if not isinstance(seconds, (int, float)) else seconds}")
            raise StatesError(error, f"The Seconds field must be a non-negative integer: {dumps(seconds)}")
        if path and seconds > MAX_LONG:
            raise StatesError(error, "The SecondsPath parameter cannot be parsed as a long value: "
                                     f"{state.field_text[state.wait_field]} == {seconds}")
        if seconds > MAX_WAIT_SECONDS:
            raise StatesError(error, "Wait state delay is too long.")
        if seconds < 0:
            if path:
                raise StatesError(error, "The SecondsPath parameter references a negative value: "
                                         f"{state.field_text[state.wait_field]} == {seconds}")
            raise StatesError(error, f"The Seconds field must be a non-negative integer: {seconds}")
        return int(seconds)

    def _run_task(self, t: Thread) -> None:
        state = t.state
        resource = self._resource(t)
        task_token = None
        extra = {}
        if resource.pattern in ("callback", "sync"):
            task_token = t.task_token = f"{self.execution_arn}#{t.key}#{t.entered_id}#{t.retry_count}"
            extra["Task"] = {"Token": task_token}
        scope = self._scope(t, **extra)
        if state.language == JSONATA:
            bindings = self._bindings(t, scope)
            t.effective = t.input
            parameters = self._jsonata(state.arguments, bindings) if state.arguments is not None else t.input
            timeout = self._task_limit(state.timeout_seconds, bindings, t.input, scope, "TimeoutSeconds")
            heartbeat = self._task_limit(state.heartbeat_seconds, bindings, t.input, scope, "HeartbeatSeconds")
            credentials = self._jsonata(state.credentials, bindings) if state.credentials is not None else None
        else:
            effective = self._effective_input(t, scope)
            t.effective = effective
            parameters = state.parameters(effective, scope) if state.parameters is not None else effective
            timeout = self._task_limit(state.timeout_seconds, None, effective, scope, "TimeoutSeconds")
            heartbeat = self._task_limit(state.heartbeat_seconds, None, effective, scope, "HeartbeatSeconds")
            credentials = state.credentials(effective, scope) if state.credentials is not None else None
        text = dumps(parameters)
        if _over_limit(text):  # the state's input after Parameters
            raise StatesError("States.DataLimitExceeded", f"The state/task '{state.name}' has an input with a size "
                                                          "exceeding the maximum number of bytes service limit.")
        if resource.kind in _EVENT_PREFIX:
            details: dict[str, Any] = {"resource": resource.arn, "input": text, "inputDetails": {"truncated": False}}
            if timeout is not None:
                details["timeoutInSeconds"] = timeout
            if heartbeat is not None and resource.kind == "activity":
                details["heartbeatInSeconds"] = heartbeat
            if credentials is not None:
                details["taskCredentials"] = credentials
            if resource.kind == "lambda":
                self._record(t, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", details)
                self._record(t, "LambdaFunctionStarted", None, None)
            else:  # ActivityStarted comes when a worker takes the task
                self._record(t, "ActivityScheduled", "activityScheduledEventDetails", details)
        else:
            details = {"resourceType": resource.resource_type, "resource": resource.name, "region": resource.region,
                       "parameters": text}
            if timeout is not None:
                details["timeoutInSeconds"] = timeout
            if heartbeat is not None:
                details["heartbeatInSeconds"] = heartbeat
            if credentials is not None:
                details["taskCredentials"] = credentials
            self._record(t, "TaskScheduled", "taskScheduledEventDetails", details)
            self._record(t, "TaskStarted", "taskStartedEventDetails",
                         {"resourceType": resource.resource_type, "resource": resource.name})
        invocation = self.invocations[state.name]
        self.invocations[state.name] += 1
        t.waiting = "task"
        self._effects.append(InvokeTask(thread=t.key, token=t.token, state_name=state.name, resource=resource,
                                        parameters=parameters, invocation=invocation, timeout_seconds=timeout,
                                        heartbeat_seconds=heartbeat, task_token=task_token, credentials=credentials))

    def _task_limit(self, value: Any, bindings: dict[str, JSON] | None, effective: JSON, scope: Scope, field: str) -> Any:
        if not callable(value):
            return value
        result = self._jsonata(value, bindings) if bindings is not None else value(effective, scope)
        if isinstance(result, bool) or not isinstance(result, (int, float)) or not 0 < result <= MAX_TASK_SECONDS:
            raise StatesError("States.Runtime", f"The {field} field must be a positive integer: {dumps(result)}")
        return int(result)

    # ------------------------------------------------------------------ leaving a state

    def _complete(self, t: Thread, result: JSON) -> None:
        """A Task, Parallel or Map produced its raw result."""
        state = t.state
        if state.language == JSONATA:
            scope = self._scope(t)
            bindings = self._bindings(t, scope, result=result)
            output, assigned = self._jsonata_outputs(t, bindings, result)
            self._exit(t, output, assigned, state.next)
            return
        scope = self._scope(t)
        if state.result_selector is not None:
            result = state.result_selector(result, scope)
        self._leave(t, result, t.effective, scope)

    def _leave(self, t: Thread, result: JSON, effective: JSON, scope: Scope | None = None) -> None:
        """Apply Assign, ResultPath and OutputPath (JSONPath) or Assign and Output (JSONata) and exit."""
        state = t.state
        if scope is None:
            scope = self._scope(t)
        if state.language == JSONATA:
            output, assigned = self._jsonata_outputs(t, self._bindings(t, scope), result)
            self._exit(t, output, assigned, state.next)
            return
        assigned = state.assign(result, scope) if state.assign is not None else None
        if state.type in ("Wait", "Succeed"):
            output = effective
        elif state.result_path is not None:
            output = state.result_path(t.input, result)
        else:
            output = result
        self._exit(t, self._output_path(state, output, scope), assigned, state.next)

    def _jsonata_outputs(self, t: Thread, bindings: dict[str, JSON], default: JSON) -> tuple[JSON, dict[str, JSON] | None]:
        state = t.state
        output = self._jsonata(state.output, bindings) if state.output is not None else default
        assigned = self._jsonata(state.assign, bindings) if state.assign is not None else None
        return output, assigned

    @staticmethod
    def _output_path(state: State, value: JSON, scope: Scope) -> JSON:
        return state.output_path(value, scope) if state.output_path is not None else value

    def _exit(self, t: Thread, output: JSON, assigned: dict[str, JSON] | None, next_state: str | None) -> None:
        state = t.state
        text = dumps(output)
        if _over_limit(text):
            raise StatesError("States.DataLimitExceeded", _too_big(state.name))
        details: dict[str, Any] = {"name": state.name, "output": text, "outputDetails": {"truncated": False}}
        if assigned is not None:
            details["assignedVariables"] = self._assign(t, assigned)
            details["assignedVariablesDetails"] = {"truncated": False}
        self._record(t, f"{state.type}StateExited", "stateExitedEventDetails", details)
        if next_state is None:  # End, or a Succeed state
            self._finish_thread(t, output, text)
            return
        t.state = t.machine.states[next_state]
        t.input = output

    @staticmethod
    def _assign(t: Thread, assigned: dict[str, JSON]) -> dict[str, str]:
        """Store a state's assignments in its thread's scope; their JSON texts, as the history shows them.

        AWS's limits: 256 KiB for one variable and for one Assign field together, 10 MiB for all of a scope's.
        """
        if not isinstance(assigned, dict):
            raise StatesError("States.QueryEvaluationError", "The Assign field must be an object")
        texts = {name: dumps(value) for name, value in assigned.items()}
        sizes = {name: len(text.encode()) for name, text in texts.items()}
        if sum(sizes.values()) > MAX_PAYLOAD_BYTES:
            largest = max(sizes, key=sizes.__getitem__)
            what = f"The variable '{largest}'" if sizes[largest] > MAX_PAYLOAD_BYTES else "The assigned variables"
            raise StatesError("States.DataLimitExceeded", f"{what} exceed the maximum size of "
                                                          f"{MAX_PAYLOAD_BYTES} bytes for an Assign field")
        t.variables.update(assigned)
        if len(t.variables) > len(assigned) and len(dumps(t.variables)) > MAX_VARIABLES_BYTES:
            raise StatesError("States.DataLimitExceeded", f"The workflow variables exceed the maximum total size "
                                                          f"of {MAX_VARIABLES_BYTES} bytes")
        return texts

    # ------------------------------------------------------------------ errors

    def _handle_error(self, t: Thread, error: str | None, cause: str | None) -> None:
        """Retry, Catch, or fail the thread, as the state's Retry and Catch fields say."""
        state = t.state
        failed_events, t.failed_events = t.failed_events, ()
        failed_group = t.failed_group
        t.failed_group = None  # a Retry or Catch moves on: only a failed execution keeps it for a redrive
        index = first_match(state.retriers, error)
        if index is not None and t.attempts[index] < state.retriers[index].max_attempts:
            delay = retry_delay(state.retriers[index], t.attempts[index], self.rng)
            t.attempts[index] += 1
            t.retry_count += 1
            t.token += 1
            t.waiting = "retry"
            self._effects.append(StartTimer(thread=t.key, token=t.token, due=self._now + timedelta(seconds=delay),
                                            purpose="retry"))
            return
        for kind in failed_events:
            self._record(t, kind, None, None)
        index = first_match(state.catchers, error)
        if index is not None:
            self._catch(t, state.catchers[index], error, cause)
            return
        t.failed_group = failed_group
        self._fail_thread(t, error, cause)

    def _catch(self, t: Thread, catcher: Catcher, error: str | None, cause: str | None) -> None:
        state = t.state
        error_output = {"Error": error, "Cause": cause} if cause is not None else {"Error": error}
        try:
            if state.language == JSONATA:
                scope = self._scope(t)
                bindings = self._bindings(t, scope, errorOutput=error_output)
                output = self._jsonata(catcher.output, bindings) if catcher.output is not None else error_output
                assigned = self._jsonata(catcher.assign, bindings) if catcher.assign is not None else None
            else:
                scope = self._scope(t)
                assigned = catcher.assign(error_output, scope) if catcher.assign is not None else None
                output = (catcher.result_path(t.input, error_output) if catcher.result_path is not None
                          else error_output)
            self._exit(t, output, assigned, catcher.next)
        except StatesError as failure:
            self._fail_thread(t, failure.error, failure.cause)

    def _fail_thread(self, t: Thread, error: str | None, cause: str | None) -> None:
        t.finished = True
        t.waiting = None
        if t.parent is None:
            details = _error_details(error, cause)
            self._end(FAILED, "ExecutionFailed", "executionFailedEventDetails", details, error, cause)
            return
        self._child_finished(t, None, (error, cause))

    def _finish_thread(self, t: Thread, output: JSON, text: str) -> None:
        t.finished = True
        if t.parent is None:
            self.output, self.output_text = output, text
            self._end(SUCCEEDED, "ExecutionSucceeded", "executionSucceededEventDetails",
                      {"output": text, "outputDetails": {"truncated": False}}, None, None)
            return
        self._child_finished(t, output, None)

    def _end(self, status: str, kind: str | None, key: str | None, details: dict[str, JSON], error: str | None,
             cause: str | None, previous: int = 0) -> None:
        """End the execution; its last event follows the root thread's last (or `previous` before it has one)."""
        if kind is not None:
            self._record(self.threads.get(""), kind, key, details, previous)
        self.status = status
        self.error, self.cause = error, cause
        self.stop_time = self._now

    def _cancel_all(self) -> list[Effect]:
        for t in list(self.threads.values()):
            if t.waiting == "task":
                self._effects.append(CancelTask(thread=t.key, token=t.token))
            t.finished = True
        self._ready.clear()
        effects, self._effects = self._effects, []
        return effects


def _unprocessable(error: Exception) -> str:
    """Why an execution's data or step could not be processed, in a user's words."""
    text = str(error)
    if isinstance(error, RecursionError) or "Recursion limit" in text:
        return "its data is nested too deeply (a JSON value may have at most 254 levels of arrays and objects)."
    if "64-bit" in text:
        return "a number in its data is an integer beyond 64 bits."
    if isinstance(error, OverflowError):
        return f"a date or a number is out of range ({text})."
    return f"{type(error).__name__}: {text}"


def _error_details(error: str | None, cause: str | None) -> dict[str, str]:
    """The error and cause of a failure event, leaving out the ones there are not."""
    return {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}


def _over_limit(text: str) -> bool:
    """Whether JSON text is over 256 KiB as UTF-8 (encoding it only when its length cannot tell)."""
    size = len(text)
    return size > MAX_PAYLOAD_BYTES or (size * 4 > MAX_PAYLOAD_BYTES and len(text.encode()) > MAX_PAYLOAD_BYTES)


def _too_big(state_name: str) -> str:
    return (f"The state/task '{state_name}' returned a result with a size exceeding the maximum number of bytes "
            "service limit.")


# Tasks on a Lambda function ARN or an activity have their own event names; other resources use Task*
_EVENT_PREFIX = {"lambda": "LambdaFunction", "activity": "Activity"}

_RUNNERS = {
    "Pass": Execution._run_pass,
    "Task": Execution._run_task,
    "Choice": Execution._run_choice,
    "Wait": Execution._run_wait,
    "Succeed": Execution._run_succeed,
    "Fail": Execution._run_fail,
    "Parallel": Execution._run_parallel,
    "Map": Execution._run_map,
}
