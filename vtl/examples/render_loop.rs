//! Renders the bench's template (see `benches/render.rs`) N times (default 200,000) over its
//! 2 kB body, for a CPU-time measurement that a loaded machine does not distort:
//! `perf stat -e task-clock,instructions target/release/examples/render_loop`.

use tollgate_vtl::{Input, Template};

const TEMPLATE: &str = r#"#set($body = $input.path('$'))
{
  "requestId": "$context.requestId",
  "sourceIp": "$context.identity.sourceIp",
  "orderId": "$input.params('orderId')",
  "page": "$util.urlEncode($input.params('page'))",
  "customer": {
    "name": "$util.escapeJavaScript($input.path('$.customer.name'))",
    "email": $input.json('$.customer.email'),
    "tier": "$body.customer.tier"
  },
  "itemCount": $input.path('$.items').size(),
  "items": [
#foreach($item in $input.path('$.items'))
    {"sku": "$item.sku", "qty": $item.qty, "price": $item.price}#if($foreach.hasNext),#end
#end
  ],
#if($input.path('$.note') != "")  "note": $input.json('$.note'),
#end
  "env": "$stageVariables.env"
}
"#;

/// About 2 kB: a customer, twenty items and a note.
fn body() -> String {
    let items: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:04}-ABCDEFGH","qty":{},"price":{}.99,"description":"item number {i} in the order"}}"#,
                i + 1,
                i * 3 + 1
            )
        })
        .collect();
    format!(
        r#"{{"customer":{{"name":"Ann O'Neil","email":"ann@example.com","tier":"gold","address":{{"street":"1 Main Street","city":"Springfield","zip":"12345"}}}},"items":[{}],"note":"leave at the door, please; the dog is friendly"}}"#,
        items.join(",")
    )
}

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
