"""The other process of the callback tests: answers task tokens and works activities through boto3.

    python callback_worker.py answer URL TOKEN_FILE '{"ok": 1}'        # SendTaskSuccess once the file exists
    python callback_worker.py fail URL TOKEN_FILE ERROR CAUSE          # SendTaskFailure
    python callback_worker.py activity URL ACTIVITY_ARN WORKER HEARTBEATS INTERVAL OUTPUT
        # GetActivityTask (long poll), HEARTBEATS heartbeats INTERVAL s apart, then SendTaskSuccess(OUTPUT);
        # HEARTBEATS -1: take the task and never answer it
Prints one JSON line: what it did.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config


def client(url: str):  # noqa: ANN201
    return boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=70))


def read_token(path: str, timeout: float = 20) -> str:
    file = Path(path)
    deadline = time.monotonic() + timeout
    while not file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no token in {path} after {timeout} s")
        time.sleep(0.02)
    return file.read_text()


def main(argv: list[str]) -> None:
    command, url = argv[0], argv[1]
    sfn = client(url)
    if command == "answer":
        token = read_token(argv[2])
        sfn.send_task_success(taskToken=token, output=argv[3])
        print(json.dumps({"answered": token}))
    elif command == "fail":
        token = read_token(argv[2])
        sfn.send_task_failure(taskToken=token, error=argv[3], cause=argv[4])
        print(json.dumps({"failed": token}))
    elif command == "activity":
        activity, worker, heartbeats, interval, output = argv[2], argv[3], int(argv[4]), float(argv[5]), argv[6]
        task = {}
        deadline = time.monotonic() + 30
        while "taskToken" not in task and time.monotonic() < deadline:
            task = sfn.get_activity_task(activityArn=activity, workerName=worker)
        if "taskToken" not in task:
            raise SystemExit("no activity task within 30 s")
        for _ in range(max(heartbeats, 0)):
            time.sleep(interval)
            sfn.send_task_heartbeat(taskToken=task["taskToken"])
        if heartbeats >= 0:
            time.sleep(interval)
            sfn.send_task_success(taskToken=task["taskToken"], output=output)
        print(json.dumps({"input": json.loads(task["input"]), "token": task["taskToken"]}), flush=True)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
