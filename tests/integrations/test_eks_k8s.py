"""EKS's Kubernetes API integrations (`eks:call`, `eks:runJob`, `eks:runJob.sync`) against a real HTTP server on
127.0.0.1 standing in for a cluster's API server, recording each request: the bearer token (a presigned STS
GetCallerIdentity URL signing x-k8s-aws-id), the request built from the parameters, the Job's creation, polling,
logs and deletion when the task is abandoned, TLS verified against CertificateAuthority, the errors."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support import QuietHandler, local_server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.aws.kubernetes import EksKubernetes
from stepline.service.workflow import Result, Workflow

ARN = "arn:aws:states:::eks:"
CA = base64.b64encode(b"not used over http").decode()
KEY_ID = "AKIDEXAMPLEEKS"


@dataclass
class Cluster:
    """The API server's state: the requests it received, its Jobs (how many polls until each ends, and how)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    polls_until_done: int = 2
    outcome: str = "Complete"  # or "Failed", or "" (runs forever)
    jobs: dict[str, dict] = field(default_factory=dict)

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [request for request in self.received if request["method"] == method]


def _handler(cluster: Cluster) -> type[QuietHandler]:
    """The API server's handler."""
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": self.rfile.read(length) if length else b""}
            cluster.received.append(request)
            path, method = parts.path, self.command
            if path == "/forbidden":
                return self._reply(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                         "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
            if path.startswith("/apis/batch/v1/namespaces/") and path.endswith("/jobs") and method == "POST":
                job = json.loads(request["body"])
                job["metadata"] |= {"namespace": path.split("/")[5], "uid": "uid-1"}
                job["spec"]["selector"] = {"matchLabels": {"controller-uid": "uid-1"}}
                cluster.jobs[job["metadata"]["name"]] = {"job": job, "polls": 0}
                return self._reply(201, job)
            if path.startswith("/apis/batch/v1/namespaces/") and "/jobs/" in path:
                name = path.rsplit("/", 1)[1]
                if name not in cluster.jobs:
                    return self._reply(404, {"kind": "Status", "code": 404})
                if method == "DELETE":
                    return self._reply(200, {"kind": "Status", "status": "Success"})
                entry = cluster.jobs[name]
                entry["polls"] += 1
                status: dict[str, Any] = {"active": 1}
                if cluster.outcome and entry["polls"] >= cluster.polls_until_done:
                    status = {cluster.outcome.lower().replace("complete", "succeeded"): 1,
                              "conditions": [{"type": cluster.outcome, "status": "True"}]}
                return self._reply(200, {**entry["job"], "status": status})
            if path.endswith("/pods") and method == "GET":
                return self._reply(200, {"kind": "PodList", "items": [
                    {"metadata": {"name": "example-job-abcde"},
                     "spec": {"containers": [{"name": "main"}, {"name": "sidecar"}, {"name": "broken"}]}}]})
            if path.endswith("/log"):
                container = request["query"]["container"][0]
                if container == "broken":
                    return self._reply(400, {"kind": "Status", "message": "container is waiting"})
                text = '{"digits": 3.14159265358979323846264338327950288}\n' if container == "main" else "a\nb\n"
                return self._reply(200, text, "text/plain")
            return self._reply(200, {"kind": "PodList", "items": []})

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815

    return Handler


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "session",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def cluster(credentials: None) -> Iterator[Cluster]:
    state = Cluster()
    with local_server(_handler(state)) as state.url:
        yield state


@pytest.fixture
def task() -> Callable[..., Result]:
    def run(action: str, parameters: Any, *, time_scale: float = 0, **fields: Any) -> Result:
        state = {"Type": "Task", "Resource": ARN + action, "Parameters": parameters, "End": True, **fields}
        integration = EksKubernetes(AwsClients(), poll_seconds=0.01, max_poll_seconds=0.02)
        return Workflow({"StartAt": "T", "States": {"T": state}}).run({}, integrations=[integration],
                                                                     time_scale=time_scale)
    return run


def _where(cluster: Cluster, **more: Any) -> dict[str, Any]:
    return {"ClusterName": "MyCluster", "CertificateAuthority": CA, "Endpoint": cluster.url, **more}


JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "example-job"},
       "spec": {"backoffLimit": 0, "template": {"spec": {"containers": [{"name": "main", "image": "perl"}],
                                                         "restartPolicy": "Never"}}}}


def test_call_sends_the_request_with_an_eks_bearer_token_and_answers_the_response(
        task: Callable[..., Result], cluster: Cluster) -> None:
    result = task("call", _where(cluster, Method="GET", Path="/api/v1/namespaces/default/pods",
                                 QueryParameters={"labelSelector": ["job-name=example-job"], "limit": ["5", "6"]}))
    assert result.error is None, result.cause
    assert result.output["ResponseBody"] == {"kind": "PodList", "items": [
        {"metadata": {"name": "example-job-abcde"},
         "spec": {"containers": [{"name": "main"}, {"name": "sidecar"}, {"name": "broken"}]}}]}
    assert (result.output["StatusCode"], result.output["StatusText"]) == (200, "OK")
    assert result.output["Headers"]["Content-Type"] == ["application/json"]
    [request] = cluster.received
    assert request["path"] == "/api/v1/namespaces/default/pods"
    assert request["query"] == {"labelSelector": ["job-name=example-job"], "limit": ["5", "6"]}

    # the token: k8s-aws-v1. + base64url (unpadded) of a presigned STS GetCallerIdentity URL signing x-k8s-aws-id
    scheme, token = request["headers"]["authorization"].split(" ")
    assert scheme == "Bearer" and token.startswith("k8s-aws-v1.") and "=" not in token
    encoded = token.removeprefix("k8s-aws-v1.")
    url = urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.us-east-1.amazonaws.com", "/")
    assert query["Action"] == ["GetCallerIdentity"] and query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-Credential"][0].startswith(KEY_ID + "/") and query["X-Amz-Credential"][0].endswith(
        "/us-east-1/sts/aws4_request")
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"] and query["X-Amz-Security-Token"] == ["session"]
    assert len(query["X-Amz-Signature"][0]) == 64


def test_call_sends_a_json_body_and_a_patch_as_a_merge_patch(task: Callable[..., Result], cluster: Cluster) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"}}
    assert task("call", _where(cluster, Method="POST", Path="/api/v1/namespaces/kube-system/configmaps",
                               RequestBody=body)).error is None
    assert task("call", _where(cluster, Method="PATCH", Path="/api/v1/namespaces/kube-system/configmaps/aws-auth",
                               RequestBody={"data": {"a": "b"}})).error is None
    post, patch = cluster.received
    assert (post["method"], json.loads(post["body"]), post["headers"]["content-type"]) == (
        "POST", body, "application/json")
    assert (patch["method"], patch["headers"]["content-type"]) == ("PATCH", "application/merge-patch+json")


def test_a_status_other_than_2xx_is_eks_status_with_the_response_as_cause(
        task: Callable[..., Result], cluster: Cluster) -> None:
    result = task("call", _where(cluster, Method="GET", Path="/forbidden"))
    assert result.error == "EKS.401"
    assert json.loads(result.cause or "") == {  # the Developer Guide's example, exactly
        "ResponseBody": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": "Unauthorized", "reason": "Unauthorized", "code": 401},
        "StatusCode": 401, "StatusText": "Unauthorized"}


def test_bad_parameters_and_endpoints_fail_the_task(task: Callable[..., Result], cluster: Cluster) -> None:
    assert task("call", _where(cluster, Method="GET", Path="/", Body={})).error == "States.Runtime"
    assert task("call", _where(cluster, Method="TRACE", Path="/")).error == "States.Runtime"
    assert task("runJob", _where(cluster)).error == "States.Runtime"  # no Job
    assert task("call", {**_where(cluster, Method="GET", Path="/"),
                         "Endpoint": "http://example.com"}).error == "States.Runtime"  # http:// only on loopback
    result = task("call", {**_where(cluster, Method="GET", Path="/"), "Endpoint": "http://127.0.0.1:9"})
    assert result.error == "EKS.SdkClientException"
    assert not cluster.received


def test_run_job_request_response_creates_the_job(task: Callable[..., Result], cluster: Cluster) -> None:
    result = task("runJob", _where(cluster, Namespace="batch", Job=JOB))
    assert result.error is None, result.cause
    assert result.output["StatusCode"] == 201 and result.output["ResponseBody"]["metadata"]["name"] == "example-job"
    [request] = cluster.received
    assert (request["method"], request["path"]) == ("POST", "/apis/batch/v1/namespaces/batch/jobs")
    assert json.loads(request["body"]) == JOB


def test_run_job_sync_waits_for_the_job_and_retrieves_its_logs(task: Callable[..., Result], cluster: Cluster) -> None:
    result = task("runJob.sync", _where(cluster, Job=JOB, LogOptions={"RetrieveLogs": True,
                                                                       "LogParameters": {"tailLines": ["6"]}}))
    assert result.error is None, result.cause
    assert result.output["ResponseBody"]["status"]["conditions"] == [{"type": "Complete", "status": "True"}]
    assert result.output["StatusCode"] == 200
    containers = result.output["logs"]["pods"]["example-job-abcde"]["containers"]
    assert containers["main"] == {"log": {"digits": 3.14159265358979323846264338327950288}}  # JSON: parsed
    assert containers["sidecar"] == {"log": "a\nb\n"}
    assert containers["broken"]["error"] == "EKS.400" and "container is waiting" in containers["broken"]["cause"]
    paths = [(request["method"], request["path"]) for request in cluster.received]
    assert paths[:3] == [("POST", "/apis/batch/v1/namespaces/default/jobs"),
                         ("GET", "/apis/batch/v1/namespaces/default/jobs/example-job"),
                         ("GET", "/apis/batch/v1/namespaces/default/jobs/example-job")]
    pods = cluster.received[3]
    assert pods["path"] == "/api/v1/namespaces/default/pods"
    assert pods["query"] == {"labelSelector": ["controller-uid=uid-1"]}  # the Job's own selector
    logs = cluster.received[4:]
    assert [(r["path"], r["query"]) for r in logs] == [
        ("/api/v1/namespaces/default/pods/example-job-abcde/log", {"container": [c], "tailLines": ["6"]})
        for c in ("main", "sidecar", "broken")]
    assert [entry["type"] for entry in result.history if entry["type"] in (
        "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded")] == [
        "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]


def test_raw_logs_are_not_parsed_and_no_logs_are_read_unless_asked(
        task: Callable[..., Result], cluster: Cluster) -> None:
    result = task("runJob.sync", _where(cluster, Job=JOB, LogOptions={"RetrieveLogs": True, "RawLogs": True}))
    containers = result.output["logs"]["pods"]["example-job-abcde"]["containers"]
    assert containers["main"] == {"log": '{"digits": 3.14159265358979323846264338327950288}\n'}
    cluster.received.clear()
    result = task("runJob.sync", _where(cluster, Job={**JOB, "metadata": {"name": "other"}}))
    assert "logs" not in result.output
    assert {request["path"] for request in cluster.received} == {"/apis/batch/v1/namespaces/default/jobs",
                                                                "/apis/batch/v1/namespaces/default/jobs/other"}


def test_a_failed_job_fails_the_task(task: Callable[..., Result], cluster: Cluster) -> None:
    cluster.outcome = "Failed"
    result = task("runJob.sync", _where(cluster, Job=JOB))
    assert result.error == "States.TaskFailed"
    assert json.loads(result.cause or "")["ResponseBody"]["status"]["conditions"] == [
        {"type": "Failed", "status": "True"}]


def test_an_abandoned_job_is_deleted(cluster: Cluster) -> None:
    cluster.outcome = ""  # runs until the task times out
    state = {"Type": "Task", "Resource": ARN + "runJob.sync", "Parameters": _where(cluster, Namespace="work", Job=JOB),
             "TimeoutSeconds": 4, "End": True}
    integration = EksKubernetes(AwsClients(), poll_seconds=0.01, max_poll_seconds=0.02)

    async def run() -> Result:
        result = await Workflow({"StartAt": "T", "States": {"T": state}}).run_async(
            {}, integrations=[integration], time_scale=0.05)
        for _ in range(200):  # the deletion goes on after the execution ended
            if cluster.requests("DELETE"):
                break
            await asyncio.sleep(0.01)
        return result

    assert asyncio.run(run()).error == "States.Timeout"
    [delete] = cluster.requests("DELETE")
    assert delete["path"] == "/apis/batch/v1/namespaces/work/jobs/example-job"
    assert delete["query"] == {"propagationPolicy": ["Foreground"]}


def _certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_https_is_verified_against_the_certificate_authority(
        task: Callable[..., Result], credentials: None, tmp_path: Path) -> None:
    pem, key = _certificate()
    (tmp_path / "cert.pem").write_bytes(pem)
    (tmp_path / "key.pem").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    cluster = Cluster()
    with local_server(_handler(cluster), tls=context) as url:
        where = {"ClusterName": "MyCluster", "Endpoint": url, "Method": "GET", "Path": "/api/v1/namespaces"}
        result = task("call", {**where, "CertificateAuthority": base64.b64encode(pem).decode()})
        assert result.error is None, result.cause
        other, _ = _certificate()
        result = task("call", {**where, "CertificateAuthority": base64.b64encode(other).decode()})
        assert result.error == "EKS.SdkClientException" and "CERTIFICATE_VERIFY_FAILED" in (result.cause or "")
        assert len(cluster.received) == 1
