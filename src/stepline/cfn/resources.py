"""What `Ref` and `Fn::GetAtt` give for each resource type, in AWS's formats (the CloudFormation template
reference's "Return values" of each type), and the names CloudFormation generates for resources the template
does not name: `<LogicalId>-<suffix>` for state machines, `<StackName>-<LogicalId>-<suffix>` for the rest, the
12-character suffix deterministic per stack and logical id (intrinsics.suffix)."""

from __future__ import annotations

from typing import Any

from stepline.cfn.intrinsics import ResolveError, Resolver, suffix

STATE_MACHINES = ("AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine")
FUNCTIONS = ("AWS::Lambda::Function", "AWS::Serverless::Function")
VERSION_MARK = "${stepline:version:%s}"  # a version's ARN is known once published: see stack.py

# the property that names a resource of each type (when absent, CloudFormation generates the name)
NAME_PROPERTY = {
    "AWS::StepFunctions::StateMachine": "StateMachineName", "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::Activity": "Name", "AWS::StepFunctions::StateMachineAlias": "Name",
    "AWS::Lambda::Function": "FunctionName", "AWS::Serverless::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName", "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::IAM::Role": "RoleName",
    "AWS::Events::EventBus": "Name", "AWS::Events::Rule": "Name", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Kinesis::Stream": "Name", "AWS::SecretsManager::Secret": "Name", "AWS::SSM::Parameter": "Name",
    "AWS::ECS::Cluster": "ClusterName", "AWS::Batch::JobQueue": "JobQueueName", "AWS::Glue::Job": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name", "AWS::Events::Connection": "Name", "AWS::Scheduler::Schedule": "Name",
}
NAME_LIMITS = {"AWS::Lambda::Function": 64, "AWS::Serverless::Function": 64, "AWS::IAM::Role": 64,
               "AWS::SQS::Queue": 80, "AWS::S3::Bucket": 63, "AWS::StepFunctions::StateMachine": 80,
               "AWS::Serverless::StateMachine": 80, "AWS::DynamoDB::Table": 255, "AWS::SNS::Topic": 256}


class References:
    """Answers the resolver's references to the template's resources."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()
        resolver.resource_ref = self.ref
        resolver.resource_att = self.att

    def kind(self, logical_id: str) -> str:
        kind = self.resolver.resources[logical_id].get("Type")
        return kind if isinstance(kind, str) else ""

    def property(self, logical_id: str, name: str) -> Any:
        properties = self.resolver.resources[logical_id].get("Properties") or {}
        if name not in properties:
            return None
        return self.resolver.resolve(properties[name], f"Resources/{logical_id}/Properties/{name}")

    def name(self, logical_id: str) -> str:
        """The resource's physical name: its name property, else the name CloudFormation would generate."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise ResolveError(f"Resources/{logical_id}: the resource's name refers to the resource itself")
        self._naming.add(logical_id)
        kind = self.kind(logical_id)
        given = self.property(logical_id, NAME_PROPERTY[kind]) if kind in NAME_PROPERTY else None
        if given is not None:
            if not isinstance(given, str) or not given:
                raise ResolveError(f"Resources/{logical_id}/Properties/{NAME_PROPERTY[kind]}: must be a string")
            name = given
        else:
            name = self.generated_name(logical_id, kind)
        self._names[logical_id] = name
        return name

    def generated_name(self, logical_id: str, kind: str) -> str:
        stack = self.resolver.stack_name
        random = suffix(stack, logical_id)
        if kind in STATE_MACHINES:
            prefix = logical_id
        else:
            prefix = f"{stack}-{logical_id}"
        end = ".fifo" if kind == "AWS::SQS::Queue" and str(self.property(logical_id, "FifoQueue")).lower() == "true" \
            else ""
        limit = NAME_LIMITS.get(kind, 255) - len(random) - 1 - len(end)
        name = f"{prefix[:limit].rstrip('-')}-{random}{end}"
        return name.lower() if kind == "AWS::S3::Bucket" else name

    def ref(self, logical_id: str, where: str) -> Any:
        kind = self.kind(logical_id)
        resource = self.resolver.resources[logical_id]
        if "Condition" in resource and not self.resolver.condition(resource["Condition"], where):
            raise ResolveError(f"{where}: {logical_id} is not created (its condition {resource['Condition']} is "
                               "false)")
        if kind in ("AWS::StepFunctions::StateMachineVersion",):
            return VERSION_MARK % logical_id
        if kind == "AWS::StepFunctions::StateMachineAlias":
            return f"{self._alias_machine(logical_id, where)}:{self.name(logical_id)}"
        arns = self._arns(logical_id, kind)
        if kind in (*STATE_MACHINES, "AWS::StepFunctions::Activity", "AWS::SNS::Topic",
                    "AWS::SecretsManager::Secret"):
            return arns["Arn"]
        if kind == "AWS::SQS::Queue":
            return arns["QueueUrl"]
        return self.name(logical_id)

    def att(self, logical_id: str, attribute: str, where: str) -> Any:
        kind = self.kind(logical_id)
        if kind in ("AWS::StepFunctions::StateMachineVersion", "AWS::StepFunctions::StateMachineAlias") \
                and attribute == "Arn":
            return self.ref(logical_id, where)
        self.ref(logical_id, where)  # its condition holds
        value = self._arns(logical_id, kind).get(attribute)
        if value is None:
            raise ResolveError(f"{where}: stepline does not know the attribute {attribute} of {logical_id} ({kind})")
        return value

    def _alias_machine(self, logical_id: str, where: str) -> str:
        routing = (self.resolver.resources[logical_id].get("Properties") or {}).get("RoutingConfiguration")
        first = routing[0].get("StateMachineVersionArn") if isinstance(routing, list) and routing and \
            isinstance(routing[0], dict) else None
        version = first.get("Ref") if isinstance(first, dict) else None
        if not (isinstance(version, str) and version in self.resolver.resources
                and self.kind(version) == "AWS::StepFunctions::StateMachineVersion"):
            raise ResolveError(f"{where}: the ARN of the alias {logical_id} is known when its RoutingConfiguration "
                               "refers to versions of the template (!Ref Version)")
        machine = self.property(str(version), "StateMachineArn")
        if not isinstance(machine, str):
            raise ResolveError(f"Resources/{version}/Properties/StateMachineArn: must be a state machine's ARN")
        return machine

    def _arns(self, logical_id: str, kind: str) -> dict[str, str]:
        """The attributes of a resource, by type."""
        r = self.resolver
        p, region, account, url = r.partition, r.region, r.account, r.url_suffix
        name = self.name(logical_id)
        if kind in STATE_MACHINES:
            return {"Arn": f"arn:{p}:states:{region}:{account}:stateMachine:{name}", "Name": name}
        if kind == "AWS::StepFunctions::Activity":
            return {"Arn": f"arn:{p}:states:{region}:{account}:activity:{name}", "Name": name}
        if kind in FUNCTIONS:
            return {"Arn": f"arn:{p}:lambda:{region}:{account}:function:{name}"}
        if kind == "AWS::SQS::Queue":
            return {"Arn": f"arn:{p}:sqs:{region}:{account}:{name}", "QueueName": name,
                    "QueueUrl": f"https://sqs.{region}.{url}/{account}/{name}"}
        if kind == "AWS::SNS::Topic":
            return {"Arn": f"arn:{p}:sns:{region}:{account}:{name}", "TopicArn": f"arn:{p}:sns:{region}:{account}:"
                                                                             f"{name}", "TopicName": name}
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return {"Arn": f"arn:{p}:dynamodb:{region}:{account}:table/{name}"}
        if kind == "AWS::S3::Bucket":
            return {"Arn": f"arn:{p}:s3:::{name}", "DomainName": f"{name}.s3.{url}",
                    "RegionalDomainName": f"{name}.s3.{region}.{url}",
                    "WebsiteURL": f"http://{name}.s3-website-{region}.{url}"}
        if kind == "AWS::IAM::Role":
            path = self.property(logical_id, "Path") or "/"
            return {"Arn": f"arn:{p}:iam::{account}:role{path}{name}",
                    "RoleId": "AROA" + suffix(r.stack_name, logical_id, "RoleId", length=17).upper()}
        if kind == "AWS::Events::EventBus":
            return {"Arn": f"arn:{p}:events:{region}:{account}:event-bus/{name}", "Name": name}
        if kind == "AWS::Scheduler::Schedule":
            group = self.property(logical_id, "GroupName") or "default"
            return {"Arn": f"arn:{p}:scheduler:{region}:{account}:schedule/{group}/{name}"}
        if kind == "AWS::Events::Rule":
            return {"Arn": f"arn:{p}:events:{region}:{account}:rule/{name}"}
        if kind == "AWS::Logs::LogGroup":
            return {"Arn": f"arn:{p}:logs:{region}:{account}:log-group:{name}:*"}
        if kind == "AWS::Kinesis::Stream":
            return {"Arn": f"arn:{p}:kinesis:{region}:{account}:stream/{name}"}
        if kind == "AWS::SecretsManager::Secret":
            return {"Arn": f"arn:{p}:secretsmanager:{region}:{account}:secret:{name}-"
                           f"{suffix(r.stack_name, logical_id, length=6)}"}
        if kind == "AWS::ECS::Cluster":
            return {"Arn": f"arn:{p}:ecs:{region}:{account}:cluster/{name}"}
        return {}
