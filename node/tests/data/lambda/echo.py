"""The benchmark's warm echo function: answers the request body."""


def handler(event, context):
    return {"statusCode": 200, "body": event.get("body") or ""}
