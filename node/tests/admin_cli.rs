//! End to end through the real `aws` CLI: the admin API served in this process (a LocalNode
//! on a temporary folder, on 127.0.0.1), driven with `aws apigateway … --endpoint-url` through
//! APIs, resources, methods, integrations, responses, deployments, stages (rollback, method
//! settings, variables), clone and deletes; AWS-shaped errors; SigV4 refusals over raw HTTP;
//! and the state still there after the server stops and the log is reopened.
//!
//! The `aws` CLI must be on PATH (CI installs it with `pip install awscli`); without it this
//! test fails, it does not skip.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use tollgate_consensus::LocalNode;
use tollgate_node::admin::{self, AdminState};
use tollgate_node::ids::{random_id, random_secret};
use tollgate_node::sigv4;

const REGION: &str = "us-east-1";

/// The admin API on a background thread with its own current-thread runtime.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(dir: &Path, creds: sigv4::Credentials) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dir = dir.to_path_buf();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let node = LocalNode::open(&dir, Box::new(|_, _| {})).expect("open the state");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("send the address");
                let state = Arc::new(AdminState::new(
                    tollgate_consensus::Replica::Local(node),
                    vec![creds],
                    Some(REGION.to_string()),
                ));
                tokio::select! {
                    r = admin::serve(listener, state) => panic!("the admin API stopped: {r:?}"),
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task, and with them the node.
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the admin API did not start");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("the server thread panicked");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// Runs `aws apigateway …` against the server.
struct Cli {
    endpoint: String,
    key: String,
    secret: String,
    home: PathBuf,
}

impl Cli {
    fn command(&self, secret: &str, args: &[&str]) -> Output {
        Command::new("aws")
            .arg("apigateway")
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", REGION])
            .args(["--output", "json"])
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", &self.home)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .output()
            .unwrap_or_else(|e| panic!("cannot run the aws CLI: {e}"))
    }

    /// Runs a command that must succeed; returns its JSON output (Null when it prints none).
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.command(&self.secret, args);
        assert!(
            out.status.success(),
            "aws apigateway {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "aws apigateway {args:?}: output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs a command that must fail with the AWS error `code`; returns stderr.
    fn fails(&self, code: &str, args: &[&str]) -> String {
        self.fails_with(&self.secret, code, args)
    }

    fn fails_with(&self, secret: &str, code: &str, args: &[&str]) -> String {
        let out = self.command(secret, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            matches!(out.status.code(), Some(254 | 255)),
            "aws apigateway {args:?}: expected a client error exit code, got {:?}; stdout {} stderr {stderr}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
        );
        assert!(
            stderr.contains(&format!("An error occurred ({code})")),
            "aws apigateway {args:?}: expected {code}, got: {stderr}"
        );
        stderr
    }
}

fn require_aws_cli() {
    match Command::new("aws").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`aws --version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "the `aws` CLI is not on PATH ({e}); install it (`pip install awscli`) to run this test"
        ),
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("expected items in {v}"))
        .clone()
}

/// The resource with `path` among a GetResources answer.
fn by_path(resources: &Value, path: &str) -> Value {
    items(resources)
        .into_iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no resource {path} in {resources}"))
}

/// One raw HTTP/1.1 exchange; returns status, lower-cased headers and body.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, out[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A request signed with `secret` (or unsigned when `None`).
fn signed_request(
    addr: SocketAddr,
    key: &str,
    secret: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Vec<u8> {
    let mut headers = vec![("host".to_string(), addr.to_string())];
    if let Some(secret) = secret {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let added = sigv4::sign(
            &sigv4::Request {
                method,
                path,
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            },
            &sigv4::Credentials {
                access_key_id: key.to_string(),
                secret_access_key: secret.to_string(),
            },
            REGION,
            "apigateway",
            now,
        );
        headers.extend(added);
    }
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    req.into_bytes()
}

#[test]
fn aws_cli_drives_the_admin_api() {
    require_aws_cli();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let creds = sigv4::Credentials {
        access_key_id: format!("AKID{}", random_id(16).to_ascii_uppercase()),
        secret_access_key: random_secret(40),
    };
    let server = Server::start(dir.path(), creds.clone());
    let cli = Cli {
        endpoint: format!("http://{}", server.addr),
        key: creds.access_key_id.clone(),
        secret: creds.secret_access_key.clone(),
        home: home.path().to_path_buf(),
    };

    // --- An API and its tree. ---
    let api = cli.ok(&[
        "create-rest-api",
        "--name",
        "pets",
        "--description",
        "the pet store",
    ]);
    let id = s(&api["id"]);
    assert_eq!(id.len(), 10);
    assert_eq!(api["name"], "pets");
    assert_eq!(api["description"], "the pet store");
    assert_eq!(api["apiKeySource"], "HEADER");
    assert_eq!(api["endpointConfiguration"]["types"][0], "EDGE");
    assert!(api["createdDate"].is_number(), "{api}");
    let root = s(&api["rootResourceId"]);

    let apis = cli.ok(&["get-rest-apis"]);
    assert!(items(&apis).iter().any(|a| a["id"] == id.as_str()));
    let got = cli.ok(&["get-rest-api", "--rest-api-id", &id]);
    assert_eq!(got["name"], "pets");

    let resources = cli.ok(&["get-resources", "--rest-api-id", &id]);
    assert_eq!(items(&resources).len(), 1);
    assert_eq!(by_path(&resources, "/")["id"], root.as_str());

    let pets = cli.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ]);
    assert_eq!(pets["path"], "/pets");
    assert_eq!(pets["parentId"], root.as_str());
    let pets = s(&pets["id"]);
    let pet = cli.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &pets,
        "--path-part",
        "{petId}",
    ]);
    assert_eq!(pet["path"], "/pets/{petId}");
    let pet = s(&pet["id"]);
    let proxy = cli.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &root,
        "--path-part",
        "{proxy+}",
    ]);
    assert_eq!(proxy["path"], "/{proxy+}");
    let proxy = s(&proxy["id"]);
    // A second variable under the same parent is refused.
    cli.fails(
        "BadRequestException",
        &[
            "create-resource",
            "--rest-api-id",
            &id,
            "--parent-id",
            &pets,
            "--path-part",
            "{other}",
        ],
    );

    // --- Methods, integrations, responses. ---
    let m = cli.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
    ]);
    assert_eq!(m["httpMethod"], "GET");
    assert_eq!(m["authorizationType"], "NONE");
    assert_eq!(m["apiKeyRequired"], false);
    cli.fails(
        "ConflictException",
        &[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pets,
            "--http-method",
            "GET",
            "--authorization-type",
            "NONE",
        ],
    );
    let i = cli.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--type",
        "MOCK",
        "--request-templates",
        r#"{"application/json": "{\"statusCode\": 200}"}"#,
    ]);
    assert_eq!(i["type"], "MOCK");
    assert_eq!(i["timeoutInMillis"], 29000);
    assert_eq!(i["passthroughBehavior"], "WHEN_NO_MATCH");
    assert_eq!(
        i["requestTemplates"]["application/json"],
        "{\"statusCode\": 200}"
    );
    let mr = cli.ok(&[
        "put-method-response",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--status-code",
        "200",
        "--response-parameters",
        "method.response.header.X-Mock=false",
    ]);
    assert_eq!(mr["statusCode"], "200");
    assert_eq!(
        mr["responseParameters"]["method.response.header.X-Mock"],
        false
    );
    let ir = cli.ok(&[
        "put-integration-response",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--status-code",
        "200",
        "--response-templates",
        r#"{"application/json": "{\"pets\": [\"rex\"]}"}"#,
        "--response-parameters",
        r#"{"method.response.header.X-Mock": "'yes'"}"#,
    ]);
    assert_eq!(ir["statusCode"], "200");
    assert_eq!(
        ir["responseTemplates"]["application/json"],
        "{\"pets\": [\"rex\"]}"
    );

    cli.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pet,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
        "--request-parameters",
        "method.request.path.petId=true",
    ]);
    // HTTP_PROXY without the backend's verb is refused as AWS refuses it.
    let err = cli.fails(
        "BadRequestException",
        &[
            "put-integration",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pet,
            "--http-method",
            "GET",
            "--type",
            "HTTP_PROXY",
            "--uri",
            "http://example.com/pets/{id}",
        ],
    );
    assert!(
        err.contains("Enumeration value for HttpMethod must be non-empty"),
        "{err}"
    );
    cli.fails(
        "BadRequestException",
        &[
            "put-integration",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pet,
            "--http-method",
            "GET",
            "--type",
            "HTTP_PROXY",
            "--integration-http-method",
            "GET",
            "--uri",
            "http://example.com/pets/{id}",
            "--timeout-in-millis",
            "30000",
        ],
    );
    let i = cli.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pet,
        "--http-method",
        "GET",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "GET",
        "--uri",
        "http://example.com/pets/{id}",
        "--request-parameters",
        r#"{"integration.request.path.id": "method.request.path.petId"}"#,
        "--timeout-in-millis",
        "5000",
    ]);
    assert_eq!(i["type"], "HTTP_PROXY");
    assert_eq!(i["httpMethod"], "GET");
    assert_eq!(i["uri"], "http://example.com/pets/{id}");
    assert_eq!(i["timeoutInMillis"], 5000);
    assert_eq!(i["connectionType"], "INTERNET");

    cli.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &proxy,
        "--http-method",
        "ANY",
        "--authorization-type",
        "NONE",
    ]);
    cli.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &proxy,
        "--http-method",
        "ANY",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "ANY",
        "--uri",
        "http://${stageVariables.backend}/{proxy}",
    ]);
    // A method on a resource that does not exist.
    cli.fails(
        "NotFoundException",
        &[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            "nosuchres",
            "--http-method",
            "GET",
            "--authorization-type",
            "NONE",
        ],
    );

    let m = cli.ok(&[
        "get-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
    ]);
    assert_eq!(m["methodIntegration"]["type"], "MOCK");
    assert_eq!(
        m["methodIntegration"]["integrationResponses"]["200"]["responseParameters"]
            ["method.response.header.X-Mock"],
        "'yes'"
    );
    assert_eq!(m["methodResponses"]["200"]["statusCode"], "200");
    let m = cli.ok(&[
        "update-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--patch-operations",
        "op=replace,path=/apiKeyRequired,value=true",
        "op=replace,path=/operationName,value=ListPets",
    ]);
    assert_eq!(m["apiKeyRequired"], true);
    assert_eq!(m["operationName"], "ListPets");
    let i = cli.ok(&[
        "update-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pet,
        "--http-method",
        "GET",
        "--patch-operations",
        "op=replace,path=/timeoutInMillis,value=10000",
    ]);
    assert_eq!(i["timeoutInMillis"], 10000);

    // Embedded and plain listings.
    let plain = cli.ok(&["get-resources", "--rest-api-id", &id]);
    assert_eq!(items(&plain).len(), 4);
    assert_eq!(
        by_path(&plain, "/pets")["resourceMethods"],
        serde_json::json!({ "GET": {} })
    );
    let embedded = cli.ok(&["get-resources", "--rest-api-id", &id, "--embed", "methods"]);
    let get = &by_path(&embedded, "/pets")["resourceMethods"]["GET"];
    assert_eq!(get["methodIntegration"]["type"], "MOCK");
    assert_eq!(
        by_path(&embedded, "/{proxy+}")["resourceMethods"]["ANY"]["methodIntegration"]["uri"],
        "http://${stageVariables.backend}/{proxy}"
    );
    // Paging: the CLI follows `position` across pages of one.
    let paged = cli.ok(&["get-resources", "--rest-api-id", &id, "--page-size", "1"]);
    assert_eq!(items(&paged).len(), 4);

    // --- Deployments and stages. ---
    let d1 = cli.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--description",
        "first",
        "--variables",
        "backend=example.com",
    ]);
    assert_eq!(d1["description"], "first");
    assert!(d1["createdDate"].is_number());
    let d1 = s(&d1["id"]);
    let d2 = s(&cli.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--stage-description",
        "production",
    ])["id"]);
    // Redeploying to an existing stage moves it and merges the variables given.
    let d3 = s(&cli.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--variables",
        "extra=yes",
    ])["id"]);
    let deployments = cli.ok(&["get-deployments", "--rest-api-id", &id]);
    let mut ids: Vec<String> = items(&deployments).iter().map(|d| s(&d["id"])).collect();
    ids.sort();
    let mut want = vec![d1.clone(), d2.clone(), d3.clone()];
    want.sort();
    assert_eq!(ids, want);
    let summary = cli.ok(&[
        "get-deployment",
        "--rest-api-id",
        &id,
        "--deployment-id",
        &d1,
        "--embed",
        "apisummary",
    ]);
    assert_eq!(
        summary["apiSummary"]["/pets"]["GET"]["apiKeyRequired"],
        true
    );
    let dev = cli.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "dev"]);
    assert_eq!(dev["deploymentId"], d3.as_str());
    assert_eq!(dev["variables"]["backend"], "example.com");
    assert_eq!(dev["variables"]["extra"], "yes");
    assert!(dev["createdDate"].is_number() && dev["lastUpdatedDate"].is_number());
    let prod = cli.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "prod"]);
    assert_eq!(prod["deploymentId"], d2.as_str());
    assert_eq!(prod["description"], "production");

    // Roll dev back to the first deployment.
    let dev = cli.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--patch-operations",
        &format!("op=replace,path=/deploymentId,value={d1}"),
    ]);
    assert_eq!(dev["deploymentId"], d1.as_str());
    // Throttling for the whole stage, caching for one method, a stage variable.
    let dev = cli.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--patch-operations",
        "op=replace,path=/*/*/throttling/rateLimit,value=100",
        "op=replace,path=/*/*/throttling/burstLimit,value=50",
        "op=replace,path=/~1pets/GET/caching/enabled,value=true",
        "op=replace,path=/variables/backend,value=other.example.com",
        "op=replace,path=/variables/color,value=blue",
    ]);
    assert_eq!(dev["methodSettings"]["*/*"]["throttlingRateLimit"], 100.0);
    let dev = cli.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "dev"]);
    assert_eq!(dev["deploymentId"], d1.as_str());
    let all = &dev["methodSettings"]["*/*"];
    assert_eq!(all["throttlingRateLimit"], 100.0);
    assert_eq!(all["throttlingBurstLimit"], 50);
    assert_eq!(all["loggingLevel"], "OFF");
    let pets_get = &dev["methodSettings"]["pets/GET"];
    assert_eq!(pets_get["cachingEnabled"], true);
    assert_eq!(pets_get["throttlingRateLimit"], 100.0);
    assert_eq!(dev["variables"]["backend"], "other.example.com");
    assert_eq!(dev["variables"]["color"], "blue");
    let dev = cli.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--patch-operations",
        "op=remove,path=/variables/color",
    ]);
    assert!(dev["variables"].get("color").is_none(), "{dev}");

    // Bad patches.
    let err = cli.fails(
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "dev",
            "--patch-operations",
            "op=replace,path=/foo,value=1",
        ],
    );
    // AWS's wording for a path that is none of the stage's.
    assert!(
        err.contains("Invalid method setting path: /foo. Must be one of: [/deploymentId,"),
        "{err}"
    );
    cli.fails(
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "dev",
            "--patch-operations",
            "op=replace,path=/deploymentId,value=nosuchdeploy",
        ],
    );
    cli.fails(
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "dev",
            "--patch-operations",
            "op=replace,path=/*/*/caching/ttlInSeconds,value=7200",
        ],
    );

    let stages = cli.ok(&["get-stages", "--rest-api-id", &id]);
    let mut names: Vec<String> = stages["item"]
        .as_array()
        .expect("item")
        .iter()
        .map(|s| s["stageName"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["dev", "prod"]);

    // A deployment in use cannot go; an unused one can.
    cli.fails(
        "BadRequestException",
        &[
            "delete-deployment",
            "--rest-api-id",
            &id,
            "--deployment-id",
            &d1,
        ],
    );
    cli.ok(&[
        "delete-deployment",
        "--rest-api-id",
        &id,
        "--deployment-id",
        &d3,
    ]);
    assert_eq!(
        items(&cli.ok(&["get-deployments", "--rest-api-id", &id])).len(),
        2
    );

    // --- Update, clone, deletes. ---
    let renamed = cli.ok(&[
        "update-rest-api",
        "--rest-api-id",
        &id,
        "--patch-operations",
        "op=replace,path=/name,value=pet-store",
        "op=add,path=/binaryMediaTypes/image~1png",
    ]);
    assert_eq!(renamed["name"], "pet-store");
    assert_eq!(renamed["binaryMediaTypes"][0], "image/png");
    let clone = cli.ok(&[
        "create-rest-api",
        "--name",
        "pets-copy",
        "--clone-from",
        &id,
    ]);
    let clone_id = s(&clone["id"]);
    assert_ne!(clone_id, id);
    let cloned = cli.ok(&["get-resources", "--rest-api-id", &clone_id]);
    let original = cli.ok(&["get-resources", "--rest-api-id", &id]);
    let mut paths: Vec<String> = items(&cloned).iter().map(|r| s(&r["path"])).collect();
    paths.sort();
    assert_eq!(paths, ["/", "/pets", "/pets/{petId}", "/{proxy+}"]);
    for r in items(&cloned) {
        assert!(
            items(&original).iter().all(|o| o["id"] != r["id"]),
            "cloned resource ids must be new: {r}"
        );
    }
    assert_eq!(
        by_path(&cloned, "/pets")["resourceMethods"],
        serde_json::json!({ "GET": {} })
    );
    let clone_proxy = s(&by_path(&cloned, "/{proxy+}")["id"]);
    cli.ok(&[
        "delete-resource",
        "--rest-api-id",
        &clone_id,
        "--resource-id",
        &clone_proxy,
    ]);
    assert_eq!(
        items(&cli.ok(&["get-resources", "--rest-api-id", &clone_id])).len(),
        3
    );
    assert_eq!(
        items(&cli.ok(&["get-resources", "--rest-api-id", &id])).len(),
        4
    );
    cli.ok(&["delete-stage", "--rest-api-id", &id, "--stage-name", "prod"]);
    cli.fails(
        "NotFoundException",
        &["get-stage", "--rest-api-id", &id, "--stage-name", "prod"],
    );
    // Paging over APIs (two of them, pages of one).
    let apis = cli.ok(&["get-rest-apis", "--page-size", "1"]);
    assert_eq!(items(&apis).len(), 2);

    // --- Errors. ---
    let err = cli.fails(
        "NotFoundException",
        &["get-rest-api", "--rest-api-id", "nosuchapi0"],
    );
    assert!(err.contains("GetRestApi operation"), "{err}");
    assert!(err.contains("Invalid API identifier specified"), "{err}");
    cli.fails(
        "NotFoundException",
        &[
            "get-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pets,
            "--http-method",
            "POST",
        ],
    );
    cli.fails(
        "BadRequestException",
        &[
            "update-rest-api",
            "--rest-api-id",
            &id,
            "--patch-operations",
            "op=replace,path=/nosuchfield,value=1",
        ],
    );
    let wrong = format!("{}x", creds.secret_access_key);
    cli.fails_with(&wrong, "InvalidSignatureException", &["get-rest-apis"]);

    // The same refusals over raw HTTP, to see statuses and headers.
    let (status, headers, body) = raw(
        server.addr,
        &signed_request(
            server.addr,
            &creds.access_key_id,
            Some(&wrong),
            "GET",
            "/restapis",
            "",
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("InvalidSignatureException")
    );
    assert_eq!(header(&headers, "x-amzn-requestid").map(str::len), Some(36));
    let body: Value = serde_json::from_slice(&body).expect("JSON error body");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("signature")));
    let (status, headers, _) = raw(
        server.addr,
        &signed_request(
            server.addr,
            &creds.access_key_id,
            None,
            "GET",
            "/restapis",
            "",
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    let (status, headers, _) = raw(
        server.addr,
        &signed_request(
            server.addr,
            "AKIDUNKNOWN",
            Some("whatever"),
            "GET",
            "/restapis",
            "",
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("UnrecognizedClientException")
    );
    let (status, headers, _) = raw(
        server.addr,
        &signed_request(
            server.addr,
            &creds.access_key_id,
            Some(&creds.secret_access_key),
            "GET",
            "/nosuchcollection",
            "",
        ),
    );
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("UnknownOperationException")
    );
    let (status, headers, _) = raw(
        server.addr,
        format!(
            "POST /restapis HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            server.addr,
            20 * 1024 * 1024
        )
        .as_bytes(),
    );
    assert_eq!(status, 413);
    assert!(header(&headers, "x-amzn-errortype").is_some());
    let (status, _, body) = raw(
        server.addr,
        &signed_request(
            server.addr,
            &creds.access_key_id,
            Some(&creds.secret_access_key),
            "POST",
            "/restapis",
            "{not json",
        ),
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // --- Durability: stop, reopen the log, find everything. ---
    server.stop();
    let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).expect("reopen the state");
    let reg = node.read();
    assert_eq!(reg.apis.len(), 2);
    let api = reg.api(&id).expect("the API survived");
    assert_eq!(api.settings.name, "pet-store");
    assert_eq!(api.resources.len(), 4);
    assert_eq!(api.deployments.len(), 2);
    let dev = &api.stages["dev"];
    assert_eq!(dev.deployment_id, d1);
    assert_eq!(dev.method_settings["*/*"].throttling_rate_limit, 100.0);
    assert!(dev.method_settings["pets/GET"].caching_enabled);
    assert!(!api.stages.contains_key("prod"));
    assert_eq!(
        reg.api(&clone_id)
            .expect("the clone survived")
            .resources
            .len(),
        3
    );
}
