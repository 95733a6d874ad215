use super::*;
use bank_protocol::DEFAULT_TRANSFER_LIMIT_MINOR;

const RULES: Rules<'static> = Rules {
    default_currency: "USD",
    limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR,
    max_payments: 1000,
};

fn ok(text: &str) -> BatchFile {
    parse(text.as_bytes(), None, &RULES).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn invalid(text: &str) -> Invalid {
    match parse(text.as_bytes(), None, &RULES) {
        Err(BatchFileError::Invalid(invalid)) => invalid,
        other => panic!("{text:?}: {other:?}"),
    }
}

/// Each problem as `line N, column C: …` (the message's start only).
fn problems(text: &str) -> Vec<(usize, Option<String>)> {
    invalid(text)
        .problems
        .into_iter()
        .map(|p| (p.line, p.column))
        .collect()
}

fn rows(file: &BatchFile) -> Vec<(String, String, String, Option<String>)> {
    file.batch
        .orders()
        .iter()
        .map(|o| {
            (
                o.to.clone(),
                o.amount.to_string(),
                o.currency.clone(),
                o.memo.clone(),
            )
        })
        .collect()
}

fn row(
    to: &str,
    amount: &str,
    currency: &str,
    memo: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        to.into(),
        amount.into(),
        currency.into(),
        memo.map(str::to_owned),
    )
}

#[test]
fn csv_with_quotes_commas_and_any_column_order() {
    let file =
        ok("memo,amount,to\n\"lunch, Friday\",25,Bob\n\"say \"\"hi\"\"\",10.5,carol\n,1,dave\n");
    assert_eq!(file.format, Format::Csv);
    assert_eq!(
        rows(&file),
        [
            row("bob", "25.00", "USD", Some("lunch, Friday")),
            row("carol", "10.50", "USD", Some("say \"hi\"")),
            row("dave", "1.00", "USD", None),
        ]
    );
    assert_eq!(file.lines, [2, 3, 4]);
    assert_eq!(file.line_of(1), Some(2));
    assert_eq!(file.line_of(0), None);
    assert_eq!(file.line_of(4), None);
}

#[test]
fn csv_bom_crlf_spaces_case_and_trailing_blank_lines() {
    let file =
        ok("\u{feff}To , AMOUNT,Currency\r\nbob, 25.00 ,eur\r\n  \"carol\" ,\"7\",usd\r\n\r\n\n");
    assert_eq!(
        rows(&file),
        [
            row("bob", "25.00", "EUR", None),
            row("carol", "7.00", "USD", None)
        ]
    );
    assert_eq!(file.lines, [2, 3]);
    // No line end at all after the last line.
    assert_eq!(ok("to,amount\nbob,1").lines, [2]);
    // A quoted field keeps its spaces.
    assert_eq!(
        rows(&ok("to,amount,memo\nbob,1,\"  two  spaces \"\n"))[0]
            .3
            .as_deref(),
        Some("  two  spaces ")
    );
}

#[test]
fn a_missing_currency_is_the_default_one() {
    let rules = Rules {
        default_currency: "EUR",
        ..RULES
    };
    let file = parse(b"to,amount,currency\nbob,1,\ncarol,2,USD\n", None, &rules).expect("valid");
    assert_eq!(
        rows(&file),
        [
            row("bob", "1.00", "EUR", None),
            row("carol", "2.00", "USD", None)
        ]
    );
}

#[test]
fn csv_errors_name_every_bad_line_and_its_column() {
    let text = "to,amount,memo\nbob,25,ok\nbob smith,1,x\nbob,-5,x\nbob,10000.01,x\nbob,1,\"a\u{7}b\"\nbob,1\nbob,1,x,y\nok,1,x\n";
    assert_eq!(
        problems(text),
        [
            (3, Some("to".into())),
            (4, Some("amount".into())),
            (5, Some("amount".into())),
            (6, Some("memo".into())),
            (7, None),
            (8, None),
        ]
    );
    let invalid = invalid(text);
    assert_eq!(invalid.total, 6);
    assert_eq!(invalid.count, 8);
    let words = invalid.to_string();
    assert!(words.starts_with("6 problems in the batch file; nothing was sent:\n  line 3, column to: `bob smith` is not an account handle"), "{words}");
    assert!(
        words.contains(
            "\n  line 5, column amount: the amount must be at most 10000.00 per transfer"
        ),
        "{words}"
    );
    assert!(
        words.contains("\n  line 7: 2 fields, but the header names 3 (to, amount, memo)"),
        "{words}"
    );
    assert!(
        words.ends_with("\n  line 8: 4 fields, but the header names 3 (to, amount, memo)"),
        "{words}"
    );
}

#[test]
fn quoting_mistakes_are_named_and_the_rest_still_read() {
    let text = "to,amount,memo\nbob,1,say \"hi\"\nbob,1,\"closed\" then more\nbob,x,fine\nbob,1,\"never closed\nbob,2,x\n";
    assert_eq!(
        problems(text),
        [
            (2, Some("memo".into())),
            (3, Some("memo".into())),
            (4, Some("amount".into())),
            (5, Some("memo".into())),
        ]
    );
    let words = invalid(text).to_string();
    assert!(
        words.contains("line 5, column memo: the quote opened on line 5 is never closed"),
        "{words}"
    );
}

#[test]
fn a_quoted_line_break_keeps_the_line_numbers_of_the_file() {
    // The memo's line break is refused by the memo rule; the next record is on line 4.
    let text = "to,amount,memo\nbob,1,\"two\nlines\"\ncarol,x,y\n";
    assert_eq!(
        problems(text),
        [(2, Some("memo".into())), (4, Some("amount".into()))]
    );
}

#[test]
fn header_problems() {
    let expect = |text: &str, problems_: &[(usize, Option<&str>)]| {
        let invalid = invalid(text);
        assert!(invalid.header, "{text:?}");
        let found: Vec<(usize, Option<String>)> = problems(text);
        let wanted: Vec<(usize, Option<String>)> = problems_
            .iter()
            .map(|(l, c)| (*l, c.map(str::to_owned)))
            .collect();
        assert_eq!(found, wanted, "{text:?}");
    };
    expect("to,amount,colour\nbob,1,red\n", &[(1, Some("colour"))]);
    expect("to,amount,to\nbob,1,x\n", &[(1, Some("to"))]);
    expect("to,memo\nbob,x\n", &[(1, None)]);
    // No header: the first payment is read as one, and refused as one.
    expect(
        "bob,25.00\ncarol,1\n",
        &[(1, Some("bob")), (1, Some("25.00"))],
    );
    expect("\nto,amount\n", &[(1, None)]);
    let words = invalid("bob,25.00\n").to_string();
    assert!(
        words.contains("the first line names the columns: to, amount"),
        "{words}"
    );
}

#[test]
fn blank_lines_inside_the_file_are_refused() {
    assert_eq!(problems("to,amount\nbob,1\n\n\ncarol,2\n"), [(3, None)]);
    assert_eq!(
        problems("{\"to\":\"bob\",\"amount\":\"1\"}\n\n{\"to\":\"carol\",\"amount\":\"1\"}\n"),
        [(2, None)]
    );
}

#[test]
fn json_lines() {
    let file = ok(
        "{\"to\":\"bob\",\"amount\":\"25.00\",\"memo\":\"lunch, \\\"Friday\\\"\"}\r\n{\"amount\":\"1\",\"to\":\"Carol\",\"currency\":\"eur\",\"memo\":null}\n\n",
    );
    assert_eq!(file.format, Format::Jsonl);
    assert_eq!(
        rows(&file),
        [
            row("bob", "25.00", "USD", Some("lunch, \"Friday\"")),
            row("carol", "1.00", "EUR", None),
        ]
    );
    assert_eq!(file.lines, [1, 2]);
    // A BOM and leading spaces still read as JSON Lines.
    assert_eq!(
        ok("\u{feff}  {\"to\":\"bob\",\"amount\":\"1\"}").format,
        Format::Jsonl
    );
}

#[test]
fn json_lines_errors_name_the_line_and_the_key() {
    let text = [
        r#"{"to":"bob","amount":"1"}"#,
        r#"{"to":"bob","amount":25.5}"#,
        r#"{"to":"bob","amount":"1","colour":"red"}"#,
        r#"{"to":"bob","to":"mallory","amount":"1"}"#,
        r#"{"to":"bob"}"#,
        r#"{"to":"bob","amount":"1","memo":7}"#,
        r#"{"to":"bob","amount":"1""#,
        r#"["bob","1"]"#,
        r#"{"to":"bob smith","amount":"1"}"#,
        r#"{"to":"bob","amount":" 1"}"#,
    ]
    .join("\n");
    assert_eq!(
        problems(&text),
        [
            (2, Some("amount".into())),
            (3, Some("colour".into())),
            (4, Some("to".into())),
            (5, Some("amount".into())),
            (6, Some("memo".into())),
            (7, None),
            (8, None),
            (9, Some("to".into())),
            (10, Some("amount".into())),
        ]
    );
    let words = invalid(&text).to_string();
    assert!(
        words.contains("line 2, column amount: must be a string such as \"25.00\""),
        "{words}"
    );
    assert!(
        words.contains("line 8: each line is one JSON object such as"),
        "{words}"
    );
    assert!(!words.contains("at line 1"), "{words}");
}

#[test]
fn the_format_can_be_forced() {
    let json = br#"{"to":"bob","amount":"1"}"#;
    assert!(matches!(
        parse(json, Some(Format::Csv), &RULES),
        Err(BatchFileError::Invalid(i)) if i.header
    ));
    assert!(matches!(
        parse(b"to,amount\nbob,1\n", Some(Format::Jsonl), &RULES),
        Err(BatchFileError::Invalid(i)) if i.total == 2
    ));
}

#[test]
fn sizes_are_bounded() {
    let rules = Rules {
        max_payments: 3,
        ..RULES
    };
    let text = "to,amount\nbob,1\nbob,2\nbob,3\nbob,4\nbob,x\n";
    let Err(BatchFileError::Invalid(invalid)) = parse(text.as_bytes(), None, &rules) else {
        panic!("too many");
    };
    assert_eq!((invalid.count, invalid.max, invalid.total), (5, 3, 1));
    let words = invalid.to_string();
    assert!(words.starts_with("the batch file has 5 payments; at most 3 are allowed in one batch; 1 problem in the batch file; nothing was sent:\n  line 6, column amount"), "{words}");
    assert!(matches!(
        parse(b"to,amount\n", None, &RULES),
        Err(BatchFileError::Empty)
    ));
    assert!(matches!(
        parse(b" \n\n", None, &RULES),
        Err(BatchFileError::Empty)
    ));
    assert!(matches!(
        parse(b"to,amount\nbob,1\n\xff\n", None, &RULES),
        Err(BatchFileError::NotUtf8 { line: 3 })
    ));
    let huge = vec![b'a'; MAX_FILE_BYTES + 1];
    assert!(matches!(
        parse(&huge, None, &RULES),
        Err(BatchFileError::TooLarge { .. })
    ));
}

#[test]
fn the_printout_is_capped_and_hostile_text_escaped() {
    let mut text = String::from("to,amount\n");
    for _ in 0..1500 {
        text.push_str("bob,x\n");
    }
    let invalid = invalid(&text);
    assert_eq!(invalid.total, 1500);
    assert_eq!(invalid.problems.len(), 1000);
    let words = invalid.to_string();
    assert_eq!(words.lines().count(), 1 + PROBLEMS_SHOWN + 1, "{words}");
    assert!(words.ends_with("\n  … and 1480 more"), "{words}");
    // A handle with a terminal escape in it is shown escaped.
    let words = problems_text("to,amount\n\"bob\u{1b}[2J\",1\n");
    assert!(words.contains("\\u{1b}[2J"), "{words}");
    assert!(!words.contains('\u{1b}'), "{words}");
}

fn problems_text(text: &str) -> String {
    invalid(text).to_string()
}

#[test]
fn ten_thousand_lines_are_read_in_full() {
    let mut text = String::from("to,amount,memo\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "payee{},{}.{:02},\"invoice {i}, thanks\"\n",
            i % 50,
            i % 900 + 1,
            i % 100
        ));
    }
    let rules = Rules {
        max_payments: 10_000,
        ..RULES
    };
    // Its speed is benches/batch_parse.rs's business, never a timed assertion here.
    let file = parse(text.as_bytes(), None, &rules).expect("valid");
    assert_eq!(file.batch.len(), 10_000);
    assert_eq!(
        file.batch.orders()[9_999].memo.as_deref(),
        Some("invoice 9999, thanks")
    );
}
