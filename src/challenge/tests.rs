use super::*;

#[test]
fn only_dpop_means_no_bearer_challenge_beside_it() {
    assert!(offers_only_dpop([
        r#"DPoP error="invalid_token", algs="ES256""#
    ]));
    assert!(!offers_only_dpop([
        r#"Bearer error="invalid_token""#,
        r#"DPoP algs="ES256""#
    ]));
    assert!(!offers_only_dpop([r#"DPoP algs="ES256", Bearer"#]));
    assert!(!offers_only_dpop([r#"Bearer realm="bank""#]));
    assert!(!offers_only_dpop([]));
}

fn c(scheme: &str, params: &[(&str, &str)]) -> Challenge {
    Challenge {
        scheme: scheme.into(),
        params: params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        token68: None,
    }
}

#[test]
fn parses_the_grammar() {
    let cases: Vec<(&str, Vec<Challenge>)> = vec![
        ("Bearer", vec![c("Bearer", &[])]),
        (
            r#"Bearer realm="bank""#,
            vec![c("Bearer", &[("realm", "bank")])],
        ),
        (
            r#"Bearer error="insufficient_scope", scope="transfer:funds""#,
            vec![c(
                "Bearer",
                &[("error", "insufficient_scope"), ("scope", "transfer:funds")],
            )],
        ),
        // any order, token values, odd spacing, case-insensitive names
        (
            r#"bearer   SCOPE = "transfer:funds" ,ERROR=insufficient_scope"#,
            vec![c(
                "bearer",
                &[("scope", "transfer:funds"), ("error", "insufficient_scope")],
            )],
        ),
        // escapes inside quoted strings; commas and `scope=` inside a description
        (
            r#"Bearer error="invalid_token", error_description="bad \"kid\", scope=\\x, sorry""#,
            vec![c(
                "Bearer",
                &[
                    ("error", "invalid_token"),
                    ("error_description", r#"bad "kid", scope=\x, sorry"#),
                ],
            )],
        ),
        // several challenges in one field
        (
            r#"Basic realm="x", Bearer error="insufficient_user_authentication", acr_values="urn:a urn:b", max_age=300"#,
            vec![
                c("Basic", &[("realm", "x")]),
                c(
                    "Bearer",
                    &[
                        ("error", "insufficient_user_authentication"),
                        ("acr_values", "urn:a urn:b"),
                        ("max_age", "300"),
                    ],
                ),
            ],
        ),
        // schemes without params next to each other, empty list elements
        (
            "Negotiate, , Bearer",
            vec![c("Negotiate", &[]), c("Bearer", &[])],
        ),
        (
            r#"Bearer realm="a", Negotiate"#,
            vec![c("Bearer", &[("realm", "a")]), c("Negotiate", &[])],
        ),
        ("", vec![]),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).expect(input), want, "input: {input}");
    }
}

#[test]
fn parses_token68() {
    // `x=` alone is a token68 by the grammar, not an empty parameter.
    assert_eq!(
        parse("Bearer error=").expect("valid")[0].token68.as_deref(),
        Some("error=")
    );
    let got = parse("Basic dXNlcjpwYXNz==, Bearer").expect("valid");
    assert_eq!(got[0].token68.as_deref(), Some("dXNlcjpwYXNz=="));
    assert!(got[1].is("BEARER"));
}

#[test]
fn rejects_malformed_headers() {
    for input in [
        r#"Bearer error="unterminated"#,
        r#"Bearer error="a" scope="b""#,
        r#"Bearer error="a", error="b""#,
        r#"Bearer error=, scope="x""#,
        r#"Bearer error="a\"#,
        "=Bearer",
    ] {
        assert!(parse(input).is_err(), "should reject: {input}");
    }
}

/// The exact `WWW-Authenticate` values the sandbox's bank API sends (sandbox/API.md,
/// `error/problem.rs`), and what each means to the step-up layer.
#[test]
fn sandbox_challenges_table() {
    const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
    let scope = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<(u16, &str, Option<StepUpChallenge>)> = vec![
        (401, "Bearer", None),
        (
            401,
            r#"Bearer error="invalid_token", error_description="token already used""#,
            None,
        ),
        (
            401,
            r#"Bearer error="invalid_token", error_description="token expired""#,
            None,
        ),
        (
            400,
            r#"Bearer error="invalid_request", error_description="more than one Authorization header""#,
            None,
        ),
        (
            403,
            r#"Bearer error="insufficient_scope", scope="transfer:funds""#,
            Some(StepUpChallenge {
                reason: StepUpReason::InsufficientScope,
                scope: scope(&["transfer:funds"]),
                acr_values: vec![],
                max_age: None,
                description: None,
            }),
        ),
        (
            403,
            r#"Bearer error="insufficient_scope", scope="view:balance""#,
            Some(StepUpChallenge {
                reason: StepUpReason::InsufficientScope,
                scope: scope(&["view:balance"]),
                acr_values: vec![],
                max_age: None,
                description: None,
            }),
        ),
        (
            401,
            r#"Bearer error="insufficient_user_authentication", acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor", max_age=300"#,
            Some(StepUpChallenge {
                reason: StepUpReason::InsufficientUserAuthentication,
                scope: vec![],
                acr_values: scope(&[MFA]),
                max_age: Some(300),
                description: None,
            }),
        ),
        // The RFCs pair each error with one status; a mismatched pair is not a step-up.
        (
            401,
            r#"Bearer error="insufficient_scope", scope="transfer:funds""#,
            None,
        ),
        (
            403,
            r#"Bearer error="insufficient_user_authentication", max_age=300"#,
            None,
        ),
    ];
    for (status, header, want) in cases {
        let bearer = BearerChallenge::from_headers([header]).expect(header);
        assert_eq!(bearer.step_up(status), want, "{status} {header}");
    }
}

#[test]
fn extracts_bearer_parameters() {
    let cases = [
        (
            vec![r#"Bearer error="insufficient_scope", scope="transfer:funds view:balance""#],
            BearerChallenge {
                error: Some("insufficient_scope".into()),
                scope: vec!["transfer:funds".into(), "view:balance".into()],
                ..BearerChallenge::default()
            },
        ),
        (
            vec![
                r#"DPoP algs="ES256""#,
                r#"Bearer max_age="60", acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor", error="insufficient_user_authentication", realm="bank""#,
            ],
            BearerChallenge {
                realm: Some("bank".into()),
                error: Some("insufficient_user_authentication".into()),
                acr_values: vec![
                    "http://schemas.openid.net/pape/policies/2007/06/multi-factor".into(),
                ],
                max_age: Some(60),
                ..BearerChallenge::default()
            },
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(
            BearerChallenge::from_headers(headers.iter().copied()),
            Some(want)
        );
    }
    assert_eq!(BearerChallenge::from_headers([r#"Basic realm="x""#]), None);
}
