"""Drives every implemented API Gateway operation once with boto3 (the AWS SDK for Python)
against a Tollgate node, for node/tests/compat_shapes.rs.

Reads a JSON object from stdin: {"endpoint", "key", "secret", "domain", "cert", "cert_key",
"uri"} (a domain name with its self-signed certificate and key, PEM; a Lambda authorizer's
URI). Prints one JSON object: "status", each operation's botocore name and the HTTP status
of its success answer as boto3 saw it; "facts", what boto3 parsed that the test checks. A
service error ends the run with its code and message on stderr and exit status 1.
"""

import csv
import io
import json
import sys
import zipfile

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
    config=Config(retries={"max_attempts": 1}),
)
names = client.meta.method_to_api_mapping
status = {}
facts = {}


def call(method, **params):
    """One operation; its status is kept under its botocore name."""
    try:
        out = getattr(client, method)(**params)
    except botocore.exceptions.ClientError as e:
        sys.stderr.write(f"{method}: {e.response.get('Error')}\n")
        sys.exit(1)
    status[names[method]] = out.pop("ResponseMetadata")["HTTPStatusCode"]
    return out


def patch(path, value, op="replace"):
    return [{"op": op, "path": path, "value": value}]


# The account.
call("get_account")
account = call(
    "update_account",
    patchOperations=patch("/cloudwatchRoleArn", "arn:aws:iam::123456789012:role/cw"),
)
facts["account_role"] = account["cloudwatchRoleArn"]

# REST APIs: created, imported, merged.
api = call("create_rest_api", name="boto3", description="d", tags={"t": "1"})
api_id, root = api["id"], api["rootResourceId"]
facts["created_date_type"] = type(api["createdDate"]).__name__
call("get_rest_api", restApiId=api_id)
facts["listed_apis"] = [a["name"] for a in call("get_rest_apis")["items"]]
call("update_rest_api", restApiId=api_id, patchOperations=patch("/description", "e"))


def openapi(title):
    return json.dumps(
        {
            "openapi": "3.0.1",
            "info": {"title": title, "version": "1"},
            "paths": {
                "/pets": {
                    "get": {
                        "responses": {"200": {"description": "ok"}},
                        "x-amazon-apigateway-integration": {
                            "type": "mock",
                            "requestTemplates": {"application/json": '{"statusCode": 200}'},
                            "responses": {"default": {"statusCode": "200"}},
                        },
                    }
                }
            },
        }
    ).encode()


imported = call("import_rest_api", body=openapi("imported"))
merged = call("put_rest_api", restApiId=imported["id"], mode="merge", body=openapi("merged"))
facts["merged_name"] = merged["name"]

# Resources, models, validators.
res = call("create_resource", restApiId=api_id, parentId=root, pathPart="pets")
rid = res["id"]
call("get_resource", restApiId=api_id, resourceId=rid)
facts["paths"] = sorted(r["path"] for r in call("get_resources", restApiId=api_id)["items"])
call("update_resource", restApiId=api_id, resourceId=rid, patchOperations=patch("/pathPart", "pet"))
schema = json.dumps({"type": "object", "properties": {"name": {"type": "string"}}})
call("create_model", restApiId=api_id, name="Pet", contentType="application/json", schema=schema)
call("get_model", restApiId=api_id, modelName="Pet")
call("get_models", restApiId=api_id)
call("update_model", restApiId=api_id, modelName="Pet", patchOperations=patch("/description", "p"))
facts["template"] = call("get_model_template", restApiId=api_id, modelName="Pet")["value"]
v = call(
    "create_request_validator",
    restApiId=api_id,
    name="all",
    validateRequestBody=True,
    validateRequestParameters=True,
)
call("get_request_validator", restApiId=api_id, requestValidatorId=v["id"])
call("get_request_validators", restApiId=api_id)
call(
    "update_request_validator",
    restApiId=api_id,
    requestValidatorId=v["id"],
    patchOperations=patch("/name", "body"),
)

# A Lambda TOKEN authorizer, run by TestInvokeAuthorizer.
auth = call(
    "create_authorizer",
    restApiId=api_id,
    name="tok",
    type="TOKEN",
    authorizerUri=req["uri"],
    identitySource="method.request.header.Authorization",
    authorizerResultTtlInSeconds=60,
)
tok = auth["id"]
call("get_authorizer", restApiId=api_id, authorizerId=tok)
call("get_authorizers", restApiId=api_id)
updated = call(
    "update_authorizer",
    restApiId=api_id,
    authorizerId=tok,
    patchOperations=patch("/authorizerResultTtlInSeconds", "120"),
)
facts["authorizer_ttl"] = updated["authorizerResultTtlInSeconds"]
t = call(
    "test_invoke_authorizer",
    restApiId=api_id,
    authorizerId=tok,
    headers={"Authorization": "Bearer allow"},
)
facts["authorizer_test"] = {
    "clientStatus": t["clientStatus"],
    "principalId": t["principalId"],
    "effect": json.loads(t["policy"])["Statement"][0]["Effect"],
    "authorization": t["authorization"],
}

# Methods, method responses, integrations and their responses.
m = {"restApiId": api_id, "resourceId": rid, "httpMethod": "POST"}
call("put_method", authorizationType="NONE", requestValidatorId=v["id"], **m)
call("update_method", patchOperations=patch("/operationName", "add"), **m)
call("put_method_response", statusCode="200", responseModels={"application/json": "Empty"}, **m)
call("get_method_response", statusCode="200", **m)
call(
    "update_method_response",
    statusCode="200",
    patchOperations=patch("/responseParameters/method.response.header.x-b", "true", "add"),
    **m,
)
call(
    "put_integration",
    type="MOCK",
    requestTemplates={"application/json": '{"statusCode": 200}'},
    **m,
)
call("get_integration", **m)
call("update_integration", patchOperations=patch("/passthroughBehavior", "NEVER"), **m)
call(
    "put_integration_response",
    statusCode="200",
    selectionPattern="",
    responseTemplates={"application/json": '{"ok": true}'},
    **m,
)
call("get_integration_response", statusCode="200", **m)
call(
    "update_integration_response",
    statusCode="200",
    patchOperations=patch("/selectionPattern", "2\\d\\d"),
    **m,
)
facts["method_integration"] = call("get_method", **m)["methodIntegration"]["type"]
ti = call("test_invoke_method", body="{}", headers={"Content-Type": "application/json"}, **m)
facts["test_invoke"] = {"status": ti["status"], "body": ti["body"]}

# Gateway responses.
g = {"restApiId": api_id, "responseType": "THROTTLED"}
call("put_gateway_response", statusCode="429", responseTemplates={"application/json": "{}"}, **g)
call("get_gateway_response", **g)
call("get_gateway_responses", restApiId=api_id)
call("update_gateway_response", patchOperations=patch("/statusCode", "503"), **g)

# Deployments, stages, caches, export and SDKs.
dep = call("create_deployment", restApiId=api_id, stageName="dev", description="first")
call("get_deployment", restApiId=api_id, deploymentId=dep["id"], embed=["apisummary"])
call("get_deployments", restApiId=api_id)
call(
    "update_deployment",
    restApiId=api_id,
    deploymentId=dep["id"],
    patchOperations=patch("/description", "second"),
)
s = {"restApiId": api_id, "stageName": "prod"}
call("create_stage", deploymentId=dep["id"], variables={"a": "b"}, **s)
call("get_stage", **s)
call("get_stages", restApiId=api_id)
stage = call("update_stage", patchOperations=patch("/*/*/throttling/rateLimit", "100"), **s)
facts["stage_rate"] = stage["methodSettings"]["*/*"]["throttlingRateLimit"]
call("flush_stage_authorizers_cache", **s)
call("flush_stage_cache", **s)
export = call("get_export", exportType="oas30", parameters={"extensions": "apigateway"}, **s)
facts["export"] = {
    "contentType": export["contentType"],
    "attachment": export["contentDisposition"].startswith('attachment; filename="oas30_'),
    "openapi": json.loads(export["body"].read())["openapi"],
}
facts["sdk_types"] = [t["id"] for t in call("get_sdk_types")["items"]]
call("get_sdk_type", id="javascript")
sdk = call("get_sdk", sdkType="javascript", **s)
facts["sdk"] = {
    "contentType": sdk["contentType"],
    "zip": zipfile.is_zipfile(io.BytesIO(sdk["body"].read())),
}

# API keys and usage plans.
key = call("create_api_key", name="k", enabled=True, customerId="c", tags={"k": "1"})
kid = key["id"]
call("get_api_key", apiKey=kid, includeValue=True)
call("get_api_keys", includeValues=True)
call("update_api_key", apiKey=kid, patchOperations=patch("/description", "e"))
rows = io.StringIO()
csv.writer(rows).writerows([["name", "key", "enabled"], ["imported", "boto3imported0123456789", "true"]])
facts["imported_keys"] = len(call("import_api_keys", body=rows.getvalue().encode(), format="csv")["ids"])
plan = call(
    "create_usage_plan",
    name="p",
    apiStages=[{"apiId": api_id, "stage": "prod"}],
    throttle={"rateLimit": 10.0, "burstLimit": 20},
    quota={"limit": 1000, "offset": 0, "period": "DAY"},
)
pid = plan["id"]
call("get_usage_plan", usagePlanId=pid)
call("get_usage_plans")
call("update_usage_plan", usagePlanId=pid, patchOperations=patch("/description", "e"))
call("create_usage_plan_key", usagePlanId=pid, keyId=kid, keyType="API_KEY")
call("get_usage_plan_key", usagePlanId=pid, keyId=kid)
call("get_usage_plan_keys", usagePlanId=pid)
call("get_usage", usagePlanId=pid, startDate="2026-01-01", endDate="2026-01-02")
usage = call("update_usage", usagePlanId=pid, keyId=kid, patchOperations=patch("/remaining", "500"))
facts["usage"] = usage["items"][kid][-1]

# Tags.
arn = f"arn:aws:apigateway:us-east-1::/restapis/{api_id}"
call("tag_resource", resourceArn=arn, tags={"team": "x"})
facts["tags"] = call("get_tags", resourceArn=arn)["tags"]
call("untag_resource", resourceArn=arn, tagKeys=["team"])

# Client certificates.
cert = call("generate_client_certificate", description="c")
cid = cert["clientCertificateId"]
call("get_client_certificate", clientCertificateId=cid)
call("get_client_certificates")
call("update_client_certificate", clientCertificateId=cid, patchOperations=patch("/description", "d"))

# Documentation.
part = call(
    "create_documentation_part",
    restApiId=api_id,
    location={"type": "API"},
    properties='{"info": {"title": "t"}}',
)
call("get_documentation_part", restApiId=api_id, documentationPartId=part["id"])
call("get_documentation_parts", restApiId=api_id)
call(
    "update_documentation_part",
    restApiId=api_id,
    documentationPartId=part["id"],
    patchOperations=patch("/properties", '{"info": {"title": "u"}}'),
)
dv = {"restApiId": api_id, "documentationVersion": "1"}
call("create_documentation_version", description="d", **dv)
call("get_documentation_version", **dv)
call("get_documentation_versions", restApiId=api_id)
call("update_documentation_version", patchOperations=patch("/description", "e"), **dv)

# A custom domain name and a base path mapping.
domain = req["domain"]
created = call(
    "create_domain_name",
    domainName=domain,
    regionalCertificateName="c1",
    certificateBody=req["cert"],
    certificatePrivateKey=req["cert_key"],
    endpointConfiguration={"types": ["REGIONAL"]},
    securityPolicy="TLS_1_2",
)
facts["domain"] = {
    k: created.get(k) for k in ("domainName", "regionalCertificateName", "domainNameStatus")
}
facts["domain_upload_date_type"] = type(created["certificateUploadDate"]).__name__
call("get_domain_name", domainName=domain)
call("get_domain_names")
call("update_domain_name", domainName=domain, patchOperations=patch("/regionalCertificateName", "c2"))
call("create_base_path_mapping", domainName=domain, basePath="v1", restApiId=api_id, stage="prod")
call("get_base_path_mapping", domainName=domain, basePath="v1")
call("get_base_path_mappings", domainName=domain)
mapping = call(
    "update_base_path_mapping",
    domainName=domain,
    basePath="v1",
    patchOperations=patch("/basePath", "v2"),
)
facts["mapping"] = mapping

# Every delete.
call("delete_base_path_mapping", domainName=domain, basePath="v2")
call("delete_domain_name", domainName=domain)
call("delete_documentation_version", **dv)
call("delete_documentation_part", restApiId=api_id, documentationPartId=part["id"])
call("delete_client_certificate", clientCertificateId=cid)
call("delete_usage_plan_key", usagePlanId=pid, keyId=kid)
call(
    "update_usage_plan",
    usagePlanId=pid,
    patchOperations=patch("/apiStages", f"{api_id}:prod", "remove"),
)
call("delete_usage_plan", usagePlanId=pid)
call("delete_api_key", apiKey=kid)
call("delete_gateway_response", **g)
call("delete_integration_response", statusCode="200", **m)
call("delete_integration", **m)
call("delete_method_response", statusCode="200", **m)
call("delete_method", **m)
call("delete_request_validator", restApiId=api_id, requestValidatorId=v["id"])
call("delete_authorizer", restApiId=api_id, authorizerId=tok)
call("delete_model", restApiId=api_id, modelName="Pet")
call("delete_resource", restApiId=api_id, resourceId=rid)
call("delete_stage", **s)
call("delete_stage", restApiId=api_id, stageName="dev")
call("delete_deployment", restApiId=api_id, deploymentId=dep["id"])
call("delete_rest_api", restApiId=api_id)
call("delete_rest_api", restApiId=imported["id"])
facts["apis_left"] = [a["id"] for a in call("get_rest_apis")["items"]]

print(json.dumps({"status": status, "facts": facts}, default=str))
