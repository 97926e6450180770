"""ARNs and names in AWS's formats, and the InvalidArn / InvalidName messages recorded from AWS."""

from __future__ import annotations

import json

import pytest

from stepline.service import arns
from stepline.service.errors import InvalidArn, InvalidName
from shared import CASES_DIR

R, A = "us-east-1", "123456789012"


@pytest.mark.parametrize(("built", "expected"), [
    pytest.param(arns.state_machine_arn(R, A, "orders"), f"arn:aws:states:{R}:{A}:stateMachine:orders", id="machine"),
    pytest.param(arns.state_machine_arn(R, A, "orders", 3), f"arn:aws:states:{R}:{A}:stateMachine:orders:3",
                 id="version"),
    pytest.param(arns.state_machine_arn(R, A, "orders", "live"), f"arn:aws:states:{R}:{A}:stateMachine:orders:live",
                 id="alias"),
    pytest.param(arns.execution_arn(R, A, "orders", "run-1"), f"arn:aws:states:{R}:{A}:execution:orders:run-1",
                 id="execution"),
    pytest.param(arns.express_execution_arn(R, A, "orders", "run-1", "u-1"),
                 f"arn:aws:states:{R}:{A}:express:orders:run-1:u-1", id="express"),
    pytest.param(arns.map_run_arn(R, A, "orders", "Items", "u-2"),
                 f"arn:aws:states:{R}:{A}:mapRun:orders/Items:u-2", id="map-run"),
    pytest.param(arns.map_run_execution_arn(f"arn:aws:states:{R}:{A}:mapRun:orders/Items:u-2", "child"),
                 f"arn:aws:states:{R}:{A}:execution:orders/Items:child", id="map-run-child"),
    pytest.param(arns.activity_arn(R, A, "approve"), f"arn:aws:states:{R}:{A}:activity:approve", id="activity"),
])
def test_building(built: str, expected: str) -> None:
    assert built == expected


def test_parsing_round_trips() -> None:
    machine = arns.parse_state_machine_arn(arns.state_machine_arn(R, A, "state.machine_1"))
    assert (machine.region, machine.account, machine.name, machine.version, machine.alias) == (
        R, A, "state.machine_1", None, None)
    assert arns.parse_state_machine_arn(arns.state_machine_arn(R, A, "m", 12)).version == 12
    alias = arns.parse_state_machine_arn(arns.state_machine_arn(R, A, "m", "live"))
    assert (alias.alias, alias.version, alias.unqualified_arn) == ("live", None, arns.state_machine_arn(R, A, "m"))
    execution = arns.parse_execution_arn(arns.execution_arn(R, A, "m", "state.machine.execution"))
    assert (execution.state_machine, execution.name, execution.express_id) == ("m", "state.machine.execution", None)
    assert execution.state_machine_arn == arns.state_machine_arn(R, A, "m")
    express = arns.parse_execution_arn(arns.express_execution_arn(R, A, "m", "e", "u"))
    assert (express.name, express.express_id) == ("e", "u")
    child = arns.parse_execution_arn(f"arn:aws:states:{R}:{A}:execution:m/Items:c")
    assert (child.state_machine, child.map_label, child.name) == ("m", "Items", "c")
    run = arns.parse_map_run_arn(arns.map_run_arn(R, A, "m", "Items", "u"))
    assert (run.state_machine, run.label, run.run_id) == ("m", "Items", "u")
    assert arns.parse_activity_arn(arns.activity_arn(R, A, "a")).name == "a"


@pytest.mark.parametrize(("parse", "text", "message"), [
    pytest.param(arns.parse_state_machine_arn, "not_a_valid_arn", "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'",
                 id="prefix-recorded"),
    pytest.param(arns.parse_execution_arn, "invalid_state_machine_arn",
                 "Invalid Arn: 'Invalid ARN prefix: invalid_state_machine_arn'", id="prefix-execution"),
    pytest.param(arns.parse_state_machine_arn, f"arn:aws:states:{R}:xxxx:execution:TestStateMachine",
                 "Invalid Arn: 'Resource type not valid in this context: execution'", id="type-before-shape"),
    pytest.param(arns.parse_execution_arn, arns.state_machine_arn(R, A, "m"),
                 "Invalid Arn: 'Resource type not valid in this context: stateMachine'", id="type-execution"),
    pytest.param(lambda text: arns.parse_execution_arn(text, express=False),
                 arns.express_execution_arn(R, A, "m", "e", "u"),
                 "Invalid Arn: 'Resource type not valid in this context: express'", id="express-not-allowed"),
    pytest.param(arns.parse_state_machine_arn, f"arn:aws:states:{R}:{A}:stateMachine",
                 f"Invalid Arn: 'Invalid ARN: arn:aws:states:{R}:{A}:stateMachine'", id="no-name"),
    pytest.param(lambda text: arns.parse_state_machine_arn(text, qualified=False),
                 arns.state_machine_arn(R, A, "m", 1), f"Invalid Arn: 'Invalid ARN: {arns.state_machine_arn(R, A, 'm', 1)}'",
                 id="qualifier-not-allowed"),
    pytest.param(arns.parse_activity_arn, f"arn:aws:lambda:{R}:{A}:activity:a",
                 f"Invalid Arn: 'Invalid ARN: arn:aws:lambda:{R}:{A}:activity:a'", id="other-service"),
])
def test_invalid_arns(parse, text: str, message: str) -> None:
    with pytest.raises(InvalidArn) as caught:
        parse(text)
    assert caught.value.message == message


@pytest.mark.parametrize("name", ["Activity1", "activity-name.1", "activity.name.v2", "ACTIVITY_NAME_ABC",
                                  "a" * 80, "état-ü", "with'quote", "paren(s)", "plus+equals=at@"])
def test_valid_names(name: str) -> None:
    assert arns.check_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 81, "a b", "tab\tname", "nb\u00a0space", "ctl\u0085", "del\x7f",
                                  *[f"activity{c}name" for c in "<>{}[]?*\"#%\\^|~`$&,;:/"]])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        arns.check_name(name)
    assert caught.value.message == f"Invalid Name: '{name}'"


def _recorded(code: str) -> list:
    params = []
    for path in sorted((CASES_DIR / "api_behaviour").glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        for index, step in enumerate(case.get("steps", [])):
            error = (step.get("expect") or {}).get("error") or {}
            if error.get("code") == code:
                params.append(pytest.param(step["call"], step["args"], error["message_contains"],
                                           id=f"{case['id']}[{index}]"))
    return params


RECORDED_NAMES = _recorded("InvalidName")
RECORDED_ARNS = [p for p in _recorded("InvalidArn")]


@pytest.mark.parametrize(("call", "args", "message"), RECORDED_NAMES)
def test_invalid_names_recorded_from_aws(call: str, args: dict, message: str) -> None:
    with pytest.raises(InvalidName) as caught:
        arns.check_name(args["name"])
    assert caught.value.message == message


_PARSERS = {"stateMachineArn": arns.parse_state_machine_arn, "executionArn": arns.parse_execution_arn,
            "activityArn": arns.parse_activity_arn}


@pytest.mark.parametrize(("call", "args", "message"), RECORDED_ARNS)
def test_invalid_arns_recorded_from_aws(call: str, args: dict, message: str) -> None:
    member, parse = next((m, p) for m, p in _PARSERS.items() if m in args)
    with pytest.raises(InvalidArn) as caught:
        parse(args[member])
    assert caught.value.message == message


def test_the_corpus_has_recorded_name_and_arn_errors() -> None:
    assert len(RECORDED_NAMES) >= 20 and len(RECORDED_ARNS) >= 5
