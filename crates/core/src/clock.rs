//! Wall-clock helpers. Everything stored uses Unix epoch milliseconds (UTC) so rows sort and compare as
//! integers in SQLite without parsing.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
