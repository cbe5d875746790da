//! Node control: opening the replicated state and keeping the data plane's routing table in
//! step with it.
//!
//! Every applied batch of commands recompiles only the APIs whose deployed stages the batch
//! could change, shares every other API's compiled routes with the previous table, and
//! publishes the result to the workers.

use crate::dataplane::routing::{compile_all, compile_changed};
use crate::dataplane::snapshot::SharedRoutes;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use tollgate_consensus::LocalNode;

/// Opens the node's state in `dir` and keeps `routes` compiled from it.
pub fn open_state(dir: &Path, routes: Arc<SharedRoutes>) -> std::io::Result<LocalNode> {
    LocalNode::open(
        &dir.join("state"),
        Box::new(move |reg, applied| {
            if applied.is_empty() {
                // Recovery: build everything.
                routes.publish(compile_all(reg));
                return;
            }
            let changed: BTreeSet<&str> = applied
                .iter()
                .filter_map(|c| c.stage_affecting_api())
                .collect();
            if changed.is_empty() {
                return;
            }
            let old = routes.load();
            routes.publish(compile_changed(&old, reg, changed));
        }),
    )
}
