//! CreateDomainName, GetDomainNames, GetDomainName, UpdateDomainName, DeleteDomainName and the
//! base path mappings (Create/Get/Update/DeleteBasePathMapping, GetBasePathMappings).
//!
//! The certificate is uploaded as PEM (`certificateBody`, `certificatePrivateKey`,
//! `certificateChain`) and checked before anything is proposed ([`crate::tls::DomainTls`]):
//! one certificate, a matching key, the domain name among its DNS names, not expired. ACM
//! ARNs cannot be resolved here: given alone they are refused. The private key is never
//! answered.
//!
//! UpdateDomainName patch paths: AWS's `/certificateName`, `/certificateArn`,
//! `/regionalCertificateName`, `/regionalCertificateArn`, `/securityPolicy`,
//! `/endpointConfiguration/types/0`, `/endpointConfiguration/ipAddressType`,
//! `/mutualTlsAuthentication/truststoreUri`,
//! `/mutualTlsAuthentication/truststoreVersion`, `remove` on `/mutualTlsAuthentication`; and,
//! to rotate an uploaded certificate (AWS rotates through ACM instead), `replace` on
//! `/certificateBody`, `/certificatePrivateKey` and `/certificateChain`, checked together
//! after the whole patch. UpdateBasePathMapping: `/basePath`, `/restApiId`, `/stage`.

use super::{commit, read, Reply};
use crate::admin::endpoint;
use crate::admin::enums;
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op, PatchOp};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::ids::now_epoch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::domain::{
    check_base_path, check_domain_name, BasePathMapping, DomainName, MutualTls, NONE_BASE_PATH,
};
use tollgate_proto::Command;

/// `MutualTlsAuthenticationInput` (with `truststorePem`, this gateway's extension: the CA
/// certificates inline).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MutualTlsIn {
    truststore_uri: Option<String>,
    truststore_version: Option<String>,
    truststore_pem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointIn {
    types: Option<Vec<String>>,
    ip_address_type: Option<String>,
    vpc_endpoint_ids: Option<Vec<String>>,
}

/// CreateDomainName.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateDomainNameIn {
    domain_name: Option<String>,
    certificate_name: Option<String>,
    certificate_body: Option<String>,
    certificate_private_key: Option<String>,
    certificate_chain: Option<String>,
    certificate_arn: Option<String>,
    regional_certificate_name: Option<String>,
    regional_certificate_arn: Option<String>,
    endpoint_configuration: Option<EndpointIn>,
    tags: Option<BTreeMap<String, String>>,
    security_policy: Option<String>,
    endpoint_access_mode: Option<String>,
    mutual_tls_authentication: Option<MutualTlsIn>,
    ownership_verification_certificate_arn: Option<String>,
    policy: Option<String>,
    routing_mode: Option<String>,
}

/// CreateBasePathMapping.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBasePathMappingIn {
    base_path: Option<String>,
    rest_api_id: Option<String>,
    stage: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointOut {
    types: Vec<String>,
    ip_address_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MutualTlsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    truststore_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truststore_version: Option<String>,
}

/// `DomainName` as AWS answers it. It has no member for the private key (nor the PEM
/// certificate): what is answered cannot leak it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DomainNameOut {
    domain_name: String,
    /// `arn:aws:apigateway:{region}::/domainnames/{name}`: AWS's ARN of a public domain name
    /// (the form TagResource's other ARNs take).
    domain_name_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_arn: Option<String>,
    certificate_upload_date: i64,
    /// A REGIONAL domain's certificate is answered under these names, as AWS does.
    #[serde(skip_serializing_if = "Option::is_none")]
    regional_certificate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regional_certificate_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regional_domain_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distribution_domain_name: Option<String>,
    endpoint_configuration: EndpointOut,
    domain_name_status: &'static str,
    security_policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutual_tls_authentication: Option<MutualTlsOut>,
}

/// `BasePathMapping` as AWS answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BasePathMappingOut {
    base_path: String,
    rest_api_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
}

/// The host name `regionalDomainName`/`distributionDomainName` answer: where this gateway's
/// HTTPS listener is reached (a custom domain's DNS record points there).
fn own_address(state: &AdminState) -> String {
    state
        .gateway_address
        .clone()
        .unwrap_or_else(|| "localhost".to_string())
}

fn domain_out(state: &AdminState, d: &DomainName) -> DomainNameOut {
    let regional = d.endpoint_types.iter().any(|t| t == "REGIONAL");
    let region = state.region.as_deref().unwrap_or("us-east-1");
    DomainNameOut {
        domain_name: d.name.clone(),
        domain_name_arn: format!("arn:aws:apigateway:{region}::/domainnames/{}", d.name),
        certificate_name: d.certificate_name.clone().filter(|_| !regional),
        certificate_arn: d.certificate_arn.clone().filter(|_| !regional),
        certificate_upload_date: d.certificate_upload_date,
        regional_certificate_name: d.certificate_name.clone().filter(|_| regional),
        regional_certificate_arn: d.certificate_arn.clone().filter(|_| regional),
        regional_domain_name: regional.then(|| own_address(state)),
        distribution_domain_name: (!regional).then(|| own_address(state)),
        endpoint_configuration: EndpointOut {
            types: d.endpoint_types.clone(),
            ip_address_type: d.effective_ip_address_type().to_string(),
        },
        domain_name_status: "AVAILABLE",
        security_policy: d.security_policy.clone(),
        tags: (!d.tags.is_empty()).then(|| d.tags.clone()),
        mutual_tls_authentication: d.mutual_tls.as_ref().map(|m| MutualTlsOut {
            truststore_uri: (!m.truststore_uri.is_empty()).then(|| m.truststore_uri.clone()),
            truststore_version: m.truststore_version.clone(),
        }),
    }
}

fn mapping_out(m: &BasePathMapping) -> BasePathMappingOut {
    BasePathMappingOut {
        base_path: wire_base_path(&m.base_path),
        rest_api_id: m.rest_api_id.clone(),
        stage: m.stage.clone(),
    }
}

/// `""` is `(none)` on the wire.
fn wire_base_path(p: &str) -> String {
    if p.is_empty() {
        NONE_BASE_PATH.to_string()
    } else {
        p.to_string()
    }
}

/// A base path as sent (in a body or a URI): `(none)` or empty is the catch-all.
fn stored_base_path(p: &str) -> Result<String, ApiError> {
    let p = if p == NONE_BASE_PATH { "" } else { p };
    check_base_path(p).map_err(ApiError::bad_request)?;
    Ok(p.to_string())
}

fn no_domain(name: &str) -> ApiError {
    ApiError::not_found(format!("Invalid domain name identifier specified: {name}"))
}

fn load_domain(state: &AdminState, name: &str) -> Result<DomainName, ApiError> {
    let name = name.to_ascii_lowercase();
    read(state, |reg| {
        reg.domains
            .get(&name)
            .cloned()
            .ok_or_else(|| no_domain(&name))
    })
}

fn domain_reply(state: &AdminState, name: &str, status: u16) -> Result<Reply, ApiError> {
    Reply::json(status, &domain_out(state, &load_domain(state, name)?))
}

fn endpoint_types(types: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let types = types.unwrap_or_else(|| vec!["EDGE".into()]);
    endpoint::check(&types, "ipv4")?;
    if types[0] == "PRIVATE" {
        return Err(ApiError::bad_request(
            "PRIVATE domain names are not supported here (there is no VPC): use REGIONAL or EDGE",
        ));
    }
    Ok(types)
}

fn mutual_tls(m: MutualTlsIn) -> Result<MutualTls, ApiError> {
    let uri = m.truststore_uri.unwrap_or_default();
    let pem = m.truststore_pem.unwrap_or_default();
    if uri.is_empty() == pem.is_empty() {
        return Err(ApiError::bad_request(
            "Mutual TLS needs exactly one of truststoreUri (file:///path/to/truststore.pem, readable on every node) and truststorePem",
        ));
    }
    Ok(MutualTls {
        truststore_uri: uri,
        truststore_pem: pem,
        truststore_version: m.truststore_version.filter(|v| !v.is_empty()),
    })
}

/// Checks the domain's certificate (as every node will build it) and its validity now.
fn check_tls(d: &DomainName) -> Result<(), ApiError> {
    let tls = crate::tls::DomainTls::build(d, None).map_err(ApiError::bad_request)?;
    if tls.facts.not_after < now_epoch() {
        return Err(ApiError::bad_request(
            "The certificate has expired: upload a valid certificate",
        ));
    }
    Ok(())
}

fn refuse_set(value: &Option<String>, what: &str) -> Result<(), ApiError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Err(ApiError::bad_request(format!(
            "{what} is not supported here"
        ))),
        _ => Ok(()),
    }
}

/// CreateDomainName (201).
pub async fn create(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateDomainNameIn = input::parse(body)?;
    let endpoint = i.endpoint_configuration.unwrap_or_default();
    let mut invalid = endpoint::input_errors(
        "createDomainNameInput",
        endpoint.types.as_deref(),
        endpoint.ip_address_type.as_deref(),
    );
    for (member, value) in [
        ("securityPolicy", i.security_policy.as_deref()),
        ("endpointAccessMode", i.endpoint_access_mode.as_deref()),
        ("routingMode", i.routing_mode.as_deref()),
    ] {
        if let Err(e) = enums::check("CreateDomainName", member, value) {
            invalid.push(
                e.message
                    .split_once(": ")
                    .map_or(e.message.clone(), |(_, m)| m.to_string()),
            );
        }
    }
    endpoint::validation_errors(&invalid)?;
    let name = i
        .domain_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Domain name is required"))?
        .to_ascii_lowercase();
    check_domain_name(&name).map_err(ApiError::bad_request)?;
    refuse_set(
        &i.policy,
        "A domain name policy (private custom domain names)",
    )?;
    refuse_set(
        &i.ownership_verification_certificate_arn,
        "ownershipVerificationCertificateArn (ACM)",
    )?;
    if let Some(m) = i.routing_mode.as_deref() {
        if m != "BASE_PATH_MAPPING_ONLY" {
            return Err(ApiError::bad_request(format!(
                "Routing mode {m} is not supported here: use BASE_PATH_MAPPING_ONLY"
            )));
        }
    }
    if let Some(m) = i.endpoint_access_mode.as_deref() {
        if m != "BASIC" {
            return Err(ApiError::bad_request(format!(
                "Endpoint access mode {m} is not supported here: use BASIC"
            )));
        }
    }
    if endpoint.vpc_endpoint_ids.is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::bad_request(
            "VPC endpoints are not supported here",
        ));
    }
    let endpoint_types = endpoint_types(endpoint.types)?;
    let arn = i
        .certificate_arn
        .clone()
        .or(i.regional_certificate_arn.clone());
    let (Some(body), Some(key)) = (
        i.certificate_body.filter(|b| !b.is_empty()),
        i.certificate_private_key.filter(|k| !k.is_empty()),
    ) else {
        return Err(ApiError::bad_request(if arn.is_some() {
            "Certificate ARNs cannot be resolved here (there is no ACM): upload the certificate as PEM with certificateBody, certificatePrivateKey and certificateChain"
        } else {
            "A certificate is required: certificateBody and certificatePrivateKey (PEM)"
        }));
    };
    let domain = DomainName {
        name: name.clone(),
        certificate_name: i
            .certificate_name
            .or(i.regional_certificate_name)
            .filter(|n| !n.is_empty()),
        certificate_body: body,
        certificate_private_key: key,
        certificate_chain: i.certificate_chain.unwrap_or_default(),
        certificate_arn: arn.filter(|a| !a.is_empty()),
        certificate_upload_date: now_epoch(),
        security_policy: i.security_policy.unwrap_or_else(|| "TLS_1_2".into()),
        endpoint_types,
        mutual_tls: i.mutual_tls_authentication.map(mutual_tls).transpose()?,
        tags: i.tags.unwrap_or_default(),
        mappings: Default::default(),
        ip_address_type: endpoint.ip_address_type,
    };
    crate::admin::limits::check_tags(&domain.tags)?;
    check_tls(&domain)?;
    if read(state, |reg| Ok(reg.tls_ticket_secret.is_none()))? {
        // The cluster's session tickets are keyed from this (set once: a concurrent first
        // domain's secret, applied first, wins).
        let mut secret = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| ApiError::internal("no randomness for the session-ticket secret"))?;
        commit(state, Command::InitTlsTicketSecret { secret }).await?;
    }
    commit(state, Command::CreateDomainName { domain }).await?;
    domain_reply(state, &name, 201)
}

/// GetDomainNames: paged by name.
pub fn list(state: &AdminState, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read(state, |reg| {
        Ok(reg
            .domains
            .values()
            .map(|d| (d.name.clone(), domain_out(state, d)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetDomainName.
pub fn get(state: &AdminState, name: &str) -> Result<Reply, ApiError> {
    domain_reply(state, name, 200)
}

/// Applies one UpdateDomainName patch operation.
fn apply_patch(d: &mut DomainName, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["certificateName"] | ["regionalCertificateName"] => {
            d.certificate_name = p.optional_string()?
        }
        ["certificateArn"] | ["regionalCertificateArn"] => {
            return Err(ApiError::bad_request(
                "Certificate ARNs cannot be resolved here (there is no ACM): replace /certificateBody, /certificatePrivateKey and /certificateChain with PEM",
            ))
        }
        ["certificateBody"] => d.certificate_body = p.required_string()?,
        ["certificatePrivateKey"] => d.certificate_private_key = p.required_string()?,
        ["certificateChain"] => d.certificate_chain = p.optional_string()?.unwrap_or_default(),
        ["securityPolicy"] => d.security_policy = p.required_string()?,
        ["endpointConfiguration", "types", slot] => {
            endpoint::patch_type(p, slot, &mut d.endpoint_types, &mut d.ip_address_type)?;
            d.endpoint_types = endpoint_types(Some(d.endpoint_types.clone()))?
        }
        ["endpointConfiguration", "ipAddressType"] => {
            d.ip_address_type = Some(endpoint::patch_ip(p)?)
        }
        ["mutualTlsAuthentication"] if p.op == Op::Remove => d.mutual_tls = None,
        ["mutualTlsAuthentication", "truststoreUri"] => {
            let m = d.mutual_tls.get_or_insert_with(Default::default);
            m.truststore_uri = p.required_string()?;
            m.truststore_pem.clear();
        }
        ["mutualTlsAuthentication", "truststorePem"] => {
            let m = d.mutual_tls.get_or_insert_with(Default::default);
            m.truststore_pem = p.required_string()?;
            m.truststore_uri.clear();
        }
        ["mutualTlsAuthentication", "truststoreVersion"] => {
            d.mutual_tls
                .get_or_insert_with(Default::default)
                .truststore_version = p.optional_string()?
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateDomainName.
pub async fn update(state: &AdminState, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut d = load_domain(state, name)?;
    let before = (
        d.certificate_body.clone(),
        d.certificate_private_key.clone(),
        d.certificate_chain.clone(),
    );
    for p in &ops {
        apply_patch(&mut d, p)?;
    }
    if (
        &d.certificate_body,
        &d.certificate_private_key,
        &d.certificate_chain,
    ) != (&before.0, &before.1, &before.2)
    {
        d.certificate_upload_date = now_epoch();
    }
    check_tls(&d)?;
    let name = d.name.clone();
    commit(state, Command::UpdateDomainName { domain: d }).await?;
    domain_reply(state, &name, 200)
}

/// DeleteDomainName (202).
pub async fn delete(state: &AdminState, name: &str) -> Result<Reply, ApiError> {
    let name = load_domain(state, name)?.name;
    commit(state, Command::DeleteDomainName { name }).await?;
    Ok(Reply::empty(202))
}

fn load_mapping(
    state: &AdminState,
    domain: &str,
    base_path: &str,
) -> Result<(String, BasePathMapping), ApiError> {
    let d = load_domain(state, domain)?;
    let path = stored_base_path(base_path)?;
    let m = d.mappings.get(&path).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "Invalid base path mapping identifier specified: {base_path}"
        ))
    })?;
    Ok((d.name, m))
}

/// CreateBasePathMapping (201).
pub async fn create_mapping(
    state: &AdminState,
    domain: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let i: CreateBasePathMappingIn = input::parse(body)?;
    let d = load_domain(state, domain)?;
    let rest_api_id = i
        .rest_api_id
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("restApiId is required"))?;
    let mapping = BasePathMapping {
        base_path: stored_base_path(i.base_path.as_deref().unwrap_or(""))?,
        rest_api_id,
        stage: i.stage.filter(|s| !s.is_empty()),
    };
    let out = mapping_out(&mapping);
    commit(
        state,
        Command::CreateBasePathMapping {
            domain_name: d.name,
            mapping,
        },
    )
    .await?;
    Reply::json(201, &out)
}

/// GetBasePathMappings: paged by base path.
pub fn list_mappings(state: &AdminState, domain: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let d = load_domain(state, domain)?;
    let items = d
        .mappings
        .values()
        .map(|m| (m.base_path.clone(), mapping_out(m)))
        .collect();
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetBasePathMapping.
pub fn get_mapping(state: &AdminState, domain: &str, base_path: &str) -> Result<Reply, ApiError> {
    let (_, m) = load_mapping(state, domain, base_path)?;
    Reply::json(200, &mapping_out(&m))
}

/// UpdateBasePathMapping.
pub async fn update_mapping(
    state: &AdminState,
    domain: &str,
    base_path: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let (domain_name, mut m) = load_mapping(state, domain, base_path)?;
    let old_path = m.base_path.clone();
    for p in &ops {
        match p.segments().as_slice() {
            [f] if f == "basePath" => {
                m.base_path = stored_base_path(p.optional_string()?.as_deref().unwrap_or(""))?
            }
            [f] if f == "restApiId" => m.rest_api_id = p.required_string()?,
            [f] if f == "stage" => m.stage = p.optional_string()?,
            _ => return Err(p.invalid_path()),
        }
    }
    let out = mapping_out(&m);
    commit(
        state,
        Command::UpdateBasePathMapping {
            domain_name,
            base_path: old_path,
            mapping: m,
        },
    )
    .await?;
    Reply::json(200, &out)
}

/// DeleteBasePathMapping (202).
pub async fn delete_mapping(
    state: &AdminState,
    domain: &str,
    base_path: &str,
) -> Result<Reply, ApiError> {
    let (domain_name, m) = load_mapping(state, domain, base_path)?;
    commit(
        state,
        Command::DeleteBasePathMapping {
            domain_name,
            base_path: m.base_path,
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_on_the_wire() {
        assert_eq!(stored_base_path("(none)").unwrap(), "");
        assert_eq!(stored_base_path("").unwrap(), "");
        assert_eq!(stored_base_path("v1/pets").unwrap(), "v1/pets");
        assert!(stored_base_path("/v1").is_err());
        assert_eq!(wire_base_path(""), "(none)");
    }
}
