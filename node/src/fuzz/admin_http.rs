//! Fuzz target: the admin API end to end, in process (`crate::admin::http::handle` on a
//! `LocalNode` in a temporary folder): every operation's JSON body (and sometimes its path and
//! query) mutated from a valid example, signed so that it reaches routing, input decoding,
//! PATCH parsing, validation and the state machine. No call panics or answers 5xx; every
//! refusal has the AWS shape (`x-amzn-ErrorType`, `{"message": "…"}`); whatever the calls
//! manage to store compiles, and no compiled method was made unservable by a header value the
//! admin API should have refused.

use super::{run, Mutator};
use crate::admin::{self, AdminState};
use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::routing::{self, CompiledIntegration};
use crate::sigv4::{self, Credentials};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rand::Rng;
use serde_json::Value;

const REGION: &str = "us-east-1";

const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "-1",
    "1e309",
    "18446744073709551616",
    "\"op\":\"add\"",
    "\"op\":\"remove\"",
    "\"op\":\"move\"",
    "\"path\":\"/\"",
    "\"value\":",
    "~1",
    "~0",
    "~",
    "/",
    "\\u0000",
    "\\r\\n",
    "'",
    "${stageVariables.b}",
    "method.request.header.",
    "integration.request.header.",
    "method.response.header.",
    "AWS_IAM",
    "CUSTOM",
    "HTTP",
    "AWS_PROXY",
    "https://",
    "VPC_LINK",
    "\"authorizerId\":\"a\",",
    "\"tags\":{\"aws:k\":\"v\"},",
    "\"contentHandling\":\"CONVERT_TO_TEXT\",",
    "\\ud800",
    "é",
];

/// (method, path and query, body) with `{api}`, `{root}`, `{res}`, `{dep}`, `{key}` and
/// `{plan}` standing for ids made by the set-up.
const CALLS: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/restapis",
        r#"{"name":"n","description":"d","version":"1","tags":{"a":"b"},"binaryMediaTypes":["image/png"],"endpointConfiguration":{"types":["REGIONAL"]},"apiKeySource":"HEADER","minimumCompressionSize":10}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}",
        r#"{"patchOperations":[{"op":"replace","path":"/name","value":"x"},{"op":"add","path":"/binaryMediaTypes/image~1png"},{"op":"replace","path":"/minimumCompressionSize","value":"5"}]}"#,
    ),
    (
        "POST",
        "/restapis/{api}/resources/{root}",
        r#"{"pathPart":"p"}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/resources/{res}",
        r#"{"patchOperations":[{"op":"replace","path":"/pathPart","value":"q"}]}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/POST",
        r#"{"authorizationType":"NONE","apiKeyRequired":true,"operationName":"o","requestParameters":{"method.request.header.x":true,"method.request.querystring.q":false},"requestModels":{"application/json":"Empty"}}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/POST/integration",
        r#"{"type":"MOCK"}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/resources/{res}/methods/GET",
        r#"{"patchOperations":[{"op":"replace","path":"/apiKeyRequired","value":"true"},{"op":"add","path":"/requestParameters/method.request.header.h","value":"true"},{"op":"replace","path":"/authorizationType","value":"NONE"}]}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/GET/integration",
        r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://127.0.0.1:9/{id}","requestParameters":{"integration.request.header.X-A":"'v'","integration.request.path.id":"method.request.path.id"},"timeoutInMillis":1000,"cacheKeyParameters":["method.request.header.h"]}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/GET/integration",
        r#"{"type":"MOCK","requestTemplates":{"application/json":"{\"statusCode\": 200}"},"passthroughBehavior":"WHEN_NO_MATCH"}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/resources/{res}/methods/GET/integration",
        r#"{"patchOperations":[{"op":"replace","path":"/timeoutInMillis","value":"1000"},{"op":"add","path":"/requestTemplates/text~1plain","value":"{}"},{"op":"add","path":"/requestParameters/integration.request.header.X-B","value":"'w'"}]}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/GET/responses/200",
        r#"{"responseParameters":{"method.response.header.X-A":false},"responseModels":{"application/json":"Empty"}}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/resources/{res}/methods/GET/responses/200",
        r#"{"patchOperations":[{"op":"add","path":"/responseParameters/method.response.header.X-B","value":"true"}]}"#,
    ),
    (
        "PUT",
        "/restapis/{api}/resources/{res}/methods/GET/integration/responses/200",
        r#"{"selectionPattern":"2\\d{2}","responseTemplates":{"application/json":"{\"a\":1}"},"responseParameters":{"method.response.header.X-A":"'v'"}}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/resources/{res}/methods/GET/integration/responses/200",
        r#"{"patchOperations":[{"op":"replace","path":"/selectionPattern","value":"5\\d{2}"},{"op":"add","path":"/responseParameters/method.response.header.X-C","value":"'c'"}]}"#,
    ),
    (
        "POST",
        "/restapis/{api}/deployments",
        r#"{"stageName":"dev","stageDescription":"s","description":"d","variables":{"b":"127.0.0.1:9"},"cacheClusterEnabled":false}"#,
    ),
    (
        "POST",
        "/restapis/{api}/stages",
        r#"{"stageName":"s2","deploymentId":"{dep}","variables":{"v":"1"},"tags":{"t":"1"},"description":"x"}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/stages/dev",
        r#"{"patchOperations":[{"op":"replace","path":"/variables/x","value":"y"},{"op":"replace","path":"/*/*/throttling/rateLimit","value":"10"},{"op":"replace","path":"/~1p/GET/caching/ttlInSeconds","value":"30"},{"op":"replace","path":"/description","value":"d"}]}"#,
    ),
    (
        "PATCH",
        "/restapis/{api}/deployments/{dep}",
        r#"{"patchOperations":[{"op":"replace","path":"/description","value":"d"}]}"#,
    ),
    (
        "POST",
        "/apikeys",
        r#"{"name":"k","description":"d","value":"abcdefghijklmnopqrstuvwxyz","enabled":true,"customerId":"c","tags":{"a":"b"}}"#,
    ),
    (
        "PATCH",
        "/apikeys/{key}",
        r#"{"patchOperations":[{"op":"replace","path":"/name","value":"n"},{"op":"replace","path":"/enabled","value":"false"}]}"#,
    ),
    (
        "POST",
        "/apikeys?mode=import&format=csv&failonwarnings=false",
        "Name,Key,Description,Enabled,UsagePlanIds\nk,abcdefghijklmnopqrstuv1,d,true,\"{plan}\"\n",
    ),
    (
        "POST",
        "/usageplans",
        r#"{"name":"p","description":"d","apiStages":[{"apiId":"{api}","stage":"dev","throttle":{"/p/GET":{"rateLimit":1,"burstLimit":1}}}],"throttle":{"rateLimit":10,"burstLimit":5},"quota":{"limit":100,"period":"DAY","offset":0},"tags":{"a":"b"}}"#,
    ),
    (
        "PATCH",
        "/usageplans/{plan}",
        r#"{"patchOperations":[{"op":"replace","path":"/name","value":"q"},{"op":"replace","path":"/throttle/rateLimit","value":"5"},{"op":"add","path":"/apiStages","value":"{api}:dev"}]}"#,
    ),
    (
        "POST",
        "/usageplans/{plan}/keys",
        r#"{"keyId":"{key}","keyType":"API_KEY"}"#,
    ),
    (
        "PATCH",
        "/usageplans/{plan}/keys/{key}/usage",
        r#"{"patchOperations":[{"op":"replace","path":"/remaining","value":"5"}]}"#,
    ),
    ("GET", "/restapis/{api}/resources?embed=methods&limit=2", ""),
    (
        "GET",
        "/usageplans/{plan}/usage?keyId={key}&startDate=2026-01-01&endDate=2026-01-02",
        "",
    ),
];

struct Admin {
    state: AdminState,
    rt: tokio::runtime::Runtime,
    creds: Credentials,
}

impl Admin {
    /// One signed call; the answer's status, error type header and body.
    fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Option<(u16, Option<String>, Vec<u8>)> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut headers = vec![
            ("Host".to_string(), "127.0.0.1:9002".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let now = crate::ids::now_epoch();
        let req = sigv4::Request {
            method,
            path,
            query,
            headers: &headers,
            body,
        };
        headers.extend(sigv4::sign(&req, &self.creds, REGION, "apigateway", now));
        let mut builder = hyper::Request::builder().method(method).uri(path_and_query);
        for (k, v) in &headers {
            builder = builder.header(k, v);
        }
        // A mutated path that is no URI never reaches the server: hyper refuses it first.
        let request = builder.body(Full::new(Bytes::copy_from_slice(body))).ok()?;
        let resp = self.rt.block_on(admin::http::handle(request, &self.state));
        let status = resp.status().as_u16();
        let error_type = resp
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = self
            .rt
            .block_on(resp.into_body().collect())
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        Some((status, error_type, body))
    }

    fn ok(&self, method: &str, path: &str, body: &str) -> Value {
        let (status, _, body) = self
            .call(method, path, body.as_bytes())
            .expect("a valid URI");
        assert!(
            (200..300).contains(&status),
            "{method} {path} -> {status} {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

#[test]
fn fuzz_admin_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = tollgate_consensus::LocalNode::open(dir.path(), Box::new(|_, _| {})).expect("open");
    let creds = Credentials {
        access_key_id: "AKIDFUZZ".into(),
        secret_access_key: "fuzz-secret".into(),
    };
    let a = Admin {
        state: AdminState::new(
            tollgate_consensus::Replica::Local(node),
            vec![creds.clone()],
            Some(REGION.into()),
        ),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        creds,
    };
    let api = id(&a.ok("POST", "/restapis", r#"{"name":"fuzz"}"#));
    let resources = a.ok("GET", &format!("/restapis/{api}/resources"), "");
    let root = id(&resources["item"][0]);
    let res = id(&a.ok(
        "POST",
        &format!("/restapis/{api}/resources/{root}"),
        r#"{"pathPart":"p"}"#,
    ));
    let m = format!("/restapis/{api}/resources/{res}/methods/GET");
    a.ok("PUT", &m, r#"{"authorizationType":"NONE"}"#);
    a.ok("PUT", &format!("{m}/integration"), r#"{"type":"MOCK"}"#);
    a.ok("PUT", &format!("{m}/integration/responses/200"), "{}");
    let dep = id(&a.ok(
        "POST",
        &format!("/restapis/{api}/deployments"),
        r#"{"stageName":"dev"}"#,
    ));
    let key = id(&a.ok(
        "POST",
        "/apikeys",
        r#"{"name":"k","value":"fuzzkeyfuzzkeyfuzzkey0","enabled":true}"#,
    ));
    let plan = id(&a.ok(
        "POST",
        "/usageplans",
        &format!(
            r#"{{"name":"p","apiStages":[{{"apiId":"{api}","stage":"dev"}}],"quota":{{"limit":100,"period":"DAY"}}}}"#
        ),
    ));
    let fill = |s: &str| {
        s.replace("{api}", &api)
            .replace("{root}", &root)
            .replace("{res}", &res)
            .replace("{dep}", &dep)
            .replace("{key}", &key)
            .replace("{plan}", &plan)
    };
    // Every example is valid as it stands (so the mutations start from reachable code).
    for (method, path, body) in CALLS {
        let (status, _, answer) = a
            .call(method, &fill(path), fill(body).as_bytes())
            .expect("a valid URI");
        assert!(
            status < 400 || status == 409,
            "{method} {path} -> {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }

    let mut refused = 0u64;
    let iterations = run("admin operations", 300, |mz: &mut Mutator| {
        let (method, path, body) = *mz.pick(CALLS);
        let (mut path, mut body) = (fill(path), fill(body).into_bytes());
        if mz.rng.gen_bool(0.15) {
            path = mz.mutate_str(&path, TOKENS);
        } else {
            body = mz.mutate(&body, TOKENS);
        }
        let Some((status, error_type, answer)) = a.call(method, &path, &body) else {
            return;
        };
        let shown = || {
            format!(
                "{method} {path:?} {:?} -> {status} {}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&answer)
            )
        };
        assert!(status < 500, "{}", shown());
        let uri_path = path.split(['?', '#']).next().unwrap_or_default();
        if crate::admin::iam::is_iam_call(method, uri_path) {
            // `POST /` is the IAM/STS Query endpoint on the admin port: it answers in IAM's
            // XML, not API Gateway's JSON (`admin::iam`).
            assert!(answer.starts_with(b"<"), "not IAM's XML: {}", shown());
            if status >= 400 {
                refused += 1;
            }
            return;
        }
        if status >= 400 {
            refused += 1;
            let t = error_type.unwrap_or_else(|| panic!("no x-amzn-ErrorType: {}", shown()));
            assert!(t.ends_with("Exception"), "{}", shown());
            let v: Value =
                serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("not JSON: {}", shown()));
            assert!(v["message"].is_string(), "{}", shown());
        } else if !answer.is_empty() {
            serde_json::from_slice::<Value>(&answer)
                .unwrap_or_else(|_| panic!("not JSON: {}", shown()));
        }
    });
    assert!(refused < iterations, "every call was refused");

    // Whatever was stored compiles, and nothing stored needed the compiler's own refusal of
    // header values (the admin API refused them first).
    let reg = a.state.node.read();
    let table = routing::compile_all(&reg, &ClusterLimits::new(1));
    for api in table.apis.values() {
        for stage in api.stages.values() {
            for m in &stage.methods {
                if let CompiledIntegration::Unavailable(why) = &m.integration {
                    assert!(
                        !why.contains("header") && !why.contains("control"),
                        "{}: {why}",
                        m.resource_path
                    );
                }
            }
        }
    }
}
