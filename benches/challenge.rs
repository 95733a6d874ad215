//! Micro-benchmark of `WWW-Authenticate` parsing, which the CLI runs on every 401/403 to
//! decide whether (and how) to step up.
//!
//!   cargo bench -p bank --bench challenge

use std::hint::black_box;
use std::time::Duration;

use bank::challenge::{BearerChallenge, parse};
use criterion::{Criterion, criterion_group, criterion_main};

const HEADERS: [(&str, &str); 3] = [
    (
        "insufficient_scope",
        r#"Bearer error="insufficient_scope", scope="transfer:funds""#,
    ),
    (
        "rfc9470",
        r#"Bearer error="insufficient_user_authentication", error_description="This operation needs multi-factor authentication", acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor", max_age=300"#,
    ),
    (
        "two challenges",
        r#"Basic realm="bank", charset="UTF-8", Bearer realm="bank", error="invalid_token", error_description="token \"expired\", scope=\"x\"""#,
    ),
];

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("www-authenticate");
    for (name, header) in HEADERS {
        group.bench_function(name, |b| {
            b.iter(|| {
                let bearer = BearerChallenge::from_headers([black_box(header)]);
                black_box(bearer.and_then(|c| c.step_up(403)))
            })
        });
    }
    group.bench_function("parse only (rfc9470)", |b| {
        b.iter(|| parse(black_box(HEADERS[1].1)).expect("valid header"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = parsing
}
criterion_main!(benches);
