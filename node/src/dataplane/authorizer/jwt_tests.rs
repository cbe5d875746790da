use super::*;
use base64::Engine;
use serde_json::json;

const ISSUER_PEM: &[u8] = include_bytes!("../../../tests/data/jwt/issuer.pem");
const OTHER_PEM: &[u8] = include_bytes!("../../../tests/data/jwt/other.pem");
const ISSUER_JWKS: &[u8] = include_bytes!("../../../tests/data/jwt/issuer.jwks.json");
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
const NOW: i64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// An RS256 token signed with a PKCS#8 PEM key.
pub(crate) fn sign_rs256(pem: &[u8], kid: &str, claims: &Value) -> String {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let head = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
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

fn id_claims() -> Value {
    json!({"iss": ISS, "sub": "u-1", "aud": "client-a", "token_use": "id",
           "exp": NOW + 60, "iat": NOW - 60, "email": "a@example.com"})
}

fn rules<'a>(scopes: &'a [Box<str>], audiences: &'a [Box<str>]) -> Rules<'a> {
    Rules {
        issuer: ISS,
        cognito: true,
        audiences,
        scopes,
    }
}

#[test]
fn claim_checks_follow_api_gateway() {
    let none: &[Box<str>] = &[];
    let read: &[Box<str>] = &["pets/read".into()];
    let client_a: &[Box<str>] = &["client-a".into()];
    let with = |patch: Value| {
        let mut c = id_claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c.as_object().unwrap().clone()
    };
    let access = json!({"token_use": "access", "aud": null, "client_id": "client-a",
                        "scope": "openid pets/read"});
    for (name, claims, scopes, audiences, cognito, want) in [
        ("valid id token", with(json!({})), none, none, true, Ok(())),
        (
            "wrong issuer",
            with(json!({"iss": "https://evil"})),
            none,
            none,
            true,
            Err(U("wrong issuer")),
        ),
        (
            "no issuer",
            with(json!({"iss": null})),
            none,
            none,
            true,
            Err(U("wrong issuer")),
        ),
        (
            "expired",
            with(json!({"exp": NOW})),
            none,
            none,
            true,
            Err(U("expired")),
        ),
        (
            "no expiry",
            with(json!({"exp": null})),
            none,
            none,
            true,
            Err(U("no expiry")),
        ),
        (
            "expiry not a number",
            with(json!({"exp": "soon"})),
            none,
            none,
            true,
            Err(U("no expiry")),
        ),
        (
            "not yet valid",
            with(json!({"nbf": NOW + 1})),
            none,
            none,
            true,
            Err(U("not yet valid")),
        ),
        (
            "nbf reached",
            with(json!({"nbf": NOW})),
            none,
            none,
            true,
            Ok(()),
        ),
        (
            "cognito without token_use",
            with(json!({"token_use": null})),
            none,
            none,
            true,
            Err(U("no token_use")),
        ),
        (
            "oidc without token_use",
            with(json!({"token_use": null})),
            none,
            none,
            false,
            Ok(()),
        ),
        (
            "odd token_use",
            with(json!({"token_use": "refresh"})),
            none,
            none,
            true,
            Err(U("unknown token_use")),
        ),
        (
            "access token, no scopes on the method",
            with(access.clone()),
            none,
            none,
            true,
            Err(U("an access token on a method without scopes")),
        ),
        (
            "access token with a method scope",
            with(access.clone()),
            read,
            none,
            true,
            Ok(()),
        ),
        (
            "access token without the scope",
            with(json!({"token_use": "access", "scope": "openid"})),
            read,
            none,
            true,
            Err(U("no scope of the method")),
        ),
        (
            "access token, no scope claim",
            with(json!({"token_use": "access"})),
            read,
            none,
            true,
            Err(U("no scope of the method")),
        ),
        (
            "id token on a scoped method",
            with(json!({})),
            read,
            none,
            true,
            Err(U("an identity token on a method with scopes")),
        ),
        (
            "audience listed",
            with(json!({})),
            none,
            client_a,
            true,
            Ok(()),
        ),
        (
            "audience in an array",
            with(json!({"aud": ["x", "client-a"]})),
            none,
            client_a,
            true,
            Ok(()),
        ),
        (
            "wrong audience",
            with(json!({"aud": "client-b"})),
            none,
            client_a,
            true,
            Err(U("wrong audience")),
        ),
        (
            "access token's client_id listed",
            with(access.clone()),
            read,
            client_a,
            true,
            Ok(()),
        ),
        (
            "access token's wrong client_id",
            with(json!({"token_use": "access", "client_id": "b", "aud": null,
            "scope": "pets/read"})),
            read,
            client_a,
            true,
            Err(U("wrong audience")),
        ),
    ] {
        let r = Rules {
            cognito,
            ..rules(scopes, audiences)
        };
        assert_eq!(check_claims(&claims, &r, NOW), want, "{name}");
    }
}

#[test]
fn signed_tokens_are_verified_against_the_key_set() {
    let keys = KeySet::parse(ISSUER_JWKS).unwrap();
    assert!(keys.has("test-rsa-1"));
    let none: &[Box<str>] = &[];
    let r = rules(none, none);
    let good = sign_rs256(ISSUER_PEM, "test-rsa-1", &id_claims());
    let claims = verify(&good, &keys, &r, NOW).unwrap();
    assert_eq!(claims["email"], "a@example.com");
    // Another key claiming the issuer's kid.
    let forged = sign_rs256(OTHER_PEM, "test-rsa-1", &id_claims());
    assert_eq!(
        verify(&forged, &keys, &r, NOW),
        Err(U("bad signature")).map(|()| Map::new())
    );
    // A key the set does not hold.
    let unknown = sign_rs256(OTHER_PEM, "rotated-2", &id_claims());
    assert_eq!(
        verify(&unknown, &keys, &r, NOW).unwrap_err(),
        Failure::UnknownKid
    );
    // A tampered payload.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mut c = id_claims();
    c["sub"] = json!("admin");
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(
        verify(&parts.join("."), &keys, &r, NOW).unwrap_err(),
        U("bad signature")
    );
    // HS256 with the public modulus as its secret (algorithm confusion) and "none".
    for alg in ["HS256", "none"] {
        let head = json!({"alg": alg, "kid": "test-rsa-1"});
        let t = format!(
            "{}.{}.{}",
            b64(head.to_string().as_bytes()),
            parts[1],
            "AAAA"
        );
        assert!(verify(&t, &keys, &r, NOW).is_err(), "{alg}");
    }
    // Expired, checked after the signature.
    let mut old = id_claims();
    old["exp"] = json!(NOW - 1);
    let t = sign_rs256(ISSUER_PEM, "test-rsa-1", &old);
    assert_eq!(verify(&t, &keys, &r, NOW).unwrap_err(), U("expired"));
}

#[test]
fn key_sets_keep_only_asymmetric_signature_keys() {
    assert!(KeySet::parse(b"{}").is_err());
    assert!(KeySet::parse(b"not json").is_err());
    let sym = br#"{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}"#;
    assert!(KeySet::parse(sym).is_err());
    let v: Value = serde_json::from_slice(ISSUER_JWKS).unwrap();
    let mut rsa = v["keys"][0].clone();
    // A key marked for encryption, one without a kid, one whose alg is symmetric.
    let mut enc = rsa.clone();
    enc["use"] = json!("enc");
    let mut nokid = rsa.clone();
    nokid.as_object_mut().unwrap().remove("kid");
    let mut hs = rsa.clone();
    hs["alg"] = json!("HS256");
    let doc = json!({"keys": [enc, nokid, hs]}).to_string();
    assert!(KeySet::parse(doc.as_bytes()).is_err());
    rsa.as_object_mut().unwrap().remove("alg");
    let doc = json!({"keys": [rsa, {"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}).to_string();
    let set = KeySet::parse(doc.as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn tokens_come_with_or_without_bearer() {
    assert_eq!(token_of(b"abc.def.ghi"), Some("abc.def.ghi"));
    assert_eq!(token_of(b"Bearer abc.def.ghi"), Some("abc.def.ghi"));
    assert_eq!(token_of(b"bearer  abc"), Some("abc"));
    assert_eq!(token_of(b"Bearer "), None);
    assert_eq!(token_of(b""), None);
    assert_eq!(token_of(&[0xff, 0xfe]), None);
    let t = sign_rs256(ISSUER_PEM, "test-rsa-1", &id_claims());
    assert_eq!(peek(&t), Some((ISS.to_string(), "test-rsa-1".to_string())));
    assert_eq!(peek("x.y.z"), None);
}

#[test]
fn claims_read_as_api_gateway_gives_them() {
    let c = json!({"sub": "u", "exp": 1_700_000_000, "auth_time": 5, "email_verified": true,
                   "cognito:groups": ["a", "b"]});
    let t = claims_text(c.as_object().unwrap());
    let get = |k: &str| {
        t.iter()
            .find(|(n, _)| &**n == k)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(get("sub").as_deref(), Some("u"));
    assert_eq!(get("exp").as_deref(), Some("Tue Nov 14 22:13:20 UTC 2023"));
    assert_eq!(get("auth_time").as_deref(), Some("5"));
    assert_eq!(get("email_verified").as_deref(), Some("true"));
    assert_eq!(get("cognito:groups").as_deref(), Some(r#"["a","b"]"#));
}
