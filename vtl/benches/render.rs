//! Rendering a typical 20-line request template over a 2 kB JSON body (parsed once per
//! render, as each request's body is), with the request's parameters and context. Also the
//! same template against a body-free input (parameters and context only) and the compile.
//!
//! Run: `cargo bench -p tollgate-vtl --bench render`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate_vtl::{Input, Template};

#[path = "support/workload.rs"]
mod workload;
use workload::{body, TEMPLATE};

fn bench(c: &mut Criterion) {
    let t = Template::compile(TEMPLATE).unwrap();
    let body = body();
    assert!(
        (1900..2300).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    let path = [("orderId", "o-123")];
    let query = [("page", "2 of 3")];
    let headers = [("Content-Type", "application/json"), ("Accept", "*/*")];
    let context = [
        ("requestId", "c0ffee-1234"),
        ("identity.sourceIp", "10.1.2.3"),
    ];
    let stage_variables = [("env", "prod")];
    let input = Input {
        body: body.as_bytes(),
        path: &path,
        query: &query,
        headers: &headers,
        context: &context,
        stage_variables: &stage_variables,
    };
    let mut out = String::with_capacity(4096);
    t.render(&input, &mut out).unwrap();
    assert!(out.contains("\"qty\": 12"), "{out}");
    c.bench_function("render 20-line template, 2 kB JSON body", |b| {
        b.iter(|| {
            out.clear();
            t.render(black_box(&input), &mut out).unwrap();
            black_box(out.len())
        })
    });
    // The share of the body's parse: one lookup in the same body.
    let one = Template::compile("$input.path('$.note')").unwrap();
    c.bench_function("parse 2 kB body + one $input.path", |b| {
        b.iter(|| {
            out.clear();
            one.render(black_box(&input), &mut out).unwrap();
            black_box(out.len())
        })
    });
    // A yardstick for the machine: serde_json parsing the same body into a serde_json::Value.
    c.bench_function("yardstick: serde_json::Value from the 2 kB body", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&body)).unwrap())
    });
    c.bench_function("compile 20-line template", |b| {
        b.iter(|| Template::compile(black_box(TEMPLATE)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
