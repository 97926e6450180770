"""Intrinsic functions, pseudo parameters and AWS's names, resolved as CloudFormation resolves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepline.cfn import TemplateError, read_stack

RESOURCES = {
    "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "price"}},
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}},
    "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
    "Bucket": {"Type": "AWS::S3::Bucket"},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r"}},
}


def resolve(value: object, tmp_path: Path, **parameters: object) -> object:
    """The value as a Pass state's Result after the template is read."""
    template = {"Parameters": parameters, "Conditions": {"Yes": {"Fn::Equals": ["a", "a"]}},
                "Mappings": {"M": {"k": {"v": ["x", "y"]}}},
                "Resources": {**RESOURCES, "SM": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/r",
                    "Definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": value},
                                                                    "End": True}}}}}}}
    (tmp_path / "stack").mkdir(exist_ok=True)
    path = tmp_path / "stack" / "template.json"
    path.write_text(json.dumps(template))
    stack = read_stack(path, region="eu-west-1", account="111122223333")
    return json.loads(stack.state_machines[0].definition)["States"]["P"]["Result"].get("v", "<no value>")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param({"Ref": "AWS::Region"}, "eu-west-1", id="region"),
    pytest.param({"Ref": "AWS::Partition"}, "aws", id="partition"),
    pytest.param({"Ref": "AWS::URLSuffix"}, "amazonaws.com", id="url-suffix"),
    pytest.param({"Ref": "AWS::NoValue"}, "<no value>", id="no-value"),
    pytest.param({"Fn::Sub": "${AWS::AccountId}/${AWS::StackName}"}, "111122223333/stack", id="sub-pseudo"),
    pytest.param({"Fn::Sub": ["${A}-${!B}", {"A": {"Ref": "Fn"}}]}, "price-${B}", id="sub-variables-literal"),
    pytest.param({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:aws:lambda:eu-west-1:111122223333:function:price",
                 id="function-arn"),
    pytest.param({"Ref": "Queue"}, "https://sqs.eu-west-1.amazonaws.com/111122223333/jobs", id="queue-url"),
    pytest.param({"Fn::GetAtt": "Queue.Arn"}, "arn:aws:sqs:eu-west-1:111122223333:jobs", id="queue-arn"),
    pytest.param({"Fn::GetAtt": ["Queue", "QueueName"]}, "jobs", id="queue-name"),
    pytest.param({"Fn::GetAtt": ["Role", "Arn"]}, "arn:aws:iam::111122223333:role/r", id="role-arn"),
    pytest.param({"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}, "a-eu-west-1", id="join"),
    pytest.param({"Fn::Select": ["1", {"Fn::Split": [",", "a,b,c"]}]}, "b", id="select-split"),
    pytest.param({"Fn::If": ["Yes", "y", "n"]}, "y", id="if"),
    pytest.param({"Fn::FindInMap": ["M", "k", "v"]}, ["x", "y"], id="find-in-map"),
    pytest.param({"Fn::Base64": "abc"}, "YWJj", id="base64"),
    pytest.param({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"], id="get-azs"),
    pytest.param({"Ref": "Bucket"}, "stack-bucket-", id="bucket-lower-case"),
])
def test_intrinsics(tmp_path: Path, value: object, expected: object) -> None:
    resolved = resolve(value, tmp_path)
    if isinstance(expected, str) and expected.endswith("-"):
        assert isinstance(resolved, str) and resolved.startswith(expected) and resolved == resolved.lower()
    else:
        assert resolved == expected


def test_generated_names_are_the_same_at_every_read(tmp_path: Path) -> None:
    first, second = (resolve({"Fn::GetAtt": ["Fifo", "QueueName"]}, tmp_path) for _ in range(2))
    assert first == second and isinstance(first, str)
    assert first.startswith("stack-Fifo-") and first.endswith(".fifo") and len(first) == len("stack-Fifo-") + 12 + 5


@pytest.mark.parametrize(("parameters", "value", "expected"), [
    pytest.param({"N": {"Type": "Number", "Default": 5}}, {"Ref": "N"}, "5", id="number-is-text"),
    pytest.param({"L": {"Type": "CommaDelimitedList", "Default": "a,b"}}, {"Ref": "L"}, ["a", "b"], id="list"),
    pytest.param({"L": {"Type": "List<Number>", "Default": "1, 2"}}, {"Ref": "L"}, ["1", "2"], id="number-list"),
])
def test_parameters(tmp_path: Path, parameters: dict, value: object, expected: object) -> None:
    assert resolve(value, tmp_path, **parameters) == expected


@pytest.mark.parametrize(("parameters", "message"), [
    pytest.param({"N": {"Type": "Number", "Default": "x"}}, "N must be a number", id="not-a-number"),
    pytest.param({"N": {"Type": "Number", "Default": 1, "MaxValue": 0}}, "N must be at most 0", id="max-value"),
    pytest.param({"S": {"Type": "String", "Default": "ab", "MinLength": 3}}, "at least 3 characters", id="min-length"),
    pytest.param({"S": {"Type": "String", "Default": "A", "AllowedPattern": "[a-z]+"}}, "must match pattern",
                 id="pattern"),
    pytest.param({"S": {"Type": "Strnig"}}, "Type Strnig is not a parameter type", id="bad-type"),
])
def test_parameters_refused(tmp_path: Path, parameters: dict, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        resolve("x", tmp_path, **parameters)
