//! The authorization phase through the core, with requests signed by the SigV4 signer:
//! every refusal (type, status, `x-amzn-ErrorType`, message), the identity handed to the
//! integration, and resource policies with and without `AWS_IAM`.

use super::*;
use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::core::{decide, Decision, WorkerState};
use crate::dataplane::http1::{parse_request_head, RequestHead};
use crate::dataplane::matcher::Captures;
use crate::dataplane::routing::{compile_all, RoutingTable};
use crate::dataplane::throttle::WorkerLimits;
use crate::dataplane::usage::UsageCounters;
use crate::sigv4::Credentials;
use std::collections::BTreeMap;
use tollgate_proto::model::{
    AccessKey, Deployment, IamUser, Integration, IntegrationType, Method, Resource, RestApi, Stage,
};
use tollgate_proto::Registry;

const WALL: i64 = 1_767_225_600;
const HOST: &str = "api1.execute-api.localhost";

fn creds(id: &str, secret: &str) -> Credentials {
    Credentials {
        access_key_id: id.into(),
        secret_access_key: secret.into(),
    }
}

fn registry(policy: Option<&str>) -> Registry {
    let method = |verb: &str, auth: AuthorizationType| Method {
        http_method: verb.into(),
        authorization_type: auth,
        integration: Some(Integration {
            kind: IntegrationType::HttpProxy,
            http_method: Some("ANY".into()),
            uri: Some("http://127.0.0.1:9/".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resource = |id: &str, methods: Vec<Method>| Resource {
        id: id.into(),
        parent_id: (id != "root").then(|| "root".into()),
        path_part: if id == "root" {
            String::new()
        } else {
            id.into()
        },
        methods: methods
            .into_iter()
            .map(|m| (m.http_method.clone(), Box::new(m)))
            .collect(),
    };
    let resources = BTreeMap::from([
        ("root".into(), resource("root", vec![])),
        (
            "pets".into(),
            resource(
                "pets",
                vec![
                    method("GET", AuthorizationType::AwsIam),
                    method("POST", AuthorizationType::AwsIam),
                ],
            ),
        ),
        (
            "open".into(),
            resource("open", vec![method("GET", AuthorizationType::None)]),
        ),
    ]);
    let mut reg = Registry::default();
    let mut api = RestApi {
        id: "api1".into(),
        root_resource_id: "root".into(),
        ..Default::default()
    };
    api.settings.policy = policy.map(str::to_string);
    api.deployments.insert(
        "d1".into(),
        Deployment {
            id: "d1".into(),
            root_resource_id: "root".into(),
            resources: resources.into(),
            ..Default::default()
        },
    );
    api.stages.insert(
        "prod".into(),
        Stage {
            stage_name: "prod".into(),
            deployment_id: "d1".into(),
            ..Default::default()
        },
    );
    reg.apis.insert("api1".into(), api.into());
    let user = |name: &str, policy: Option<&str>| IamUser {
        name: name.into(),
        id: format!("AIDA{}", name.to_uppercase()),
        path: "/".into(),
        created_date: 0,
        policies: policy
            .map(|p| BTreeMap::from([("p".to_string(), p.to_string())]))
            .unwrap_or_default(),
    };
    // alice may GET anything of api1 and is denied POST; bob has no policy.
    reg.iam.users.insert(
        "alice".into(),
        user(
            "alice",
            Some(
                r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:api1/*"},
                {"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:api1/*/POST/*"}]}"#,
            ),
        ),
    );
    reg.iam.users.insert("bob".into(), user("bob", None));
    let key = |id: &str, user: &str, session: Option<(&str, i64)>| AccessKey {
        id: id.into(),
        secret: format!("secret-{id}"),
        user_name: user.into(),
        active: true,
        created_date: 0,
        session_token: session.map(|s| s.0.to_string()),
        expires: session.map(|s| s.1),
    };
    for k in [
        key("AKIAALICE", "alice", None),
        key("AKIABOB", "bob", None),
        key("ASIATEMP", "alice", Some(("token", WALL + 60))),
        key("ASIAOLD", "alice", Some(("token", WALL - 1))),
    ] {
        reg.iam.access_keys.insert(k.id.clone(), k);
    }
    reg
}

/// What the core decided, in short: `Ok(identity)` for a call of the backend.
type Got = Result<Option<CallerIdentity>, (&'static str, u16, Option<&'static str>, String)>;

struct Fixture {
    table: RoutingTable,
    env: IamEnv,
}

impl Fixture {
    fn new(policy: Option<&str>) -> Fixture {
        let table = compile_all(&registry(policy), &ClusterLimits::new(1));
        let env = IamEnv::new(None, "000000000000", vec![creds("ROOTKEY", "root-secret")]);
        Fixture { table, env }
    }

    /// Sends `verb path` with `extra` headers, signed by `signer` (header form) at `at`.
    fn send(
        &self,
        verb: &str,
        path: &str,
        signer: Option<(&Credentials, i64)>,
        extra: &[(&str, &str)],
        peer: &str,
    ) -> Got {
        let mut headers: Vec<(String, String)> = vec![("Host".into(), HOST.into())];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        if let Some((c, at)) = signer {
            let signed = crate::sigv4::sign(
                &crate::sigv4::Request {
                    method: verb,
                    path,
                    query: "",
                    headers: &headers,
                    body: b"",
                },
                c,
                "us-east-1",
                "execute-api",
                at,
            );
            headers.extend(signed);
        }
        self.send_raw(verb, path, &headers, peer)
    }

    fn send_raw(&self, verb: &str, target: &str, headers: &[(String, String)], peer: &str) -> Got {
        let mut raw = format!("{verb} {target} HTTP/1.1\r\n");
        for (n, v) in headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let mut head = RequestHead::default();
        assert!(parse_request_head(raw.as_bytes(), &mut head).unwrap());
        let buf = raw.as_bytes();
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&buf[r]).unwrap();
        let req = Request {
            buf,
            head: &head,
            method: text(head.method.clone()),
            path: text(head.path.clone()),
            query: text(head.query.clone()),
            body: &[],
            peer: peer.parse().unwrap(),
            tls: None,
        };
        let mut limits = WorkerLimits::new(0, 1);
        let mut usage = UsageCounters::new(0, None);
        let mut auth = AuthScratch::default();
        let mut st = WorkerState {
            limits: &mut limits,
            usage: &mut usage,
            account: None,
            workers: 1,
            iam: &self.env,
            wall_secs: WALL,
            auth: &mut auth,
            authorized: None,
        };
        let mut caps = Captures::default();
        let stamp = crate::dataplane::mapping::Stamp {
            request_id: "req-1",
            epoch_ms: WALL.unsigned_abs().saturating_mul(1000),
            account: "123456789012",
        };
        match decide(
            &self.table,
            &req,
            &mut st,
            1,
            &stamp,
            &mut caps,
            &mut Vec::new(),
        ) {
            Decision::Proxy(p) => Ok(p.identity),
            Decision::Mock(_) => panic!("no MOCK here"),
            Decision::Lambda(_) => panic!("no Lambda here"),
            Decision::Authorize(_) => panic!("no authorizer here"),
            Decision::Refuse(r) => Err((
                r.refusal.kind.as_str(),
                r.refusal.status,
                r.refusal.error_type,
                r.message.unwrap_or_else(|| r.refusal.message.to_string()),
            )),
        }
    }
}

fn refused(got: &Got) -> (&'static str, u16, Option<&'static str>) {
    match got {
        Err((k, s, t, _)) => (k, *s, *t),
        Ok(i) => panic!("admitted as {i:?}"),
    }
}

#[test]
fn signed_requests_are_admitted_with_their_identity() {
    let fx = Fixture::new(None);
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    let got = fx.send("GET", "/prod/pets", Some((&alice, WALL)), &[], "10.0.0.1");
    assert_eq!(
        got,
        Ok(Some(CallerIdentity {
            access_key: "AKIAALICE".into(),
            account_id: "000000000000".into(),
            caller: "AIDAALICE".into(),
            user: "AIDAALICE".into(),
            user_arn: "arn:aws:iam::000000000000:user/alice".into(),
        }))
    );
    // The root identity (admin credentials) is allowed on every method.
    let root = creds("ROOTKEY", "root-secret");
    let got = fx.send("POST", "/prod/pets", Some((&root, WALL)), &[], "10.0.0.1");
    let id = got.unwrap().unwrap();
    assert_eq!(id.user_arn, "arn:aws:iam::000000000000:root");
    assert_eq!(id.caller, "000000000000");
    // Methods without AWS_IAM take no signature.
    assert_eq!(
        fx.send("GET", "/prod/open", None, &[], "10.0.0.1"),
        Ok(None)
    );
}

#[test]
fn signature_failures_are_answered_as_aws() {
    let fx = Fixture::new(None);
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    let got = fx.send("GET", "/prod/pets", None, &[], "10.0.0.1");
    assert_eq!(
        refused(&got),
        (
            "MISSING_AUTHENTICATION_TOKEN",
            403,
            Some("MissingAuthenticationTokenException")
        )
    );
    let wrong = creds("AKIAALICE", "not-the-secret");
    let got = fx.send("GET", "/prod/pets", Some((&wrong, WALL)), &[], "10.0.0.1");
    assert_eq!(
        refused(&got),
        ("INVALID_SIGNATURE", 403, Some("InvalidSignatureException"))
    );
    assert!(got
        .unwrap_err()
        .3
        .starts_with("The request signature we calculated"));
    let unknown = creds("AKIANOBODY", "x");
    let got = fx.send("GET", "/prod/pets", Some((&unknown, WALL)), &[], "10.0.0.1");
    assert_eq!(
        refused(&got),
        (
            "INVALID_SIGNATURE",
            403,
            Some("UnrecognizedClientException")
        )
    );
    // Signed 16 minutes ago: outside AWS's 15-minute window.
    let got = fx.send(
        "GET",
        "/prod/pets",
        Some((&alice, WALL - 16 * 60)),
        &[],
        "10.0.0.1",
    );
    assert_eq!(
        refused(&got),
        ("EXPIRED_TOKEN", 403, Some("InvalidSignatureException"))
    );
    assert!(got.unwrap_err().3.starts_with("Signature expired"));
    // 14 minutes is inside it.
    assert!(fx
        .send(
            "GET",
            "/prod/pets",
            Some((&alice, WALL - 14 * 60)),
            &[],
            "10.0.0.1"
        )
        .is_ok());
    // A header the client signed, changed on the way.
    let mut headers = vec![
        ("Host".to_string(), HOST.to_string()),
        ("X-Custom".to_string(), "a".to_string()),
    ];
    headers.extend(crate::sigv4::sign(
        &crate::sigv4::Request {
            method: "GET",
            path: "/prod/pets",
            query: "",
            headers: &headers,
            body: b"",
        },
        &alice,
        "us-east-1",
        "execute-api",
        WALL,
    ));
    headers[1].1 = "b".into();
    let got = fx.send_raw("GET", "/prod/pets", &headers, "10.0.0.1");
    assert_eq!(refused(&got).0, "INVALID_SIGNATURE");
    // Signed for another service.
    let mut headers = vec![("Host".to_string(), HOST.to_string())];
    headers.extend(crate::sigv4::sign(
        &crate::sigv4::Request {
            method: "GET",
            path: "/prod/pets",
            query: "",
            headers: &headers,
            body: b"",
        },
        &alice,
        "us-east-1",
        "apigateway",
        WALL,
    ));
    let got = fx.send_raw("GET", "/prod/pets", &headers, "10.0.0.1");
    assert_eq!(refused(&got).0, "INVALID_SIGNATURE");
}

#[test]
fn presigned_urls_are_accepted() {
    let fx = Fixture::new(None);
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    let headers = vec![("Host".to_string(), HOST.to_string())];
    let url = crate::sigv4::presign(
        &crate::sigv4::Request {
            method: "GET",
            path: "/prod/pets",
            query: "",
            headers: &headers,
            body: b"",
        },
        &alice,
        "us-east-1",
        "execute-api",
        WALL - 100,
        300,
    );
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or(&url);
    let got = fx.send_raw("GET", &format!("/prod/pets?{query}"), &headers, "10.0.0.1");
    assert_eq!(got.unwrap().unwrap().access_key, "AKIAALICE");
}

#[test]
fn policies_decide_and_explicit_deny_wins() {
    let fx = Fixture::new(None);
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    let got = fx.send("POST", "/prod/pets", Some((&alice, WALL)), &[], "10.0.0.1");
    assert_eq!(
        refused(&got),
        ("ACCESS_DENIED", 403, Some("AccessDeniedException"))
    );
    assert_eq!(
        got.unwrap_err().3,
        "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: \
         execute-api:Invoke on resource: \
         arn:aws:execute-api:us-east-1:000000000000:api1/prod/POST/pets with an explicit deny"
    );
    // No policy: an implicit deny.
    let bob = creds("AKIABOB", "secret-AKIABOB");
    let got = fx.send("GET", "/prod/pets", Some((&bob, WALL)), &[], "10.0.0.1");
    let (kind, _, _, message) = got.unwrap_err();
    assert_eq!(kind, "ACCESS_DENIED");
    assert!(!message.contains("explicit"), "{message}");
}

#[test]
fn session_tokens_are_checked() {
    let fx = Fixture::new(None);
    let temp = creds("ASIATEMP", "secret-ASIATEMP");
    let send = |c: &Credentials, token: Option<&str>| {
        let extra: Vec<(&str, &str)> = token
            .map(|t| vec![("X-Amz-Security-Token", t)])
            .unwrap_or_default();
        fx.send("GET", "/prod/pets", Some((c, WALL)), &extra, "10.0.0.1")
    };
    assert!(send(&temp, Some("token")).is_ok());
    assert_eq!(
        refused(&send(&temp, None)).2,
        Some("UnrecognizedClientException")
    );
    assert_eq!(
        refused(&send(&temp, Some("other"))).2,
        Some("UnrecognizedClientException")
    );
    let old = creds("ASIAOLD", "secret-ASIAOLD");
    assert_eq!(
        refused(&send(&old, Some("token"))),
        ("EXPIRED_TOKEN", 403, Some("ExpiredTokenException"))
    );
    // A long-term key with a token it does not have.
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    assert_eq!(
        refused(&send(&alice, Some("token"))).2,
        Some("UnrecognizedClientException")
    );
}

#[test]
fn resource_policies_apply_to_every_method() {
    let ip_deny = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},
        {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*",
         "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24"]}}}]}"#;
    let fx = Fixture::new(Some(ip_deny));
    assert_eq!(
        fx.send("GET", "/prod/open", None, &[], "10.0.0.1"),
        Ok(None)
    );
    let got = fx.send("GET", "/prod/open", None, &[], "192.0.2.7");
    assert_eq!(
        refused(&got),
        ("ACCESS_DENIED", 403, Some("AccessDeniedException"))
    );
    assert!(got
        .unwrap_err()
        .3
        .starts_with("User: anonymous is not authorized"));
    // The resource policy's Allow admits bob (same account) though his own policies do not;
    // its Deny refuses even the root identity.
    let bob = creds("AKIABOB", "secret-AKIABOB");
    assert!(fx
        .send("GET", "/prod/pets", Some((&bob, WALL)), &[], "10.0.0.1")
        .is_ok());
    let root = creds("ROOTKEY", "root-secret");
    let got = fx.send("GET", "/prod/pets", Some((&root, WALL)), &[], "192.0.2.1");
    assert_eq!(refused(&got).0, "ACCESS_DENIED");
    // A policy that allows only one user leaves anonymous callers implicitly denied.
    let alice_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}"#;
    let fx = Fixture::new(Some(alice_only));
    assert_eq!(
        refused(&fx.send("GET", "/prod/open", None, &[], "10.0.0.1")).0,
        "ACCESS_DENIED"
    );
    let alice = creds("AKIAALICE", "secret-AKIAALICE");
    assert!(fx
        .send("GET", "/prod/pets", Some((&alice, WALL)), &[], "10.0.0.1")
        .is_ok());
    // A stored policy that does not compile denies everything.
    let fx = Fixture::new(Some("{broken"));
    assert_eq!(
        refused(&fx.send("GET", "/prod/open", None, &[], "10.0.0.1")).0,
        "ACCESS_DENIED"
    );
}
