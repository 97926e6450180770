"""`stepline` command line: run and validate state machines.

Exit codes: 0 success; 1 the execution did not succeed, the definition is invalid, or stepline failed; 2 bad usage
or input.
Every refusal is one line on stderr, never a traceback; a path is checked before it is read, so that a folder,
a device or a FIFO given for a file is refused instead of read forever.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import math
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from stepline.cfn import TemplateError
from stepline.cli import render
from stepline.cli.config import ConfigError, apply_config
from stepline.cli.secure import SecurityError, add_security_options, security_of
from stepline.engine.interpreter import MAX_PAYLOAD_BYTES, Execution
from stepline.errors import DefinitionError
from stepline.jsonvalue import dumps, loads
from stepline.runtime.integrations.aws.clients import SFN_LOCAL_ENDPOINTS
from stepline.runtime.integrations.connections import ConnectionsError
from stepline.runtime.integrations.mock_config import MockConfigError
from stepline.runtime.integrations.routes import RoutesError
from stepline.service.definitions import MAX_DEFINITION_BYTES, diagnose, validate_definition
from stepline.runtime.store.base import StoreError
from stepline.service import errors
from stepline.service.errors import ApiError
from stepline.service.compat import COMPAT_MODES
from stepline.service.settings import Settings
from stepline.service.workflow import Result, Workflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_MOCK_CONFIG_BYTES = 64 * 1024 * 1024  # many mocked responses of up to 256 KiB each
MAX_SECONDS = 86_400.0  # a day: the longest lease, polling interval or timeout an option takes
MAX_PNG_SIDE, MAX_PNG_PIXELS = 32_767, 50_000_000  # cairo's largest surface; about 200 MB while drawing


class UsageError(Exception):
    """Bad arguments or input: reported on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line (the usage itself is in --help)."""

    def error(self, message: str) -> NoReturn:
        render.error(f"{message} (see {self.prog} --help)", sys.stderr, prog=self.prog)
        self.exit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        if hasattr(args, "config") and (config := args.config or os.environ.get("STEPLINE_CONFIG")):
            apply_config(args.command_parser, args, arguments[1:], config)
        return args.handler(args)
    except (UsageError, ConfigError) as error:
        render.error(str(error), sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `stepline run ... --history | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # a bug: said in one line too, as the server's outermost handler does
        render.error(f"unexpected {type(error).__name__} (a bug in stepline): {error}", sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stepline", description="Run AWS Step Functions workflows anywhere.")
    parser.add_argument("--version", action="version", version=f"stepline {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a state machine definition in process",
                              description="Run an Amazon States Language definition in process and print its result.")
    run.add_argument("file", help="the definition (ASL JSON)")
    run.add_argument("--input", default="{}", help="execution input: JSON text, or @FILE to read it from a file")
    run.add_argument("--mock-config", help="an AWS Step Functions Local MockConfigFile (or SFN_MOCK_CONFIG)")
    run.add_argument("--test-case", help="the mock config test case to run")
    run.add_argument("--functions", action="append", default=[], metavar="MODULE",
                     help="a Python module whose functions serve Lambda functions of the same name (repeatable)")
    run.add_argument("--connections", metavar="FILE",
                     help="as serve's: the HTTP Task's connections from this file (or STEPLINE_CONNECTIONS)")
    run.add_argument("--name", help="the state machine name (default: the file name)")
    run.add_argument("--time-scale", type=_time_scale, default=None,
                     help="scale waits: 0 virtual time (instant), 0.01 a hundred times faster; default real time")
    run.add_argument("--json", action="store_true", help="print one JSON object {status, output, error, cause}")
    run.add_argument("--history", action="store_true", help="also print the execution history")
    run.add_argument("--db", help="run on the durable store in this SQLite file and keep the execution there")
    _evaluation_options(run)
    run.set_defaults(handler=_run)

    executions = commands.add_parser("executions", help="list the executions kept in a store",
                                     description="List executions, newest first.")
    executions.add_argument("--db", help="the store (default stepline.db, or STEPLINE_DB)")
    executions.add_argument("--state-machine", help="only this state machine's (name or ARN)")
    executions.add_argument("--status", choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
    executions.add_argument("--limit", type=_count, default=50, help="at most this many (default 50)")
    executions.add_argument("--json", action="store_true", help="print ListExecutions' JSON")
    executions.set_defaults(handler=_executions)

    execution = commands.add_parser("execution", help="show one execution kept in a store",
                                    description="Show an execution's status, output or error, and its history.")
    execution.add_argument("reference", metavar="ARN|NAME", help="the execution's ARN or name")
    execution.add_argument("--db", help="the store (default stepline.db, or STEPLINE_DB)")
    execution.add_argument("--history", action="store_true", help="also print the history as a table")
    execution.add_argument("--json", action="store_true", help="print DescribeExecution's JSON (and the events)")
    execution.set_defaults(handler=_execution)

    validate = commands.add_parser("validate", help="check a definition as ValidateStateMachineDefinition does",
                                   description="Print the definition's diagnostics, and a warning for each Task "
                                               "resource that no integration of this configuration (the options "
                                               "below, the environment's endpoints) serves; exit 1 when there are "
                                               "errors.")
    validate.add_argument("file", help="the definition (ASL JSON)")
    validate.add_argument("--json", action="store_true", help="print the ValidateStateMachineDefinition response")
    validate.add_argument("--functions", action="append", default=[], metavar="MODULE",
                          help="as serve's: the Lambda functions served locally (repeatable)")
    validate.add_argument("--routes", metavar="FILE", help="as serve's (or STEPLINE_ROUTES)")
    validate.add_argument("--lambda-endpoint", type=_url, help="as serve's (or LAMBDA_ENDPOINT)")
    validate.set_defaults(handler=_validate)

    serve = commands.add_parser("serve", help="serve the AWS Step Functions API (and the console) on the durable store",
                                description="Serve the AWS Step Functions API, as boto3, the AWS CLI and SAM call it. "
                                            "Environment: STEPLINE_DB, SFN_MOCK_CONFIG, AWS_ACCOUNT_ID, "
                                            "AWS_DEFAULT_REGION, LAMBDA_ENDPOINT, WAIT_TIME_SCALE, STEPLINE_ASSUME_ROLE; the AWS "
                                            "SDKs' configuration (AWS_ENDPOINT_URL..., profiles, credentials) "
                                            "and Step Functions Local's DYNAMODB_ENDPOINT, SQS_ENDPOINT... for "
                                            "the services Tasks call.")
    serve.add_argument("--config", metavar="FILE",
                       help="read these options from a TOML file: each key an option's name without its dashes "
                            "(port = 8084, retention-days = 30, functions = [\"a\", \"b\"]); flags and environment "
                            "variables win over it (or STEPLINE_CONFIG)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8083,
                       help="port (default 8083, as AWS Step Functions Local; 0 picks a free one)")
    serve.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default stepline.db, "
                                       "or STEPLINE_DB)")
    serve.add_argument("--mock-config", help="an AWS Step Functions Local MockConfigFile (or SFN_MOCK_CONFIG)")
    serve.add_argument("--functions", action="append", default=[], metavar="MODULE",
                       help="a Python module whose functions serve Lambda functions of the same name (repeatable)")
    serve.add_argument("--lambda-endpoint", type=_url,
                       help="invoke Lambda functions through this endpoint (or LAMBDA_ENDPOINT)")
    serve.add_argument("--assume-role", action="store_true", default=None,
                       help="AWS service calls assume the state machine's role through STS, as AWS does (or "
                            "STEPLINE_ASSUME_ROLE=true); without it they use the AWS credentials of this process, "
                            "and only a Task's Credentials.RoleArn is assumed")
    serve.add_argument("--routes", metavar="FILE",
                       help="send chosen Tasks to a mock, a local function, an endpoint or AWS (or STEPLINE_ROUTES)")
    serve.add_argument("--time-scale", type=_time_scale, default=None,
                       help="scale waits: 0 virtual time, 0.01 a hundred times faster (or WAIT_TIME_SCALE)")
    serve.add_argument("--connections", metavar="FILE",
                       help="the HTTP Task's EventBridge connections from this JSON file (connection ARN: "
                            "CreateConnection's AuthorizationType and AuthParameters) instead of EventBridge and "
                            "Secrets Manager (or STEPLINE_CONNECTIONS)")
    serve.add_argument("--register", metavar="DIR", help="register every DIR/*.asl.json as a state machine at start")
    _template_options(serve)
    serve.add_argument("--watch", action="store_true",
                       help="apply the templates again when one of them (or a definition file they read) changes")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                       help="the server's own log: warnings and errors only by default")
    serve.add_argument("--log-format", default="text", choices=["text", "json"],
                       help="the server's own log: lines of text (default), or one JSON object per line")
    serve.add_argument("--log-dir", metavar="DIR",
                       help="execution logs (state machines' loggingConfiguration) as a JSON Lines file per log "
                            "group in DIR (or STEPLINE_LOG_DIR); without it they go to CloudWatch Logs when the AWS "
                            "configuration names its endpoint (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL, a "
                            "profile's endpoint_url), else to stepline-logs")
    serve.add_argument("--compat", choices=COMPAT_MODES,
                       help="sfn-local: answer with Step Functions Local's shapes where they differ from AWS's, so "
                            "test suites written against Local pass unchanged (or STEPLINE_COMPAT; docs/sfn-local.md)")
    serve.add_argument("--allowed-hosts", action="append", metavar="HOST",
                       help="also answer requests whose Host is HOST (repeatable, or comma separated; * for any; "
                            "or STEPLINE_ALLOWED_HOSTS). Default: loopback, --host, and the machine's names and "
                            "addresses when --host is 0.0.0.0 or ::")
    serve.add_argument("--max-connections", type=_count, default=10_000,
                       help="open connections at most; past it the longest idle one is closed (default 10000)")
    serve.add_argument("--request-timeout", type=_positive, default=30.0,
                       help="seconds a client has to send a whole request (default 30)")
    serve.add_argument("--worker-name", type=_worker_name,
                       help="this process's name among the store's workers (default host:pid-xxxx; "
                            "or STEPLINE_WORKER_NAME)")
    serve.add_argument("--lease-seconds", type=_positive, help="how long a worker's claim on an execution lasts "
                                                               "unrenewed: a dead worker's executions are taken over "
                                                               "after this (default 30; or STEPLINE_LEASE_SECONDS)")
    serve.add_argument("--poll-seconds", type=_positive, help="how often a worker looks for work that no notification "
                                                              "announced (default 1; or STEPLINE_POLL_SECONDS)")
    serve.add_argument("--pool-size", type=_count, help="PostgreSQL connections of this process (default the URL's "
                                                     "pool_size, or 10; or STEPLINE_POOL_SIZE)")
    serve.add_argument("--retention-days", type=_days, help="closed executions and their histories are deleted this "
                                                          "many days after they closed (default 90, as AWS keeps "
                                                          "them; 0 keeps them for ever; or STEPLINE_RETENTION_DAYS)")
    _evaluation_options(serve)
    add_security_options(serve)
    serve.set_defaults(handler=_serve, command_parser=serve)  # command_parser: what reads its --config

    workers = commands.add_parser("workers", help="list the workers (stepline serve processes) of a store",
                                  description="List the workers that run a store's executions: name, host, pid, "
                                              "the leases they hold and when they last reported.")
    workers.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default stepline.db, "
                                      "or STEPLINE_DB)")
    workers.add_argument("--json", action="store_true", help="print {\"workers\": [...]} as JSON")
    workers.set_defaults(handler=_workers)

    schedules = commands.add_parser("schedules", help="list, pause or resume the schedules of a store",
                                    description="List the schedules that start executions (from templates served "
                                                "with --template), or pause or resume one by its name or ARN. A "
                                                "resumed schedule goes on from its next due time after now.")
    schedules.add_argument("action", nargs="?", default="list", choices=["list", "pause", "resume"])
    schedules.add_argument("name", nargs="?", help="the schedule's name or ARN (pause, resume)")
    schedules.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default stepline.db, "
                                        "or STEPLINE_DB)")
    schedules.add_argument("--json", action="store_true", help="print {\"schedules\": [...]} as JSON")
    schedules.set_defaults(handler=_schedules)

    deploy = commands.add_parser("deploy", help="create or update a template's resources on a running stepline",
                                 description="Create or update the state machines, activities, versions and aliases "
                                             "of CloudFormation, SAM or CDK templates on a running stepline, through "
                                             "its API (the Python functions are served by `stepline serve "
                                             "--template`). Exits 1 with one line when a template is refused.")
    deploy.add_argument("files", nargs="+", metavar="FILE", help="a template (YAML or JSON)")
    deploy.add_argument("--endpoint", required=True, type=_url, help="the stepline's URL (http://127.0.0.1:8083)")
    deploy.add_argument("--region", help="the server's region (default AWS_DEFAULT_REGION, or us-east-1)")
    _template_options(deploy, files=False)
    deploy.set_defaults(handler=_deploy)

    graph = commands.add_parser("graph", help="draw a definition as SVG or PNG (the console's drawing)",
                                description="Lay out a definition top to bottom and write it as SVG, or PNG when "
                                            "the output ends in .png (needs the png extra: CairoSVG).")
    graph.add_argument("file", help="the definition (ASL JSON)")
    graph.add_argument("-o", "--output", required=True, help="the file to write: NAME.svg or NAME.png")
    graph.add_argument("--scale", type=_scale, default=2.0, help="PNG pixels per SVG unit (default 2)")
    graph.set_defaults(handler=_graph)

    db = commands.add_parser("db", help="manage the store's schema", description="Manage the store's schema.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create the store's schema, or upgrade it to this stepline's",
                                     description="Create or upgrade the store's schema (SQLite file or PostgreSQL "
                                                 "URL), then exit. Running servers of an older stepline must stop.")
    upgrade.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default STEPLINE_DB)")
    upgrade.set_defaults(handler=_db_upgrade)
    vacuum = db_commands.add_parser("vacuum", help="rewrite a SQLite store without its free space",
                                    description="Rewrite a SQLite store without the space that deleted executions "
                                                "left, and turn on incremental vacuum for a file made before it "
                                                "(retention then gives space back as it deletes). Takes the file's "
                                                "write lock while it rewrites it: best run while no server writes. "
                                                "PostgreSQL's autovacuum does this on its own.")
    vacuum.add_argument("--db", help="the SQLite store (default STEPLINE_DB, or stepline.db)")
    vacuum.set_defaults(handler=_db_vacuum)
    backup = db_commands.add_parser("backup", help="copy a SQLite store consistently, while servers use it",
                                    description="Copy a SQLite store to PATH as one consistent snapshot, while "
                                                "servers read and write it (SQLite's backup API). For PostgreSQL, "
                                                "use pg_dump.")
    backup.add_argument("path", metavar="PATH", help="the copy to write (replaced when it exists)")
    backup.add_argument("--db", help="the SQLite store (default STEPLINE_DB, or stepline.db)")
    backup.set_defaults(handler=_db_backup)
    return parser


def _version() -> str:
    """The installed distribution's version (a checkout run without installing has none)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stepline")
    except PackageNotFoundError:
        return "(not installed)"


def _template_options(parser: argparse.ArgumentParser, *, files: bool = True) -> None:
    if files:
        parser.add_argument("--template", action="append", default=[], metavar="FILE",
                            help="serve a CloudFormation, SAM or CDK template's state machines, activities, versions, "
                                 "aliases and Python functions (repeatable; or STEPLINE_TEMPLATE, paths separated "
                                 f"by {os.pathsep!r})")
    parser.add_argument("--parameter-overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        type=_override, help="the templates' parameters and Fn::ImportValue exports, as SAM takes "
                                             "them: Key=Value or ParameterKey=Key,ParameterValue=Value")
    parser.add_argument("--stack-name", help="the stack's name (AWS::StackName) for a single template (default: "
                                             "the template's folder, or CDK's stack name)")


def _override(text: str) -> tuple[str, str]:
    """--parameter-overrides Key=Value, or the AWS CLI's ParameterKey=Key,ParameterValue=Value."""
    if text.startswith("ParameterKey="):
        key, comma, value = text[len("ParameterKey="):].partition(",ParameterValue=")
        if comma:
            return key, value
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not Key=Value")
    return key, value


def _deploy(args: argparse.Namespace) -> int:
    from stepline.cli.deploy import deploy

    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    account = os.environ.get("AWS_ACCOUNT_ID") or "123456789012"
    try:
        for line in deploy(args.endpoint, [Path(f) for f in args.files], region=region, account=account,
                           overrides=dict(args.parameter_overrides), stack_name=args.stack_name):
            sys.stdout.write(line + "\n")
    except (TemplateError, ApiError) as error:
        render.error(str(error) if isinstance(error, TemplateError) else error.message, sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _db_upgrade(args: argparse.Namespace) -> int:
    location = _store_of(args, must_exist=False)
    from stepline.service.app import open_store  # imported once the location is known to be usable

    async def upgrade() -> str:
        if _is_postgres(location):
            from stepline.runtime.store.postgres import upgrade as upgrade_postgres

            found, now = await upgrade_postgres(location)
            return f"schema version {now}" + (f" (was {found or 'empty'})" if found != now else " (up to date)")
        await (await open_store(location)).close()  # a SQLite file is created or upgraded when opened
        return "up to date"

    try:
        sys.stdout.write(asyncio.run(upgrade()) + "\n")
    except StoreError as error:
        render.error(str(error), sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _sqlite_store(args: argparse.Namespace, command: str, postgres_advice: str) -> str:
    location = _store_of(args, must_exist=True)
    if _is_postgres(location):
        raise UsageError(f"stepline db {command} is for SQLite stores; on PostgreSQL {postgres_advice}")
    return location


def _db_vacuum(args: argparse.Namespace) -> int:
    from stepline.runtime.store.upkeep import vacuum

    location = _sqlite_store(args, "vacuum", "autovacuum does it (VACUUM FULL by hand locks the tables)")
    try:
        before, after = vacuum(location)
    except StoreError as error:
        render.error(str(error), sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(f"{location}: {before} bytes -> {after} bytes\n")
    return EXIT_OK


def _db_backup(args: argparse.Namespace) -> int:
    from stepline.runtime.store.upkeep import backup

    location = _sqlite_store(args, "backup", "use pg_dump")
    try:
        size = backup(location, args.path)
    except StoreError as error:
        render.error(str(error), sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(f"{location} -> {args.path}: {size} bytes\n")
    return EXIT_OK


def _number(text: str, allowed: Callable[[float], bool], expected: str, kind: Callable[[str], float] = float) -> float:
    """A number as argparse reads an option, when `allowed` (never NaN); its error names what was expected."""
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not allowed(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")
    return value


def _positive(text: str) -> float:
    return _number(text, lambda value: 0 < value <= MAX_SECONDS,
                   f"a number of seconds above 0 and at most {MAX_SECONDS:.0f} (a day)")


def _time_scale(text: str) -> float:
    return _number(text, lambda value: 0 <= value <= 1, "a number from 0 to 1 (0 runs in virtual time, 1 in real time)")


def _days(text: str) -> float:
    return _number(text, lambda value: 0 <= value <= 36_500, "a number of days from 0 to 36500 (0: for ever)")


def _compat_mode(text: str) -> str:
    if text not in COMPAT_MODES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(COMPAT_MODES)}, not {text!r}")
    return text


def _scale(text: str) -> float:
    return _number(text, lambda value: 0 < value < math.inf, "a number above 0")


def _evaluation_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--evaluation-seconds", type=_positive,
                         help="how long one evaluation of an expression may run (default 5; or "
                              "STEPLINE_EVALUATION_SECONDS)")
    command.add_argument("--evaluation-memory", type=_count, metavar="BYTES",
                         help="how large a string or result a JSONata evaluation may build (default 67108864, "
                              "64 MiB; or STEPLINE_EVALUATION_MEMORY)")


def _count(text: str) -> int:
    return int(_number(text, lambda value: value >= 1, "a whole number of 1 or more", int))


def _port(text: str) -> int:
    return int(_number(text, lambda value: 0 <= value <= 65_535, "a port from 1 to 65535 (or 0: any free port)", int))


def _url(text: str) -> str:
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed host or port
        usable = False
    if not usable:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def _worker_name(text: str) -> str:
    if not 0 < len(text) <= 200 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"{text[:50]!r} is not a name of 1 to 200 printable characters")
    return text


# What `serve` reads from the environment, checked as the options that stand for it are
def _boolean(value: str) -> bool:
    if value.strip().lower() not in ("1", "true", "0", "false"):
        raise argparse.ArgumentTypeError(f"must be true or false, not {value!r}")
    return value.strip().lower() in ("1", "true")


_ENVIRONMENT_CHECKS: dict[str, Callable[[str], object]] = {
    "WAIT_TIME_SCALE": _time_scale, "STEPLINE_LEASE_SECONDS": _positive, "STEPLINE_POLL_SECONDS": _positive,
    "STEPLINE_ACTIVITY_WAIT_SECONDS": _positive, "STEPLINE_JOB_POLL_SECONDS": _positive,
    "STEPLINE_POOL_SIZE": _count, "LAMBDA_ENDPOINT": _url,
    "STEPLINE_WORKER_NAME": _worker_name, "STEPLINE_EVALUATION_SECONDS": _positive,
    "STEPLINE_EVALUATION_MEMORY": _count, "STEPLINE_ASSUME_ROLE": _boolean, "STEPLINE_RETENTION_DAYS": _days,
    "STEPLINE_COMPAT": _compat_mode,
    **{variable: _url for variable in SFN_LOCAL_ENDPOINTS.values()},
}



def _check_environment() -> None:
    for name, check in _ENVIRONMENT_CHECKS.items():
        if os.environ.get(name):
            try:
                check(os.environ[name])
            except argparse.ArgumentTypeError as error:
                raise UsageError(f"the environment variable {name}: {error}") from None


def _is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def _db_of(args: argparse.Namespace) -> str:
    """The store of a command's --db, else STEPLINE_DB, else stepline.db."""
    return str(args.db or os.environ.get("STEPLINE_DB") or "stepline.db")


def _store_of(args: argparse.Namespace, *, must_exist: bool) -> str:
    """The store of a command (_db_of), checked as _store_location does."""
    return _store_location(_db_of(args), must_exist=must_exist)


def _store_location(location: str, *, must_exist: bool) -> str:
    """A --db value checked before it is opened: a PostgreSQL URL that parses, or a SQLite file that exists
    (`must_exist`: a command that only reads never creates an empty store) or can be made in an existing folder."""
    if _is_postgres(location):
        try:
            urlsplit(location).port  # a malformed host or port would escape the store as a ValueError
        except ValueError as error:
            raise UsageError(f"the store URL {location} is malformed: {error}") from None
    elif not location:
        raise UsageError("the store location (--db) is empty")
    elif must_exist and not Path(location).exists():
        raise UsageError(f"cannot read the store {location}: No such file or directory")
    elif not Path(location).parent.is_dir():
        raise UsageError(f"cannot create the store {location}: there is no folder {Path(location).parent}")
    return location


def _workers(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    location = _store_of(args, must_exist=True)
    from stepline.service.app import open_store

    async def listing() -> list[dict]:
        store = await open_store(location)
        try:
            return await store.list_workers()
        finally:
            await store.close()

    workers = _with_store(listing)
    now = datetime.now(timezone.utc)
    for worker in workers:  # alive: reported within three report intervals
        age = (now - worker["heartbeat"]).total_seconds()
        worker["alive"] = age <= 3 * float(worker.get("reportSeconds") or 10)
        worker["secondsSinceHeartbeat"] = round(age, 1)
    return _print_listing(args, "workers", workers, render.workers_table)


def _schedules(args: argparse.Namespace) -> int:
    if (args.action == "list") != (args.name is None):
        raise UsageError("schedules pause and resume take a schedule's name or ARN; list takes none")
    async def act() -> list[dict]:
        service = _service(Settings(db=_db_of(args)), store_must_exist=True)
        await service.start(worker=False)
        try:
            schedules = service.schedules
            if args.action == "list":
                return await schedules.list()
            return [await (schedules.pause if args.action == "pause" else schedules.resume)(args.name)]
        finally:
            await service.close()

    listed = _with_store(act)
    return _print_listing(args, "schedules", listed, render.schedules_table)


def _status(path: str, what: str) -> os.stat_result:
    try:
        return os.stat(path)  # never blocks, unlike opening a FIFO
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror}") from None


def _check_file(path: str, what: str, limit: int) -> None:
    """Refuse, before anything reads it, a path that is not a regular file (a folder, /dev/zero) or is too large."""
    status = _status(path, what)
    if not stat.S_ISREG(status.st_mode):
        raise UsageError(f"{what} {path} is not a regular file")
    if status.st_size > limit:
        raise UsageError(f"{what} {path} is larger than {limit} bytes")


def _read(path: str, what: str, limit: int = MAX_DEFINITION_BYTES) -> str:
    _check_file(path, what, limit)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None


def _check_register_folder(folder: str) -> None:
    """--register: a folder of valid definitions (the server would not start with a bad one)."""
    if not stat.S_ISDIR(_status(folder, "the --register folder").st_mode):
        raise UsageError(f"the --register folder {folder} is not a folder")
    for path in sorted(Path(folder).glob("*.asl.json")):
        if any(d.severity == "ERROR" for d in diagnose(_read(str(path), "definition"))):
            raise UsageError(f"definition {path} is invalid (stepline validate {path} says why)")


def _check_extras(mock_config: str | None, functions: Sequence[str]) -> None:
    """Refuse a mock config that is not a regular file of a sane size, and name a --functions module that does not
    import (the service imports them again, from Python's cache)."""
    if mock_config:
        _check_file(mock_config, "mock config file", MAX_MOCK_CONFIG_BYTES)
    sys.path.insert(0, os.getcwd())
    for module in functions:
        try:
            importlib.import_module(module)
        except Exception as error:  # not found, or the module itself failed while importing
            reason = str(error) if isinstance(error, ImportError) else f"{type(error).__name__}: {error}"
            raise UsageError(f"cannot import the functions module {module}: {reason}") from None


def _run(args: argparse.Namespace) -> int:
    _check_environment()
    text = _read(args.file, "definition")
    input_text = _read(args.input[1:], "input file", MAX_PAYLOAD_BYTES) if args.input.startswith("@") else args.input
    try:
        input_value = loads(input_text)
    except ValueError as error:
        raise UsageError(f"the input is not valid JSON: {error}") from None
    mock_config = args.mock_config or os.environ.get("SFN_MOCK_CONFIG")
    if args.test_case and not mock_config:
        raise UsageError("--test-case needs --mock-config (or SFN_MOCK_CONFIG)")
    if args.db:
        result = asyncio.run(_run_durable(text, input_text, mock_config, args))
        return _show_result(result, args)
    _check_extras(mock_config, args.functions)
    try:
        workflow = Workflow(text, name=args.name or Path(args.file).name.split(".")[0], mock_config=mock_config,
                            limits=_settings_of_run(args).limits,
                            connections=args.connections or os.environ.get("STEPLINE_CONNECTIONS"))
    except DefinitionError as error:
        render.diagnostics(error.diagnostics, sys.stderr)
        return EXIT_FAILED
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    for module in args.functions:
        workflow.functions.load_module(module)
    try:
        result = asyncio.run(_run_with_progress(workflow, input_value, args))
    except (MockConfigError, ConnectionsError) as error:
        raise UsageError(str(error)) from None
    return _show_result(result, args)


def _show_result(result: Result, args: argparse.Namespace) -> int:
    if args.json:
        document: dict[str, Any] = {"status": result.status, "output": result.output, "error": result.error,
                                    "cause": result.cause}
        if args.history:
            document["history"] = [_event_json(event) for event in result.history]
        sys.stdout.write(dumps(document) + "\n")
    else:
        render.result(result.status, result.output_text, result.error, result.cause, sys.stdout)
        if args.history:
            sys.stdout.write("\n")
            render.history_table(result.history, sys.stdout)
    return EXIT_OK if result.succeeded else EXIT_FAILED


def _service(settings: Settings, *, store_must_exist: bool) -> Any:
    """The service for these settings, once the store's location, the mock config and the functions are checked."""
    _store_location(settings.db, must_exist=store_must_exist)
    _check_extras(settings.mock_config, settings.functions)
    from stepline.service.app import StepFunctionsService  # a slow import: after what refuses bad input at once

    try:
        return StepFunctionsService(settings)
    except (MockConfigError, RoutesError, ConnectionsError, TemplateError) as error:
        raise UsageError(str(error)) from None


def _settings_of_run(args: argparse.Namespace, **options: Any) -> Settings:
    """`stepline run`'s settings: its options, and the evaluation limits from the environment unless given."""
    limits = Settings.from_environment(evaluation_seconds=args.evaluation_seconds,
                                       evaluation_memory=args.evaluation_memory)
    return Settings(evaluation_seconds=limits.evaluation_seconds, evaluation_memory=limits.evaluation_memory,
                    **options)


async def _run_durable(text: str, input_text: str, mock_config: str | None, args: argparse.Namespace) -> Result:
    """`stepline run --db`: the definition registered in the store, one execution run and kept there."""
    service = _service(_settings_of_run(args, db=args.db, mock_config=mock_config, functions=tuple(args.functions),
                                        time_scale=args.time_scale, connections=args.connections
                                        or os.environ.get("STEPLINE_CONNECTIONS")), store_must_exist=False)
    try:
        await service.start()
        try:
            arn = await service.register(args.name or Path(args.file).name.split(".")[0], text)
            started = await service.start_execution(stateMachineArn=f"{arn}#{args.test_case}" if args.test_case
                                                    else arn, input=input_text)
            await service.runtime.wait(started["executionArn"])
            return await _stored_result(service, started["executionArn"])
        finally:
            await service.close()
    except ApiError as error:
        if isinstance(error, errors.InvalidDefinition):
            sys.stderr.write(error.message + "\n")
            raise SystemExit(EXIT_FAILED) from None
        raise UsageError(f"{error.code}: {error.message}") from None
    except StoreError as error:
        raise UsageError(str(error)) from None


async def _stored_result(service: Any, execution_arn: str) -> Result:
    record = await service.describe_execution(executionArn=execution_arn)
    output = record.get("output")
    return Result(execution_arn=execution_arn, status=record["status"], output=loads(output) if output else None,
                  output_text=output, error=record.get("error"), cause=record.get("cause"),
                  start_date=record["startDate"], stop_date=record.get("stopDate"),
                  history=await service.full_history(execution_arn))


def _executions(args: argparse.Namespace) -> int:
    async def listing() -> list[dict]:
        db = _db_of(args)
        service = _service(Settings(db=db), store_must_exist=True)
        await service.start(worker=False)
        try:
            machines = await service.list_state_machines(maxResults=1000)
            named = [m for m in machines["stateMachines"]
                     if args.state_machine in (None, m["name"], m["stateMachineArn"])]
            if args.state_machine and not named:
                raise UsageError(f"no state machine {args.state_machine} in {db}")
            # Express executions are not kept in the store, and ListExecutions refuses Express state machines
            arns = [m["stateMachineArn"] for m in named if m["type"] == "STANDARD"]
            found: list[dict] = []
            for arn in arns:
                page = await service.list_executions(stateMachineArn=arn, statusFilter=args.status,
                                                     maxResults=args.limit)
                found += page["executions"]
            return sorted(found, key=lambda e: e["startDate"], reverse=True)[:args.limit]
        finally:
            await service.close()

    found = _with_store(listing)
    return _print_listing(args, "executions", found, render.executions_table)


def _execution(args: argparse.Namespace) -> int:
    async def show() -> tuple[dict, list[dict]]:
        service = _service(Settings(db=_db_of(args)), store_must_exist=True)
        await service.start(worker=False)
        try:
            arn = await service.find_execution(args.reference)
            return await service.describe_execution(executionArn=arn), await service.full_history(arn)
        finally:
            await service.close()

    record, history = _with_store(show)
    if args.json:
        sys.stdout.write(dumps({**_dates(record), **({"events": [_event_json(e) for e in history]}
                                                     if args.history else {})}) + "\n")
    else:
        sys.stdout.write(f"Execution: {record['executionArn']}\n")
        render.result(record["status"], record.get("output"), record.get("error"), record.get("cause"), sys.stdout)
        if args.history:
            sys.stdout.write("\n")
            render.history_table(history, sys.stdout)
    return EXIT_OK if record["status"] in ("SUCCEEDED", "RUNNING") else EXIT_FAILED


async def _check_store(location: str) -> None:
    """Open and close the store once, so that a corrupt, unreadable or read-only store is reported plainly."""
    from stepline.service.app import open_store

    store = await open_store(location)
    await store.close()


def _with_store(action: Any) -> Any:
    """Run a store-reading coroutine; report the store's and the API's errors as usage errors."""
    try:
        return asyncio.run(action())
    except ApiError as error:
        raise UsageError(f"{error.code}: {error.message}") from None
    except StoreError as error:
        raise UsageError(str(error)) from None


def _print_listing(args: argparse.Namespace, key: str, rows: list[dict], table: Any) -> int:
    """A listing as `{key: [...]}` JSON with --json, else as a table."""
    if args.json:
        sys.stdout.write(dumps({key: [_dates(row) for row in rows]}) + "\n")
    else:
        table(rows, sys.stdout)
    return EXIT_OK


def _dates(record: dict) -> dict:
    return {k: v.timestamp() if hasattr(v, "timestamp") else v for k, v in record.items()}


async def _run_with_progress(workflow: Workflow, input_value: Any, args: argparse.Namespace) -> Any:
    progress = render.Progress()
    live: list[Execution] = []
    run = asyncio.ensure_future(workflow.run_async(input_value, test_case=args.test_case,
                                                   time_scale=args.time_scale, observe=live.append))
    try:
        while not run.done():
            await asyncio.wait({run}, timeout=0.25)
            if live and not run.done():
                events = live[0].events
                progress.show(f"running: {len(events)} events, last {events[-1]['type'] if events else '-'}")
        return run.result()
    finally:
        progress.clear()


def _event_json(event: dict) -> dict:
    """A history event as GetExecutionHistory's JSON: the timestamp in epoch seconds."""
    return {**event, "timestamp": event["timestamp"].timestamp()}


def _serve(args: argparse.Namespace) -> int:
    _check_environment()
    try:
        security = security_of(args)
    except SecurityError as error:
        raise UsageError(str(error)) from None
    if args.register:
        _check_register_folder(args.register)
    if args.watch and not (args.template or os.environ.get("STEPLINE_TEMPLATE")):
        raise UsageError("--watch watches the templates of --template (or STEPLINE_TEMPLATE): give one")
    settings = Settings.from_environment(db=args.db, mock_config=args.mock_config, functions=tuple(args.functions),
                                         lambda_endpoint=args.lambda_endpoint, time_scale=args.time_scale,
                                         assume_role=args.assume_role, connections=args.connections, register=args.register,
                                         templates=tuple(args.template), stack_name=args.stack_name,
                                         watch=args.watch,
                                         parameter_overrides=tuple(args.parameter_overrides),
                                         worker_name=args.worker_name, routes=args.routes,
                                         lease_seconds=args.lease_seconds, poll_seconds=args.poll_seconds,
                                         pool_size=args.pool_size, retention_days=args.retention_days,
                                         evaluation_seconds=args.evaluation_seconds,
                                         evaluation_memory=args.evaluation_memory, log_dir=args.log_dir,
                                         compat=args.compat)
    service = _service(settings, store_must_exist=False)
    from stepline.server import CannotStart, serve

    _with_store(lambda: _check_store(settings.db))
    # a server holds many long-lived objects (cached executions, programs): collect young garbage less often
    gc.set_threshold(50_000, 20, 100)
    from stepline.console.routes import routes as console_routes

    allowed_hosts = args.allowed_hosts or [os.environ.get("STEPLINE_ALLOWED_HOSTS", "")]
    try:
        serve(service, host=args.host, port=args.port, log_level=args.log_level, log_format=args.log_format,
              console_routes=console_routes,
              allowed_hosts=[name for names in allowed_hosts for name in names.split(",") if name.strip()],
              max_connections=args.max_connections, request_timeout=args.request_timeout, **security)
    except CannotStart as error:
        render.error(f"cannot start: {error}", sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from stepline.graph.layout import layout_definition
    from stepline.graph.svg import render_png, render_svg

    text = _read(args.file, "definition")
    try:
        definition = loads(text)
    except ValueError as error:
        raise UsageError(f"the definition is not valid JSON: {error}") from None
    layout = layout_definition(definition)
    svg = render_svg(layout, title=Path(args.file).name.split(".")[0])
    output = Path(args.output)
    if output.suffix.lower() == ".png":
        width, height = round(layout.width * args.scale), round(layout.height * args.scale)
        if min(width, height) < 1 or max(width, height) > MAX_PNG_SIDE or width * height > MAX_PNG_PIXELS:
            raise UsageError(f"a PNG of {width}x{height} pixels cannot be drawn (1 to {MAX_PNG_SIDE} a side, "
                             f"{MAX_PNG_PIXELS} in all): choose another --scale, or write .svg")
        try:
            data = render_png(svg, scale=args.scale)
        except ImportError:
            raise UsageError("PNG output needs CairoSVG: pip install 'stepline[png]' (or write .svg)") from None
    elif output.suffix.lower() == ".svg":
        data = svg.encode()
    else:
        raise UsageError(f"cannot tell the format of {output}: name it .svg or .png")
    try:
        output.write_bytes(data)
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror}") from None
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    text = _read(args.file, "definition")
    found = diagnose(text)
    errors = [d for d in found if d.severity == "ERROR"]
    unserved = []
    if not errors:
        _check_environment()
        settings = Settings.from_environment(functions=tuple(args.functions), routes=args.routes,
                                             lambda_endpoint=args.lambda_endpoint)
        unserved = _service(settings, store_must_exist=False).unserved_tasks(text)
        found += unserved
    if args.json:
        response = validate_definition(text, severity="WARNING")
        response["diagnostics"] += [d.to_json() for d in unserved]
        sys.stdout.write(dumps(response) + "\n")
    elif found:
        render.diagnostics(found, sys.stdout)
    else:
        sys.stdout.write("OK\n")
    return EXIT_FAILED if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
