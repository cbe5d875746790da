//! Tollgate's own observability hooks for order and convergence checks (used by
//! tollgate-chaos): every admin write answers with the Raft log index it committed at
//! (`x-tollgate-log-index`), and `GET /_tollgate/state` gives the node's last applied index
//! with a digest of its state at exactly that index.

mod common;

use common::{TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::{json, Value};
use tollgate_node::admin_client;
use tollgate_node::sigv4::Credentials;

fn call(n: &TestNode, method: &str, path: &str, body: Option<Value>) -> admin_client::Answer {
    let creds = Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    admin_client::call(n.admin, &creds, method, path, body.as_bytes()).expect("admin answer")
}

fn index(a: &admin_client::Answer) -> u64 {
    a.header("x-tollgate-log-index")
        .unwrap_or_else(|| panic!("no log index header on a {} answer", a.status))
        .parse()
        .unwrap()
}

#[test]
fn writes_carry_their_log_index_and_state_has_a_digest_at_an_index() {
    let node = TestNode::start(&[]);
    let s0 = call(&node, "GET", "/_tollgate/state", None);
    assert_eq!(s0.status, 200);
    let s0 = s0.json();
    let a = call(&node, "POST", "/restapis", Some(json!({ "name": "a" })));
    assert_eq!(a.status, 201);
    let b = call(&node, "POST", "/restapis", Some(json!({ "name": "b" })));
    let (ia, ib) = (index(&a), index(&b));
    assert!(ia > s0["lastApplied"].as_u64().unwrap(), "{ia} after {s0}");
    assert!(ib > ia, "later write, later index: {ia} then {ib}");
    // Reads and refused writes carry none.
    let r = call(&node, "GET", "/restapis", None);
    assert_eq!(r.header("x-tollgate-log-index"), None);
    let refused = call(&node, "DELETE", "/restapis/nonexistent", None);
    assert_eq!(refused.status, 404);

    let s1 = call(&node, "GET", "/_tollgate/state", None).json();
    assert_eq!(s1["nodeId"], 1);
    assert!(s1["lastApplied"].as_u64().unwrap() >= ib, "{s1}");
    let digest = s1["digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64, "{s1}");
    assert_ne!(digest, s0["digest"].as_str().unwrap());
    // Nothing written: the same index and digest again.
    let s2 = call(&node, "GET", "/_tollgate/state", None).json();
    assert_eq!(s1, s2);
}
