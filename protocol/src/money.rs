//! Money: integer minor units (cents) inside, a decimal string with two places on the wire.
//! Never a float: `0.1 + 0.2` must not be a bank's problem.
//!
//! The grammar is deliberately strict — digits, an optional `.` with one or two decimals, no
//! sign, exponent, spaces or leading zeros — because every lenient branch of a money parser
//! is a place where `1e3`, `-0`, `NaN` or `0.001` could sneak through.

use std::fmt;

/// The per-transfer limit, in minor units: 10,000.00. The API's limit is a setting with this
/// default; the CLI refuses anything above it before sending, to stop an obvious typo.
pub const DEFAULT_TRANSFER_LIMIT_MINOR: i64 = 1_000_000;

/// Why an amount was refused. The same words reach a person from the CLI and from the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{0}` is not an amount: use digits with at most two decimals, like 25 or 25.00")]
    Syntax(String),
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("the amount must be at most {} per transfer", format_minor(*.limit_minor))]
    TooLarge { limit_minor: i64 },
}

/// A positive amount of money in minor units. `Display` gives exactly two decimals, which is
/// what goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// Parses `"25"`, `"25.5"` or `"25.00"`, refusing anything else, zero, and anything above
    /// `limit_minor`.
    pub fn parse(text: &str, limit_minor: i64) -> Result<Amount, AmountError> {
        let syntax = || AmountError::Syntax(text.to_owned());
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
            return Err(syntax());
        }
        if let Some(f) = fraction
            && (!digits(f) || f.len() > 2)
        {
            return Err(syntax());
        }
        // More than 15 integer digits is far above any limit; checking the length first keeps
        // the arithmetic below inside i64.
        if whole.len() > 15 {
            return Err(AmountError::TooLarge { limit_minor });
        }
        let whole: i64 = whole.parse().map_err(|_| syntax())?;
        let cents: i64 = match fraction {
            None => 0,
            Some(f) if f.len() == 1 => f.parse::<i64>().map_err(|_| syntax())? * 10,
            Some(f) => f.parse().map_err(|_| syntax())?,
        };
        let minor = whole * 100 + cents;
        if minor <= 0 {
            return Err(AmountError::NotPositive);
        }
        if minor > limit_minor {
            return Err(AmountError::TooLarge { limit_minor });
        }
        Ok(Amount(minor))
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.0))
    }
}

/// Minor units with exactly two decimals: `2500` → `"25.00"`, `-250` → `"-2.50"`.
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A decimal string for people: `1000.00` → `1,000.00`. Text that is not a plain decimal is
/// returned unchanged; nothing is ever parsed into a float.
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = 100_000_000;

    #[test]
    fn accepts_plain_decimals() {
        let minor = |t| Amount::parse(t, MAX).map(Amount::minor_units);
        assert_eq!(minor("25"), Ok(2500));
        assert_eq!(minor("25.5"), Ok(2550));
        assert_eq!(minor("25.05"), Ok(2505));
        assert_eq!(minor("0.01"), Ok(1));
        assert_eq!(minor("1000000.00"), Ok(MAX));
        assert_eq!(
            Amount::parse("25.5", MAX).map(|a| a.to_string()),
            Ok("25.50".into())
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "-1", "+1", "1e3", "1E3", "0.001", "NaN", "inf", " 1", "1 ", "1.", ".5", "01",
            "1,00", "1.2.3", "0x10", "١", "1_000", "-0",
        ] {
            assert_eq!(
                Amount::parse(bad, MAX),
                Err(AmountError::Syntax(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(Amount::parse("0", MAX), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse("0.00", MAX), Err(AmountError::NotPositive));
        let too_large = Err(AmountError::TooLarge { limit_minor: MAX });
        assert_eq!(Amount::parse("1000000.01", MAX), too_large);
        assert_eq!(Amount::parse("99999999999999999999999", MAX), too_large);
        assert_eq!(
            AmountError::TooLarge {
                limit_minor: DEFAULT_TRANSFER_LIMIT_MINOR
            }
            .to_string(),
            "the amount must be at most 10000.00 per transfer"
        );
    }

    #[test]
    fn formats_two_decimals_and_groups_thousands() {
        assert_eq!(format_minor(100_000), "1000.00");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(0), "0.00");
        assert_eq!(format_minor(-250), "-2.50");
        assert_eq!(group_thousands("1000.00"), "1,000.00");
        assert_eq!(group_thousands("1234567.89"), "1,234,567.89");
        assert_eq!(group_thousands("-1000"), "-1,000");
        assert_eq!(group_thousands("999.99"), "999.99");
        assert_eq!(group_thousands("?"), "?");
    }
}
