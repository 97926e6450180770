"""CloudFormation's intrinsic functions, pseudo parameters, parameters and conditions, resolved as
CloudFormation resolves them. Every error names where it is: `Resources/Orders/Properties/RoleArn: ...`.

Resource references (`Ref`, `Fn::GetAtt`) are answered by resources.py in AWS's formats.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()


class ResolveError(Exception):
    """An intrinsic or a parameter CloudFormation would refuse; the message starts with where it is."""


_SUB = re.compile(r"\$\{([^}]*)\}")
_PARAMETER_TYPES = re.compile(r"String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9:]+|"
                              r"List<AWS::[A-Za-z0-9:]+>|AWS::SSM::Parameter::(Name|Value<[A-Za-z0-9:<>]+>)")


def partition_of(region: str) -> tuple[str, str]:
    """AWS::Partition and AWS::URLSuffix of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def suffix(*parts: str, length: int = 12) -> str:
    """The random part of a name CloudFormation generates, made deterministic: the same stack and logical id
    always get the same suffix, so a restart keeps every name."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


class Resolver:
    """Resolves one template's values; `resource_ref` and `resource_att` answer references to its resources."""

    def __init__(self, template: dict, *, stack_name: str, region: str, account: str,
                 overrides: dict[str, str], imports: dict[str, str]) -> None:
        self.template = template
        self.region, self.account, self.stack_name = region, account, stack_name
        self.partition, self.url_suffix = partition_of(region)
        self.imports = imports
        self.imported: set[str] = set()  # the exports Fn::ImportValue read
        self.resources: dict[str, dict] = template.get("Resources") or {}
        self.mappings: dict = template.get("Mappings") or {}
        self.condition_definitions: dict = template.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self.unavailable: dict[str, str] = {}  # parameters whose value stepline cannot know, and why
        self.parameters = self._parameters(template.get("Parameters") or {}, overrides)
        self.resource_ref: Callable[[str, str], Any] = lambda logical_id, where: None
        self.resource_att: Callable[[str, str, str], Any] = lambda logical_id, attribute, where: None

    @property
    def pseudo(self) -> dict[str, Any]:
        stack_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.region}/{self.account}/{self.stack_name}")
        return {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::StackName": self.stack_name,
                "AWS::Partition": self.partition, "AWS::URLSuffix": self.url_suffix, "AWS::NoValue": NO_VALUE,
                "AWS::NotificationARNs": [],
                "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/"
                                f"{self.stack_name}/{stack_id}"}

    # -- parameters and conditions --------------------------------------------------------------------------

    def _parameters(self, declared: dict, overrides: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if not isinstance(declared, dict):
            raise ResolveError("Parameters: must be an object")
        for name, declaration in declared.items():
            where = f"Parameters/{name}"
            if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
                raise ResolveError(f"{where}: every parameter must have a Type")
            kind = declaration["Type"]
            if not _PARAMETER_TYPES.fullmatch(kind):
                raise ResolveError(f"{where}: Type {kind} is not a parameter type")
            if name in overrides:
                text = overrides[name]
            elif "Default" in declaration:
                default = declaration["Default"]
                text = default if isinstance(default, str) else ",".join(map(_text, default)) \
                    if isinstance(default, list) else _text(default)
            else:
                raise ResolveError(f"{where}: no value: give one with --parameter-overrides {name}=VALUE")
            if kind.startswith("AWS::SSM::Parameter::Value<") and name not in overrides:
                self.unavailable[name] = (f"its value is read from SSM Parameter Store ({text}), which stepline "
                                          f"does not read: give it with --parameter-overrides {name}=VALUE")
                continue
            values[name] = _checked(where, name, kind, text, declaration)
        return values

    def condition(self, name: Any, where: str) -> bool:
        if not isinstance(name, str) or name not in self.condition_definitions:
            raise ResolveError(f"{where}: the condition {name!r} is not defined in Conditions")
        if name not in self._conditions:
            if name in self._evaluating:
                raise ResolveError(f"Conditions/{name}: the condition refers to itself")
            self._evaluating.add(name)
            self._conditions[name] = self._truth(self.condition_definitions[name], f"Conditions/{name}")
            self._evaluating.discard(name)
        return self._conditions[name]

    def _truth(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            (key, argument), = value.items()
            if key == "Condition":
                return self.condition(argument, where)
            if key in ("Fn::And", "Fn::Or"):
                if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                    raise ResolveError(f"{where}/{key}: takes a list of 2 to 10 conditions")
                results = [self._truth(item, f"{where}/{key}/{i}") for i, item in enumerate(argument)]
                return all(results) if key == "Fn::And" else any(results)
            if key == "Fn::Not":
                if not isinstance(argument, list) or len(argument) != 1:
                    raise ResolveError(f"{where}/Fn::Not: takes a list of one condition")
                return not self._truth(argument[0], f"{where}/Fn::Not/0")
            if key == "Fn::Equals":
                if not isinstance(argument, list) or len(argument) != 2:
                    raise ResolveError(f"{where}/Fn::Equals: takes a list of two values")
                first, second = (self.resolve(item, f"{where}/Fn::Equals/{i}") for i, item in enumerate(argument))
                return _text(first) == _text(second) if not isinstance(first, (list, dict)) else first == second
            if key == "Fn::Contains":  # Rules only
                values, item = (self.resolve(x, f"{where}/Fn::Contains") for x in argument)
                return item in values
        raise ResolveError(f"{where}: a condition is Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition")

    # -- intrinsic functions --------------------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        """The value with every intrinsic resolved; AWS::NoValue drops the key or item that holds it."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), = value.items()
                if key == "Ref":
                    return self.ref(argument, f"{where}/Ref")
                if key.startswith("Fn::"):
                    return self.function(key, argument, f"{where}/{key}")
            resolved = {key: self.resolve(item, f"{where}/{key}") for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}/{i}") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        return value

    def ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise ResolveError(f"{where}: Ref takes the name of a parameter or a resource")
        if name in self.parameters:
            return self.parameters[name]
        if name in self.unavailable:
            raise ResolveError(f"{where}: the parameter {name} cannot be resolved: {self.unavailable[name]}")
        pseudo = self.pseudo
        if name in pseudo:
            return pseudo[name]
        if name in self.resources:
            return self.resource_ref(name, where)
        raise ResolveError(f"{where}: Ref to {name}, which is neither a parameter nor a resource of the template")

    def get_att(self, argument: Any, where: str) -> Any:
        if isinstance(argument, str) and "." in argument:
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
            raise ResolveError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute]")
        logical_id, attribute = argument[0], self.resolve(argument[1], where)
        if logical_id not in self.resources:
            raise ResolveError(f"{where}: Fn::GetAtt of {logical_id}, which is not a resource of the template")
        if not isinstance(attribute, str):
            raise ResolveError(f"{where}: the attribute of Fn::GetAtt must be a string")
        return self.resource_att(logical_id, attribute, where)

    def function(self, name: str, argument: Any, where: str) -> Any:
        if name == "Fn::GetAtt":
            return self.get_att(argument, where)
        if name == "Fn::Sub":
            return self._sub(argument, where)
        if name == "Fn::If":
            if not isinstance(argument, list) or len(argument) != 3:
                raise ResolveError(f"{where}: Fn::If takes [Condition, ValueIfTrue, ValueIfFalse]")
            chosen = 1 if self.condition(argument[0], where) else 2
            return self.resolve(argument[chosen], f"{where}/{chosen}")
        if name == "Fn::ImportValue":
            export = self.resolve(argument, where)
            if not isinstance(export, str) or export not in self.imports:
                raise ResolveError(f"{where}: no value for the export {export!r}: give it with "
                                   f"--parameter-overrides {export}=VALUE")
            self.imported.add(export)
            return self.imports[export]
        value = self.resolve(argument, where)
        if name == "Fn::Join":
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                    and isinstance(value[1], list)):
                raise ResolveError(f"{where}: Fn::Join takes [Delimiter, [Values...]]")
            return value[0].join(_string(item, where) for item in value[1])
        if name == "Fn::Select":
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
                raise ResolveError(f"{where}: Fn::Select takes [Index, [Values...]]")
            try:
                index = int(value[0])
                if index < 0:
                    raise IndexError
                return value[1][index]
            except (ValueError, TypeError, IndexError):
                raise ResolveError(f"{where}: Fn::Select's index {value[0]!r} is not an index of a list of "
                                   f"{len(value[1])}") from None
        if name == "Fn::Split":
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
                raise ResolveError(f"{where}: Fn::Split takes [Delimiter, String]")
            return value[1].split(value[0])
        if name == "Fn::FindInMap":
            if not (isinstance(value, list) and len(value) == 3):
                raise ResolveError(f"{where}: Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
            found: Any = self.mappings
            for key in value:
                if not isinstance(found, dict) or _text(key) not in found:
                    raise ResolveError(f"{where}: Fn::FindInMap: {_text(key)!r} is not in the mapping "
                                       f"{'/'.join(map(_text, value))}")
                found = found[_text(key)]
            return found
        if name == "Fn::Base64":
            return base64.b64encode(_string(value, where).encode()).decode()
        if name == "Fn::GetAZs":
            region = value or self.region
            return [f"{region}{zone}" for zone in "abc"]
        raise ResolveError(f"{where}: stepline does not resolve {name}")

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], {k: self.resolve(v, f"{where}/1/{k}") for k, v in argument[1].items()}
        else:
            text, variables = argument, {}
        if not isinstance(text, str):
            raise ResolveError(f"{where}: Fn::Sub takes a string, or [String, {{Variables}}]")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return _string(variables[name], where)
            if "." in name and name.split(".", 1)[0] in self.resources:
                return _string(self.get_att(name, where), where)
            return _string(self.ref(name, where), where)

        return _SUB.sub(replace, text)


def _text(value: Any) -> str:
    """A scalar as CloudFormation passes it on: numbers and booleans as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)) or value is NO_VALUE or value is None:
        raise ResolveError(f"{where}: a string is expected here, not {value!r}")
    return _text(value)


def _checked(where: str, name: str, kind: str, text: str, declaration: dict) -> Any:
    """A parameter's value checked against its declaration as CloudFormation checks it; Ref's value (lists for
    list types; numbers stay text, as Ref gives them)."""
    is_list = kind.startswith("List<") or kind == "CommaDelimitedList"
    items = [item.strip() if kind != "CommaDelimitedList" else item for item in text.split(",")] if is_list \
        else [text]
    reason = declaration.get("ConstraintDescription")
    for item in items:
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise ResolveError(f"{where}: {name} must be a number, not {item!r}") from None
            for bound, too in (("MinValue", number.__lt__), ("MaxValue", number.__gt__)):
                if bound in declaration and too(float(declaration[bound])):
                    raise ResolveError(f"{where}: {name} must be {'at least' if bound == 'MinValue' else 'at most'} "
                                       f"{declaration[bound]}" + (f" ({reason})" if reason else ""))
        if "AllowedValues" in declaration and item not in map(_text, declaration["AllowedValues"]):
            raise ResolveError(f"{where}: {name} must be one of AllowedValues, not {item!r}"
                               + (f" ({reason})" if reason else ""))
        if "AllowedPattern" in declaration and not re.fullmatch(declaration["AllowedPattern"], item):
            raise ResolveError(f"{where}: {name} must match pattern {declaration['AllowedPattern']}"
                               + (f" ({reason})" if reason else ""))
        for bound, shorter in (("MinLength", True), ("MaxLength", False)):
            if kind == "String" and bound in declaration and \
                    (len(item) < int(declaration[bound]) if shorter else len(item) > int(declaration[bound])):
                raise ResolveError(f"{where}: {name} must be {'at least' if bound == 'MinLength' else 'at most'} "
                                   f"{declaration[bound]} characters long" + (f" ({reason})" if reason else ""))
    return items if is_list else text
