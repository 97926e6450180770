"""The checks CreateStateMachine and ValidateStateMachineDefinition apply to a parsed definition.

One `Checker` walks the definition once, state machine by state machine (the top level, then each
Parallel branch and Map processor where it meets them). It builds the definition's model (asl/model.py)
as it goes and collects `Diagnostic`s in AWS's shape: field and type problems first
(SCHEMA_VALIDATION_FAILED), found on the values as written, then the machine's transitions
(MISSING_TRANSITION_TARGET, MISSING_END_STATE), read from the model of the machine. Locations are JSON
pointers written as AWS writes them: state names verbatim, array members as `Branches[0]`, `Choices[2]`,
`Catch[1]`.

Path and intrinsic syntax and JSONata expressions are not checked here: the expression compiler does that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal, TypedDict

from stepline.asl import fields as f
from stepline.asl.model import (
    Catcher,
    ChoiceRule,
    ChoiceState,
    MapState,
    ParallelState,
    Retrier,
    State,
    StateMachine,
    TaskState,
)
from stepline.asl import http_task
from stepline.asl.resources import (
    ITEM_READER_RESOURCES,
    RESULT_WRITER_RESOURCES,
    express_problem,
    not_recognized,
    resource_problem,
    s3_resource_ok,
)
from stepline.errors import Diagnostic
from stepline.jsonvalue import JSON

SCHEMA: Final = "SCHEMA_VALIDATION_FAILED"
MAX_STATE_NAME_LENGTH: Final = 80
MAX_NESTING: Final = 100  # machines inside machines; far beyond what any real definition uses
Container = Literal["top", "branch", "processor"]
MOVES_ON: Final = ("Pass", "Task", "Wait", "Parallel", "Map")  # the state types that take Next or End
HANDLES_ERRORS: Final = ("Task", "Parallel", "Map")  # the state types that take Retry and Catch


def query_language_of(state: Mapping[str, JSON], machine_default: str) -> str:
    """The language a state evaluates in: its own QueryLanguage, else the machine's.

    As AWS resolves it, only the exact value "JSONPath" selects JSONPath; any other value selects JSONata
    (and is reported separately when it is not one of the two names).
    """
    if "QueryLanguage" not in state:
        return machine_default
    return f.JSONPATH if state["QueryLanguage"] == f.JSONPATH else f.JSONATA


def _join(names: Iterable[str]) -> str:
    return ", ".join(names)


VARIABLE_NAME_RULE = ("a variable name is a letter or '_' followed by letters, digits or '_', at most 80 characters, "
                      "and not 'states'")


def is_variable_name(name: str) -> bool:
    """A Unicode identifier (UAX #31, as str.isidentifier) of at most 80 characters; `states` is reserved."""
    return name.isidentifier() and len(name) <= 80 and name != "states"


class Checker:
    """Collects the diagnostics of one definition and builds its model."""

    def __init__(self, *, machine_type: str, duplicates: Mapping[int, list[str]], definition_language: str) -> None:
        self.machine_type = machine_type
        self.duplicates = duplicates  # id(States object) -> state names the JSON text repeats
        self.found: list[Diagnostic] = []
        # A state's fields are checked against its own QueryLanguage, else the definition's (not its machine's,
        # which the model reads)
        self.definition_language = definition_language

    # -- reporting -------------------------------------------------------------------------------------
    def error(self, message: str, location: str, code: str = SCHEMA) -> None:
        self.found.append(Diagnostic(code=code, message=message, location=location))

    def require(self, obj: Mapping[str, JSON], names: Iterable[str], at: str) -> bool:
        missing = [name for name in names if name not in obj]
        if missing:
            self.error(f"These fields are required: [{_join(missing)}]", at)
        return not missing

    def expect(self, value: JSON, kinds: tuple[str, ...], at: str) -> bool:
        kind = f.JSON_KINDS.get(type(value)) or f.kind_of(value)  # kind_of for a subclass: this runs for every value
        if kind in kinds or (kind == "INTEGER" and "NUMBER" in kinds):
            return True
        self.error(f"Expected value of type [{_join(kinds)}]", at)
        return False

    def enum(self, value: JSON, options: tuple[str, ...], at: str) -> None:
        if self.expect(value, ("STRING",), at) and value not in options:
            self.error(f"Value should be one of the following: [{_join(options)}]", at)

    def at_most_one(self, obj: Mapping[str, JSON], names: tuple[str, ...], at: str) -> None:
        present = [name for name in names if name in obj]
        if len(present) > 1:
            self.error(f"Only one of these fields may be provided: [{_join(present)}]", at)

    def exactly_one(self, obj: Mapping[str, JSON], names: tuple[str, ...], at: str) -> None:
        if not any(name in obj for name in names):
            self.error(f"One of these fields is required: [{_join(names)}]", at)
        self.at_most_one(obj, names, at)

    def number(self, obj: Mapping[str, JSON], key: str, at: str, language: str, *, integer: bool = True,
               low: float | None = None, high: float | None = None) -> None:
        """An integer (or number) field with a range; a JSONata state may give a "{% %}" string instead."""
        if key not in obj:
            return
        value, where = obj[key], f"{at}/{key}"
        if language == f.JSONATA and f.is_jsonata(value):
            return
        if not self.expect(value, ("INTEGER",) if integer else ("NUMBER",), where):
            return
        if low is not None and value < low:
            self.error(f"Minimum value is {low:g}", where)
        elif high is not None and value > high:
            self.error(f"Maximum value is {high:g}", where)

    def items(self, obj: Mapping[str, JSON], key: str, at: str) -> list[JSON]:
        """A field that must be a non-empty array: its items, or none when it is missing or not an array."""
        if not self.require(obj, (key,), at):
            return []
        items = obj[key]
        if not self.expect(items, ("ARRAY",), f"{at}/{key}") or not isinstance(items, list):
            return []
        if not items:
            self.error("Value cannot be empty", f"{at}/{key}")
        return items

    def strings(self, obj: Mapping[str, JSON], keys: Iterable[str], at: str, *, nullable: bool = False) -> None:
        for key in keys:
            if key in obj:
                self.expect(obj[key], ("STRING", "NULL") if nullable else ("STRING",), f"{at}/{key}")

    def objects(self, obj: Mapping[str, JSON], keys: Iterable[str], at: str, language: str) -> None:
        """Payload templates: objects, or in JSONata a "{% %}" expression."""
        for key in keys:
            if key in obj:
                if language == f.JSONATA and key in f.JSONATA_VALUE_FIELDS and isinstance(obj[key], str):
                    continue
                self.expect(obj[key], ("OBJECT",), f"{at}/{key}")
                if key == "Assign" and isinstance(obj[key], dict):
                    self.variable_names(obj[key], f"{at}/Assign", language)

    def variable_names(self, assign: Mapping[str, JSON], at: str, language: str) -> None:
        """Each name is_variable_name; in JSONPath states a name may end in ".$" (its value is then a path or
        intrinsic)."""
        for key in assign:
            name = key[:-2] if language == f.JSONPATH and key.endswith(".$") else key
            if not is_variable_name(name):
                self.error(f"The variable name '{name}' is not valid: {VARIABLE_NAME_RULE}", f"{at}/{key}")

    # -- state machines --------------------------------------------------------------------------------
    def machine(self, obj: Mapping[str, JSON], base: str, container: Container, language: str,
                depth: int = 0) -> StateMachine:
        """A state machine: the definition itself, a Parallel branch or a Map's ItemProcessor/Iterator.
        `language` is the one it inherits."""
        at = base or "/"
        language = query_language_of(obj, language)
        start_at = _string(obj.get("StartAt"))
        states: dict[str, State] = {}
        if depth > MAX_NESTING:
            self.error("The states are too deeply nested.", at, "TOO_DEEPLY_NESTED")
        else:
            allowed = f.TOP_LEVEL_FIELDS if container == "top" else f.NESTED_FIELDS
            for key in obj:
                if key not in allowed or (key == "ProcessorConfig" and container != "processor"):
                    self.error(f"Field '{key}' is not supported", at)
            if container == "top" and "QueryLanguage" in obj:
                self.enum(obj["QueryLanguage"], (f.JSONPATH, f.JSONATA), "/QueryLanguage")
            self.require(obj, ("States", "StartAt"), at)  # AWS's order, recorded: [States, StartAt]
            self.strings(obj, ("StartAt", "Comment", "Version"), base)
            if container == "top":
                self.number(obj, "TimeoutSeconds", base, f.JSONPATH, low=1, high=99999999)
            written = obj.get("States")
            if "States" in obj and self.expect(written, ("OBJECT",), f"{base}/States") and isinstance(written, dict):
                for name in self.duplicates.get(id(written), ()):
                    self.error(f"Duplicate State name: {name}", f"{base}/States/{name}", "DUPLICATE_STATE_NAME")
                states = {name: self.state(name, state, f"{base}/States/{name}", language, depth)
                          for name, state in written.items()}
                self.transitions(states, start_at, base, top=container == "top")
        return StateMachine(location=base, start_at=start_at, states=states, query_language=language, fields=obj,
                            timeout_seconds=_integer(obj.get("TimeoutSeconds")))

    def state(self, name: str, state: JSON, at: str, machine_language: str, depth: int) -> State:
        if len(name) > MAX_STATE_NAME_LENGTH:
            self.error(f"State name exceeds the maximum length of {MAX_STATE_NAME_LENGTH} characters: {name}",
                       at, "INVALID_STATE_NAME")
        if not self.expect(state, ("OBJECT",), at) or not isinstance(state, dict):
            return State(name=name, type="", location=at, query_language=machine_language, fields={})
        common: _Common = {"name": name, "type": _string(state.get("Type")) or "", "location": at,
                           "query_language": query_language_of(state, machine_language), "fields": state,
                           "next": _string(state.get("Next")), "end": state.get("End") is True, "retry": (), "catch": ()}
        if not self.require(state, ("Type",), at):
            return State(**common)
        kind = state["Type"]
        if kind not in f.STATE_TYPES:
            self.error(f"The field 'Type' should have one of these values: [{_join(f.STATE_TYPES)}]", f"{at}/Type")
            return State(**common)
        language = query_language_of(state, self.definition_language)
        downgraded = self.definition_language == f.JSONATA and state.get("QueryLanguage") == f.JSONPATH
        if downgraded:
            self.error("'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine", at)
        self.field_names(state, f.STATE_FIELDS[kind], at, language, check_language=not downgraded)
        if "QueryLanguage" in state:
            self.enum(state["QueryLanguage"], (f.JSONPATH, f.JSONATA), f"{at}/QueryLanguage")
        self.strings(state, ("Comment",), at)
        self.strings(state, ("InputPath", "OutputPath", "ResultPath"), at, nullable=True)
        self.objects(state, ("Parameters", "ResultSelector", "Assign", "Arguments"), at, language)
        if kind in MOVES_ON:
            self.next_or_end(state, at)
        if "Retry" in state and kind in HANDLES_ERRORS:
            common["retry"] = self.retry(state["Retry"], f"{at}/Retry")
        if "Catch" in state and kind in HANDLES_ERRORS:
            common["catch"] = self.catch(state["Catch"], f"{at}/Catch", language)
        return _TYPE_CHECKS[kind](self, state, at, language, depth, common)

    def field_names(self, obj: Mapping[str, JSON], allowed: Mapping[str, str], at: str, language: str,
                    *, check_language: bool = True) -> None:
        """Fields the object may not have at all, then fields of the other query language (in `allowed`'s order)."""
        other_language = False
        for key in obj:
            belongs = allowed.get(key)
            if belongs is None:
                self.error(f"Field '{key}' is not supported", at)
            elif belongs != f.BOTH and belongs != language:
                other_language = True
        if not (other_language and check_language):
            return
        for key, belongs in allowed.items():
            if key in obj and belongs not in (f.BOTH, language):
                self.error(f"The QueryLanguage is set to '{language}', but field '{key}' is only supported "
                           f"for the '{belongs}' QueryLanguage", at)

    def next_or_end(self, state: Mapping[str, JSON], at: str) -> None:
        if "Next" in state:
            self.expect(state["Next"], ("STRING",), f"{at}/Next")
        if "End" in state:
            self.expect(state["End"], ("BOOLEAN",), f"{at}/End")
        ends = state.get("End") is True
        if "Next" in state and ends:
            self.error("Only one of these fields may be provided: [Next, End]", at)
        elif "Next" not in state and not ends:
            self.error("One of these fields is required: [Next, End]", at)

    # -- the state types -------------------------------------------------------------------------------
    def state_pass(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> State:
        return State(**common)  # Result, Output and Assign take any JSON value; the shared checks cover the rest

    def state_succeed(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> State:
        return State(**common)

    def state_task(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> TaskState:
        if self.require(state, ("Resource",), at) and self.expect(state["Resource"], ("STRING",), f"{at}/Resource"):
            resource = state["Resource"]
            problem = resource_problem(resource)
            if problem is None and self.machine_type == "EXPRESS":
                problem = express_problem(resource)
            if problem is not None:
                self.error(problem, f"{at}/Resource")
            elif http_task.is_http_task(resource):
                self.http_task(state, at, language)
        self.number(state, "TimeoutSeconds", at, language, low=1, high=99999999)
        self.number(state, "HeartbeatSeconds", at, language, low=1, high=99999999)
        self.strings(state, ("TimeoutSecondsPath", "HeartbeatSecondsPath"), at)
        self.at_most_one(state, ("TimeoutSeconds", "TimeoutSecondsPath"), at)
        self.at_most_one(state, ("HeartbeatSeconds", "HeartbeatSecondsPath"), at)
        timeout, heartbeat = _integer(state.get("TimeoutSeconds")), _integer(state.get("HeartbeatSeconds"))
        if timeout is not None and heartbeat is not None and heartbeat >= timeout:
            self.error("HeartbeatSeconds must be smaller than TimeoutSeconds", f"{at}/HeartbeatSeconds")
        if "Credentials" in state:
            credentials, where = state["Credentials"], f"{at}/Credentials"
            if not (language == f.JSONATA and f.is_jsonata(credentials)) and self.expect(
                credentials, ("OBJECT",), where
            ) and not ("RoleArn" in credentials or "RoleArn.$" in credentials):
                self.error("The field 'RoleArn' is required but was missing", where)
        return TaskState(**common, resource=_string(state.get("Resource")))

    def http_task(self, state: dict[str, JSON], at: str, language: str) -> None:
        field = "Arguments" if language == f.JSONATA else "Parameters"
        if field not in state:
            self.error(f"The field '{field}' is required but was missing", at)
            return
        for problem in http_task.definition_problems(state[field], language):
            self.error(problem, f"{at}/{field}")

    def state_wait(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> State:
        self.exactly_one(state, ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"), at)
        self.number(state, "Seconds", at, language, low=0, high=99999999)
        self.strings(state, ("SecondsPath", "TimestampPath"), at)
        if "Timestamp" in state:
            value, where = state["Timestamp"], f"{at}/Timestamp"
            if not (language == f.JSONATA and f.is_jsonata(value)):
                if self.expect(value, ("STRING",), where) and not f.is_timestamp(value):
                    self.error("String does not match RFC3339 timestamp", where)
        return State(**common)

    def state_fail(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> State:
        self.strings(state, ("Error", "ErrorPath", "Cause", "CausePath"), at)
        self.at_most_one(state, ("Error", "ErrorPath"), at)
        self.at_most_one(state, ("Cause", "CausePath"), at)
        return State(**common)

    def state_choice(self, state: dict[str, JSON], at: str, language: str, depth: int,
                     common: _Common) -> ChoiceState:
        self.strings(state, ("Default",), at)
        rules: list[ChoiceRule] = []
        for index, rule in enumerate(self.items(state, "Choices", at)):
            where = f"{at}/Choices[{index}]"
            self.choice_rule(rule, where, language, top=True)
            if isinstance(rule, dict):
                rules.append(ChoiceRule(next=_string(rule.get("Next")), location=where, fields=rule))
        return ChoiceState(**common, choices=tuple(rules), default=_string(state.get("Default")))

    def choice_rule(self, rule: JSON, at: str, language: str, *, top: bool) -> None:
        if not self.expect(rule, ("OBJECT",), at) or not isinstance(rule, dict):
            return
        for key in rule:
            if key not in f.CHOICE_RULE_FIELDS or (not top and key in ("Next", "Assign", "Output", "Condition")):
                self.error(f"Field '{key}' is not supported", at)
        if top:
            self.require(rule, ("Next",), at)
            self.strings(rule, ("Next",), at)
            self.objects(rule, ("Assign",), at, language)
        self.strings(rule, ("Comment",), at)
        if language == f.JSONATA:
            for key in rule:
                if key in f.COMPARISON_OPERATORS or key in ("Variable", "And", "Or", "Not"):
                    self.error(f"The QueryLanguage is set to 'JSONata', but field '{key}' is only supported for the "
                               "'JSONPath' QueryLanguage", at)
            if top and self.require(rule, ("Condition",), at):
                self.expect(rule["Condition"], ("STRING", "BOOLEAN"), f"{at}/Condition")
            return
        for key in ("Condition", "Output"):
            if key in rule:
                self.error(f"The QueryLanguage is set to 'JSONPath', but field '{key}' is only supported for the "
                           "'JSONata' QueryLanguage", at)
        operators = [key for key in rule if key in f.COMPARISON_OPERATORS]
        combinators = [key for key in ("And", "Or", "Not") if key in rule]
        if not operators and not combinators:
            self.error("A choice rule must have one comparison operator, or And, Or or Not", at)
        elif len(operators) + len(combinators) > 1:
            self.error(f"Only one of these fields may be provided: [{_join(operators + combinators)}]", at)
        if operators:
            if self.require(rule, ("Variable",), at):
                self.expect(rule["Variable"], ("STRING",), f"{at}/Variable")
            for operator in operators:
                self.operand(operator, rule[operator], f"{at}/{operator}")
        elif combinators and "Variable" in rule:
            self.error("Field 'Variable' is not supported", at)
        for key in combinators:
            operand = rule[key]
            if key == "Not":
                self.choice_rule(operand, f"{at}/Not", language, top=False)
            elif self.expect(operand, ("ARRAY",), f"{at}/{key}"):
                if not operand:
                    self.error("Value cannot be empty", f"{at}/{key}")
                for index, sub_rule in enumerate(operand):
                    self.choice_rule(sub_rule, f"{at}/{key}[{index}]", language, top=False)

    def operand(self, operator: str, value: JSON, at: str) -> None:
        if self.expect(value, (f.COMPARISON_OPERATORS[operator],), at):
            if operator in f.TIMESTAMP_OPERATORS and not f.is_timestamp(value):
                self.error("String does not match RFC3339 timestamp", at)

    def state_parallel(self, state: dict[str, JSON], at: str, language: str, depth: int,
                       common: _Common) -> ParallelState:
        machines: list[StateMachine] = []
        for index, branch in enumerate(self.items(state, "Branches", at)):
            where = f"{at}/Branches[{index}]"
            if self.expect(branch, ("OBJECT",), where) and isinstance(branch, dict):
                machines.append(self.machine(branch, where, "branch", common["query_language"], depth + 1))
        return ParallelState(**common, branches=tuple(machines))

    def state_map(self, state: dict[str, JSON], at: str, language: str, depth: int, common: _Common) -> MapState:
        processors = [key for key in ("ItemProcessor", "Iterator") if key in state]
        if not processors:
            self.error("These fields are required: [ItemProcessor]", at)
        self.at_most_one(state, ("ItemProcessor", "Iterator"), at)
        machines: dict[str, StateMachine] = {}
        for key in processors:
            processor, where = state[key], f"{at}/{key}"
            if self.expect(processor, ("OBJECT",), where) and isinstance(processor, dict):
                machines[key] = self.machine(processor, where, "processor", common["query_language"], depth + 1)
                if "ProcessorConfig" in processor:
                    self.processor_config(processor["ProcessorConfig"], f"{where}/ProcessorConfig")
        self.strings(state, ("ItemsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
                             "ToleratedFailureCountPath"), at)
        if "Items" in state and not (language == f.JSONATA and f.is_jsonata(state["Items"])):
            self.expect(state["Items"], ("ARRAY",), f"{at}/Items")
        self.objects(state, ("ItemSelector",), at, language)
        self.at_most_one(state, ("ItemSelector", "Parameters"), at)
        self.number(state, "MaxConcurrency", at, language, low=0)
        self.at_most_one(state, ("MaxConcurrency", "MaxConcurrencyPath"), f"{at}/MaxConcurrency")
        self.number(state, "ToleratedFailurePercentage", at, language, integer=False, low=0, high=100)
        self.number(state, "ToleratedFailureCount", at, language, low=0)
        self.at_most_one(state, ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"), at)
        self.at_most_one(state, ("ToleratedFailureCount", "ToleratedFailureCountPath"), at)
        if "Label" in state and self.expect(state["Label"], ("STRING",), f"{at}/Label"):
            problem = f.label_problem(state["Label"])
            if problem:
                self.error(problem, f"{at}/Label")
        if "ItemReader" in state:
            self.item_reader(state["ItemReader"], f"{at}/ItemReader", language)
        if "ItemBatcher" in state:
            self.item_batcher(state["ItemBatcher"], f"{at}/ItemBatcher", language)
        if "ResultWriter" in state:
            self.result_writer(state["ResultWriter"], f"{at}/ResultWriter", language)
        used = "ItemProcessor" if "ItemProcessor" in machines else "Iterator"  # the one that is an object, ItemProcessor first
        config = machines[used].fields.get("ProcessorConfig") if used in machines else None
        percentage = _number(state.get("ToleratedFailurePercentage"))
        return MapState(
            **common, processor=machines.get(used), processor_field=used,
            distributed=isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED",
            label=_string(state.get("Label")), max_concurrency=_integer(state.get("MaxConcurrency")),
            tolerated_failure_count=_integer(state.get("ToleratedFailureCount")),
            tolerated_failure_percentage=None if percentage is None else float(percentage))

    def processor_config(self, config: JSON, at: str) -> None:
        if not self.expect(config, ("OBJECT",), at):
            return
        for key in config:
            if key not in ("Mode", "ExecutionType"):
                self.error(f"Field '{key}' is not supported", at)
        if "Mode" in config:
            self.enum(config["Mode"], ("INLINE", "DISTRIBUTED"), f"{at}/Mode")
        if "ExecutionType" in config:
            self.enum(config["ExecutionType"], ("STANDARD", "EXPRESS"), f"{at}/ExecutionType")

    def item_reader(self, reader: JSON, at: str, language: str) -> None:
        if not self.expect(reader, ("OBJECT",), at):
            return
        allowed = {"Resource": f.BOTH, "ReaderConfig": f.BOTH, "Parameters": f.JSONPATH, "Arguments": f.JSONATA}
        self.field_names(reader, allowed, at, language)
        if self.require(reader, ("Resource",), at) and self.expect(reader["Resource"], ("STRING",), f"{at}/Resource"):
            if not s3_resource_ok(reader["Resource"], ITEM_READER_RESOURCES):
                self.error(not_recognized(reader["Resource"]), f"{at}/Resource")
        self.objects(reader, ("Parameters", "Arguments"), at, language)
        config = reader.get("ReaderConfig")
        if "ReaderConfig" in reader and self.expect(config, ("OBJECT",), f"{at}/ReaderConfig"):
            where = f"{at}/ReaderConfig"
            if "InputType" in config:
                self.enum(config["InputType"], ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"), f"{where}/InputType")
            if "CSVHeaderLocation" in config:
                self.enum(config["CSVHeaderLocation"], ("FIRST_ROW", "GIVEN"), f"{where}/CSVHeaderLocation")
            if "CSVHeaders" in config:
                self.expect(config["CSVHeaders"], ("ARRAY",), f"{where}/CSVHeaders")
            self.number(config, "MaxItems", where, language, low=0, high=100000000)
            self.strings(config, ("MaxItemsPath",), where)
            self.at_most_one(config, ("MaxItems", "MaxItemsPath"), where)

    def item_batcher(self, batcher: JSON, at: str, language: str) -> None:
        if not self.expect(batcher, ("OBJECT",), at):
            return
        allowed = {"MaxItemsPerBatch": f.BOTH, "MaxItemsPerBatchPath": f.JSONPATH, "MaxInputBytesPerBatch": f.BOTH,
                   "MaxInputBytesPerBatchPath": f.JSONPATH, "BatchInput": f.BOTH}
        self.field_names(batcher, allowed, at, language)
        self.number(batcher, "MaxItemsPerBatch", at, language, low=1)
        self.number(batcher, "MaxInputBytesPerBatch", at, language, low=1, high=262144)
        self.strings(batcher, ("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"), at)
        self.at_most_one(batcher, ("MaxItemsPerBatch", "MaxItemsPerBatchPath"), at)
        self.at_most_one(batcher, ("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"), at)
        self.objects(batcher, ("BatchInput",), at, language)

    def result_writer(self, writer: JSON, at: str, language: str) -> None:
        if not self.expect(writer, ("OBJECT",), at):
            return
        allowed = {"Resource": f.BOTH, "Parameters": f.JSONPATH, "Arguments": f.JSONATA, "WriterConfig": f.BOTH}
        self.field_names(writer, allowed, at, language)
        if "Resource" not in writer and "WriterConfig" not in writer:
            self.error("One of these fields is required: [Resource, WriterConfig]", at)
        if "Resource" in writer:
            if self.expect(writer["Resource"], ("STRING",), f"{at}/Resource"):
                if not s3_resource_ok(writer["Resource"], RESULT_WRITER_RESOURCES):
                    self.error(not_recognized(writer["Resource"]), f"{at}/Resource")
            if "Parameters" not in writer and "Arguments" not in writer:
                self.error(f"These fields are required: [{'Arguments' if language == f.JSONATA else 'Parameters'}]",
                           at)
        self.objects(writer, ("Parameters", "Arguments"), at, language)
        config = writer.get("WriterConfig")
        if "WriterConfig" in writer and self.expect(config, ("OBJECT",), f"{at}/WriterConfig"):
            where = f"{at}/WriterConfig"
            if self.require(config, ("Transformation", "OutputType"), where):
                self.enum(config["Transformation"], ("NONE", "COMPACT", "FLATTEN"), f"{where}/Transformation")
                self.enum(config["OutputType"], ("JSON", "JSONL"), f"{where}/OutputType")

    # -- Retry and Catch -------------------------------------------------------------------------------
    def error_equals(self, holder: Mapping[str, JSON], at: str) -> tuple[str, ...]:
        names, where = self.items(holder, "ErrorEquals", at), f"{at}/ErrorEquals"
        for index, name in enumerate(names):
            self.expect(name, ("STRING",), f"{where}[{index}]")
        if "States.ALL" in names and len(names) > 1:
            self.error("The wildcard 'States.ALL' must be the only error name in ErrorEquals", where)
        return tuple(name for name in names if isinstance(name, str))

    def retry(self, retriers: JSON, at: str) -> tuple[Retrier, ...]:
        if not self.expect(retriers, ("ARRAY",), at) or not isinstance(retriers, list):
            return ()
        rules: list[Retrier] = []
        for index, retrier in enumerate(retriers):
            where = f"{at}[{index}]"
            if not self.expect(retrier, ("OBJECT",), where) or not isinstance(retrier, dict):
                continue
            for key in retrier:
                if key not in f.RETRIER_FIELDS:
                    self.error(f"Field '{key}' is not supported", where)
            names = self.error_equals(retrier, where)
            if "States.ALL" in names and index != len(retriers) - 1:
                self.error("The wildcard 'States.ALL' must appear only in the last retrier", where)
            self.number(retrier, "IntervalSeconds", where, f.JSONPATH, low=1, high=99999999)
            self.number(retrier, "MaxAttempts", where, f.JSONPATH, low=0, high=99999999)
            self.number(retrier, "BackoffRate", where, f.JSONPATH, integer=False, low=1)
            self.number(retrier, "MaxDelaySeconds", where, f.JSONPATH, low=1, high=31622400)
            if "JitterStrategy" in retrier:
                self.enum(retrier["JitterStrategy"], ("FULL", "NONE"), f"{where}/JitterStrategy")
            self.strings(retrier, ("Comment",), where)
            rules.append(_retrier(retrier, names))
        return tuple(rules)

    def catch(self, catchers: JSON, at: str, language: str) -> tuple[Catcher, ...]:
        if not self.expect(catchers, ("ARRAY",), at) or not isinstance(catchers, list):
            return ()
        rules: list[Catcher] = []
        for index, catcher in enumerate(catchers):
            where = f"{at}[{index}]"
            if not self.expect(catcher, ("OBJECT",), where) or not isinstance(catcher, dict):
                continue
            self.field_names(catcher, f.CATCHER_FIELDS, where, language)
            names = self.error_equals(catcher, where)
            if "States.ALL" in names and index != len(catchers) - 1:
                self.error("The wildcard 'States.ALL' must appear only in the last catcher", where)
            self.require(catcher, ("Next",), where)
            self.strings(catcher, ("Next", "Comment"), where)
            self.strings(catcher, ("ResultPath",), where, nullable=True)
            self.objects(catcher, ("Assign",), where, language)
            rules.append(Catcher(error_equals=names, next=_string(catcher.get("Next")), location=where, fields=catcher))
        return tuple(rules)

    # -- transitions -----------------------------------------------------------------------------------
    def transitions(self, states: Mapping[str, State], start: str | None, base: str, *, top: bool) -> None:
        """Every target names a state; the top level can end; every state can be reached from StartAt."""
        if start is not None and start not in states:
            self.error(f"Missing 'Next' target: {start}", f"{base}/StartAt", "MISSING_TRANSITION_TARGET")
        edges: dict[str, list[str]] = {}
        terminal = False
        for name, state in states.items():
            edges[name] = targets = []
            for target, holder, field in _transitions(state):
                if target in states:
                    targets.append(target)
                else:
                    self.error(f"Missing 'Next' target: {target}", f"{holder}/{field}", "MISSING_TRANSITION_TARGET")
            terminal = terminal or _is_terminal(state)
        if top and not terminal:
            self.error("Workflow has no terminal state", "", "MISSING_END_STATE")
            return
        if start is None:
            return  # StartAt itself is reported missing or mistyped; there is nowhere to walk from
        reached: set[str] = set()
        pending = [start] if start in states else []
        while pending:
            name = pending.pop()
            if name not in reached:
                reached.add(name)
                pending.extend(edges[name])
        for name, state in states.items():
            if name not in reached:
                self.error(f'State "{name}" is not reachable.', state.location, "MISSING_TRANSITION_TARGET")


# The checks of each state type, which return its model
_TYPE_CHECKS: Final[dict[str, Callable[[Checker, dict[str, JSON], str, str, int, _Common], State]]] = {
    "Pass": Checker.state_pass, "Task": Checker.state_task, "Choice": Checker.state_choice, "Wait": Checker.state_wait,
    "Succeed": Checker.state_succeed, "Fail": Checker.state_fail, "Parallel": Checker.state_parallel,
    "Map": Checker.state_map}


def _is_terminal(state: State) -> bool:
    """Succeed, Fail, End: true, or a state too broken to say (its own diagnostic says why)."""
    return state.type in ("Succeed", "Fail") or state.end or state.type not in f.STATE_TYPES


def _transitions(state: State) -> list[tuple[str, str, str]]:
    """(target, where, field) for every transition a state declares: Next, Choices[i].Next, Default, Catch[i].Next.
    `where` locates the object holding the field: a location is written out only for a target that is missing."""
    if isinstance(state, ChoiceState):
        found = [(rule.next, rule.location, "Next") for rule in state.choices if rule.next is not None]
        if state.default is not None:
            found.append((state.default, state.location, "Default"))
        return found
    found = [(state.next, state.location, "Next")] if state.next is not None and state.type in MOVES_ON else []
    return found + [(catcher.next, catcher.location, "Next") for catcher in state.catch if catcher.next is not None]


# -- the model ---------------------------------------------------------------------------------------------
class _Common(TypedDict):
    """The fields every type of state has."""

    name: str
    type: str
    location: str
    query_language: str
    fields: Mapping[str, JSON]
    next: str | None
    end: bool
    retry: tuple[Retrier, ...]
    catch: tuple[Catcher, ...]


def _retrier(rule: Mapping[str, JSON], error_equals: tuple[str, ...]) -> Retrier:
    """A Retry rule; a field of the wrong type (reported by the checks) reads as its default."""
    attempts = _integer(rule.get("MaxAttempts"))
    return Retrier(error_equals=error_equals,
                   interval_seconds=_number(rule.get("IntervalSeconds")) or 1,
                   max_attempts=3 if attempts is None else attempts,
                   backoff_rate=_number(rule.get("BackoffRate")) or 2.0,
                   max_delay_seconds=_number(rule.get("MaxDelaySeconds")),
                   jitter_strategy="FULL" if rule.get("JitterStrategy") == "FULL" else "NONE")


def _string(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _integer(value: JSON) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: JSON) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
