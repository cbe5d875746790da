//! TypeScript declarations (`apigClient.d.ts`) for the JavaScript client: one type per model
//! (its JSON Schema as a TypeScript type, best effort), one parameters interface and one
//! typed method per operation.
//!
//! Schema → type: `type` string/number/integer/boolean/null/array/object, `enum` (a union of
//! literals), `$ref` to another model of the API (its type), `oneOf`/`anyOf` (a union),
//! `allOf` (an intersection), `properties`/`required` (optional members unless required),
//! `additionalProperties` (an index signature when true or a schema; none otherwise, so an
//! object literal with an unknown member does not type-check). Everything else (formats,
//! patterns, bounds, `not`, local `#/definitions` references) becomes `unknown` or is not
//! expressed.

use super::javascript::{literal, summary};
use super::operations::Operation;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tollgate_proto::model::{model_url, Model};

/// How deep a schema is followed before its type is `unknown`.
const MAX_DEPTH: usize = 32;

/// The names the declarations use themselves (theirs and TypeScript's global types they
/// refer to); a model with one of them is renamed.
const RESERVED: [&str; 12] = [
    "ClientConfig",
    "AdditionalParams",
    "ApiResponse",
    "ApiError",
    "ApiClient",
    "ParamValue",
    "Array",
    "Date",
    "Error",
    "Promise",
    "Record",
    "Uint8Array",
];

/// The TypeScript name of model `name`.
fn type_name(name: &str) -> String {
    if RESERVED.contains(&name) || name.ends_with("Params") {
        format!("{name}Model")
    } else {
        name.to_string()
    }
}

/// A property name: bare when it is an identifier, else a string literal.
fn member(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        name.to_string()
    } else {
        literal(name)
    }
}

struct Schemas<'a> {
    api_id: &'a str,
    models: &'a BTreeMap<String, Model>,
}

impl Schemas<'_> {
    fn ts(&self, s: &Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return "unknown".into();
        }
        let Value::Object(o) = s else {
            return "unknown".into();
        };
        if let Some(Value::String(r)) = o.get("$ref") {
            return r
                .strip_prefix(&model_url(self.api_id, ""))
                .filter(|n| self.models.contains_key(*n))
                .map_or_else(|| "unknown".into(), type_name);
        }
        if let Some(Value::Array(values)) = o.get("enum") {
            if !values.is_empty() {
                return values
                    .iter()
                    .map(|v| match v {
                        Value::Object(_) | Value::Array(_) => "unknown".to_string(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
            }
        }
        for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
            if let Some(Value::Array(parts)) = o.get(key) {
                if !parts.is_empty() {
                    let parts: Vec<String> = parts
                        .iter()
                        .map(|p| format!("({})", self.ts(p, depth + 1)))
                        .collect();
                    return parts.join(joiner);
                }
            }
        }
        match o.get("type") {
            Some(Value::String(t)) => self.of_type(t, o, depth),
            Some(Value::Array(ts)) => {
                let parts: Vec<String> = ts
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|t| format!("({})", self.of_type(t, o, depth)))
                    .collect();
                if parts.is_empty() {
                    "unknown".into()
                } else {
                    parts.join(" | ")
                }
            }
            _ if o.contains_key("properties") => self.object(o, depth),
            _ => "unknown".into(),
        }
    }

    fn of_type(&self, t: &str, o: &serde_json::Map<String, Value>, depth: usize) -> String {
        match t {
            "string" => "string".into(),
            "number" | "integer" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => match o.get("items") {
                Some(items @ Value::Object(_)) => format!("Array<{}>", self.ts(items, depth + 1)),
                _ => "Array<unknown>".into(),
            },
            "object" => self.object(o, depth),
            _ => "unknown".into(),
        }
    }

    fn object(&self, o: &serde_json::Map<String, Value>, depth: usize) -> String {
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut members = Vec::new();
        if let Some(Value::Object(props)) = o.get("properties") {
            for (name, schema) in props {
                let optional = if required.contains(&name.as_str()) {
                    ""
                } else {
                    "?"
                };
                members.push(format!(
                    "{}{optional}: {}",
                    member(name),
                    self.ts(schema, depth + 1)
                ));
            }
        }
        match o.get("additionalProperties") {
            Some(Value::Bool(true)) => members.push("[key: string]: unknown".into()),
            Some(s @ Value::Object(_)) => {
                // Declared members must fit the index signature: widen it to unknown when
                // there are any.
                let t = if members.is_empty() {
                    self.ts(s, depth + 1)
                } else {
                    "unknown".into()
                };
                members.push(format!("[key: string]: {t}"));
            }
            _ => {}
        }
        if members.is_empty() {
            if o.get("additionalProperties") == Some(&Value::Bool(false)) {
                return "Record<string, never>".into();
            }
            return "Record<string, unknown>".into();
        }
        format!("{{ {} }}", members.join("; "))
    }
}

const PREAMBLE: &str = "export declare const DEFAULT_ENDPOINT: string;
export declare const REGION: string;

export interface ClientConfig {
  /** The invoke URL of the stage (default DEFAULT_ENDPOINT). */
  endpoint?: string;
  /** Sent as x-api-key to the methods that require an API key. */
  apiKey?: string;
  /** SigV4 credentials for AWS_IAM methods. */
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
  /** The region signatures are scoped to (default REGION). */
  region?: string;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string>;
}

export interface AdditionalParams {
  headers?: Record<string, string>;
  queryParams?: Record<string, string>;
  /** The verb of a call to an ANY method (default GET). */
  method?: string;
}

export interface ApiResponse<T> {
  status: number;
  headers: Record<string, string>;
  data: T;
}

export declare class ApiError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly data: unknown;
}

export type ParamValue = string | number | boolean;

export declare function signRequest(request: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  credentials: { accessKey: string; secretKey: string; sessionToken?: string };
  region: string;
  service: string;
  now?: Date;
}): Promise<Record<string, string>>;

";

/// `apigClient.d.ts`.
pub fn declarations(ops: &[Operation], api_id: &str, models: &BTreeMap<String, Model>) -> String {
    let schemas = Schemas { api_id, models };
    let mut out = String::from(
        "// Types for apigClient.js (generated by Tollgate's GetSdk from the API's models).\n\n",
    );
    out.push_str(PREAMBLE);
    for m in models.values() {
        let t = m
            .schema
            .as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .map_or_else(|| "unknown".into(), |s| schemas.ts(&s, 0));
        if let Some(d) = &m.description {
            let _ = writeln!(out, "/** {} */", d.replace("*/", "*\\/"));
        }
        let _ = writeln!(out, "export type {} = {t};\n", type_name(&m.name));
    }
    let model_type = |name: &Option<String>| {
        name.as_deref()
            .filter(|n| models.contains_key(*n))
            .map_or_else(|| "unknown".to_string(), type_name)
    };
    out.push_str("export interface ApiClient {\n");
    let mut params = String::new();
    for op in ops {
        let p_name = format!(
            "{}{}Params",
            op.name[..1].to_ascii_uppercase(),
            &op.name[1..]
        );
        let mut members = Vec::new();
        let mut any_required = false;
        for p in &op.path_params {
            members.push(format!("  {}: ParamValue;", member(p)));
            any_required = true;
        }
        for (n, required) in &op.query {
            let opt = if *required { "" } else { "?" };
            any_required |= required;
            members.push(format!("  {}{opt}: ParamValue | ParamValue[];", member(n)));
        }
        for (n, required) in &op.headers {
            let opt = if *required { "" } else { "?" };
            any_required |= required;
            members.push(format!("  {}{opt}: ParamValue;", member(n)));
        }
        let _ = writeln!(
            params,
            "export interface {p_name} {{\n{}\n}}\n",
            members.join("\n")
        );
        let body = match &op.request_model {
            Some(_) => format!("{} | string | Uint8Array", model_type(&op.request_model)),
            None => "unknown".into(),
        };
        let params_opt = if any_required { "" } else { "?" };
        let _ = writeln!(
            out,
            "  /** {} */\n  {}(params{params_opt}: {p_name}, body?: {body}, additionalParams?: AdditionalParams): Promise<ApiResponse<{}>>;",
            summary(op).replace("*/", "*\\/"),
            op.name,
            model_type(&op.response_model)
        );
    }
    out.push_str("}\n\n");
    out.push_str(&params);
    out.push_str("export declare function newClient(config?: ClientConfig): ApiClient;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn models() -> BTreeMap<String, Model> {
        let pet = Model {
            id: "m1".into(),
            name: "Pet".into(),
            description: None,
            schema: Some(
                json!({"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                      "kind": {"enum": ["cat", "dog"]},
                                      "x-tag": {"type": ["string", "null"]}}})
                .to_string(),
            ),
            content_type: "application/json".into(),
        };
        let pets = Model {
            id: "m2".into(),
            name: "Pets".into(),
            description: Some("All */ pets".into()),
            schema: Some(
                json!({"type": "array", "items": {"$ref": model_url("a1", "Pet")}}).to_string(),
            ),
            content_type: "application/json".into(),
        };
        [("Pet".to_string(), pet), ("Pets".to_string(), pets)].into()
    }

    #[test]
    fn schemas_become_types() {
        let m = models();
        let s = Schemas {
            api_id: "a1",
            models: &m,
        };
        let pet: Value = serde_json::from_str(m["Pet"].schema.as_deref().unwrap()).unwrap();
        assert_eq!(
            s.ts(&pet, 0),
            r#"{ age?: number; kind?: "cat" | "dog"; name: string; "x-tag"?: (string) | (null) }"#
        );
        assert_eq!(s.ts(&json!({"$ref": model_url("a1", "Pets")}), 0), "Pets");
        assert_eq!(type_name("ApiClient"), "ApiClientModel");
        assert_eq!(type_name("Promise"), "PromiseModel");
        assert_eq!(type_name("PetsGetParams"), "PetsGetParamsModel");
        assert_eq!(
            s.ts(&json!({"$ref": model_url("a1", "Nope")}), 0),
            "unknown"
        );
        assert_eq!(
            s.ts(
                &json!({"type": "object", "additionalProperties": {"type": "number"}}),
                0
            ),
            "{ [key: string]: number }"
        );
        assert_eq!(s.ts(&json!({"not": {}}), 0), "unknown");
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type": "array", "items": deep});
        }
        assert!(s.ts(&deep, 0).contains("unknown"));
    }

    #[test]
    fn declarations_type_each_method() {
        let op = Operation {
            name: "petsPost".into(),
            verb: "POST".into(),
            path: "/pets".into(),
            path_params: vec![],
            query: vec![],
            headers: vec![("x-trace".into(), false)],
            api_key: false,
            iam: true,
            content_type: "application/json".into(),
            request_model: Some("Pet".into()),
            response_model: Some("Pets".into()),
        };
        let d = declarations(&[op], "a1", &models());
        assert!(d.contains("petsPost(params?: PetsPostParams, body?: Pet | string | Uint8Array, additionalParams?: AdditionalParams): Promise<ApiResponse<Pets>>;"), "{d}");
        assert!(d.contains("export interface PetsPostParams {\n  \"x-trace\"?: ParamValue;\n}"));
        assert!(d.contains("/** All *\\/ pets */\nexport type Pets = Array<Pet>;"));
    }
}
