"""A template read into a Stack: what stepline creates (state machines, activities, versions, aliases) and
the Python functions it serves, every intrinsic resolved. Anything CloudFormation or SAM would refuse, or that
stepline cannot honour, is a TemplateError of one line naming the file, the resource and the property."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline.cfn.intrinsics import NO_VALUE, ResolveError, Resolver, suffix
from stepline.cfn.load import LoadError, load_document, load_template, read_text
from stepline.cfn.resources import FUNCTIONS, STATE_MACHINES, VERSION_MARK, References
from stepline.cfn.schedules import RULE, SCHEDULER, ScheduleReader, ScheduleSpec

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions",
            "Transform", "Resources", "Outputs", "Globals"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy", "UpdateReplacePolicy",
                 "CreationPolicy", "UpdatePolicy"}
GLOBALS = {"Function", "Api", "HttpApi", "SimpleTable", "StateMachine", "LayerVersion"}
# the properties stepline honours of the resources it creates; any other is refused, never ignored
PROPERTIES = {
    "AWS::Serverless::StateMachine": {"Definition", "DefinitionUri", "DefinitionSubstitutions", "Name", "Type", "Role",
                                      "RolePath", "Policies", "PermissionsBoundary", "Logging", "Tracing", "Tags",
                                      "PropagateTags", "AutoPublishAlias", "Events"},
    "AWS::StepFunctions::StateMachine": {"Definition", "DefinitionString", "DefinitionS3Location",
                                         "DefinitionSubstitutions", "StateMachineName", "StateMachineType", "RoleArn",
                                         "LoggingConfiguration", "TracingConfiguration", "EncryptionConfiguration",
                                         "Tags"},
    "AWS::StepFunctions::Activity": {"Name", "Tags", "EncryptionConfiguration"},
    "AWS::StepFunctions::StateMachineVersion": {"StateMachineArn", "StateMachineRevisionId", "Description"},
    "AWS::StepFunctions::StateMachineAlias": {"Name", "Description", "RoutingConfiguration"},
}
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class TemplateError(Exception):
    """One line: `template.yaml: Resources/Orders/Properties/DefinitionUri: the file ... does not exist`."""


@dataclass(frozen=True, slots=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: str
    role_arn: str
    type: str = "STANDARD"
    logging: dict | None = None
    tracing: dict | None = None
    encryption: dict | None = None
    tags: tuple[tuple[str, str], ...] = ()
    auto_publish_alias: str | None = None  # SAM: publish a version on each change and point this alias at it
    source: str = "Definition"  # the property the definition came from, for errors


@dataclass(frozen=True, slots=True)
class ActivitySpec:
    logical_id: str
    name: str
    tags: tuple[tuple[str, str], ...] = ()
    encryption: dict | None = None


@dataclass(frozen=True, slots=True)
class VersionSpec:
    logical_id: str
    state_machine_arn: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class AliasSpec:
    logical_id: str
    name: str
    state_machine_arn: str
    routing: tuple[tuple[str, int], ...]  # (the logical id of a version of the template, weight)
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A Python function served from its local code, as Lambda runs it."""

    logical_id: str
    name: str
    arn: str
    code: Path
    handler: str
    runtime: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    memory: int = 128


@dataclass(frozen=True, slots=True)
class Stack:
    name: str
    path: Path
    state_machines: tuple[StateMachineSpec, ...] = ()
    activities: tuple[ActivitySpec, ...] = ()
    versions: tuple[VersionSpec, ...] = ()
    aliases: tuple[AliasSpec, ...] = ()
    functions: tuple[FunctionSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    files: tuple[Path, ...] = ()  # the local files it was read from: the template, its definition files


def stack_name_of(path: Path) -> str:
    """A stack's name: CDK's `<Stack>.template.json`, else the template's folder (`sam-app/template.yaml`)."""
    name = path.name[:-len(".template.json")] if path.name.endswith(".template.json") else \
        path.resolve().parent.name
    name = re.sub(r"[^A-Za-z0-9-]", "-", name).strip("-")
    return name if name[:1].isalpha() else f"stack-{name}"


def read_stacks(paths: Sequence[Path], *, region: str, account: str, overrides: dict[str, str],
                stack_name: str | None = None) -> list[Stack]:
    """Every template; an override no template uses (as a parameter or an export) is refused."""
    if stack_name is not None and len(paths) > 1:
        raise TemplateError("--stack-name names the stack of a single template")
    used: set[str] = set()
    stacks = [read_stack(path, region=region, account=account, overrides=overrides, stack_name=stack_name,
                         used=used) for path in paths]
    unused = sorted(set(overrides) - used)
    if unused:
        raise TemplateError(f"--parameter-overrides: no template has a parameter or imports a value named "
                            f"{', '.join(unused)}")
    return stacks


def read_stack(path: Path, *, region: str, account: str, overrides: dict[str, str] | None = None,
               stack_name: str | None = None, used: set[str] | None = None) -> Stack:
    try:
        template = load_template(path)
        reader = _Reader(path, template, stack_name or stack_name_of(path), region, account, overrides or {},
                         used if used is not None else set())
        stack = reader.stack()
        if used is not None:
            used.update(reader.resolver.imported)
        return stack
    except (LoadError, ResolveError) as error:
        raise TemplateError(f"{path}: {error}" if isinstance(error, ResolveError) else str(error)) from None


class _Reader:
    def __init__(self, path: Path, template: dict, stack_name: str, region: str, account: str,
                 overrides: dict[str, str], used: set[str]) -> None:
        self.path, self.folder = path, path.parent
        self.files = [path]
        self.template = template
        self._check_sections()
        declared = set(template.get("Parameters") or {})
        used.update(declared & set(overrides))
        self.resolver = Resolver(template, stack_name=stack_name, region=region, account=account,
                                 overrides={k: v for k, v in overrides.items() if k in declared},
                                 imports=overrides)
        self.references = References(self.resolver)
        self.schedules = ScheduleReader(lambda where, raw: self.resolver.resolve(raw, where) if raw is not None
                                        else None, partition=self.resolver.partition, region=region,
                                        account=account, stack_name=stack_name)

    # -- the template's shape -------------------------------------------------------------------------------

    def _check_sections(self) -> None:
        template = self.template
        unknown = sorted(set(template) - SECTIONS)
        if unknown:
            raise ResolveError(f"{unknown[0]}: not a section of a template")
        version = template.get("AWSTemplateFormatVersion")
        if version is not None and str(version) != "2010-09-09":
            raise ResolveError(f"AWSTemplateFormatVersion: must be 2010-09-09, not {version}")
        transforms = template.get("Transform") or []
        transforms = [transforms] if isinstance(transforms, str) else transforms
        for transform in transforms:
            if transform != SAM_TRANSFORM:
                raise ResolveError(f"Transform: stepline applies only {SAM_TRANSFORM}, not {transform!r}")
        self.sam = SAM_TRANSFORM in transforms
        resources = template.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise ResolveError("Resources: a template must declare at least one resource")
        globals_ = template.get("Globals")
        if globals_ is not None:
            if not self.sam:
                raise ResolveError(f"Globals: needs Transform: {SAM_TRANSFORM}")
            if not isinstance(globals_, dict) or set(globals_) - GLOBALS:
                raise ResolveError(f"Globals: only {', '.join(sorted(GLOBALS))} have globals")
        for logical_id, resource in resources.items():
            where = f"Resources/{logical_id}"
            if not _LOGICAL_ID.fullmatch(logical_id):
                raise ResolveError(f"{where}: a logical id is alphanumeric (A-Za-z0-9)")
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise ResolveError(f"{where}: every resource must have a Type")
            extra = sorted(set(resource) - RESOURCE_KEYS)
            if extra:
                raise ResolveError(f"{where}/{extra[0]}: not an attribute of a resource")
            if not isinstance(resource.get("Properties", {}), dict):
                raise ResolveError(f"{where}/Properties: must be an object")
            if resource["Type"].startswith("AWS::Serverless::") and not self.sam:
                raise ResolveError(f"{where}/Type: {resource['Type']} needs Transform: {SAM_TRANSFORM}")
            if self.sam and resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
                section = (globals_ or {}).get(resource["Type"].split("::")[-1])
                if section:
                    resource["Properties"] = _merge(section, resource.get("Properties") or {})

    # -- the stack --------------------------------------------------------------------------------------------

    def stack(self) -> Stack:
        self._check_rules()
        machines, activities, versions, aliases, functions = [], [], [], [], []
        schedules: list[ScheduleSpec] = []
        for logical_id, resource in self.template["Resources"].items():
            if "Condition" in resource and \
                    not self.resolver.condition(resource["Condition"], f"Resources/{logical_id}/Condition"):
                continue
            kind = resource["Type"]
            properties = resource.get("Properties") or {}
            if kind in PROPERTIES:
                unknown = sorted(set(properties) - PROPERTIES[kind])
                if unknown:
                    raise ResolveError(f"Resources/{logical_id}/Properties/{unknown[0]}: stepline does not "
                                       f"support this property of {kind}")
            if kind in STATE_MACHINES:
                machines.append(self._state_machine(logical_id, kind, properties))
                if kind == "AWS::Serverless::StateMachine" and properties.get("Events"):
                    schedules += self.schedules.sam_events(logical_id, properties["Events"], machines[-1].arn)
            elif kind in (SCHEDULER, RULE):
                read = self.schedules.scheduler if kind == SCHEDULER else self.schedules.rule
                schedule = read(logical_id, properties, self.references.name(logical_id))
                if schedule is not None:
                    schedules.append(schedule)
            elif kind == "AWS::StepFunctions::Activity":
                activities.append(ActivitySpec(logical_id, self.references.name(logical_id),
                                               self._tags(logical_id, "Tags"),
                                               _camel(self._property(logical_id, "EncryptionConfiguration"))))
            elif kind == "AWS::StepFunctions::StateMachineVersion":
                versions.append(self._version(logical_id))
            elif kind == "AWS::StepFunctions::StateMachineAlias":
                aliases.append(self._alias(logical_id, properties))
            elif kind in FUNCTIONS:
                function = self._function(logical_id, kind, resource)
                if function is not None:
                    functions.append(function)
        return Stack(self.resolver.stack_name, self.path, tuple(machines), tuple(activities), tuple(versions),
                     tuple(aliases), tuple(functions), tuple(schedules), tuple(self.files))

    def _property(self, logical_id: str, name: str) -> Any:
        return self.references.property(logical_id, name)

    def _where(self, logical_id: str, name: str) -> str:
        return f"Resources/{logical_id}/Properties/{name}"

    def _string(self, logical_id: str, name: str, *, required: bool = False) -> str | None:
        value = self._property(logical_id, name)
        if value is None and required:
            raise ResolveError(f"{self._where(logical_id, name)}: required")
        if value is not None and not isinstance(value, str):
            raise ResolveError(f"{self._where(logical_id, name)}: must be a string")
        return value

    def _state_machine(self, logical_id: str, kind: str, properties: dict) -> StateMachineSpec:
        sam = kind == "AWS::Serverless::StateMachine"
        where = lambda name: self._where(logical_id, name)  # noqa: E731
        sources = [name for name in ("Definition", "DefinitionUri", "DefinitionString", "DefinitionS3Location")
                   if name in properties]
        if len(sources) != 1:
            names = "Definition or DefinitionUri" if sam else "Definition, DefinitionString or DefinitionS3Location"
            raise ResolveError(f"Resources/{logical_id}/Properties: give exactly one of {names}")
        source = sources[0]
        if source in ("Definition",):
            definition = self._property(logical_id, source)
            if not isinstance(definition, dict):
                raise ResolveError(f"{where(source)}: must be an object (the state machine's definition)")
            text = json.dumps(definition)
        elif source == "DefinitionString":
            text = self._string(logical_id, source) or ""
        else:  # a local file: SAM's DefinitionUri, the pre-`package` DefinitionS3Location
            location = self._property(logical_id, source)
            if not isinstance(location, str) or location.startswith("s3://"):
                raise ResolveError(f"{where(source)}: stepline reads definitions from local files: give the path "
                                   "of the definition file (relative to the template)")
            self.files.append(self.folder / location)
            try:
                text = read_text(self.folder / location, "definition file")
                if not text.lstrip().startswith("{"):  # YAML: its JSON; JSON stays as written
                    text = json.dumps(load_document(self.folder / location, "definition file"))
            except LoadError as error:
                raise ResolveError(f"{where(source)}: {error}") from None
        text = self._substitute(logical_id, text)
        if VERSION_MARK.split(":")[0] + ":version:" in text:
            raise ResolveError(f"{where(source)}: a StateMachineVersion's ARN is known only once it is published; "
                               "stepline resolves it in a StateMachineAlias's RoutingConfiguration only")
        if sam:
            role = self._string(logical_id, "Role") or \
                f"arn:{self.resolver.partition}:iam::{self.resolver.account}:role/" \
                f"{self.resolver.stack_name[:20]}-{logical_id[:30]}Role-{suffix(self.resolver.stack_name, logical_id, 'Role')}"
            machine_type = self._string(logical_id, "Type") or "STANDARD"
            tags = (*self._tags(logical_id, "Tags"), ("stateMachine:createdBy", "SAM"))
            logging, tracing = self._property(logical_id, "Logging"), self._property(logical_id, "Tracing")
            encryption = None
            alias = self._string(logical_id, "AutoPublishAlias")
        else:
            role = self._string(logical_id, "RoleArn", required=True) or ""
            machine_type = self._string(logical_id, "StateMachineType") or "STANDARD"
            tags = self._tags(logical_id, "Tags")
            logging = self._property(logical_id, "LoggingConfiguration")
            tracing = self._property(logical_id, "TracingConfiguration")
            encryption = self._property(logical_id, "EncryptionConfiguration")
            alias = None
        if machine_type not in ("STANDARD", "EXPRESS"):
            raise ResolveError(f"{where('Type' if sam else 'StateMachineType')}: must be STANDARD or EXPRESS")
        return StateMachineSpec(logical_id, self.references.name(logical_id),
                                self.references.att(logical_id, "Arn", where(source)), text, role, machine_type,
                                _camel(logging), _camel(tracing), _camel(encryption), tags, alias, source)

    def _substitute(self, logical_id: str, text: str) -> str:
        """DefinitionSubstitutions: each `${key}` of the definition replaced by its value's text."""
        substitutions = self._property(logical_id, "DefinitionSubstitutions")
        if substitutions is None:
            return text
        where = self._where(logical_id, "DefinitionSubstitutions")
        if not isinstance(substitutions, dict):
            raise ResolveError(f"{where}: must be an object of keys and values")
        for key, value in substitutions.items():
            if not isinstance(value, (str, int, float, bool)):
                raise ResolveError(f"{where}/{key}: a substitution's value is a string, a number or a boolean")

        def replace(match: re.Match[str]) -> str:
            value = substitutions.get(match.group(1), match.group(0))
            return ("true" if value else "false") if isinstance(value, bool) else str(value)

        return _PLACEHOLDER.sub(replace, text)

    def _tags(self, logical_id: str, name: str) -> tuple[tuple[str, str], ...]:
        tags = self._property(logical_id, name)
        if tags is None:
            return ()
        where = self._where(logical_id, name)
        if isinstance(tags, dict):  # SAM's
            return tuple((str(k), str(v)) for k, v in tags.items())
        if isinstance(tags, list) and all(isinstance(t, dict) and set(t) == {"Key", "Value"} for t in tags):
            return tuple((str(t["Key"]), str(t["Value"])) for t in tags)
        raise ResolveError(f"{where}: must be a list of {{Key, Value}}" + (" or an object" if "Serverless" in
                                                                            self._kind(logical_id) else ""))

    def _kind(self, logical_id: str) -> str:
        return self.references.kind(logical_id)

    def _version(self, logical_id: str) -> VersionSpec:
        machine = self._string(logical_id, "StateMachineArn", required=True) or ""
        if self._property(logical_id, "StateMachineRevisionId") is not None:
            raise ResolveError(f"{self._where(logical_id, 'StateMachineRevisionId')}: stepline publishes the state "
                               "machine's current revision: remove StateMachineRevisionId")
        return VersionSpec(logical_id, machine, self._string(logical_id, "Description"))

    def _alias(self, logical_id: str, properties: dict) -> AliasSpec:
        where = self._where(logical_id, "RoutingConfiguration")
        routing = properties.get("RoutingConfiguration")
        if not isinstance(routing, list) or not 1 <= len(routing) <= 2:
            raise ResolveError(f"{where}: one or two routes of {{StateMachineVersionArn, Weight}}")
        routes = []
        for i, route in enumerate(routing):
            version = route.get("StateMachineVersionArn") if isinstance(route, dict) else None
            target = version.get("Ref") if isinstance(version, dict) and len(version) == 1 else None
            if target is None and isinstance(version, dict) and "Fn::GetAtt" in version:
                attribute = version["Fn::GetAtt"]
                target = (attribute.split(".")[0] if isinstance(attribute, str) else attribute[0])
            if not (isinstance(target, str) and target in self.template["Resources"]
                    and self._kind(target) == "AWS::StepFunctions::StateMachineVersion"):
                raise ResolveError(f"{where}/{i}/StateMachineVersionArn: must refer to a StateMachineVersion of "
                                   "the template (!Ref)")
            weight = self.resolver.resolve(route.get("Weight"), f"{where}/{i}/Weight")
            try:
                routes.append((target, int(weight)))
            except (TypeError, ValueError):
                raise ResolveError(f"{where}/{i}/Weight: must be a number from 0 to 100") from None
        machine = self._version(routes[0][0]).state_machine_arn
        return AliasSpec(logical_id, self.references.name(logical_id), machine, tuple(routes),
                         self._string(logical_id, "Description"))

    def _function(self, logical_id: str, kind: str, resource: dict) -> FunctionSpec | None:
        """The function when stepline serves it: a Python runtime and local code; else None (Lambda endpoint)."""
        runtime = self._property(logical_id, "Runtime")
        if not (isinstance(runtime, str) and runtime.startswith("python")):
            return None
        if kind == "AWS::Serverless::Function":
            name, code = "CodeUri", self._property(logical_id, "CodeUri")
        else:
            name, code = "Code", self._property(logical_id, "Code")
            asset = (resource.get("Metadata") or {}).get("aws:asset:path")
            if isinstance(code, dict) and "S3Bucket" in code and isinstance(asset, str):
                code = asset  # CDK: the asset's folder beside the template in cdk.out
        if not isinstance(code, str) or code.startswith("s3://"):
            return None  # S3 or inline code: not served here
        where = self._where(logical_id, name)
        folder = (self.folder / code).resolve()
        if not folder.is_dir():
            raise ResolveError(f"{where}: the function's code folder {folder} does not exist")
        handler = self._string(logical_id, "Handler", required=True) or ""
        module, _, function = handler.rpartition(".")
        module_path = folder / module.replace(".", "/")
        if not function or not (module_path.with_suffix(".py").is_file() or (module_path / "__init__.py").is_file()):
            raise ResolveError(f"{self._where(logical_id, 'Handler')}: no module {module or handler!r} in {folder} "
                               "(Handler is MODULE.FUNCTION)")
        environment = self._property(logical_id, "Environment") or {}
        variables = environment.get("Variables") or {} if isinstance(environment, dict) else None
        if not isinstance(variables, dict):
            raise ResolveError(f"{self._where(logical_id, 'Environment')}: must be {{Variables: {{NAME: value}}}}")
        timeout, memory = self._property(logical_id, "Timeout"), self._property(logical_id, "MemorySize")
        try:
            timeout, memory = float(timeout or 3), int(memory or 128)
        except (TypeError, ValueError):
            raise ResolveError(f"{self._where(logical_id, 'Timeout')}: Timeout and MemorySize are numbers") from None
        function_name = self.references.name(logical_id)
        return FunctionSpec(logical_id, function_name, self.references.att(logical_id, "Arn", where), folder,
                            handler, runtime, {str(k): _scalar(v) for k, v in variables.items()}, timeout, memory)

    def _check_rules(self) -> None:
        """Rules' assertions, as CloudFormation checks them before it creates anything (a rule that reads an SSM
        parameter stepline cannot read is not checked)."""
        rules = self.template.get("Rules") or {}
        for name, rule in rules.items():
            where = f"Rules/{name}"
            if not isinstance(rule, dict) or set(_refs(rule)) & set(self.resolver.unavailable):
                continue
            if "RuleCondition" in rule and not self.resolver._truth(rule["RuleCondition"], f"{where}/RuleCondition"):
                continue
            for i, assertion in enumerate(rule.get("Assertions") or []):
                if not self.resolver._truth(assertion.get("Assert"), f"{where}/Assertions/{i}/Assert"):
                    raise ResolveError(f"{where}: {assertion.get('AssertDescription') or 'an assertion failed'}")


def _merge(global_value: Any, value: Any) -> Any:
    """SAM's Globals: maps merged (the resource's entries win), lists appended to, anything else replaced."""
    if isinstance(global_value, dict) and isinstance(value, dict) and not _intrinsic(value) \
            and not _intrinsic(global_value):
        merged = dict(global_value)
        for key, item in value.items():
            merged[key] = _merge(global_value[key], item) if key in global_value else item
        return merged
    if isinstance(global_value, list) and isinstance(value, list):
        return [*global_value, *value]
    return value


def _intrinsic(value: dict) -> bool:
    return len(value) == 1 and next(iter(value)) in ("Ref", "Condition") or any(k.startswith("Fn::") for k in value)


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase configuration as the API's camelCase (LoggingConfiguration and the like)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) or value is NO_VALUE:
        raise ResolveError(f"an environment variable's value must be a string, not {value!r}")
    return str(value)


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            yield value["Ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
