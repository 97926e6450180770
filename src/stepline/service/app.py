"""The application layer: one method per Step Functions API action. The API server, the CLI and the console
all call these; none of them re-implements what happens here.

Methods take the action's request members as keyword arguments (AWS's names) and return the response
members (datetimes as aware datetimes), or raise an ApiError.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore import xform_name

from stepline.cfn import Stack, read_stacks
from stepline.engine.interpreter import RUNNING, Execution
from stepline.engine.program import Program, compile_definition
from stepline.engine.resources import describe_resource
from stepline.errors import DefinitionError, Diagnostic
from stepline.jsonvalue import JSON, dumps, loads, too_deep
from stepline.runtime.clock import clock_for
from stepline.runtime.execution_logs import ExecutionLogs, configuration_problem
from stepline.runtime.integrations.aws import AwsClients
from stepline.runtime.integrations.aws.errors import client_error
from stepline.runtime.integrations.lambda_local import LocalFunctions
from stepline.runtime.integrations.lambda_process import ProcessFunctions, ServedFunction
from stepline.runtime.integrations.lambda_remote import RemoteFunctions
from stepline.runtime.integrations.mock_config import MockConfig, MockConfigError
from stepline.runtime.integrations.registry import Integration, Integrations, TaskCall
from stepline.runtime.integrations.routes import Routes, load_routes
from stepline.runtime.integrations.served import remote_integrations
from stepline.runtime.integrations.states import NestedExecutions, RemoteExecutions
from stepline.runtime.map_runs import MapRuns
from stepline.runtime.metrics import Metrics
from stepline.runtime.runner import ExecutionRunner, ExpressRuns
from stepline.runtime.store.base import Store
from stepline.runtime.store.records import (
    ALIASES,
    MAP_RUN_EXPRESS_CHILDREN,
    STATE_MACHINES,
    VERSIONS,
    AliasRecord,
    ExecutionRecord,
    StateMachineRecord,
)
from stepline.runtime.store.sqlite import SqliteStore
from stepline.runtime.signals import Signal
from stepline.runtime.worker import Runtime
from stepline.service import errors, shapes
from stepline.service.compat import SFN_LOCAL, sfn_local_event
from stepline.service.arns import (
    check_name,
    check_role_arn,
    execution_arn,
    express_execution_arn,
    not_in_context,
    parse_execution_arn,
    parse_state_machine_arn,
    state_machine_arn,
)
from stepline.service.activities import ActivityActions, check_tag_count
from stepline.service.console import ConsoleMethods
from stepline.service.metrics import MetricsMethods
from stepline.service.definitions import create_error_message, task_resources, validate_definition
from stepline.service.map_runs import ExpressChildren, MapRunActions, StoredChildren
from stepline.service.paging import cursor, decode_token, encode_token, paginate
from stepline.service.settings import Settings
from stepline.service.schedules import Schedules
from stepline.service.templates import apply_stack
from stepline.service.watch import TemplateWatch
from stepline.service.shapes import (ENCRYPTION_DEFAULT, LOGGING_DEFAULT, REDRIVABLE_DAYS, TOO_DEEP, TRACING_DEFAULT,
                                     check_encryption, json_problem)
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


class StepFunctionsService(ActivityActions, MapRunActions, ConsoleMethods, MetricsMethods):
    """Step Functions, backed by a store and a durable runtime."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.store: Store = store  # type: ignore[assignment]  # opened by start() when not given
        self.settings = settings
        self.clock = clock_for(settings.time_scale)
        # a Lambda function that no local function serves is called on AWS Lambda (or its configured endpoint)
        self.functions = LocalFunctions(account=settings.account, region=settings.region, only_registered=True)
        for module in settings.functions:
            self.functions.load_module(module)
        self.mock_config = MockConfig.load(settings.mock_config) if settings.mock_config else None
        self.remote_functions = RemoteFunctions(settings.lambda_endpoint, account=settings.account,
                                                region=settings.region) if settings.lambda_endpoint else None
        # the templates' Python functions, each in processes of its own; read (and refused) before anything starts
        self.template_functions = ProcessFunctions()
        self.stacks: list[Stack] = read_stacks(
            [Path(t) for t in settings.templates], region=settings.region, account=settings.account,
            overrides=dict(settings.parameter_overrides), stack_name=settings.stack_name) \
            if settings.templates else []
        endpoint = settings.step_functions_endpoint
        self.aws_clients = AwsClients(assume_role=settings.assume_role, region=settings.region)
        here = ExecutionsHere(self)
        self.nested = NestedExecutions((lambda call: RemoteExecutions(self.aws_clients, call)) if endpoint
                                       else (lambda call: here))
        self.remote = remote_integrations(self.aws_clients, connections=settings.connections,
                                          job_poll_seconds=settings.job_poll_seconds,
                                          local={} if endpoint else {"stepfunctions": self._step_functions})
        # what answers the Tasks that no mock or route decides, in order (a --lambda-endpoint serves every Lambda
        # function the templates do not)
        # a distributed Map's runs: STANDARD children in the store, EXPRESS ones in memory (service/map_runs.py)
        self.map_runs = MapRuns(self._children_for, self.aws_clients, poll_seconds=settings.poll_seconds)
        self.served = Integrations([self.map_runs, self.template_functions,
                                    *([self.remote_functions] if self.remote_functions is not None else []),
                                    self.functions, self.nested, *self.remote])
        routes = load_routes(settings.routes) if settings.routes else []
        self.routed = Routes(routes, self.functions, self.served) if routes else None
        self._programs: dict[tuple[str, str], Program] = {}
        self.express = ExpressRuns(express_record)
        self._stored_children: StoredChildren | None = None
        self._express_children: ExpressChildren | None = None
        self.metrics = Metrics()  # of this service alone (several may run in one process)
        self.runtime: Runtime = None  # type: ignore[assignment]  # made by start()
        self.execution_logs: ExecutionLogs = None  # type: ignore[assignment]  # made by start()
        self.schedules: Schedules = None  # type: ignore[assignment]  # made by start()
        self._watch: asyncio.Task[None] | None = None  # --watch

    async def start(self, *, worker: bool = True) -> None:
        """Open the store, join its workers (`worker`: a command that only reads does not), and register the
        workflows of `settings.register`."""
        if self.store is None:
            self.store = await open_store(self.settings.db, pool_size=self.settings.pool_size)
        await self.remote.open()
        self.execution_logs = ExecutionLogs.configured(self.store, log_dir=self.settings.log_dir,
                                                       clients=self.aws_clients)
        await self.execution_logs.start()
        self.runtime = Runtime(self.store, clock=self.clock, programs=self._program,
                               integrations=self._integrations_for, worker=self.settings.worker_name,
                               lease_seconds=self.settings.lease_seconds, poll_seconds=self.settings.poll_seconds,
                               limits=self.settings.limits, retention_days=self.settings.retention_days,
                               committed=self.execution_logs.submit, metrics=self.metrics,
                               fire_schedule=lambda timer: self.schedules.fire(timer))
        self.schedules = Schedules(self.store, clock=self.clock, actions=self, region=self.settings.region,
                                   account=self.settings.account, arm=self.runtime.timers.arm)
        for path in sorted(Path(self.settings.register).glob("*.asl.json")) if self.settings.register else ():
            await self._register(path)
        for stack in self.stacks:
            await self.apply_template(stack)
        if worker:  # once the templates are applied: a virtual clock must not pass a schedule not yet applied
            await self.runtime.start()
        if self.settings.watch and self.settings.templates:
            self._watch = asyncio.create_task(TemplateWatch(self).run(), name="stepline-template-watch")

    async def apply_template(self, stack: Stack) -> list[str]:
        """Serve the stack's Python functions and create or update its resources (service/templates.py); what
        was done, a line per resource."""
        for f in stack.functions:
            self.template_functions.serve(ServedFunction(f.name, f.arn, f.code, f.handler, f.environment, f.timeout,
                                                         f.memory, self.settings.region))
        return [*await apply_stack(self, stack), *await self.schedules.apply(stack.path, stack.schedules)]

    async def _register(self, path: Path) -> None:
        await self.register(path.name.split(".")[0], path.read_text(encoding="utf-8"))

    async def register(self, name: str, definition: str) -> str:
        """Create the state machine `name` with this definition, or update it to this definition; its ARN."""
        arn = state_machine_arn(self.settings.region, self.settings.account, name)
        role = f"arn:aws:iam::{self.settings.account}:role/stepline"
        if await self.store.get_resource(STATE_MACHINES, arn) is None:
            await self.create_state_machine(name=name, definition=definition, roleArn=role)
        else:
            await self.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn

    async def find_execution(self, reference: str) -> str:
        """An execution's ARN from its ARN or its name (ExecutionDoesNotExist when none or several match)."""
        if reference.startswith("arn:"):
            return (await self._execution(reference)).arn
        matches = [r.arn for r in await self.store.list_executions(name=reference)]
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
        if self._watch is not None:
            self._watch.cancel()
        await self.express.close()
        await self.runtime.close()
        if self.execution_logs is not None:
            await self.execution_logs.close()
        await self.store.close()
        await self.remote.close()
        await self.aws_clients.close()
        await self.template_functions.close()

    # ------------------------------------------------------------------ shared helpers

    def _log_express(self, execution: Execution, events: list[dict]) -> None:
        """An Express execution recorded these events: to its execution logs (its only history, as on AWS)."""
        if self.execution_logs is not None:
            self.execution_logs.submit(execution, events)

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

    def _children_for(self, call: TaskCall, execution_type: str) -> StoredChildren | ExpressChildren:
        """Where a Map Run's children run (made on first use: the store is open by then). An Express parent's live
        in memory as it does, whatever their type."""
        if execution_type == "EXPRESS" or ":express:" in call.execution_arn:
            if self._express_children is None:
                self._express_children = ExpressChildren(self)
            return self._express_children
        if self._stored_children is None:
            self._stored_children = StoredChildren(self)
        return self._stored_children

    def _integrations_for(self, record: ExecutionRecord | None) -> Integrations:
        chain: list[Integration] = []
        if record is not None and record.test_case and self.mock_config is not None:
            try:
                chain.append(self.mock_config.test_case(record.state_machine_name, record.test_case))
            except MockConfigError:
                pass
        if self.routed is not None:
            chain.append(self.routed)
        return Integrations([*chain, *self.served])

    async def _step_functions(self, operation: str, request: dict) -> dict:
        """This stepline's Step Functions for its own aws-sdk:sfn:* Tasks: an action called as the API calls it,
        failing as botocore does (ClientError)."""
        try:
            return await getattr(self, xform_name(operation))(**request)
        except errors.ApiError as error:
            raise client_error(error, operation) from None

    def unserved_tasks(self, definition: str | dict) -> list[Diagnostic]:
        """A warning for each Task whose resource no integration of this configuration serves (mocks aside)."""
        integrations = self._integrations_for(None)
        warnings = []
        for location, arn, parameters in task_resources(definition):
            call = TaskCall(resource=describe_resource(arn, self.settings.region), parameters=parameters,
                            state_name=location.split("/")[-2], invocation=0, idempotency_key="",
                            execution_arn=execution_arn(self.settings.region, self.settings.account, "design", "x"))
            if not integrations.handles(call):
                warnings.append(Diagnostic("NO_INTEGRATION", f"No integration of this stepline serves the resource "
                                                             f"'{arn}': register a local function (--functions), "
                                                             "mock it, route it (--routes) or configure its endpoint",
                                           location, "WARNING"))
        return warnings

    async def _check_logging(self, configuration: dict | None) -> None:
        """AWS's InvalidLoggingConfiguration for a configuration that cannot log as asked, or whose log group
        does not exist (when CloudWatch Logs can tell)."""
        if configuration is None:
            return
        problem = configuration_problem(configuration) or await self.execution_logs.destination_problem(configuration)
        if problem is not None:
            raise errors.InvalidLoggingConfiguration(problem)

    async def _state_machine(self, arn: str) -> StateMachineRecord:
        """The state machine an action on a state machine names; a version or alias ARN names none (AWS,
        recorded: UpdateStateMachine on a version is StateMachineDoesNotExist)."""
        parsed = parse_state_machine_arn(arn.split("#")[0])
        record = None
        if parsed.version is None and parsed.alias is None:
            record = await self.store.get_resource(STATE_MACHINES, parsed.unqualified_arn)
        if record is None:
            raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return record

    async def _execution(self, arn: str) -> ExecutionRecord:
        parsed = parse_execution_arn(arn)
        record = await self.store.get_execution(arn) or self.express.get(arn)
        if record is None and parsed.express_id is not None and parsed.map_label is not None:
            record = await self.store.get_resource(MAP_RUN_EXPRESS_CHILDREN, arn)  # a Map Run's, once it ended
        if record is None:
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return record

    # ------------------------------------------------------------------ state machines

    async def create_state_machine(self, *, name: str, definition: str, roleArn: str, type: str = "STANDARD",
                                   loggingConfiguration: dict | None = None, tags: list | None = None,
                                   tracingConfiguration: dict | None = None, publish: bool = False,
                                   versionDescription: str | None = None,
                                   encryptionConfiguration: dict | None = None) -> dict:
        check_name(name)
        check_role_arn(roleArn)
        await self._check_logging(loggingConfiguration)
        check_encryption(encryptionConfiguration)
        if versionDescription is not None and not publish:
            raise errors.ValidationException("Version description can only be set when publish is true")
        check_tag_count(tags or [])
        digest, _ = await self._compile(definition, type)
        arn = state_machine_arn(self.settings.region, self.settings.account, name)
        now = _now(self.clock)
        record = StateMachineRecord(
            arn=arn, name=name, definition=definition, definition_digest=digest, role_arn=roleArn, type=type,
            creation_date=now, logging_configuration=loggingConfiguration or LOGGING_DEFAULT,
            tracing_configuration=tracingConfiguration or TRACING_DEFAULT,
            encryption_configuration=encryptionConfiguration or ENCRYPTION_DEFAULT)
        await self.store.put_definition(digest, definition)
        if not await self.store.create_resource(STATE_MACHINES, record):
            # AWS: idempotent on the name, definition, type and the logging, tracing and encryption configurations;
            # a different roleArn or tags are ignored, and not applied
            existing = await self.store.get_resource(STATE_MACHINES, arn)
            if not (isinstance(existing, StateMachineRecord) and _versioned(existing) == _versioned(record)):
                raise errors.StateMachineAlreadyExists(f"State Machine Already Exists: '{arn}'")
            response = {"stateMachineArn": arn, "creationDate": existing.creation_date}
        else:
            response = {"stateMachineArn": arn, "creationDate": now}
            self.execution_logs.configure(arn, record.logging_configuration)
            if tags:
                await self.tag_resource(resourceArn=arn, tags=tags)
        if publish:
            version = await self.publish_state_machine_version(stateMachineArn=arn, description=versionDescription)
            response["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return response

    async def describe_state_machine(self, *, stateMachineArn: str, includedData: str | None = None) -> dict:
        parsed = parse_state_machine_arn(stateMachineArn)
        if parsed.version is None and parsed.alias is None:
            return shapes.state_machine(await self._state_machine(stateMachineArn))
        return await self._describe_qualified(stateMachineArn, parsed)

    async def _describe_qualified(self, arn: str, parsed: Any) -> dict:
        if parsed.version is not None:
            return shapes.state_machine(await self._version(arn))
        alias = await self.store.get_resource(ALIASES, arn)
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
            check_role_arn(roleArn)
        await self._check_logging(loggingConfiguration)
        check_encryption(encryptionConfiguration)
        if versionDescription is not None and not publish:
            raise errors.ValidationException("Version description can only be set when publish is true")
        if all(v is None for v in (definition, roleArn, loggingConfiguration, tracingConfiguration,
                                   encryptionConfiguration)) and not publish:
            raise errors.MissingRequiredParameter(  # recorded from AWS
                "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be "
                "specified")
        changes: dict[str, Any] = {}
        if definition is not None and definition != record.definition:
            digest, _ = await self._compile(definition, record.type)
            await self.store.put_definition(digest, definition)
            changes.update(definition=definition, definition_digest=digest)
        for key, value in (("role_arn", roleArn), ("logging_configuration", loggingConfiguration),
                           ("tracing_configuration", tracingConfiguration),
                           ("encryption_configuration", encryptionConfiguration)):
            if value is not None and getattr(record, key) != value:
                changes[key] = value
        now = _now(self.clock)
        if changes or record.revision_id is None:
            changes.update(revision_id=str(uuid.uuid4()), update_date=now)
        record = record.but(**changes)
        await self.store.put_resource(STATE_MACHINES, record)
        self.execution_logs.configure(record.arn, record.logging_configuration)
        response = {"updateDate": record.update_date or now, "revisionId": record.revision_id}
        if publish:
            version = await self.publish_state_machine_version(stateMachineArn=record.arn,
                                                               description=versionDescription)
            response["stateMachineVersionArn"] = version["stateMachineVersionArn"]
        return response

    async def delete_state_machine(self, *, stateMachineArn: str) -> dict:
        parse_state_machine_arn(stateMachineArn, qualified=False)
        await self.store.delete_resource(STATE_MACHINES, stateMachineArn)
        self.execution_logs.configure(stateMachineArn, None)
        for version in await self.store.list_resources(VERSIONS, parent=stateMachineArn):
            await self.store.delete_resource(VERSIONS, version.arn)
        for alias in await self.store.list_resources(ALIASES, parent=stateMachineArn):
            await self.store.delete_resource(ALIASES, alias.arn)
        return {}

    async def list_state_machines(self, *, maxResults: int = 0, nextToken: str | None = None) -> dict:
        page, token = paginate(await self.store.list_resources(STATE_MACHINES), key=lambda m: m.arn,
                               max_results=maxResults, next_token=nextToken, scope="ListStateMachines")
        return {"stateMachines": [{"stateMachineArn": m.arn, "name": m.name, "type": m.type,
                                   "creationDate": m.creation_date} for m in page],
                **({"nextToken": token} if token else {})}

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
        current = record.revision_id
        # AWS: "INITIAL" names the revision of a state machine that has none assigned yet
        if revisionId is not None and revisionId != (current or "INITIAL"):
            raise errors.ConflictException(f"Failed to publish the State Machine version for revision {revisionId}. "
                                           f"The current State Machine revision is {current}.")
        # idempotent per revision: an update that changed anything versioned (definition, role, logging, tracing,
        # encryption) made a new revision, which publishes a new version. A state machine never updated has no
        # revision (AWS, recorded: no revisionId in DescribeStateMachine after CreateStateMachine with publish); its
        # first update makes one even when nothing changed, so a version published before that is the current
        # revision's when nothing versioned differs
        versions = await self.store.list_resources(VERSIONS, parent=record.arn)
        for published in versions:
            if published.revision_id == current or (published.revision_id is None and published is versions[-1]
                                                    and _versioned(published) == _versioned(record)):
                return {"creationDate": published.creation_date, "stateMachineVersionArn": published.arn}
        number = record.versions + 1
        record = record.but(versions=number)
        version = record.but(arn=f"{record.arn}:{number}", creation_date=_now(self.clock), version_number=number,
                             description=description)
        await self.store.put_resource(STATE_MACHINES, record)
        await self.store.create_resource(VERSIONS, version, parent=record.arn)
        return {"creationDate": version.creation_date, "stateMachineVersionArn": version.arn}

    async def list_state_machine_versions(self, *, stateMachineArn: str, nextToken: str | None = None,
                                          maxResults: int = 0) -> dict:
        record = await self._state_machine(stateMachineArn)
        versions = await self.store.list_resources(VERSIONS, parent=record.arn)
        page, token = paginate(versions[::-1], key=lambda v: f"{v.version_number:>12}", max_results=maxResults,
                               next_token=nextToken, scope=f"ListStateMachineVersions/{record.arn}")
        return {"stateMachineVersions": [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
                                         for v in page], **({"nextToken": token} if token else {})}

    async def delete_state_machine_version(self, *, stateMachineVersionArn: str) -> dict:
        if parse_state_machine_arn(stateMachineVersionArn).version is None:
            raise errors.ValidationException(f"Invalid Arn: 'Invalid version ARN: {stateMachineVersionArn}'")
        base = stateMachineVersionArn.rsplit(":", 1)[0]
        referencing = [alias.name for alias in await self.store.list_resources(ALIASES, parent=base)
                       if any(r["stateMachineVersionArn"] == stateMachineVersionArn
                              for r in alias.routing_configuration)]
        if referencing:
            raise errors.ConflictException(
                "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this "
                f"version: [{', '.join(referencing)}]")
        await self.store.delete_resource(VERSIONS, stateMachineVersionArn)
        return {}

    # ------------------------------------------------------------------ aliases

    async def create_state_machine_alias(self, *, name: str, routingConfiguration: list,
                                         description: str | None = None) -> dict:
        base = await self._check_routing(routingConfiguration)
        arn = f"{base}:{name}"
        now = _now(self.clock)
        record = AliasRecord(arn=arn, name=name, routing_configuration=routingConfiguration, creation_date=now,
                             update_date=now, description=description)
        if not await self.store.create_resource(ALIASES, record, parent=base):
            existing = await self._alias(arn)
            if (existing.routing_configuration, existing.description) != (routingConfiguration, description):
                raise errors.ConflictException("Failed to create alias because an alias with the same name and a "
                                               "different routing configuration already exists.")
            return {"stateMachineAliasArn": arn, "creationDate": existing.creation_date}
        return {"stateMachineAliasArn": arn, "creationDate": now}

    async def _check_routing(self, routing: list) -> str:
        """The state machine whose versions an alias routes to, after AWS's checks in AWS's order and words
        (recorded: distinct versions, then the weights' sum, then version ARNs that exist)."""
        arns = [r["stateMachineVersionArn"] for r in routing]
        received = f"Received: [{', '.join(arns)}]"
        if len(set(arns)) < len(arns):
            raise errors.ValidationException(f"Routing configuration must contain distinct state machine version ARNs. "
                                             f"{received}")
        weights = [r["weight"] for r in routing]
        if sum(weights) != 100:
            raise errors.ValidationException(f"Sum of routing configuration weights must equal 100. "
                                             f"Received: [{', '.join(map(str, weights))}]")
        bases = set()
        for arn in arns:
            if parse_state_machine_arn(arn).version is None:
                raise errors.ValidationException(f"Routing configuration must contain state machine version ARNs. "
                                                 f"{received}")
            bases.add(arn.rsplit(":", 1)[0])
            if await self.store.get_resource(VERSIONS, arn) is None:
                raise errors.ResourceNotFound(f"Resource not found: '{arn}'")
        if len(bases) != 1:
            raise errors.ValidationException("Routing configuration must contain versions of the same state machine")
        return bases.pop()

    async def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict:
        parse_state_machine_arn(stateMachineAliasArn)
        return shapes.alias(await self._alias(stateMachineAliasArn))

    async def _alias(self, arn: str) -> AliasRecord:
        record = await self.store.get_resource(ALIASES, arn)
        if not isinstance(record, AliasRecord):
            raise errors.ResourceNotFound("Request references a resource that does not exist.")
        return record

    async def update_state_machine_alias(self, *, stateMachineAliasArn: str, description: str | None = None,
                                         routingConfiguration: list | None = None) -> dict:
        parse_state_machine_arn(stateMachineAliasArn)
        if description is None and routingConfiguration is None:
            raise errors.MissingRequiredParameter("Either the description or the RoutingConfiguration must be "
                                                  "specified")
        if routingConfiguration is not None:
            await self._check_routing(routingConfiguration)
        record = await self._alias(stateMachineAliasArn)
        if routingConfiguration is not None:
            record = record.but(routing_configuration=routingConfiguration)
        if description is not None:
            record = record.but(description=description)
        record = record.but(update_date=_now(self.clock))
        await self.store.put_resource(ALIASES, record, parent=stateMachineAliasArn.rsplit(":", 1)[0])
        return {"updateDate": record.update_date}

    async def delete_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict:
        parse_state_machine_arn(stateMachineAliasArn)
        await self.store.delete_resource(ALIASES, stateMachineAliasArn)
        return {}

    async def list_state_machine_aliases(self, *, stateMachineArn: str, nextToken: str | None = None,
                                         maxResults: int = 0) -> dict:
        record = await self._state_machine(stateMachineArn)
        page, token = paginate(await self.store.list_resources(ALIASES, parent=record.arn), key=lambda a: a.arn,
                               max_results=maxResults, next_token=nextToken,
                               scope=f"ListStateMachineAliases/{record.arn}")
        return {"stateMachineAliases": [{"stateMachineAliasArn": a.arn, "creationDate": a.creation_date}
                                        for a in page], **({"nextToken": token} if token else {})}

    # ------------------------------------------------------------------ executions

    async def _version(self, arn: str) -> StateMachineRecord:
        version = await self.store.get_resource(VERSIONS, arn)
        if not isinstance(version, StateMachineRecord):
            raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return version

    async def _resolve_target(self, arn: str) -> tuple[StateMachineRecord, str | None, str | None]:
        """What a StartExecution target runs (the state machine, or a version of it, under the state machine's
        ARN), and the version and alias it was started through."""
        target = arn.split("#")[0]
        parsed = parse_state_machine_arn(target)
        base = parsed.unqualified_arn
        record = await self._state_machine(base)
        if parsed.version is not None:
            return (await self._version(target)).but(arn=base), target, None
        if parsed.alias is None:
            return record, None, None
        alias = await self.store.get_resource(ALIASES, target)
        if not isinstance(alias, AliasRecord):
            raise errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        pick, total = self.clock.now().microsecond % 100, 0
        chosen = alias.routing_configuration[-1]["stateMachineVersionArn"]
        for route in alias.routing_configuration:
            total += route["weight"]
            if pick < total:
                chosen = route["stateMachineVersionArn"]
                break
        return (await self._version(chosen)).but(arn=base), chosen, alias.arn

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
        machine, version_arn, alias_arn = await self._resolve_target(stateMachineArn)
        record = self._new_execution(machine, stateMachineArn, name, input, traceHeader, version_arn, alias_arn)
        started = {"executionArn": record.arn, "startDate": record.start_date}
        if record.type == "EXPRESS":
            self.express.start(await self._express_runner(record))
            return started
        existing = await self.runtime.create(record)
        if existing is not None:
            if existing.status == RUNNING and existing.input == record.input:
                return {"executionArn": record.arn, "startDate": existing.start_date}
            raise errors.ExecutionAlreadyExists(f"Execution Already Exists: '{record.arn}'")
        return started

    def _new_execution(self, machine: StateMachineRecord, target: str, name: str | None, input: str | None,
                       trace_header: str | None, version_arn: str | None = None,
                       alias_arn: str | None = None) -> ExecutionRecord:
        """The record of an execution that StartExecution or StartSyncExecution starts now (its name and input
        checked; an Express one's ARN made unique)."""
        text, _ = self._input(input)
        name = name if name is not None else str(uuid.uuid4())
        check_name(name)
        arn = express_execution_arn(self.settings.region, self.settings.account, machine.name, name,
                                    str(uuid.uuid4())) if machine.type == "EXPRESS" else \
            execution_arn(self.settings.region, self.settings.account, machine.name, name)
        return ExecutionRecord(arn=arn, state_machine_arn=machine.arn, name=name, status=RUNNING,
                               start_date=_now(self.clock), input=text, role_arn=machine.role_arn,
                               definition_digest=machine.definition_digest, type=machine.type,
                               version_arn=version_arn, alias_arn=alias_arn, test_case=_test_case(target),
                               trace_header=trace_header)

    async def _express_runner(self, record: ExecutionRecord) -> ExecutionRunner:
        program = await self._program(record.definition_digest, "EXPRESS")
        execution = Execution(program, input=loads(record.input), execution_arn=record.arn, name=record.name,
                              state_machine_arn=record.state_machine_arn, state_machine_name=record.state_machine_name,
                              role_arn=record.role_arn, start_time=record.start_date, seed=record.arn,
                              region=self.settings.region, redrive_count=None, limits=self.settings.limits)
        return ExecutionRunner(execution, self._integrations_for(record), self.clock,
                               timeout_seconds=min(program.timeout_seconds or 300, 300), off_loop=True,
                               recorded=self._log_express, metrics=self.metrics)

    async def start_sync_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                                   traceHeader: str | None = None, includedData: str | None = None) -> dict:
        machine, _, _ = await self._resolve_target(stateMachineArn)
        if machine.type != "EXPRESS":
            raise errors.StateMachineTypeNotSupported("This operation is not supported by this type of state machine")
        record = self._new_execution(machine, stateMachineArn, name, input, traceHeader)
        execution = await self.express.run(await self._express_runner(record))
        response = shapes.execution(express_record(execution), self.redrivable_since())
        response["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": max(
            100, int(((execution.stop_time or execution.start_time) - execution.start_time).total_seconds() * 1000))}
        return response

    async def describe_execution(self, *, executionArn: str, includedData: str | None = None) -> dict:
        parsed = parse_execution_arn(executionArn)
        if parsed.express_id is not None and parsed.map_label is None:
            raise not_in_context("express")  # AWS: an Express execution only when a Map Run dispatched it
        return await self.execution(executionArn)

    async def execution(self, arn: str) -> dict:
        """DescribeExecution's answer for any execution, Express ones included: for what follows an Express
        execution inside stepline (a nested execution's parent, the console), where the action refuses them."""
        return shapes.execution(await self._execution(arn), self.redrivable_since())

    def redrivable_since(self) -> datetime:
        """The earliest end of an execution that RedriveExecution takes now: 14 days ago (AWS's redrivable period),
        or the retention's cut-off when it is shorter (the purge may be deleting those that closed before it)."""
        days = min(REDRIVABLE_DAYS, self.settings.retention_days or REDRIVABLE_DAYS)
        return _now(self.clock) - timedelta(days=days)

    async def wait_for_execution(self, arn: str) -> None:
        """Until the execution has ended (a nested execution's parent waits so)."""
        if not await self.express.wait(arn):
            await self.runtime.wait(arn)

    async def describe_state_machine_for_execution(self, *, executionArn: str, includedData: str | None = None) -> dict:
        parse_execution_arn(executionArn, express=False)
        return await self.machine_of_execution(executionArn)

    async def machine_of_execution(self, arn: str) -> dict:
        """DescribeStateMachineForExecution's answer for any execution, Express ones included (the console)."""
        record = await self._execution(arn)
        definition = await self.store.get_definition(record.definition_digest) or ""
        machine = await self.store.get_resource(STATE_MACHINES, record.state_machine_arn)
        return shapes.machine_of_execution(record, definition, machine
                                           if isinstance(machine, StateMachineRecord) else None)

    async def list_executions(self, *, stateMachineArn: str | None = None, statusFilter: str | None = None,
                              maxResults: int = 0, nextToken: str | None = None, mapRunArn: str | None = None,
                              redriveFilter: str | None = None) -> dict:
        if stateMachineArn is None and mapRunArn is None:
            raise errors.ValidationException("Must provide a StateMachine ARN or MapRun ARN")
        qualifier_key = unqualified = None
        if stateMachineArn is not None:
            parsed = parse_state_machine_arn(stateMachineArn)
            unqualified = parsed.unqualified_arn
            if (await self._state_machine(unqualified)).type == "EXPRESS":
                raise errors.StateMachineTypeNotSupported("This operation is not supported by this type of state "
                                                          "machine")
            if parsed.version is not None:
                qualifier_key = "version_arn"
            elif parsed.alias is not None:
                qualifier_key = "alias_arn"
        redriven = {"REDRIVEN": True, "NOT_REDRIVEN": False}.get(redriveFilter or "")

        def wanted(record: ExecutionRecord) -> bool:
            if qualifier_key is not None and getattr(record, qualifier_key) != stateMachineArn:
                return False  # the executions of one version or alias
            return redriven is None or (record.redrive_count > 0) == redriven

        page, token = await self.page_of_executions(
            {"state_machine_arn": unqualified, "status": statusFilter, "map_run_arn": mapRunArn}, wanted,
            max_results=maxResults, next_token=nextToken,
            scope=f"ListExecutions/{stateMachineArn}/{mapRunArn}/{statusFilter}/{redriveFilter}")
        return {"executions": page, **({"nextToken": token} if token else {})}

    async def page_of_executions(self, filters: dict, wanted: Callable[[ExecutionRecord], bool], *, max_results: int,
                                 next_token: str | None, scope: str) -> tuple[list[dict], str | None]:
        """One page of ListExecutions items (newest first) among the store's executions that match `filters`
        and that `wanted` keeps, and the token of the next page. The store is read a page at a time (more only
        when `wanted` drops some); a token names the last execution returned, and serves only the query `scope`
        names (a token reused with other filters is InvalidToken, as AWS answers it)."""
        start = cursor(max_results, next_token, scope=scope)
        page: list[dict] = []
        after = start.after
        while True:
            records = await self.store.list_executions(**filters, after=after, limit=start.limit + 1)
            for record in records:
                if not wanted(record):
                    continue
                if len(page) == start.limit:
                    return page, encode_token(page[-1]["executionArn"], scope=scope)
                page.append(shapes.execution_item(record))
            if len(records) <= start.limit:
                return page, None
            after = records[-1].arn

    async def get_execution_history(self, *, executionArn: str, maxResults: int = 0, reverseOrder: bool = False,
                                    nextToken: str | None = None, includeExecutionData: bool = True) -> dict:
        parse_execution_arn(executionArn, express=False)
        await self._execution(executionArn)
        limit = maxResults or 100
        scope = f"GetExecutionHistory/{executionArn}/{reverseOrder}"
        after = int(decode_token(nextToken, scope=scope)) if nextToken else 0
        events = await self.store.get_events(executionArn, after=after, limit=limit + 1, reverse=reverseOrder)
        more = len(events) > limit
        events = events[:limit]
        if not includeExecutionData:
            events = [_without_data(event) for event in events]
        if self.settings.compat == SFN_LOCAL:
            events = [sfn_local_event(event) for event in events]
        response: dict = {"events": events}
        if more:
            response["nextToken"] = encode_token(str(events[-1]["id"]), scope=scope)
        return response

    async def stop_execution(self, *, executionArn: str, error: str | None = None, cause: str | None = None) -> dict:
        parse_execution_arn(executionArn, express=False)
        record = await self._execution(executionArn)
        now = _now(self.clock)
        if record.status != RUNNING:
            return {"stopDate": record.stop_date or now}
        await self.runtime.post(Signal("stop", executionArn, payload=(error, cause)))
        try:  # the stop is durable: it applies whatever happens; the answer does not wait for a slow step
            await self.runtime.wait(executionArn, timeout=STOP_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return {"stopDate": now}
        stopped = await self.store.get_execution(executionArn)
        return {"stopDate": (stopped.stop_date if stopped is not None else None) or now}

    async def redrive_execution(self, *, executionArn: str, clientToken: str | None = None) -> dict:
        parse_execution_arn(executionArn, express=False)
        record = await self._execution(executionArn)
        now = _now(self.clock)
        refusal = shapes.redrive_refusal(record, self.redrivable_since())
        if refusal is not None:
            raise errors.ExecutionNotRedrivable(refusal)
        await self.store.update_execution(executionArn, {"redriveCount": record.redrive_count + 1,
                                                         "redriveDate": now}, status=RUNNING)
        await self.runtime.post(Signal("redrive", executionArn))
        return {"redriveDate": now}

class ExecutionsHere:
    """The Executions (runtime/integrations/states.py) a nested execution's parent follows its child through on
    this stepline: StartExecution as the API starts it, but the child described and stopped whatever its type,
    where DescribeExecution and StopExecution refuse an Express execution's ARN (as AWS's do)."""

    def __init__(self, service: StepFunctionsService) -> None:
        self._service = service

    async def start_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                              traceHeader: str | None = None) -> dict:
        return await self._service.start_execution(stateMachineArn=stateMachineArn, name=name, input=input,
                                                   traceHeader=traceHeader)

    async def describe_execution(self, *, executionArn: str) -> dict:
        return await self._service.execution(executionArn)

    async def stop_execution(self, *, executionArn: str, error: str | None = None, cause: str | None = None) -> dict:
        if parse_execution_arn(executionArn).express_id is not None:
            return {}  # nothing stops an Express execution (AWS has no action for it): it runs to its end
        return await self._service.stop_execution(executionArn=executionArn, error=error, cause=cause)

    async def wait_for_execution(self, arn: str) -> None:
        await self._service.wait_for_execution(arn)


# ---------------------------------------------------------------------- helpers


def express_record(execution: Execution) -> ExecutionRecord:
    """What DescribeExecution shows of an Express execution, running or ended."""
    return ExecutionRecord(arn=execution.execution_arn, state_machine_arn=execution.machine_context["Id"],
                           name=execution.execution_context["Name"], status=execution.status,
                           start_date=execution.start_time, input=dumps(execution.input), type="EXPRESS",
                           stop_date=execution.stop_time, output=execution.output_text, error=execution.error,
                           cause=execution.cause)


def _test_case(target: str) -> str | None:
    """The MockConfigFile test case of a StartExecution target `arn#TestCase`."""
    return target.split("#", 1)[1] if "#" in target else None


def _versioned(record: StateMachineRecord) -> tuple:
    """What CreateStateMachine's idempotency compares (the API reference): not the role, not the tags."""
    return (record.definition, record.type, record.logging_configuration, record.tracing_configuration,
            record.encryption_configuration)


def _without_data(event: dict) -> dict:
    """GetExecutionHistory with includeExecutionData false: no input, output or parameters."""
    stripped = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ("input", "output", "parameters")}
        stripped[key] = value
    return stripped

