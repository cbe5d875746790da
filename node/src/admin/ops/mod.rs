//! The operations: each validates its input against the registry, proposes one command, waits
//! for it to be durable and applied, and answers with the result read back.
//!
//! Writes on this node are serialised by one lock, so that what an operation validated (or
//! read, to modify and write back whole) is still what the command applies to; and before a
//! write the node catches up with the leader's commit index (a linearizable read), so it never
//! validates against or rewrites state older than a write already acknowledged anywhere.
//! Two writes racing through two different nodes could still both read the same state, and
//! the later in the log would write back over the earlier: so each write's commands are
//! guarded ([`Command::IfUnchanged`]) on the version of what it read (its API, key or plan,
//! [`Operation::guarded_scope`]) as caught up, and a write that finds it changed is run again
//! from a fresh read, up to [`WRITE_ATTEMPTS`] times, before it is answered
//! `ConflictException` as AWS answers a concurrent modification.
//! Registry read guards are only ever held inside plain (non-async) functions, never across an
//! `.await`.
//!
//! Exactly once: a write that carries a request identity ([`RequestIdentity`], from the SDK's
//! invocation id or the request's signature) proposes each of its commands as a
//! [`Command::Once`] numbered by how many of its commands applied before it, and mints its ids
//! from that identity ([`mint_id`]). A retry of the same call (an SDK retrying a 503, a
//! timeout) then runs the operation again from a fresh read, mints the same ids, finds its
//! commands already applied (the state machine answers them without applying anything) and
//! answers from what the first attempt made: the same ids, nothing created twice.

mod account;
mod apikeys;
mod authorizers;
mod client_certificates;
mod deployments;
mod documentation;
mod domains;
#[cfg(test)]
mod fuzz;
pub mod gateway_responses;
mod iam;
mod import;
pub mod integrations;
pub mod methods;
pub mod models;
mod openapi;
#[cfg(test)]
mod recorded_wording;
mod resources;
mod restapis;
mod sdk;
mod stages;
pub mod tags;
mod test_invoke;
mod usage;
mod usageplans;

use super::error::ApiError;
use super::paging::Query;
use super::router::{MethodKey, Operation};
use super::AdminState;
use serde::Serialize;
use std::cell::Cell;
use std::cell::RefCell;
use tollgate_proto::model::{Method, RestApi};
use tollgate_proto::{Command, Registry, RequestId, Scope};

/// A successful answer: status and JSON body (empty for 202/204 answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body; empty when the operation returns nothing.
    pub body: Vec<u8>,
    /// The body's media type when it is not JSON (an exported YAML document).
    pub content_type: Option<&'static str>,
    /// The file name of a body answered as an attachment (`Content-Disposition`: GetSdk's
    /// zip).
    pub attachment: Option<String>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::internal(format!("could not encode the answer: {e}")))?;
        Ok(Reply {
            status,
            body,
            content_type: None,
            attachment: None,
        })
    }

    /// An answer without a body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            attachment: None,
            content_type: None,
        }
    }
}

/// How many times a write whose guarded scope changed under it is run (from a fresh read)
/// before it is answered `ConflictException`.
pub const WRITE_ATTEMPTS: u32 = 8;

/// What the commands of the write in progress are guarded on: `scope` at `version`, the
/// version bumped by each of the write's own commands that applied.
struct Guard {
    /// `None`: the write is not guarded on a scope (it still counts what it applied).
    scope: Option<Scope>,
    version: u64,
    /// The write's commands that applied (a write with any is never run again).
    applied: u32,
}

tokio::task_local! {
    static GUARD: RefCell<Option<Guard>>;
}

/// The identity of one admin call, the same on every attempt a client makes of it (see
/// `admin::http::request_identity`): a digest, [`RequestId::client`] of its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIdentity(pub u128);

/// The identity of the write in progress and how many ids it has minted.
struct Minting {
    client: u128,
    minted: Cell<u32>,
}

tokio::task_local! {
    static REQUEST: Minting;
}

/// A new object id of `len` characters. Inside a write with a request identity it is derived
/// from that identity and the count of ids the write minted before, so every run of the same
/// call mints the same ids (a retry finds the objects the first attempt made under them);
/// elsewhere it is random.
fn mint_id(len: usize) -> String {
    REQUEST
        .try_with(|r| {
            use sha2::Digest;
            let n = r.minted.get();
            r.minted.set(n.wrapping_add(1));
            let mut h = sha2::Sha256::new();
            h.update(b"tollgate minted id\0");
            h.update(r.client.to_be_bytes());
            h.update(n.to_be_bytes());
            crate::ids::id_from_digest(&h.finalize().into(), len)
        })
        .unwrap_or_else(|_| crate::ids::random_id(len))
}

/// Runs one operation; a write with `identity` applies each of its commands at most once
/// however often the call is repeated (see the module documentation).
pub async fn dispatch(
    state: &AdminState,
    op: Operation,
    query: &Query,
    body: &[u8],
    identity: Option<RequestIdentity>,
) -> Result<Reply, ApiError> {
    let name = crate::admin::audit::operation_name(&op);
    dispatch_named(state, op, query, body, identity)
        .await
        .map_err(|e| crate::admin::enums::name_input(e, &name))
        .map_err(|e| crate::admin::not_found::aws_wording(e, &state.account_id))
}

async fn dispatch_named(
    state: &AdminState,
    op: Operation,
    query: &Query,
    body: &[u8],
    identity: Option<RequestIdentity>,
) -> Result<Reply, ApiError> {
    if !op.is_write() {
        return run(state, op, query, body).await;
    }
    match identity {
        Some(RequestIdentity(client)) => {
            let minting = Minting {
                client,
                minted: Cell::new(0),
            };
            REQUEST
                .scope(minting, dispatch_write(state, op, query, body))
                .await
        }
        None => dispatch_write(state, op, query, body).await,
    }
}

/// Runs one write: under the write lock, caught up, guarded, again after a concurrent change.
async fn dispatch_write(
    state: &AdminState,
    op: Operation,
    query: &Query,
    body: &[u8],
) -> Result<Reply, ApiError> {
    refuse_if_removed(state)?;
    let _write = state.write_lock.lock().await;
    let scope = op.guarded_scope();
    let mut attempt = 1;
    loop {
        // Writes validate against, and many rewrite whole objects from (UpdateStage,
        // UpdateMethod, …), this node's registry: first apply here everything committed before
        // the call, so a write acknowledged by another node is not read stale and written back
        // over (found by tollgate-chaos: an UpdateStage through one node lost the variable an
        // acknowledged UpdateStage through another had just set).
        state.node.linearizable().await.map_err(|e| match e {
            // Learned while catching up (the leader said so).
            tollgate_consensus::ClusterError::Removed => removed_refusal(),
            e => ApiError::unavailable(format!("catching up before a write: {e}")),
        })?;
        // A repeat of a call whose commands (some of them) applied already: its rerun is
        // validated against what that first attempt made.
        let repeat = REQUEST
            .try_with(|r| r.client)
            .ok()
            .is_some_and(|client| state.node.read().request_applied(client));
        // The version is read before the operation reads what it covers, so the operation
        // reads that version or a later one; either way a change after it is caught.
        let guard = Guard {
            version: scope.as_ref().map_or(0, |s| state.node.read().version(s)),
            scope: scope.clone(),
            applied: 0,
        };
        // Each run mints the same ids from the start.
        let _ = REQUEST.try_with(|r| r.minted.set(0));
        let (result, applied) = GUARD
            .scope(RefCell::new(Some(guard)), async {
                let result = run(state, op.clone(), query, body).await;
                let applied = GUARD.with(|g| g.borrow().as_ref().map_or(0, |g| g.applied));
                (result, applied)
            })
            .await;
        match result {
            Err(e)
                if e.is_concurrent_modification() && applied == 0 && attempt < WRITE_ATTEMPTS =>
            {
                tracing::debug!(
                    ?scope,
                    attempt,
                    "a concurrent write came first; running again"
                );
                // Writers racing through different nodes would keep colliding in step: wait a
                // random while, longer after each collision, before reading again.
                let jitter_ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=5 * attempt);
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(jitter_ms))).await;
                attempt += 1;
            }
            // The first attempt removed it: answer as that attempt did.
            Err(e) if repeat && e.status == 404 => {
                return match op.removal_status() {
                    Some(status) => Ok(Reply::empty(status)),
                    None => Err(e),
                };
            }
            other => return other,
        }
    }
}

/// The answer to a write through a node removed from the cluster: it can commit nothing (no
/// member takes its writes), so it says so at once instead of waiting its deadline.
fn removed_refusal() -> ApiError {
    ApiError::unavailable(
        "this node was removed from the cluster: send the request to a member of the cluster",
    )
}

/// Refuses a write at once on a node that knows it was removed from the cluster.
fn refuse_if_removed(state: &AdminState) -> Result<(), ApiError> {
    match state.node.raft() {
        Some(raft) if raft.removed() => Err(removed_refusal()),
        _ => Ok(()),
    }
}

/// Runs one operation (a write: under the write lock, caught up, guarded).
async fn run(
    state: &AdminState,
    op: Operation,
    query: &Query,
    body: &[u8],
) -> Result<Reply, ApiError> {
    use Operation as O;
    match op {
        O::Iam(call) => iam::run(state, call).await,
        O::CreateRestApi => restapis::create(state, body).await,
        O::GetRestApis => restapis::list(state, query),
        O::GetRestApi { api } => restapis::get(state, &api),
        O::UpdateRestApi { api } => restapis::update(state, &api, body).await,
        O::DeleteRestApi { api } => restapis::delete(state, &api).await,
        O::GetResources { api } => resources::list(state, &api, query),
        O::CreateResource { api, parent } => resources::create(state, &api, &parent, body).await,
        O::GetResource { api, resource } => resources::get(state, &api, &resource, query),
        O::UpdateResource { api, resource } => {
            resources::update(state, &api, &resource, body).await
        }
        O::DeleteResource { api, resource } => resources::delete(state, &api, &resource).await,
        O::PutMethod(k) => methods::put(state, &k, body).await,
        O::GetMethod(k) => methods::get(state, &k),
        O::UpdateMethod(k) => methods::update(state, &k, body).await,
        O::DeleteMethod(k) => methods::delete(state, &k).await,
        O::PutMethodResponse(k, c) => methods::put_response(state, &k, &c, body).await,
        O::GetMethodResponse(k, c) => methods::get_response(state, &k, &c),
        O::UpdateMethodResponse(k, c) => methods::update_response(state, &k, &c, body).await,
        O::DeleteMethodResponse(k, c) => methods::delete_response(state, &k, &c).await,
        O::PutIntegration(k) => integrations::put(state, &k, body).await,
        O::GetIntegration(k) => integrations::get(state, &k),
        O::UpdateIntegration(k) => integrations::update(state, &k, body).await,
        O::DeleteIntegration(k) => integrations::delete(state, &k).await,
        O::PutIntegrationResponse(k, c) => integrations::put_response(state, &k, &c, body).await,
        O::GetIntegrationResponse(k, c) => integrations::get_response(state, &k, &c),
        O::UpdateIntegrationResponse(k, c) => {
            integrations::update_response(state, &k, &c, body).await
        }
        O::DeleteIntegrationResponse(k, c) => integrations::delete_response(state, &k, &c).await,
        O::CreateDeployment { api } => deployments::create(state, &api, body).await,
        O::GetDeployments { api } => deployments::list(state, &api, query),
        O::GetDeployment { api, deployment } => deployments::get(state, &api, &deployment, query),
        O::UpdateDeployment { api, deployment } => {
            deployments::update(state, &api, &deployment, body).await
        }
        O::DeleteDeployment { api, deployment } => {
            deployments::delete(state, &api, &deployment).await
        }
        O::CreateStage { api } => stages::create(state, &api, body).await,
        O::GetStages { api } => stages::list(state, &api, query),
        O::GetStage { api, stage } => stages::get(state, &api, &stage),
        O::UpdateStage { api, stage } => stages::update(state, &api, &stage, body).await,
        O::DeleteStage { api, stage } => stages::delete(state, &api, &stage).await,
        O::FlushStageCache { api, stage } => stages::flush_cache(state, &api, &stage).await,
        O::CreateApiKey => apikeys::create(state, body).await,
        O::ImportApiKeys => import::import(state, query, body).await,
        O::ImportRestApi => openapi::import(state, query, body).await,
        O::PutRestApi { api } => openapi::put(state, &api, query, body).await,
        O::GetExport {
            api,
            stage,
            export_type,
            accept,
        } => openapi::export(state, &api, &stage, &export_type, accept.as_deref(), query),
        O::GetSdk {
            api,
            stage,
            sdk_type,
        } => sdk::get(state, &api, &stage, &sdk_type, query),
        O::GetSdkTypes => sdk::list_types(query),
        O::GetSdkType { id } => sdk::get_type(&id),
        O::GetApiKeys => apikeys::list(state, query),
        O::GetApiKey { key } => apikeys::get(state, &key, query),
        O::UpdateApiKey { key } => apikeys::update(state, &key, body).await,
        O::DeleteApiKey { key } => apikeys::delete(state, &key).await,
        O::CreateUsagePlan => usageplans::create(state, body).await,
        O::GetUsagePlans => usageplans::list(state, query),
        O::GetUsagePlan { plan } => usageplans::get(state, &plan),
        O::UpdateUsagePlan { plan } => usageplans::update(state, &plan, body).await,
        O::DeleteUsagePlan { plan } => usageplans::delete(state, &plan).await,
        O::CreateUsagePlanKey { plan } => usageplans::create_key(state, &plan, body).await,
        O::GetUsagePlanKeys { plan } => usageplans::list_keys(state, &plan, query),
        O::GetUsagePlanKey { plan, key } => usageplans::get_key(state, &plan, &key),
        O::DeleteUsagePlanKey { plan, key } => usageplans::delete_key(state, &plan, &key).await,
        O::GetUsage { plan } => usage::get(state, &plan, query),
        O::UpdateUsage { plan, key } => usage::update(state, &plan, &key, body).await,
        O::GetGatewayResponses { api } => gateway_responses::list(state, &api),
        O::PutGatewayResponse { api, response_type } => {
            gateway_responses::put(state, &api, &response_type, body).await
        }
        O::GetGatewayResponse { api, response_type } => {
            gateway_responses::get(state, &api, &response_type)
        }
        O::UpdateGatewayResponse { api, response_type } => {
            gateway_responses::update(state, &api, &response_type, body).await
        }
        O::DeleteGatewayResponse { api, response_type } => {
            gateway_responses::delete(state, &api, &response_type).await
        }
        O::CreateModel { api } => models::create(state, &api, body).await,
        O::GetModels { api } => models::list(state, &api, query),
        O::GetModel { api, model } => models::get(state, &api, &model),
        O::UpdateModel { api, model } => models::update(state, &api, &model, body).await,
        O::DeleteModel { api, model } => models::delete(state, &api, &model).await,
        O::GetModelTemplate { api, model } => models::template(state, &api, &model),
        O::CreateRequestValidator { api } => models::create_validator(state, &api, body).await,
        O::GetRequestValidators { api } => models::list_validators(state, &api, query),
        O::GetRequestValidator { api, validator } => models::get_validator(state, &api, &validator),
        O::UpdateRequestValidator { api, validator } => {
            models::update_validator(state, &api, &validator, body).await
        }
        O::DeleteRequestValidator { api, validator } => {
            models::delete_validator(state, &api, &validator).await
        }
        O::GetAccount => account::get(state),
        O::UpdateAccount => account::update(state, body).await,
        O::TagResource { arn } => tags::tag(state, &arn, body).await,
        O::UntagResource { arn } => tags::untag(state, &arn, query).await,
        O::GetTags { arn } => tags::get(state, &arn),
        O::CreateDocumentationPart { api } => documentation::create_part(state, &api, body).await,
        O::GetDocumentationParts { api } => documentation::list_parts(state, &api, query),
        O::GetDocumentationPart { api, part } => documentation::get_part(state, &api, &part),
        O::UpdateDocumentationPart { api, part } => {
            documentation::update_part(state, &api, &part, body).await
        }
        O::DeleteDocumentationPart { api, part } => {
            documentation::delete_part(state, &api, &part).await
        }
        O::CreateDocumentationVersion { api } => {
            documentation::create_version(state, &api, body).await
        }
        O::GetDocumentationVersions { api } => documentation::list_versions(state, &api, query),
        O::GetDocumentationVersion { api, version } => {
            documentation::get_version(state, &api, &version)
        }
        O::UpdateDocumentationVersion { api, version } => {
            documentation::update_version(state, &api, &version, body).await
        }
        O::DeleteDocumentationVersion { api, version } => {
            documentation::delete_version(state, &api, &version).await
        }
        O::GenerateClientCertificate => client_certificates::generate(state, body).await,
        O::GetClientCertificates => client_certificates::list(state, query),
        O::GetClientCertificate { certificate } => client_certificates::get(state, &certificate),
        O::UpdateClientCertificate { certificate } => {
            client_certificates::update(state, &certificate, body).await
        }
        O::DeleteClientCertificate { certificate } => {
            client_certificates::delete(state, &certificate).await
        }
        O::CreateDomainName => domains::create(state, body).await,
        O::GetDomainNames => domains::list(state, query),
        O::GetDomainName { domain } => domains::get(state, &domain),
        O::UpdateDomainName { domain } => domains::update(state, &domain, body).await,
        O::DeleteDomainName { domain } => domains::delete(state, &domain).await,
        O::CreateBasePathMapping { domain } => domains::create_mapping(state, &domain, body).await,
        O::GetBasePathMappings { domain } => domains::list_mappings(state, &domain, query),
        O::GetBasePathMapping { domain, base_path } => {
            domains::get_mapping(state, &domain, &base_path)
        }
        O::UpdateBasePathMapping { domain, base_path } => {
            domains::update_mapping(state, &domain, &base_path, body).await
        }
        O::DeleteBasePathMapping { domain, base_path } => {
            domains::delete_mapping(state, &domain, &base_path).await
        }
        O::CreateAuthorizer { api } => authorizers::create(state, &api, body).await,
        O::GetAuthorizers { api } => authorizers::list(state, &api, query),
        O::GetAuthorizer { api, authorizer } => authorizers::get(state, &api, &authorizer),
        O::UpdateAuthorizer { api, authorizer } => {
            authorizers::update(state, &api, &authorizer, body).await
        }
        O::DeleteAuthorizer { api, authorizer } => {
            authorizers::delete(state, &api, &authorizer).await
        }
        O::TestInvokeMethod(k) => test_invoke::test_invoke(state, &k, body).await,
        O::TestInvokeAuthorizer { api, authorizer } => {
            authorizers::test_invoke(state, &api, &authorizer, body).await
        }
        O::FlushStageAuthorizersCache { api, stage } => {
            authorizers::flush(state, &api, &stage).await
        }
    }
}

tokio::task_local! {
    /// The log index of the last command the current admin call committed, answered in the
    /// `x-tollgate-log-index` header (see [`crate::admin::http`]); unset outside a call.
    pub static COMMITTED_INDEX: std::cell::Cell<Option<u64>>;
}

/// Proposes `cmd` and waits until it is durable and applied; the state machine's refusal
/// becomes the matching AWS error. Notes the command's log index for the answer.
async fn commit(state: &AdminState, cmd: Command) -> Result<(), ApiError> {
    // Guarded when it changes what the write in progress read.
    let scopes = cmd.scopes();
    let guard = GUARD
        .try_with(|g| {
            g.borrow().as_ref().and_then(|g| {
                let scope = g.scope.as_ref().filter(|s| scopes.contains(s))?;
                Some((scope.clone(), g.version))
            })
        })
        .ok()
        .flatten();
    let cmd = match (&guard, cmd) {
        (None, cmd) => cmd,
        // Already guarded by the operation itself (on what else it read): one guard more.
        (
            Some(g),
            Command::IfUnchanged {
                mut guards,
                command,
            },
        ) => {
            guards.push(g.clone());
            Command::IfUnchanged { guards, command }
        }
        (Some(g), cmd) => Command::IfUnchanged {
            guards: vec![g.clone()],
            command: Box::new(cmd),
        },
    };
    // The write's n-th command to apply is the n-th part of its request: a run of the same
    // call after a refusal (a guard that found its scope changed) proposes that part again.
    let request = REQUEST.try_with(|r| r.client).ok().map(|client| RequestId {
        client,
        part: GUARD
            .try_with(|g| g.borrow().as_ref().map_or(0, |g| g.applied))
            .unwrap_or(0),
    });
    let cmd = match request {
        // Applied already (this node caught up before the write): an earlier attempt of this
        // call made it; answer as it did, without proposing or moving the guard on.
        Some(request) if state.node.read().sessions.applied(&request) => {
            let _ = GUARD.try_with(|g| {
                if let Some(g) = g.borrow_mut().as_mut() {
                    g.applied += 1;
                }
            });
            return Ok(());
        }
        Some(request) => Command::Once {
            request,
            command: Box::new(cmd),
        },
        None => cmd,
    };
    let (index, result) = state.node.propose_indexed(cmd).await?;
    if let Some(index) = index {
        let _ = COMMITTED_INDEX.try_with(|c| c.set(Some(c.get().map_or(index, |i| i.max(index)))));
    }
    match result {
        Ok(()) => {
            let _ = GUARD.try_with(|g| {
                if let Some(g) = g.borrow_mut().as_mut() {
                    // Any applied command is a side effect: the write is never run again.
                    g.applied += 1;
                    if guard.is_some() {
                        // Its own change moved the scope on by one: the write's next command
                        // expects exactly that, and anything else means another write came in
                        // between.
                        g.version += 1;
                    }
                }
            });
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// As [`read`], also taking the version of the write's guarded scope from the same state,
/// for a command that follows another of the same write and must read afresh what that
/// command's neighbours in the log may have changed (see `deployments::create`).
fn reread<T>(
    state: &AdminState,
    f: impl FnOnce(&Registry) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let reg = state.node.read();
    let _ = GUARD.try_with(|g| {
        if let Some(g) = g.borrow_mut().as_mut() {
            if let Some(scope) = &g.scope {
                g.version = reg.version(scope);
            }
        }
    });
    f(&reg)
}

/// Runs `f` on the registry under a read guard (never held across an await).
fn read<T>(
    state: &AdminState,
    f: impl FnOnce(&Registry) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let reg = state.node.read();
    f(&reg)
}

/// Runs `f` on one API.
fn read_api<T>(
    state: &AdminState,
    api: &str,
    f: impl FnOnce(&RestApi) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    read(state, |reg| f(reg.api(api)?))
}

/// A copy of a method of the working tree.
fn load_method(state: &AdminState, k: &MethodKey) -> Result<Method, ApiError> {
    read_api(state, &k.api, |api| {
        let res = api
            .resources
            .get(&k.resource)
            .ok_or_else(|| ApiError::invalid_id("resource", &k.resource))?;
        res.methods
            .get(&k.verb)
            .map(|m| Method::clone(m))
            .ok_or_else(|| ApiError::not_found("Invalid Method identifier specified"))
    })
}

/// Writes a whole method back (the read-modify-write of every method-level change).
async fn store_method(state: &AdminState, k: &MethodKey, method: Method) -> Result<(), ApiError> {
    commit(
        state,
        Command::PutMethod {
            api_id: k.api.clone(),
            resource_id: k.resource.clone(),
            method,
        },
    )
    .await
}

/// Validates the names of mapped parameters: each must start with one of `prefixes` and
/// name something after it.
fn check_parameter_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
    prefixes: &[&str],
    what: &str,
) -> Result<(), ApiError> {
    for name in names {
        let ok = prefixes.iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        });
        if !ok {
            return Err(ApiError::bad_request(format!(
                "Invalid {what} parameter specified: {name}"
            )));
        }
    }
    Ok(())
}

/// Validates an HTTP status code of a method or integration response (`[1-5]\d\d`).
fn check_status_code(code: &str) -> Result<(), ApiError> {
    let b = code.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid status code specified: {code}"
        )))
    }
}

/// A status code in a request URI (PutMethodResponse, PutIntegrationResponse): AWS's input
/// validation answers a bad one with a ValidationException (localstack's AWS recordings,
/// `test_apigateway_api` `test_integration_response_invalid_statuscode`
/// "put-integration-response-invalid-statusCode").
fn check_uri_status_code(code: &str) -> Result<(), ApiError> {
    check_status_code(code).map_err(|_| {
        ApiError::with_code(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{code}' at 'statusCode' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d"
            ),
        )
    })
}

/// Empty strings count as absent (AWS treats `""` as "not set" for optional strings).
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_parameter_names() {
        for ok in ["200", "404", "599", "100"] {
            assert!(check_status_code(ok).is_ok(), "{ok}");
        }
        for bad in ["600", "20", "2000", "abc", "", "099"] {
            assert!(check_status_code(bad).is_err(), "{bad}");
        }
        let p = ["method.request.path.", "method.request.header."];
        let names = ["method.request.path.id".to_string()];
        assert!(check_parameter_names(&names, &p, "method").is_ok());
        for bad in ["method.request.path.", "path.id", "method.request.body.x"] {
            assert!(check_parameter_names(&[bad.to_string()], &p, "method").is_err());
        }
    }
}
