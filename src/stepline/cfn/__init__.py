"""CloudFormation, SAM and CDK templates read into what stepline serves: state machines, activities, versions,
aliases and the Python functions their Tasks call. Pure but for reading the template's own local files (the
template, a `DefinitionUri` or `DefinitionS3Location` file, a function's code folder to check that it exists):
nothing here opens a network connection, a store or a process; the application layer (service/templates.py)
applies what `read_stack` returns.

    stack = read_stack(Path("template.yaml"), region="us-east-1", account="123456789012",
                       overrides={"Stage": "dev"})
    stack.state_machines[0].definition   # the definition, every intrinsic and substitution resolved
"""

from stepline.cfn.schedules import ScheduleSpec
from stepline.cfn.stack import (
    ActivitySpec,
    AliasSpec,
    FunctionSpec,
    Stack,
    StateMachineSpec,
    TemplateError,
    VersionSpec,
    read_stack,
    read_stacks,
)

__all__ = ["ActivitySpec", "AliasSpec", "FunctionSpec", "ScheduleSpec", "Stack", "StateMachineSpec", "TemplateError",
           "VersionSpec", "read_stack", "read_stacks"]
