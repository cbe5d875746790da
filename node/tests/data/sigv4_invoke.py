"""Signs data-plane requests with botocore's SigV4Auth (service execute-api) and sends them.
Reads a JSON list of requests on stdin; prints a JSON list of answers. Each request:
{"url", "method", "headers", "body", "key", "secret", "token", "region", "tamper"} where
"tamper" is null, "body" (the body changed after signing) or "header" (a signed header
changed after signing), and a null "key" sends the request unsigned. Each answer:
{"status", "headers" (lower-case names), "body"}."""

import http.client
import json
import sys
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

answers = []
for spec in json.load(sys.stdin):
    headers = dict(spec.get("headers") or {})
    body = (spec.get("body") or "").encode()
    request = AWSRequest(method=spec["method"], url=spec["url"], data=body, headers=headers)
    if spec.get("key"):
        creds = Credentials(spec["key"], spec["secret"], spec.get("token"))
        SigV4Auth(creds, "execute-api", spec.get("region") or "us-east-1").add_auth(request)
    sent = dict(request.headers.items())
    if spec.get("tamper") == "body":
        body = body + b"x"
    elif spec.get("tamper") == "header":
        # A different second (":00" becomes ":01", every other second ":00"): the same
        # value would leave the signature valid, once a minute.
        stamp = sent["X-Amz-Date"]
        sent["X-Amz-Date"] = stamp[:-3] + ("01Z" if stamp.endswith("00Z") else "00Z")
    url = urllib.parse.urlsplit(spec["url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    target = url.path + ("?" + url.query if url.query else "")
    conn.request(spec["method"], target, body=body or None, headers=sent)
    resp = conn.getresponse()
    answers.append(
        {
            "status": resp.status,
            "headers": {k.lower(): v for k, v in resp.getheaders()},
            "body": resp.read().decode("utf-8", "replace"),
        }
    )
    conn.close()
json.dump(answers, sys.stdout)
