"""AWS's quotas: the history's 25,000 events, and the size of assigned variables."""

from __future__ import annotations

from stepline import Workflow

LOOP = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 1_000_000, "Next": "Step"}],
              "Default": "Done"},
    "Step": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
    "Done": {"Type": "Succeed"}}}


def test_an_execution_ends_when_its_history_is_full() -> None:
    result = Workflow(LOOP).run({"i": 0}, time_scale=0)
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "maximum number of events" in result.cause
    assert len(result.history) <= 25_000
    assert result.history[-1]["type"] == "ExecutionFailed"
    assert [e["id"] for e in result.history] == list(range(1, len(result.history) + 1))


def _assigning(copies: int, count: int) -> dict:
    """An Assign of `count` variables, each `copies` times the input's text."""
    pattern = "{}" * copies
    arguments = ", ".join(["$.text"] * copies)
    assign = {f"v{i}.$": f"States.Format('{pattern}', {arguments})" for i in range(count)}
    return {"StartAt": "Assign", "States": {"Assign": {"Type": "Pass", "Assign": assign, "End": True}}}


def test_one_assign_field_is_limited_to_256_kib() -> None:
    text = "x" * 100_000
    assert Workflow(_assigning(1, 2)).run({"text": text}, time_scale=0).status == "SUCCEEDED"
    result = Workflow(_assigning(1, 3)).run({"text": text}, time_scale=0)  # 300 KB in one Assign
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "Assign" in result.cause


def test_a_single_variable_over_256_kib_is_named() -> None:
    result = Workflow(_assigning(3, 1)).run({"text": "x" * 100_000}, time_scale=0)  # one 300 KB variable
    assert result.error == "States.DataLimitExceeded"
    assert "'v0'" in result.cause
