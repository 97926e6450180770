"""Property: whatever body and target arrive, the answer is AWS-shaped JSON and never a 500."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepline.api.actions import ACTIONS
from stepline.api.validation import SERVICE_MODEL

SHAPES = SERVICE_MODEL["shapes"]


class AnswersEverything:
    """A service whose every method accepts what validation lets through and answers {}."""

    metrics = None  # it keeps none: the app serves no /metrics for it

    def __getattr__(self, name: str) -> Any:
        async def method(**params: Any) -> dict[str, Any]:
            return {}
        return method


@pytest.fixture
def asgi_client(asgi):
    return asgi(AnswersEverything())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False,
                                                                                             allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _member_values(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects using the operation's own member names, so that bodies get past deserialization often."""
    shape = SHAPES[SERVICE_MODEL["operations"][operation]["input"]["shape"]]
    names = list(shape.get("members", {})) or ["x"]
    return st.dictionaries(st.sampled_from(names), json_values, max_size=len(names))


targets = st.one_of(
    st.sampled_from([f"AWSStepFunctions.{name}" for name in ACTIONS]),
    st.text(max_size=40),
    st.builds(lambda name: f"AWSStepFunctions.{name}", st.text(max_size=20)),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(targets)
    operation = target.removeprefix("AWSStepFunctions.")
    kind = draw(st.sampled_from(["members", "json", "bytes"]))
    if kind == "members" and operation in SERVICE_MODEL["operations"]:
        body = json.dumps(draw(_member_values(operation))).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    else:
        body = json.dumps(draw(json_values)).encode()     # the standard library writes integers of any size
    return target, body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests())
def test_any_request_gets_an_aws_shaped_answer(asgi_client, request: tuple[str, bytes]) -> None:
    target, body = request
    reply = asgi_client.post(body, headers={"x-amz-target": target})
    assert reply.status in (200, 400), (target, body, reply.body)
    document = orjson.loads(reply.body)
    assert isinstance(document, dict)
    if reply.status == 400:
        assert set(document) <= {"__type", "message", "Message"}
        assert document["__type"] in {"UnknownOperationException", "SerializationException",
                                      "ValidationException"}, document
