//! Request validation: a 1 kB JSON body against a 20-property draft-4 model, compiled once
//! (as a stage's table compiles it), checked per request as the data plane does.
//!
//! Run: `cargo bench -p tollgate-node --bench validate`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use tollgate_node::dataplane::validate::{check, compile, RequestView};
use tollgate_proto::model::{Method, Model, RequestValidator};

/// 20 properties: strings, integers, a bounded number, an enum, an array of strings.
fn schema() -> String {
    let mut props = Vec::new();
    for i in 0..20 {
        let p = match i % 5 {
            0 => r#"{"type":"string","minLength":1,"maxLength":64}"#.to_string(),
            1 => r#"{"type":"integer","minimum":0}"#.to_string(),
            2 => r#"{"type":"number","minimum":0,"maximum":1000000}"#.to_string(),
            3 => r#"{"type":"string","enum":["red","green","blue","black"]}"#.to_string(),
            _ => r#"{"type":"array","items":{"type":"string"},"maxItems":8}"#.to_string(),
        };
        props.push(format!("\"field{i:02}\":{p}"));
    }
    let required: Vec<String> = (0..20).map(|i| format!("\"field{i:02}\"")).collect();
    format!(
        r#"{{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","additionalProperties":false,"required":[{}],"properties":{{{}}}}}"#,
        required.join(","),
        props.join(",")
    )
}

/// A body that satisfies the schema, padded to about 1 kB.
fn body() -> Vec<u8> {
    let mut fields = Vec::new();
    for i in 0..20 {
        let v = match i % 5 {
            0 => "\"a fairly ordinary string value of some length here\"".to_string(),
            1 => "123456".to_string(),
            2 => "4242.5".to_string(),
            3 => "\"green\"".to_string(),
            _ => r#"["alpha","bravo","charlie"]"#.to_string(),
        };
        fields.push(format!("\"field{i:02}\":{v}"));
    }
    format!("{{{}}}", fields.join(",")).into_bytes()
}

fn bench(c: &mut Criterion) {
    let models = BTreeMap::from([(
        "Big".to_string(),
        Model {
            id: "m1".into(),
            name: "Big".into(),
            schema: Some(schema()),
            content_type: "application/json".into(),
            ..Default::default()
        },
    )]);
    let method = Method {
        http_method: "POST".into(),
        request_models: BTreeMap::from([("application/json".into(), "Big".into())]),
        ..Default::default()
    };
    let validator = RequestValidator {
        id: "v".into(),
        name: "body".into(),
        validate_request_body: true,
        validate_request_parameters: true,
    };
    let compiled = compile("a1", &method, &validator, &models, &mut BTreeMap::new())
        .expect("the schema compiles");
    let body = body();
    assert!((900..=1200).contains(&body.len()), "{} bytes", body.len());
    let headers = |n: &[u8]| {
        n.eq_ignore_ascii_case(b"content-type")
            .then_some(&b"application/json"[..])
    };
    let path = |_: &str| None;
    let view = RequestView {
        query: "",
        headers: &headers,
        path_param: &path,
        body: &body,
    };
    assert!(check(&compiled, &view).is_ok());
    c.bench_function("validate 1 kB body, 20-property model", |b| {
        b.iter(|| check(black_box(&compiled), black_box(&view)).is_ok())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
