//! Generated SDKs end to end: a PetStore (HTTP_PROXY and MOCK methods, one keyed, one
//! AWS_IAM) imported and deployed with the stock `aws` CLI, `aws apigateway get-sdk` for
//! javascript and typescript, the zip unpacked, and every method called from Node.js against
//! the live node (a wrong key, a wrong secret and an unsigned call refused); the TypeScript
//! declarations type-check a correct use and reject wrong ones with `tsc --strict`; the
//! stage exported as a Postman collection.

mod common;

use common::{aws_iam, Aws, EchoBackend, TestNode};
use serde_json::{json, Value};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Unpacks `zip` into `dir`; returns the archive's file names.
fn unzip(zip: &Path, dir: &Path) -> Vec<String> {
    let bytes = std::fs::read(zip).expect("the SDK zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.enclosed_name().expect("a safe path");
        let mut text = Vec::new();
        f.read_to_end(&mut text).unwrap();
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        names.push(name.to_string_lossy().into_owned());
    }
    names.sort();
    names
}

/// `tsc` (npm `typescript`, installed by `.ci/run` into `target/npm`).
fn tsc() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/npm/node_modules/.bin/tsc");
    assert!(
        local.exists(),
        "tsc is not installed: run `npm install --prefix target/npm typescript@5.6.3` (as .ci/run does)"
    );
    local
}

fn get_sdk(aws: &Aws, api: &str, sdk_type: &str, out: &Path) -> Value {
    aws.ok(&[
        "get-sdk",
        "--rest-api-id",
        api,
        "--stage-name",
        "prod",
        "--sdk-type",
        sdk_type,
        out.to_str().unwrap(),
    ])
}

#[test]
fn generated_sdks_call_every_method_from_node() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let dir = tempfile::tempdir().unwrap();

    let out = aws.ok(&[
        "import-rest-api",
        "--body",
        &format!("fileb://{}", data("openapi/sdk-petstore.yaml")),
    ]);
    assert!(out.get("warnings").is_none(), "{out}");
    let api = out["id"].as_str().unwrap().to_string();
    let variables = format!("backend={}", backend.addr);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
        "--variables",
        &variables,
    ]);
    // An API key in a usage plan of the stage.
    let key = aws.ok(&["create-api-key", "--name", "sdk", "--enabled"]);
    let plan = aws.ok(&[
        "create-usage-plan",
        "--name",
        "sdk",
        "--api-stages",
        &format!("apiId={api},stage=prod"),
    ]);
    aws.ok(&[
        "create-usage-plan-key",
        "--usage-plan-id",
        plan["id"].as_str().unwrap(),
        "--key-id",
        key["id"].as_str().unwrap(),
        "--key-type",
        "API_KEY",
    ]);
    let key_value = key["value"].as_str().unwrap().to_string();
    // An IAM user allowed to invoke the API.
    aws_iam(&n, &["create-user", "--user-name", "sdk"]).unwrap();
    let access = aws_iam(&n, &["create-access-key", "--user-name", "sdk"]).unwrap();
    let (iam_key, iam_secret) = (
        access["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_string(),
        access["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "execute-api:Invoke", "Resource": format!("arn:aws:execute-api:*:*:{api}/*")}]});
    aws_iam(
        &n,
        &[
            "put-user-policy",
            "--user-name",
            "sdk",
            "--policy-name",
            "invoke",
            "--policy-document",
            &policy.to_string(),
        ],
    )
    .unwrap();

    // The SDK types.
    let types = aws.ok(&["get-sdk-types"]);
    let ids: Vec<&str> = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["javascript", "typescript"]);
    let js_type = aws.ok(&["get-sdk-type", "--id", "javascript"]);
    assert_eq!(js_type["friendlyName"], "JavaScript");
    assert_eq!(js_type["configurationProperties"], json!([]));
    aws.fails("BadRequestException", &["get-sdk-type", "--id", "android"]);
    for refused in ["java", "android", "objectivec", "swift", "ruby"] {
        let out = aws.run(
            common::SECRET_KEY,
            &[
                "get-sdk",
                "--rest-api-id",
                &api,
                "--stage-name",
                "prod",
                "--sdk-type",
                refused,
                dir.path().join("x.zip").to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("BadRequestException") && err.contains("not supported"),
            "{refused}: {err}"
        );
    }
    aws.fails(
        "NotFoundException",
        &[
            "get-sdk",
            "--rest-api-id",
            &api,
            "--stage-name",
            "nope",
            "--sdk-type",
            "javascript",
            dir.path().join("x.zip").to_str().unwrap(),
        ],
    );

    // JavaScript: generated, unpacked, every method called from Node.js.
    let js_zip = dir.path().join("js.zip");
    let meta = get_sdk(&aws, &api, "javascript", &js_zip);
    assert_eq!(meta["contentType"], "application/octet-stream");
    let disposition = meta["contentDisposition"].as_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"javascript_")
            && disposition.ends_with("Z.zip\""),
        "{disposition}"
    );
    let js_dir = dir.path().join("js");
    assert_eq!(
        unzip(&js_zip, &js_dir),
        [
            "apiGateway-js-sdk/README.md",
            "apiGateway-js-sdk/apigClient.js",
            "apiGateway-js-sdk/package.json"
        ]
    );
    let run = Command::new("node")
        .arg(data("sdk/call_every_method.mjs"))
        .env("SDK_DIR", js_dir.join("apiGateway-js-sdk"))
        .env("API_KEY", &key_value)
        .env("IAM_KEY", &iam_key)
        .env("IAM_SECRET", &iam_secret)
        .output()
        .expect("node runs");
    assert!(
        run.status.success(),
        "node: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: Value = serde_json::from_slice(&run.stdout).expect("the script's JSON");
    eprintln!("{r:#}");
    assert_eq!(
        r["endpoint"],
        format!("http://{}/restapis/{api}/prod/_user_request_", n.data)
    );
    assert_eq!(
        r["methods"],
        json!([
            "petsGet",
            "petsPetIdDelete",
            "petsPetIdGet",
            "petsPost",
            "rootGet",
            "storeProxyAny"
        ])
    );
    let c = &r["calls"];
    assert_eq!(
        c["rootGet"],
        json!({"status": 200, "data": {"hello": "world"}})
    );
    // Query and header parameters reach the backend.
    assert_eq!(c["petsGet"]["status"], 200, "{}", c["petsGet"]);
    assert_eq!(c["petsGet"]["data"]["path"], "/pets?type=dog");
    assert_eq!(c["petsGet"]["data"]["headers"]["x-trace"], "t-1");
    // The keyed method: the body sent as JSON with the key.
    assert_eq!(c["petsPost"]["status"], 200, "{}", c["petsPost"]);
    assert_eq!(c["petsPost"]["data"]["method"], "POST");
    assert_eq!(
        serde_json::from_str::<Value>(c["petsPost"]["data"]["body"].as_str().unwrap()).unwrap(),
        json!({"type": "cat", "price": 30})
    );
    assert_eq!(
        c["petsPost"]["data"]["headers"]["content-type"],
        "application/json"
    );
    // The signed method: a path parameter that needs encoding, a required query parameter.
    assert_eq!(c["petsPetIdGet"]["status"], 200, "{}", c["petsPetIdGet"]);
    assert_eq!(c["petsPetIdGet"]["data"]["path"], "/pets/a%20b?verbose=yes");
    assert_eq!(
        c["petsPetIdDelete"],
        json!({"status": 200, "data": {"deleted": "42"}})
    );
    // ANY with the verb chosen per call and a text body; the greedy path kept whole.
    assert_eq!(c["storeProxyAny"]["status"], 200, "{}", c["storeProxyAny"]);
    assert_eq!(c["storeProxyAny"]["data"]["method"], "PUT");
    assert_eq!(c["storeProxyAny"]["data"]["path"], "/store/orders/7");
    assert_eq!(c["storeProxyAny"]["data"]["body"], "order-body");
    // Refused: wrong key, wrong secret, unsigned; a missing parameter caught before sending.
    assert_eq!(c["wrongKey"]["status"], 403, "{}", c["wrongKey"]);
    assert_eq!(c["wrongSecret"]["status"], 403, "{}", c["wrongSecret"]);
    assert_eq!(c["wrongSecret"]["errorType"], "InvalidSignatureException");
    assert_eq!(c["unsigned"]["status"], 403, "{}", c["unsigned"]);
    assert_eq!(
        c["unsigned"]["errorType"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(
        c["missingParam"]["thrown"],
        "TypeError: petsPetIdGet: parameter verbose is required"
    );

    // The same stage as a Postman collection (GetExport extensions=postman).
    let postman = dir.path().join("postman.json");
    aws.ok(&[
        "get-export",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
        "--export-type",
        "oas30",
        "--parameters",
        "extensions=postman",
        postman.to_str().unwrap(),
    ]);
    let collection: Value =
        serde_json::from_slice(&std::fs::read(&postman).unwrap()).expect("a JSON collection");
    assert_eq!(
        collection["info"]["schema"],
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
    assert_eq!(collection["variable"][0]["value"], r["endpoint"]);
    let requests: Vec<String> = collection["item"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["item"].as_array().unwrap().iter())
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        requests,
        [
            "GET /",
            "GET /pets",
            "POST /pets",
            "DELETE /pets/{petId}",
            "GET /pets/{petId}",
            "ANY /store/{proxy+}"
        ]
    );

    // TypeScript: the declarations accept a correct use (compiled and run against the
    // node) and reject wrong ones.
    let ts_zip = dir.path().join("ts.zip");
    get_sdk(&aws, &api, "typescript", &ts_zip);
    let ts_dir = dir.path().join("ts");
    let names = unzip(&ts_zip, &ts_dir);
    assert!(
        names.contains(&"apiGateway-ts-sdk/apigClient.d.ts".to_string()),
        "{names:?}"
    );
    let work = dir.path().join("tscheck");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::rename(ts_dir.join("apiGateway-ts-sdk"), work.join("sdk")).unwrap();
    for f in ["typed_ok.mts", "typed_bad.mts"] {
        std::fs::copy(data(&format!("sdk/{f}")), work.join(f)).unwrap();
    }
    let tsc = tsc();
    let compile = |file: &str, emit: bool| {
        let mut cmd = Command::new(&tsc);
        cmd.current_dir(&work).args([
            "--strict",
            "--target",
            "es2022",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--skipLibCheck",
        ]);
        if !emit {
            cmd.arg("--noEmit");
        }
        cmd.arg(file).output().expect("tsc runs")
    };
    let ok = compile("typed_ok.mts", true);
    assert!(
        ok.status.success(),
        "tsc typed_ok.mts: {}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = compile("typed_bad.mts", false);
    let errors = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{errors}");
    for code in ["TS2322", "TS2345", "TS2339"] {
        assert!(errors.contains(code), "{code} in {errors}");
    }
    let run = Command::new("node")
        .arg(work.join("typed_ok.mjs"))
        .env("API_KEY", &key_value)
        .output()
        .expect("node runs");
    assert!(
        run.status.success(),
        "node typed_ok.mjs: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: Value = serde_json::from_slice(&run.stdout).expect("the script's JSON");
    assert_eq!(r["created"], 200, "{r}");
    assert_eq!(
        serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap(),
        json!({"type": "fish", "price": 40})
    );
    assert_eq!(r["method"], "GET");
    assert_eq!(r["refused"], 403);
}
