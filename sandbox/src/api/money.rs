//! Money on the wire and inside: integer minor units (cents) inside, a decimal string on
//! the wire. Never a float: `0.1 + 0.2` must not be a bank's problem.
//!
//! The parser is deliberately strict (a plain grammar, no exponent, no sign, no spaces, at
//! most two decimals, an upper bound) because every lenient branch of a money parser is a
//! place where `1e3`, `-0`, `NaN` or `0.001` could sneak through.

/// Why an amount string was refused. The messages are shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error(
        "amount must be a decimal string like \"25.00\" (digits, optional '.', at most two decimals)"
    )]
    Syntax,
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount exceeds the maximum of {0} per transfer")]
    TooLarge(String),
}

/// Parses `"25"`, `"25.5"` or `"25.00"` into minor units (2500), refusing anything else:
/// signs, exponents, leading zeros (`"01"`), spaces, more than two decimals, zero, and
/// anything above `max_minor`.
pub fn parse_amount(text: &str, max_minor: i64) -> Result<i64, AmountError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return Err(AmountError::Syntax);
    }
    if let Some(fraction) = fraction
        && (!digits_only(fraction) || fraction.len() > 2)
    {
        return Err(AmountError::Syntax);
    }
    // 15 integer digits keep the arithmetic below far inside i64; the bound below is the
    // real limit.
    if whole.len() > 15 {
        return Err(AmountError::TooLarge(format_minor(max_minor)));
    }
    let whole: i64 = whole.parse().map_err(|_| AmountError::Syntax)?;
    let cents: i64 = match fraction {
        None => 0,
        Some(f) if f.len() == 1 => f.parse::<i64>().map_err(|_| AmountError::Syntax)? * 10,
        Some(f) => f.parse().map_err(|_| AmountError::Syntax)?,
    };
    let minor = whole * 100 + cents;
    if minor <= 0 {
        return Err(AmountError::NotPositive);
    }
    if minor > max_minor {
        return Err(AmountError::TooLarge(format_minor(max_minor)));
    }
    Ok(minor)
}

/// Formats minor units with exactly two decimals: `2500` → `"25.00"`.
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = 100_000_000;

    #[test]
    fn accepts_plain_decimals() {
        assert_eq!(parse_amount("25", MAX), Ok(2500));
        assert_eq!(parse_amount("25.5", MAX), Ok(2550));
        assert_eq!(parse_amount("25.05", MAX), Ok(2505));
        assert_eq!(parse_amount("0.01", MAX), Ok(1));
        assert_eq!(parse_amount("1000000.00", MAX), Ok(MAX));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "-1", "+1", "1e3", "1E3", "0.001", "NaN", "inf", " 1", "1 ", "1.", ".5", "01",
            "1,00", "1.2.3", "0x10", "١", "1_000",
        ] {
            assert_eq!(parse_amount(bad, MAX), Err(AmountError::Syntax), "{bad:?}");
        }
        assert_eq!(parse_amount("0", MAX), Err(AmountError::NotPositive));
        assert_eq!(parse_amount("0.00", MAX), Err(AmountError::NotPositive));
        assert!(matches!(
            parse_amount("1000000.01", MAX),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("99999999999999999999999", MAX),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(format_minor(100_000), "1000.00");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(0), "0.00");
        assert_eq!(format_minor(-250), "-2.50");
    }
}
