//! Fuzz target: IAM policy documents (`crate::iam::policy`) and IAM Query forms
//! (`crate::admin::iam`). Mutated documents never panic when parsed or, once parsed,
//! evaluated against mutated ARNs and addresses; a document that parses parses the same
//! again (no hidden state); mutated forms are read into a call or refused with a 400.

use super::{run, Mutator};
use crate::admin::iam::{parse_form, Call};
use crate::iam::policy::{arn_matches, glob, Caller, Cidr, Kind, Policy, Request};
use rand::Rng;

const POLICIES: &[&str] = &[
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:api1/*/GET/*"},{"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:execute-api:us-east-1:000000000000:api1/prod/POST/pets","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}]}"#,
    r#"{"Statement":{"Sid":"x","Effect":"Allow","Principal":{"AWS":["000000000000","arn:aws:iam::000000000000:user/alice","*"]},"Action":["execute-api:*"],"Resource":"execute-api:/prod/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1"}}}}"#,
];

const TOKENS: &[&str] = &[
    "*",
    "?",
    ":",
    "/",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "Allow",
    "Deny",
    "Principal",
    "NotPrincipal",
    "Condition",
    "IpAddress",
    "aws:SourceIp",
    "/33",
    "/0",
    "::",
    "arn:aws:iam::",
    ":root",
    "execute-api:/",
    "Action",
    "Resource",
    "2012-10-17",
];

const ARNS: &[&str] = &[
    "arn:aws:execute-api:us-east-1:000000000000:api1/prod/GET/pets",
    "arn:aws:execute-api:us-east-1:000000000000:api1/prod/POST/",
    "",
    ":::::",
];

const FORMS: &[&str] = &[
    "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fteam%2F",
    "Action=PutUserPolicy&UserName=a&PolicyName=p&PolicyDocument=%7B%7D",
    "Action=ListUsers&MaxItems=10&Marker=b",
    "Action=UpdateAccessKey&UserName=a&AccessKeyId=AKIA&Status=Inactive",
];

#[test]
fn policies_and_forms_never_panic() {
    let mut parsed = 0u64;
    let iterations = run("iam policies and forms", 2_000, |m: &mut Mutator| {
        let base = *m.pick(POLICIES);
        let doc = m.mutate_str(base, TOKENS);
        let kind = if m.rng.gen() {
            Kind::Identity
        } else {
            Kind::Resource
        };
        if let Ok(p) = Policy::parse(&doc, kind) {
            parsed += 1;
            assert_eq!(Policy::parse(&doc, kind).as_ref(), Ok(&p));
            let base = *m.pick(ARNS);
            let arn = m.mutate_str(base, TOKENS);
            let relative = arn.rsplit_once("api1/").map_or("", |(_, r)| r);
            let ip = if m.rng.gen() {
                std::net::IpAddr::from([m.rng.gen(), 0, 0, 1])
            } else {
                std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, m.rng.gen()])
            };
            let caller_arn = m.mutate_str("arn:aws:iam::000000000000:user/alice", TOKENS);
            for caller in [
                Caller::Anonymous,
                Caller::Root {
                    account: "000000000000",
                },
                Caller::User {
                    account: "000000000000",
                    arn: &caller_arn,
                },
            ] {
                let _ = p.evaluate(&Request {
                    arn: &arn,
                    api_relative: relative,
                    source_ip: ip,
                    caller,
                });
            }
        }
        let pattern = m.mutate_str("arn:aws:execute-api:*:*:api1/*/GET/*", TOKENS);
        let base = *m.pick(ARNS);
        let text = m.mutate_str(base, TOKENS);
        let _ = (arn_matches(&pattern, &text), glob(&pattern, &text));
        let _ = Cidr::parse(&m.mutate_str("10.0.0.0/8", TOKENS));
        let base = *m.pick(FORMS);
        let form = m.mutate(base.as_bytes(), &["&", "=", "%", "%2", "+", "Action="]);
        match parse_form(&form).and_then(|f| Call::parse(&f)) {
            Ok(call) => assert!(!call.action().is_empty()),
            Err(e) => assert_eq!(e.status, 400, "{e}"),
        }
    });
    assert!(
        parsed > 0 && parsed < iterations,
        "mutations both kept and broke documents"
    );
}
