//! `https://` backends end to end, configured with the stock `aws` CLI, against real HTTPS
//! servers on 127.0.0.1 with certificates of test CAs: HTTP_PROXY and HTTP (non-proxy) over
//! TLS with the backend's name sent (SNI) and checked, keep-alive and session resumption seen
//! from the server's side, a certificate of an untrusted CA refused (502, fail closed) unless
//! `tlsConfig.insecureSkipVerification` is set, and a certificate for another name refused even
//! then, as AWS does.

mod common;
#[path = "support/tls_backend.rs"]
mod tls_backend;

use common::{Aws, TestNode};
use serde_json::Value;
use tls_backend::TestCa;

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

#[test]
fn https_backends_are_verified_resumed_and_fail_closed() {
    let trusted = TestCa::new("tollgate test backends CA");
    let other = TestCa::new("an untrusted CA");
    let good = tls_backend::start(trusted.leaf(&["localhost", "127.0.0.1"]));
    let wrong_ca = tls_backend::start(other.leaf(&["localhost"]));
    let misnamed = tls_backend::start(trusted.leaf(&["other.test"]));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("backends-ca.pem"), &trusted.pem).expect("write the CA");
    let n = TestNode::start_with_config_in(
        dir,
        "workers = 1\n[upstream_tls]\nca_file = \"backends-ca.pem\"\n",
        &[],
    );
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "https"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let proxy = |part: &str, verb: &str, uri: &str, tls: Option<&str>| {
        let res = text(
            &aws.ok(&[
                "create-resource",
                "--rest-api-id",
                &api,
                "--parent-id",
                &root,
                "--path-part",
                part,
            ])["id"],
        );
        let on = |args: &[&str]| {
            let mut all = vec![
                args[0],
                "--rest-api-id",
                &api,
                "--resource-id",
                &res,
                "--http-method",
                verb,
            ];
            all.extend_from_slice(&args[1..]);
            aws.ok(&all)
        };
        on(&["put-method", "--authorization-type", "NONE"]);
        let kind = if verb == "POST" { "HTTP" } else { "HTTP_PROXY" };
        let mut args = vec![
            "put-integration",
            "--type",
            kind,
            "--integration-http-method",
            verb,
            "--uri",
            uri,
        ];
        if let Some(t) = tls {
            args.extend_from_slice(&["--tls-config", t]);
        }
        if kind == "HTTP" {
            args.extend_from_slice(&[
                "--request-templates",
                r#"{"application/json": "{\"id\": \"$input.params('id')\"}"}"#,
            ]);
        }
        let put = on(&args);
        if kind == "HTTP" {
            on(&["put-method-response", "--status-code", "200"]);
            on(&["put-integration-response", "--status-code", "200"]);
        }
        (res, put)
    };
    let at = |port: u16, host: &str, path: &str| format!("https://{host}:{port}{path}");
    proxy("good", "GET", &at(good.port, "localhost", "/echo"), None);
    proxy("close", "GET", &at(good.port, "localhost", "/close"), None);
    proxy("form", "POST", &at(good.port, "localhost", "/form"), None);
    proxy("ip", "GET", &at(good.port, "127.0.0.1", "/by-ip"), None);
    proxy(
        "wrongca",
        "GET",
        &at(wrong_ca.port, "localhost", "/w"),
        None,
    );
    let (insecure, put) = proxy(
        "insecure",
        "GET",
        &at(wrong_ca.port, "localhost", "/i"),
        Some("insecureSkipVerification=true"),
    );
    assert_eq!(put["tlsConfig"]["insecureSkipVerification"], true, "{put}");
    let got = aws.ok(&[
        "get-integration",
        "--rest-api-id",
        &api,
        "--resource-id",
        &insecure,
        "--http-method",
        "GET",
    ]);
    assert_eq!(got["tlsConfig"]["insecureSkipVerification"], true, "{got}");
    proxy(
        "misnamed",
        "GET",
        &at(misnamed.port, "localhost", "/m"),
        Some("insecureSkipVerification=true"),
    );
    proxy(
        "misnamedv",
        "GET",
        &at(misnamed.port, "localhost", "/m"),
        None,
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let host = format!("{api}.execute-api.localhost");

    // HTTP_PROXY over TLS: the backend got the URI host as the server name (SNI).
    let r = n.get(&host, "/dev/good?x=1");
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["path"], "/echo?x=1", "{echo}");
    assert_eq!(echo["sni"], "localhost", "{echo}");
    assert_eq!(echo["resumed"], false, "{echo}");
    // Keep-alive: the next request rides the pooled TLS connection (no new handshake).
    let r = n.get(&host, "/dev/good");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["conn"], echo["conn"], "{}", r.text());
    assert_eq!(good.handshakes(), 1);

    // HTTP (non-proxy) over TLS: the request template's output is the body sent.
    let raw = format!(
        "POST /dev/form?id=7 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let r = common::parse_response(&n.raw(raw.as_bytes())).expect("a response");
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["path"], "/form", "{echo}");
    assert_eq!(echo["body"], r#"{"id": "7"}"#, "{echo}");

    // The backend closes the connection after this answer; the next request makes a new
    // one, which resumes the TLS session of the first instead of a full handshake.
    assert_eq!(n.get(&host, "/dev/close").status, 200);
    let before = good.handshakes();
    let r = n.get(&host, "/dev/good");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(good.handshakes(), before + 1);
    assert_eq!(r.json()["resumed"], true, "{}", r.text());
    assert!(good.resumed() >= 1);

    // An address in the URI: checked against the certificate's IP name (no SNI is sent).
    let r = n.get(&host, "/dev/ip");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sni"], "", "{}", r.text());

    // A certificate of a CA the node does not trust: refused, the backend never gets the
    // request.
    let r = n.get(&host, "/dev/wrongca");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(wrong_ca.handshakes(), 0);
    // insecureSkipVerification admits it, as AWS does.
    let r = n.get(&host, "/dev/insecure");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/i");
    assert_eq!(wrong_ca.handshakes(), 1);

    // A certificate for another name: refused with or without insecureSkipVerification.
    for path in ["/dev/misnamed", "/dev/misnamedv"] {
        let r = n.get(&host, path);
        assert_eq!(r.status, 502, "{path}: {}", r.text());
    }
    assert_eq!(misnamed.handshakes(), 0);
}

/// tlsConfig on the admin API: kept and returned, changed by UpdateIntegration, refused where
/// AWS refuses it (an integration that is not HTTP) and with fields this gateway does not know.
#[test]
fn tls_config_on_the_admin_api() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "tls"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let m = [
        "--rest-api-id",
        &api,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
    ];
    let with = |cmd: &str, extra: &[&str]| {
        let mut a = vec![cmd];
        a.extend_from_slice(&m);
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let ok = |cmd: &str, extra: &[&str]| {
        let a = with(cmd, extra);
        aws.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let fails = |cmd: &str, extra: &[&str]| {
        let a = with(cmd, extra);
        aws.fails(
            "BadRequestException",
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    ok("put-method", &["--authorization-type", "NONE"]);
    let put = ok(
        "put-integration",
        &[
            "--type",
            "HTTP_PROXY",
            "--integration-http-method",
            "GET",
            "--uri",
            "https://backend.example.com/v1",
        ],
    );
    assert!(put.get("tlsConfig").is_none(), "{put}");
    let up = ok(
        "update-integration",
        &[
            "--patch-operations",
            "op=replace,path=/tlsConfig/insecureSkipVerification,value=true",
        ],
    );
    assert_eq!(up["tlsConfig"]["insecureSkipVerification"], true, "{up}");
    fails(
        "put-integration",
        &[
            "--type",
            "MOCK",
            "--tls-config",
            "insecureSkipVerification=true",
        ],
    );
    fails(
        "put-integration",
        &[
            "--type",
            "HTTP_PROXY",
            "--integration-http-method",
            "GET",
            "--uri",
            "https://bad_host!/",
        ],
    );
}
