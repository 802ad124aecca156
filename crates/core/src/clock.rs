//! Wall-clock helpers. Everything stored uses Unix epoch milliseconds (UTC) so rows sort and compare as
//! integers in SQLite without parsing.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A point in time as people and models type it: epoch milliseconds, an RFC 3339 timestamp, or a
/// `YYYY-MM-DD` date (its UTC midnight). None for anything else.
pub fn parse_instant(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let date =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::parse_instant;

    #[test]
    fn instants_people_type() {
        assert_eq!(parse_instant("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_instant("2026-11-01"), Some(1_793_491_200_000));
        assert_eq!(
            parse_instant("2026-11-01T12:00:00Z"),
            Some(1_793_491_200_000 + 12 * 3_600_000)
        );
        assert_eq!(
            parse_instant("2026-11-01T13:00:00+01:00"),
            parse_instant("2026-11-01T12:00:00Z")
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("2026-13-01"), None);
    }
}
