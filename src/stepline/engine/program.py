"""Compile a validated definition into a Program: every path, template, intrinsic and JSONata expression
is compiled here once, so nothing is parsed while an execution runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepline.asl import model
from stepline.asl.model import Retrier
from stepline.asl.parse import parse_definition
from stepline.engine.choice import compile_choice_rule
from stepline.errors import DefinitionError, Diagnostic
from stepline.expr import jsonata
from stepline.expr.intrinsics import compile_intrinsic, is_intrinsic
from stepline.expr.paths import compile_path, compile_result_path
from stepline.expr.templates import compile_template
from stepline.jsonvalue import JSON

JSONPATH, JSONATA = "JSONPath", "JSONata"

Evaluate = Callable[..., JSON]
Fields = Mapping[str, JSON]
Choice = tuple[Evaluate, str, Evaluate | None, Evaluate | None]  # (condition, Next, Assign, Output)


@dataclass(slots=True, kw_only=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: Callable[[JSON, JSON], JSON] | None  # JSONPath mode
    assign: Evaluate | None
    output: Evaluate | None  # JSONata mode


@dataclass(slots=True, kw_only=True)
class State:
    """One compiled state. Fields a state type does not use stay None."""

    definition: model.State
    name: str
    type: str
    at: str  # the JSON pointer the compiler reports and checkpoints keep: "/States/Fan/Branches/0/States/A"
    language: str
    next: str | None = None
    end: bool = False
    # JSONPath data flow
    input_path: Evaluate | None = None
    parameters: Evaluate | None = None
    result: JSON = None
    has_result: bool = False
    result_selector: Evaluate | None = None
    result_path: Callable[[JSON, JSON], JSON] | None = None
    output_path: Evaluate | None = None
    # JSONata data flow
    arguments: Evaluate | None = None
    output: Evaluate | None = None
    # both
    assign: Evaluate | None = None
    retriers: tuple[Retrier, ...] = ()
    catchers: list[Catcher] = field(default_factory=list)
    # type-specific
    resource: str = ""
    timeout_seconds: Evaluate | float | None = None
    heartbeat_seconds: Evaluate | float | None = None
    credentials: Evaluate | None = None
    choose: list[Choice] = field(default_factory=list)
    default: str | None = None
    wait_seconds: Evaluate | float | None = None
    wait_timestamp: Evaluate | str | None = None
    wait_field: str = ""  # which of Seconds, SecondsPath, Timestamp, TimestampPath the Wait uses
    field_text: dict[str, str] = field(default_factory=dict)  # *Path fields and JSONata Items, for runtime messages
    error: Evaluate | str | None = None
    cause: Evaluate | str | None = None
    branches: list[Machine] = field(default_factory=list)
    processor: Machine | None = None
    items: Evaluate | None = None  # ItemsPath (JSONPath) or Items (JSONata)
    item_selector: Evaluate | None = None
    max_concurrency: Evaluate | int = 0
    tolerated_count: Evaluate | int | None = None
    tolerated_percentage: Evaluate | float | None = None
    distributed: bool = False
    label: str | None = None
    # a distributed Map's ItemReader, ItemBatcher and ResultWriter: JSONata, a function of the bindings; JSONPath,
    # (effective input, scope) -> (the field with its Parameters and BatchInput evaluated, {reference path: value})
    item_reader: Evaluate | None = None
    item_batcher: Evaluate | None = None
    result_writer: Evaluate | None = None


@dataclass(slots=True, kw_only=True)
class Machine:
    """A state machine, a Parallel branch or a Map item processor."""

    start_at: str
    states: dict[str, State]
    language: str
    at: str


@dataclass(slots=True, kw_only=True)
class Program:
    """A compiled definition, ready to run many times."""

    definition: model.StateMachine
    machine_type: str  # "STANDARD" | "EXPRESS"
    root: Machine
    timeout_seconds: int | None
    machines: dict[str, Machine]  # every machine by its location ("" the root): checkpoints name them so


def _machines(machine: Machine) -> dict[str, Machine]:
    found = {machine.at: machine}
    for state in machine.states.values():
        for child in (*state.branches, *([state.processor] if state.processor else [])):
            found.update(_machines(child))
    return found


def compile_definition(definition: str | JSON, machine_type: str = "STANDARD", *,
                       tolerate: frozenset[str] = frozenset()) -> Program:
    """Validate and compile; DefinitionError carries every diagnostic when the definition is not usable.

    `tolerate` names diagnostic codes to accept: TestState's lone state may name Next states it does not define.
    """
    parsed, diagnostics = parse_definition(definition, machine_type=machine_type)
    errors = [d for d in diagnostics if d.severity == "ERROR" and d.code not in tolerate]
    if errors or parsed is None:
        raise DefinitionError(errors or [Diagnostic("INVALID_JSON_DESCRIPTION", "Invalid definition", "/")])
    return compile_model(parsed, machine_type)


def compile_model(definition: model.StateMachine, machine_type: str = "STANDARD") -> Program:
    """Compile a valid definition's model; DefinitionError for a path, template or expression that does not."""
    root = _machine(definition, at="")
    return Program(definition=definition, machine_type=machine_type, root=root,
                   timeout_seconds=definition.timeout_seconds, machines=_machines(root))


def _machine(spec: model.StateMachine, *, at: str) -> Machine:
    assert spec.start_at is not None  # validation requires StartAt
    states = {name: _state(state, at=f"{at}/States/{name}") for name, state in spec.states.items()}
    return Machine(start_at=spec.start_at, states=states, language=spec.query_language, at=at)


def _state(spec: model.State, *, at: str) -> State:
    body = spec.fields
    state = State(definition=spec, name=spec.name, type=spec.type, at=at, language=spec.query_language,
                  next=spec.next, end=spec.end, retriers=spec.retry)
    if state.language == JSONATA:
        _jsonata_flow(state, body, at)
    else:
        _jsonpath_flow(state, body, at)
    if spec.catch:
        state.catchers = [_catcher(c, at=f"{at}/Catch/{i}", language=state.language) for i, c in enumerate(spec.catch)]
    if isinstance(spec, model.TaskState):
        _task(state, spec, at)
    elif isinstance(spec, model.ChoiceState):
        _choice(state, spec, at)
    elif isinstance(spec, model.ParallelState):
        state.branches = [_machine(branch, at=f"{at}/Branches/{i}") for i, branch in enumerate(spec.branches)]
    elif isinstance(spec, model.MapState):
        _map(state, spec, at)
    elif spec.type == "Wait":
        _wait(state, body, at)
    elif spec.type == "Fail":
        _fail(state, body, at)
    return state


def _value(state: State, body: Fields, key: str, at: str) -> Any:
    """A field that is a JSONata value in JSONata states and a literal (or *Path twin) in JSONPath states."""
    if key not in body:
        return None
    if state.language == JSONATA:
        return jsonata.compile_value(body[key], at=f"{at}/{key}", field=key)
    return body[key]


def _jsonpath_flow(state: State, body: Fields, at: str) -> None:
    if "InputPath" in body:
        state.input_path = _optional_path(body["InputPath"], at=f"{at}/InputPath", field="InputPath")
    if "OutputPath" in body:
        state.output_path = _optional_path(body["OutputPath"], at=f"{at}/OutputPath", field="OutputPath")
    if "ResultPath" in body:
        state.result_path = compile_result_path(body["ResultPath"], at=f"{at}/ResultPath")
    if "Parameters" in body and state.type != "Map":
        state.parameters = compile_template(body["Parameters"], at=f"{at}/Parameters", field="Parameters")
    if "ResultSelector" in body:
        state.result_selector = compile_template(body["ResultSelector"], at=f"{at}/ResultSelector", field="ResultSelector")
    if "Result" in body:
        state.result, state.has_result = body["Result"], True
    if "Assign" in body:
        state.assign = compile_template(body["Assign"], at=f"{at}/Assign", field="Assign")


def _optional_path(path: str | None, *, at: str, field: str) -> Evaluate:
    if path is None:  # a null InputPath/OutputPath gives {}
        return lambda value, scope: {}
    return compile_path(path, at=at, field=field)


def _jsonata_flow(state: State, body: Fields, at: str) -> None:
    if "Arguments" in body:
        state.arguments = jsonata.compile_value(body["Arguments"], at=f"{at}/Arguments", field="Arguments")
    if "Output" in body:
        state.output = jsonata.compile_value(body["Output"], at=f"{at}/Output", field="Output")
    if "Assign" in body:
        state.assign = jsonata.compile_value(body["Assign"], at=f"{at}/Assign", field="Assign")


def _catcher(spec: model.Catcher, *, at: str, language: str) -> Catcher:
    assert spec.next is not None  # validation requires Next
    catcher = Catcher(error_equals=spec.error_equals, next=spec.next, result_path=None, assign=None, output=None)
    body = spec.fields
    if language == JSONATA:
        if "Output" in body:
            catcher.output = jsonata.compile_value(body["Output"], at=f"{at}/Output", field="Output")
        if "Assign" in body:
            catcher.assign = jsonata.compile_value(body["Assign"], at=f"{at}/Assign", field="Assign")
    else:
        if "ResultPath" in body:
            catcher.result_path = compile_result_path(body["ResultPath"], at=f"{at}/ResultPath")
        if "Assign" in body:
            catcher.assign = compile_template(body["Assign"], at=f"{at}/Assign", field="Assign")
    return catcher


def _number_or_path(state: State, body: Fields, key: str, at: str) -> Any:
    """TimeoutSeconds/TimeoutSecondsPath style pairs: a constant, a compiled path, or a JSONata value."""
    if f"{key}Path" in body:
        state.field_text[f"{key}Path"] = body[f"{key}Path"]
        return compile_path(body[f"{key}Path"], at=f"{at}/{key}Path", field=f"{key}Path")
    return _value(state, body, key, at)


def _task(state: State, spec: model.TaskState, at: str) -> None:
    body = spec.fields
    assert spec.resource is not None  # validation requires Resource
    state.resource = spec.resource
    state.timeout_seconds = _number_or_path(state, body, "TimeoutSeconds", at)
    state.heartbeat_seconds = _number_or_path(state, body, "HeartbeatSeconds", at)
    if "Credentials" in body:
        credentials = body["Credentials"]
        state.credentials = (jsonata.compile_value(credentials, at=f"{at}/Credentials", field="Credentials")
                             if state.language == JSONATA
                             else compile_template(credentials, at=f"{at}/Credentials", field="Credentials"))


def _choice(state: State, spec: model.ChoiceState, at: str) -> None:
    state.default = spec.default
    for i, rule in enumerate(spec.choices):
        assert rule.next is not None  # validation requires Next
        rule_at, body = f"{at}/Choices/{i}", rule.fields
        condition: Evaluate
        assign: Evaluate | None
        output: Evaluate | None = None
        if state.language == JSONATA:
            condition = jsonata.compile_value(body["Condition"], at=f"{rule_at}/Condition", field="Condition")
            assign = jsonata.compile_value(body["Assign"], at=f"{rule_at}/Assign", field="Assign") \
                if "Assign" in body else None
            output = jsonata.compile_value(body["Output"], at=f"{rule_at}/Output", field="Output") \
                if "Output" in body else None
        else:
            condition = compile_choice_rule(body, at=rule_at)
            assign = compile_template(body["Assign"], at=f"{rule_at}/Assign", field="Assign") \
                if "Assign" in body else None
        state.choose.append((condition, rule.next, assign, output))


def _wait(state: State, body: Fields, at: str) -> None:
    for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath"):
        if key in body:
            state.wait_field = key
    if "SecondsPath" in body or "TimestampPath" in body:
        key = state.wait_field
        state.field_text[key] = body[key]
        path = compile_path(body[key], at=f"{at}/{key}", field=key)
        if key == "SecondsPath":
            state.wait_seconds = path
        else:
            state.wait_timestamp = path
    else:
        state.wait_seconds = _value(state, body, "Seconds", at)
        state.wait_timestamp = _value(state, body, "Timestamp", at)


def _fail(state: State, body: Fields, at: str) -> None:
    for key, attr in (("Error", "error"), ("Cause", "cause")):
        if f"{key}Path" in body:
            setattr(state, attr, _fail_path(body[f"{key}Path"], at=f"{at}/{key}Path", field=f"{key}Path"))
        elif key in body:
            setattr(state, attr, _value(state, body, key, at))


def _fail_path(path: str, *, at: str, field: str) -> Evaluate:
    # ErrorPath/CausePath may hold an intrinsic function as well as a path
    if is_intrinsic(path):
        return compile_intrinsic(path, at=at, field=field)
    return compile_path(path, at=at, field=field)


def _map(state: State, spec: model.MapState, at: str) -> None:
    body = spec.fields
    assert spec.processor is not None  # validation requires ItemProcessor or Iterator
    state.processor = _machine(spec.processor, at=f"{at}/{spec.processor_field}")
    state.distributed = spec.distributed
    state.label = spec.label
    if spec.distributed:
        state.item_reader = _map_config(state, body, "ItemReader", at)
        state.item_batcher = _map_config(state, body, "ItemBatcher", at)
        state.result_writer = _map_config(state, body, "ResultWriter", at)
    if state.language == JSONATA:
        if "Items" in body:
            state.items = jsonata.compile_value(body["Items"], at=f"{at}/Items", field="Items")
            if jsonata.is_expression(body["Items"]):
                state.field_text["Items"] = body["Items"][2:-2]
        if "ItemSelector" in body:
            state.item_selector = jsonata.compile_value(body["ItemSelector"], at=f"{at}/ItemSelector", field="ItemSelector")
    else:
        if "ItemsPath" in body:
            state.items = compile_path(body["ItemsPath"], at=f"{at}/ItemsPath", field="ItemsPath")
        selector_key = "ItemSelector" if "ItemSelector" in body else "Parameters" if "Parameters" in body else None
        if selector_key:
            state.item_selector = compile_template(body[selector_key], at=f"{at}/{selector_key}", field=selector_key)
    state.max_concurrency = _number_or_path(state, body, "MaxConcurrency", at) or 0
    state.tolerated_count = _number_or_path(state, body, "ToleratedFailureCount", at)
    state.tolerated_percentage = _number_or_path(state, body, "ToleratedFailurePercentage", at)


_TEMPLATES = ("Parameters", "Arguments", "BatchInput")  # the parts of a distributed Map's fields that take paths
_REFERENCE_PATHS = ("MaxItemsPath", "MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath")


def _map_config(state: State, body: Fields, name: str, at: str) -> Evaluate | None:
    """A distributed Map's ItemReader, ItemBatcher or ResultWriter, compiled (see State.item_reader)."""
    if name not in body:
        return None
    value = body[name]
    if state.language == JSONATA:
        return jsonata.compile_value(value, at=f"{at}/{name}", field=name)
    templates = {key: compile_template(value[key], at=f"{at}/{name}/{key}", field=key)
                 for key in _TEMPLATES if key in value}
    config = {**value, **value.get("ReaderConfig", {})}
    paths = {config[key]: compile_path(config[key], at=f"{at}/{name}/{key}", field=key)
             for key in _REFERENCE_PATHS if isinstance(config.get(key), str)}

    def evaluate(effective: JSON, scope: Any) -> tuple[JSON, dict[str, JSON]]:
        evaluated = {**value, **{key: template(effective, scope) for key, template in templates.items()}}
        return evaluated, {text: path(effective, scope) for text, path in paths.items()}
    return evaluate
