//! LLM cost accounting read from `llm_usage`: what the viewer's meters and `GET /api/costs` show.

use super::{Store, StoreError};
use crate::model::{CostGroup, CostReport, CostTotals};

const SUMS: &str = "COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS input_tokens, \
    COALESCE(SUM(output_tokens), 0) AS output_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens, \
    COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, COALESCE(SUM(cost_usd), 0.0) AS cost_usd";

/// Midnight UTC of the day containing `now_ms`, and the first of its month.
pub fn day_and_month_start(now_ms: i64) -> (i64, i64) {
    let day_ms = 86_400_000;
    let day_start = now_ms - now_ms.rem_euclid(day_ms);
    // Civil-from-days (Howard Hinnant): exact for the proleptic Gregorian calendar.
    let days = day_start / day_ms;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day_of_month = doy - (153 * mp + 2) / 5 + 1;
    (day_start, day_start - (day_of_month - 1) * day_ms)
}

impl Store {
    async fn cost_totals(
        &self,
        since: i64,
        project: Option<&str>,
    ) -> Result<CostTotals, StoreError> {
        let sql = format!(
            "SELECT {SUMS} FROM llm_usage WHERE created_at >= ?1 AND (?2 IS NULL OR project = ?2)"
        );
        Ok(sqlx::query_as(&sql)
            .bind(since)
            .bind(project)
            .fetch_one(self.read_pool())
            .await?)
    }

    async fn cost_groups(
        &self,
        key_sql: &str,
        since: i64,
        project: Option<&str>,
    ) -> Result<Vec<CostGroup>, StoreError> {
        let sql = format!(
            "SELECT {key_sql} AS key, {SUMS} FROM llm_usage
             WHERE created_at >= ?1 AND (?2 IS NULL OR project = ?2)
             GROUP BY key ORDER BY key"
        );
        let rows = sqlx::query(&sql)
            .bind(since)
            .bind(project)
            .fetch_all(self.read_pool())
            .await?;
        use sqlx::{FromRow, Row};
        rows.iter()
            .map(|row| {
                Ok(CostGroup {
                    key: row.try_get::<Option<String>, _>("key")?.unwrap_or_default(),
                    totals: CostTotals::from_row(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Totals for today and this month (UTC), and per day / model / project over the last `days` days.
    pub async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StoreError> {
        let (day_start, month_start) = day_and_month_start(now_ms);
        let since = day_start - (days.max(1) - 1) * 86_400_000;
        let period = self.cost_totals(since, project).await?;
        Ok(CostReport {
            today: self.cost_totals(day_start, project).await?,
            month: self.cost_totals(month_start, project).await?,
            cache_hit_ratio: period.cache_hit_ratio(),
            period,
            by_day: self
                .cost_groups(
                    "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')",
                    since,
                    project,
                )
                .await?,
            by_model: self.cost_groups("model", since, project).await?,
            by_project: self
                .cost_groups("COALESCE(project, '')", since, project)
                .await?,
            by_provider: self.cost_groups("provider", since, project).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_is_the_first() {
        // 2026-11-25T15:00:00Z
        let now = 1_795_618_800_000;
        let (day, month) = day_and_month_start(now);
        assert_eq!(day, 1_795_564_800_000); // 2026-11-25T00:00:00Z
        assert_eq!(month, 1_793_491_200_000); // 2026-11-01T00:00:00Z
                                              // 2024-03-01 (after a leap day)
        assert_eq!(day_and_month_start(1_709_294_400_000).1, 1_709_251_200_000);
    }
}
