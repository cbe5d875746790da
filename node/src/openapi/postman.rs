//! A deployed stage as a Postman collection (v2.1), as GetExport answers with
//! `extensions=postman`: one folder per resource, one request per method, with the invoke URL
//! as the `baseUrl` variable, path parameters as Postman path variables, query and header
//! parameters, `x-api-key: {{apiKey}}` on keyed methods and AWS Signature (service
//! `execute-api`) on `AWS_IAM` ones.

use serde_json::{json, Map, Value};
use tollgate_proto::model::{AuthorizationType, Deployment, Method, RestApi};

/// The collection format written.
pub const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// The collection of `deployment` (served at `invoke_url`, signed for `region`).
pub fn collection(api: &RestApi, deployment: &Deployment, invoke_url: &str, region: &str) -> Value {
    let mut folders: Vec<(String, Value)> = Vec::new();
    let mut uses_key = false;
    let mut uses_iam = false;
    for (id, r) in &deployment.resources {
        if r.methods.is_empty() {
            continue;
        }
        let Some(path) = RestApi::resource_path(&deployment.resources, id) else {
            continue;
        };
        let items: Vec<Value> = r
            .methods
            .iter()
            .map(|(verb, m)| {
                uses_key |= m.api_key_required;
                uses_iam |= m.authorization_type == AuthorizationType::AwsIam;
                request(&path, verb, m, region)
            })
            .collect();
        folders.push((path.clone(), json!({"name": path, "item": items})));
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    let mut variables = vec![json!({"key": "baseUrl", "value": invoke_url, "type": "string"})];
    if uses_key {
        variables.push(json!({"key": "apiKey", "value": "", "type": "string"}));
    }
    if uses_iam {
        variables.push(json!({"key": "accessKey", "value": "", "type": "string"}));
        variables.push(json!({"key": "secretKey", "value": "", "type": "string"}));
    }
    let mut info = Map::new();
    info.insert("name".into(), json!(api.settings.name));
    if let Some(d) = &api.settings.description {
        info.insert("description".into(), json!(d));
    }
    info.insert("schema".into(), json!(SCHEMA));
    json!({
        "info": info,
        "item": folders.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
        "variable": variables,
    })
}

fn request(path: &str, verb: &str, m: &Method, region: &str) -> Value {
    // Postman has no ANY: such a method is sent as GET (change it per request).
    let method = if verb == "ANY" { "GET" } else { verb };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => format!(":{}", p.strip_suffix('+').unwrap_or(p)),
                None => s.to_string(),
            },
        )
        .collect();
    let variables: Vec<Value> = segments
        .iter()
        .filter_map(|s| s.strip_prefix(':'))
        .map(|p| json!({"key": p, "value": ""}))
        .collect();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for (p, required) in &m.request_parameters {
        if let Some(q) = p
            .strip_prefix("method.request.querystring.")
            .or_else(|| p.strip_prefix("method.request.multivaluequerystring."))
        {
            query.push(json!({"key": q, "value": "", "disabled": !required}));
        } else if let Some(h) = p.strip_prefix("method.request.header.") {
            headers.push(json!({"key": h, "value": "", "disabled": !required}));
        }
    }
    if m.api_key_required {
        headers.push(json!({"key": "x-api-key", "value": "{{apiKey}}"}));
    }
    let mut raw = format!("{{{{baseUrl}}}}/{}", segments.join("/"));
    let enabled: Vec<String> = query
        .iter()
        .filter(|q| q["disabled"] == false)
        .filter_map(|q| q["key"].as_str().map(|k| format!("{k}=")))
        .collect();
    if !enabled.is_empty() {
        raw.push('?');
        raw.push_str(&enabled.join("&"));
    }
    let mut url = Map::new();
    url.insert("raw".into(), json!(raw));
    url.insert("host".into(), json!(["{{baseUrl}}"]));
    url.insert("path".into(), json!(segments));
    if !query.is_empty() {
        url.insert("query".into(), json!(query));
    }
    if !variables.is_empty() {
        url.insert("variable".into(), json!(variables));
    }
    let mut req = Map::new();
    req.insert("method".into(), json!(method));
    req.insert("header".into(), json!(headers));
    req.insert("url".into(), Value::Object(url));
    if let Some(ct) = m.request_models.keys().next() {
        let language = if ct.contains("json") { "json" } else { "text" };
        req.insert(
            "body".into(),
            json!({"mode": "raw", "raw": "", "options": {"raw": {"language": language}}}),
        );
    }
    if m.authorization_type == AuthorizationType::AwsIam {
        req.insert(
            "auth".into(),
            json!({"type": "awsv4", "awsv4": [
                {"key": "service", "value": "execute-api", "type": "string"},
                {"key": "region", "value": region, "type": "string"},
                {"key": "accessKey", "value": "{{accessKey}}", "type": "string"},
                {"key": "secretKey", "value": "{{secretKey}}", "type": "string"}
            ]}),
        );
    }
    json!({"name": format!("{verb} {path}"), "request": req})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tollgate_proto::model::Resource;

    fn deployment() -> (RestApi, Deployment) {
        let mut api = RestApi::default();
        api.settings.name = "pets".into();
        let get = Method {
            http_method: "GET".into(),
            api_key_required: true,
            request_parameters: [
                ("method.request.path.petId".to_string(), true),
                ("method.request.querystring.verbose".to_string(), true),
                ("method.request.header.x-trace".to_string(), false),
            ]
            .into(),
            ..Default::default()
        };
        let post = Method {
            http_method: "POST".into(),
            authorization_type: AuthorizationType::AwsIam,
            request_models: [("application/json".to_string(), "Pet".to_string())].into(),
            ..Default::default()
        };
        let mut resources = BTreeMap::new();
        resources.insert(
            "r".to_string(),
            Resource {
                id: "r".into(),
                parent_id: None,
                path_part: String::new(),
                methods: BTreeMap::new(),
            },
        );
        resources.insert(
            "p".to_string(),
            Resource {
                id: "p".into(),
                parent_id: Some("r".into()),
                path_part: "pets".into(),
                methods: [("POST".to_string(), Box::new(post))].into(),
            },
        );
        resources.insert(
            "i".to_string(),
            Resource {
                id: "i".into(),
                parent_id: Some("p".into()),
                path_part: "{petId}".into(),
                methods: [("GET".to_string(), Box::new(get))].into(),
            },
        );
        let d = Deployment {
            root_resource_id: "r".into(),
            resources: resources.into(),
            ..Default::default()
        };
        (api, d)
    }

    #[test]
    fn one_request_per_method_with_parameters_key_and_signature() {
        let (api, d) = deployment();
        let c = collection(
            &api,
            &d,
            "http://127.0.0.1:8080/restapis/a/prod/_user_request_",
            "eu-west-1",
        );
        assert_eq!(c["info"]["schema"], SCHEMA);
        assert_eq!(
            c["variable"][0]["value"],
            "http://127.0.0.1:8080/restapis/a/prod/_user_request_"
        );
        assert_eq!(c["item"][0]["name"], "/pets");
        assert_eq!(c["item"][1]["name"], "/pets/{petId}");
        let get = &c["item"][1]["item"][0]["request"];
        assert_eq!(get["url"]["raw"], "{{baseUrl}}/pets/:petId?verbose=");
        assert_eq!(get["url"]["variable"][0]["key"], "petId");
        assert!(get["header"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["key"] == "x-api-key" && h["value"] == "{{apiKey}}"));
        let post = &c["item"][0]["item"][0]["request"];
        assert_eq!(post["auth"]["type"], "awsv4");
        assert_eq!(post["auth"]["awsv4"][1]["value"], "eu-west-1");
        assert_eq!(post["body"]["options"]["raw"]["language"], "json");
        let keys: Vec<&str> = c["variable"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["key"].as_str())
            .collect();
        assert_eq!(keys, ["baseUrl", "apiKey", "accessKey", "secretKey"]);
    }
}
