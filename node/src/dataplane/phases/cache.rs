//! Phase 8: the stage's response cache. Only answers of proxied backends are cached; this phase
//! decides whether the cache is used and writes the key. The worker looks the key up (and
//! stores the backend's answer under it) as the decision says.

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::matcher::Captures;
use crate::dataplane::request::Request;
use crate::dataplane::routing::{
    CacheSpec, CompiledIntegration, CompiledMethod, StageRoutes, ValueSource,
};

/// How a request uses its stage's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUse {
    /// The stage's cache (API, stage and flush epoch).
    pub stage_cache: u64,
    /// This worker's part of the stage's cache memory, in bytes.
    pub budget: usize,
    /// How long a stored answer lives.
    pub ttl_ns: u64,
    /// Whether to look the key up first (`false`: the client bypasses the cache, whose answer
    /// is still stored).
    pub lookup: bool,
}

/// Decides the cache use of a request to `method` and writes its key into `key` (cleared
/// first); `None` when the method's answers are not cached.
pub fn run(
    method: &CompiledMethod,
    stage: &StageRoutes,
    workers: usize,
    req: &Request<'_>,
    path: &str,
    caps: &Captures<'_>,
    key: &mut Vec<u8>,
) -> Result<Option<CacheUse>, Refusal> {
    key.clear();
    if !matches!(
        method.integration,
        CompiledIntegration::HttpProxy(_) | CompiledIntegration::Http(_)
    ) || stage.cache_bytes == 0
    {
        return Ok(None);
    }
    let Some(c) = &method.cache else {
        return Ok(None);
    };
    write_key(req, path, caps, c, key);
    let mut lookup = true;
    if wants_fresh(req) {
        if !c.require_authorization {
            lookup = false;
        } else if c.unauthorized_strategy
            == tollgate_proto::model::UnauthorizedCacheControlHeaderStrategy::FailWith403
        {
            return Err(gr::CACHE_CONTROL_DENIED);
        }
    }
    Ok(Some(CacheUse {
        stage_cache: stage.cache_id,
        budget: stage.cache_bytes / workers.max(1),
        ttl_ns: c.ttl_ns,
        lookup,
    }))
}

/// The cache key: verb, stage-relative path, then each cache key parameter's value.
fn write_key(req: &Request<'_>, path: &str, caps: &Captures<'_>, c: &CacheSpec, key: &mut Vec<u8>) {
    key.extend_from_slice(req.method.as_bytes());
    key.push(0);
    key.extend_from_slice(path.as_bytes());
    for p in &c.key_params {
        key.push(0);
        let v: Option<&[u8]> = match p {
            ValueSource::Query(n) => req.query_param(n),
            ValueSource::Header(n) => req.header(n.as_bytes()),
            ValueSource::Path(n) => caps.get(path, n).map(str::as_bytes),
            ValueSource::Literal(l) => Some(l.as_bytes()),
            // Cache keys are compiled from request parameters only (`cache_for`).
            ValueSource::Identity(_)
            | ValueSource::Authorizer(_)
            | ValueSource::MultiQuery(_)
            | ValueSource::MultiHeader(_)
            | ValueSource::Context(_) => None,
        };
        key.extend_from_slice(v.unwrap_or_default());
    }
}

/// Whether the client asks to bypass the cache (`Cache-Control: max-age=0`).
fn wants_fresh(req: &Request<'_>) -> bool {
    req.header(b"cache-control")
        .and_then(|v| std::str::from_utf8(v).ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("max-age=0"))
        })
}
