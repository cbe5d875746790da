//! Renders the bench's template (see `benches/render.rs`) N times (default 200,000) over its
//! 2 kB body, for a CPU-time measurement that a loaded machine does not distort:
//! `perf stat -e task-clock,instructions target/release/examples/render_loop`.

use tollgate_vtl::{Input, Template};

#[path = "../benches/support/workload.rs"]
mod workload;
use workload::{body, TEMPLATE};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let t = Template::compile(TEMPLATE).unwrap();
    let body = body();
    let input = Input {
        body: body.as_bytes(),
        path: &[("orderId", "o-123")],
        query: &[("page", "2 of 3")],
        headers: &[("Content-Type", "application/json"), ("Accept", "*/*")],
        context: &[
            ("requestId", "c0ffee-1234"),
            ("identity.sourceIp", "10.1.2.3"),
        ],
        stage_variables: &[("env", "prod")],
    };
    let mut out = String::with_capacity(4096);
    let mut total = 0usize;
    for _ in 0..n {
        out.clear();
        t.render(&input, &mut out).unwrap();
        total += out.len();
    }
    println!("{n} renders, {} bytes each", total / n as usize);
}
