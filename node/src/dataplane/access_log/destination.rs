//! Where a stage's access log goes: the `destinationArn` (a CloudWatch Logs log group or a
//! Firehose delivery stream, as AWS takes them) names a file of the node's access-log folder.

/// Longest log group name CloudWatch Logs takes.
const MAX_GROUP: usize = 512;
/// The prefix AWS requires of a Firehose stream that receives access logs.
const FIREHOSE_PREFIX: &str = "amazon-apigateway-";

/// The log group (or delivery stream) name an access-log destination ARN names, or why the
/// ARN is refused (AWS's wording where known).
pub fn name_of(arn: &str) -> Result<&str, String> {
    let invalid = || format!("Invalid ARN specified in the request: {arn}");
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(_region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    if partition.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let name = match service {
        "logs" => {
            let group = rest.strip_prefix("log-group:").ok_or_else(invalid)?;
            // The console shows log group ARNs with `:*` (all streams); AWS takes both.
            group.strip_suffix(":*").unwrap_or(group)
        }
        "firehose" => {
            let stream = rest.strip_prefix("deliverystream/").ok_or_else(invalid)?;
            if !stream.starts_with(FIREHOSE_PREFIX) {
                return Err(format!(
                    "The Firehose delivery stream name must begin with '{FIREHOSE_PREFIX}': {arn}"
                ));
            }
            stream
        }
        _ => {
            return Err(format!(
                "Invalid ARN specified in the request: {arn}. The access log destination must \
                 be a CloudWatch Logs log group or a Firehose delivery stream"
            ))
        }
    };
    let ok = !name.is_empty()
        && name.len() <= MAX_GROUP
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(invalid())
    }
}

/// The file name (in the access-log folder) of a log group: its name with every character
/// other than `A-Za-z0-9._-` made `_`, leading `_` and `.` dropped, and `.log` added
/// (`/aws/apigateway/pets` → `aws_apigateway_pets.log`).
pub fn file_name(group: &str) -> String {
    let mapped: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['_', '.']);
    let stem = if trimmed.is_empty() {
        "access"
    } else {
        trimmed
    };
    format!("{stem}.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_groups_and_streams() {
        assert_eq!(
            name_of("arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/pets").unwrap(),
            "/aws/apigateway/pets"
        );
        assert_eq!(
            name_of("arn:aws:logs:eu-west-1:123456789012:log-group:my-group:*").unwrap(),
            "my-group"
        );
        assert_eq!(
            name_of("arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-x")
                .unwrap(),
            "amazon-apigateway-x"
        );
        for bad in [
            "",
            "not-an-arn",
            "arn:aws:logs:us-east-1:123:log-group:g",
            "arn:aws:logs:us-east-1:123456789012:log-group:",
            "arn:aws:logs:us-east-1:123456789012:loggroup:g",
            "arn:aws:logs:us-east-1:123456789012:log-group:bad name",
            "arn:aws:s3:us-east-1:123456789012:bucket",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/other",
        ] {
            assert!(name_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_stay_in_the_folder() {
        assert_eq!(file_name("/aws/apigateway/pets"), "aws_apigateway_pets.log");
        assert_eq!(file_name("../../etc/passwd"), "etc_passwd.log");
        assert!(!file_name("../x").contains('/'));
        assert_eq!(file_name("///"), "access.log");
        assert_eq!(file_name("a#b"), "a_b.log");
    }
}
