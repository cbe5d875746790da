//! Mapping templates end to end: a MOCK method configured with the stock `aws` CLI (request
//! template choosing the status from the request, integration responses by selection pattern,
//! response templates reading the request's parameters, context and stage variables), served
//! by the data plane after a deployment; a template that does not compile is refused at
//! PutIntegration / PutIntegrationResponse with its position.

mod common;

use common::{parse_response, Aws, Response, TestNode};
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

fn call(n: &TestNode, host: &str, path: &str, headers: &str) -> Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n");
    parse_response(&n.raw(raw.as_bytes())).expect("a response")
}

#[test]
fn mock_templates_configured_with_the_cli_render_per_request() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "vtl"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let orders = text(
        &aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &api,
            "--parent-id",
            &root,
            "--path-part",
            "orders",
        ])["id"],
    );
    let order = text(
        &aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &api,
            "--parent-id",
            &orders,
            "--path-part",
            "{id}",
        ])["id"],
    );
    let on = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--rest-api-id",
            &api,
            "--resource-id",
            &order,
            "--http-method",
            "GET",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |cmd: &str, extra: &[&str]| {
        let mut args = vec![cmd.to_string()];
        args.extend(on(extra));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        aws.ok(&args)
    };
    run("put-method", &["--authorization-type", "NONE"]);

    // A template that does not compile is refused, naming where.
    let out = aws.run(
        common::SECRET_KEY,
        &[
            "put-integration",
            "--rest-api-id",
            &api,
            "--resource-id",
            &order,
            "--http-method",
            "GET",
            "--type",
            "MOCK",
            "--request-templates",
            r##"{"application/json": "{\n  #foreach($x in $input.path('$.a'))\n}"}"##,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BadRequestException")
            && err.contains("Invalid mapping expression specified")
            && err.contains("line 2, column 3: #foreach without #end"),
        "{err}"
    );

    // The request template picks the status from the query string (absent: 200).
    run(
        "put-integration",
        &[
            "--type",
            "MOCK",
            "--passthrough-behavior",
            "WHEN_NO_TEMPLATES",
            "--request-templates",
            r##"{"application/json": "#set($code = $input.params('code'))\n{\"statusCode\": #if($code == \"\")200#else$code#end}"}"##,
        ],
    );
    for status in ["200", "404"] {
        run("put-method-response", &["--status-code", status]);
    }
    let bad = aws.run(
        common::SECRET_KEY,
        &[
            "put-integration-response",
            "--rest-api-id",
            &api,
            "--resource-id",
            &order,
            "--http-method",
            "GET",
            "--status-code",
            "200",
            "--response-templates",
            r##"{"application/json": "$input.path('$.items[')"}"##,
        ],
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("BadRequestException") && err.contains("invalid JSONPath"),
        "{err}"
    );
    run(
        "put-integration-response",
        &[
            "--status-code",
            "200",
            "--response-parameters",
            r##"{"method.response.header.X-Static": "'yes'"}"##,
            "--response-templates",
            r##"{"application/json": "#set($tags = $input.params('tags').split(','))\n#set($context.responseOverride.header.X-Order = $input.params('id'))\n{\"id\": \"$input.params('id')\", \"tags\": [#foreach($t in $tags)\"$t\"#if($foreach.hasNext), #end#end], \"requestId\": \"$context.requestId\", \"stage\": \"$context.stage\", \"env\": \"$stageVariables.env\", \"agent\": \"$util.escapeJavaScript($input.params('User-Agent'))\", \"q\": \"$util.urlEncode($input.params('q'))\"}"}"##,
        ],
    );
    run(
        "put-integration-response",
        &[
            "--status-code",
            "404",
            "--selection-pattern",
            "4\\d{2}",
            "--response-templates",
            r##"{"application/json": "{\"message\": \"no order here\", \"env\": \"$stageVariables.env\"}"}"##,
        ],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
        "--variables",
        "env=test",
    ]);
    let host = format!("{api}.execute-api.localhost");

    let r = call(
        &n,
        &host,
        "/dev/orders/o%2D7?tags=a,b,c&q=x%20y",
        "User-Agent: tool/1.0 \"beta\"\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r
        .header("x-amzn-RequestId")
        .expect("a request id")
        .to_string();
    assert_eq!(
        r.json(),
        json!({
            "id": "o-7",
            "tags": ["a", "b", "c"],
            "requestId": id,
            "stage": "dev",
            "env": "test",
            "agent": "tool/1.0 \"beta\"",
            "q": "x+y",
        }),
        "{}",
        r.text()
    );
    assert_eq!(r.header("X-Order"), Some("o-7"));
    assert_eq!(r.header("X-Static"), Some("yes"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));

    // Another request, another render.
    let r = call(&n, &host, "/dev/orders/9?tags=z", "");
    assert_eq!(r.json()["id"], "9");
    assert_eq!(r.json()["tags"], json!(["z"]));

    // The status from the request picks the 4xx response (fixed text, precompiled).
    let r = call(&n, &host, "/dev/orders/9?code=404", "");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "message": "no order here", "env": "test" })
    );

    // WHEN_NO_TEMPLATES: a content type without a template is 415 (the method has one).
    let r = call(&n, &host, "/dev/orders/9", "Content-Type: text/plain\r\n");
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(r.json(), json!({ "message": "Unsupported Media Type" }));

    // Updating a template to one that does not compile is refused; the stored one stays.
    let out = aws.run(
        common::SECRET_KEY,
        &[
            "update-integration",
            "--rest-api-id",
            &api,
            "--resource-id",
            &order,
            "--http-method",
            "GET",
            "--patch-operations",
            "op=replace,path=/requestTemplates/application~1json,value=#if(",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BadRequestException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let i = run("get-integration", &[]);
    assert!(
        text(&i["requestTemplates"]["application/json"]).contains("$input.params('code')"),
        "{i}"
    );
}
