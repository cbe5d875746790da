"""Makes one API Gateway call with boto3 (the AWS SDK for Python) against a Tollgate admin API.

Reads a JSON object from stdin: {"endpoint", "key", "secret", "operation" (boto3's
snake_case name), "params"}; prints the response as JSON (a streaming body read as text,
ResponseMetadata dropped), or {"error": {"Code", "Message"}} for a service error.
"""

import json
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

req = json.load(sys.stdin)
client = boto3.client(
    "apigateway",
    endpoint_url=req["endpoint"],
    region_name="us-east-1",
    aws_access_key_id=req["key"],
    aws_secret_access_key=req["secret"],
    config=Config(retries={"mode": "standard", "max_attempts": 5}),
)
try:
    out = getattr(client, req["operation"])(**req.get("params", {}))
except botocore.exceptions.ClientError as e:
    print(json.dumps({"error": e.response.get("Error", {})}))
    sys.exit(0)
out.pop("ResponseMetadata", None)
for k, v in list(out.items()):
    if hasattr(v, "read"):
        out[k] = v.read().decode("utf-8")
print(json.dumps(out, default=str))
