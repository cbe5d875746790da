//! `patchOperations`: parsing the list, splitting JSON-pointer paths (`~1` is `/`, `~0` is
//! `~`) and converting the string values AWS sends into typed ones.
//!
//! What each path means is up to the operation that applies it (see `ops/`); this module gives
//! them the vocabulary and AWS's error wording.

use super::error::ApiError;
use serde::Deserialize;

/// A patch operation's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `replace`
    Replace,
    /// `move`
    Move,
    /// `copy`
    Copy,
    /// `test`
    Test,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "add" => Op::Add,
            "remove" => Op::Remove,
            "replace" => Op::Replace,
            "move" => Op::Move,
            "copy" => Op::Copy,
            "test" => Op::Test,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
            Op::Move => "move",
            Op::Copy => "copy",
            Op::Test => "test",
        }
    }

    /// `add` or `replace`: both set a value.
    pub fn sets(self) -> bool {
        matches!(self, Op::Add | Op::Replace)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOp {
    op: Option<String>,
    path: Option<String>,
    value: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePatch {
    patch_operations: Option<Vec<WireOp>>,
}

/// One parsed patch operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOp {
    /// The verb.
    pub op: Op,
    /// The path as sent (`/variables/x`, `/~1pets/GET/throttling/rateLimit`).
    pub path: String,
    /// The value, always a string on the wire.
    pub value: Option<String>,
    /// The source path of `move`/`copy`.
    pub from: Option<String>,
}

/// Parses a request body `{"patchOperations": [...]}` (an empty body is an empty list).
pub fn parse(body: &[u8]) -> Result<Vec<PatchOp>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let wire: WirePatch = serde_json::from_slice(body).map_err(super::input::body_error)?;
    let wire = wire.patch_operations.unwrap_or_default();
    // An `op` outside the enum fails AWS's input validation, before anything is read; AWS
    // lists every such op ("2 validation errors detected: ...; ..."). The dispatcher puts the
    // operation's input name in front of the member path (`updateRestApiInput.`), as AWS's
    // message has it.
    let bad: Vec<String> = wire
        .iter()
        .enumerate()
        .filter(|(_, w)| w.op.as_deref().and_then(Op::parse).is_none())
        .map(|(i, w)| {
            format!(
                "Value '{}' at 'patchOperations.{}.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]",
                w.op.as_deref().unwrap_or(""),
                i + 1
            )
        })
        .collect();
    super::endpoint::validation_errors(&bad)?;
    wire.into_iter()
        .map(|w| {
            let op =
                w.op.as_deref()
                    .and_then(Op::parse)
                    .ok_or_else(|| ApiError::bad_request("Invalid patch operation specified"))?;
            // No path at all: AWS's "Invalid patch path null" (recorded:
            // `test_update_gateway_response` "update-gateway-no-path").
            let path = w
                .path
                .ok_or_else(|| ApiError::bad_request("Invalid patch path null"))?;
            if !path.starts_with('/') {
                return Err(ApiError::bad_request(
                    "Invalid patch path: a path must start with '/'",
                ));
            }
            Ok(PatchOp {
                op,
                path,
                value: w.value,
                from: w.from,
            })
        })
        .collect()
}

/// Undoes JSON-pointer escaping: `~1` → `/`, `~0` → `~`.
pub fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// JSON-pointer escaping: `~` → `~0`, `/` → `~1`.
pub fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl PatchOp {
    /// The path's segments, each unescaped (`/requestTemplates/application~1json` →
    /// `["requestTemplates", "application/json"]`).
    pub fn segments(&self) -> Vec<String> {
        self.path
            .strip_prefix('/')
            .unwrap_or(&self.path)
            .split('/')
            .map(unescape)
            .collect()
    }

    /// The path's segments, still escaped (for paths whose segments hold escaped slashes
    /// that the caller unescapes itself).
    pub fn raw_segments(&self) -> Vec<&str> {
        self.path
            .strip_prefix('/')
            .unwrap_or(&self.path)
            .split('/')
            .collect()
    }

    /// The error for a path (or a verb on it) the operation does not support, in the short
    /// form AWS answers for REST APIs, methods, method responses and gateway responses
    /// ("Invalid patch path /httpMethod": localstack's AWS recordings
    /// `test_update_method_validation` "unsupported-path", `test_update_gateway_response`
    /// "update-gateway-wrong-path", `test_update_rest_api_behaviour`
    /// "update-rest-api-add-base-path", `test_update_method_lack_response_parameters_and_models`
    /// "update-method-response-operation-with-wrong-path").
    pub fn invalid_path(&self) -> ApiError {
        ApiError::bad_request(format!("Invalid patch path {}", self.path))
    }

    /// The error for an object whose only verb is `replace` (resources, models, request
    /// validators, documentation parts, API keys), as AWS words it, two spaces included:
    /// `replace` on another path lists the paths; any other verb is refused whatever the path.
    /// Recorded (localstack `test_apigateway_api.snapshot.json`): `test_update_resource_behaviour`
    /// "invalid-path-part", "remove-unsupported", "add-unsupported"; `test_update_model`;
    /// `test_invalid_update_request_validator_operations`; `test_invalid_update_documentation_part`;
    /// and `test_apigateway_extended.snapshot.json` `test_update_api_key_immutable_field`.
    pub fn unsupported(&self, replace_paths: &[&str]) -> ApiError {
        ApiError::bad_request(if self.op == Op::Replace {
            format!(
                "Invalid patch path  '{}' specified for op 'replace'. Must be one of: [{}]",
                self.path,
                replace_paths.join(", ")
            )
        } else {
            format!(
                "Invalid patch path  '{}' specified for op '{}'. Please choose supported operations",
                self.path,
                self.op.as_str()
            )
        })
    }

    /// `Ok` when the verb is `replace`, else AWS's "Invalid patch operation specified. Must be
    /// one of: [replace]" (recorded: `test_update_method_validation` "unsupported-operation",
    /// `add /operationName`, and "unsupported-operation-2", `add /requestValidatorId`).
    pub fn replace_verb(&self) -> Result<(), ApiError> {
        if self.op == Op::Replace {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                "Invalid patch operation specified. Must be one of: [replace]",
            ))
        }
    }

    /// `Ok` when the verb is `replace`, else [`PatchOp::unsupported`].
    pub fn replace_only(&self, replace_paths: &[&str]) -> Result<(), ApiError> {
        if self.op == Op::Replace {
            Ok(())
        } else {
            Err(self.unsupported(replace_paths))
        }
    }

    /// The error for a value that does not fit the path.
    pub fn invalid_value(&self, expected: &str) -> ApiError {
        ApiError::bad_request(format!(
            "Invalid value '{}' specified for '{}': {expected}",
            self.value.as_deref().unwrap_or(""),
            self.path
        ))
    }

    /// The value, which must be present.
    pub fn value(&self) -> Result<&str, ApiError> {
        self.value.as_deref().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid null value specified for op '{}' on path '{}'",
                self.op.as_str(),
                self.path
            ))
        })
    }

    /// The value for an optional string field: `remove` (or an empty value) clears it.
    pub fn optional_string(&self) -> Result<Option<String>, ApiError> {
        match self.op {
            Op::Remove => Ok(None),
            op if op.sets() => Ok(self.value.clone().filter(|v| !v.is_empty())),
            _ => Err(self.invalid_path()),
        }
    }

    /// The value for a required string field: only `replace` (or `add`) with a value.
    pub fn required_string(&self) -> Result<String, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        if v.is_empty() {
            return Err(self.invalid_value("must not be empty"));
        }
        Ok(v.to_string())
    }

    /// A boolean value (`"true"` or `"false"`, any case).
    pub fn bool_value(&self) -> Result<bool, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        if v.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if v.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.invalid_value("expected true or false"))
        }
    }

    /// A boolean value read as AWS reads `/apiKeyRequired` (Java's `Boolean.parseBoolean`):
    /// `true` in any case is true, any other value is false.
    pub fn coerced_bool_value(&self) -> Result<bool, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        Ok(self.value()?.eq_ignore_ascii_case("true"))
    }

    /// An integer value within `min..=max`.
    pub fn int_value(&self, min: i64, max: i64) -> Result<i64, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid_value(&format!("expected an integer from {min} to {max}"))),
        }
    }

    /// A finite number value within `min..=max`.
    pub fn f64_value(&self, min: f64, max: f64) -> Result<f64, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Ok(n),
            _ => Err(self.invalid_value(&format!("expected a number from {min} to {max}"))),
        }
    }

    /// A value of a closed set, read by `parse` (exact, or any case where AWS accepts that);
    /// `names` lists the set for the error message.
    pub fn parsed_value<T>(
        &self,
        parse: impl FnOnce(&str) -> Option<T>,
        names: &str,
    ) -> Result<T, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        parse(v).ok_or_else(|| self.invalid_value(&format!("expected one of {names}")))
    }

    /// One of `allowed` (matched exactly; AWS enumerations are case-sensitive).
    pub fn enum_value(&self, allowed: &[&str]) -> Result<String, ApiError> {
        if !self.op.sets() {
            return Err(self.invalid_path());
        }
        let v = self.value()?;
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(self.invalid_value(&format!("expected one of {}", allowed.join(", "))))
        }
    }
}

/// Applies one operation to a string map entry (`/requestTemplates/{key}` and the like):
/// `add`/`replace` set it (an absent value sets `""`), `remove` deletes it (it must exist).
pub fn apply_to_map(
    map: &mut std::collections::BTreeMap<String, String>,
    key: String,
    p: &PatchOp,
) -> Result<(), ApiError> {
    match p.op {
        op if op.sets() => {
            map.insert(key, p.value.clone().unwrap_or_default());
            Ok(())
        }
        Op::Remove => map.remove(&key).map(|_| ()).ok_or_else(|| {
            ApiError::bad_request(format!("Cannot remove '{key}': it does not exist"))
        }),
        _ => Err(p.invalid_path()),
    }
}

/// As [`apply_to_map`] for a map of flags (`/requestParameters/{name}`): the value is
/// `"true"` or `"false"`, absent meaning `false`.
pub fn apply_to_flag_map(
    map: &mut std::collections::BTreeMap<String, bool>,
    key: String,
    p: &PatchOp,
) -> Result<(), ApiError> {
    match p.op {
        op if op.sets() => {
            let v = match p.value.as_deref() {
                None | Some("") => false,
                Some(_) => p.bool_value()?,
            };
            map.insert(key, v);
            Ok(())
        }
        Op::Remove => map.remove(&key).map(|_| ()).ok_or_else(|| {
            ApiError::bad_request(format!("Cannot remove '{key}': it does not exist"))
        }),
        _ => Err(p.invalid_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_op_outside_the_enum_is_a_validation_error() {
        let e = parse(
            br#"{"patchOperations":[{"op":"replace","path":"/a"},{"op":"bogus","path":"/a"}]}"#,
        )
        .unwrap_err();
        assert_eq!((e.status, e.error_type), (400, "ValidationException"));
        assert!(
            e.message
                .contains("Value 'bogus' at 'patchOperations.2.member.op'"),
            "{}",
            e.message
        );
        // Every bad op is listed, as AWS lists them; the dispatcher names the input.
        let e = parse(
            br#"{"patchOperations":[{"op":"wrong","path":"/a"},{"op":"replace","path":"/a"},{"op":"x","path":"/a"}]}"#,
        )
        .unwrap_err();
        let e = crate::admin::enums::name_input(e, "UpdateRestApi");
        assert_eq!(e.message, "2 validation errors detected: Value 'wrong' at 'updateRestApiInput.patchOperations.1.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]; Value 'x' at 'updateRestApiInput.patchOperations.3.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]");
    }

    fn op(op: Op, path: &str, value: Option<&str>) -> PatchOp {
        PatchOp {
            op,
            path: path.into(),
            value: value.map(String::from),
            from: None,
        }
    }

    #[test]
    fn parses_operations_and_refuses_bad_ones() {
        let ops = parse(
            br#"{"patchOperations":[{"op":"replace","path":"/name","value":"x"},{"op":"remove","path":"/description"}]}"#,
        )
        .unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].op, Op::Replace);
        assert_eq!(ops[1].value, None);
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"{}").unwrap().is_empty());
        assert_eq!(
            parse(br#"{"patchOperations":[{"op":"frob","path":"/x"}]}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse(br#"{"patchOperations":[{"op":"add","path":"x"}]}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(parse(b"{not json").unwrap_err().status, 400);
        assert_eq!(
            parse(br#"{"patchOperations":[{"op":"add","path":"/x","value":3}]}"#)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn segments_unescape() {
        let p = op(
            Op::Replace,
            "/~1pets~1{petId}/GET/throttling/rateLimit",
            None,
        );
        assert_eq!(
            p.segments(),
            ["/pets/{petId}", "GET", "throttling", "rateLimit"]
        );
        assert_eq!(p.raw_segments()[0], "~1pets~1{petId}");
        assert_eq!(unescape("a~01~1b"), "a~1/b");
        assert_eq!(escape("a~1/b"), "a~01~1b");
        assert_eq!(unescape(&escape("x/~y")), "x/~y");
    }

    #[test]
    fn typed_values() {
        assert!(op(Op::Replace, "/x", Some("TRUE")).bool_value().unwrap());
        assert!(op(Op::Replace, "/x", Some("yes")).bool_value().is_err());
        assert!(op(Op::Remove, "/x", Some("true")).bool_value().is_err());
        assert_eq!(
            op(Op::Replace, "/x", Some("300"))
                .int_value(0, 3600)
                .unwrap(),
            300
        );
        assert!(op(Op::Replace, "/x", Some("3601"))
            .int_value(0, 3600)
            .is_err());
        assert!(op(Op::Replace, "/x", None).int_value(0, 3600).is_err());
        assert_eq!(
            op(Op::Replace, "/x", Some("12.5"))
                .f64_value(0.0, 1e9)
                .unwrap(),
            12.5
        );
        assert!(op(Op::Replace, "/x", Some("NaN"))
            .f64_value(0.0, 1e9)
            .is_err());
        assert!(op(Op::Replace, "/x", Some("-1"))
            .f64_value(0.0, 1e9)
            .is_err());
        assert_eq!(
            op(Op::Replace, "/x", Some("INFO"))
                .enum_value(&["OFF", "INFO"])
                .unwrap(),
            "INFO"
        );
        assert!(op(Op::Replace, "/x", Some("info"))
            .enum_value(&["OFF", "INFO"])
            .is_err());
        assert_eq!(op(Op::Remove, "/x", None).optional_string().unwrap(), None);
        assert_eq!(
            op(Op::Replace, "/x", Some("d")).optional_string().unwrap(),
            Some("d".into())
        );
        assert!(op(Op::Replace, "/x", Some("")).required_string().is_err());
        assert!(op(Op::Move, "/x", Some("a")).optional_string().is_err());
    }

    #[test]
    fn maps() {
        let mut m = BTreeMap::new();
        apply_to_map(&mut m, "k".into(), &op(Op::Add, "/m/k", Some("v"))).unwrap();
        assert_eq!(m["k"], "v");
        apply_to_map(&mut m, "k".into(), &op(Op::Remove, "/m/k", None)).unwrap();
        assert!(apply_to_map(&mut m, "k".into(), &op(Op::Remove, "/m/k", None)).is_err());
        let mut f = BTreeMap::new();
        apply_to_flag_map(&mut f, "p".into(), &op(Op::Add, "/f/p", None)).unwrap();
        assert!(!f["p"]);
        apply_to_flag_map(&mut f, "p".into(), &op(Op::Replace, "/f/p", Some("true"))).unwrap();
        assert!(f["p"]);
        assert!(
            apply_to_flag_map(&mut f, "p".into(), &op(Op::Replace, "/f/p", Some("x"))).is_err()
        );
    }
}
