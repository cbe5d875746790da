//! A `COGNITO_USER_POOLS` token check with a warm JWKS: what the authorization phase does per
//! request (RS256 signature, claim checks, claims as text). Run with
//! `cargo bench -p tollgate-node --bench jwt -- --warm-up-time 1 --measurement-time 4`.

use base64::Engine;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use tollgate_node::dataplane::authorizer::jwt::{self, KeySet, Rules};

const ISSUER_PEM: &[u8] = include_bytes!("../tests/data/jwt/issuer.pem");
const ISSUER_JWKS: &[u8] = include_bytes!("../tests/data/jwt/issuer.jwks.json");
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn token(now: i64) -> String {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(ISSUER_PEM).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let head = json!({"alg": "RS256", "typ": "JWT", "kid": "test-rsa-1"});
    // A Cognito identity token's usual claims.
    let claims = json!({"iss": ISS, "sub": "5f1c0e2a-1b2c-4d5e-8f90-123456789abc",
        "aud": "7lhlkkfbfb4q5kpp90urffao", "token_use": "id", "auth_time": now - 60,
        "exp": now + 3600, "iat": now - 60, "email": "a@example.com", "email_verified": true,
        "cognito:username": "alice", "cognito:groups": ["admins"]});
    let input = format!(
        "{}.{}",
        b64(head.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn bench(c: &mut Criterion) {
    let keys = KeySet::parse(ISSUER_JWKS).unwrap();
    let now = 1_800_000_000;
    let t = token(now);
    let rules = Rules {
        issuer: ISS,
        cognito: true,
        audiences: &[],
        scopes: &[],
    };
    c.bench_function(
        "jwt: RS256 id token, warm JWKS (peek, verify, claims as text)",
        |b| {
            b.iter(|| {
                let token = jwt::token_of(black_box(t.as_bytes())).unwrap();
                let (iss, _) = jwt::peek(token).unwrap();
                assert_eq!(iss, ISS);
                let claims = jwt::verify(token, &keys, &rules, now).unwrap();
                black_box(jwt::claims_text(&claims))
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
