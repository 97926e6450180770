def handler(event, context):
    return {"doubled": event["value"] * 2}
