"""Local Python functions that serve the examples' Lambda tasks (stepline run --functions functions)."""

from __future__ import annotations

STOCK = {"apple": 10, "pear": 0, "plum": 5}
_charge_attempts: dict[str, int] = {}


class PaymentServiceBusy(Exception):
    pass


class OutOfStock(Exception):
    pass


def validate_order(event, context):
    items = event.get("items", [])
    return {**event, "total": sum(item["price"] * item["quantity"] for item in items)}


def charge_card(event, context):
    order = event["order"]
    _charge_attempts[order] = _charge_attempts.get(order, 0) + 1
    if _charge_attempts[order] == 1:  # the payment service is busy the first time: Retry handles it
        raise PaymentServiceBusy("try again")
    return {"id": f"ch_{order}", "amount": event["amount"]}


def reserve_stock(event, context):
    for item in event["items"]:
        if STOCK.get(item["name"], 0) < item["quantity"]:
            raise OutOfStock(f"not enough {item['name']}")
    return {"reserved": [item["name"] for item in event["items"]]}


def seed_table(event, context):
    return {"table": event["table"], "count": 5}


def score(event, context):
    return {"name": event["name"], "score": len(event["name"]) * event["weight"]}
