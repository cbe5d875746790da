// Drives a Tollgate node's admin API with the AWS SDK for JavaScript v3
// (@aws-sdk/client-api-gateway, installed by .ci/run into target/npm), then calls the
// deployed MOCK method on the data plane. Every step asserts the fields the SDK parsed.
// Env: NPM_DIR (target/npm), ENDPOINT (admin API URL), DATA (data plane host:port),
// KEY / SECRET (admin credentials). Prints one JSON object (what the Rust test checks
// against the node) and exits non-zero on the first failed assertion.
import assert from "node:assert/strict";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NPM_DIR, "package.json"));
const sdk = require("@aws-sdk/client-api-gateway");

const client = new sdk.APIGatewayClient({
  endpoint: process.env.ENDPOINT,
  region: "us-east-1",
  credentials: { accessKeyId: process.env.KEY, secretAccessKey: process.env.SECRET },
  maxAttempts: 3,
});
const send = (name, input) => client.send(new sdk[`${name}Command`](input));
const out = {};

// One GET on the data plane (path form, Host: localhost).
function get(pathname, headers = {}) {
  const [host, port] = process.env.DATA.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port: Number(port), path: pathname, headers: { Host: "localhost", ...headers } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

// CreateRestApi, with tags on create.
const api = await send("CreateRestApi", {
  name: "js-sdk-v3",
  description: "driven by @aws-sdk/client-api-gateway",
  tags: { team: "gateway" },
});
assert.match(api.id, /^[a-z0-9]{10}$/);
assert.equal(api.name, "js-sdk-v3");
assert.equal(api.description, "driven by @aws-sdk/client-api-gateway");
assert.ok(api.createdDate instanceof Date && !isNaN(api.createdDate), "createdDate is a Date");
assert.deepEqual(api.tags, { team: "gateway" });
assert.equal(api.$metadata.httpStatusCode, 201);
const restApiId = api.id;
out.apiId = restApiId;

const resources = await send("GetResources", { restApiId });
const root = resources.items.find((r) => r.path === "/");
assert.ok(root && root.id, "the root resource");

// CreateResource.
const pets = await send("CreateResource", { restApiId, parentId: root.id, pathPart: "pets" });
assert.equal(pets.path, "/pets");
assert.equal(pets.pathPart, "pets");
assert.equal(pets.parentId, root.id);
assert.ok(pets.id && pets.id !== root.id);
const resourceId = pets.id;

// PutMethod: keyed, so the data plane call below needs the plan's key.
const method = await send("PutMethod", {
  restApiId, resourceId, httpMethod: "GET", authorizationType: "NONE", apiKeyRequired: true,
});
assert.equal(method.httpMethod, "GET");
assert.equal(method.authorizationType, "NONE");
assert.equal(method.apiKeyRequired, true);

// PutIntegration (MOCK): no uri kept, as AWS.
const integration = await send("PutIntegration", {
  restApiId, resourceId, httpMethod: "GET", type: "MOCK",
  requestTemplates: { "application/json": '{"statusCode": 200}' },
});
assert.equal(integration.type, "MOCK");
assert.deepEqual(integration.requestTemplates, { "application/json": '{"statusCode": 200}' });
assert.equal(integration.uri, undefined);

const methodResponse = await send("PutMethodResponse", {
  restApiId, resourceId, httpMethod: "GET", statusCode: "200",
  responseParameters: { "method.response.header.X-Sdk": false },
});
assert.equal(methodResponse.statusCode, "200");
assert.deepEqual(methodResponse.responseParameters, { "method.response.header.X-Sdk": false });

// PutIntegrationResponse.
const template = '{"pets": ["rex"], "stage": "$context.stage"}';
const ir = await send("PutIntegrationResponse", {
  restApiId, resourceId, httpMethod: "GET", statusCode: "200",
  responseTemplates: { "application/json": template },
  responseParameters: { "method.response.header.X-Sdk": "'v3'" },
});
assert.equal(ir.statusCode, "200");
assert.deepEqual(ir.responseTemplates, { "application/json": template });
assert.deepEqual(ir.responseParameters, { "method.response.header.X-Sdk": "'v3'" });

// CreateDeployment and GetStage.
const deployment = await send("CreateDeployment", {
  restApiId, stageName: "dev", description: "first", variables: { color: "blue" },
});
assert.ok(deployment.id);
assert.equal(deployment.description, "first");
assert.ok(deployment.createdDate instanceof Date && !isNaN(deployment.createdDate));
const stage = await send("GetStage", { restApiId, stageName: "dev" });
assert.equal(stage.stageName, "dev");
assert.equal(stage.deploymentId, deployment.id);
assert.deepEqual(stage.variables, { color: "blue" });
assert.ok(stage.createdDate instanceof Date && stage.lastUpdatedDate instanceof Date);
out.deploymentId = deployment.id;

// CreateApiKey, CreateUsagePlan, CreateUsagePlanKey.
const key = await send("CreateApiKey", { name: "js-key", enabled: true, tags: { who: "sdk" } });
assert.ok(key.id);
assert.equal(key.name, "js-key");
assert.equal(key.enabled, true);
assert.equal(typeof key.value, "string");
assert.ok(key.value.length >= 20, "a generated key value");
assert.deepEqual(key.tags, { who: "sdk" });
const plan = await send("CreateUsagePlan", {
  name: "js-plan",
  apiStages: [{ apiId: restApiId, stage: "dev" }],
  throttle: { rateLimit: 100, burstLimit: 200 },
  quota: { limit: 1000, period: "DAY" },
});
assert.ok(plan.id);
assert.equal(plan.name, "js-plan");
assert.deepEqual(plan.apiStages, [{ apiId: restApiId, stage: "dev" }]);
assert.deepEqual(plan.throttle, { rateLimit: 100, burstLimit: 200 });
assert.equal(plan.quota.limit, 1000);
assert.equal(plan.quota.period, "DAY");
const planKey = await send("CreateUsagePlanKey", {
  usagePlanId: plan.id, keyId: key.id, keyType: "API_KEY",
});
assert.equal(planKey.id, key.id);
assert.equal(planKey.type, "API_KEY");
assert.equal(planKey.name, "js-key");
assert.equal(planKey.value, key.value);
out.keyId = key.id;
out.planId = plan.id;

// TagResource / GetTags.
const resourceArn = `arn:aws:apigateway:us-east-1::/restapis/${restApiId}`;
const tagged = await send("TagResource", { resourceArn, tags: { env: "test" } });
assert.equal(tagged.$metadata.httpStatusCode, 204);
const tags = await send("GetTags", { resourceArn });
assert.deepEqual(tags.tags, { team: "gateway", env: "test" });

// GetAccount.
const account = await send("GetAccount", {});
assert.equal(typeof account.throttleSettings.rateLimit, "number");
assert.equal(typeof account.throttleSettings.burstLimit, "number");
assert.ok(Array.isArray(account.features));
out.account = {
  rateLimit: account.throttleSettings.rateLimit,
  burstLimit: account.throttleSettings.burstLimit,
  features: account.features,
  apiKeyVersion: account.apiKeyVersion,
};

// TestInvokeMethod: runs the method without its key, as AWS's test invocation does.
const t = await send("TestInvokeMethod", {
  restApiId, resourceId, httpMethod: "GET", pathWithQueryString: "/pets",
  headers: { Accept: "application/json" },
});
assert.equal(t.status, 200);
assert.deepEqual(JSON.parse(t.body), { pets: ["rex"], stage: "test-invoke-stage" });
assert.equal(t.headers["X-Sdk"], "v3");
assert.deepEqual(t.multiValueHeaders["X-Sdk"], ["v3"]);
assert.equal(typeof t.latency, "number");
assert.match(t.log, /Method completed with status: 200/);

// The rest of issue 13's operations through the SDK: UntagResource, UpdateAccount,
// documentation parts and versions, client certificates, stage access logs, tracing and a
// canary, and a "not supported" VPC link answer.
await send("UntagResource", { resourceArn, tagKeys: ["env"] });
assert.deepEqual((await send("GetTags", { resourceArn })).tags, { team: "gateway" });
const roleArn = "arn:aws:iam::123456789012:role/apigw-logs";
const updatedAccount = await send("UpdateAccount", {
  patchOperations: [{ op: "replace", path: "/cloudwatchRoleArn", value: roleArn }],
});
assert.equal(updatedAccount.cloudwatchRoleArn, roleArn);
assert.equal((await send("GetAccount", {})).cloudwatchRoleArn, roleArn);

const part = await send("CreateDocumentationPart", {
  restApiId,
  location: { type: "METHOD", path: "/pets", method: "GET" },
  properties: '{"description":"lists pets"}',
});
assert.ok(part.id);
assert.equal(part.location.type, "METHOD");
assert.equal(part.location.path, "/pets");
assert.equal(part.location.method, "GET");
const parts = await send("GetDocumentationParts", { restApiId });
assert.deepEqual(parts.items.map((p) => p.id), [part.id]);
const part2 = await send("UpdateDocumentationPart", {
  restApiId, documentationPartId: part.id,
  patchOperations: [{ op: "replace", path: "/properties", value: '{"description":"all pets"}' }],
});
assert.equal(part2.properties, '{"description":"all pets"}');
const version = await send("CreateDocumentationVersion", {
  restApiId, documentationVersion: "1.0", description: "first docs",
});
assert.equal(version.version, "1.0");
assert.ok(version.createdDate instanceof Date && !isNaN(version.createdDate));
const versions = await send("GetDocumentationVersions", { restApiId });
assert.deepEqual(versions.items.map((v) => v.version), ["1.0"]);
await send("DeleteDocumentationVersion", { restApiId, documentationVersion: "1.0" });
await send("DeleteDocumentationPart", { restApiId, documentationPartId: part.id });
assert.deepEqual((await send("GetDocumentationParts", { restApiId })).items ?? [], []);

const cert = await send("GenerateClientCertificate", { description: "to backends" });
assert.ok(cert.clientCertificateId);
assert.match(cert.pemEncodedCertificate, /^-----BEGIN CERTIFICATE-----/);
assert.ok(cert.expirationDate instanceof Date && cert.expirationDate > cert.createdDate);
const cert2 = await send("UpdateClientCertificate", {
  clientCertificateId: cert.clientCertificateId,
  patchOperations: [{ op: "replace", path: "/description", value: "renamed" }],
});
assert.equal(cert2.description, "renamed");
const certs = await send("GetClientCertificates", {});
assert.ok(certs.items.some((c) => c.clientCertificateId === cert.clientCertificateId));
await send("DeleteClientCertificate", { clientCertificateId: cert.clientCertificateId });
let certGone;
try {
  await send("GetClientCertificate", { clientCertificateId: cert.clientCertificateId });
} catch (e) {
  certGone = e;
}
assert.equal(certGone?.name, "NotFoundException");

const groupArn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/js-sdk";
const logged = await send("UpdateStage", {
  restApiId, stageName: "dev",
  patchOperations: [
    { op: "replace", path: "/accessLogSettings/destinationArn", value: groupArn },
    { op: "replace", path: "/accessLogSettings/format", value: "$context.requestId" },
    { op: "replace", path: "/tracingEnabled", value: "true" },
  ],
});
assert.deepEqual(logged.accessLogSettings, { format: "$context.requestId", destinationArn: groupArn });
assert.equal(logged.tracingEnabled, true);
const canaryDeployment = await send("CreateDeployment", {
  restApiId, stageName: "dev", canarySettings: { percentTraffic: 0, stageVariableOverrides: { color: "green" } },
});
const withCanary = await send("GetStage", { restApiId, stageName: "dev" });
assert.equal(withCanary.deploymentId, deployment.id, "a canary deployment leaves the stage's own");
assert.equal(withCanary.canarySettings.deploymentId, canaryDeployment.id);
assert.equal(withCanary.canarySettings.percentTraffic, 0);
assert.deepEqual(withCanary.canarySettings.stageVariableOverrides, { color: "green" });
const noCanary = await send("UpdateStage", {
  restApiId, stageName: "dev",
  patchOperations: [{ op: "remove", path: "/canarySettings" }],
});
assert.equal(noCanary.canarySettings, undefined);
let promotion;
try {
  await send("UpdateStage", {
    restApiId, stageName: "dev",
    patchOperations: [{ op: "copy", from: "/canarySettings/deploymentId", path: "/deploymentId" }],
  });
} catch (e) {
  promotion = e;
}
assert.equal(promotion?.name, "BadRequestException");
assert.equal(promotion.message, "Promotion not available. Canary does not exist.");

let vpc;
try {
  await send("GetVpcLinks", {});
} catch (e) {
  vpc = e;
}
assert.equal(vpc?.name, "BadRequestException");
assert.match(vpc.message, /^GetVpcLinks is not supported by Tollgate: /);
out.issue13 = { roleArn: updatedAccount.cloudwatchRoleArn, canaryDeployment: canaryDeployment.id };

// One error: the SDK parses AWS's error shape into `name` and `message`.
let error;
try {
  await send("GetRestApi", { restApiId: "missing000" });
} catch (e) {
  error = e;
}
assert.ok(error, "GetRestApi of a missing id fails");
assert.equal(error.name, "NotFoundException");
assert.ok(error instanceof sdk.NotFoundException);
assert.equal(error.$metadata.httpStatusCode, 404);
assert.equal(error.$fault, "client");
out.error = { name: error.name, message: error.message };

// The deployed MOCK on the data plane: refused without the key, served with it.
const url = `/restapis/${restApiId}/dev/_user_request_/pets`;
let served;
for (let i = 0; i < 50; i++) {
  served = await get(url, { "x-api-key": key.value });
  if (served.status === 200) break;
  await new Promise((r) => setTimeout(r, 100));
}
assert.equal(served.status, 200, served.body);
assert.deepEqual(JSON.parse(served.body), { pets: ["rex"], stage: "dev" });
assert.equal(served.headers["x-sdk"], "v3");
const refused = await get(url);
assert.equal(refused.status, 403, refused.body);
assert.equal(JSON.parse(refused.body).message, "Forbidden");
out.dataPlane = { refused: refused.status, served: served.status, body: JSON.parse(served.body) };

console.log(JSON.stringify(out));
