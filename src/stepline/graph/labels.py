"""The words drawn on a graph: a Choice rule in short, a Task's resource, and text fitted to a width.

Pure functions of the definition's JSON; the layout measures with `text_width`, and the SVG draws the same
strings, so the console and `stepline graph` show the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from stepline.jsonvalue import JSON

CHAR_WIDTH = 8.0  # average advance of the bold 13px sans-serif of state names
SMALL_CHAR_WIDTH = 6.3  # 11px labels

_OPERATORS = {
    "Equals": "==", "GreaterThan": ">", "GreaterThanEquals": ">=", "LessThan": "<", "LessThanEquals": "<=",
}
_KINDS = ("String", "Numeric", "Boolean", "Timestamp")
_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric", "IsString": "a string",
          "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


def text_width(text: str, char_width: float = CHAR_WIDTH) -> float:
    """An estimate of the drawn width of text (no font metrics in a pure layout)."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)  # CJK and emoji take about two advances
    return (len(text) + wide) * char_width


def fit(text: str, width: float, char_width: float = CHAR_WIDTH) -> str:
    """text, cut with an ellipsis so that it fits in width."""
    if text_width(text, char_width) <= width:
        return text
    keep = max(1, int(width / char_width) - 1)
    return text[:keep].rstrip() + "…"


def _value(rule: Mapping[str, JSON], key: str) -> str:
    value = rule[key]
    if key.endswith("Path"):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def choice_rule(rule: JSON) -> str:
    """A Choice rule in a few words: `$.total > 0 and $.items[0] is present`."""
    if not isinstance(rule, dict):
        return "?"
    if isinstance(rule.get("Condition"), str):  # JSONata
        condition: str = rule["Condition"].strip()
        if condition.startswith("{%") and condition.endswith("%}"):
            condition = condition[2:-2].strip()
        return condition
    for joiner in ("And", "Or"):
        if isinstance(rule.get(joiner), list):
            parts = [choice_rule(part) for part in rule[joiner]]
            return f" {joiner.lower()} ".join(f"({p})" if (" and " in p or " or " in p) else p for p in parts)
    if "Not" in rule:
        return f"not ({choice_rule(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key in rule:
        if key in _TESTS:
            negated = rule[key] is False
            return f"{variable} is {'not ' if negated else ''}{_TESTS[key]}"
        if key == "StringMatches" or key == "StringMatchesPath":
            return f"{variable} matches {_value(rule, key)}"
        for kind in _KINDS:
            if key.startswith(kind):
                operator = key[len(kind):].removesuffix("Path")
                if operator in _OPERATORS:
                    return f"{variable} {_OPERATORS[operator]} {_value(rule, key)}"
    return variable


def resource(state: Mapping[str, JSON]) -> str:
    """A Task's resource in short: `λ charge_card`, `dynamodb:scan`, `sqs:sendMessage`, `activity Approve`."""
    arn = state.get("Resource")
    if not isinstance(arn, str):
        return ""
    if arn.startswith("{%"):
        return "JSONata resource"
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return f"λ {parts[6]}"
    if len(parts) >= 7 and parts[2] == "states" and parts[5] == "activity":
        return f"activity {parts[6]}"
    if arn.startswith("arn:aws:states:::"):
        service = arn[len("arn:aws:states:::"):]
        service = service.removeprefix("aws-sdk:")
        base = service.split(".")[0]
        if base == "lambda:invoke":
            arguments = state.get("Parameters") or state.get("Arguments") or {}
            name = arguments.get("FunctionName") if isinstance(arguments, dict) else None
            if isinstance(name, str):
                return f"λ {name.split(':')[-1] if name.startswith('arn:') else name}"
        suffix = service[len(base):]
        return base + (" (" + suffix[1:] + ")" if suffix else "")
    return parts[-1] if parts else arn
