//! Unit tests of token and key checks.

use super::*;
use crate::config::Settings;

fn auth() -> Authenticator {
    auth_with(|_| {})
}

fn auth_with(tweak: impl FnOnce(&mut Settings)) -> Authenticator {
    let mut s = Settings::defaults();
    s.jwt_secret = Some("s3cret".parse().unwrap());
    tweak(&mut s);
    Authenticator::new(&s.split().auth)
}

fn token(claims: Value, secret: &str, alg: Algorithm) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn exp(delta: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + delta
}

#[test]
fn a_valid_token_names_its_user_whether_sub_is_a_string_or_a_number() {
    let a = auth();
    let t = token(
        serde_json::json!({"sub": "42", "exp": exp(60)}),
        "s3cret",
        Algorithm::HS256,
    );
    assert_eq!(a.verify(&t).unwrap().as_str(), "42");
    let t = token(
        serde_json::json!({"sub": 42, "exp": exp(60)}),
        "s3cret",
        Algorithm::HS256,
    );
    assert_eq!(a.verify(&t).unwrap().as_str(), "42");
    assert_eq!(
        a.verify(&a.mint(&UserId::parse("7").unwrap(), 60))
            .unwrap()
            .as_str(),
        "7"
    );
}

#[test]
fn bad_tokens_are_refused() {
    let a = auth();
    let ok = |c: Value| token(c, "s3cret", Algorithm::HS256);
    assert_eq!(
        a.verify(&ok(serde_json::json!({"sub": "1", "exp": exp(-5)}))),
        Err(AuthError::Expired)
    );
    assert!(
        a.verify(&ok(
            serde_json::json!({"sub": "1", "exp": exp(60), "nbf": exp(30)})
        ))
        .is_err()
    );
    assert!(
        a.verify(&ok(serde_json::json!({"sub": "", "exp": exp(60)})))
            .is_err()
    );
    assert!(a.verify(&ok(serde_json::json!({"exp": exp(60)}))).is_err());
    assert!(a.verify(&ok(serde_json::json!({"sub": "1"}))).is_err());
    assert!(
        a.verify(&token(
            serde_json::json!({"sub": "1", "exp": exp(60)}),
            "wrong",
            Algorithm::HS256
        ))
        .is_err()
    );
    assert!(
        a.verify(&token(
            serde_json::json!({"sub": "1", "exp": exp(60)}),
            "s3cret",
            Algorithm::HS384
        ))
        .is_err()
    );
    assert!(a.verify("garbage").is_err());
    assert!(
        a.verify(&ok(serde_json::json!({"sub": "1", "exp": u64::MAX})))
            .is_err()
    );
    // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
    assert!(
        a.verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.")
            .is_err()
    );
}

fn request(header: Option<&str>, cookie: Option<&str>) -> HttpRequest {
    let mut r = actix_web::test::TestRequest::default().peer_addr(([192, 0, 2, 1], 4000).into());
    if let Some(h) = header {
        r = r.insert_header((header::AUTHORIZATION, format!("Bearer {h}")));
    }
    if let Some(c) = cookie {
        r = r.cookie(actix_web::cookie::Cookie::new(TOKEN_COOKIE, c.to_owned()));
    }
    r.to_http_request()
}

#[test]
fn an_explicit_token_beats_the_cookie_and_two_that_disagree_are_refused() {
    let a = auth();
    let mint = |u: &str| a.mint(&UserId::parse(u).unwrap(), 60);
    let (page, stale) = (mint("page"), mint("stale"));
    let user = |r: &HttpRequest, q: Option<&str>| a.subscriber(r, q).map(|u| u.to_string());
    assert_eq!(
        user(&request(None, Some(&stale)), Some(&page)),
        Ok("page".into())
    );
    assert_eq!(
        user(&request(Some(&page), Some(&stale)), None),
        Ok("page".into())
    );
    assert_eq!(user(&request(None, Some(&stale)), None), Ok("stale".into()));
    assert_eq!(
        user(&request(Some(&page), None), Some(&page)),
        Ok("page".into())
    );
    assert_eq!(
        user(&request(Some(&page), None), Some(&stale)),
        Err(AuthError::ConflictingTokens)
    );
}

#[test]
fn exp_now_is_expired_and_a_token_beyond_the_longest_lifetime_is_refused() {
    let a = auth_with(|s| s.jwt_max_lifetime_secs = Some(600));
    let t = |delta| {
        token(
            serde_json::json!({"sub": "1", "exp": exp(delta)}),
            "s3cret",
            Algorithm::HS256,
        )
    };
    assert_eq!(a.verify(&t(0)), Err(AuthError::Expired));
    assert!(a.verify(&t(500)).is_ok());
    assert!(matches!(a.verify(&t(700)), Err(AuthError::Invalid(_))));
}

#[test]
fn past_the_wrong_key_budget_an_address_waits_even_with_the_right_key() {
    let a = auth_with(|s| {
        s.publish_key = Some("the-key".parse().unwrap());
        s.auth_failures_per_min = 2;
    });
    assert_eq!(
        a.publisher(&request(Some("the-key"), None)),
        Ok(Publisher::Key)
    );
    for _ in 0..2 {
        assert_eq!(
            a.publisher(&request(Some("guess"), None)),
            Err(AuthError::BadPublishKey)
        );
    }
    assert!(matches!(
        a.publisher(&request(Some("guess"), None)),
        Err(AuthError::TooManyFailures(s)) if s >= 1
    ));
    assert!(matches!(
        a.publisher(&request(Some("the-key"), None)),
        Err(AuthError::TooManyFailures(_))
    ));
}
