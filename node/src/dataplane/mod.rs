//! The data plane: HTTP/1.1 workers serving deployed stages from compiled routing tables.
//!
//! Architecture invariant: nothing here takes a lock or calls across cores per request. The
//! control side compiles [`routing::RoutingTable`]s and publishes them through
//! [`snapshot::SharedRoutes`]; each worker reads them through its own [`snapshot::LocalRoutes`].

pub mod access_log;
pub mod api_metrics;
pub mod api_table;
pub mod authorizer;
pub mod cache;
pub mod cluster_limits;
pub mod compress;
pub mod conn;
pub mod conn_timer;
pub mod content;
pub mod core;
pub mod domains;
pub mod gateway_response;
pub mod handler;
pub mod http1;
#[cfg(test)]
mod http1_fuzz;
pub mod http_integration;
pub mod invoke;
pub mod io;
pub mod key_shards;
pub mod key_slots;
pub mod key_table;
pub mod lambda;
pub mod limiter;
pub mod mapping;
pub mod matcher;
pub mod metrics;
pub mod mock;
pub mod pathnorm;
pub mod phases;
pub mod ratelog;
pub mod remap;
pub mod request;
pub mod resolve;
pub mod respond;
pub mod routing;
pub mod snapshot;
pub mod test_invoke;
pub mod throttle;
pub mod tls;
pub mod tls_io;
pub mod trace;
pub mod upstream;
pub mod upstream_tls;
pub mod usage;
pub mod validate;
pub mod worker;
