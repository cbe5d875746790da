//! The function an AWS_PROXY integration URI names:
//! `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations`,
//! where the function ARN is `arn:{partition}:lambda:{region}:{account}:function:{name}` with
//! an optional `:{qualifier}`.

/// A function named by an integration URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function's name (what the node's function definitions are keyed by).
    pub name: String,
    /// The function ARN as the URI gives it (sent to the function as the invoked ARN).
    pub arn: String,
}

/// Parses a Lambda integration URI; the error says what is wrong with it.
pub fn parse_uri(uri: &str) -> Result<FunctionRef, String> {
    let bad = |why: &str| format!("invalid Lambda function URI {uri:?}: {why}");
    let rest = uri
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":apigateway:"))
        .map(|(_, r)| r)
        .ok_or_else(|| bad("it must start with arn:aws:apigateway:{region}:lambda:path/"))?;
    let (_region, rest) = rest.split_once(':').ok_or_else(|| bad("no region"))?;
    let rest = rest
        .strip_prefix("lambda:path/2015-03-31/functions/")
        .ok_or_else(|| bad("it must name lambda:path/2015-03-31/functions/{functionArn}"))?;
    let arn = rest
        .strip_suffix("/invocations")
        .ok_or_else(|| bad("it must end with /invocations"))?;
    let name = function_name(arn).ok_or_else(|| {
        bad("the function must be a function ARN (arn:aws:lambda:{region}:{account}:function:{name})")
    })?;
    Ok(FunctionRef {
        name: name.to_string(),
        arn: arn.to_string(),
    })
}

/// The name in `arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}]`.
fn function_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    if !(7..=8).contains(&parts.len())
        || parts[0] != "arn"
        || parts[1].is_empty()
        || parts[2] != "lambda"
        || parts[5] != "function"
    {
        return None;
    }
    let name = parts[6];
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !valid(name) {
        return None;
    }
    if let Some(q) = parts.get(7) {
        if q.is_empty() || !(q == &"$LATEST" || valid(q)) {
            return None;
        }
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations";

    #[test]
    fn names_the_function() {
        let f = parse_uri(URI).unwrap();
        assert_eq!(f.name, "echo");
        assert_eq!(f.arn, "arn:aws:lambda:us-east-1:123456789012:function:echo");
        let q = URI.replace("function:echo/", "function:echo:live/");
        assert_eq!(parse_uri(&q).unwrap().name, "echo");
    }

    #[test]
    fn refuses_other_uris() {
        for bad in [
            "http://example.com/",
            "arn:aws:apigateway:us-east-1:s3:path/bucket/key",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/echo/invocations",
            &URI.replace("/invocations", ""),
            &URI.replace("function:echo", "function:ec ho"),
            &URI.replace("function:echo", "function:"),
            &URI.replace(":lambda:us-east-1", ":s3:us-east-1"),
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }
}
