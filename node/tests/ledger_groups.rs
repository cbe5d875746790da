//! The usage ledger split over three Raft groups (`cluster.ledger_groups = 3`) on a cluster of
//! three `tollgate` processes: a quota holds for the cluster as a whole for keys whose usage
//! lives in each of the groups.

mod common;

use common::{admin_call, cluster, TestNode, SECRET_KEY};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use tollgate_consensus::raft::ledger::group_of;

const GROUPS: u32 = 3;

/// Three nodes with each other as initial members and `ledger_groups = GROUPS`.
fn start_cluster(root: &Path) -> Vec<TestNode> {
    configure(root, [GROUPS; 3])
        .into_iter()
        .map(|n| n.spawn(&[]))
        .collect()
}

/// Three nodes' folders and config files, node `i + 1` with `ledger_groups = groups[i]`.
fn configure(root: &Path, groups: [u32; 3]) -> Vec<cluster::NodeFiles> {
    cluster::configure(root, |id| cluster::Extra {
        cluster: format!("ledger_groups = {}", groups[id as usize - 1]),
        ..Default::default()
    })
}

fn wait_leader(nodes: &[TestNode]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leaders: Vec<Option<u64>> = nodes
            .iter()
            .map(|n| {
                let (code, v): (u16, Value) =
                    admin_call(n.admin, "GET", "/_tollgate/cluster", None, SECRET_KEY);
                assert_eq!(code, 200, "{v}");
                v["leader"].as_u64()
            })
            .collect();
        if leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]) {
            return;
        }
        assert!(Instant::now() < deadline, "no common leader: {leaders:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A quota of 8 a day on a plan with two keys in each ledger group, spent round the three
/// nodes: each key is admitted exactly 8 times in all (its usage counted once, in its own
/// ledger group, and read back from there on every node), then refused on every node.
#[test]
fn a_quota_holds_cluster_wide_for_keys_of_every_ledger_group() {
    let root = tempfile::tempdir().unwrap();
    let nodes = start_cluster(root.path());
    wait_leader(&nodes);
    let via = &nodes[1];
    let api = via.admin_sdk_ok("POST", "/restapis", Some(json!({ "name": "quota" })));
    let id = api["id"].as_str().unwrap().to_string();
    let root_res = api["rootResourceId"].as_str().unwrap().to_string();
    let m = format!("/restapis/{id}/resources/{root_res}/methods/GET");
    via.admin_sdk_ok(
        "PUT",
        &m,
        Some(json!({ "authorizationType": "NONE", "apiKeyRequired": true })),
    );
    via.admin_sdk_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "MOCK" })),
    );
    via.admin_sdk_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{}" } })),
    );
    via.admin_sdk_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "prod" })),
    );
    let plan = via.admin_sdk_ok(
        "POST",
        "/usageplans",
        Some(json!({
            "name": "p",
            "apiStages": [ { "apiId": id, "stage": "prod" } ],
            "quota": { "limit": 8, "period": "DAY" },
        })),
    );
    let pid = plan["id"].as_str().unwrap().to_string();
    // Keys until every ledger group holds two.
    let mut keys: Vec<(String, u32, String)> = Vec::new();
    let mut per_group = [0; GROUPS as usize];
    for i in 0..200 {
        if per_group.iter().all(|&n| n >= 2) {
            break;
        }
        let value = format!("ledger-key-{i:04}-0123456789abcdef");
        let key = via.admin_sdk_ok(
            "POST",
            "/apikeys",
            Some(json!({ "name": format!("k{i}"), "value": value, "enabled": true })),
        );
        let kid = key["id"].as_str().unwrap();
        let g = group_of(&format!("{pid}:{kid}"), GROUPS);
        if per_group[g as usize] >= 2 {
            continue;
        }
        per_group[g as usize] += 1;
        via.admin_sdk_ok(
            "POST",
            &format!("/usageplans/{pid}/keys"),
            Some(json!({ "keyId": kid, "keyType": "API_KEY" })),
        );
        keys.push((value, g, kid.to_string()));
    }
    assert_eq!(
        keys.iter()
            .map(|(_, g, _)| *g)
            .collect::<BTreeSet<u32>>()
            .len(),
        GROUPS as usize
    );
    let path = format!("/restapis/{id}/prod/_user_request_/");
    let call = |n: &TestNode, key: &str| n.request("GET", &path, &[("x-api-key", key)], b"").status;
    let deadline = Instant::now() + Duration::from_secs(10);
    // The first key of each group warms every node up (one request each, counted).
    for (key, _, _) in &keys {
        for n in &nodes {
            while call(n, key) != 200 {
                assert!(Instant::now() < deadline, "key never accepted");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Each key has 3 of 8 spent. Round the nodes, one request per key per round, until each
    // key is refused everywhere. The cluster admits the 5 left of each key, and at most one
    // more per node (docs/LIMITS.md, "Overshoot bound": each node's part of what is left is
    // rounded up to a whole request, and a node's share can trail another's report by an
    // apply). Every admission is counted, so the ledger must then hold exactly what was served.
    let mut admitted = vec![3u32; keys.len()];
    let mut refused_by = vec![[false; 3]; keys.len()];
    for round in 0..60 {
        if refused_by.iter().all(|r| r.iter().all(|&x| x)) {
            break;
        }
        for (i, (key, _, _)) in keys.iter().enumerate() {
            let n = (round + i) % 3;
            match call(&nodes[n], key) {
                200 => {
                    admitted[i] += 1;
                    // A node that admitted again has not stopped yet: ask it again later.
                    refused_by[i][n] = false;
                }
                429 => refused_by[i][n] = admitted[i] >= 8,
                other => panic!("key {i} on node {n}: status {other}"),
            }
        }
        std::thread::sleep(Duration::from_millis(if round < 12 { 400 } else { 50 }));
    }
    for (i, (_, g, _)) in keys.iter().enumerate() {
        assert!(
            refused_by[i].iter().all(|&x| x),
            "group {g} key {i}: still admitted somewhere after {} admissions",
            admitted[i]
        );
        assert!(
            (8..=8 + 3).contains(&admitted[i]),
            "group {g} key {i}: admitted {} (quota 8, at most one over per node)",
            admitted[i]
        );
    }
    // GetUsage reads each key's usage from its own group: exactly what was served, none left,
    // on every node (the configuration group alone holds only group 0's keys' usage).
    let day = today();
    for (i, (_, g, kid)) in keys.iter().enumerate() {
        for n in &nodes {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let u = n.admin_sdk_ok(
                    "GET",
                    &format!("/usageplans/{pid}/usage?keyId={kid}&startDate={day}&endDate={day}"),
                    None,
                );
                if u["values"][kid.as_str()] == json!([[admitted[i], 0]]) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "group {g} key {kid}: {u}, served {}",
                    admitted[i]
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // With the whole usage applied everywhere, no node admits any of the keys.
    for (key, g, _) in &keys {
        for n in &nodes {
            assert_eq!(
                call(n, key),
                429,
                "group {g} key admitted by {} when spent",
                n.data
            );
        }
    }
    // UpdateUsage of a key held by another group: what is left is what was asked for (its
    // usage counted in its own group), and the key is admitted again.
    let (i, (value, g, kid)) = keys
        .iter()
        .enumerate()
        .find(|(_, (_, g, _))| *g != 0)
        .expect("a key outside group 0");
    let answer = via.admin_sdk_ok(
        "PATCH",
        &format!("/usageplans/{pid}/keys/{kid}/usage"),
        Some(
            json!({ "patchOperations": [{ "op": "replace", "path": "/remaining", "value": "2" }] }),
        ),
    );
    assert_eq!(
        answer["values"][kid.as_str()],
        json!([[admitted[i], 2]]),
        "group {g}: {answer}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(&nodes[0], value) != 200 {
        assert!(
            Instant::now() < deadline,
            "group {g} key not admitted after UpdateUsage"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// A node configured with another ledger group count than the running members of its
/// cluster refuses to start, naming both counts; the cluster goes on serving.
#[test]
fn a_node_with_another_ledger_group_count_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut prepared = configure(root.path(), [GROUPS, GROUPS, 2]);
    let third = prepared.pop().unwrap();
    let (dir3, config3) = (third.dir, third.config);
    let nodes: Vec<TestNode> = prepared.into_iter().map(|n| n.spawn(&[])).collect();
    wait_leader(&nodes);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", config3.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a node with ledger_groups = 2 started in a cluster running 3");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("cluster.ledger_groups is 2 on this node, but node 1")
            || stderr.contains("cluster.ledger_groups is 2 on this node, but node 2"),
        "{stderr}"
    );
    assert!(stderr.contains("ledger_groups = 3"), "{stderr}");
    drop(dir3);
    // The two nodes still agree on a leader and serve the admin API.
    wait_leader(&nodes);
    // Their cluster view lists each ledger group's own view (what an operator waits on after
    // a membership change): groups 1 and 2, each with the three initial members.
    let (code, v) = admin_call(
        nodes[0].admin,
        "GET",
        "/_tollgate/cluster",
        None,
        SECRET_KEY,
    );
    assert_eq!(code, 200, "{v}");
    let groups = v["ledger_groups"].as_array().expect("ledger_groups");
    assert_eq!(groups.len(), GROUPS as usize - 1, "{v}");
    for (i, g) in groups.iter().enumerate() {
        assert_eq!(g["group"].as_u64(), Some(i as u64 + 1), "{g}");
        assert_eq!(g["members"].as_array().map(Vec::len), Some(3), "{g}");
        assert!(g["term"].is_u64(), "{g}");
    }
}
