"""EventBridge connections, as the HTTP Task reads them: the authorization and the extra request parameters of a
connection ARN, in the shape of EventBridge's CreateConnection request:

    {"AuthorizationType": "API_KEY" | "BASIC" | "OAUTH_CLIENT_CREDENTIALS",
     "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": ..., "ApiKeyValue": ...}
                        | "BasicAuthParameters": {"Username": ..., "Password": ...}
                        | "OAuthParameters": {"ClientParameters": {"ClientID": ..., "ClientSecret": ...},
                                              "AuthorizationEndpoint": ..., "HttpMethod": "GET" | "POST" | "PUT",
                                              "OAuthHttpParameters": <parameters>},
                        "InvocationHttpParameters": <parameters>}}
    <parameters>: {"HeaderParameters" | "QueryStringParameters" | "BodyParameters": [{"Key", "Value", "IsValueSecret"}]}

Two sources, one shape:
- `ConnectionsFile`: a JSON object mapping connection ARNs to that shape (`stepline serve --connections FILE`,
  STEPLINE_CONNECTIONS), for offline use; a malformed file is a ConnectionsError when it is loaded.
- `EventBridgeConnections`: as AWS does, DescribeConnection at EventBridge and the connection's secret
  (`SecretArn`) from Secrets Manager, through the integrations' AWS clients (aws/clients.py: the endpoints and
  credentials botocore's configuration names, or the Task's role) in the connection's region. EventBridge
  stores the secret's fields in snake case ({"api_key_name", "api_key_value", "invocation_http_parameters"...});
  they are renamed to the request's shape.

A connection that cannot be read fails the task with the error names of the Developer Guide's "Connection
errors" (`Events.ConnectionResource.ResourceNotFound`, `...InvalidConnectionState`, `...AccessDenied`,
`...InternalError`). Private APIs (a connection's InvocationConnectivityParameters, an authorization endpoint's
ConnectivityParameters) are not reachable from stepline and are refused with a clear message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stepline.asl.http_task import CONNECTION_ARN
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, loads
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.registry import TaskCall

AUTHORIZATION_TYPES = {"API_KEY": "ApiKeyAuthParameters", "BASIC": "BasicAuthParameters",
                       "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters"}
_AUTH_FIELDS = {"ApiKeyAuthParameters": ("ApiKeyName", "ApiKeyValue"), "BasicAuthParameters": ("Username", "Password")}
_PARAMETER_LISTS = ("HeaderParameters", "QueryStringParameters", "BodyParameters")
_OAUTH_METHODS = ("GET", "POST", "PUT")
_PRIVATE = "stepline cannot reach private APIs: the connection's {} is not supported"

Pairs = tuple[tuple[str, str], ...]


class ConnectionsError(ValueError):
    """A connections file or connection that is not in CreateConnection's shape (the message says where)."""


@dataclass(frozen=True, slots=True)
class OAuth:
    client_id: str
    client_secret: str
    endpoint: str
    method: str
    headers: Pairs = ()
    query: Pairs = ()
    body: Pairs = ()


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection's authorization and the parameters it adds to every request (InvocationHttpParameters)."""

    arn: str
    authorization_type: str
    api_key: tuple[str, str] | None = None  # (header name, value)
    basic: tuple[str, str] | None = None  # (username, password)
    oauth: OAuth | None = None
    headers: Pairs = ()
    query: Pairs = ()
    body: Pairs = ()


def parse_connection(arn: str, document: JSON) -> Connection:
    """A connection from CreateConnection's {AuthorizationType, AuthParameters}; ConnectionsError if malformed."""
    where = f"connection {arn}"
    if not isinstance(document, dict):
        raise ConnectionsError(f"{where}: expected an object with AuthorizationType and AuthParameters")
    if "InvocationConnectivityParameters" in document:
        raise ConnectionsError(f"{where}: {_PRIVATE.format('InvocationConnectivityParameters')}")
    _only(document, ("AuthorizationType", "AuthParameters"), where)
    kind = document.get("AuthorizationType")
    if kind not in AUTHORIZATION_TYPES:
        raise ConnectionsError(f"{where}: AuthorizationType must be one of {', '.join(AUTHORIZATION_TYPES)}")
    auth = document.get("AuthParameters")
    key = AUTHORIZATION_TYPES[kind]
    if not isinstance(auth, dict) or not isinstance(auth.get(key), dict):
        raise ConnectionsError(f"{where}: AuthParameters must hold {key} for AuthorizationType {kind}")
    _only(auth, (key, "InvocationHttpParameters"), f"{where}: AuthParameters")
    headers, query, body = _parameters(auth.get("InvocationHttpParameters"), f"{where}: InvocationHttpParameters")
    values: dict[str, Any] = {}
    if key in _AUTH_FIELDS:
        values["api_key" if kind == "API_KEY" else "basic"] = _strings(auth[key], _AUTH_FIELDS[key], f"{where}: {key}")
    else:
        values["oauth"] = _oauth(auth[key], f"{where}: OAuthParameters")
    return Connection(arn=arn, authorization_type=kind, headers=headers, query=query, body=body, **values)


def _oauth(value: dict, where: str) -> OAuth:
    if "ConnectivityParameters" in value:
        raise ConnectionsError(f"{where}: {_PRIVATE.format('ConnectivityParameters')}")
    _only(value, ("ClientParameters", "AuthorizationEndpoint", "HttpMethod", "OAuthHttpParameters"), where)
    client = value.get("ClientParameters")
    if not isinstance(client, dict):
        raise ConnectionsError(f"{where}: ClientParameters must be an object with ClientID and ClientSecret")
    client_id, client_secret = _strings(client, ("ClientID", "ClientSecret"), f"{where}: ClientParameters")
    endpoint, method = _strings(value, ("AuthorizationEndpoint", "HttpMethod"), where)
    if method not in _OAUTH_METHODS:
        raise ConnectionsError(f"{where}: HttpMethod must be one of {', '.join(_OAUTH_METHODS)}")
    headers, query, body = _parameters(value.get("OAuthHttpParameters"), f"{where}: OAuthHttpParameters")
    return OAuth(client_id, client_secret, endpoint, method, headers, query, body)


def _parameters(value: JSON, where: str) -> tuple[Pairs, Pairs, Pairs]:
    if value is None:
        return (), (), ()
    if not isinstance(value, dict):
        raise ConnectionsError(f"{where}: expected an object")
    _only(value, _PARAMETER_LISTS, where)
    lists = []
    for name in _PARAMETER_LISTS:
        items = value.get(name, [])
        if not isinstance(items, list):
            raise ConnectionsError(f"{where}: {name} must be an array of {{Key, Value}}")
        pairs = []
        for item in items:
            if not isinstance(item, dict):
                raise ConnectionsError(f"{where}: {name} must be an array of {{Key, Value}}")
            _only(item, ("Key", "Value", "IsValueSecret"), f"{where}: {name}")
            pairs.append(_strings(item, ("Key", "Value"), f"{where}: {name}"))
        lists.append(tuple(pairs))
    return lists[0], lists[1], lists[2]


def _strings(value: dict, names: tuple[str, str], where: str) -> tuple[str, str]:
    found = [value.get(name) for name in names]
    if not all(isinstance(item, str) for item in found):
        raise ConnectionsError(f"{where}: {' and '.join(names)} must be strings")
    return found[0], found[1]  # type: ignore[return-value]


def _only(value: dict, names: tuple[str, ...], where: str) -> None:
    unknown = [key for key in value if key not in names]
    if unknown:
        raise ConnectionsError(f"{where}: unknown field {unknown[0]!r} (expected {', '.join(names)})")


def not_found(arn: str) -> StatesError:
    return StatesError("Events.ConnectionResource.ResourceNotFound", f"Connection '{arn}' does not exist.")


class ConnectionsFile:
    """Connections from a JSON file: {connection ARN: {"AuthorizationType": ..., "AuthParameters": ...}}."""

    def __init__(self, connections: dict[str, Connection]) -> None:
        self.connections = connections

    @classmethod
    def load(cls, path: str) -> ConnectionsFile:
        try:
            document = loads(Path(path).read_bytes())
        except OSError as error:
            raise ConnectionsError(f"cannot read the connections file {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise ConnectionsError(f"the connections file {path} is not JSON: {error}") from None
        if not isinstance(document, dict):
            raise ConnectionsError(f"the connections file {path} must be a JSON object of connection ARNs")
        connections = {}
        for arn, value in document.items():
            if not CONNECTION_ARN.match(arn):
                raise ConnectionsError(f"the connections file {path}: {arn!r} is not an EventBridge connection ARN")
            try:
                connections[arn] = parse_connection(arn, value)
            except ConnectionsError as error:
                raise ConnectionsError(f"the connections file {path}: {error}") from None
        return cls(connections)

    async def get(self, arn: str, call: TaskCall) -> Connection:
        connection = self.connections.get(arn)
        if connection is None:
            raise not_found(arn)
        return connection


# The secret EventBridge keeps for a connection, in snake case, renamed to CreateConnection's fields
# (moto writes OAuthHttpParameters as o_auth_http_parameters).
_SECRET_FIELDS = {
    "api_key_name": "ApiKeyName", "api_key_value": "ApiKeyValue", "username": "Username", "password": "Password",
    "client_parameters": "ClientParameters", "client_id": "ClientID", "client_secret": "ClientSecret",
    "authorization_endpoint": "AuthorizationEndpoint", "http_method": "HttpMethod",
    "oauth_http_parameters": "OAuthHttpParameters", "o_auth_http_parameters": "OAuthHttpParameters",
    "invocation_http_parameters": "InvocationHttpParameters", "header_parameters": "HeaderParameters",
    "query_string_parameters": "QueryStringParameters", "body_parameters": "BodyParameters", "key": "Key",
    "value": "Value", "is_value_secret": "IsValueSecret",
}


def _renamed(value: JSON) -> JSON:
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    if isinstance(value, dict):  # fields EventBridge keeps for itself (tokens, ...) are not the connection's
        return {_SECRET_FIELDS[key]: _renamed(item) for key, item in value.items() if key in _SECRET_FIELDS}
    return value


def from_secret(arn: str, authorization_type: str, secret: JSON) -> Connection:
    """A connection from the secret EventBridge stored for it."""
    fields = _renamed(secret)
    if not isinstance(fields, dict):
        raise ConnectionsError(f"connection {arn}: its secret is not a JSON object")
    invocation = fields.pop("InvocationHttpParameters", None)
    auth: dict[str, JSON] = {AUTHORIZATION_TYPES.get(authorization_type, "?"): fields}
    if invocation is not None:
        auth["InvocationHttpParameters"] = invocation
    return parse_connection(arn, {"AuthorizationType": authorization_type, "AuthParameters": auth})


class EventBridgeConnections:
    """Connections read from EventBridge (DescribeConnection) and Secrets Manager (GetSecretValue) for each call, as
    AWS reads them, with the task's credentials."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    async def get(self, arn: str, call: TaskCall) -> Connection:
        parts = arn.split(":")
        task = dataclasses.replace(call, resource=dataclasses.replace(call.resource, region=parts[3]))
        try:
            described = await self.clients.call(task, "events", "DescribeConnection",
                                                {"Name": parts[5].split("/")[1]})
            if described.get("ConnectionArn") != arn:  # deleted and made again under the same name
                raise not_found(arn)
            if described.get("InvocationConnectivityParameters"):
                raise StatesError("States.Runtime", _PRIVATE.format("InvocationConnectivityParameters"))
            if described.get("ConnectionState") != "AUTHORIZED":
                raise StatesError("Events.ConnectionResource.InvalidConnectionState",
                                  f"Connection '{arn}' is in state {described.get('ConnectionState')}, not AUTHORIZED.")
            secret = await self.clients.call(task, "secretsmanager", "GetSecretValue",
                                             {"SecretId": described["SecretArn"]})
            return from_secret(arn, described.get("AuthorizationType", ""), loads(secret["SecretString"]))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message") or code
            if code == "ResourceNotFoundException":
                raise not_found(arn) from None
            if code in ("AccessDeniedException", "AccessDenied"):
                raise StatesError("Events.ConnectionResource.AccessDenied", message) from None
            raise StatesError("Events.ConnectionResource.InternalError", f"{code}: {message}") from None
        except RoleError as error:
            raise StatesError("Events.ConnectionResource.AccessDenied",
                              f"Cannot read the connection {arn} as the role {error}") from None
        except (BotoCoreError, KeyError, ValueError, ConnectionsError) as error:
            raise StatesError("Events.ConnectionResource.InternalError",
                              f"Cannot read the connection {arn}: {error}") from None


Connections = ConnectionsFile | EventBridgeConnections
