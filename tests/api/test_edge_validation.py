"""API validation at the edges, through boto3 against `stepline serve`: each rule as the API reference states it,
with the error AWS answers (the messages marked "recorded" are AWS's, from LocalStack's AWS-validated snapshots)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from serving import ROLE, StepLine
from support import fresh_schema

PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
CMK = "CUSTOMER_MANAGED_KMS_KEY"
NO_KEY = "Invalid Encryption Configuration: 'kmsKeyId' is required when 'type' is 'CUSTOMER_MANAGED_KMS_KEY'"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    folder = tmp_path_factory.mktemp("edges")
    if request.param == "sqlite":
        running = StepLine.start(folder / "stepline.db")
        yield running
        assert running.stop() == 0
        return
    with fresh_schema(request.getfixturevalue("postgres_url"), "edges") as (location, _):
        running = StepLine.start(location, log=folder / "server.log")  # type: ignore[arg-type]
        yield running
        assert running.stop() == 0


@pytest.fixture
def sfn(server: StepLine) -> Any:
    return server.client()


@pytest.fixture
def unvalidated(server: StepLine) -> Any:
    return server.client(parameter_validation=False)


def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def machine(sfn: Any, name: str, definition: str = PASS, **options: Any) -> str:
    return sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE, **options)["stateMachineArn"]


def versions(sfn: Any, name: str, count: int) -> tuple[str, list[str]]:
    """A state machine with `count` published versions (each of a different definition)."""
    arn = machine(sfn, name)
    published = []
    for number in range(count):
        definition = json.dumps({"Comment": str(number), "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        published.append(sfn.update_state_machine(stateMachineArn=arn, definition=definition,
                                                  publish=True)["stateMachineVersionArn"])
    return arn, published


# -- definitions ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("definition", "code", "message"), [
    pytest.param(json.dumps({"StartAt": "P"}), "InvalidDefinition",
                 "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] "
                 "at /'", id="missing-states-recorded"),
    pytest.param("{}", "InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These "
                 "fields are required: [States, StartAt] at /'", id="empty-object"),
    pytest.param("[]", "InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Definition "
                 "must be a valid JSON object at null'", id="not-an-object"),
    pytest.param(" ", "InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Definition "
                 "must be a valid JSON object at null'", id="blank"),
    pytest.param("", "ValidationException", "1 validation error detected: Value at 'definition' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1", id="empty"),
])
def test_bad_definitions(unvalidated: Any, definition: str, code: str, message: str) -> None:
    assert error_of(unvalidated.create_state_machine, name="bad", definition=definition, roleArn=ROLE) == (
        code, message)


@pytest.mark.parametrize(("definition", "diagnostic"), [  # recorded
    pytest.param(" ", {"code": "SCHEMA_VALIDATION_FAILED", "message": "Definition must be a valid JSON object",
                       "severity": "ERROR"}, id="blank"),
    pytest.param("{}", {"code": "SCHEMA_VALIDATION_FAILED", "location": "/", "severity": "ERROR",
                        "message": "These fields are required: [States, StartAt]"}, id="empty-object"),
])
def test_validate_a_definition_that_is_none(sfn: Any, definition: str, diagnostic: dict) -> None:
    answer = sfn.validate_state_machine_definition(definition=definition, type="STANDARD")
    assert (answer["result"], answer["diagnostics"], answer["truncated"]) == ("FAIL", [diagnostic], False)


def test_update_with_nothing_to_update(sfn: Any) -> None:
    arn = machine(sfn, "update-nothing")
    assert error_of(sfn.update_state_machine, stateMachineArn=arn) == (  # recorded
        "MissingRequiredParameter",
        "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")


# -- encryptionConfiguration --------------------------------------------------------------------------------------

def test_a_customer_managed_key_needs_its_key_id(sfn: Any) -> None:
    assert error_of(sfn.create_state_machine, name="cmk", definition=PASS, roleArn=ROLE,
                    encryptionConfiguration={"type": CMK}) == ("InvalidEncryptionConfiguration", NO_KEY)
    assert error_of(sfn.create_activity, name="cmk", encryptionConfiguration={"type": CMK}) == (
        "InvalidEncryptionConfiguration", NO_KEY)
    arn = machine(sfn, "cmk-update")
    assert error_of(sfn.update_state_machine, stateMachineArn=arn, encryptionConfiguration={"type": CMK}) == (
        "InvalidEncryptionConfiguration", NO_KEY)
    keyed = {"type": CMK, "kmsKeyId": "alias/mine", "kmsDataKeyReusePeriodSeconds": 60}
    activity = sfn.create_activity(name="cmk-keyed", encryptionConfiguration=keyed)["activityArn"]
    assert sfn.describe_activity(activityArn=activity)["encryptionConfiguration"] == keyed


def test_the_reuse_period_is_bounded_by_the_model(sfn: Any, unvalidated: Any) -> None:
    code, message = error_of(unvalidated.create_activity, name="reuse", encryptionConfiguration={
        "type": CMK, "kmsKeyId": "k", "kmsDataKeyReusePeriodSeconds": 901})
    assert (code, message) == ("ValidationException", "1 validation error detected: Value '901' at "
                               "'encryptionConfiguration.kmsDataKeyReusePeriodSeconds' failed to satisfy constraint: "
                               "Member must have value less than or equal to 900")


# -- versions -----------------------------------------------------------------------------------------------------

def test_update_with_publish_publishes_whenever_anything_versioned_changed(sfn: Any) -> None:
    arn = machine(sfn, "publish-on-change", publish=True)
    first = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"][0]["stateMachineVersionArn"]
    same = sfn.update_state_machine(stateMachineArn=arn, definition=PASS, publish=True)
    assert same["stateMachineVersionArn"] == first  # nothing changed: the current revision's version
    traced = sfn.update_state_machine(stateMachineArn=arn, tracingConfiguration={"enabled": True}, publish=True)
    assert traced["stateMachineVersionArn"] == f"{arn}:2"
    logged = sfn.update_state_machine(stateMachineArn=arn, publish=True,
                                      loggingConfiguration={"level": "OFF", "includeExecutionData": True})
    assert logged["stateMachineVersionArn"] == f"{arn}:3"
    assert sfn.describe_state_machine(stateMachineArn=f"{arn}:2")["tracingConfiguration"] == {"enabled": True}
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == f"{arn}:3"


def test_initial_names_the_revision_of_a_state_machine_that_has_none(sfn: Any) -> None:
    arn = machine(sfn, "initial-revision")
    for _ in range(2):
        assert sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="INITIAL")[
            "stateMachineVersionArn"] == f"{arn}:1"
    sfn.update_state_machine(stateMachineArn=arn, definition=WAIT)
    code, message = error_of(sfn.publish_state_machine_version, stateMachineArn=arn, revisionId="INITIAL")
    assert code == "ConflictException" and message.startswith("Failed to publish the State Machine version for "
                                                              "revision INITIAL. The current State Machine revision is ")


# -- aliases ------------------------------------------------------------------------------------------------------

def test_alias_routing_rules_in_aws_order_and_words(sfn: Any) -> None:  # all recorded
    arn, (one, two) = versions(sfn, "routing", 2)
    assert error_of(sfn.create_state_machine_alias, name="a", routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 50}, {"stateMachineVersionArn": one, "weight": 50}]) == (
        "ValidationException",
        f"Routing configuration must contain distinct state machine version ARNs. Received: [{one}, {one}]")
    assert error_of(sfn.create_state_machine_alias, name="a", routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 70}, {"stateMachineVersionArn": two, "weight": 29}]) == (
        "ValidationException", "Sum of routing configuration weights must equal 100. Received: [70, 29]")
    assert error_of(sfn.create_state_machine_alias, name="a", routingConfiguration=[
        {"stateMachineVersionArn": arn, "weight": 50}, {"stateMachineVersionArn": two, "weight": 50}]) == (
        "ValidationException", f"Routing configuration must contain state machine version ARNs. Received: [{arn}, "
                               f"{two}]")


def test_update_alias_with_nothing_to_update(sfn: Any) -> None:
    _, (one,) = versions(sfn, "alias-update", 1)
    alias = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 100}])["stateMachineAliasArn"]
    assert error_of(sfn.update_state_machine_alias, stateMachineAliasArn=alias) == (
        "MissingRequiredParameter", "Either the description or the RoutingConfiguration must be specified")


def test_a_version_an_alias_routes_to_cannot_be_deleted(sfn: Any) -> None:  # recorded
    _, (one, two) = versions(sfn, "referenced", 2)
    for name in ("blue", "green"):
        sfn.create_state_machine_alias(name=name, routingConfiguration=[
            {"stateMachineVersionArn": one, "weight": 60}, {"stateMachineVersionArn": two, "weight": 40}])
    assert error_of(sfn.delete_state_machine_version, stateMachineVersionArn=one) == (
        "ConflictException", "Version to be deleted must not be referenced by an alias. Current list of aliases "
                             "referencing this version: [blue, green]")


# -- deleted resources --------------------------------------------------------------------------------------------

def test_operations_on_deleted_resources(sfn: Any) -> None:
    arn, (one,) = versions(sfn, "deleted", 1)
    alias = sfn.create_state_machine_alias(name="gone", routingConfiguration=[
        {"stateMachineVersionArn": one, "weight": 100}])["stateMachineAliasArn"]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    assert error_of(sfn.describe_state_machine_alias, stateMachineAliasArn=alias) == (
        "ResourceNotFound", "Request references a resource that does not exist.")
    assert error_of(sfn.update_state_machine_alias, stateMachineAliasArn=alias, description="x") == (
        "ResourceNotFound", "Request references a resource that does not exist.")
    sfn.delete_state_machine_version(stateMachineVersionArn=one)
    missing_version = ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{one}'")
    assert error_of(sfn.describe_state_machine, stateMachineArn=one) == missing_version
    assert error_of(sfn.start_execution, stateMachineArn=one) == missing_version
    sfn.delete_state_machine(stateMachineArn=arn)
    missing = ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    for call, params in [(sfn.describe_state_machine, {}), (sfn.start_execution, {}),
                         (sfn.update_state_machine, {"definition": PASS}), (sfn.publish_state_machine_version, {}),
                         (sfn.list_state_machine_versions, {}), (sfn.list_executions, {})]:
        assert error_of(call, stateMachineArn=arn, **params) == missing
    activity = sfn.create_activity(name="deleted-activity")["activityArn"]
    sfn.delete_activity(activityArn=activity)
    gone = ("ActivityDoesNotExist", f"Activity Does Not Exist: '{activity}'")
    assert error_of(sfn.describe_activity, activityArn=activity) == gone
    assert error_of(sfn.get_activity_task, activityArn=activity) == gone


# -- page tokens --------------------------------------------------------------------------------------------------

def test_a_page_token_serves_only_the_query_that_issued_it(sfn: Any) -> None:
    arn = machine(sfn, "tokens", WAIT)
    for _ in range(3):
        sfn.start_execution(stateMachineArn=arn)
    token = sfn.list_executions(stateMachineArn=arn, maxResults=1)["nextToken"]
    assert len(sfn.list_executions(stateMachineArn=arn, maxResults=1, nextToken=token)["executions"]) == 1
    invalid = ("InvalidToken", "Invalid Token: 'Invalid token'")
    assert error_of(sfn.list_executions, stateMachineArn=arn, statusFilter="RUNNING", nextToken=token) == invalid
    other = machine(sfn, "tokens-other")
    assert error_of(sfn.list_executions, stateMachineArn=other, nextToken=token) == invalid
    assert error_of(sfn.list_state_machines, nextToken=token) == invalid
    execution = sfn.list_executions(stateMachineArn=arn)["executions"][0]["executionArn"]
    history = sfn.get_execution_history(executionArn=execution, maxResults=1)["nextToken"]
    assert sfn.get_execution_history(executionArn=execution, maxResults=1, nextToken=history)["events"][0]["id"] == 2
    assert error_of(sfn.get_execution_history, executionArn=execution, reverseOrder=True, nextToken=history) == invalid
    for arn_ in sfn.list_executions(stateMachineArn=arn)["executions"]:
        sfn.stop_execution(executionArn=arn_["executionArn"])


def test_a_version_is_not_a_state_machine_to_update(sfn: Any) -> None:  # recorded
    arn, (_, two) = versions(sfn, "update-version", 2)
    missing = ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{two}'")
    assert error_of(sfn.update_state_machine, stateMachineArn=two, definition=PASS) == missing
    assert error_of(sfn.update_state_machine, stateMachineArn=two, definition=PASS, publish=True) == missing
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] != PASS


def test_create_is_idempotent_on_what_the_reference_names(sfn: Any) -> None:
    other_role = ROLE.replace("stepline-tests", "other")
    arn = machine(sfn, "idempotent", tags=[{"key": "a", "value": "1"}])
    again = sfn.create_state_machine(name="idempotent", definition=PASS, roleArn=other_role,
                                     tags=[{"key": "b", "value": "2"}])
    assert again["stateMachineArn"] == arn  # a different role and tags: the same state machine, neither applied
    assert sfn.describe_state_machine(stateMachineArn=arn)["roleArn"] == ROLE
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
    assert error_of(sfn.create_state_machine, name="idempotent", definition=PASS, roleArn=ROLE,
                    tracingConfiguration={"enabled": True}) == (
        "StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
    activity = sfn.create_activity(name="idempotent", tags=[{"key": "a", "value": "1"}])["activityArn"]
    assert sfn.create_activity(name="idempotent", tags=[{"key": "b", "value": "2"}])["activityArn"] == activity
    assert sfn.list_tags_for_resource(resourceArn=activity)["tags"] == [{"key": "a", "value": "1"}]
    assert error_of(sfn.create_activity, name="idempotent", encryptionConfiguration={
        "type": CMK, "kmsKeyId": "alias/k"}) == (
        "ActivityAlreadyExists", "Activity already exists. EncryptionConfiguration may not be updated.")


def test_at_most_50_tags_per_resource(sfn: Any) -> None:
    tags = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    too_many = "TooManyTags"
    assert error_of(sfn.create_state_machine, name="tagged", definition=PASS, roleArn=ROLE, tags=tags)[0] == too_many
    assert error_of(sfn.describe_state_machine, stateMachineArn=machine(sfn, "untagged").replace(
        "untagged", "tagged"))[0] == "StateMachineDoesNotExist"  # nothing was created
    assert error_of(sfn.create_activity, name="tagged", tags=tags)[0] == too_many
    arn = machine(sfn, "fifty", tags=tags[:50])
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "k0", "value": "again"}])  # an existing key is replaced
    assert error_of(sfn.tag_resource, resourceArn=arn, tags=tags[50:])[0] == too_many


def test_list_executions_refuses_an_express_state_machine(sfn: Any) -> None:
    arn = machine(sfn, "express-list", type="EXPRESS")
    assert error_of(sfn.list_executions, stateMachineArn=arn) == (
        "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")


def test_a_state_machine_never_updated_has_no_revision(sfn: Any) -> None:  # recorded
    created = sfn.create_state_machine(name="no-revision", definition=PASS, roleArn=ROLE, publish=True)
    for arn in (created["stateMachineArn"], created["stateMachineVersionArn"]):
        assert "revisionId" not in sfn.describe_state_machine(stateMachineArn=arn)
    again = sfn.publish_state_machine_version(stateMachineArn=created["stateMachineArn"])
    assert again["stateMachineVersionArn"] == created["stateMachineVersionArn"]
