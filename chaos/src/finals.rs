//! After healing: waits for the usage ledger and the nodes' applied indexes to settle, then
//! reads every node's state — applied index and digest, the keys and deployments the
//! workload created, the register stage's variables, GetUsage of the usage keys — each node
//! read locally, at one applied index (re-read if it moved meanwhile).

use crate::history::NodeFinal;
use crate::nodes::Access;
use crate::workload::{Fixture, KEY_PREFIX};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// GetUsage of plan `plan` as node `id` answers it (with `query` added), over
/// yesterday..tomorrow (UTC).
fn get_usage(access: &Access, id: u64, plan: &str, query: &str) -> Result<Value, String> {
    let today = tollgate_node::ids::now_epoch().div_euclid(86_400);
    let date = |d: i64| {
        let (y, m, dd) = tollgate_proto::model::civil_from_days(d);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    let path = format!(
        "/usageplans/{plan}/usage?startDate={}&endDate={}&{query}",
        date(today - 1),
        date(today + 1),
    );
    let a = access
        .call(id, "GET", &path, None, T)
        .map_err(|e| e.to_string())?;
    if a.status != 200 {
        return Err(format!("GetUsage of plan {plan} answered {}", a.status));
    }
    Ok(a.json())
}

/// Key `key`'s requests in a GetUsage answer, summed over its days.
fn key_total(usage: &Value, key: &str) -> Result<u64, String> {
    let days = usage["values"][key]
        .as_array()
        .ok_or_else(|| format!("no usage of {key} in {usage}"))?;
    Ok(days
        .iter()
        .filter_map(|d| d.get(0).and_then(Value::as_u64))
        .sum())
}

/// GetUsage of every usage key as node `id` answers it (key's node → requests), summed over
/// yesterday..tomorrow (UTC).
pub fn usage(access: &Access, f: &Fixture, id: u64) -> Result<BTreeMap<u64, u64>, String> {
    let v = get_usage(access, id, &f.plan_id, "limit=500")?;
    f.keys
        .iter()
        .map(|k| Ok((k.node, key_total(&v, &k.id)?)))
        .collect()
}

/// GetUsage of the quota key in its plan as node `id` answers it, summed over days.
pub fn quota_usage(access: &Access, f: &Fixture, id: u64) -> Result<Option<u64>, String> {
    let Some(q) = &f.quota else { return Ok(None) };
    let v = get_usage(access, id, &q.plan_id, &format!("keyId={}", q.id))?;
    key_total(&v, &q.id).map(Some)
}

/// Every page of a collection (`{"item": [...], "position": ...}`): the `id`s of its items,
/// and how many items have each value of their `field` (a write's token).
fn all_ids(
    access: &Access,
    id: u64,
    path: &str,
    field: &str,
) -> Result<(BTreeSet<String>, BTreeMap<String, u32>), String> {
    let mut out = BTreeSet::new();
    let mut tokens: BTreeMap<String, u32> = BTreeMap::new();
    let mut position: Option<String> = None;
    for _ in 0..10_000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut p = format!("{path}{sep}limit=500");
        if let Some(pos) = &position {
            p.push_str(&format!("&position={pos}"));
        }
        let a = access
            .call(id, "GET", &p, None, T)
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!(
                "GET {p} answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ));
        }
        let v = a.json();
        for item in v["item"].as_array().into_iter().flatten() {
            if let Some(i) = item["id"].as_str() {
                out.insert(i.to_string());
            }
            if let Some(t) = item[field].as_str() {
                *tokens.entry(t.to_string()).or_insert(0) += 1;
            }
        }
        match v["position"].as_str() {
            Some(p) if !p.is_empty() => position = Some(p.to_string()),
            _ => return Ok((out, tokens)),
        }
    }
    Err(format!("{path}: too many pages"))
}

fn read_node(access: &Access, f: &Fixture, id: u64) -> Result<NodeFinal, String> {
    for _ in 0..5 {
        let before = access.state(id, T)?;
        let (key_ids, key_names) =
            all_ids(access, id, &format!("/apikeys?name={KEY_PREFIX}"), "name")?;
        let (deployment_ids, deployment_descriptions) = all_ids(
            access,
            id,
            &format!("/restapis/{}/deployments", f.api_id),
            "description",
        )?;
        let stage = access
            .call(
                id,
                "GET",
                &format!("/restapis/{}/stages/{}", f.api_id, f.register_stage),
                None,
                T,
            )
            .map_err(|e| e.to_string())?;
        if stage.status != 200 {
            return Err(format!("GetStage answered {}", stage.status));
        }
        let stage_variables: BTreeMap<String, String> = stage.json()["variables"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let usage = usage(access, f, id)?;
        let quota_usage = quota_usage(access, f, id)?;
        let after = access.state(id, T)?;
        if after == before {
            return Ok(NodeFinal {
                node: id,
                last_applied: after.last_applied,
                digest: after.digest,
                key_ids,
                deployment_ids,
                stage_variables,
                key_names,
                deployment_descriptions,
                usage,
                quota_usage,
                error: None,
            });
        }
    }
    Err("its applied index kept moving while it was read".into())
}

/// Waits (up to `within`) until GetUsage (as the first of `ids`, the members, answers it)
/// stops changing — and not before `not_before`, when
/// no usage report can still be stuck behind a proposal that timed out — and every node has
/// applied the same index, then reads every node. A node that cannot be read gets a final with
/// `error` set.
pub fn collect(
    access: &Access,
    f: &Fixture,
    ids: &[u64],
    not_before: Instant,
    within: Duration,
) -> Vec<NodeFinal> {
    let deadline = Instant::now().max(not_before) + within;
    if ids.is_empty() {
        return Vec::new();
    }
    // The ledger: the last reports arrive within ~350 ms, a report stuck behind a proposal
    // into a partition or to a dead leader within the reporter's 1 s attempt timeout (hence
    // `not_before`). Unchanged for 3 s after that counts as settled.
    let mut last = None;
    let mut stable_since = Instant::now();
    while Instant::now() < deadline {
        let u = usage(access, f, ids[0]).ok();
        if u != last {
            last = u;
            stable_since = Instant::now();
        } else if u.is_some()
            && stable_since.elapsed() >= Duration::from_secs(3)
            && Instant::now() >= not_before
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Same applied index everywhere, twice in a row.
    let mut prev: Option<Vec<u64>> = None;
    while Instant::now() < deadline {
        let idx: Vec<u64> = ids
            .iter()
            .map(|id| access.state(*id, T).map_or(0, |s| s.last_applied))
            .collect();
        let equal = idx.iter().all(|i| *i == idx[0] && *i > 0);
        if equal && prev.as_ref() == Some(&idx) {
            break;
        }
        prev = Some(idx);
        std::thread::sleep(Duration::from_millis(300));
    }
    ids.iter()
        .map(|id| {
            read_node(access, f, *id).unwrap_or_else(|e| NodeFinal {
                node: *id,
                error: Some(e),
                ..Default::default()
            })
        })
        .collect()
}
