//! Token prices, so the worker can record what each observation cost and enforce budgets.

use std::collections::BTreeMap;

use crate::Usage;

/// USD per million tokens, one rate per [`Usage`] field.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pricing {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cache_write_per_mtok: f64,
    pub cache_read_per_mtok: f64,
}

impl Pricing {
    const fn new(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Self {
        Pricing {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_write_per_mtok: cache_write,
            cache_read_per_mtok: cache_read,
        }
    }

    /// Relies on [`Usage::input_tokens`] being uncached input for every provider, so cached
    /// tokens are charged once, at the cache-read rate.
    pub fn cost_usd(&self, u: &Usage) -> f64 {
        (u.input_tokens as f64 * self.input_per_mtok
            + u.output_tokens as f64 * self.output_per_mtok
            + u.cache_write_tokens as f64 * self.cache_write_per_mtok
            + u.cache_read_tokens as f64 * self.cache_read_per_mtok)
            / 1_000_000.0
    }
}

/// Published list prices; settings may override or extend the table.
///
/// Keys are model ids or id prefixes, matched by [`price_for`]. Opus is keyed so that the old,
/// expensive 4.0/4.1 ids are the exceptions and `claude-opus-4` itself (hence 4.5, 4.6 and
/// later 4.x ids) gets the current price.
pub fn default_pricing() -> BTreeMap<String, Pricing> {
    const HAIKU_4_5: Pricing = Pricing::new(1.0, 5.0, 1.25, 0.10);
    const SONNET_4: Pricing = Pricing::new(3.0, 15.0, 3.75, 0.30);
    const OPUS_4_5: Pricing = Pricing::new(5.0, 25.0, 6.25, 0.50);
    const OPUS_4_0: Pricing = Pricing::new(15.0, 75.0, 18.75, 1.50);
    [
        ("claude-haiku-4-5", HAIKU_4_5),
        ("claude-sonnet-4", SONNET_4),
        ("claude-opus-4", OPUS_4_5),
        ("claude-opus-4-0", OPUS_4_0),
        ("claude-opus-4-20250514", OPUS_4_0),
        ("claude-opus-4-1", OPUS_4_0),
        // OpenAI bills no cache writes; cached input is billed at the cache-read rate.
        ("gpt-4o-mini", Pricing::new(0.15, 0.60, 0.0, 0.075)),
        ("gpt-4o", Pricing::new(2.50, 10.0, 0.0, 1.25)),
        ("gpt-4.1-mini", Pricing::new(0.40, 1.60, 0.0, 0.10)),
        ("gpt-4.1-nano", Pricing::new(0.10, 0.40, 0.0, 0.025)),
        ("gpt-4.1", Pricing::new(2.0, 8.0, 0.0, 0.50)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Longest key that is a prefix of `model` ending at a segment boundary (`-`, `@`, `:` or the
/// end), so dated snapshots such as `claude-haiku-4-5-20251001` or Vertex-style
/// `claude-haiku-4-5@20251001` find their family, while `claude-opus-4-10` does not
/// mistake itself for `claude-opus-4-1`. Router ids such as `openai/gpt-4o-mini` are also
/// tried without their vendor prefix. `None` for unknown models (local models cost nothing).
pub fn price_for<'a>(table: &'a BTreeMap<String, Pricing>, model: &str) -> Option<&'a Pricing> {
    let model = model.trim();
    let lookup = |id: &str| {
        table
            .iter()
            .filter(|(key, _)| {
                !key.is_empty()
                    && id.starts_with(key.as_str())
                    && id[key.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| matches!(c, '-' | '@' | ':'))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, pricing)| pricing)
    };
    lookup(model).or_else(|| model.rsplit_once('/').and_then(|(_, bare)| lookup(bare)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cost_of_known_usage() {
        let table = default_pricing();
        let haiku = price_for(&table, "claude-haiku-4-5").unwrap();
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 200_000,
            cache_write_tokens: 400_000,
            cache_read_tokens: 2_000_000,
        };
        // 1.00 + 0.2 * 5 + 0.4 * 1.25 + 2 * 0.10
        assert!(
            close(haiku.cost_usd(&usage), 2.7),
            "{}",
            haiku.cost_usd(&usage)
        );
        assert!(close(haiku.cost_usd(&Usage::default()), 0.0));

        let mini = price_for(&table, "gpt-4o-mini").unwrap();
        let u = Usage {
            input_tokens: 2_000,
            output_tokens: 500,
            cache_write_tokens: 0,
            cache_read_tokens: 1_000,
        };
        assert!(close(
            mini.cost_usd(&u),
            (2_000.0 * 0.15 + 500.0 * 0.60 + 1_000.0 * 0.075) / 1e6
        ));
    }

    #[test]
    fn prefix_lookup() {
        let t = default_pricing();
        let p = |m: &str| price_for(&t, m).map(|p| p.input_per_mtok);
        assert_eq!(p("claude-haiku-4-5-20251001"), Some(1.0));
        assert_eq!(p("claude-haiku-4-5@20251001"), Some(1.0));
        assert_eq!(p("claude-sonnet-4-20250514"), Some(3.0));
        assert_eq!(p("claude-sonnet-4-5-20250929"), Some(3.0));
        assert_eq!(p("claude-opus-4-5-20251101"), Some(5.0));
        assert_eq!(p("claude-opus-4-6"), Some(5.0));
        assert_eq!(p("claude-opus-4-10"), Some(5.0));
        assert_eq!(p("claude-opus-4-1-20250805"), Some(15.0));
        assert_eq!(p("claude-opus-4-20250514"), Some(15.0));
        assert_eq!(p("claude-opus-4-0"), Some(15.0));
        assert_eq!(p("gpt-4o-mini-2024-07-18"), Some(0.15));
        assert_eq!(p("gpt-4o-2024-08-06"), Some(2.5));
        assert_eq!(p("gpt-4.1-mini"), Some(0.40));
        assert_eq!(p("gpt-4.1"), Some(2.0));
        assert_eq!(p("openai/gpt-4o-mini"), Some(0.15));
    }

    #[test]
    fn unknown_models_have_no_price() {
        let t = default_pricing();
        for m in [
            "llama3.2",
            "qwen2.5:7b",
            "",
            "claude",
            "gpt-4oo",
            "claude-haiku-4-50",
            "gpt-4",
        ] {
            assert!(price_for(&t, m).is_none(), "{m}");
        }
        assert!(price_for(&BTreeMap::new(), "claude-haiku-4-5").is_none());
    }

    #[test]
    fn table_round_trips_through_json() {
        let t = default_pricing();
        let s = serde_json::to_string(&t).unwrap();
        let back: BTreeMap<String, Pricing> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, t);
    }
}
