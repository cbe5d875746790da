//! botocore's service model of API Gateway (`tests/data/botocore/`, Apache-2.0, with its
//! LICENSE and NOTICE): the operations, and a check of an answer against an operation's output
//! shape — no member the shape does not define, every value of the shape's type (an enum's
//! value one of its values), recursively.
#![allow(dead_code)]

use serde_json::Value;

/// The service model.
pub struct Model(Value);

impl Model {
    /// Reads the copy in `tests/data/botocore/`.
    pub fn load() -> Model {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/botocore/apigateway-2015-07-09-service-2.json"
        );
        let text = std::fs::read_to_string(path).expect("the botocore model is in the tree");
        Model(serde_json::from_str(&text).expect("the botocore model is JSON"))
    }

    /// Every operation: (name, method, requestUri).
    pub fn operations(&self) -> Vec<(String, String, String)> {
        let ops = self.0["operations"].as_object().expect("operations");
        ops.iter()
            .map(|(name, op)| {
                (
                    name.clone(),
                    op["http"]["method"].as_str().unwrap_or("").to_string(),
                    op["http"]["requestUri"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn shape(&self, name: &str) -> &Value {
        &self.0["shapes"][name]
    }

    /// The output shape of `op`, if it has one.
    pub fn output_shape(&self, op: &str) -> Option<&str> {
        self.0["operations"][op]["output"]["shape"].as_str()
    }

    /// Checks `answer`, the JSON body of `op`'s success answer, against its output shape.
    pub fn check(&self, op: &str, answer: &Value) -> Result<(), String> {
        let shape = self
            .output_shape(op)
            .ok_or_else(|| format!("{op} has no output shape"))?;
        let mut errors = Vec::new();
        self.check_value(shape, answer, op, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{op}: {}\n{answer:#}", errors.join("; ")))
        }
    }

    /// The JSON names of a structure's body members (a member's `locationName` when it has
    /// one; members sent in headers or as the status are not in the body).
    pub fn body_members(&self, shape: &str) -> Vec<(String, String)> {
        let s = self.shape(shape);
        let Some(members) = s["members"].as_object() else {
            return Vec::new();
        };
        members
            .iter()
            .filter(|(_, m)| m.get("location").is_none())
            .map(|(name, m)| {
                let json = m["locationName"].as_str().unwrap_or(name).to_string();
                (json, m["shape"].as_str().unwrap_or("").to_string())
            })
            .collect()
    }

    fn check_value(&self, shape: &str, v: &Value, at: &str, errors: &mut Vec<String>) {
        let s = self.shape(shape);
        let kind = s["type"].as_str().unwrap_or("");
        let ok = match kind {
            "structure" => {
                let Some(obj) = v.as_object() else {
                    errors.push(format!("{at}: expected an object ({shape}), got {v}"));
                    return;
                };
                let members = self.body_members(shape);
                for (k, val) in obj {
                    match members.iter().find(|(json, _)| json == k) {
                        Some((_, member_shape)) => {
                            self.check_value(member_shape, val, &format!("{at}.{k}"), errors)
                        }
                        None => errors.push(format!("{at}: `{k}` is not a member of {shape}")),
                    }
                }
                true
            }
            "list" => {
                let Some(items) = v.as_array() else {
                    errors.push(format!("{at}: expected a list ({shape}), got {v}"));
                    return;
                };
                let member = s["member"]["shape"].as_str().unwrap_or("");
                for (i, item) in items.iter().enumerate() {
                    self.check_value(member, item, &format!("{at}[{i}]"), errors);
                }
                true
            }
            "map" => {
                let Some(obj) = v.as_object() else {
                    errors.push(format!("{at}: expected a map ({shape}), got {v}"));
                    return;
                };
                let value = s["value"]["shape"].as_str().unwrap_or("");
                for (k, val) in obj {
                    self.check_value(value, val, &format!("{at}[{k}]"), errors);
                }
                true
            }
            "string" => match (v.as_str(), s["enum"].as_array()) {
                (Some(x), Some(values)) => {
                    if !values.iter().any(|e| e.as_str() == Some(x)) {
                        errors.push(format!("{at}: `{x}` is not a value of {shape}"));
                    }
                    true
                }
                (Some(_), None) => true,
                (None, _) => false,
            },
            "boolean" => v.is_boolean(),
            "integer" | "long" => v.is_i64() || v.is_u64(),
            "double" | "float" => v.is_number(),
            // rest-json: epoch seconds.
            "timestamp" => v.is_number(),
            "blob" => v.is_string(),
            other => {
                errors.push(format!("{at}: shape {shape} of unknown type {other}"));
                true
            }
        };
        if !ok {
            errors.push(format!("{at}: expected a {kind} ({shape}), got {v}"));
        }
    }
}

/// Asserts that `answer` of `op` fits its output shape and holds every member of `present`.
pub fn assert_shape(model: &Model, op: &str, answer: &Value, present: &[&str]) {
    if let Err(e) = model.check(op, answer) {
        panic!("{e}");
    }
    for m in present {
        assert!(
            answer.get(*m).is_some_and(|v| !v.is_null()),
            "{op}: `{m}` missing in {answer:#}"
        );
    }
}
