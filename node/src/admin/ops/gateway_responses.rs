//! PutGatewayResponse, GetGatewayResponse, GetGatewayResponses, UpdateGatewayResponse,
//! DeleteGatewayResponse: an API's own answers for the refusals the gateway makes.
//!
//! What is stored is what the data plane serves (fail closed): a status code, headers with
//! literal values (`gatewayresponse.header.X` → `'value'`), and body templates whose only
//! variables are the ones the gateway substitutes ([`SUPPORTED_VARIABLES`]). A mapping from the
//! request (`method.request.*`, `context.*`, `stageVariables.*`) or a Velocity directive is
//! refused with a message saying so, rather than answered as literal text.

use super::{check_status_code, commit, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::limits::{check_header_name, check_header_value, check_templates};
use crate::admin::patch::{self, apply_to_map, Op, PatchOp};
use crate::admin::wire::gateway_responses::{
    default_gateway_response, gateway_response, PutGatewayResponseIn,
};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::dataplane::gateway_response::{is_framing_header, literal_value};
use std::collections::BTreeMap;
use tollgate_proto::model::GatewayResponse;
use tollgate_proto::{Command, GatewayResponseType};

/// The key prefix of a header in `responseParameters`.
pub const HEADER_PREFIX: &str = "gatewayresponse.header.";

/// The template variables the gateway substitutes in a gateway response's body.
pub const SUPPORTED_VARIABLES: [&str; 4] = [
    "$context.error.messageString",
    "$context.error.message",
    "$context.error.responseType",
    "$context.requestId",
];

/// Velocity directives: a template holding one would need the template engine.
const DIRECTIVES: [&str; 13] = [
    "#if",
    "#else",
    "#elseif",
    "#end",
    "#set",
    "#foreach",
    "#macro",
    "#parse",
    "#include",
    "#stop",
    "#break",
    "#define",
    "#evaluate",
];

/// The type named in the path, as AWS spells it.
pub fn response_type(name: &str) -> Result<GatewayResponseType, ApiError> {
    GatewayResponseType::parse(name).ok_or_else(|| {
        let all: Vec<&str> = GatewayResponseType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect();
        ApiError::bad_request(format!(
            "Invalid gateway response type specified: {name}. Must be one of: [{}]",
            all.join(", ")
        ))
    })
}

/// Checks what a gateway response holds against what the data plane serves.
pub fn check(r: &GatewayResponse) -> Result<(), ApiError> {
    if let Some(code) = &r.status_code {
        check_status_code(code)?;
    }
    for (key, value) in &r.response_parameters {
        let Some(name) = key.strip_prefix(HEADER_PREFIX) else {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: {key}: a gateway response parameter must be {HEADER_PREFIX}{{name}}"
            )));
        };
        check_header_name("gateway response", name)?;
        let Some(literal) = literal_value(value) else {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: {value}: Tollgate serves only literal values ('...') in gateway response parameters"
            )));
        };
        check_header_value("gateway response", literal)?;
        if is_framing_header(name) {
            return Err(ApiError::bad_request(format!(
                "Invalid gateway response parameter specified: {key}: the gateway sets this header itself"
            )));
        }
    }
    check_templates("gateway response template", &r.response_templates)?;
    for template in r.response_templates.values() {
        check_template(template)?;
    }
    Ok(())
}

/// Refuses a template that uses more than the variables the gateway substitutes.
fn check_template(template: &str) -> Result<(), ApiError> {
    for (at, _) in template.match_indices('$') {
        let rest = &template[at..];
        let is_reference = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '{' || c == '!');
        if is_reference && !SUPPORTED_VARIABLES.iter().any(|v| rest.starts_with(v)) {
            let shown: String = rest.chars().take(40).collect();
            return Err(ApiError::bad_request(format!(
                "Invalid gateway response template: {shown}…: Tollgate substitutes only {} in gateway responses",
                SUPPORTED_VARIABLES.join(", ")
            )));
        }
    }
    for d in DIRECTIVES {
        let found = template.match_indices(d).any(|(at, _)| {
            !template[at + d.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        if found || template.contains("##") || template.contains("#*") {
            return Err(ApiError::bad_request(
                "Invalid gateway response template: Velocity directives and comments are not supported in gateway responses yet",
            ));
        }
    }
    Ok(())
}

/// The API's response of a type, or AWS's default for it.
fn reply(
    state: &AdminState,
    api: &str,
    t: GatewayResponseType,
    status: u16,
) -> Result<Reply, ApiError> {
    let out = read_api(state, api, |a| {
        Ok(match a.gateway_responses.get(&t) {
            Some(r) => gateway_response(r),
            None => default_gateway_response(t),
        })
    })?;
    Reply::json(status, &out)
}

/// PutGatewayResponse (201).
pub async fn put(
    state: &AdminState,
    api: &str,
    name: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let t = response_type(name)?;
    let i: PutGatewayResponseIn = input::parse(body)?;
    let r = GatewayResponse {
        response_type: t,
        status_code: i.status_code.filter(|s| !s.is_empty()),
        response_parameters: i.response_parameters.unwrap_or_default(),
        response_templates: i.response_templates.unwrap_or_default(),
    };
    check(&r)?;
    read_api(state, api, |_| Ok(()))?;
    commit(
        state,
        Command::PutGatewayResponse {
            api_id: api.to_string(),
            response: r,
        },
    )
    .await?;
    reply(state, api, t, 201)
}

/// GetGatewayResponse: the API's own, or AWS's default (`defaultResponse: true`).
pub fn get(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    let t = response_type(name)?;
    reply(state, api, t, 200)
}

/// GetGatewayResponses: every type, the API's own or the default, in AWS's type order.
pub fn list(state: &AdminState, api: &str) -> Result<Reply, ApiError> {
    let item = read_api(state, api, |a| {
        Ok(GatewayResponseType::ALL
            .iter()
            .map(|t| match a.gateway_responses.get(t) {
                Some(r) => gateway_response(r),
                None => default_gateway_response(*t),
            })
            .collect::<Vec<_>>())
    })?;
    Reply::json(
        200,
        &Page {
            item,
            position: None,
        },
    )
}

/// Applies one UpdateGatewayResponse patch operation.
pub fn apply_patch(r: &mut GatewayResponse, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        // Only `replace`: AWS refuses `add` and `remove` here with its short wording
        // (recorded: `test_update_gateway_response` "update-gateway-add-status-code",
        // "update-gateway-remove-status-code").
        ["statusCode"] if p.op == Op::Replace => {
            r.status_code = p.optional_string()?;
            Ok(())
        }
        ["responseParameters", name] if !name.is_empty() => {
            check_map_value(p, "responseParameters")?;
            // `replace` needs the parameter to exist (recorded:
            // "update-gateway-replace-invalid-parameter", a 404).
            if p.op == Op::Replace && !r.response_parameters.contains_key(*name) {
                return Err(ApiError::not_found("Invalid parameter name specified"));
            }
            apply_to_map(&mut r.response_parameters, name.to_string(), p)
        }
        ["responseTemplates", ct] if !ct.is_empty() => {
            check_map_value(p, "responseTemplates")?;
            apply_to_map(&mut r.response_templates, ct.to_string(), p)
        }
        _ => Err(p.invalid_path()),
    }
}

/// A map entry set with no value, or an empty one: AWS's recorded refusal
/// (`test_update_gateway_response` "update-gateway-replace-invalid-parameter-{0,1}-none").
fn check_map_value(p: &PatchOp, member: &str) -> Result<(), ApiError> {
    if p.op.sets() && p.value.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!(
            "Invalid null or empty value in {member}"
        )));
    }
    Ok(())
}

/// UpdateGatewayResponse (200): patches the API's response of the type, or its default if it
/// has none (as AWS does: the result is then the API's own).
pub async fn update(
    state: &AdminState,
    api: &str,
    name: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let t = response_type(name)?;
    let ops = patch::parse(body)?;
    let mut r = read_api(state, api, |a| {
        Ok(a.gateway_responses.get(&t).cloned().unwrap_or_else(|| {
            let d = default_gateway_response(t);
            GatewayResponse {
                response_type: t,
                status_code: d.status_code,
                response_parameters: BTreeMap::new(),
                response_templates: d.response_templates,
            }
        }))
    })?;
    for p in &ops {
        apply_patch(&mut r, p)?;
    }
    check(&r)?;
    commit(
        state,
        Command::UpdateGatewayResponse {
            api_id: api.to_string(),
            response: r,
        },
    )
    .await?;
    reply(state, api, t, 200)
}

/// DeleteGatewayResponse (202): the type answers with AWS's default again.
pub async fn delete(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    let t = response_type(name)?;
    // A type the API has not set: AWS's recorded 404 (`test_gateway_response_validation`
    // "delete-gateway-response-not-set").
    read_api(state, api, |a| {
        if a.gateway_responses.contains_key(&t) {
            Ok(())
        } else {
            Err(ApiError::not_found(
                "Gateway response type not defined on api",
            ))
        }
    })?;
    commit(
        state,
        Command::DeleteGatewayResponse {
            api_id: api.to_string(),
            response_type: t,
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::patch::Op;

    fn response(params: &[(&str, &str)], template: Option<&str>) -> GatewayResponse {
        GatewayResponse {
            response_type: GatewayResponseType::Default4xx,
            status_code: Some("418".into()),
            response_parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            response_templates: template
                .map(|t| BTreeMap::from([("application/json".to_string(), t.to_string())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn literal_headers_and_supported_variables_are_accepted() {
        let r = response(
            &[("gatewayresponse.header.Access-Control-Allow-Origin", "'*'")],
            Some("{\"error\":$context.error.messageString,\"id\":\"$context.requestId\",\"price\":\"$5\"}"),
        );
        check(&r).unwrap();
    }

    #[test]
    fn what_the_gateway_cannot_serve_is_refused() {
        let refused = [
            response(
                &[("gatewayresponse.header.X", "method.request.header.y")],
                None,
            ),
            response(&[("gatewayresponse.querystring.x", "'1'")], None),
            response(&[("gatewayresponse.header.X", "'a\r\nb'")], None),
            response(&[("gatewayresponse.header.Bad Name", "'a'")], None),
            response(&[("gatewayresponse.header.Content-Length", "'1'")], None),
            response(&[], Some("{\"path\":\"$context.path\"}")),
            response(&[], Some("$input.json('$')")),
            response(&[], Some("#set($a = 1)$a")),
            response(&[], Some("${context.requestId}")),
        ];
        for r in refused {
            assert!(check(&r).is_err(), "{r:?}");
        }
        let mut bad_status = response(&[], None);
        bad_status.status_code = Some("999".into());
        assert!(check(&bad_status).is_err());
        // '#' as text (a colour) is not a directive.
        check(&response(&[], Some("{\"colour\":\"#ifffff\"}"))).unwrap();
    }

    #[test]
    fn type_names_are_aws_spellings() {
        assert_eq!(
            response_type("THROTTLED").unwrap(),
            GatewayResponseType::Throttled
        );
        let e = response_type("throttled").unwrap_err();
        assert!(format!("{e:?}").contains("DEFAULT_4XX"), "{e:?}");
    }

    #[test]
    fn patches_set_and_remove() {
        let mut r = response(&[], None);
        let op = |o: Op, path: &str, v: Option<&str>| PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        };
        apply_patch(&mut r, &op(Op::Replace, "/statusCode", Some("401"))).unwrap();
        apply_patch(
            &mut r,
            &op(
                Op::Add,
                "/responseParameters/gatewayresponse.header.X-Y",
                Some("'z'"),
            ),
        )
        .unwrap();
        apply_patch(
            &mut r,
            &op(Op::Add, "/responseTemplates/application~1json", Some("{}")),
        )
        .unwrap();
        assert_eq!(r.status_code.as_deref(), Some("401"));
        assert_eq!(r.response_parameters["gatewayresponse.header.X-Y"], "'z'");
        assert_eq!(r.response_templates["application/json"], "{}");
        assert!(apply_patch(&mut r, &op(Op::Replace, "/nope", Some("1"))).is_err());
    }
}
