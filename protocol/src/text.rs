//! Rules for text that one person types and another reads: account handles, currency codes
//! and memos.
//!
//! A memo or handle is shown on someone else's screen — the recipient's history, an approval
//! page, a terminal. Control characters could rewrite that terminal, and format characters
//! (Unicode `Cf`: bidi overrides such as U+202E, zero-width joiners) or line and paragraph
//! separators (`Zl`, `Zp`) can make "pay bob 5.00" read as something else. They are refused
//! outright rather than stripped, so what the payer typed is exactly what is stored.

use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};

/// Longest memo, in characters (Unicode scalar values).
pub const MAX_MEMO_CHARS: usize = 140;
/// Longest account handle, in bytes (handles are ASCII).
pub const MAX_HANDLE_LEN: usize = 64;

/// Whether `c` may not appear in text shown to other people: Unicode categories Cc
/// (controls), Cf (format, including the bidi controls), Zl and Zp (line/paragraph separators).
pub fn is_hidden_or_control(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    let refused = GeneralCategoryGroup::Control
        .union(GeneralCategoryGroup::Format)
        .union(GeneralCategoryGroup::LineSeparator)
        .union(GeneralCategoryGroup::ParagraphSeparator);
    refused.contains(category)
}

/// `text` with every character of [`is_hidden_or_control`] written as a visible `\u{…}`
/// escape, so that text from a server or another person cannot act on a terminal (move the
/// cursor, clear the screen, reverse the line, fake a new line). `keep` names characters
/// left as they are (a message's own newlines).
pub fn escape_hidden<'t>(text: &'t str, keep: &[char]) -> std::borrow::Cow<'t, str> {
    if !text
        .chars()
        .any(|c| is_hidden_or_control(c) && !keep.contains(&c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_or_control(c) && !keep.contains(&c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A handle as the bank compares them: trimmed and lower-cased, 1-64 of `a-z 0-9 . _ - + @`,
/// or `None`.
pub fn normalize_handle(name: &str) -> Option<String> {
    let handle = name.trim().to_ascii_lowercase();
    let ok = !handle.is_empty()
        && handle.len() <= MAX_HANDLE_LEN
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-+@".contains(&b));
    ok.then_some(handle)
}

/// An ISO 4217 code, upper-cased: three ASCII letters, or `None`.
pub fn normalize_currency(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
}

/// Whether `memo` is at most [`MAX_MEMO_CHARS`] characters with none of the refused ones.
pub fn is_valid_memo(memo: &str) -> bool {
    memo.chars().count() <= MAX_MEMO_CHARS && !memo.chars().any(is_hidden_or_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_normalized_or_refused() {
        assert_eq!(normalize_handle(" Alice ").as_deref(), Some("alice"));
        assert_eq!(
            normalize_handle("a.b+c@example.com").as_deref(),
            Some("a.b+c@example.com")
        );
        for bad in ["", "bad name", "bob\u{202e}", "b\u{200b}ob", "bób"] {
            assert_eq!(normalize_handle(bad), None, "{bad:?}");
        }
        assert_eq!(normalize_handle(&"x".repeat(65)), None);
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(normalize_currency("usd").as_deref(), Some("USD"));
        for bad in ["US", "USDX", "U5D", ""] {
            assert_eq!(normalize_currency(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hidden_characters_are_shown_escaped() {
        assert_eq!(escape_hidden("plain café", &[]), "plain café");
        assert_eq!(
            escape_hidden("a\u{1b}[2Jb\u{202e}c\nd", &[]),
            "a\\u{1b}[2Jb\\u{202e}c\\u{a}d"
        );
        assert_eq!(
            escape_hidden("line\nnext\u{7}", &['\n']),
            "line\nnext\\u{7}"
        );
    }

    #[test]
    fn memos_refuse_controls_format_and_separators() {
        assert!(is_valid_memo("lunch 🍕 — café"));
        assert!(is_valid_memo(&"m".repeat(MAX_MEMO_CHARS)));
        assert!(!is_valid_memo(&"m".repeat(MAX_MEMO_CHARS + 1)));
        for bad in [
            "a\u{7}b",           // BEL (Cc)
            "\u{1b}[2J",         // an escape sequence (Cc)
            "pay\u{202e}bob",    // right-to-left override (Cf)
            "x\u{2066}y",        // left-to-right isolate (Cf)
            "zero\u{200b}width", // zero-width space (Cf)
            "\u{feff}bom",       // byte order mark (Cf)
            "line\u{2028}sep",   // Zl
            "para\u{2029}sep",   // Zp
            "a\nb",
        ] {
            assert!(!is_valid_memo(bad), "{bad:?}");
        }
    }
}
