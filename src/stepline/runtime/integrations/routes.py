"""Routes: where a given Task goes, chosen per state machine, state or resource (`stepline serve --routes FILE`),
so that one workflow can mix a mock, a local function, a local emulator and real AWS.

    {"Routes": [
      {"StateMachine": "checkout", "State": "Charge", "Mock": {"Return": {"Paid": true}}},
      {"StateMachine": "checkout", "State": "Price", "Function": "price"},
      {"Resource": "arn:aws:states:::sqs:*", "Endpoint": "http://127.0.0.1:9324"},
      {"Resource": "arn:aws:states:::aws-sdk:s3:*", "Endpoint": "aws"}
    ]}

A route matches on any of `StateMachine` (the machine's name), `State` (the state's name) and `Resource` (the
Task's resource ARN), each a name or a glob pattern (`*`, `?`, `[...]`); the first route that matches a Task
decides it. It sends the Task to one target:
- `Mock`: a mocked answer, as a MockConfigFile gives one: {"Return": value} or {"Throw": {"Error", "Cause"}};
- `Function`: a local function (--functions): a Lambda resource keeps its result shape (the payload, or Invoke's
  response for lambda:invoke); any other resource's result is what the function returns for the parameters;
- `Endpoint`: the AWS integrations, calling this endpoint URL for the Task's service, or real AWS ("aws"),
  whatever endpoints the environment configures.
A MockConfigFile's test case still wins over routes; Tasks no route matches go to the other integrations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from stepline.engine.resources import describe_resource
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.lambda_local import LocalFunctions
from stepline.runtime.integrations.mock_config import MockConfigError, checked_answer, mocked_answer
from stepline.runtime.integrations.registry import AWS, Ended, Integration, Integrations, Outcome, Succeeded, TaskCall

MATCHES = ("StateMachine", "State", "Resource")
TARGETS = ("Mock", "Function", "Endpoint")


class RoutesError(ValueError):
    """The routes file is not usable (a one-line start-up error)."""


@dataclass(frozen=True, slots=True)
class Route:
    matches: dict[str, str]  # StateMachine/State/Resource -> a name or glob pattern
    target: str  # Mock, Function or Endpoint
    value: JSON

    def matches_call(self, call: TaskCall) -> bool:
        subject = {"StateMachine": call.execution_arn.split(":")[6], "State": call.state_name,
                   "Resource": call.resource.arn}
        return all(fnmatchcase(subject[key], pattern) for key, pattern in self.matches.items())


def load_routes(path: str | Path) -> list[Route]:
    try:
        document = loads(Path(path).read_bytes())
    except OSError as error:
        raise RoutesError(f"Cannot read the routes file {path}: {error.strerror}") from None
    except ValueError as error:
        raise RoutesError(f"The routes file {path} is not valid JSON: {error}") from None
    return parse_routes(document, str(path))


def parse_routes(document: JSON, where: str = "routes") -> list[Route]:
    if not isinstance(document, dict) or set(document) != {"Routes"} or not isinstance(document["Routes"], list):
        raise RoutesError(f"{where}: a routes file is a JSON object with one field, Routes, a list of routes")
    routes = []
    for number, spec in enumerate(document["Routes"]):
        at = f"{where}: Routes[{number}]"
        if not isinstance(spec, dict):
            raise RoutesError(f"{at} must be an object")
        unknown = sorted(set(spec) - set(MATCHES) - set(TARGETS))
        if unknown:
            raise RoutesError(f"{at} has unknown fields {', '.join(unknown)} (a route has {', '.join(MATCHES)} "
                              f"to match and one of {', '.join(TARGETS)})")
        matches = {key: spec[key] for key in MATCHES if key in spec}
        if not matches or not all(isinstance(value, str) and value for value in matches.values()):
            raise RoutesError(f"{at} must match on at least one of {', '.join(MATCHES)}, each a non-empty string")
        targets = [key for key in TARGETS if key in spec]
        if len(targets) != 1:
            raise RoutesError(f"{at} must have exactly one of {', '.join(TARGETS)}")
        target, value = targets[0], spec[targets[0]]
        if target == "Mock":
            try:
                checked_answer(value, f"{at}.Mock")
            except MockConfigError as error:
                raise RoutesError(str(error)) from None
        elif target == "Endpoint" and not (value == AWS or isinstance(value, str)
                                           and value.startswith(("http://", "https://"))):
            raise RoutesError(f"{at}.Endpoint must be an http(s) URL or \"{AWS}\", not {dumps(value)}")
        elif target == "Function" and not (isinstance(value, str) and value):
            raise RoutesError(f"{at}.Function must be the name of a local function, not {dumps(value)}")
        routes.append(Route(matches, target, value))
    return routes


class Routes(Integration):
    """Answers the Tasks a route matches, sending each to its route's target; `rest` are the integrations the
    Endpoint routes call through."""

    name = "routes"

    def __init__(self, routes: list[Route], functions: LocalFunctions, rest: Integrations) -> None:
        self._routes = routes
        self._functions = functions
        self._rest = rest

    def handles(self, call: TaskCall) -> bool:
        return self._route(call) is not None

    async def invoke(self, call: TaskCall) -> Outcome:
        route = self._route(call)
        assert route is not None
        if route.target == "Mock":
            return mocked_answer(call, route.value)
        if route.target == "Function":
            return await self._function(call, str(route.value))
        return await self._rest.invoke(dataclasses.replace(call, endpoint=str(route.value)))

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        return await self._rest.wait(self._routed(call), handle)

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        await self._rest.cancel(self._routed(call), handle)

    def _route(self, call: TaskCall) -> Route | None:
        return next((route for route in self._routes if route.matches_call(call)), None)

    def _routed(self, call: TaskCall) -> TaskCall:
        route = self._route(call)
        return dataclasses.replace(call, endpoint=str(route.value)) if route and route.target == "Endpoint" else call

    async def _function(self, call: TaskCall, function: str) -> Outcome:
        resource = call.resource
        if resource.kind == "lambda":
            arn = f"arn:aws:lambda:{resource.region}:{self._functions.account}:function:{function}"
            return await self._functions.invoke(dataclasses.replace(call, resource=describe_resource(arn)))
        if self._functions.handles(call):  # lambda:invoke: the Invoke response of the function
            parameters = call.parameters if isinstance(call.parameters, dict) else {}
            return await self._functions.invoke(dataclasses.replace(call, parameters={**parameters,
                                                                                      "FunctionName": function}))
        return Succeeded(await self._functions.run(function, call.parameters, call))
