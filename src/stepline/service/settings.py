"""Server settings, from options and from the environment variables AWS Step Functions Local reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from stepline.expr.limits import DEFAULT_MEMORY_BYTES, DEFAULT_SECONDS, Limits
from stepline.service.compat import check_mode


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What `stepline serve` runs with."""

    db: str = "stepline.db"  # a SQLite file path (later also postgresql://...)
    account: str = "123456789012"
    region: str = "us-east-1"
    mock_config: str | None = None  # SFN_MOCK_CONFIG: an AWS Step Functions Local MockConfigFile
    functions: tuple[str, ...] = ()  # Python modules whose functions serve Lambda functions by name
    lambda_endpoint: str | None = None  # LAMBDA_ENDPOINT: invoke Lambda through this endpoint's Invoke API
    # STEP_FUNCTIONS_ENDPOINT or AWS_ENDPOINT_URL_SFN: nested executions (states:startExecution) start there
    # instead of on this stepline
    step_functions_endpoint: str | None = None
    assume_role: bool = False  # STEPLINE_ASSUME_ROLE: AWS calls assume the state machine's role through STS
    routes: str | None = None  # STEPLINE_ROUTES: a routes file (runtime/integrations/routes.py)
    connections: str | None = None  # STEPLINE_CONNECTIONS: the HTTP Task's connections from a file, not EventBridge
    time_scale: float | None = None  # WAIT_TIME_SCALE: 0 virtual time, 0.01 waits a hundred times shorter
    # STEPLINE_TEMPLATE: CloudFormation, SAM or CDK templates whose resources are applied at start (service/templates.py)
    templates: tuple[str, ...] = ()
    parameter_overrides: tuple[tuple[str, str], ...] = ()  # the templates' parameters and imported values
    stack_name: str | None = None  # of a single template (default: its folder's name, or CDK's stack name)
    watch: bool = False  # apply the templates again whenever one of their files changes (service/watch.py)
    register: str | None = None  # a folder whose *.asl.json definitions are registered at start (by file name)
    job_poll_seconds: float = 1.0  # STEPLINE_JOB_POLL_SECONDS: a .sync job's first poll (doubling up to 30 s)
    activity_wait_seconds: float = 60.0  # STEPLINE_ACTIVITY_WAIT_SECONDS: GetActivityTask's long poll (AWS: 60 s)
    # several workers on one store (docs/postgres.md)
    worker_name: str | None = None  # STEPLINE_WORKER_NAME: this process's name among the workers (host:pid-xxxx)
    lease_seconds: float = 30.0  # STEPLINE_LEASE_SECONDS: a dead worker's executions are taken over after this
    poll_seconds: float = 1.0  # STEPLINE_POLL_SECONDS: how often a worker looks for work no notification announced
    pool_size: int | None = None  # STEPLINE_POOL_SIZE: PostgreSQL connections of this process (else the URL's, or 10)
    retention_days: float = 90.0  # STEPLINE_RETENTION_DAYS: closed executions are deleted this long after (AWS: 90)
    # what one evaluation of a workflow's expressions may take (expr/limits.py)
    evaluation_seconds: float = DEFAULT_SECONDS  # STEPLINE_EVALUATION_SECONDS
    evaluation_memory: int = DEFAULT_MEMORY_BYTES  # STEPLINE_EVALUATION_MEMORY: bytes a value it builds may have
    # STEPLINE_LOG_DIR: execution logs as a JSON Lines file per log group here, not to CloudWatch Logs
    # (runtime/execution_logs.py); without it and without a CloudWatch Logs endpoint, in stepline-logs
    log_dir: str | None = None
    # STEPLINE_COMPAT: "sfn-local" answers with Step Functions Local's shapes where they differ from AWS's
    # (docs/sfn-local.md); AWS's by default
    compat: str | None = None

    def __post_init__(self) -> None:
        check_mode(self.compat)

    @property
    def limits(self) -> Limits:
        return Limits(seconds=self.evaluation_seconds, memory_bytes=self.evaluation_memory)

    @classmethod
    def from_environment(cls, **options: Any) -> Settings:
        """Options given explicitly win over the environment (STEPLINE_DB and Step Functions Local's variables)."""
        environment: dict[str, str | float | int | tuple[str, ...] | None] = {
            "db": os.environ.get("STEPLINE_DB"),
            "account": os.environ.get("AWS_ACCOUNT_ID"),
            "region": os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"),
            "mock_config": os.environ.get("SFN_MOCK_CONFIG"),
            "lambda_endpoint": os.environ.get("LAMBDA_ENDPOINT"),
            "routes": os.environ.get("STEPLINE_ROUTES"),
            "step_functions_endpoint": os.environ.get("AWS_ENDPOINT_URL_SFN") or os.environ.get("STEP_FUNCTIONS_ENDPOINT"),
            "assume_role": _flag("STEPLINE_ASSUME_ROLE"),
            "connections": os.environ.get("STEPLINE_CONNECTIONS") or None,
            "templates": tuple(p for p in os.environ.get("STEPLINE_TEMPLATE", "").split(os.pathsep) if p) or None,
            "time_scale": float(os.environ["WAIT_TIME_SCALE"]) if os.environ.get("WAIT_TIME_SCALE") else None,
            "job_poll_seconds": float(os.environ["STEPLINE_JOB_POLL_SECONDS"])
            if os.environ.get("STEPLINE_JOB_POLL_SECONDS") else None,
            "activity_wait_seconds": float(os.environ["STEPLINE_ACTIVITY_WAIT_SECONDS"])
            if os.environ.get("STEPLINE_ACTIVITY_WAIT_SECONDS") else None,
            "worker_name": os.environ.get("STEPLINE_WORKER_NAME") or None,
            "lease_seconds": float(os.environ["STEPLINE_LEASE_SECONDS"])
            if os.environ.get("STEPLINE_LEASE_SECONDS") else None,
            "poll_seconds": float(os.environ["STEPLINE_POLL_SECONDS"]) if os.environ.get("STEPLINE_POLL_SECONDS") else None,
            "pool_size": int(os.environ["STEPLINE_POOL_SIZE"]) if os.environ.get("STEPLINE_POOL_SIZE") else None,
            "retention_days": float(os.environ["STEPLINE_RETENTION_DAYS"])
            if os.environ.get("STEPLINE_RETENTION_DAYS") else None,
            "evaluation_seconds": float(os.environ["STEPLINE_EVALUATION_SECONDS"])
            if os.environ.get("STEPLINE_EVALUATION_SECONDS") else None,
            "evaluation_memory": int(os.environ["STEPLINE_EVALUATION_MEMORY"])
            if os.environ.get("STEPLINE_EVALUATION_MEMORY") else None,
            "log_dir": os.environ.get("STEPLINE_LOG_DIR") or None,
            "compat": os.environ.get("STEPLINE_COMPAT") or None,
        }
        values = {k: v for k, v in environment.items() if v is not None}
        values.update({k: v for k, v in options.items() if v is not None and v != ()})
        return cls(**values)  # type: ignore[arg-type]


def _flag(variable: str) -> bool | None:
    """A true/false environment variable (1/0 too), or None when unset; anything else is refused."""
    value = os.environ.get(variable, "").strip().lower()
    if not value:
        return None
    if value not in ("1", "true", "0", "false"):
        raise ValueError(f"{variable} must be true or false, not {os.environ[variable]!r}")
    return value in ("1", "true")
