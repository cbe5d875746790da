"""Drives a Tollgate node with botocore (what boto3's clients are made of; the CLI brings it)
over the operations of issue 13: GetAccount/UpdateAccount, TagResource/GetTags/UntagResource,
and a not-supported operation. Prints one JSON object with what botocore parsed.
Usage: compat_botocore.py ENDPOINT ACCESS_KEY SECRET_KEY API_ID"""

import json
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key, api_id = sys.argv[1:5]
client = botocore.session.get_session().create_client(
    "apigateway",
    region_name="us-east-1",
    endpoint_url=endpoint,
    aws_access_key_id=access_key,
    aws_secret_access_key=secret_key,
    config=Config(retries={"max_attempts": 1}),
)


def strip(answer):
    answer.pop("ResponseMetadata", None)
    return answer


def error(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"]["Message"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return None


arn = "arn:aws:apigateway:us-east-1::/restapis/" + api_id
out = {}
out["update_account"] = strip(
    client.update_account(
        patchOperations=[
            {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/cw"},
            {"op": "replace", "path": "/throttle/rateLimit", "value": "5000"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "2500"},
        ]
    )
)
out["get_account"] = strip(client.get_account())
client.tag_resource(resourceArn=arn, tags={"team": "x", "env": "dev"})
out["after_tag"] = strip(client.get_tags(resourceArn=arn))
client.untag_resource(resourceArn=arn, tagKeys=["env"])
out["after_untag"] = strip(client.get_tags(resourceArn=arn))
out["get_rest_api_tags"] = client.get_rest_api(restApiId=api_id).get("tags")
out["vpc_links"] = error(client.get_vpc_links)
out["doc_import"] = error(client.import_documentation_parts, restApiId=api_id, body=b"{}")
out["bad_tag"] = error(client.tag_resource, resourceArn=arn, tags={"aws:x": "1"})
cert = client.generate_client_certificate(description="backends", tags={"c": "1"})
out["cert_has_pem"] = cert["pemEncodedCertificate"].startswith("-----BEGIN CERTIFICATE-----")
out["cert_dates"] = [str(type(cert["createdDate"]).__name__), str(type(cert["expirationDate"]).__name__)]
out["cert_listed"] = [c["clientCertificateId"] for c in client.get_client_certificates()["items"]] == [
    cert["clientCertificateId"]
]
client.delete_client_certificate(clientCertificateId=cert["clientCertificateId"])
part = client.create_documentation_part(
    restApiId=api_id, location={"type": "API"}, properties='{"info": {"title": "t"}}'
)
out["doc_part"] = strip(part)
out["doc_parts"] = [p["id"] for p in client.get_documentation_parts(restApiId=api_id)["items"]]
version = client.create_documentation_version(restApiId=api_id, documentationVersion="1", description="d")
out["doc_version"] = {k: version[k] for k in ("version", "description")}
print(json.dumps(out, default=str))
