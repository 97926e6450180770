"""Stepline: run AWS Step Functions (Amazon States Language) workflows anywhere."""

from stepline.errors import DefinitionError, Diagnostic, StatesError
from stepline.service.workflow import Result, Workflow

__all__ = ["DefinitionError", "Diagnostic", "Result", "StatesError", "Workflow"]
