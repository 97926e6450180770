"""Which fields each state type accepts, in which query language, and the value checks they share.

The wording of the messages is AWS's where AWS's answer is known (recorded in the conformance corpus or
measured on AWS by others); the remaining ones follow the same families ("These fields are required",
"Field 'X' is not supported", "Expected value of type [...]") so that a reader sees one voice.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from stepline.jsonvalue import JSON

JSONPATH: Final = "JSONPath"
JSONATA: Final = "JSONata"
BOTH: Final = "both"

STATE_TYPES: Final = ("Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map")

# The fields each state type accepts, and the query language each belongs to. Order matters: it is the
# order in which fields of the wrong language are reported.
_COMMON = {"Type": BOTH, "Comment": BOTH, "QueryLanguage": BOTH}
_IO = {"InputPath": JSONPATH, "OutputPath": JSONPATH, "Output": JSONATA}
_TRANSITION = {"Next": BOTH, "End": BOTH}
_RESULT = {"ResultPath": JSONPATH, "ResultSelector": JSONPATH}
_ERRORS = {"Retry": BOTH, "Catch": BOTH}

STATE_FIELDS: Final[dict[str, dict[str, str]]] = {
    "Pass": {**_COMMON, **_IO, **_TRANSITION, "ResultPath": JSONPATH, "Parameters": JSONPATH,
             "Result": JSONPATH, "Assign": BOTH},
    "Task": {**_COMMON, **_IO, **_TRANSITION, **_RESULT, **_ERRORS, "Parameters": JSONPATH,
             "Arguments": JSONATA, "Resource": BOTH, "TimeoutSeconds": BOTH, "TimeoutSecondsPath": JSONPATH,
             "HeartbeatSeconds": BOTH, "HeartbeatSecondsPath": JSONPATH, "Credentials": BOTH, "Assign": BOTH},
    "Choice": {**_COMMON, **_IO, "Choices": BOTH, "Default": BOTH, "Assign": BOTH},
    "Wait": {**_COMMON, **_IO, **_TRANSITION, "Seconds": BOTH, "SecondsPath": JSONPATH, "Timestamp": BOTH,
             "TimestampPath": JSONPATH, "Assign": BOTH},
    "Succeed": {**_COMMON, **_IO},
    "Fail": {**_COMMON, "Error": BOTH, "ErrorPath": JSONPATH, "Cause": BOTH, "CausePath": JSONPATH},
    "Parallel": {**_COMMON, **_IO, **_TRANSITION, **_RESULT, **_ERRORS, "Parameters": JSONPATH,
                 "Arguments": JSONATA, "Branches": BOTH, "Assign": BOTH},
    "Map": {**_COMMON, **_IO, **_TRANSITION, **_RESULT, **_ERRORS, "ItemsPath": JSONPATH, "Items": JSONATA,
            "ItemProcessor": BOTH, "Iterator": BOTH, "ItemSelector": BOTH, "Parameters": JSONPATH,
            "ItemReader": BOTH, "ItemBatcher": BOTH, "ResultWriter": BOTH, "MaxConcurrency": BOTH,
            "MaxConcurrencyPath": JSONPATH, "ToleratedFailurePercentage": BOTH,
            "ToleratedFailurePercentagePath": JSONPATH, "ToleratedFailureCount": BOTH,
            "ToleratedFailureCountPath": JSONPATH, "Label": BOTH, "Assign": BOTH},
}

TOP_LEVEL_FIELDS: Final = ("Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage")
NESTED_FIELDS: Final = ("Comment", "StartAt", "States", "ProcessorConfig")

RETRIER_FIELDS: Final = frozenset({"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                                   "JitterStrategy", "Comment"})
CATCHER_FIELDS: Final = {"ErrorEquals": BOTH, "Next": BOTH, "ResultPath": JSONPATH, "Output": JSONATA,
                         "Assign": BOTH, "Comment": BOTH}

STRING_OPERATORS: Final = ("StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
                           "StringGreaterThanEquals", "StringMatches")
NUMERIC_OPERATORS: Final = ("NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
                            "NumericGreaterThanEquals")
TIMESTAMP_OPERATORS: Final = ("TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
                              "TimestampLessThanEquals", "TimestampGreaterThanEquals")
TYPE_TESTS: Final = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")


def _operand_types() -> dict[str, str]:
    types: dict[str, str] = {}
    for name in (*STRING_OPERATORS, *NUMERIC_OPERATORS, *TIMESTAMP_OPERATORS, "BooleanEquals"):
        types[name] = "NUMBER" if name.startswith("Numeric") else "BOOLEAN" if name == "BooleanEquals" else "STRING"
        if name != "StringMatches":
            types[name + "Path"] = "STRING"
    types.update(dict.fromkeys(TYPE_TESTS, "BOOLEAN"))
    return types


COMPARISON_OPERATORS: Final[dict[str, str]] = _operand_types()  # operator -> the JSON type of its operand
CHOICE_RULE_FIELDS: Final = frozenset({"Variable", "And", "Or", "Not", "Next", "Condition", "Assign", "Output",
                                       "Comment", *COMPARISON_OPERATORS})

# Fields a JSONata state may give as a "{% ... %}" string instead of a literal value.
JSONATA_VALUE_FIELDS: Final = frozenset({"TimeoutSeconds", "HeartbeatSeconds", "Seconds", "Timestamp", "Items",
                                         "MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount",
                                         "Arguments", "ItemSelector", "MaxItems", "MaxItemsPerBatch",
                                         "MaxInputBytesPerBatch", "BatchInput", "Output", "Condition"})


# The name AWS uses for each JSON type, by the exact Python type json.loads makes; bool first, as a bool is an int
JSON_KINDS: Final[dict[type, str]] = {bool: "BOOLEAN", int: "INTEGER", float: "NUMBER", str: "STRING", dict: "OBJECT",
                                      list: "ARRAY", type(None): "NULL"}


def kind_of(value: JSON) -> str:
    """The name AWS uses for a JSON value's type: STRING, INTEGER, NUMBER, BOOLEAN, OBJECT, ARRAY or NULL."""
    return JSON_KINDS.get(type(value)) or next(
        (name for base, name in JSON_KINDS.items() if isinstance(value, base)), "NULL")  # a subclass: an OrderedDict


def is_jsonata(value: JSON) -> bool:
    """A JSONata template string: "{% expression %}"."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


# RFC 3339 profile of ISO 8601 that ASL requires: uppercase T, and Z or a numeric offset.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))\Z"
)


def is_timestamp(text: str) -> bool:
    """True when text is an RFC 3339 timestamp as ASL requires ("2016-03-14T01:59:00Z")."""
    match = _TIMESTAMP.match(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if match.group(9) is not None and (int(match.group(9)) > 23 or int(match.group(10)) > 59):
        return False
    return True


# Map Label: at most 40 characters, none of these (Developer Guide, "Map state Label").
LABEL_MAX_LENGTH: Final = 40
_LABEL_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def label_problem(label: str) -> str | None:
    if not label:
        return "Label cannot be empty"
    if len(label) > LABEL_MAX_LENGTH:
        return f"Label cannot exceed {LABEL_MAX_LENGTH} characters"
    if _LABEL_FORBIDDEN.search(label):
        return "Label contains invalid characters"
    return None
