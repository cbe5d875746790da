//! The bench's workload: a typical 20-line request template and a 2 kB JSON body. Shared by
//! `benches/render.rs` (criterion) and `examples/render_loop.rs` (CPU time under `perf stat`)
//! so that both measure the same thing.

pub const TEMPLATE: &str = r#"#set($body = $input.path('$'))
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
pub fn body() -> String {
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
