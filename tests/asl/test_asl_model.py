"""The model the validating walk builds: what the compiler, the graph layout and the variable references read."""

from __future__ import annotations

from typing import Any

from stepline.asl import parse_definition
from stepline.asl.model import ChoiceState, MapState, ParallelState, StateMachine, TaskState


def model(definition: dict[str, Any]) -> StateMachine:
    parsed, _ = parse_definition(definition)
    assert parsed is not None
    return parsed


def test_rules_keep_their_location_and_targets() -> None:
    machine = model({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "C",
              "Retry": [{"ErrorEquals": ["A"], "MaxAttempts": 0, "JitterStrategy": "FULL"}],
              "Catch": ["not a catcher", {"ErrorEquals": ["States.ALL"], "Next": "E"}]},
        "C": {"Type": "Choice", "Default": "E", "Choices": [{"Variable": "$.a", "IsNull": True, "Next": "E"}]},
        "E": {"Type": "Succeed"}}})
    task, choice = machine.states["T"], machine.states["C"]
    assert isinstance(task, TaskState) and task.resource == "arn:aws:states:::lambda:invoke" and task.next == "C"
    assert [(r.error_equals, r.max_attempts, r.jitter_strategy) for r in task.retry] == [(("A",), 0, "FULL")]
    assert [(c.error_equals, c.next, c.location) for c in task.catch] == [(("States.ALL",), "E", "/States/T/Catch[1]")]
    assert isinstance(choice, ChoiceState) and choice.default == "E"
    assert [(rule.next, rule.location) for rule in choice.choices] == [("E", "/States/C/Choices[0]")]


def test_nested_machines_inherit_their_state_query_language() -> None:
    processor = {"StartAt": "P", "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                 "States": {"P": {"Type": "Pass", "End": True}}}
    machine = model({"StartAt": "Fan", "States": {
        "Fan": {"Type": "Parallel", "QueryLanguage": "JSONata", "Next": "M",
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]},
        "M": {"Type": "Map", "Iterator": processor, "MaxConcurrency": 3, "ToleratedFailurePercentage": 5,
              "End": True}}})
    fan, fan_out = machine.states["Fan"], machine.states["M"]
    assert isinstance(fan, ParallelState) and isinstance(fan_out, MapState)
    branch = fan.branches[0]
    assert (branch.location, branch.query_language) == ("/States/Fan/Branches[0]", "JSONata")
    assert branch.states["B"].location == "/States/Fan/Branches[0]/States/B"
    assert fan_out.processor is not None and fan_out.processor_field == "Iterator" and fan_out.distributed
    assert (fan_out.max_concurrency, fan_out.tolerated_failure_percentage) == (3, 5.0)


def test_a_broken_state_reads_as_far_as_it_goes() -> None:
    machine = model({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}]},
        "B": {"Type": "Nope", "End": True}, "C": [], "D": {"Next": "A"}}})
    a, b, c, d = (machine.states[name] for name in "ABCD")
    assert (a.type, a.next, a.catch) == ("Pass", "B", ())  # a Pass takes no Catch
    assert (b.type, b.end) == ("Nope", True)
    assert (c.type, c.fields) == ("", {})
    assert (d.type, d.next) == ("", "A")
