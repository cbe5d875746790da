//! Where the bytes of a deployed stage go (issue 14): a counting allocator measures, for APIs
//! of 20 MOCK resources each deployed to two stages (as `tollgate-bench scale` makes them), the
//! registry's copy (working tree and deployments), the commands that made them (what the Raft
//! log holds until a snapshot), the compiled routes and the metric series they number, and a
//! snapshot of it all. Byte counts, not timings: deterministic on any machine. The budgets are
//! what the structures cost today with some slack, so that a change that brings back a copy
//! per stage fails here; `cargo test -p tollgate-node --test stage_memory -- --nocapture`
//! prints the breakdown.

use std::collections::BTreeMap;
use tollgate_node::dataplane::cluster_limits::ClusterLimits;
use tollgate_node::dataplane::routing::{compile_all, compile_changed};
use tollgate_proto::model::{
    Integration, IntegrationResponse, IntegrationType, Method, MethodResponse, Resource, RestApi,
    RestApiSettings, Stage,
};
use tollgate_proto::{Command, Registry};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

const APIS: usize = 100;
const RESOURCES: usize = 20;
const STAGES: usize = 2;

/// A MOCK GET as the OpenAPI import makes one from `tollgate-bench scale`'s document.
fn mock_get() -> Method {
    let responses = [("201", Some("201")), ("200", None)]
        .into_iter()
        .map(|(status, pattern)| {
            (
                status.to_string(),
                Box::new(IntegrationResponse {
                    status_code: status.into(),
                    selection_pattern: pattern.map(Into::into),
                    ..Default::default()
                }),
            )
        })
        .collect();
    Method {
        http_method: "GET".into(),
        method_responses: ["200", "201"]
            .into_iter()
            .map(|s| {
                (
                    s.to_string(),
                    Box::new(MethodResponse {
                        status_code: s.into(),
                        ..Default::default()
                    }),
                )
            })
            .collect(),
        integration: Some(Integration {
            kind: IntegrationType::Mock,
            request_templates: [(
                "application/json".to_string(),
                "{\"statusCode\": 200}".to_string(),
            )]
            .into(),
            passthrough_behavior: Some("WHEN_NO_MATCH".into()),
            timeout_in_millis: 29_000,
            integration_responses: responses,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// API `n`: a root and `RESOURCES` children `/r{i}`, each with a MOCK GET.
fn api(n: usize) -> RestApi {
    let id = format!("api{n:07}");
    let root = format!("root{n:06}");
    let mut resources = BTreeMap::new();
    resources.insert(
        root.clone(),
        Resource {
            id: root.clone(),
            parent_id: None,
            path_part: String::new(),
            methods: BTreeMap::new(),
        },
    );
    for i in 0..RESOURCES {
        let rid = format!("r{n:05}{i:04}");
        resources.insert(
            rid.clone(),
            Resource {
                id: rid,
                parent_id: Some(root.clone()),
                path_part: format!("r{i}"),
                methods: [("GET".to_string(), Box::new(mock_get()))].into(),
            },
        );
    }
    RestApi {
        id,
        settings: RestApiSettings {
            name: format!("scale-{n}"),
            ..Default::default()
        },
        created_date: 1_700_000_000,
        root_resource_id: root,
        resources: resources.into(),
        ..Default::default()
    }
}

fn deploy(n: usize, stage: &str) -> Command {
    Command::CreateDeployment {
        api_id: format!("api{n:07}"),
        deployment_id: format!("d{n:06}{stage}"),
        description: None,
        created_date: 1_700_000_001,
        stage: Some(Stage {
            stage_name: stage.into(),
            ..Default::default()
        }),
    }
}

struct Breakdown {
    /// The registry after the APIs were defined (working trees).
    working: isize,
    /// What the two deployments added to the registry.
    deployments: isize,
    /// The commands (DefineRestApi and two CreateDeployments per API).
    commands: isize,
    /// The compiled table of every stage, metric series included.
    routes: isize,
    /// Each compile after the first (the series exist): the table alone.
    routes_again: isize,
    /// A snapshot's encoded bytes.
    snapshot: isize,
}

fn measure() -> Breakdown {
    let mut reg = Registry::default();
    let before = live();
    let mut commands = 0;
    for n in 0..APIS {
        let c0 = live();
        let cmd = Command::DefineRestApi {
            api: api(n),
            create: true,
        };
        commands += live() - c0;
        reg.apply(&cmd).expect("define");
    }
    let working = live() - before;
    let d0 = live();
    let mut deploys = Vec::new();
    let mut deploy_cmds = 0;
    for n in 0..APIS {
        for stage in ["a", "b"] {
            let c0 = live();
            let cmd = deploy(n, stage);
            deploy_cmds += live() - c0;
            reg.apply(&cmd).expect("deploy");
            deploys.push(cmd);
        }
    }
    let deployments = live() - d0 - deploy_cmds;
    commands += deploy_cmds;
    drop(deploys);
    let limits = ClusterLimits::new(1);
    let r0 = live();
    let table = compile_all(&reg, &limits);
    let routes = live() - r0;
    assert_eq!(table.apis.len(), APIS);
    let r1 = live();
    let again = compile_all(&reg, &limits);
    let routes_again = live() - r1;
    drop(again);
    // One API recompiled shares every other one with the table it replaces.
    let r2 = live();
    let one = compile_changed(&table, &reg, ["api0000003"], false, &limits);
    let changed = live() - r2;
    assert!(
        changed < routes_again / APIS as isize * 4,
        "recompiling one API cost {changed} B of {routes_again} B for all"
    );
    let t = &tollgate_node::dataplane::api_table::ApiTable::shares_shard;
    let others = (0..APIS)
        .map(|n| format!("api{n:07}"))
        .filter(|id| t(&table.apis, &one.apis, id))
        .count();
    assert!(others >= APIS - 2, "{others} APIs' shards shared");
    drop(one);
    drop(table);
    let snapshot = tollgate_proto::codec::encode(&reg).len() as isize;
    Breakdown {
        working,
        deployments,
        commands,
        routes,
        routes_again,
        snapshot,
    }
}

/// The pieces of one stage's compile (printed for the breakdown).
#[test]
fn parts() {
    let r0 = live();
    let re = regex_lite::Regex::new("^(?:201)$").unwrap();
    println!("regex: {} B", live() - r0);
    drop(re);
    let reg = {
        let mut reg = Registry::default();
        reg.apply(&Command::DefineRestApi {
            api: api(1),
            create: true,
        })
        .unwrap();
        reg.apply(&deploy(1, "a")).unwrap();
        reg
    };
    let limits = ClusterLimits::new(1);
    let (stage, dep) = reg.deployed_stage("api0000001", "a").unwrap();
    let _ = tollgate_node::dataplane::routing::compile_stage("x", stage, dep, &limits);
    let r0 = live();
    let sr = tollgate_node::dataplane::routing::compile_stage("x", stage, dep, &limits);
    println!(
        "stage: {} B, {} methods, {} nodes, sizeof method {} node {}",
        live() - r0,
        sr.methods.len(),
        sr.nodes.len(),
        std::mem::size_of::<tollgate_node::dataplane::routing::CompiledMethod>(),
        std::mem::size_of::<tollgate_node::dataplane::routing::RouteNode>()
    );
    let i = dep
        .resources
        .values()
        .find_map(|r| r.methods.get("GET"))
        .unwrap()
        .integration
        .as_ref()
        .unwrap();
    let r0 = live();
    let m = tollgate_node::dataplane::mock::compile(i, stage).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "mock: {} B, sizeof {}",
        live() - r0,
        std::mem::size_of_val(&m)
    );
}

#[test]
fn bytes_per_stage_stay_within_budget() {
    let b = measure();
    let stages = (APIS * STAGES) as isize;
    let per = |x: isize| x / stages;
    println!(
        "per deployed stage of {RESOURCES} MOCK resources, {APIS} APIs x {STAGES} stages \
         (heap bytes asked for):\n  \
         registry, working tree (share of the API's): {} B\n  \
         registry, deployment: {} B\n  \
         commands (Raft log cache until a snapshot; share of the API's): {} B\n  \
         compiled routes, metric series included: {} B\n  \
         compiled routes, compiled again: {} B\n  \
         snapshot bytes: {} B",
        per(b.working),
        per(b.deployments),
        per(b.commands),
        per(b.routes),
        per(b.routes_again),
        per(b.snapshot),
    );
    // A deployment shares the tree it freezes; stages of one tree share MOCK integrations.
    assert!(
        per(b.deployments) <= 8_000,
        "deployment: {} B a stage",
        per(b.deployments)
    );
    assert!(
        per(b.routes) <= 20_000,
        "routes: {} B a stage",
        per(b.routes)
    );
    // The working tree: one copy per API (the deployments share it), its methods and
    // responses boxed (B-tree nodes hold 11 values: inline, a one-method map cost ~6 kB).
    assert!(
        per(b.working) <= 40_000,
        "working tree: {} B a stage",
        per(b.working)
    );
}
