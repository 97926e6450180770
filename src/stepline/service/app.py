"""The application layer: one method per Step Functions API action. The API server, the CLI and the console
all call these; none of them re-implements what happens here.

Methods take the action's request members as keyword arguments (AWS's names) and return the response
members (datetimes as aware datetimes), or raise an ApiError.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from stepline.engine.interpreter import RUNNING, Execution
from stepline.engine.program import Program, compile_definition
from stepline.engine.references import variable_references
from stepline.errors import DefinitionError
from stepline.jsonvalue import JSON, dumps, loads, too_deep
from stepline.runtime.clock import clock_for
from stepline.runtime.integrations.lambda_local import LocalFunctions
from stepline.runtime.integrations.lambda_remote import RemoteFunctions
from stepline.runtime.integrations.mock_config import MockConfig, MockConfigError
from stepline.runtime.integrations.registry import Integration
from stepline.runtime.runner import ExecutionRunner, ExpressRuns
from stepline.runtime.store.base import Store
from stepline.runtime.store.sqlite import SqliteStore
from stepline.runtime.signals import Signal
from stepline.runtime.worker import Runtime
from stepline.service import errors
from stepline.service.arns import (
    check_name,
    execution_arn,
    express_execution_arn,
    parse_execution_arn,
    parse_state_machine_arn,
    state_machine_arn,
)
from stepline.service.activities import ActivityActions
from stepline.service.console import ConsoleMethods
from stepline.service.definitions import create_error_message, validate_definition
from stepline.service.map_runs import MapRunActions
from stepline.service.paging import cursor, encode_token, paginate
from stepline.service.settings import Settings
from stepline.service.shapes import ENCRYPTION_DEFAULT, LOGGING_DEFAULT, TOO_DEEP, TRACING_DEFAULT, json_problem
from stepline.service.test_state import test_state as run_test_state

MAX_PAYLOAD = 256 * 1024
STOP_WAIT_SECONDS = 1.0  # StopExecution answers at once: after the stop applied, or after this long


async def open_store(location: str, *, pool_size: int | None = None) -> Store:
    """The store a `--db` setting names: a postgresql:// (or postgres://) URL, else a SQLite file path."""
    if location.startswith(("postgresql://", "postgres://")):
        from stepline.runtime.store.postgres import PostgresStore  # psycopg is loaded only when used

        return await PostgresStore.open(location, max_size=pool_size)
    return await SqliteStore.open(location)


async def _off_loop(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """CPU work whose cost grows with a definition (up to 1 MB: a second or so), in a worker thread: the event
    loop goes on serving the API and driving executions meanwhile."""
    return await asyncio.to_thread(work, *args, **kwargs)


def _now(clock: Any) -> datetime:
    return clock.now()


def _digest(definition: str) -> str:
    return hashlib.sha256(definition.encode()).hexdigest()


class StepFunctionsService(ActivityActions, MapRunActions, ConsoleMethods):
    """Step Functions, backed by a store and a durable runtime."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.store: Store = store  # type: ignore[assignment]  # opened by start() when not given
        self.settings = settings
        self.clock = clock_for(settings.time_scale)
        self.functions = LocalFunctions(account=settings.account, region=settings.region)
        for module in settings.functions:
            self.functions.load_module(module)
        self.mock_config = MockConfig.load(settings.mock_config) if settings.mock_config else None
        self.remote_functions = RemoteFunctions(settings.lambda_endpoint, account=settings.account,
                                                region=settings.region) if settings.lambda_endpoint else None
        self._programs: dict[tuple[str, str], Program] = {}
        self.express = ExpressRuns(_express_record)
        self.runtime: Runtime = None  # type: ignore[assignment]  # made by start()

    async def start(self, *, worker: bool = True) -> None:
        """Open the store, join its workers (`worker`: a command that only reads does not), and register the
        workflows of `settings.register`."""
        if self.store is None:
            self.store = await open_store(self.settings.db, pool_size=self.settings.pool_size)
        self.runtime = Runtime(self.store, clock=self.clock, programs=self._program,
                               integrations=self._integrations_for, worker=self.settings.worker_name,
                               lease_seconds=self.settings.lease_seconds, poll_seconds=self.settings.poll_seconds,
                               limits=self.settings.limits)
        if worker:
            await self.runtime.start()
        for path in sorted(Path(self.settings.register).glob("*.asl.json")) if self.settings.register else ():
            await self._register(path)

    async def _register(self, path: Path) -> None:
        await self.register(path.name.split(".")[0], path.read_text(encoding="utf-8"))

    async def register(self, name: str, definition: str) -> str:
        """Create the state machine `name` with this definition, or update it to this definition; its ARN."""
        arn = state_machine_arn(self.settings.region, self.settings.account, name)
        role = f"arn:aws:iam::{self.settings.account}:role/stepline"
        if await self.store.get_resource("state_machine", arn) is None:
            await self.create_state_machine(name=name, definition=definition, roleArn=role)
        else:
            await self.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn

    async def find_execution(self, reference: str) -> str:
        """An execution's ARN from its ARN or its name (ExecutionDoesNotExist when none or several match)."""
        if reference.startswith("arn:"):
            return (await self._execution(reference))["executionArn"]
        matches = [r["executionArn"] for r in await self.store.list_executions(name=reference)]
        if len(matches) != 1:
            found = "no execution" if not matches else f"{len(matches)} executions ({', '.join(matches)})"
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{reference}': {found} with that name")
        return matches[0]

    async def full_history(self, execution_arn: str) -> list[dict]:
        """Every event of an execution, following GetExecutionHistory's pages."""
        events: list[dict] = []
        token = None
        while True:
            page = await self.get_execution_history(executionArn=execution_arn, maxResults=1000, nextToken=token)
            events += page["events"]
            token = page.get("nextToken")
            if token is None:
                return events

    async def close(self) -> None:
        await self.express.close()
        await self.runtime.close()
        await self.store.close()

    # ------------------------------------------------------------------ shared helpers

    async def _program(self, digest: str, machine_type: str) -> Program:
        key = (digest, machine_type)
        program = self._programs.get(key)
        if program is None:
            definition = await self.store.get_definition(digest)
            if definition is None:
                raise errors.InternalFailure(f"The definition {digest} of an execution is missing from the store")
            program = await _off_loop(compile_definition, definition, machine_type)
            self._programs[key] = program
        return program

    async def _compile(self, definition: str, machine_type: str) -> tuple[str, Program]:
        try:
            program = await _off_loop(compile_definition, definition, machine_type)
        except DefinitionError as error:
            raise errors.InvalidDefinition(create_error_message(error.diagnostics)) from None
        digest = _digest(definition)
        self._programs[(digest, machine_type)] = program
        return digest, program

    def _integrations_for(self, record: dict | None) -> Sequence[Integration]:
        chain: list[Integration] = []
        test_case = (record or {}).get("testCase")
        if test_case and self.mock_config is not None:
            machine_name = (record or {})["stateMachineArn"].split(":")[6]
            try:
                chain.append(self.mock_config.test_case(machine_name, test_case))
            except MockConfigError:
                pass
        if self.remote_functions is not None:  # the endpoint serves every Lambda function
            chain.append(self.remote_functions)
        chain.append(self.functions)
        return chain

    async def _state_machine(self, arn: str) -> dict:
        base = parse_state_machine_arn(arn.split("#")[0]).unqualified_arn
        record = await self.store.get_resource("state_machine", base)
        if record is None:
            raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return record

    async def _execution(self, arn: str) -> dict:
        parse_execution_arn(arn)
        record = await self.store.get_execution(arn)
        if record is None:
            express = self.express.get(arn)
            if express is not None:
                return express
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return record

    # ------------------------------------------------------------------ state machines

    async def create_state_machine(self, *, name: str, definition: str, roleArn: str, type: str = "STANDARD",
                                   loggingConfiguration: dict | None = None, tags: list | None = None,
                                   tracingConfiguration: dict | None = None, publish: bool = False,
                                   versionDescription: str | None = None,
                                   encryptionConfiguration: dict | None = None) -> dict:
        check_name(name)
        _check_role(roleArn)
        if versionDescription is not None and not publish:
            raise errors.ValidationException("Version description can only be set when publish is true")
        digest, _ = await self._compile(definition, type)
        arn = state_machine_arn(self.settings.region, self.settings.account, name)
        now = _now(self.clock)
        record = {
            "stateMachineArn": arn, "name": name, "status": "ACTIVE", "definition": definition,
            "definitionDigest": digest, "roleArn": roleArn, "type": type, "creationDate": now,
            "loggingConfiguration": loggingConfiguration or LOGGING_DEFAULT,
            "tracingConfiguration": tracingConfiguration or TRACING_DEFAULT,
            "revisionId": None, "versions": 0,
        }
        record["encryptionConfiguration"] = encryptionConfiguration or ENCRYPTION_DEFAULT
        await self.store.put_definition(digest, definition)
        if not await self.store.create_resource("state_machine", arn, record):
            existing = await self.store.get_resource("state_machine", arn)
            same = existing and all(existing.get(k) == record[k] for k in ("definition", "roleArn", "type"))
            if not same:
                raise errors.StateMachineAlreadyExists(f"State Machine Already Exists: '{arn}'")
            response = {"stateMachineArn": arn, "creationDate": existing["creationDate"]}
        else:
            response = {"stateMachineArn": arn, "creationDate": now}
        if tags:
            await self.tag_resource(resourceArn=arn, tags=tags)
        if publish:
            version = await self.publish_state_machine_version(stateMachineArn=arn, description=versionDescription)
            response["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return response

    async def describe_state_machine(self, *, stateMachineArn: str, includedData: str | None = None) -> dict:
        parsed = parse_state_machine_arn(stateMachineArn)
        if parsed.version is None and parsed.alias is None:
            return _describe_machine(await self._state_machine(stateMachineArn))
        return await self._describe_qualified(stateMachineArn, parsed)

    async def _describe_qualified(self, arn: str, parsed: Any) -> dict:
        if parsed.version is not None:
            version = await self.store.get_resource("version", arn)
            if version is None:
                raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
            return _describe_machine(version)
        alias = await self.store.get_resource("alias", arn)
        if alias is None:
            raise errors.ResourceNotFound(f"Resource not found: '{arn}'")
        return await self.describe_state_machine_alias(stateMachineAliasArn=arn)

    async def update_state_machine(self, *, stateMachineArn: str, definition: str | None = None,
                                   roleArn: str | None = None, loggingConfiguration: dict | None = None,
                                   tracingConfiguration: dict | None = None, publish: bool = False,
                                   versionDescription: str | None = None,
                                   encryptionConfiguration: dict | None = None) -> dict:
        record = await self._state_machine(stateMachineArn)
        if roleArn is not None:
            _check_role(roleArn)
        if versionDescription is not None and not publish:
            raise errors.ValidationException("Version description can only be set when publish is true")
        if all(v is None for v in (definition, roleArn, loggingConfiguration, tracingConfiguration,
                                   encryptionConfiguration)) and not publish:
            raise errors.MissingRequiredParameter(
                "Either the definition, the role ARN, the LoggingConfiguration, the EncryptionConfiguration or the "
                "TracingConfiguration must be specified")
        changed = False
        if definition is not None and definition != record["definition"]:
            digest, _ = await self._compile(definition, record["type"])
            await self.store.put_definition(digest, definition)
            record.update(definition=definition, definitionDigest=digest)
            changed = True
        for key, value in (("roleArn", roleArn), ("loggingConfiguration", loggingConfiguration),
                           ("tracingConfiguration", tracingConfiguration),
                           ("encryptionConfiguration", encryptionConfiguration)):
            if value is not None and record.get(key) != value:
                record[key] = value
                changed = True
        now = _now(self.clock)
        if changed or record.get("revisionId") is None:
            record["revisionId"] = str(uuid.uuid4())
            record["updateDate"] = now
        await self.store.put_resource("state_machine", record["stateMachineArn"], record)
        response = {"updateDate": record.get("updateDate", now), "revisionId": record["revisionId"]}
        if publish:
            version = await self.publish_state_machine_version(stateMachineArn=record["stateMachineArn"],
                                                               description=versionDescription)
            response["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return response

    async def delete_state_machine(self, *, stateMachineArn: str) -> dict:
        parse_state_machine_arn(stateMachineArn, qualified=False)
        await self.store.delete_resource("state_machine", stateMachineArn)
        for version in await self.store.list_resources("version", parent=stateMachineArn):
            await self.store.delete_resource("version", version["stateMachineArn"])
        for alias in await self.store.list_resources("alias", parent=stateMachineArn):
            await self.store.delete_resource("alias", alias["stateMachineAliasArn"])
        return {}

    async def list_state_machines(self, *, maxResults: int = 0, nextToken: str | None = None) -> dict:
        machines = await self.store.list_resources("state_machine")
        items = [{"stateMachineArn": m["stateMachineArn"], "name": m["name"], "type": m["type"],
                  "creationDate": m["creationDate"]} for m in machines]
        page, token = paginate(items, key=lambda m: m["stateMachineArn"], max_results=maxResults,
                               next_token=nextToken)
        return {"stateMachines": page, **({"nextToken": token} if token else {})}

    async def validate_state_machine_definition(self, *, definition: str, type: str = "STANDARD",
                                                severity: str = "ERROR", maxResults: int = 100) -> dict:
        response = await _off_loop(validate_definition, definition, machine_type=type, severity=severity,
                                       max_results=maxResults or 100)
        for diagnostic in response["diagnostics"]:
            if not diagnostic["location"]:
                del diagnostic["location"]  # AWS omits the location of whole-definition findings
        return response

    async def test_state(self, **request: Any) -> dict:
        """TestState: run one state in isolation (service/test_state.py)."""
        return await run_test_state(request, settings=self.settings, integrations=self._integrations_for(None),
                                    now=_now(self.clock))

    # ------------------------------------------------------------------ versions

    async def publish_state_machine_version(self, *, stateMachineArn: str, revisionId: str | None = None,
                                            description: str | None = None) -> dict:
        record = await self._state_machine(stateMachineArn)
        current = record.get("revisionId")
        if revisionId is not None and revisionId != current:
            raise errors.ConflictException(f"Failed to publish the State Machine version for revision {revisionId}. "
                                           f"The current State Machine revision is {current}.")
        versions = await self.store.list_resources("version", parent=record["stateMachineArn"])
        latest = versions[-1] if versions else None
        if latest is not None and latest["definition"] == record["definition"] and \
                latest["roleArn"] == record["roleArn"] and latest.get("description") == description:
            return {"creationDate": latest["creationDate"], "stateMachineVersionArn": latest["stateMachineArn"]}
        number = record.get("versions", 0) + 1
        record["versions"] = number
        if record.get("revisionId") is None:
            record["revisionId"] = str(uuid.uuid4())
        arn = f"{record['stateMachineArn']}:{number}"
        version = {**record, "stateMachineArn": arn, "creationDate": _now(self.clock), "versionNumber": number,
                   "revisionId": record["revisionId"]}
        if description is not None:
            version["description"] = description
        await self.store.put_resource("state_machine", record["stateMachineArn"], record)
        await self.store.create_resource("version", arn, version, parent=record["stateMachineArn"])
        return {"creationDate": version["creationDate"], "stateMachineVersionArn": arn}

    async def list_state_machine_versions(self, *, stateMachineArn: str, nextToken: str | None = None,
                                          maxResults: int = 0) -> dict:
        record = await self._state_machine(stateMachineArn)
        versions = await self.store.list_resources("version", parent=record["stateMachineArn"])
        items = [{"stateMachineVersionArn": v["stateMachineArn"], "creationDate": v["creationDate"]}
                 for v in reversed(versions)]
        page, token = paginate(items, key=lambda v: f"{v['stateMachineVersionArn'].rsplit(':', 1)[1]:>12}",
                               max_results=maxResults, next_token=nextToken)
        return {"stateMachineVersions": page, **({"nextToken": token} if token else {})}

    async def delete_state_machine_version(self, *, stateMachineVersionArn: str) -> dict:
        if parse_state_machine_arn(stateMachineVersionArn).version is None:
            raise errors.ValidationException(f"Invalid Arn: 'Invalid version ARN: {stateMachineVersionArn}'")
        base = stateMachineVersionArn.rsplit(":", 1)[0]
        for alias in await self.store.list_resources("alias", parent=base):
            if any(r["stateMachineVersionArn"] == stateMachineVersionArn for r in alias["routingConfiguration"]):
                raise errors.ConflictException(
                    f"Version to be deleted must not be referenced by an alias. Current list of aliases referencing "
                    f"this version: [{alias['stateMachineAliasArn']}]")
        await self.store.delete_resource("version", stateMachineVersionArn)
        return {}

    # ------------------------------------------------------------------ aliases

    async def create_state_machine_alias(self, *, name: str, routingConfiguration: list,
                                         description: str | None = None) -> dict:
        base = await self._check_routing(routingConfiguration)
        arn = f"{base}:{name}"
        now = _now(self.clock)
        record = {"stateMachineAliasArn": arn, "name": name, "routingConfiguration": routingConfiguration,
                  "creationDate": now, "updateDate": now}
        if description is not None:
            record["description"] = description
        if not await self.store.create_resource("alias", arn, record, parent=base):
            existing = await self.store.get_resource("alias", arn)
            if existing["routingConfiguration"] != routingConfiguration or existing.get("description") != description:
                raise errors.ConflictException("Failed to create alias because an alias with the same name and a "
                                               "different routing configuration already exists.")
            return {"stateMachineAliasArn": arn, "creationDate": existing["creationDate"]}
        return {"stateMachineAliasArn": arn, "creationDate": now}

    async def _check_routing(self, routing: list) -> str:
        arns = [r["stateMachineVersionArn"] for r in routing]
        bases = set()
        for arn in arns:
            if parse_state_machine_arn(arn).version is None:
                raise errors.ValidationException("Routing configuration must contain state machine version ARNs. "
                                                 f"Received: [{', '.join(arns)}]")
            bases.add(arn.rsplit(":", 1)[0])
            if await self.store.get_resource("version", arn) is None:
                raise errors.ResourceNotFound(f"Resource not found: '{arn}'")
        if len(bases) != 1:
            raise errors.ValidationException("Routing configuration must contain versions of the same state machine")
        if sum(r.get("weight", 0) for r in routing) != 100:
            raise errors.ValidationException("Sum of routing configuration weights must be equal to 100.")
        return bases.pop()

    async def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict:
        parse_state_machine_arn(stateMachineAliasArn)
        record = await self.store.get_resource("alias", stateMachineAliasArn)
        if record is None:
            raise errors.ResourceNotFound("Request references a resource that does not exist.")
        return record

    async def update_state_machine_alias(self, *, stateMachineAliasArn: str, description: str | None = None,
                                         routingConfiguration: list | None = None) -> dict:
        record = await self.describe_state_machine_alias(stateMachineAliasArn=stateMachineAliasArn)
        if routingConfiguration is not None:
            await self._check_routing(routingConfiguration)
            record["routingConfiguration"] = routingConfiguration
        if description is not None:
            record["description"] = description
        record["updateDate"] = _now(self.clock)
        await self.store.put_resource("alias", stateMachineAliasArn, record,
                                      parent=stateMachineAliasArn.rsplit(":", 1)[0])
        return {"updateDate": record["updateDate"]}

    async def delete_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict:
        parse_state_machine_arn(stateMachineAliasArn)
        await self.store.delete_resource("alias", stateMachineAliasArn)
        return {}

    async def list_state_machine_aliases(self, *, stateMachineArn: str, nextToken: str | None = None,
                                         maxResults: int = 0) -> dict:
        record = await self._state_machine(stateMachineArn)
        aliases = await self.store.list_resources("alias", parent=record["stateMachineArn"])
        items = [{"stateMachineAliasArn": a["stateMachineAliasArn"], "creationDate": a["creationDate"]}
                 for a in aliases]
        page, token = paginate(items, key=lambda a: a["stateMachineAliasArn"], max_results=maxResults,
                               next_token=nextToken)
        return {"stateMachineAliases": page, **({"nextToken": token} if token else {})}

    # ------------------------------------------------------------------ executions

    async def _resolve_target(self, arn: str) -> tuple[dict, dict]:
        """The state machine record and the version or alias facts of a StartExecution target."""
        parsed = parse_state_machine_arn(arn.split("#")[0])
        base = parsed.unqualified_arn
        record = await self._state_machine(base)
        if parsed.version is None and parsed.alias is None:
            return record, {}
        if parsed.version is not None:
            version = await self.store.get_resource("version", arn.split("#")[0])
            if version is None:
                raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
            return version | {"stateMachineArn": base}, {"stateMachineVersionArn": version["stateMachineArn"]}
        alias = await self.store.get_resource("alias", arn.split("#")[0])
        if alias is None:
            raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        pick, total = self.clock.now().microsecond % 100, 0
        chosen = alias["routingConfiguration"][-1]["stateMachineVersionArn"]
        for route in alias["routingConfiguration"]:
            total += route["weight"]
            if pick < total:
                chosen = route["stateMachineVersionArn"]
                break
        version = await self.store.get_resource("version", chosen)
        return version | {"stateMachineArn": base}, {"stateMachineVersionArn": chosen,
                                                      "stateMachineAliasArn": alias["stateMachineAliasArn"]}

    @staticmethod
    def _input(text: str | None) -> tuple[str, JSON]:
        text = "{}" if text is None else text
        if len(text.encode()) > MAX_PAYLOAD:
            raise errors.InvalidExecutionInput("Invalid State Machine Execution Input: 'The input exceeds the "
                                               "maximum size of 262144 bytes'")
        try:
            value = loads(text)
        except ValueError:
            raise errors.InvalidExecutionInput(f"Invalid State Machine Execution Input: '{json_problem(text)}'") from None
        if too_deep(value):
            raise errors.InvalidExecutionInput(f"Invalid State Machine Execution Input: '{TOO_DEEP}'")
        return text, value

    async def start_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                              traceHeader: str | None = None) -> dict:
        machine, target = await self._resolve_target(stateMachineArn)
        test_case = stateMachineArn.split("#", 1)[1] if "#" in stateMachineArn else None
        text, _ = self._input(input)
        name = name if name is not None else str(uuid.uuid4())
        check_name(name)
        now = _now(self.clock)
        if machine["type"] == "EXPRESS":
            arn = express_execution_arn(self.settings.region, self.settings.account, machine["name"], name,
                                        str(uuid.uuid4()))
            self.express.start(await self._express_runner(machine, arn, name, text, test_case))
            return {"executionArn": arn, "startDate": now}
        arn = execution_arn(self.settings.region, self.settings.account, machine["name"], name)
        record = {"executionArn": arn, "stateMachineArn": machine["stateMachineArn"], "name": name,
                  "status": RUNNING, "startDate": now, "input": text, "roleArn": machine["roleArn"],
                  "definitionDigest": machine["definitionDigest"], "type": machine["type"], "redriveCount": 0,
                  **target}
        if test_case:
            record["testCase"] = test_case
        if traceHeader is not None:
            record["traceHeader"] = traceHeader
        existing = await self.runtime.create(record)
        if existing is not None:
            if existing["status"] == RUNNING and existing["input"] == text:
                return {"executionArn": arn, "startDate": existing["startDate"]}
            raise errors.ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
        return {"executionArn": arn, "startDate": now}

    async def _express_runner(self, machine: dict, arn: str, name: str, text: str,
                              test_case: str | None) -> ExecutionRunner:
        program = await self._program(machine["definitionDigest"], "EXPRESS")
        execution = Execution(program, input=loads(text), execution_arn=arn, name=name,
                              state_machine_arn=machine["stateMachineArn"], state_machine_name=machine["name"],
                              role_arn=machine["roleArn"], start_time=_now(self.clock), seed=arn,
                              region=self.settings.region, redrive_count=None, limits=self.settings.limits)
        record = {"stateMachineArn": machine["stateMachineArn"], "testCase": test_case}
        return ExecutionRunner(execution, self._integrations_for(record), self.clock,
                               timeout_seconds=min(program.timeout_seconds or 300, 300), off_loop=True)

    async def start_sync_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                                   traceHeader: str | None = None, includedData: str | None = None) -> dict:
        machine, _ = await self._resolve_target(stateMachineArn)
        if machine["type"] != "EXPRESS":
            raise errors.StateMachineTypeNotSupported("This operation is not supported by this type of state machine")
        test_case = stateMachineArn.split("#", 1)[1] if "#" in stateMachineArn else None
        text, _ = self._input(input)
        name = name if name is not None else str(uuid.uuid4())
        check_name(name)
        arn = express_execution_arn(self.settings.region, self.settings.account, machine["name"], name,
                                    str(uuid.uuid4()))
        execution = await self.express.run(await self._express_runner(machine, arn, name, text, test_case))
        response = _express_record(execution)
        response["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": max(
            100, int(((execution.stop_time or execution.start_time) - execution.start_time).total_seconds() * 1000))}
        response.pop("redriveCount", None)
        return response

    async def describe_execution(self, *, executionArn: str, includedData: str | None = None) -> dict:
        record = await self._execution(executionArn)
        response = {k: record[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate", "input")}
        response["inputDetails"] = {"included": True}
        for key in ("stopDate", "output", "error", "cause", "stateMachineVersionArn", "stateMachineAliasArn",
                    "traceHeader", "mapRunArn", "redriveDate"):
            if record.get(key) is not None:
                response[key] = record[key]
        if "output" in response:
            response["outputDetails"] = {"included": True}
        if record.get("type", "STANDARD") == "STANDARD":
            response["redriveCount"] = record.get("redriveCount", 0)
            response.update(_redrive_status(record))
        return response

    async def describe_state_machine_for_execution(self, *, executionArn: str, includedData: str | None = None) -> dict:
        record = await self._execution(executionArn)
        definition = await self.store.get_definition(record["definitionDigest"]) if "definitionDigest" in record \
            else record.get("definition")
        machine = await self.store.get_resource("state_machine", record["stateMachineArn"]) or {}
        response = {"stateMachineArn": record["stateMachineArn"], "name": record["stateMachineArn"].split(":")[6],
                    "definition": definition, "roleArn": record.get("roleArn", ""),
                    "updateDate": machine.get("updateDate") or machine.get("creationDate") or record["startDate"],
                    "loggingConfiguration": machine.get("loggingConfiguration", LOGGING_DEFAULT),
                    "tracingConfiguration": machine.get("tracingConfiguration", TRACING_DEFAULT),
                    "encryptionConfiguration": machine.get("encryptionConfiguration", ENCRYPTION_DEFAULT)}
        if machine.get("revisionId"):
            response["revisionId"] = machine["revisionId"]
        response.update(_references(definition))
        return response

    async def list_executions(self, *, stateMachineArn: str | None = None, statusFilter: str | None = None,
                              maxResults: int = 0, nextToken: str | None = None, mapRunArn: str | None = None,
                              redriveFilter: str | None = None) -> dict:
        if stateMachineArn is None and mapRunArn is None:
            raise errors.ValidationException("Must provide a StateMachine ARN or MapRun ARN")
        qualifier_key = unqualified = None
        if stateMachineArn is not None:
            parsed = parse_state_machine_arn(stateMachineArn)
            unqualified = parsed.unqualified_arn
            await self._state_machine(unqualified)
            if parsed.version is not None:
                qualifier_key = "stateMachineVersionArn"
            elif parsed.alias is not None:
                qualifier_key = "stateMachineAliasArn"
        redriven = {"REDRIVEN": True, "NOT_REDRIVEN": False}.get(redriveFilter or "")

        def wanted(record: dict) -> bool:
            if qualifier_key is not None and record.get(qualifier_key) != stateMachineArn:
                return False  # the executions of one version or alias
            return redriven is None or (record.get("redriveCount", 0) > 0) == redriven

        page, token = await self.page_of_executions(
            {"state_machine_arn": unqualified, "status": statusFilter, "map_run_arn": mapRunArn}, wanted,
            max_results=maxResults, next_token=nextToken)
        return {"executions": page, **({"nextToken": token} if token else {})}

    async def page_of_executions(self, filters: dict, wanted: Callable[[dict], bool], *, max_results: int,
                                 next_token: str | None) -> tuple[list[dict], str | None]:
        """One page of ListExecutions items (newest first) among the store's executions that match `filters`
        and that `wanted` keeps, and the token of the next page. The store is read a page at a time (more only
        when `wanted` drops some); a token names the last execution returned."""
        start = cursor(max_results, next_token)
        page: list[dict] = []
        after = start.after
        while True:
            records = await self.store.list_executions(**filters, after=after, limit=start.limit + 1)
            for record in records:
                if not wanted(record):
                    continue
                if len(page) == start.limit:
                    return page, encode_token(page[-1]["executionArn"])
                page.append(_execution_item(record))
            if len(records) <= start.limit:
                return page, None
            after = records[-1]["executionArn"]

    async def get_execution_history(self, *, executionArn: str, maxResults: int = 0, reverseOrder: bool = False,
                                    nextToken: str | None = None, includeExecutionData: bool = True) -> dict:
        await self._execution(executionArn)
        limit = maxResults or 100
        after = int(nextToken) if nextToken and nextToken.isdigit() else 0
        if nextToken and not nextToken.isdigit():
            raise errors.InvalidToken("Invalid Token: 'Invalid token'")
        events = await self.store.get_events(executionArn, after=after, limit=limit + 1, reverse=reverseOrder)
        more = len(events) > limit
        events = events[:limit]
        if not includeExecutionData:
            events = [_without_data(event) for event in events]
        response: dict = {"events": events}
        if more:
            response["nextToken"] = str(events[-1]["id"])
        return response

    async def stop_execution(self, *, executionArn: str, error: str | None = None, cause: str | None = None) -> dict:
        record = await self._execution(executionArn)
        now = _now(self.clock)
        if record["status"] != RUNNING:
            return {"stopDate": record.get("stopDate", now)}
        await self.runtime.post(Signal("stop", executionArn, payload=(error, cause)))
        try:  # the stop is durable: it applies whatever happens; the answer does not wait for a slow step
            await self.runtime.wait(executionArn, timeout=STOP_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return {"stopDate": now}
        record = await self.store.get_execution(executionArn)
        return {"stopDate": record.get("stopDate") or now}

    async def redrive_execution(self, *, executionArn: str, clientToken: str | None = None) -> dict:
        record = await self._execution(executionArn)
        if record.get("type", "STANDARD") != "STANDARD" or ":express:" in executionArn:
            raise errors.ExecutionNotRedrivable(f"Execution with arn {executionArn} is an EXPRESS execution and "
                                                "cannot be redriven")
        if record["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
            raise errors.ExecutionNotRedrivable(f"Execution is {record['status']} and cannot be redriven")
        if (_now(self.clock) - record["startDate"]).days >= 14:
            raise errors.ExecutionNotRedrivable("Execution started more than 14 days ago and cannot be redriven")
        if record.get("redriveCount", 0) >= 1000:
            raise errors.ExecutionNotRedrivable("Execution has been redriven 1000 times and cannot be redriven again")
        now = _now(self.clock)
        await self.store.update_execution(executionArn, {"redriveCount": record.get("redriveCount", 0) + 1,
                                                         "redriveDate": now}, status=RUNNING)
        await self.runtime.post(Signal("redrive", executionArn))
        return {"redriveDate": now}

# ---------------------------------------------------------------------- helpers


def _execution_item(record: dict) -> dict:
    """A ListExecutions item."""
    item = {k: record[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate")}
    for key in ("stopDate", "stateMachineVersionArn", "stateMachineAliasArn", "mapRunArn", "redriveDate"):
        if record.get(key) is not None:
            item[key] = record[key]
    item["redriveCount"] = record.get("redriveCount", 0)
    return item


_ROLE_ARN = re.compile(r"arn:[a-z-]+:iam::\d+:role/\S+")


def _check_role(role_arn: str) -> None:
    """AWS's InvalidArn for a roleArn that does not name an IAM role."""
    if not _ROLE_ARN.fullmatch(role_arn):
        raise errors.InvalidArn(f"Invalid Role Arn: '{role_arn}'")


def _describe_machine(record: dict) -> dict:
    response = {k: record[k] for k in ("stateMachineArn", "name", "status", "definition", "roleArn", "type",
                                       "creationDate", "loggingConfiguration", "tracingConfiguration")
                if k in record}
    for key in ("revisionId", "description", "encryptionConfiguration"):
        if record.get(key) is not None:
            response[key] = record[key]
    response.update(_references(record["definition"]))
    return response


def _references(definition: str) -> dict:
    references = variable_references(loads(definition))
    return {"variableReferences": references} if references else {}


def _express_record(execution: Execution) -> dict:
    record = {"executionArn": execution.execution_arn, "stateMachineArn": execution.machine_context["Id"],
              "name": execution.execution_context["Name"], "status": execution.status,
              "startDate": execution.start_time, "input": dumps(execution.input),
              "inputDetails": {"included": True}}
    if execution.stop_time is not None:
        record["stopDate"] = execution.stop_time
    if execution.output_text is not None:
        record["output"] = execution.output_text
        record["outputDetails"] = {"included": True}
    if execution.error is not None:
        record["error"] = execution.error
    if execution.cause is not None:
        record["cause"] = execution.cause
    return record


def _redrive_status(record: dict) -> dict:
    status = record["status"]
    if status in ("FAILED", "TIMED_OUT", "ABORTED"):
        return {"redriveStatus": "REDRIVABLE"}
    if status == RUNNING:
        return {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": "Execution is RUNNING and cannot be redriven"}
    return {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": "Execution is SUCCEEDED and cannot be redriven"}


def _without_data(event: dict) -> dict:
    """GetExecutionHistory with includeExecutionData false: no input, output or parameters."""
    stripped = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ("input", "output", "parameters")}
        stripped[key] = value
    return stripped
