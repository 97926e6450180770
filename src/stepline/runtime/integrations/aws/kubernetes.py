"""EKS's Kubernetes API integrations, as the Developer Guide ("Create and manage Amazon EKS clusters with Step
Functions", Kubernetes API integrations) describes them: `arn:aws:states:::eks:call` (request-response) and
`arn:aws:states:::eks:runJob` (request-response and `.sync`; AWS offers no `.waitForTaskToken` for either).

Both reach a cluster's API server at `Endpoint` (https, the server's certificate verified against the Base64
`CertificateAuthority` data; stepline also calls loopback addresses, over http:// too, for local servers in tests)
as AWS does: with the bearer token `k8s-aws-v1.<base64url of a presigned STS GetCallerIdentity URL>`, its
`x-k8s-aws-id: <ClusterName>` header signed, made with the Task's credentials (its Credentials' role, else with
--assume-role the state machine's, else botocore's chain: clients.py), the form aws-iam-authenticator checks.

- `eks:call`: `Method` (GET, POST, PUT, DELETE, HEAD, PATCH) to `Path` with `QueryParameters` (each name with a
  list of values) and `RequestBody` (JSON, sent as its JSON text, or a string sent as it is; a PATCH's JSON body
  is a merge patch, a list a JSON patch).
- `eks:runJob`: POSTs `Job` (a batch/v1 Job, JSON or its text) to `/apis/batch/v1/namespaces/<Namespace>/jobs`
  (Namespace `default` when not given). `.sync` then reads the Job, at first after `poll_seconds` and then twice
  as long each time up to `max_poll_seconds` (AWS polls about once a minute, slowing to once every 5 minutes),
  until its `Complete` or `Failed` condition is True; the handle committed with the task is the Job's namespace
  and name, so a restart resumes the wait. With `LogOptions.RetrieveLogs` the logs of the Job's pods (those its
  selector matches) are added under `logs`: {"pods": {pod: {"containers": {container: {"log": ...}}}}}, each log
  parsed as JSON where it is JSON unless `RawLogs`, read with `LogParameters` as the Read Log API's query
  parameters; a log that cannot be read has `error` and `cause` in place of `log`. A task abandoned while its Job
  runs (stopped execution, timeout, failed branch) deletes the Job, with propagationPolicy Foreground so that its
  pods go too.

The result: {"ResponseBody": the body as JSON when it is JSON, else its text, "StatusCode", "StatusText",
"Headers": {name: [values]}} (the Job as last read, for `.sync`). A status other than 2xx fails the task with
`EKS.<status>` and, as the cause, {"ResponseBody", "StatusCode", "StatusText"} as JSON text (the Developer
Guide's EKS.401); a request that got no response fails with `EKS.SdkClientException`; a Job that failed fails the
task with States.TaskFailed, the result (with its logs) as the cause.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError

from stepline.asl.http_task import is_loopback
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.shapes import cannot_start
from stepline.runtime.integrations.http import Outgoing, Pairs, Unreachable, exchange, new_pool, status_text
from stepline.runtime.integrations.registry import Ended, Failed, Integration, Outcome, Submitted, Succeeded, TaskCall

CLUSTER = ("ClusterName", "CertificateAuthority", "Endpoint")
FIELDS = {"call": (*CLUSTER, "Method", "Path", "QueryParameters", "RequestBody"),
          "runJob": (*CLUSTER, "Namespace", "Job", "LogOptions")}
REQUIRED = {"call": (*CLUSTER, "Method", "Path"), "runJob": (*CLUSTER, "Job")}
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")
TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_SECONDS = 60  # how long a token's presigned URL is valid (aws-iam-authenticator's)
_EKS_HOST = re.compile(r".+\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.eks\.amazonaws\.com(\.cn)?")


class EksKubernetes(Integration):
    """`eks:call`, `eks:runJob` and `eks:runJob.sync`."""

    name = "eks-kubernetes"

    def __init__(self, clients: AwsClients, *, poll_seconds: float = 1.0, max_poll_seconds: float = 30.0) -> None:
        self.clients = clients
        self.poll_seconds = poll_seconds
        self.max_poll_seconds = max(poll_seconds, max_poll_seconds)
        self._pools: dict[str | None, urllib3.PoolManager] = {}  # by certificate authority (None: plain http)

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        return resource.kind == "service" and resource.resource_type == "eks" and resource.name in (
            "call", "runJob", "runJob.sync")

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.clear()

    async def invoke(self, call: TaskCall) -> Outcome:
        action = call.resource.name.removesuffix(".sync")
        parameters = _checked(call.parameters, action)
        if action == "call":
            return Succeeded(await self._send(call, parameters, parameters["Method"], parameters["Path"],
                                              _pairs(parameters, "QueryParameters"), parameters.get("RequestBody")))
        namespace = parameters.get("Namespace", "default")
        created = await self._send(call, parameters, "POST", f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs",
                                   [], parameters["Job"])
        if call.resource.pattern != "sync":
            return Succeeded(created)
        body = created["ResponseBody"]
        name = body.get("metadata", {}).get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            return Failed("States.TaskFailed", f"The Kubernetes API answered no Job name: {dumps(created)}")
        return Submitted(created, {"Namespace": namespace, "JobName": name})

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        parameters = _checked(call.parameters, "runJob")
        if not isinstance(handle, dict) or not isinstance(handle.get("JobName"), str):
            return Failed("States.Runtime", f"The job handle of eks:runJob.sync is not one: {dumps(handle)}")
        namespace = str(handle.get("Namespace", "default"))
        path = f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs/{quote(handle['JobName'])}"
        delay = self.poll_seconds
        while True:
            result = await self._send(call, parameters, "GET", path)
            ended = _ended(result["ResponseBody"])
            if ended is not None:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_poll_seconds)
        options = parameters.get("LogOptions") or {}
        if options.get("RetrieveLogs"):
            result["logs"] = await self._logs(call, parameters, namespace, result["ResponseBody"], options)
        return Succeeded(result) if ended else Failed("States.TaskFailed", dumps(result))

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        if call.resource.name != "runJob.sync" or not isinstance(handle, dict):
            return
        path = (f"/apis/batch/v1/namespaces/{quote(str(handle.get('Namespace', 'default')))}/jobs/"
                f"{quote(str(handle.get('JobName')))}")
        try:
            await self._send(call, _checked(call.parameters, "runJob"), "DELETE", path,
                             [("propagationPolicy", "Foreground")])
        except StatesError as error:
            if error.error != "EKS.404":  # already gone
                raise

    # ---------------------------------------------------------------- the Kubernetes API

    async def _send(self, call: TaskCall, parameters: dict, method: str, path: str, query: Pairs | None = None,
                    body: JSON = None, *, parse: bool = True) -> dict[str, JSON]:
        """One request to the cluster's API server; its result (`parse`: its body as JSON where it is JSON), or
        StatesError (EKS.<status>, ...)."""
        endpoint = parameters["Endpoint"]
        url = endpoint if "://" in endpoint else "https://" + endpoint
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not (parts.scheme == "https" and host) and not (parts.scheme == "http" and is_loopback(host)):
            raise StatesError("States.Runtime", f"The Endpoint '{endpoint}' is not a Kubernetes API server's "
                                                "https:// URL (stepline also calls http:// on loopback addresses)")
        try:
            credentials = await self.clients.credentials(call)
        except (RoleError, NoCredentialsError) as error:
            raise StatesError("States.TaskFailed", f"Unable to authenticate to the cluster: {error}") from None
        eks_host = _EKS_HOST.fullmatch(host)
        region = eks_host.group("region") if eks_host else call.resource.region or self.clients.region
        headers = [("Accept", "application/json"),
                   ("Authorization", "Bearer " + bearer_token(credentials, parameters["ClusterName"], region))]
        data: bytes | None = None
        if body is not None:
            data, content_type = _body(body, method)
            headers.append(("Content-Type", content_type))
        url = url.rstrip("/") + "/" + path.lstrip("/")
        if query:
            url += ("&" if parts.query else "?") + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                                                            for k, v in query)
        pool = self._pool(parameters["CertificateAuthority"] if parts.scheme == "https" else None, parameters)
        try:
            status, reason, response_headers, raw = await self.clients.run(
                exchange, pool, Outgoing(method=method, url=url, headers=headers, body=data))
        except Unreachable as error:
            raise StatesError("EKS.SdkClientException", str(error)) from None
        text = raw.decode("utf-8", errors="replace")
        result: dict[str, JSON] = {"ResponseBody": _json_or_text(text) if parse else text, "StatusCode": status,
                                   "StatusText": status_text(status, reason)}
        if not 200 <= status < 300:
            raise StatesError(f"EKS.{status}", dumps(result))
        grouped: dict[str, list[JSON]] = {}
        for name, value in response_headers:
            grouped.setdefault(name, []).append(value)
        result["Headers"] = grouped
        return result

    def _pool(self, authority: str | None, parameters: dict) -> urllib3.PoolManager:
        pool = self._pools.get(authority)
        if pool is None:
            if authority is None:
                pool = new_pool()
            else:
                try:
                    pem = base64.b64decode(authority, validate=True).decode("ascii")
                except (binascii.Error, UnicodeDecodeError):
                    raise cannot_start(parameters, "The value of the field 'CertificateAuthority' is not Base64 "
                                                   "certificate data") from None
                pool = new_pool(cert_reqs="CERT_REQUIRED", ca_cert_data=pem)
            self._pools[authority] = pool
        return pool

    async def _logs(self, call: TaskCall, parameters: dict, namespace: str, job: JSON,
                    options: dict) -> dict[str, JSON]:
        """The logs of the Job's pods, best effort."""
        spec = job.get("spec", {}) if isinstance(job, dict) else {}
        labels = (spec.get("selector") or {}).get("matchLabels") if isinstance(spec, dict) else None
        name = job.get("metadata", {}).get("name", "") if isinstance(job, dict) else ""
        selector = ",".join(f"{k}={v}" for k, v in labels.items()) if isinstance(labels, dict) and labels else (
            f"job-name={name}")
        base = f"/api/v1/namespaces/{quote(namespace)}/pods"
        try:
            listed = await self._send(call, parameters, "GET", base, [("labelSelector", selector)])
        except StatesError as error:
            return {"error": error.error, "cause": error.cause}
        pods: dict[str, JSON] = {}
        items = listed["ResponseBody"].get("items", []) if isinstance(listed["ResponseBody"], dict) else []
        for pod in items:
            pod_name = pod.get("metadata", {}).get("name", "")
            containers: dict[str, JSON] = {}
            for container in pod.get("spec", {}).get("containers", []):
                query = [("container", container.get("name", "")), *_pairs(options, "LogParameters")]
                try:
                    read = await self._send(call, parameters, "GET", f"{base}/{quote(pod_name)}/log", query,
                                            parse=not options.get("RawLogs"))
                except StatesError as error:
                    containers[container.get("name", "")] = {"error": error.error, "cause": error.cause}
                    continue
                containers[container.get("name", "")] = {"log": read["ResponseBody"]}
            pods[pod_name] = {"containers": containers}
        return {"pods": pods}


def bearer_token(credentials: ReadOnlyCredentials, cluster: str, region: str) -> str:
    """The token EKS's API servers accept: a presigned STS GetCallerIdentity URL that signs `x-k8s-aws-id`."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    request = AWSRequest(method="GET", url=f"https://sts.{region}.{domain}/?Action=GetCallerIdentity"
                                           "&Version=2011-06-15", headers={"x-k8s-aws-id": cluster})
    SigV4QueryAuth(credentials, "sts", region, expires=TOKEN_SECONDS).add_auth(request)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(request.url).encode()).decode().rstrip("=")


def _ended(job: JSON) -> bool | None:
    """True once the Job completed, False once it failed, None while it runs."""
    conditions = job.get("status", {}).get("conditions") if isinstance(job, dict) else None
    for condition in conditions or []:
        if isinstance(condition, dict) and condition.get("status") == "True":
            if condition.get("type") == "Complete":
                return True
            if condition.get("type") == "Failed":
                return False
    return None


def _checked(parameters: JSON, action: str) -> dict[str, Any]:
    """A call's parameters, or States.Runtime for those Step Functions would refuse."""
    if not isinstance(parameters, dict):
        raise cannot_start(parameters, "The value of the Parameters has an invalid format")
    for name in parameters:
        if name not in FIELDS[action]:
            raise cannot_start(parameters, f"The field \"{name}\" is not supported by Step Functions")
    for name in REQUIRED[action]:
        if name not in parameters:
            raise cannot_start(parameters, f"The field '{name}' is required but was missing")

    def invalid(name: str) -> StatesError:
        return cannot_start(parameters, f"The value of the field '{name}' has an invalid format")

    for name in (*CLUSTER, "Path", "Namespace"):
        if name in parameters and (not isinstance(parameters[name], str) or not parameters[name]):
            raise invalid(name)
    if action == "call" and parameters["Method"] not in METHODS:
        raise invalid("Method")
    if "Job" in parameters and not isinstance(parameters["Job"], (dict, str)):
        raise invalid("Job")
    _pairs(parameters, "QueryParameters")
    options = parameters.get("LogOptions", {})
    if not isinstance(options, dict) or set(options) - {"RetrieveLogs", "RawLogs", "LogParameters"} or any(
            not isinstance(options.get(name, False), bool) for name in ("RetrieveLogs", "RawLogs")):
        raise invalid("LogOptions")
    _pairs(options, "LogParameters")
    return parameters


def _pairs(parameters: dict, name: str) -> Pairs:
    """QueryParameters or LogParameters: an object whose values are lists of strings, as (name, value) pairs."""
    value = parameters.get(name)
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(items, list) and all(isinstance(item, str) for item in items)
                                              for items in value.values()):
        raise cannot_start(parameters, f"The value of the field '{name}' has an invalid format")
    return [(key, item) for key, items in value.items() for item in items]


def _body(body: JSON, method: str) -> tuple[bytes, str]:
    """A request body and its content type: JSON as its text; a PATCH's object a merge patch, its list a JSON
    patch; a string as it is (JSON text, else YAML, which the API server also reads)."""
    if method == "PATCH":
        content_type = "application/json-patch+json" if isinstance(body, list) or (
            isinstance(body, str) and body.lstrip().startswith("[")) else "application/merge-patch+json"
    else:
        content_type = "application/json"
    if isinstance(body, str):
        if method != "PATCH" and not body.lstrip().startswith(("{", "[")):
            content_type = "application/yaml"
        return body.encode(), content_type
    return dumps(body).encode(), content_type


def _json_or_text(text: str) -> JSON:
    try:
        return loads(text)
    except ValueError:
        return text
