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

/// The UTC forms written without an offset, which RFC 3339 lacks: `2026-11-01` (its midnight),
/// `2026-11-01T14:05`, `2026-11-01 14:05:09`, optionally ending in `Z` or ` UTC`. Impossible dates
/// (`2026-02-31`) are None.
pub fn parse_utc(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let s = s.trim();
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    let (date, clock) = match s.split_once(['T', ' ']) {
        Some((d, c)) => (d, Some(c)),
        None => (s, None),
    };
    let date = time::Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    let clock = match clock {
        None => time::Time::MIDNIGHT,
        Some(c) => time::Time::parse(
            c,
            format_description!("[hour]:[minute]:[second][optional [.[subsecond]]]"),
        )
        .or_else(|_| time::Time::parse(c, format_description!("[hour]:[minute]")))
        .ok()?,
    };
    let t = time::PrimitiveDateTime::new(date, clock).assume_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `2026-11-01 14:05 UTC`: an instant to the minute, for text a person or model reads.
pub fn format_utc(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => format!("{ms} ms since the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::{format_utc, parse_instant, parse_utc};

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

    #[test]
    fn utc_forms_without_an_offset() {
        assert_eq!(parse_utc("1970-01-01"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:01Z"), Some(951_868_801_000));
        assert_eq!(parse_utc("1970-01-01T01:00"), Some(3_600_000));
        assert_eq!(parse_utc("1970-01-01 00:00:01.5 UTC"), Some(1_500));
        assert_eq!(parse_utc("2026-02-31"), None);
        assert_eq!(parse_utc("7d"), None);
        assert_eq!(parse_utc("2026-1-1"), None);
        assert_eq!(parse_utc("2026-11-01T13:00:00+01:00"), None);
        assert_eq!(format_utc(951_868_801_000), "2000-03-01 00:00 UTC");
        let ms = parse_utc("2026-11-01 14:05").unwrap();
        assert_eq!(format_utc(ms), "2026-11-01 14:05 UTC");
    }
}
