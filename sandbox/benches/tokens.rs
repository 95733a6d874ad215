//! Micro-benchmarks of the token path: verification per algorithm through the bank API's
//! real `TokenVerifier` (keys fetched over HTTP from a loopback issuer, as in production),
//! with and without the verified-token cache, and signing as the sandbox does it.
//!
//!   cargo bench -p bank-sandbox --bench tokens
//!
//! The issuer is the test suite's independent one (`tests/common/issuer.rs`), so the
//! benchmark verifies exactly the tokens the tests do: ES256, RS256 (2048-bit) and EdDSA.

// The module allows its own dead code: the benchmark uses a subset of it.
#[path = "../tests/common/issuer.rs"]
mod issuer;

use std::hint::black_box;
use std::time::Duration;

use bank_sandbox::api::jwks::KeyCache;
use bank_sandbox::api::{Clock, auth::TokenVerifier};
use bank_sandbox::authz::keys;
use bank_sandbox::store::{self, authz::AuthzStore};
use criterion::{Criterion, criterion_group, criterion_main};
use issuer::{AUDIENCE, TestIssuer};

fn verifier(rt: &tokio::runtime::Runtime, issuer: &TestIssuer, cache: usize) -> TokenVerifier {
    let keys = KeyCache::new(
        issuer.issuer.clone(),
        3,
        Duration::from_secs(10),
        Duration::from_secs(3600),
    )
    .expect("key cache");
    let verifier = TokenVerifier::new(
        issuer.issuer.clone(),
        AUDIENCE.to_owned(),
        60,
        keys,
        Clock::default(),
    )
    .with_cache(cache);
    // Fetch the keys once, outside the measurement.
    rt.block_on(verifier.verify(&issuer.token("usr_bench", "bench", "view:balance")))
        .expect("a good token verifies");
    verifier
}

fn verification(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = rt.block_on(TestIssuer::start());
    let uncached = verifier(&rt, &issuer, 0);
    let cached = verifier(&rt, &issuer, 1000);
    let claims = issuer.claims("usr_bench", "bench", "openid view:balance");

    let mut group = c.benchmark_group("verify");
    for key in [&issuer.es256, &issuer.rs256, &issuer.eddsa] {
        let token = key.sign(&key.header(), &claims);
        let name = issuer::alg_name(key.alg);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(uncached.verify(black_box(&token)))
                    .expect("valid")
            })
        });
        group.bench_function(format!("{name} cached"), |b| {
            b.iter(|| {
                rt.block_on(cached.verify(black_box(&token)))
                    .expect("valid")
            })
        });
    }
    group.finish();
}

fn signing(c: &mut Criterion) {
    let conn = store::open(None, store::authz::MIGRATIONS).expect("authz store");
    let authz = AuthzStore::new(conn);
    keys::ensure_key(&authz, 0).expect("signing key");
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8400", "aud": AUDIENCE, "sub": "usr_bench",
        "client_id": "bank-cli", "scope": "openid transfer:funds", "iat": 1, "exp": 2,
        "jti": "at_0123456789abcdef", "auth_time": 1,
        "acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        "amr": ["pwd", "mfa"],
    });
    let mut group = c.benchmark_group("sign");
    // As the authorization server does it: current key read from SQLite, PKCS#8 parsed, signed.
    group.bench_function("ES256 sandbox", |b| {
        b.iter(|| keys::sign(&authz, "at+jwt", black_box(&claims)).expect("signed"))
    });
    let test_issuer_key = issuer::TestKey::es256("bench");
    group.bench_function("ES256 key parsed once", |b| {
        b.iter(|| test_issuer_key.sign(&test_issuer_key.header(), black_box(&claims)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default: these run on a shared 2-core machine, and CI only needs them to run.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = verification, signing
}
criterion_main!(benches);
