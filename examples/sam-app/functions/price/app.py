"""The order's total with tax (TAX_RATE, from the template's TaxRate parameter)."""

import os


def handler(event, context):
    subtotal = sum(item["price"] * item["quantity"] for item in event["items"])
    total = round(subtotal * (1 + float(os.environ["TAX_RATE"])), 2)
    return {"total": total, "stage": os.environ["STAGE"], "function": context.function_name}
