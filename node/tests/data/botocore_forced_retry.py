"""Drives a Tollgate node with botocore and forces its retry: the first attempt of each call is
sent to the node for real (so it commits) but botocore is told it failed with a 503, so botocore
retries the call on its own with the same amz-sdk-invocation-id. Prints one JSON object: per
call, the first attempt's answer, botocore's final answer and the attempts' headers; then what
the node holds. Usage: botocore_forced_retry.py ENDPOINT ACCESS_KEY SECRET_KEY"""

import json
import sys
import urllib.request

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config

endpoint, access_key, secret_key = sys.argv[1:4]
client = botocore.session.get_session().create_client(
    "apigateway",
    region_name="us-east-1",
    endpoint_url=endpoint,
    aws_access_key_id=access_key,
    aws_secret_access_key=secret_key,
    config=Config(retries={"mode": "standard", "max_attempts": 3}),
)


class Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **_):
        yield self.body


forced = {"on": False, "attempts": [], "first": None}


def before_send(request, **_):
    if not forced["on"]:
        return None
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    forced["attempts"].append(
        {"invocation": headers.get("amz-sdk-invocation-id"), "request": headers.get("amz-sdk-request")}
    )
    if len(forced["attempts"]) > 1:
        return None  # botocore's retry goes to the node
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    req = urllib.request.Request(request.url, data=body, method=request.method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            forced["first"] = {"status": r.status, "body": json.loads(r.read() or b"null")}
    except urllib.error.HTTPError as e:
        forced["first"] = {"status": e.code, "body": e.read().decode()}
    # The answer is lost: botocore sees a 503 and retries the call.
    err = json.dumps({"message": "forced: the answer was lost"}).encode()
    return AWSResponse(
        request.url, 503, {"x-amzn-ErrorType": "ServiceUnavailableException"}, Raw(err)
    )


client.meta.events.register("before-send.apigateway", before_send)


def with_forced_retry(name, call):
    forced.update(on=True, attempts=[], first=None)
    try:
        final = call()
    finally:
        forced["on"] = False
    final.pop("ResponseMetadata", None)
    return {"first": forced["first"], "final": final, "attempts": forced["attempts"], "name": name}


out = {"calls": []}
api = with_forced_retry("CreateRestApi", lambda: client.create_rest_api(name="once"))
out["calls"].append(api)
api_id = api["final"]["id"]
key = with_forced_retry("CreateApiKey", lambda: client.create_api_key(name="k-once", enabled=True))
out["calls"].append(key)
root = client.get_resources(restApiId=api_id)["items"][0]["id"]
client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
dep = with_forced_retry(
    "CreateDeployment", lambda: client.create_deployment(restApiId=api_id, stageName="dev")
)
out["calls"].append(dep)
csv = b"name,key,enabled\nimported-once,0123456789abcdefghijklmnop,true\n"
imp = with_forced_retry(
    "ImportApiKeys", lambda: client.import_api_keys(body=csv, format="csv", failOnWarnings=True)
)
out["calls"].append(imp)
client.put_method_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200")
gone = with_forced_retry(
    "DeleteMethodResponse",
    lambda: client.delete_method_response(
        restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200"
    ),
)
out["calls"].append(gone)
doomed = client.create_rest_api(name="doomed")["id"]
gone = with_forced_retry("DeleteRestApi", lambda: client.delete_rest_api(restApiId=doomed))
out["calls"].append(gone)
out["apis"] = [a["id"] for a in client.get_rest_apis()["items"]]
out["keys"] = sorted(k["id"] for k in client.get_api_keys()["items"])
out["deployments"] = [d["id"] for d in client.get_deployments(restApiId=api_id)["items"]]
out["stages"] = [s["stageName"] for s in client.get_stages(restApiId=api_id)["item"]]
print(json.dumps(out, default=str))
