//! The operations a generated client offers: one per resource and verb of the deployment the
//! stage serves, with the parameters, body and protection of each method.

use tollgate_proto::model::{AuthorizationType, Deployment, Method, RestApi};

/// One method of the deployed API, as a client calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The client's method name (`petsPetIdGet`), unique within the client.
    pub name: String,
    /// The HTTP verb (`ANY`: the caller picks one per call).
    pub verb: String,
    /// The resource path (`/pets/{petId}`).
    pub path: String,
    /// The path's parameters, in order (`petId`; a greedy `{proxy+}` as `proxy`).
    pub path_params: Vec<String>,
    /// Query string parameters: (name, required).
    pub query: Vec<(String, bool)>,
    /// Header parameters: (name, required).
    pub headers: Vec<(String, bool)>,
    /// The method requires an API key (`x-api-key`).
    pub api_key: bool,
    /// The method requires SigV4-signed requests (`AWS_IAM`).
    pub iam: bool,
    /// The media type a body is sent as (the first request model's, else JSON).
    pub content_type: String,
    /// The request model's name, if any.
    pub request_model: Option<String>,
    /// The model of the first 2xx method response (JSON), if any.
    pub response_model: Option<String>,
}

/// The operations of `deployment`, sorted by path then verb.
pub fn operations(deployment: &Deployment) -> Vec<Operation> {
    let mut found: Vec<(String, String, &Method)> = Vec::new();
    for (id, resource) in &deployment.resources {
        let Some(path) = RestApi::resource_path(&deployment.resources, id) else {
            continue;
        };
        for (verb, method) in &resource.methods {
            found.push((path.clone(), verb.clone(), method));
        }
    }
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut names: Vec<String> = Vec::new();
    found
        .into_iter()
        .map(|(path, verb, m)| {
            let name = unique(method_name(&path, &verb), &names);
            names.push(name.clone());
            operation(name, path, verb, m)
        })
        .collect()
}

fn operation(name: String, path: String, verb: String, m: &Method) -> Operation {
    let path_params = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.strip_suffix('+').unwrap_or(s).to_string())
        .collect();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for (p, required) in &m.request_parameters {
        if let Some(q) = p
            .strip_prefix("method.request.querystring.")
            .or_else(|| p.strip_prefix("method.request.multivaluequerystring."))
        {
            if !query.iter().any(|(n, _): &(String, bool)| n == q) {
                query.push((q.to_string(), *required));
            }
        } else if let Some(h) = p.strip_prefix("method.request.header.") {
            headers.push((h.to_string(), *required));
        }
    }
    let (content_type, request_model) = match m.request_models.iter().next() {
        Some((ct, model)) => (ct.clone(), Some(model.clone())),
        None => ("application/json".to_string(), None),
    };
    let response_model = m
        .method_responses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .find_map(|(_, r)| r.response_models.get("application/json").cloned());
    Operation {
        name,
        verb,
        path,
        path_params,
        query,
        headers,
        api_key: m.api_key_required,
        iam: m.authorization_type == AuthorizationType::AwsIam,
        content_type,
        request_model,
        response_model,
    }
}

/// AWS's naming: the path's words in camel case, then the verb (`/pets/{petId}` GET →
/// `petsPetIdGet`; `/` → `rootGet`).
pub fn method_name(path: &str, verb: &str) -> String {
    let mut name = String::new();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.is_empty() {
        name.push_str("Root");
    }
    let mut verb_word = verb.to_ascii_lowercase();
    if let Some(first) = verb_word.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    name.push_str(&verb_word);
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// `name`, or `name2`, `name3`, … when taken (`/a-b` and `/aB` both make `aBGet`).
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}{n}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws() {
        assert_eq!(method_name("/pets/{petId}", "GET"), "petsPetIdGet");
        assert_eq!(method_name("/", "GET"), "rootGet");
        assert_eq!(method_name("/pets", "POST"), "petsPost");
        assert_eq!(method_name("/{proxy+}", "ANY"), "proxyAny");
        assert_eq!(
            method_name("/v1/pet-food.json", "DELETE"),
            "v1PetFoodJsonDelete"
        );
        assert_eq!(method_name("/2fa", "GET"), "_2faGet");
    }

    #[test]
    fn names_are_unique() {
        let taken = vec!["aBGet".to_string(), "aBGet2".to_string()];
        assert_eq!(unique("aBGet".into(), &taken), "aBGet3");
        assert_eq!(unique("cGet".into(), &taken), "cGet");
    }
}
