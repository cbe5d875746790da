"""Test functions for Tollgate's Lambda proxy integrations (run by awslambdaric).

`route` dispatches on the proxy path:
- /echo...      answers 200 with the event and the context fields as JSON;
- /respond      answers with the JSON value the request body holds (to test the response rules);
- ?s=N          (any path) sleeps N seconds first; /sleep then answers "slept";
- /pid          answers the process id (to see process reuse);
- /alloc?mb=N   allocates N MiB (past the memory setting: a MemoryError, a function error);
- /crash        exits the process mid-invocation;
- /fail         raises (a function error);
- /pets/{petId} echoes too.
"""
import json
import os
import time

INIT_PID = os.getpid()


def _context(context):
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env_greeting": os.environ.get("GREETING"),
        "env_secret_leak": os.environ.get("TOLLGATE_SECRET_ACCESS_KEY"),
        "runtime_api": os.environ.get("AWS_LAMBDA_RUNTIME_API"),
    }


def route(event, context):
    path = event.get("path") or ""
    query = event.get("queryStringParameters") or {}
    if "s" in query:
        time.sleep(float(query["s"]))
    if path.startswith("/respond"):
        return json.loads(event["body"])
    if path.startswith("/sleep"):
        return {"statusCode": 200, "body": "slept"}
    if path.startswith("/alloc"):
        block = bytearray(int(query["mb"]) * 1024 * 1024)
        return {"statusCode": 200, "body": str(len(block))}
    if path.startswith("/pid"):
        return {"statusCode": 200, "body": str(os.getpid())}
    if path.startswith("/crash"):
        os._exit(3)
    if path.startswith("/fail"):
        raise ValueError("boom")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"event": event, "context": _context(context)}),
    }
