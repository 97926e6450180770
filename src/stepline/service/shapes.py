"""What AWS answers: its defaults, its parser's wording, and the records of the store as AWS's responses (the one
place a record becomes AWS's JSON shape)."""

from __future__ import annotations

from datetime import datetime

from stepline.engine.references import variable_references
from stepline.jsonvalue import MAX_DEPTH
from stepline.runtime.store.records import ActivityRecord, AliasRecord, ExecutionRecord, StateMachineRecord
from stepline.service import errors

LOGGING_DEFAULT = {"level": "OFF", "includeExecutionData": False}
TRACING_DEFAULT = {"enabled": False}
ENCRYPTION_DEFAULT = {"type": "AWS_OWNED_KEY"}


def check_encryption(configuration: dict | None) -> None:
    """AWS's InvalidEncryptionConfiguration for an encryptionConfiguration the model lets through: a
    customer-managed key type without the key."""
    if configuration is not None and configuration.get("type") == "CUSTOMER_MANAGED_KMS_KEY" \
            and not configuration.get("kmsKeyId"):
        raise errors.InvalidEncryptionConfiguration(
            "Invalid Encryption Configuration: 'kmsKeyId' is required when 'type' is 'CUSTOMER_MANAGED_KMS_KEY'")


TOO_DEEP = f"The JSON is nested more than {MAX_DEPTH} levels deep"


def json_problem(text: str) -> str:
    """A short description of why text is not JSON, in the words of AWS's (Jackson's) parser where it matters."""
    stripped = text.strip()
    if stripped and stripped[0].isalpha():
        token = "".join(ch for ch in stripped.split()[0] if ch.isalnum())
        return (f"Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token 'null', "
                "'true' or 'false')")
    if stripped.startswith("{'"):
        return "Unexpected character (''' (code 39)): was expecting double-quote to start field name"
    return "Invalid execution input."


# ---------------------------------------------------------------------- records as AWS's responses


def execution(record: ExecutionRecord, redrivable_since: datetime) -> dict:
    """DescribeExecution (and StartSyncExecution) of an execution record (whether it can be redriven: see
    redrive_refusal)."""
    response = {"executionArn": record.arn, "stateMachineArn": record.state_machine_arn, "name": record.name,
                "status": record.status, "startDate": record.start_date, "input": record.input,
                "inputDetails": {"included": True}}
    for key, value in (("stopDate", record.stop_date), ("output", record.output), ("error", record.error),
                       ("cause", record.cause), ("stateMachineVersionArn", record.version_arn),
                       ("stateMachineAliasArn", record.alias_arn), ("traceHeader", record.trace_header),
                       ("mapRunArn", record.map_run_arn), ("redriveDate", record.redrive_date)):
        if value is not None:
            response[key] = value
    if record.output is not None:
        response["outputDetails"] = {"included": True}
    if record.type == "STANDARD":
        response["redriveCount"] = record.redrive_count
        refusal = redrive_refusal(record, redrivable_since)
        response.update({"redriveStatus": "REDRIVABLE"} if refusal is None else
                        {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": refusal})
    return response


REDRIVABLE_DAYS = 14  # AWS redrives an execution within 14 days of its end


def redrive_refusal(record: ExecutionRecord, redrivable_since: datetime) -> str | None:
    """Why RedriveExecution refuses a STANDARD execution now (ExecutionNotRedrivable's message, and
    DescribeExecution's redriveStatusReason, in the API reference's words), or None. `redrivable_since`: the
    earliest end still redrivable (the redrivable period counts from the execution's end, as the Developer
    Guide's redrive page says)."""
    if record.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        return f"Execution is {record.status} and cannot be redriven"
    if (record.stop_date or record.start_date) <= redrivable_since:
        return "Execution redrivable period exceeded."
    if record.redrive_count >= 1000:
        return "Execution has been redriven 1000 times and cannot be redriven again"
    return None


def execution_item(record: ExecutionRecord) -> dict:
    """A ListExecutions item."""
    item = {"executionArn": record.arn, "stateMachineArn": record.state_machine_arn, "name": record.name,
            "status": record.status, "startDate": record.start_date}
    for key, value in (("stopDate", record.stop_date), ("stateMachineVersionArn", record.version_arn),
                       ("stateMachineAliasArn", record.alias_arn), ("mapRunArn", record.map_run_arn),
                       ("redriveDate", record.redrive_date)):
        if value is not None:
            item[key] = value
    item["redriveCount"] = record.redrive_count
    return item


def state_machine(record: StateMachineRecord) -> dict:
    """DescribeStateMachine of a state machine or of a version."""
    response = {"stateMachineArn": record.arn, "name": record.name, "status": record.status,
                "definition": record.definition, "roleArn": record.role_arn, "type": record.type,
                "creationDate": record.creation_date, "loggingConfiguration": record.logging_configuration,
                "tracingConfiguration": record.tracing_configuration}
    for key, value in (("revisionId", record.revision_id), ("description", record.description),
                       ("encryptionConfiguration", record.encryption_configuration)):
        if value is not None:
            response[key] = value
    response.update(references(record.definition))
    return response


def machine_of_execution(record: ExecutionRecord, definition: str, machine: StateMachineRecord | None) -> dict:
    """DescribeStateMachineForExecution: the definition the execution runs, with its state machine's settings."""
    response = {"stateMachineArn": record.state_machine_arn, "name": record.state_machine_name,
                "definition": definition, "roleArn": record.role_arn,
                "updateDate": machine.update_date or machine.creation_date if machine else record.start_date,
                "loggingConfiguration": machine.logging_configuration if machine else LOGGING_DEFAULT,
                "tracingConfiguration": machine.tracing_configuration if machine else TRACING_DEFAULT,
                "encryptionConfiguration": machine.encryption_configuration if machine else ENCRYPTION_DEFAULT}
    if machine is not None and machine.revision_id:
        response["revisionId"] = machine.revision_id
    if record.map_run_arn is not None:  # a Map Run's child: its Map state's label, and the run
        response["mapRunArn"] = record.map_run_arn
        response["label"] = record.state_machine_arn.rsplit("/", 1)[-1]
    response.update(references(definition))
    return response


def references(definition: str) -> dict:
    """The variableReferences member of a definition's description (absent when it uses no variables)."""
    found = variable_references(definition)
    return {"variableReferences": found} if found else {}


def alias(record: AliasRecord) -> dict:
    """DescribeStateMachineAlias."""
    response = {"stateMachineAliasArn": record.arn, "name": record.name,
                "routingConfiguration": record.routing_configuration, "creationDate": record.creation_date,
                "updateDate": record.update_date}
    if record.description is not None:
        response["description"] = record.description
    return response


def activity(record: ActivityRecord) -> dict:
    """DescribeActivity."""
    response = {"activityArn": record.arn, "name": record.name, "creationDate": record.creation_date}
    if record.encryption_configuration is not None:
        response["encryptionConfiguration"] = record.encryption_configuration
    return response
