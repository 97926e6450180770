"""Parallel and Map: the states that run children (branches, iterations) as threads of the same execution.

A mixin of Execution (interpreter.py): it uses the interpreter's recording, scopes and error handling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepline.engine.batching import READER_FAILED, BatcherSpec, max_items_value
from stepline.engine.effects import CancelTask, InvokeTask
from stepline.engine.program import JSONATA, Evaluate, State
from stepline.engine.resources import map_run_resource
from stepline.engine.threads import Group, Thread
from stepline.errors import StatesError
from stepline.expr import jsonata
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON, dumps

if TYPE_CHECKING:
    from collections import deque

    from stepline.engine.effects import Effect


class FanOut:
    """Starting, tracking and closing the children of Parallel and Map states."""

    if TYPE_CHECKING:  # what FanOut uses of Execution, the class it is a mixin of
        threads: dict[str, Thread]
        machine_context: dict[str, JSON]
        execution_context: dict[str, JSON]
        _ready: deque[Thread]
        _effects: list[Effect]

        def _record(self, t: Thread | None, kind: str, details_key: str | None, details: dict[str, JSON] | None,
                    previous: int = 0) -> int: ...
        def _scope(self, t: Thread, **extra: JSON) -> Scope: ...
        def _jsonata(self, evaluate: Evaluate, bindings: dict[str, JSON]) -> JSON: ...
        def _bindings(self, t: Thread, scope: Scope, **states: JSON) -> dict[str, JSON]: ...
        def _guard(self, t: Thread, step: Callable[..., None], *args: object) -> None: ...
        def _effective_input(self, t: Thread, scope: Scope) -> JSON: ...
        def _complete(self, t: Thread, result: JSON) -> None: ...
        def _handle_error(self, t: Thread, error: str | None, cause: str | None) -> None: ...

    def _run_parallel(self, t: Thread) -> None:
        state = t.state
        scope = self._scope(t)
        if state.language == JSONATA:
            branch_input = self._jsonata(state.arguments, self._bindings(t, scope)) if state.arguments is not None else t.input
            t.effective = t.input
        else:
            t.effective = self._effective_input(t, scope)
            branch_input = state.parameters(t.effective, scope) if state.parameters is not None else t.effective
        self._record(t, "ParallelStateStarted", None, None)
        group = Group(t, "Parallel", [branch_input] * len(state.branches))
        self._open_group(t, group)

    def _run_map(self, t: Thread, redriven: bool = False) -> None:
        """Run the Map state's children; `redriven`: its Map Run failed, and is redriven (RedriveExecution)."""
        state = t.state
        scope = self._scope(t)
        jsonata_mode = state.language == JSONATA
        bindings = self._bindings(t, scope) if jsonata_mode else None
        if jsonata_mode:
            t.effective = t.input
        else:
            t.effective = self._effective_input(t, scope)
        max_concurrency = self._map_number(state, state.max_concurrency, "MaxConcurrency", bindings, t.effective, scope, int)
        t.failed_events = ("MapStateFailed",)  # a failure to read the items fails the Map state
        items: JSON = None
        if not (self._runs_child_executions(state) and state.item_reader is not None):
            items = self._map_items(t, scope, bindings)
        t.failed_events = ()
        if not redriven:
            self._record(t, "MapStateStarted", "mapStateStartedEventDetails",
                         {"length": len(items) if isinstance(items, list) else 0})
        tolerated_count = self._map_number(state, state.tolerated_count, "ToleratedFailureCount", bindings, t.effective,
                                           scope, int)
        tolerated_percentage = self._map_number(state, state.tolerated_percentage, "ToleratedFailurePercentage", bindings,
                                                t.effective, scope, float)
        if tolerated_count is not None and tolerated_count < 0:
            raise StatesError("States.Runtime", "ToleratedFailureCount cannot be negative.")
        if tolerated_percentage is not None and not 0 <= tolerated_percentage <= 100:
            raise StatesError("States.Runtime", "ToleratedFailurePercentage must be between 0 and 100.")
        if self._runs_child_executions(state):
            self._start_map_run(t, scope, bindings, items, {
                "MaxConcurrency": max_concurrency or 0, "ToleratedFailureCount": tolerated_count,
                "ToleratedFailurePercentage": tolerated_percentage}, redriven)
            return
        assert isinstance(items, list)
        group = Group(t, "Map", items, max_concurrency=max_concurrency or 0, items=items,
                      tolerated_count=tolerated_count if tolerated_count is not None else -1,
                      tolerated_percentage=tolerated_percentage if tolerated_percentage is not None else -1,
                      distributed=state.distributed)
        self._open_group(t, group)

    def _map_items(self, t: Thread, scope: Scope, bindings: dict[str, JSON] | None) -> list[JSON]:
        """The items of the state input (ItemsPath or Items)."""
        state = t.state
        if bindings is not None:  # JSONata
            items = self._jsonata(state.items, bindings) if state.items is not None else t.input
            if state.items is not None and not isinstance(items, list) and "Items" in state.field_text:
                raise jsonata.unexpected_type(items, "array", text=state.field_text["Items"], field="Items")
        else:
            items = state.items(t.effective, scope) if state.items is not None else t.effective
        if not isinstance(items, list):
            raise StatesError("States.QueryEvaluationError" if bindings is not None else "States.Runtime",
                              f"Map state input must be an array but was: {dumps(items)}")
        return items

    def _runs_child_executions(self, state: State) -> bool:
        """A distributed Map runs its items as child executions, under a Map Run (TestState mocks them)."""
        return state.distributed

    def _start_map_run(self, t: Thread, scope: Scope, bindings: dict[str, JSON] | None, items: JSON,
                       limits: dict[str, JSON], redriven: bool) -> None:
        """Ask the runtime for the Map Run (an InvokeTask of a `mapRun` resource, answered when the run ends, as a
        `.sync` job is): everything it needs is evaluated here, the items it reads are never in this execution.
        A redriven run is the same run again (its failed children are redriven, the others kept)."""
        state = t.state
        run_arn = t.map_run if redriven and t.map_run is not None else self._map_run_arn(t)
        t.map_run = run_arn
        fields = state.definition.fields
        declared = fields.get("ItemProcessor", fields.get("Iterator"))  # Iterator: the older name
        assert isinstance(declared, dict)
        processor = {k: v for k, v in declared.items() if k != "ProcessorConfig"}
        assert state.processor is not None
        if state.processor.language == JSONATA:
            processor.setdefault("QueryLanguage", JSONATA)
        configs: dict[str, JSON] = {}
        resolved: dict[str, JSON] = {}
        for name, config in (("ItemReader", state.item_reader), ("ItemBatcher", state.item_batcher),
                             ("ResultWriter", state.result_writer)):
            if config is None:
                continue
            if bindings is not None:
                configs[name] = self._jsonata(config, bindings)
            else:
                configs[name], paths = config(t.effective, scope)
                resolved.update(paths)
        # values that are not integers are checked before the Map Run starts, as AWS checks them
        if isinstance(configs.get("ItemBatcher"), dict):
            BatcherSpec.parse(configs["ItemBatcher"], resolve=resolved.get)
        reader = configs.get("ItemReader")
        config = reader.get("ReaderConfig") if isinstance(reader, dict) else None
        if isinstance(config, dict):
            try:
                if isinstance(config.get("MaxItemsPath"), str):
                    path = config["MaxItemsPath"]
                    max_items_value(resolved.get(path), "MaxItemsPath field refers to", path)
                elif "MaxItems" in config:
                    max_items_value(config["MaxItems"], "MaxItems field has", "MaxItems")
            except StatesError as error:
                if error.error != READER_FAILED:
                    raise  # a number out of range fails the Map Run itself
        selector = fields.get("ItemSelector", fields.get("Parameters"))
        parameters: dict[str, JSON] = {
            "MapRunArn": run_arn, "ExecutionType": declared["ProcessorConfig"].get("ExecutionType", "STANDARD"),
            "Processor": processor, "Items": items, **configs, "Resolved": resolved, **limits,
            "ItemSelector": selector, "QueryLanguage": state.language, "Input": t.input, "Effective": t.effective,
            "Variables": t.variables, "Context": scope.context}
        if redriven:
            count = self.execution_context.get("RedriveCount", 0)
            parameters["RedriveCount"] = count
            self._record(t, "MapRunRedriven", "mapRunRedrivenEventDetails", {"mapRunArn": run_arn,
                                                                              "redriveCount": count})
        else:
            self._record(t, "MapRunStarted", "mapRunStartedEventDetails", {"mapRunArn": run_arn})
        t.waiting = "task"
        self._effects.append(InvokeTask(thread=t.key, token=t.token, state_name=state.name,
                                        resource=map_run_resource(run_arn), parameters=parameters,
                                        invocation=0, timeout_seconds=None, heartbeat_seconds=None,
                                        task_token=None))

    def _map_run_ended(self, t: Thread, result: JSON, error: tuple[str, str | None] | None) -> None:
        """The Map Run answered: MapRunSucceeded and the Map's result, or MapRunFailed and its error."""
        if error is None:
            self._record(t, "MapRunSucceeded", None, None)
            self._record(t, "MapStateSucceeded", None, None)
            self._guard(t, self._complete, t, result)
            return
        self._record(t, "MapRunFailed", "mapRunFailedEventDetails",
                     {k: v for k, v in (("error", error[0]), ("cause", error[1])) if v is not None})
        t.failed_events = ("MapStateFailed",)
        self._handle_error(t, error[0], error[1])

    def _map_run_arn(self, t: Thread) -> str:
        machine_arn = self.machine_context["Id"].replace(":stateMachine:", ":mapRun:")
        execution_name = self.execution_context["Name"]
        label = t.state.label or t.state.name
        retried = f"-{t.retry_count}" if t.retry_count else ""  # a retried Map state starts a Map Run of its own
        return f"{machine_arn}/{label}:{execution_name}-{t.entered_id}{retried}"

    def _map_number(self, state: State, value: Any, field: str, bindings: dict[str, JSON] | None, effective: JSON, scope: Scope,
                    kind: type) -> Any:
        if not callable(value):
            return value
        if bindings is not None:
            result = self._jsonata(value, bindings)
        else:
            result = value(effective, scope)
        if isinstance(result, str):  # a number written as text is read as that number
            try:
                result = kind(result)
            except ValueError:
                pass
        if kind is int:
            valid = not isinstance(result, bool) and isinstance(result, (int, float)) and float(result).is_integer()
            if not valid:
                path = state.field_text.get(f"{field}Path", "")
                raise StatesError("States.Runtime", f"The {field}Path field refers to value {_quoted(result)} "
                                                    f"which is not a valid integer: {path}")
            return int(result)
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            path = state.field_text.get(f"{field}Path", "")
            raise StatesError("States.Runtime", f"The {field}Path field refers to value {_quoted(result)} "
                                                f"which is not a valid float: {path}")
        return float(result)

    def _open_group(self, t: Thread, group: Group) -> None:
        t.group = group
        t.waiting = "children"
        if not group.inputs:
            self._close_group(t, failed=False)
            self._complete(t, [])
            return
        self._start_children(group)

    def _start_children(self, group: Group) -> None:
        owner = group.owner
        state = owner.state
        limit = group.max_concurrency or len(group.inputs)
        while group.next_index < len(group.inputs) and len(group.running) < limit:
            index = group.next_index
            group.next_index += 1
            if group.kind == "Parallel":
                machine = state.branches[index]
                child_input = group.inputs[index]
            else:
                assert state.processor is not None and group.items is not None
                machine = state.processor
                if not group.distributed:
                    self._record(owner, "MapIterationStarted", "mapIterationStartedEventDetails",
                                 {"index": index, "name": state.name})
                child_input = self._item_input(owner, index, group.items[index])
            child = Thread(f"{owner.key}/{state.name}/{index}", machine, group, index, dict(owner.variables),
                           child_input, owner.last_event, owner.recorded and not group.distributed)
            group.running[index] = child
            self.threads[child.key] = child
            self._ready.append(child)

    def _item_input(self, owner: Thread, index: int, item: JSON) -> JSON:
        state = owner.state
        if state.item_selector is None:
            return item
        scope = self._scope(owner, Map={"Item": {"Index": index, "Value": item}})
        if state.language == JSONATA:
            return self._jsonata(state.item_selector, self._bindings(owner, scope))
        return state.item_selector(owner.effective, scope)

    def _child_finished(self, child: Thread, output: JSON, error: tuple[str | None, str | None] | None) -> None:
        group = child.parent
        assert group is not None  # only a child thread finishes into its parent
        owner = group.owner
        group.running.pop(child.index, None)
        self.threads.pop(child.key, None)
        group.done += 1
        state = owner.state
        if group.kind == "Map" and not group.distributed:
            kind = "MapIterationFailed" if error else "MapIterationSucceeded"
            key = "mapIterationFailedEventDetails" if error else "mapIterationSucceededEventDetails"
            owner.last_event = child.last_event
            self._record(owner, kind, key, {"index": child.index, "name": state.name})
        elif group.kind == "Parallel":
            owner.last_event = max(owner.last_event, child.last_event)
        if error is None:
            _set_result(group, child.index, output)
        elif group.kind == "Parallel" or not self._tolerated(group, group.failures + 1):
            group.failures += 1
            group.unfinished[child.index] = child
            self._close_group(owner, failed=True)
            if group.kind == "Map" and self._has_tolerance(group):
                error = ("States.ExceedToleratedFailureThreshold",
                         "The specified tolerated failure threshold was exceeded")
            self._handle_error(owner, error[0], error[1])
            self._ready.append(owner)
            return
        else:
            group.failures += 1
            _set_result(group, child.index, {"Error": error[0], "Cause": error[1]})
        if group.done == len(group.inputs):
            self._close_group(owner, failed=False)
            self._guard(owner, self._complete, owner, group.results)
            self._ready.append(owner)
        else:  # the next items' ItemSelector may fail: that is the Map state's error, not the finished child's
            self._guard(owner, self._start_children, group)
            if owner.group is None:
                self._ready.append(owner)

    @staticmethod
    def _has_tolerance(group: Group) -> bool:
        return group.tolerated_count >= 0 or group.tolerated_percentage >= 0

    def _tolerated(self, group: Group, failures: int) -> bool:
        if group.tolerated_count >= 0 and failures <= group.tolerated_count:
            return True
        if group.tolerated_percentage >= 0 and failures * 100 <= group.tolerated_percentage * len(group.inputs):
            return True
        return False

    def _abort_children(self, group: Group) -> None:
        owner = group.owner
        for child in list(group.running.values()):
            self._abort_thread(child)
            group.unfinished[child.index] = child
            if group.kind == "Map" and not group.distributed:
                self._record(owner, "MapIterationAborted", "mapIterationAbortedEventDetails",
                             {"index": child.index, "name": owner.state.name})
        group.running.clear()

    def _abort_thread(self, t: Thread) -> None:
        t.finished = True
        self.threads.pop(t.key, None)
        if t.waiting == "task":
            self._effects.append(CancelTask(thread=t.key, token=t.token))  # a Map Run's: its children are stopped
            if t.map_run is not None:
                self._record(t, "MapRunAborted", None, None)
        if t.group is not None:
            for child in list(t.group.running.values()):
                self._abort_thread(child)
        t.waiting = None

    def _close_group(self, t: Thread, *, failed: bool) -> None:
        group = t.group
        t.group = None
        t.waiting = None
        if group is None:
            return
        if failed:
            self._abort_children(group)
        if group.kind == "Parallel":
            kinds: tuple[str, ...] = ("ParallelStateFailed",) if failed else ("ParallelStateSucceeded",)
        elif group.distributed:
            kinds = ("MapRunFailed", "MapStateFailed") if failed else ("MapRunSucceeded", "MapStateSucceeded")
        else:
            kinds = ("MapStateFailed",) if failed else ("MapStateSucceeded",)
        if failed:
            t.failed_events = kinds
            t.failed_group = group
        else:
            for kind in kinds:
                self._record(t, kind, None, None)


def _set_result(group: Group, index: int, result: JSON) -> None:
    group.results[index] = result
    if group.unwritten is not None:  # a durable checkpoint writes it next (checkpoint.py)
        group.unwritten.append(index)


def _quoted(value: JSON) -> str:
    return f'"{value}"' if isinstance(value, str) else f'"{dumps(value)}"'
