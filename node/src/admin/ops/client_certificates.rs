//! GenerateClientCertificate, GetClientCertificates, GetClientCertificate,
//! UpdateClientCertificate, DeleteClientCertificate.
//!
//! As AWS: a self-signed certificate (ECDSA P-256 here), valid 365 days, its PEM answered and
//! its private key kept (replicated, never answered). Stages cannot use one yet: Tollgate
//! calls no HTTPS backend, so CreateStage refuses `clientCertificateId` rather than accept a
//! setting it would not honour.

use super::{commit, mint_id, non_empty, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::ids::now_epoch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::model::{civil_from_days, ClientCertificate};
use tollgate_proto::Command;

/// How long a generated certificate is valid (as AWS).
const VALID_DAYS: i64 = 365;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateIn {
    description: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

/// AWS's `ClientCertificate`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateOut {
    client_certificate_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    pem_encoded_certificate: String,
    created_date: i64,
    expiration_date: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

fn out(c: &ClientCertificate) -> CertificateOut {
    CertificateOut {
        client_certificate_id: c.id.clone(),
        description: c.description.clone(),
        pem_encoded_certificate: c.pem_certificate.clone(),
        created_date: c.created_date,
        expiration_date: c.expiration_date,
        tags: c.tags.clone(),
    }
}

/// The error for an unknown certificate id.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Invalid Client Certificate identifier specified: {id}"
    ))
}

fn load(state: &AdminState, id: &str) -> Result<ClientCertificate, ApiError> {
    read(state, |reg| {
        reg.client_certificates
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    })
}

/// A self-signed certificate valid from `now` for [`VALID_DAYS`]: (certificate PEM, key PEM,
/// expiration in epoch seconds).
fn self_signed(id: &str, now: i64) -> Result<(String, String, i64), ApiError> {
    let fail = |e: rcgen::Error| ApiError::internal(format!("could not make a certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("tollgate client certificate {id}"),
    );
    let day = now.div_euclid(86_400);
    let date = |days: i64| {
        let (y, m, d) = civil_from_days(days);
        // Years past 9999 do not occur within the clock's range of use.
        rcgen::date_time_ymd(y.clamp(1970, 9999) as i32, m as u8, d as u8)
    };
    params.not_before = date(day);
    params.not_after = date(day + VALID_DAYS);
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((cert.pem(), key.serialize_pem(), (day + VALID_DAYS) * 86_400))
}

/// GenerateClientCertificate (201).
pub async fn generate(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let i: GenerateIn = input::parse(body)?;
    let description = non_empty(i.description);
    limits::check_description("The description", description.as_deref())?;
    let tags = i.tags.unwrap_or_default();
    limits::check_tags(&tags)?;
    let id = mint_id(6);
    let now = now_epoch();
    let (pem_certificate, private_key_pem, expiration_date) = self_signed(&id, now)?;
    commit(
        state,
        Command::CreateClientCertificate {
            certificate: ClientCertificate {
                id: id.clone(),
                description,
                pem_certificate,
                private_key_pem,
                created_date: now,
                expiration_date,
                tags,
            },
        },
    )
    .await?;
    Reply::json(201, &out(&load(state, &id)?))
}

/// GetClientCertificates: a page, by id.
pub fn list(state: &AdminState, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read(state, |reg| {
        Ok(reg
            .client_certificates
            .values()
            .map(|c| (c.id.clone(), out(c)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetClientCertificate.
pub fn get(state: &AdminState, id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &out(&load(state, id)?))
}

/// UpdateClientCertificate: `replace /description`.
pub async fn update(state: &AdminState, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let c = load(state, id)?;
    let mut description = c.description;
    for p in &ops {
        match (p.op, p.path.as_str()) {
            (Op::Replace | Op::Add | Op::Remove, "/description") => {
                description = non_empty(p.optional_string()?)
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid patch path '{}' specified for op '{}'. Must be one of: [/description]",
                    p.path,
                    p.op.as_str()
                )))
            }
        }
    }
    limits::check_description("The description", description.as_deref())?;
    commit(
        state,
        Command::UpdateClientCertificate {
            id: id.to_string(),
            description,
            tags: c.tags,
        },
    )
    .await?;
    get(state, id)
}

/// DeleteClientCertificate (202).
pub async fn delete(state: &AdminState, id: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteClientCertificate { id: id.to_string() },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_self_signed_and_valid_a_year() {
        let now = 1_796_191_429;
        let (cert, key, expires) = self_signed("abc123", now).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(expires, (now / 86_400 + 365) * 86_400);
        // The key is a usable key pair.
        assert!(rcgen::KeyPair::from_pem(&key).is_ok());
        assert!(cert.trim_end().ends_with("-----END CERTIFICATE-----"));
    }
}
