"""Refuses an order without items (the state machine catches InvalidOrder)."""


class InvalidOrder(Exception):
    pass


def handler(event, context):
    if not event.get("items"):
        raise InvalidOrder(f"order {event.get('id')} has no items")
    return event
