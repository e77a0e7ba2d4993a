//! The price table of remote models: what one call cost, in integer
//! micro-units of the shop currency, so that any sum of recorded costs adds up
//! exactly.
//!
//! This module owns the price text format and the cost arithmetic. It knows
//! nothing of providers, the network or the store: callers hand it a model
//! name and token counts.

use std::collections::BTreeMap;

use super::remote::TokenUsage;

/// Micro-units (1e-6 of the currency's major unit) per one million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input_per_million_micros: u64,
    pub output_per_million_micros: u64,
    pub cached_per_million_micros: u64,
}

/// Prices by model name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("price entry {entry:?} has no model name: write model=input/output[/cached]")]
    NoModel { entry: String },
    #[error(
        "price entry {entry:?} needs 2 or 3 prices separated by `/` (input/output[/cached]), found {found}"
    )]
    PriceCount { entry: String, found: usize },
    #[error(
        "price entry {entry:?}: the {which} price {value:?} is not an amount such as 0.15 (at most 6 decimals, at most 1000000)"
    )]
    Amount {
        entry: String,
        which: &'static str,
        value: String,
    },
    #[error("price entry {entry:?} prices model {model:?} a second time")]
    Duplicate { entry: String, model: String },
}

const MICROS_PER_UNIT: u64 = 1_000_000;
const TOKENS_PER_PRICE: u128 = 1_000_000;
/// No model costs a million currency units per million tokens; larger numbers are typos.
const MAX_WHOLE_UNITS: u64 = 1_000_000;

impl PriceTable {
    /// "gpt-4o-mini=0.15/0.60/0.075; gemini-2.5-flash=0.30/2.50/0.075" (currency
    /// units per 1M tokens: input/output/cached; cached is optional and
    /// defaults to input). Empty entries are skipped, so "" is an empty table.
    pub fn parse(text: &str) -> Result<PriceTable, PriceError> {
        let mut prices = BTreeMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (model, price) = parse_entry(entry)?;
            if prices.contains_key(&model) {
                return Err(PriceError::Duplicate {
                    entry: entry.to_string(),
                    model,
                });
            }
            prices.insert(model, price);
        }
        Ok(PriceTable { prices })
    }

    /// The price of `model`; a dated snapshot ("gpt-4o-mini-2024-07-18",
    /// "gemini-2.5-flash-001") falls back to its base model's price, because
    /// providers answer with the snapshot name of the model that was asked for.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.get(model).or_else(|| {
            self.prices
                .iter()
                .filter(|(base, _)| is_snapshot_of(model, base))
                .max_by_key(|(base, _)| base.len())
                .map(|(_, price)| price)
        })
    }

    /// The models priced, in name order.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.prices.keys().map(String::as_str)
    }

    /// Cost of one call in micro-units, rounded half up:
    /// ((input-cached)*in + cached*cached_price + output*out) / 1e6.
    /// An unknown model costs 0; the caller logs it.
    pub fn cost_micros(&self, model: &str, usage: TokenUsage) -> u64 {
        let Some(price) = self.price(model) else {
            return 0;
        };
        let cached = usage.cached.min(usage.input);
        let uncached = usage.input - cached;
        let numerator = u128::from(uncached) * u128::from(price.input_per_million_micros)
            + u128::from(cached) * u128::from(price.cached_per_million_micros)
            + u128::from(usage.output) * u128::from(price.output_per_million_micros);
        let rounded = (numerator + TOKENS_PER_PRICE / 2) / TOKENS_PER_PRICE;
        u64::try_from(rounded).unwrap_or(u64::MAX)
    }
}

fn parse_entry(entry: &str) -> Result<(String, Price), PriceError> {
    let no_model = || PriceError::NoModel {
        entry: entry.to_string(),
    };
    let (model, amounts) = entry.split_once('=').ok_or_else(no_model)?;
    let model = model.trim();
    if model.is_empty() {
        return Err(no_model());
    }
    let amounts: Vec<&str> = amounts.split('/').map(str::trim).collect();
    if !(2..=3).contains(&amounts.len()) {
        return Err(PriceError::PriceCount {
            entry: entry.to_string(),
            found: amounts.len(),
        });
    }
    let amount = |index: usize, which: &'static str| {
        parse_micros(amounts[index]).ok_or_else(|| PriceError::Amount {
            entry: entry.to_string(),
            which,
            value: amounts[index].to_string(),
        })
    };
    let input = amount(0, "input")?;
    let output = amount(1, "output")?;
    let cached = match amounts.get(2) {
        Some(_) => amount(2, "cached")?,
        None => input,
    };
    Ok((
        model.to_string(),
        Price {
            input_per_million_micros: input,
            output_per_million_micros: output,
            cached_per_million_micros: cached,
        },
    ))
}

/// "0.075" → 75_000 micro-units, exactly: decimal text, never a float.
fn parse_micros(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || fraction.len() > 6 || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    let whole: u64 = whole.parse().ok().filter(|w| *w <= MAX_WHOLE_UNITS)?;
    let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
    Some(whole * MICROS_PER_UNIT + fraction)
}

/// Whether `model` is `base` followed by a version suffix made of digits and
/// dashes only ("-2024-07-18", "-001").
fn is_snapshot_of(model: &str, base: &str) -> bool {
    model
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cached: u64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            cached,
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let table =
            PriceTable::parse("gpt-4o-mini=0.15/0.60/0.075; gemini-2.5-flash=0.30/2.50").unwrap();
        assert_eq!(
            table.price("gpt-4o-mini"),
            Some(&Price {
                input_per_million_micros: 150_000,
                output_per_million_micros: 600_000,
                cached_per_million_micros: 75_000,
            })
        );
        let flash = table.price("gemini-2.5-flash").unwrap();
        assert_eq!(flash.output_per_million_micros, 2_500_000);
        assert_eq!(
            flash.cached_per_million_micros, 300_000,
            "cached defaults to the input price"
        );
        assert_eq!(
            table.models().collect::<Vec<_>>(),
            ["gemini-2.5-flash", "gpt-4o-mini"]
        );
    }

    #[test]
    fn empty_text_and_stray_separators_are_fine() {
        assert_eq!(PriceTable::parse("").unwrap(), PriceTable::default());
        let table = PriceTable::parse(" ; a=1/2 ;; ").unwrap();
        assert_eq!(table.models().count(), 1);
    }

    #[test]
    fn errors_name_the_entry_and_the_reason() {
        let cases = [
            ("gpt-4o-mini 0.15/0.60", "has no model name"),
            ("=0.15/0.60", "has no model name"),
            ("m=0.15", "found 1"),
            ("m=1/2/3/4", "found 4"),
            ("m=0.15/abc", "the output price \"abc\""),
            ("m=-1/2", "the input price \"-1\""),
            ("m=1/2/0.0000001", "the cached price"),
            ("m=1/2/", "the cached price \"\""),
            ("m=1e3/2", "the input price"),
            ("m=1000001/2", "the input price"),
            ("m=1/2; m=3/4", "prices model \"m\" a second time"),
        ];
        for (text, expected) in cases {
            let message = PriceTable::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?} gave {message:?}");
            assert!(message.contains("price entry \""), "{message}");
        }
        let message = PriceTable::parse("ok=1/2; bad=x/2")
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"bad=x/2\""), "{message}");
    }

    #[test]
    fn cost_is_exact_integer_arithmetic_rounded_half_up() {
        let table = PriceTable::parse("m=0.15/0.60/0.075").unwrap();
        // 1000 uncached * 150000 + 0 + 500 * 600000 = 450_000_000 → 450 micros.
        assert_eq!(table.cost_micros("m", usage(1000, 500, 0)), 450);
        // 800 uncached * 150000 + 200 cached * 75000 + 500 * 600000 = 435_000_000.
        assert_eq!(table.cost_micros("m", usage(1000, 500, 200)), 435);
        // 3 * 150000 = 450_000 → 0.45 micros → 0; 4 * 150000 = 600_000 → 1.
        assert_eq!(table.cost_micros("m", usage(3, 0, 0)), 0);
        assert_eq!(table.cost_micros("m", usage(4, 0, 0)), 1);
        // Exactly half rounds up: 1 output token of a 0.5-per-million price.
        let half = PriceTable::parse("h=0/0.5").unwrap();
        assert_eq!(half.cost_micros("h", usage(0, 1, 0)), 1);
        assert_eq!(
            half.cost_micros("h", usage(0, 3, 0)),
            2,
            "1.5 micros rounds up"
        );
    }

    #[test]
    fn sums_of_call_costs_add_up_exactly() {
        let table = PriceTable::parse("gpt-4o=2.50/10.00/1.25").unwrap();
        let calls = [
            usage(1234, 56, 0),
            usage(98765, 4321, 65536),
            usage(7, 3, 7),
        ];
        let costs: Vec<u64> = calls
            .iter()
            .map(|u| table.cost_micros("gpt-4o", *u))
            .collect();
        // By hand: 1234*2.5 + 56*10 = 3645 micros; (33229*2.5 + 65536*1.25 + 4321*10)
        // = 83072.5 + 81920 + 43210 = 208202.5 → 208203; 7*1.25 + 3*10 = 38.75 → 39.
        assert_eq!(costs, [3645, 208_203, 39]);
        assert_eq!(costs.iter().sum::<u64>(), 211_887);
    }

    #[test]
    fn unknown_models_cost_nothing_and_snapshots_use_their_base_price() {
        let table = PriceTable::parse("gpt-4o=2.5/10; gpt-4o-mini=0.15/0.6").unwrap();
        assert_eq!(table.cost_micros("claude", usage(1_000_000, 0, 0)), 0);
        assert_eq!(
            table
                .price("gpt-4o-mini-2024-07-18")
                .unwrap()
                .input_per_million_micros,
            150_000,
            "the longest base wins"
        );
        assert_eq!(
            table
                .price("gpt-4o-2024-08-06")
                .unwrap()
                .input_per_million_micros,
            2_500_000
        );
        assert_eq!(
            table.price("gpt-4o-audio-preview"),
            None,
            "a different model is not a snapshot"
        );
        assert_eq!(table.price("gpt-4o-"), None);
    }

    #[test]
    fn cached_beyond_input_is_clamped_and_huge_counts_do_not_overflow() {
        let table = PriceTable::parse("m=1/1/0").unwrap();
        assert_eq!(table.cost_micros("m", usage(10, 0, 50)), 0);
        let big = PriceTable::parse("m=1000000/1000000").unwrap();
        assert_eq!(big.cost_micros("m", usage(u64::MAX, u64::MAX, 0)), u64::MAX);
    }
}
