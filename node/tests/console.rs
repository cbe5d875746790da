//! The web console end to end: a node with an API (a resource tree with `{proxy+}`), a stage
//! with two deployments, an API key in a usage plan with usage recorded; then headless
//! Chromium (Debian's `chromium`, driven by `playwright-core` from `target/npm`) clicks
//! through every page (`node/tests/console/flows.mjs`), rolls the stage back, and this test
//! checks through the admin API that the rollback happened and that the screenshots are PNGs.
//! The browser's SigV4 signer is also checked against the AWS test suite with Node.js.
//!
//! Skipped (with a message) only when there is no Chromium and `TOLLGATE_REQUIRE_BROWSER`
//! is unset; `.ci/run` installs both tools and sets it.

mod common;

use common::TestNode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn chromium() -> PathBuf {
    std::env::var_os("TOLLGATE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn npm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/npm")
}

/// Whether the browser tests can run; panics when they must and cannot.
fn browser_available() -> bool {
    let required = std::env::var_os("TOLLGATE_REQUIRE_BROWSER").is_some();
    if !chromium().exists() {
        assert!(
            !required,
            "TOLLGATE_REQUIRE_BROWSER is set but {} is missing (apt-get install chromium)",
            chromium().display()
        );
        eprintln!(
            "SKIPPED: no Chromium at {} (apt-get install chromium, or set TOLLGATE_CHROMIUM); \
             set TOLLGATE_REQUIRE_BROWSER=1 to make this a failure",
            chromium().display()
        );
        return false;
    }
    assert!(
        npm_dir().join("node_modules/playwright-core").is_dir(),
        "Chromium is installed but playwright-core is not: npm install --prefix target/npm \
         playwright-core (see .ci/run)"
    );
    true
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/console")
        .join(name)
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (y, m, d) = tollgate_proto::model::civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Runs a Node.js script of `tests/console/` and returns its last line of output.
fn node_script(name: &str, args: &[&Path]) -> String {
    let out = Command::new("node")
        .arg(script(name))
        .args(args)
        .output()
        .expect("node (Node.js) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap_or_default().to_string()
}

#[test]
fn the_browser_signer_matches_the_aws_sigv4_suite() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4");
    // Every normalised case, and whole signatures for those signing host;x-amz-date.
    assert_eq!(
        node_script("sigv4_vectors.mjs", &[&suite]),
        "SIGV4-VECTORS-OK 31 canonical, 21 signatures"
    );
}

#[test]
fn the_console_reads_request_rates_from_prometheus_text() {
    assert_eq!(node_script("metrics_unit.mjs", &[]), "METRICS-OK");
}

#[test]
fn console_pages_are_served_with_a_strict_policy() {
    let node = TestNode::start(&["--workers", "1"]);
    let get = |path: &str| {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        common::parse_response(&common::raw_exchange(node.admin, raw.as_bytes()))
            .expect("an answer")
    };
    let page = get("/console/");
    assert_eq!(page.status, 200);
    assert!(page
        .text()
        .contains(r#"<script type="module" src="app.js">"#));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let js = get("/console/sigv4.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/javascript"));
    assert_eq!(get("/console").status, 301);
    assert_eq!(get("/console/secret.txt").status, 404);
    let config = get("/console/config.json").json();
    assert_eq!(config, json!({ "region": "us-east-1" }));
    // The API itself stays signed, and grants no other origin anything: a preflight from
    // another site is refused without CORS headers (the console is same-origin).
    assert_eq!(get("/restapis").status, 403);
    let preflight = common::parse_response(&common::raw_exchange(
        node.admin,
        b"OPTIONS /restapis HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\r\n\
          Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    ))
    .expect("an answer");
    assert_eq!(preflight.status, 403);
    assert_eq!(preflight.header("access-control-allow-origin"), None);
}

#[test]
fn console_flows_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    let node = TestNode::start(&["--workers", "1"]);
    // An API: GET /pets (MOCK, key required) and ANY /pets/{proxy+}.
    let api = node.admin_ok("POST", "/restapis", Some(json!({"name": "console-pets"})));
    let (id, root) = (s(&api["id"]), s(&api["rootResourceId"]));
    let pets = node.admin_ok(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        Some(json!({"pathPart": "pets"})),
    );
    let pets_id = s(&pets["id"]);
    let proxy = node.admin_ok(
        "POST",
        &format!("/restapis/{id}/resources/{pets_id}"),
        Some(json!({"pathPart": "{proxy+}"})),
    );
    let mock =
        json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}});
    for (resource, verb, key) in [(&pets_id, "GET", true), (&s(&proxy["id"]), "ANY", false)] {
        let method = format!("/restapis/{id}/resources/{resource}/methods/{verb}");
        node.admin_ok(
            "PUT",
            &method,
            Some(json!({"authorizationType": "NONE", "apiKeyRequired": key})),
        );
        node.admin_ok("PUT", &format!("{method}/integration"), Some(mock.clone()));
        node.admin_ok("PUT", &format!("{method}/responses/200"), Some(json!({})));
        node.admin_ok(
            "PUT",
            &format!("{method}/integration/responses/200"),
            Some(json!({"responseTemplates": {"application/json": "{\"pets\": []}"}})),
        );
    }
    // Two deployments on prod: the second is current.
    let deploy = |description: &str| {
        s(&node.admin_ok(
            "POST",
            &format!("/restapis/{id}/deployments"),
            Some(json!({"stageName": "prod", "description": description})),
        )["id"])
    };
    let old = deploy("first");
    std::thread::sleep(Duration::from_millis(1100));
    let new = deploy("second");
    // A key in a usage plan, used three times today.
    let key_value = "console-key-0123456789abcdef";
    let key = node.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({"name": "console-key", "value": key_value, "enabled": true})),
    );
    let plan = node.admin_ok(
        "POST",
        "/usageplans",
        Some(json!({"name": "console-plan", "apiStages": [{"apiId": id, "stage": "prod"}]})),
    );
    let (key_id, plan_id) = (s(&key["id"]), s(&plan["id"]));
    node.admin_ok(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        Some(json!({"keyId": key_id, "keyType": "API_KEY"})),
    );
    let invoke = format!("/restapis/{id}/prod/_user_request_/pets");
    for _ in 0..3 {
        let r = node.request("GET", &invoke, &[("x-api-key", key_value)], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let today = today();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let u = node.admin_ok(
            "GET",
            &format!("/usageplans/{plan_id}/usage?startDate={today}&endDate={today}"),
            None,
        );
        if u["values"][&key_id][0][0] == json!(3) {
            break;
        }
        assert!(Instant::now() < deadline, "usage never reported: {u}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(script("flows.mjs"))
        .env("ADMIN_URL", format!("http://{}", node.admin))
        .env("DATA_URL", format!("http://{}", node.data))
        .env("ACCESS_KEY", common::ACCESS_KEY)
        .env("SECRET_KEY", common::SECRET_KEY)
        .env("REGION", "us-east-1")
        .env("API_ID", &id)
        .env("API_NAME", "console-pets")
        .env("STAGE", "prod")
        .env("OLD_DEPLOYMENT", &old)
        .env("NEW_DEPLOYMENT", &new)
        .env("USAGE_USED", "3")
        .env("API_KEY", key_value)
        .env("SHOTS", &shots)
        .env("NPM_DIR", npm_dir())
        .env("CHROMIUM", chromium())
        .output()
        .expect("node (Node.js) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "flows failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CONSOLE-FLOWS-OK "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no result line:\n{stdout}\n{stderr}"));

    // The rollback clicked in the browser reached the registry.
    let stage = node.admin_ok("GET", &format!("/restapis/{id}/stages/prod"), None);
    assert_eq!(stage["deploymentId"], json!(old), "{stage}");
    // The rate page saw the traffic the script sent.
    assert!(result["rate"].as_f64().unwrap_or(0.0) > 0.0, "{result}");
    assert!(result["invoked"].as_u64().unwrap_or(0) > 0, "{result}");
    // The only call the node refused as unsigned or badly signed was the wrong secret's.
    let forbidden: Vec<&Value> = result["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .filter(|r| r.as_str().unwrap_or_default().starts_with("403"))
        .collect();
    assert_eq!(forbidden.len(), 1, "{result}");
    // Every screenshot is a non-empty PNG.
    let taken = result["shots"].as_array().expect("shots");
    assert_eq!(taken.len(), 8, "{result}");
    for shot in taken {
        let bytes = std::fs::read(shot.as_str().unwrap_or_default()).expect("screenshot");
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{shot} is not a PNG"
        );
        assert!(bytes.len() > 2_000, "{shot} is nearly empty");
    }
}

/// `tollgate cluster local` (three nodes), stopped on drop.
struct LocalCluster(std::process::Child);

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A block of ports for `cluster local --base-port` (node i uses base + 10 i + 0..3).
fn free_base() -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    'search: for attempt in 0..50u32 {
        let base = 20000 + ((seed.wrapping_add(attempt * 7919)) % 30000) as u16;
        for p in (1..=3u16).flat_map(|i| (0..3u16).map(move |k| base + 10 * i + k)) {
            if std::net::TcpListener::bind(("127.0.0.1", p)).is_err()
                || std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()
            {
                continue 'search;
            }
        }
        return base;
    }
    panic!("no free port block");
}

#[test]
fn the_cluster_page_shows_members_leader_and_lag_on_every_node() {
    use std::io::{BufRead, BufReader};
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["cluster", "local", "--nodes", "3", "--base-port"])
        .arg(free_base().to_string())
        .arg("--dir")
        .arg(dir.path())
        .env_remove("TOLLGATE_ACCESS_KEY_ID")
        .env_remove("TOLLGATE_SECRET_ACCESS_KEY")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tollgate cluster local");
    let stdout = child.stdout.take().expect("stdout");
    let _cluster = LocalCluster(child);
    // "node N: data http://… admin http://…", then the generated credentials, printed once.
    let (mut admins, mut key) = (Vec::new(), None);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("cluster local output");
        if let Some(rest) = line.strip_prefix("node ") {
            if let Some(admin) = rest.split_whitespace().nth(4) {
                admins.push(admin.to_string());
            }
        }
        if let Some(rest) = line.strip_prefix("admin credentials: AWS_ACCESS_KEY_ID=") {
            let mut words = rest.split_whitespace();
            let id = words.next().unwrap_or_default().to_string();
            let secret = words
                .next()
                .and_then(|w| w.strip_prefix("AWS_SECRET_ACCESS_KEY="))
                .unwrap_or_default()
                .to_string();
            key = Some((id, secret));
            break;
        }
    }
    // Keep reading what the launcher prints (it stops when its output is closed).
    std::thread::spawn(move || lines.for_each(drop));
    let (access_key, secret) = key.expect("cluster local printed no credentials");
    assert_eq!(admins.len(), 3, "{admins:?}");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let out = Command::new("node")
        .arg(script("cluster.mjs"))
        .env("ADMIN_URLS", admins.join(","))
        .env("ACCESS_KEY", &access_key)
        .env("SECRET_KEY", &secret)
        .env("SHOTS", &shots)
        .env("NPM_DIR", npm_dir())
        .env("CHROMIUM", chromium())
        .output()
        .expect("node (Node.js) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cluster page:\n{stdout}\n{stderr}");
    let views: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CONSOLE-CLUSTER-OK "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no result line:\n{stdout}\n{stderr}"));
    let views = views.as_array().expect("views");
    assert_eq!(views.len(), 3);
    // Every node names the same leader, and marks it (and only it) in its member list.
    let leader = s(&views[0]["leader"]);
    let leader_id: u64 = leader
        .strip_prefix("node ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("leader {leader}"));
    let mut on_leader = 0;
    for view in views {
        assert_eq!(s(&view["leader"]), leader, "{view}");
        let rows = view["rows"].as_array().expect("rows");
        let ids: Vec<u64> = rows.iter().filter_map(|r| r["id"].as_u64()).collect();
        assert_eq!(ids, [1, 2, 3], "{view}");
        for row in rows {
            assert_eq!(
                row["leaderBadge"],
                json!(row["id"] == json!(leader_id)),
                "{view}"
            );
        }
        if s(&view["thisNode"]) == leader {
            // The leader knows each member's lag: a small number.
            on_leader += 1;
            for row in rows {
                let lag: u64 = s(&row["lag"])
                    .parse()
                    .unwrap_or_else(|_| panic!("lag on the leader: {view}"));
                assert!(lag < 1000, "{view}");
            }
        } else {
            for row in rows {
                assert_eq!(s(&row["lag"]), "known on the leader", "{view}");
            }
        }
        let shot = std::fs::read(s(&view["shot"])).expect("screenshot");
        assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 2_000);
    }
    assert_eq!(on_leader, 1, "{views:?}");
}
