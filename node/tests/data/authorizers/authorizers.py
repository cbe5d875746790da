"""Lambda authorizers for node/tests/authorizers.rs, run by the runtime interface client
(awslambdaric). Every call appends a line to the file named by CALLS_FILE, so the test can
count them."""

import json
import os


def _count(what):
    path = os.environ.get("CALLS_FILE")
    if path:
        with open(path, "a") as f:
            f.write(what + "\n")


def _policy(effect, resource):
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
        ],
    }


def token(event, context):
    """A TOKEN authorizer: what it answers depends on the token."""
    t = event["authorizationToken"]
    _count("token " + t)
    arn = event["methodArn"]
    if event.get("type") != "TOKEN":
        raise Exception("not a TOKEN event")
    if t == "Bearer allow":
        # Allows exactly the method it was called for.
        return {
            "principalId": "alice",
            "policyDocument": _policy("Allow", arn),
            "context": {"tier": "gold", "count": 7, "admin": False},
        }
    if t == "Bearer deny":
        return {"principalId": "mallory", "policyDocument": _policy("Deny", arn)}
    if t == "Bearer unauthorized":
        raise Exception("Unauthorized")
    if t == "Bearer crash":
        os._exit(3)
    if t == "Bearer garbage":
        return "not an authorizer answer"
    if t == "Bearer nested":
        return {
            "principalId": "n",
            "policyDocument": _policy("Allow", arn),
            "context": {"deep": {"a": 1}},
        }
    raise Exception("Unauthorized")


def request(event, context):
    """A REQUEST authorizer on a header and a query parameter."""
    _count("request")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    query = event.get("queryStringParameters") or {}
    user, tenant = headers.get("x-user"), query.get("tenant")
    if event.get("type") == "REQUEST" and user == "u1" and tenant == "t1":
        return {
            "principalId": user,
            "policyDocument": _policy("Allow", event["methodArn"]),
            "context": {"tenant": tenant, "path": event["path"]},
        }
    return {"principalId": user or "nobody", "policyDocument": _policy("Deny", event["methodArn"])}


def backend(event, context):
    """The AWS_PROXY function behind the methods: answers what reached it."""
    return {
        "statusCode": 200,
        "body": json.dumps({"authorizer": event["requestContext"].get("authorizer")}),
    }
