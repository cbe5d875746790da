//! HTTP (non-proxy) integrations end to end, configured with the stock `aws` CLI: a request
//! template renders the body the backend is sent (with mapped path, query and header
//! parameters, context values and multi-value parameters, and nothing else of the client's
//! request), response headers mapped from the backend's headers and body, the context and stage
//! variables, integration responses are selected
//! by the backend's status (selection patterns, else the default), response templates by the
//! client's `Accept`, passthrough behaviors as AWS (415 under WHEN_NO_TEMPLATES), and a dead
//! backend answers 502 through the gateway responses.

mod common;

use common::{dead_addr, parse_response, Aws, EchoBackend, Response, TestNode};
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

fn post(n: &TestNode, host: &str, path: &str, headers: &str, body: &str) -> Response {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    parse_response(&n.raw(raw.as_bytes())).expect("a response")
}

#[test]
fn http_integration_maps_request_and_response() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "http"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let mk = |parent: &str, part: &str| {
        text(
            &aws.ok(&[
                "create-resource",
                "--rest-api-id",
                &api,
                "--parent-id",
                parent,
                "--path-part",
                part,
            ])["id"],
        )
    };
    let pets = mk(&root, "pets");
    let pet = mk(&pets, "{id}");
    let dead = mk(&root, "dead");
    let on = |res: &str, cmd: &str, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--rest-api-id",
            &api,
            "--resource-id",
            res,
            "--http-method",
            "POST",
        ];
        args.extend_from_slice(extra);
        aws.ok(&args)
    };
    for res in [&pet, &dead] {
        on(res, "put-method", &["--authorization-type", "NONE"]);
    }
    let uri = format!("http://{}/backend/pets/{{pid}}", backend.addr);
    on(
        &pet,
        "put-integration",
        &[
            "--type",
            "HTTP",
            "--integration-http-method",
            "PUT",
            "--uri",
            &uri,
            "--passthrough-behavior",
            "WHEN_NO_TEMPLATES",
            "--request-parameters",
            r#"{"integration.request.path.pid": "method.request.path.id", "integration.request.querystring.color": "method.request.querystring.c", "integration.request.header.X-Req": "method.request.header.X-In", "integration.request.header.X-Fixed": "'fixed'", "integration.request.header.X-Rid": "context.requestId", "integration.request.querystring.tags": "method.request.multivaluequerystring.t"}"#,
            "--request-templates",
            r##"{"application/json": "#set($context.requestOverride.header.X-Fixed = 'overridden')\n{\"id\": \"$input.params('id')\", \"name\": $input.json('$.name'), \"env\": \"$stageVariables.env\"}"}"##,
        ],
    );
    for status in ["200", "404"] {
        on(&pet, "put-method-response", &["--status-code", status]);
    }
    on(
        &pet,
        "put-integration-response",
        &[
            "--status-code",
            "200",
            "--response-parameters",
            r#"{"method.response.header.X-Mapped": "'yes'", "method.response.header.X-From": "integration.response.header.X-Backend", "method.response.header.X-Method": "integration.response.body.method", "method.response.header.X-Stage": "context.stage", "method.response.header.X-Env": "stageVariables.env"}"#,
            "--response-templates",
            r##"{"application/json": "{\"backend\": $input.body, \"rid\": \"$context.requestId\"}", "application/xml": "<method>$input.path('$.method')</method>"}"##,
        ],
    );
    on(
        &pet,
        "put-integration-response",
        &[
            "--status-code",
            "404",
            "--selection-pattern",
            "40\\d",
            "--response-templates",
            r##"{"application/json": "{\"missing\": \"$input.params('id')\"}"}"##,
        ],
    );
    let dead_uri = format!("http://{}/x", dead_addr());
    on(
        &dead,
        "put-integration",
        &[
            "--type",
            "HTTP",
            "--integration-http-method",
            "POST",
            "--uri",
            &dead_uri,
        ],
    );
    on(&dead, "put-method-response", &["--status-code", "200"]);
    on(&dead, "put-integration-response", &["--status-code", "200"]);
    let deploy = || {
        aws.ok(&[
            "create-deployment",
            "--rest-api-id",
            &api,
            "--stage-name",
            "dev",
            "--variables",
            "env=test",
        ])
    };
    deploy();
    let host = format!("{api}.execute-api.localhost");

    // The request template's output is the backend's body; only mapped parameters reach it.
    let r = post(
        &n,
        &host,
        "/dev/pets/42?c=red&other=1&t=a&t=b",
        "Content-Type: application/json\r\nX-In: in\r\nX-Custom: not-sent\r\n",
        r#"{"name": {"first": "Rex"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("X-Mapped"), Some("yes"));
    let body = r.json();
    let id = r.header("x-amzn-RequestId").expect("an id").to_string();
    assert_eq!(body["rid"], id.as_str());
    let echo = &body["backend"];
    assert_eq!(echo["method"], "PUT", "{body}");
    assert_eq!(
        echo["path"], "/backend/pets/42?color=red&tags=a&tags=b",
        "{body}"
    );
    assert_eq!(echo["headers"]["x-req"], "in");
    assert_eq!(echo["headers"]["x-rid"], id.as_str());
    // Response header mappings: the backend's header, a value in its body, the request's
    // context, a stage variable.
    assert_eq!(r.header("X-From"), Some("echo"));
    assert_eq!(r.header("X-Method"), Some("PUT"));
    assert_eq!(r.header("X-Stage"), Some("dev"));
    assert_eq!(r.header("X-Env"), Some("test"));
    // The template's request override replaces the mapped header.
    assert_eq!(echo["headers"]["x-fixed"], "overridden");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert!(echo["headers"].get("x-custom").is_none(), "{body}");
    let sent: Value = serde_json::from_str(&text(&echo["body"])).expect("JSON sent");
    assert_eq!(
        sent,
        json!({ "id": "42", "name": { "first": "Rex" }, "env": "test" })
    );

    // The response template by Accept.
    let r = post(
        &n,
        &host,
        "/dev/pets/1",
        "Accept: image/png, application/xml\r\n",
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/xml"));
    assert_eq!(r.text(), "<method>PUT</method>");

    // The backend's 404 selects the 404 response by its pattern; its 503 matches none and
    // takes the default (200) response, as AWS maps it.
    let r = post(&n, &host, "/dev/pets/status-404", "", "{}");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json(), json!({ "missing": "status-404" }));
    let r = post(&n, &host, "/dev/pets/status-503", "", "{}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["backend"]["path"], "/backend/pets/status-503");

    // WHEN_NO_TEMPLATES with a template: another content type is 415.
    let r = post(
        &n,
        &host,
        "/dev/pets/1",
        "Content-Type: text/plain\r\n",
        "hi",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(r.json(), json!({ "message": "Unsupported Media Type" }));

    // WHEN_NO_MATCH: it passes through, with its content type.
    on(
        &pet,
        "update-integration",
        &[
            "--patch-operations",
            "op=replace,path=/passthroughBehavior,value=WHEN_NO_MATCH",
        ],
    );
    deploy();
    let r = post(
        &n,
        &host,
        "/dev/pets/1",
        "Content-Type: text/plain\r\n",
        "hi",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = &r.json()["backend"];
    assert_eq!(echo["body"], "hi");
    assert_eq!(echo["headers"]["content-type"], "text/plain");

    // A backend that is not there: 502 through the gateway responses.
    let r = post(&n, &host, "/dev/dead", "", "{}");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.header("x-amzn-ErrorType").is_some() || r.json().get("message").is_some());
}

/// A cached HTTP (non-proxy) answer is the endpoint's answer, as AWS caches it ("API Gateway
/// caches responses from your endpoint"): a hit skips the backend but is mapped through the
/// integration response for each request, so `$context.requestId` and `Accept` are the
/// request's own, not the first one's.
#[test]
fn cached_http_answer_is_mapped_per_request() {
    use std::sync::atomic::Ordering;
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "cached-http"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let res = text(
        &aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &api,
            "--parent-id",
            &root,
            "--path-part",
            "item",
        ])["id"],
    );
    let on = |cmd: &str, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--rest-api-id",
            &api,
            "--resource-id",
            &res,
            "--http-method",
            "GET",
        ];
        args.extend_from_slice(extra);
        aws.ok(&args)
    };
    on("put-method", &["--authorization-type", "NONE"]);
    let uri = format!("http://{}/backend/item", backend.addr);
    on(
        "put-integration",
        &[
            "--type",
            "HTTP",
            "--integration-http-method",
            "GET",
            "--uri",
            &uri,
        ],
    );
    on("put-method-response", &["--status-code", "200"]);
    on(
        "put-integration-response",
        &[
            "--status-code",
            "200",
            "--response-parameters",
            r#"{"method.response.header.X-From": "integration.response.header.X-Backend"}"#,
            "--response-templates",
            r##"{"application/json": "{\"rid\": \"$context.requestId\", \"method\": $input.json('$.method')}", "text/plain": "rid=$context.requestId"}"##,
        ],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
        "--patch-operations",
        "op=replace,path=/cacheClusterEnabled,value=true",
        "op=replace,path=/*/*/caching/enabled,value=true",
        "op=replace,path=/*/*/caching/ttlInSeconds,value=300",
    ]);
    let host = format!("{api}.execute-api.localhost");
    let count = || backend.count.load(Ordering::SeqCst);
    let get = |accept: &str| {
        let raw = format!(
            "GET /dev/item HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        );
        parse_response(&n.raw(raw.as_bytes())).expect("a response")
    };
    let before = count();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = get("application/json");
        assert_eq!(r.status, 200, "{}", r.text());
        let id = r.header("x-amzn-RequestId").expect("an id").to_string();
        assert_eq!(r.json()["rid"], id.as_str(), "{}", r.text());
        assert_eq!(r.json()["method"], "GET");
        assert_eq!(r.header("X-From"), Some("echo"));
        ids.push(id);
    }
    assert_eq!(count(), before + 1, "repeats are served from the cache");
    ids.dedup();
    assert_eq!(ids.len(), 3, "each answer carries its own request id");
    // The same cached endpoint answer, mapped with the template the request's Accept picks.
    let r = get("text/plain");
    let id = r.header("x-amzn-RequestId").expect("an id").to_string();
    assert_eq!(r.text(), format!("rid={id}"));
    assert_eq!(count(), before + 1, "still from the cache");
}
