"""The AWS JSON 1.0 surface of the Step Functions API: one route, `POST /`, that maps requests to service calls."""

from stepline.api.actions import ACTIONS, Action, find_action
from stepline.api.protocol import CONTENT_TYPE, MAX_REQUEST_BYTES, dispatch
from stepline.api.validation import validate

__all__ = ["ACTIONS", "CONTENT_TYPE", "MAX_REQUEST_BYTES", "Action", "dispatch", "find_action", "validate"]
