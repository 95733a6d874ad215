//! Durations and instants as people type and read them: `--timeout 90s`, "lives 5m",
//! "in 42s", RFC 3339 timestamps in `--json`. Shared by the commands and the OAuth layer.

use std::sync::OnceLock;
use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the local zone's offset (TZ, else the system's) once. Call it before any thread
/// starts: on Unix `time` refuses to read it from a multi-threaded process, as the C
/// library's zone functions are not thread-safe; then times are shown in UTC.
pub fn init_local_offset() {
    let _ = LOCAL_OFFSET.set(UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC));
}

fn local_offset() -> UtcOffset {
    LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC)
}

/// An RFC 3339 instant to the minute, in the local zone, with the zone named:
/// `2026-12-06 17:27 UTC`, `2026-12-07 02:27 +09:00`. Text that is not RFC 3339 comes back
/// as it was.
pub fn local_minute(instant: &str) -> String {
    in_zone(instant, local_offset(), true)
}

/// The same without the zone, for a table that names it once in its header ([`zone_name`]).
pub fn local_minute_unnamed(instant: &str) -> String {
    in_zone(instant, local_offset(), false)
}

/// The local zone as shown: `UTC`, `+09:00`.
pub fn zone_name() -> String {
    name_of(local_offset())
}

fn name_of(offset: UtcOffset) -> String {
    if offset == UtcOffset::UTC {
        return "UTC".into();
    }
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

fn in_zone(instant: &str, offset: UtcOffset, named: bool) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let Ok(at) = OffsetDateTime::parse(instant, &time::format_description::well_known::Rfc3339)
    else {
        return instant.to_owned();
    };
    let Ok(text) = at.to_offset(offset).format(&format) else {
        return instant.to_owned();
    };
    if named {
        format!("{text} {}", name_of(offset))
    } else {
        text
    }
}

/// Accepts `300`, `90s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 90s or 5m)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("`{text}` is not a duration (try 90s or 5m)")),
    };
    if secs == 0 {
        return Err("the timeout must be at least one second".into());
    }
    Ok(Duration::from_secs(secs))
}

/// `90s`, `5m`, `1m30s`.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// A wait in words, singular where it is one: "1 second", "45 seconds", "1 minute",
/// "2 minutes" (rounded up: a person who waits the words' time never comes back too early).
pub fn in_words(secs: u64) -> String {
    let (n, unit) = if secs < 60 {
        (secs, "second")
    } else if secs < 3600 {
        (secs.div_ceil(60), "minute")
    } else {
        (secs.div_ceil(3600), "hour")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Unix seconds as an RFC 3339 timestamp.
pub fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

pub fn relative(seconds: i64) -> String {
    let abs = seconds.unsigned_abs();
    let text = match abs {
        0..=59 => format!("{abs}s"),
        60..=3599 => format!("{}m", abs / 60),
        _ => format!("{}h{}m", abs / 3600, (abs % 3600) / 60),
    };
    if seconds >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_shown_in_a_named_zone() {
        let at = "2026-12-06T17:27:59Z";
        assert_eq!(in_zone(at, UtcOffset::UTC, true), "2026-12-06 17:27 UTC");
        let tokyo = UtcOffset::from_hms(9, 0, 0).expect("an offset");
        assert_eq!(in_zone(at, tokyo, true), "2026-12-07 02:27 +09:00");
        assert_eq!(in_zone(at, tokyo, false), "2026-12-07 02:27");
        let newfoundland = UtcOffset::from_hms(-3, -30, 0).expect("an offset");
        assert_eq!(in_zone(at, newfoundland, true), "2026-12-06 13:57 -03:30");
        assert_eq!(name_of(newfoundland), "-03:30");
        assert_eq!(in_zone("yesterday", tokyo, true), "yesterday");
    }

    #[test]
    fn waits_in_words_agree_in_number() {
        assert_eq!(in_words(1), "1 second");
        assert_eq!(in_words(45), "45 seconds");
        assert_eq!(in_words(60), "1 minute");
        assert_eq!(in_words(61), "2 minutes");
        assert_eq!(in_words(3600), "1 hour");
        assert_eq!(in_words(7200), "2 hours");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("-1").is_err());
        assert_eq!(humanize(Duration::from_secs(300)), "5m");
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(42)), "42s");
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(42), "in 42s");
        assert_eq!(relative(3599), "in 59m");
        assert_eq!(relative(-7260), "2h1m ago");
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
