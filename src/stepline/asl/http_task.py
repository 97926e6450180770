"""The HTTP Task (`arn:aws:states:::http:invoke`): its fields and the checks AWS makes on their values. Pure.

The same checks run twice: on a definition (the values written as constants: SCHEMA_VALIDATION_FAILED
diagnostics at the state's Parameters or Arguments) and on each call (the values after evaluation, in
runtime/integrations/http.py: States.Runtime). Developer Guide, "Call HTTPS APIs in Step Functions".
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from stepline.asl import fields as f
from stepline.jsonvalue import JSON

RESOURCE: Final = "http:invoke"
FIELDS: Final = ("ApiEndpoint", "Method", "Authentication", "InvocationConfig", "Headers", "QueryParameters",
                 "RequestBody", "Transform")
REQUIRED: Final = ("ApiEndpoint", "Method")
CONNECTION_FIELDS: Final = ("Authentication", "InvocationConfig")  # one of them names the EventBridge connection
METHODS: Final = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
BODY_ENCODINGS: Final = ("NONE", "URL_ENCODED")
ARRAY_FORMATS: Final = ("INDICES", "REPEAT", "COMMAS", "BRACKETS")
# EventBridge's ConnectionArn pattern (API reference, DescribeConnection)
CONNECTION_ARN: Final = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]*:(\d{12})?:connection/[.\-_A-Za-z0-9]+/[-A-Za-z0-9]+\Z")
LOOPBACK_NAMES: Final = frozenset({"localhost"})


def field_name(key: str) -> str:
    """A payload template's key without its ".$" (the field it sets)."""
    return key[:-2] if key.endswith(".$") else key


def is_http_task(resource: JSON) -> bool:
    return isinstance(resource, str) and resource.split(":::", 1)[-1] == RESOURCE and resource.startswith("arn:")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: where stepline also calls plain http:// (local servers in tests)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: str) -> str | None:
    """Why ApiEndpoint cannot be called: AWS calls HTTPS endpoints only; stepline also plain HTTP on loopback."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return f"The API endpoint '{url}' is not a valid URL"
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname or not port_ok:
        return f"The API endpoint '{url}' is not a valid HTTPS URL"
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        return (f"The API endpoint '{url}' uses http: Step Functions calls HTTPS endpoints only (stepline also "
                "calls http:// on loopback addresses: 127.0.0.0/8, ::1, localhost)")
    return None


def value_problem(name: str, value: JSON) -> str | None:
    """Why the value of a top-level field cannot be used, or None."""
    if name == "ApiEndpoint":
        return "must be a string" if not isinstance(value, str) else endpoint_problem(value)
    if name == "Method":
        if value not in METHODS:
            return f"must be one of {', '.join(METHODS)}"
    elif name in CONNECTION_FIELDS:
        if not isinstance(value, dict):
            return "must be an object with a ConnectionArn"
        extra = [key for key in value if field_name(key) != "ConnectionArn"]
        if extra:
            return f"has fields Step Functions does not support: {', '.join(extra)}"
        arn = value.get("ConnectionArn")
        if "ConnectionArn" in value and not f.is_jsonata(arn) and not _connection_arn(arn):
            return f"has a ConnectionArn that is not an EventBridge connection ARN: {value['ConnectionArn']!r}"
        if not any(field_name(key) == "ConnectionArn" for key in value):
            return "must have a ConnectionArn"
    elif name == "Headers":
        if not isinstance(value, dict):
            return "must be an object of header names and values"
    elif name == "Transform":
        return _transform_problem(value)
    return None


def _connection_arn(value: JSON) -> bool:
    return isinstance(value, str) and CONNECTION_ARN.match(value) is not None


def _transform_problem(value: JSON) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    extra = [key for key in value if key not in ("RequestBodyEncoding", "RequestEncodingOptions")]
    if extra:
        return f"has fields Step Functions does not support: {', '.join(extra)}"
    if "RequestBodyEncoding" in value and value["RequestBodyEncoding"] not in BODY_ENCODINGS:
        return f"has a RequestBodyEncoding that is not one of {', '.join(BODY_ENCODINGS)}"
    options = value.get("RequestEncodingOptions")
    if options is not None:
        if not isinstance(options, dict) or [key for key in options if key != "ArrayFormat"]:
            return "has RequestEncodingOptions other than {\"ArrayFormat\": ...}"
        if options.get("ArrayFormat") not in ARRAY_FORMATS:
            return f"has an ArrayFormat that is not one of {', '.join(ARRAY_FORMATS)}"
    return None


def definition_problems(payload: JSON, language: str) -> list[str]:
    """What AWS reports on an HTTP Task's Parameters (JSONPath) or Arguments (JSONata) as written: the fields it
    requires, the fields it does not know, and the values written as constants that it cannot use."""
    if not isinstance(payload, dict):
        return []  # a JSONata expression: only its value can be checked, on each call
    names = {field_name(key) if language == f.JSONPATH else key: key for key in payload}
    problems = [f"The field \"{name}\" is not supported by Step Functions" for name in names if name not in FIELDS]
    problems += [f"The field '{name}' is required but was missing" for name in REQUIRED if name not in names]
    present = [name for name in CONNECTION_FIELDS if name in names]
    if not present:
        problems.append(f"One of these fields is required: [{', '.join(CONNECTION_FIELDS)}]")
    elif len(present) > 1:
        problems.append(f"Only one of these fields may be provided: [{', '.join(present)}]")
    for name, key in names.items():
        value = payload[key]
        if name not in FIELDS or key != name or _dynamic(value, language):
            continue
        problem = value_problem(name, value if name in CONNECTION_FIELDS else _constants(value, language))
        if problem is not None:
            problems.append(f"The value for the '{name}' field is not valid: it {problem}")
    return problems


def _dynamic(value: JSON, language: str) -> bool:
    return language == f.JSONATA and f.is_jsonata(value)


def _constants(value: JSON, language: str) -> JSON:
    """An object's fields whose values are written as constants (a ".$" or "{% %}" field is known on each call)."""
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if not key.endswith(".$") and not _dynamic(item, language)}
