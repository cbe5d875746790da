//! The events an authorizer function receives, as AWS builds them. `TOKEN`: `type`,
//! `authorizationToken` (the identity header's value) and `methodArn`. `REQUEST`: `type`,
//! `methodArn`, and the request as a Lambda proxy event (format 1.0, built by
//! [`crate::dataplane::lambda::event`]) without its body: `resource`, `path`, `httpMethod`,
//! `headers`, `multiValueHeaders`, `queryStringParameters`,
//! `multiValueQueryStringParameters`, `pathParameters`, `stageVariables`, `requestContext`.

use crate::dataplane::lambda::event::{self, EventInput};
use serde_json::{json, Value};

/// A `TOKEN` authorizer's event.
pub fn token(token: &str, method_arn: &str) -> Vec<u8> {
    json!({
        "type": "TOKEN",
        "authorizationToken": token,
        "methodArn": method_arn,
    })
    .to_string()
    .into_bytes()
}

/// A `REQUEST` authorizer's event for the request `input` describes.
pub fn request(input: &EventInput<'_>, method_arn: &str) -> Vec<u8> {
    let mut e = event::value(input);
    if let Some(o) = e.as_object_mut() {
        o.remove("body");
        o.remove("isBase64Encoded");
        o.insert("type".into(), Value::String("REQUEST".into()));
        o.insert("methodArn".into(), Value::String(method_arn.into()));
    }
    e.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/pets/7";

    #[test]
    fn token_event() {
        let e: Value = serde_json::from_slice(&token("Bearer x\"y", ARN)).unwrap();
        assert_eq!(
            e,
            json!({"type": "TOKEN", "authorizationToken": "Bearer x\"y", "methodArn": ARN})
        );
    }

    #[test]
    fn request_event() {
        let headers: &[(&[u8], &[u8])] = &[(b"Host", b"h"), (b"X-Key", b"k1"), (b"X-Key", b"k2")];
        let vars = [("env".into(), "dev".into())];
        let input = EventInput {
            tls: None,
            sent_path: None,
            http_method: "GET",
            path: "/pets/7",
            query: "q=a%20b&q=c",
            headers,
            body: b"secret body",
            path_parameters: &[("id", "7")],
            resource_path: "/pets/{id}",
            resource_id: "r1",
            api_id: "abc",
            stage: "dev",
            deployment_id: "d1",
            stage_variables: &vars,
            binary_media_types: &[],
            request_id: "0000",
            now_ms: 0,
            source_ip: "127.0.0.1",
            api_key: None,
            account_id: "123456789012",
            identity: None,
            authorizer: None,
        };
        let e: Value = serde_json::from_slice(&request(&input, ARN)).unwrap();
        assert_eq!(e["type"], "REQUEST");
        assert_eq!(e["methodArn"], ARN);
        assert_eq!(e["resource"], "/pets/{id}");
        assert_eq!(e["path"], "/pets/7");
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(e["headers"]["X-Key"], "k2");
        assert_eq!(e["multiValueHeaders"]["X-Key"], json!(["k1", "k2"]));
        assert_eq!(e["queryStringParameters"], json!({"q": "c"}));
        assert_eq!(
            e["multiValueQueryStringParameters"]["q"],
            json!(["a b", "c"])
        );
        assert_eq!(e["pathParameters"], json!({"id": "7"}));
        assert_eq!(e["stageVariables"], json!({"env": "dev"}));
        assert_eq!(e["requestContext"]["stage"], "dev");
        assert_eq!(e["requestContext"]["resourcePath"], "/pets/{id}");
        assert!(e.get("body").is_none() && e.get("isBase64Encoded").is_none());
    }
}
