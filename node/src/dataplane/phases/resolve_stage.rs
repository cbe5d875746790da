//! Phase 1: the API and stage a request invokes, from its host (`{api}.execute-api.…`) or its
//! path (`/restapis/{api}/{stage}/_user_request_/…`); see [`crate::dataplane::invoke`]. A
//! request on the HTTPS listener reaches a custom domain instead: the domain its handshake
//! named (SNI), its longest matching base path stripped, the mapped API and stage
//! ([`crate::dataplane::domains`]).

use crate::dataplane::gateway_response::{self as gr, CompiledGatewayResponses, Refusal};
use crate::dataplane::invoke;
use crate::dataplane::request::TlsInfo;
use crate::dataplane::routing::{ApiRoutes, RoutingTable, StageRoutes};

/// A resolved request: its API, stage and the path below the stage.
pub struct Resolved<'t, 'r> {
    /// The API.
    pub api: &'t ApiRoutes,
    /// The stage.
    pub stage: &'t StageRoutes,
    /// The stage-relative path, starting with `/`.
    pub path: &'r str,
}

/// Finds the API and stage. Refusals here carry no gateway responses: those are a stage's (its
/// deployment froze them), and no stage is known yet. A stage with a canary release is served
/// by the canary when the request's `roll` (uniform in 0..1,000,000) falls in its share.
pub fn run<'t, 'r>(
    table: &'t RoutingTable,
    host: Option<&'r [u8]>,
    path: &'r str,
    tls: Option<&'r TlsInfo>,
    roll: u32,
) -> Result<Resolved<'t, 'r>, (Refusal, Option<&'t CompiledGatewayResponses>)> {
    let mut at = if let Some(tls) = tls {
        through_domain(table, host, path, tls)?
    } else {
        through_execute_api(table, host, path)?
    };
    at.stage = at.stage.pick(roll);
    Ok(at)
}

/// A request's roll for [`run`], from its random request id (so a request keeps its roll).
pub fn roll(request_id: &str) -> u32 {
    // The id's randomness folded eight bytes at a time (a multiply per word, not per byte:
    // this runs for every request), then mixed (murmur3's finaliser) over the range.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut words = request_id.as_bytes().chunks_exact(8);
    for w in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % 1_000_000) as u32
}

/// A request to the execute-api endpoint (its host or its path names the API).
fn through_execute_api<'t, 'r>(
    table: &'t RoutingTable,
    host: Option<&'r [u8]>,
    path: &'r str,
) -> Result<Resolved<'t, 'r>, (Refusal, Option<&'t CompiledGatewayResponses>)> {
    let target = invoke::resolve(host, path).ok_or((gr::UNKNOWN_API, None))?;
    let api = table
        .apis
        .get(target.api_id)
        .ok_or((gr::UNKNOWN_API, None))?;
    if api.execute_api_disabled {
        // The endpoint is off: the request never reaches the API, nor its gateway responses.
        return Err((gr::EXECUTE_API_DISABLED, None));
    }
    let stage = api
        .stages
        .get(target.stage)
        .ok_or((gr::MISSING_AUTHENTICATION_TOKEN, None))?;
    Ok(Resolved {
        api,
        stage,
        path: target.path,
    })
}

/// Whether the `Host` header names `sni` (ASCII case-insensitive, any port ignored). A
/// request whose Host names another domain than its handshake is refused: the certificate
/// and the mutual TLS check were the SNI domain's, so they must not open another's routes.
fn host_is(host: Option<&[u8]>, sni: &str) -> bool {
    let Some(host) = host else { return false };
    let name = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host.contains(&b']') || host[..i].ends_with(b"]") => &host[..i],
        _ => host,
    };
    name.eq_ignore_ascii_case(sni.as_bytes())
}

/// A request on the HTTPS listener: its domain (SNI), base path, mapped API and stage. Every
/// miss is AWS's 403 `Forbidden`, except a mapped stage that is gone (as the execute-api
/// form answers it).
fn through_domain<'t, 'r>(
    table: &'t RoutingTable,
    host: Option<&'r [u8]>,
    path: &'r str,
    tls: &'r TlsInfo,
) -> Result<Resolved<'t, 'r>, (Refusal, Option<&'t CompiledGatewayResponses>)> {
    let forbidden = (gr::DOMAIN_FORBIDDEN, None);
    if !host_is(host, &tls.sni) {
        return Err(forbidden);
    }
    let domain = table.domains.lookup(&tls.sni).ok_or(forbidden)?;
    let target = domain.route(path).ok_or(forbidden)?;
    // The execute-api switch does not apply: a custom domain is the way left open.
    let api = table.apis.get(target.api_id).ok_or(forbidden)?;
    let stage = api
        .stages
        .get(target.stage)
        .ok_or((gr::MISSING_AUTHENTICATION_TOKEN, None))?;
    Ok(Resolved {
        api,
        stage,
        path: target.path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rolls spread evenly: a 25 % canary gets close to a quarter of random request ids, and
    /// a request keeps its roll.
    #[test]
    fn rolls_follow_the_canary_share() {
        let mut ctx = crate::dataplane::respond::ResponseContext::new();
        let n = 100_000;
        let below = (0..n)
            .filter(|_| roll(ctx.request_id().as_str()) < 250_000)
            .count();
        assert!((23_500..26_500).contains(&below), "{below}");
        // And over the whole range: ten equal bands get a tenth each.
        let mut bands = [0u32; 10];
        for _ in 0..n {
            bands[(roll(ctx.request_id().as_str()) / 100_000) as usize] += 1;
        }
        assert!(
            bands.iter().all(|b| (9_300..10_700).contains(b)),
            "{bands:?}"
        );
        // Ids that differ in one character roll apart.
        let a = roll("0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
        assert_ne!(a, roll("0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d4"));
        assert_ne!(a, roll("1a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"));
        let id = ctx.request_id();
        assert_eq!(roll(id.as_str()), roll(id.as_str()));
        assert!(roll(id.as_str()) < 1_000_000);
    }

    #[test]
    fn the_host_must_name_the_handshake_domain() {
        assert!(host_is(Some(b"api.example.com"), "api.example.com"));
        assert!(host_is(Some(b"API.Example.com:8443"), "api.example.com"));
        assert!(!host_is(Some(b"other.example.com"), "api.example.com"));
        assert!(!host_is(Some(b"api.example.com.evil"), "api.example.com"));
        assert!(!host_is(None, "api.example.com"));
    }
}
