"""The request-response (and `.waitForTaskToken`) forms of the optimized integrations whose jobs `.sync` waits for:
Batch, ECS, Glue, Athena, CodeBuild, SageMaker, EMR, EMR Serverless, EMR on EKS, EKS, against moto's server; and
MediaConvert, which moto does not emulate, against a local server recording its requests."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import QuietHandler, local_server
from aws_services import aws_client

from stepline.errors import DefinitionError
from stepline.engine.resources import describe_resource
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.aws.optimized import OptimizedIntegrations
from stepline.runtime.integrations.registry import AwaitCallback, Integrations, TaskCall
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from stepline.service.workflow import Result

RunTask = Callable[..., Result]
ARN = "arn:aws:states:::"
ROLE = "arn:aws:iam::123456789012:role/stepline-tests"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def members(result: Result) -> dict:
    """The result's own members (checked to carry the SDK's metadata, as Step Functions adds it)."""
    assert result.error is None, (result.error, result.cause)
    assert result.output["SdkHttpMetadata"]["HttpStatusCode"] == 200
    return {key: value for key, value in result.output.items() if not key.startswith("Sdk")}


def test_batch_glue_and_ecs_start_their_jobs_and_answer_at_once(task: RunTask) -> None:
    ecs = aws_client("ecs")
    cluster = ecs.create_cluster(clusterName=unique("cluster"))["cluster"]["clusterArn"]
    family = unique("family")
    ecs.register_task_definition(family=family, containerDefinitions=[{"name": "m", "image": "busybox",
                                                                       "memory": 128}])
    ran = members(task(ARN + "ecs:runTask", {"Cluster": cluster, "TaskDefinition": family, "LaunchType": "FARGATE"}))
    assert ran["Tasks"][0]["ClusterArn"] == cluster and ran["Tasks"][0]["LaunchType"] == "FARGATE"

    job = unique("job")
    aws_client("glue").create_job(Name=job, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://s/x.py"})
    run_id = members(task(ARN + "glue:startJobRun", {"JobName": job}))["JobRunId"]
    assert aws_client("glue").get_job_run(JobName=job, RunId=run_id)["JobRun"]["Id"] == run_id

    submitted = task(ARN + "batch:submitJob", {"JobName": "n", "JobQueue": "nowhere", "JobDefinition": "none"})
    assert submitted.error == "Batch.ClientException"


def test_ecs_run_task_wait_for_task_token_sends_the_request_then_awaits_the_callback(aws: pytest.MonkeyPatch) -> None:
    ecs = aws_client("ecs")
    cluster = ecs.create_cluster(clusterName=unique("cluster"))["cluster"]["clusterArn"]
    family = unique("family")
    ecs.register_task_definition(family=family, containerDefinitions=[{"name": "m", "image": "busybox",
                                                                       "memory": 128}])
    call = TaskCall(resource=describe_resource(ARN + "ecs:runTask.waitForTaskToken"), state_name="Run",
                    parameters={"Cluster": cluster, "TaskDefinition": family, "LaunchType": "FARGATE", "Overrides": {"ContainerOverrides": [
                        {"Name": "m", "Environment": [{"Name": "TASK_TOKEN", "Value": "token-1"}]}]}},
                    invocation=0, execution_arn="arn:execution", idempotency_key="k", task_token="token-1")

    async def invoke() -> object:
        clients = AwsClients()
        try:
            return await Integrations([OptimizedIntegrations(clients)]).invoke(call)
        finally:
            await clients.close()
    outcome = asyncio.run(invoke())
    assert isinstance(outcome, AwaitCallback)
    [started] = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster)["taskArns"])["tasks"]
    assert started["overrides"]["containerOverrides"][0]["environment"] == [{"name": "TASK_TOKEN",
                                                                             "value": "token-1"}]


def test_athena_queries_are_started_read_and_stopped(task: RunTask) -> None:
    output = {"OutputLocation": "s3://results/"}
    query = members(task(ARN + "athena:startQueryExecution", {"QueryString": "SELECT 1",
                                                               "ResultConfiguration": output}))["QueryExecutionId"]
    got = members(task(ARN + "athena:getQueryExecution", {"QueryExecutionId": query}))["QueryExecution"]
    assert got["Query"] == "SELECT 1" and isinstance(got["Status"]["SubmissionDateTime"], int)
    assert "ResultSet" in members(task(ARN + "athena:getQueryResults", {"QueryExecutionId": query}))
    assert members(task(ARN + "athena:stopQueryExecution", {"QueryExecutionId": query})) == {}
    with pytest.raises(DefinitionError, match="is not recognized"):  # Athena has no callback pattern: AWS refuses it
        task(ARN + "athena:startQueryExecution.waitForTaskToken", {"QueryString": "SELECT 1"})


def test_codebuild_builds_are_started_and_stopped(task: RunTask) -> None:
    project = unique("project")
    aws_client("codebuild").create_project(
        name=project, source={"type": "S3", "location": "bucket/source.zip"}, artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"}, serviceRole=ROLE)
    build = members(task(ARN + "codebuild:startBuild", {"ProjectName": project}))["Build"]
    assert build["ProjectName"] == project
    stopped = members(task(ARN + "codebuild:stopBuild", {"Id": build["Id"]}))["Build"]
    assert stopped["Id"] == build["Id"]


def test_sagemaker_models_endpoint_configs_and_endpoints(task: RunTask) -> None:
    model, config, endpoint = unique("model"), unique("config"), unique("endpoint")
    created = members(task(ARN + "sagemaker:createModel", {"ModelName": model, "ExecutionRoleArn": ROLE,
                                                            "PrimaryContainer": {"Image": "image"}}))
    assert created["ModelArn"].endswith(f"model/{model}")
    assert "EndpointConfigArn" in members(task(ARN + "sagemaker:createEndpointConfig", {
        "EndpointConfigName": config, "ProductionVariants": [{"VariantName": "v", "ModelName": model,
                                                              "InitialInstanceCount": 1,
                                                              "InstanceType": "ml.m5.large"}]}))
    assert "EndpointArn" in members(task(ARN + "sagemaker:createEndpoint", {"EndpointName": endpoint,
                                                                             "EndpointConfigName": config}))
    assert aws_client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == config


def emr_cluster(task: RunTask, **instances: object) -> str:
    result = members(task(ARN + "elasticmapreduce:createCluster", {
        "Name": unique("cluster"), "ReleaseLabel": "emr-6.10.0", "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole", "Instances": {"KeepJobFlowAliveWhenNoSteps": True, **instances}}))
    assert set(result) == {"ClusterId", "ClusterArn"}  # RunJobFlow's JobFlowId, as the integration names it
    return result["ClusterId"]


def test_emr_clusters_are_created_protected_stepped_resized_and_terminated(task: RunTask) -> None:
    emr = aws_client("emr")
    cluster = emr_cluster(task, InstanceGroups=[
        {"Name": "Primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
        {"Name": "Workers", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2}])
    assert members(task(ARN + "elasticmapreduce:setClusterTerminationProtection",
                        {"ClusterId": cluster, "TerminationProtected": True})) == {}
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["TerminationProtected"] is True
    task(ARN + "elasticmapreduce:setClusterTerminationProtection", {"ClusterId": cluster,
                                                                     "TerminationProtected": False})

    step = members(task(ARN + "elasticmapreduce:addStep", {"ClusterId": cluster, "Step": {
        "Name": "count", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}}))
    assert emr.describe_step(ClusterId=cluster, StepId=step["StepId"])["Step"]["Name"] == "count"

    assert members(task(ARN + "elasticmapreduce:modifyInstanceGroupByName", {
        "ClusterId": cluster, "InstanceGroupName": "Workers", "InstanceGroup": {"InstanceCount": 5}})) == {}
    groups = {g["Name"]: g for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"]}
    assert groups["Workers"]["RequestedInstanceCount"] == 5
    missing = task(ARN + "elasticmapreduce:modifyInstanceGroupByName", {
        "ClusterId": cluster, "InstanceGroupName": "Nobody", "InstanceGroup": {"InstanceCount": 5}})
    assert missing.error == "States.TaskFailed" and "no instance group named 'Nobody'" in missing.cause

    assert members(task(ARN + "elasticmapreduce:terminateCluster", {"ClusterId": cluster})) == {}
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "TERMINATED"


@pytest.mark.parametrize(("action", "parameters", "problem"), [
    ("createCluster", {"Name": "c", "Instances": {"KeepJobFlowAliveWhenNoSteps": True}, "Steps": []},
     'The field \\"Steps\\" is not supported by Step Functions'),
    ("createCluster", {"Name": "c", "Instances": {}},
     "The field 'Instances.KeepJobFlowAliveWhenNoSteps' is required and must be true"),
    ("terminateCluster", {"JobFlowIds": ["j-1"]}, 'The field \\"JobFlowIds\\" is not supported by Step Functions'),
    ("addStep", {"ClusterId": "j-1", "Steps": []}, 'The field \\"Steps\\" is not supported by Step Functions'),
])
def test_emr_takes_its_integration_fields_not_the_apis(task: RunTask, action: str, parameters: dict,
                                                        problem: str) -> None:
    result = task(ARN + "elasticmapreduce:" + action, parameters)
    assert result.error == "States.Runtime"
    assert result.cause.endswith(problem.replace("\\", "") + "]"), result.cause


def test_emr_serverless_applications_and_job_runs(task: RunTask) -> None:
    created = members(task(ARN + "emr-serverless:createApplication", {"Name": unique("app"),
                                                                       "ReleaseLabel": "emr-6.6.0",
                                                                       "Type": "SPARK"}))
    application = created["ApplicationId"]
    for verb, state in (("stop", "STOPPED"), ("start", "STARTED"), ("stop", "STOPPED")):
        answer = members(task(ARN + f"emr-serverless:{verb}Application", {"ApplicationId": application}))
        assert answer == {"ApplicationId": application}  # the API answers nothing; Step Functions the id
        assert aws_client("emr-serverless").get_application(applicationId=application)["application"][
            "state"] == state
    run = members(task(ARN + "emr-serverless:startJobRun", {
        "ApplicationId": application, "ExecutionRoleArn": ROLE,
        "JobDriver": {"SparkSubmit": {"EntryPoint": "s3://code/main.py"}}}))
    cancelled = members(task(ARN + "emr-serverless:cancelJobRun", {"ApplicationId": application,
                                                                    "JobRunId": run["JobRunId"]}))
    assert cancelled == {"ApplicationId": application, "JobRunId": run["JobRunId"]}
    assert members(task(ARN + "emr-serverless:deleteApplication", {"ApplicationId": application})) == {
        "ApplicationId": application}


def test_emr_on_eks_virtual_clusters(task: RunTask) -> None:
    created = members(task(ARN + "emr-containers:createVirtualCluster", {
        "Name": unique("virtual"), "ContainerProvider": {"Type": "EKS", "Id": unique("eks"),
                                                         "Info": {"EksInfo": {"Namespace": unique("ns")}}}}))
    deleted = members(task(ARN + "emr-containers:deleteVirtualCluster", {"Id": created["Id"]}))
    assert deleted["Id"] == created["Id"]
    assert aws_client("emr-containers").describe_virtual_cluster(id=created["Id"])["virtualCluster"][
        "state"] == "TERMINATED"


def test_eks_clusters_and_node_groups(task: RunTask) -> None:
    name = unique("cluster")
    cluster = members(task(ARN + "eks:createCluster", {"Name": name, "RoleArn": ROLE,
                                                        "ResourcesVpcConfig": {"SubnetIds": ["subnet-1"]}}))["Cluster"]
    assert cluster["Name"] == name and isinstance(cluster["CreatedAt"], int)
    nodegroup = members(task(ARN + "eks:createNodegroup", {"ClusterName": name, "NodegroupName": "workers",
                                                            "NodeRole": ROLE, "Subnets": ["subnet-1"]}))
    assert nodegroup["Nodegroup"]["NodegroupName"] == "workers"
    task(ARN + "eks:deleteNodegroup", {"ClusterName": name, "NodegroupName": "workers"})
    members(task(ARN + "eks:deleteCluster", {"Name": name}))
    assert name not in aws_client("eks").list_clusters()["clusters"]
    missing = task(ARN + "eks:deleteCluster", {"Name": name})
    assert missing.error == "EKS.ResourceNotFoundException", missing.error


@pytest.fixture
def mediaconvert(aws: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A local stand-in for MediaConvert (moto has none): it records CreateJob's and GetJob's requests and answers
    a job that is COMPLETE."""
    received: list[dict] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "body": body})
            self._answer({"job": {"id": "1234-abcd", "status": "SUBMITTED", "role": body.get("role"),
                                  "createdAt": 1700000000, "settings": body.get("settings", {})}})

        def do_GET(self) -> None:  # noqa: N802
            received.append({"path": self.path})
            self._answer({"job": {"id": self.path.rsplit("/", 1)[-1], "status": "COMPLETE", "role": ROLE}})

        def _answer(self, answer: dict) -> None:
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with local_server(Handler) as url:
        aws.setenv("AWS_ENDPOINT_URL_MEDIACONVERT", url)
        yield received


def test_mediaconvert_jobs_are_tagged_as_step_functions_tags_them(task: RunTask, mediaconvert: list[dict]) -> None:
    result = members(task(ARN + "mediaconvert:createJob", {"Role": ROLE, "Settings": {"Inputs": []},
                                                            "Tags": {"team": "video"}}))
    assert result["Job"]["Id"] == "1234-abcd" and result["Job"]["CreatedAt"] == 1700000000000
    [request] = mediaconvert
    assert re.fullmatch(r"/2017-08-29/jobs", request["path"])
    assert request["body"]["tags"] == {"team": "video", "ManagedByService": "AWSStepFunctions"}
    assert request["body"]["clientRequestToken"]  # the invocation's idempotency key


def test_a_mediaconvert_job_is_waited_for(task: RunTask, mediaconvert: list[dict]) -> None:
    result = task(ARN + "mediaconvert:createJob.sync", {"Role": ROLE, "Settings": {"Inputs": []}})
    assert result.error is None, result.cause
    assert result.output == {"Job": {"Id": "1234-abcd", "Status": "COMPLETE", "Role": ROLE}}  # GetJob's answer
    assert [request["path"] for request in mediaconvert] == ["/2017-08-29/jobs", "/2017-08-29/jobs/1234-abcd"]


def test_validation_warns_only_of_the_resources_no_integration_serves(tmp_path: Path) -> None:
    served = ["batch:submitJob", "ecs:runTask.waitForTaskToken", "glue:startJobRun", "athena:getQueryResults",
              "codebuild:batchGetReports", "sagemaker:updateEndpoint", "elasticmapreduce:createCluster.sync",
              "elasticmapreduce:modifyInstanceFleetByName", "emr-serverless:stopApplication.sync",
              "emr-containers:deleteVirtualCluster.sync", "eks:deleteNodegroup.sync", "mediaconvert:createJob.sync",
              "databrew:startJobRun", "apigateway:invoke", "apigateway:invoke.waitForTaskToken", "eks:call",
              "eks:runJob", "eks:runJob.sync"]
    unserved = ["eks:runJob.waitForTaskToken", "batch:submitJob.waitForTaskToken", "glue:startCrawler"]
    states = {f"S{i}": {"Type": "Task", "Resource": ARN + resource, "End": True}
              for i, resource in enumerate(served + unserved)}
    service = StepFunctionsService(Settings(db=str(tmp_path / "store.db")))
    warnings = service.unserved_tasks({"StartAt": "S0", "States": states})
    assert [w.location for w in warnings] == [f"/States/S{i}/Resource" for i in range(len(served),
                                                                                       len(states))]
