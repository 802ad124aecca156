//! LLM usage totals: what the cost meters and `GET /api/costs` show.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CostTotals {
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_read_tokens: i64,
    pub cost_usd: f64,
}

impl CostTotals {
    /// Share of prompt tokens served from the cache: what prompt caching saves.
    pub fn cache_hit_ratio(&self) -> f64 {
        let prompt = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens;
        if prompt == 0 {
            0.0
        } else {
            self.cache_read_tokens as f64 / prompt as f64
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CostGroup {
    /// The day (`YYYY-MM-DD`, UTC), model or project this row totals.
    pub key: String,
    #[serde(flatten)]
    pub totals: CostTotals,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CostReport {
    pub today: CostTotals,
    pub month: CostTotals,
    pub period: CostTotals,
    pub cache_hit_ratio: f64,
    pub by_day: Vec<CostGroup>,
    pub by_model: Vec<CostGroup>,
    pub by_project: Vec<CostGroup>,
    /// Per provider (`anthropic`, `openai`, `claude-code`): `claude-code` calls run on the user's Claude
    /// plan, so their dollars are what the CLI reports the tokens are worth, not a bill.
    pub by_provider: Vec<CostGroup>,
}
