"""A function whose cold start (module initialisation) takes a second."""
import time

time.sleep(1.0)


def handler(event, context):
    return {"statusCode": 200, "body": "warm"}
