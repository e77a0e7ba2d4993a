//! Turning logits into the next token: greedy, temperature, top-k, top-p,
//! min-p and a repetition penalty, driven by a seeded generator so the same
//! seed gives the same output.
//!
//! It owns only the arithmetic over one vector of logits; what the token
//! means (grammar, stop strings, streaming) is the engine's business.

use std::collections::HashSet;

/// How to pick tokens. `temperature <= 0` means greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 turns it off.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`; 1 turns it off.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 turns it off.
    pub min_p: f32,
    /// Penalty for tokens seen in the last `repeat_last_n` tokens; 1 turns it off.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl SamplingParams {
    pub fn greedy() -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Why these parameters cannot be used, naming the parameter.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let finite = |name: &'static str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err((name, "must be a finite number".to_string()))
            }
        };
        finite("temperature", self.temperature)?;
        finite("top_p", self.top_p)?;
        finite("min_p", self.min_p)?;
        finite("repeat_penalty", self.repeat_penalty)?;
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(("temperature", "must be between 0 and 2".into()));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(("top_p", "must be above 0 and at most 1".into()));
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return Err(("min_p", "must be at least 0 and below 1".into()));
        }
        if !(0.0 < self.repeat_penalty && self.repeat_penalty <= 10.0) {
            return Err(("repeat_penalty", "must be above 0 and at most 10".into()));
        }
        Ok(())
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

/// splitmix64: tiny, fast and good enough to draw tokens; reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Picks tokens for one generation; keeps the generator state between steps.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    /// Reused between steps so sampling does not allocate per token.
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = Rng::new(params.seed);
        Sampler {
            params,
            rng,
            candidates: Vec::new(),
        }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Applies the repetition penalty in place, llama.cpp style: positive
    /// logits are divided, negative ones multiplied, once per distinct token.
    pub fn penalize(&self, logits: &mut [f32], history: &[u32]) {
        let penalty = self.params.repeat_penalty;
        if penalty == 1.0 || self.params.repeat_last_n == 0 {
            return;
        }
        let start = history.len().saturating_sub(self.params.repeat_last_n);
        let seen: HashSet<u32> = history[start..].iter().copied().collect();
        for token in seen {
            if let Some(logit) = logits.get_mut(token as usize) {
                *logit = if *logit > 0.0 {
                    *logit / penalty
                } else {
                    *logit * penalty
                };
            }
        }
    }

    /// Draws one token from (already penalised) logits. Tokens whose logit is
    /// -inf are never chosen; `None` only when every logit is -inf or NaN.
    pub fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        if self.params.is_greedy() {
            return argmax(logits);
        }
        let temperature = self.params.temperature;
        self.candidates.clear();
        self.candidates.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, l)| (i as u32, l / temperature)),
        );
        if self.candidates.is_empty() {
            return None;
        }
        let by_logit_desc = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1);
        let top_k = self.params.top_k;
        if top_k > 0 && top_k < self.candidates.len() {
            self.candidates
                .select_nth_unstable_by(top_k - 1, by_logit_desc);
            self.candidates.truncate(top_k);
        }
        self.candidates.sort_unstable_by(by_logit_desc);
        // Softmax in place, stable against large logits.
        let max = self.candidates[0].1;
        let mut total = 0.0f32;
        for c in self.candidates.iter_mut() {
            c.1 = (c.1 - max).exp();
            total += c.1;
        }
        for c in self.candidates.iter_mut() {
            c.1 /= total;
        }
        let min_p = self.params.min_p * self.candidates[0].1;
        let mut keep = self.candidates.len();
        let mut cumulative = 0.0f32;
        for (i, c) in self.candidates.iter().enumerate() {
            if i > 0 && c.1 < min_p {
                keep = i;
                break;
            }
            cumulative += c.1;
            if cumulative >= self.params.top_p {
                keep = i + 1;
                break;
            }
        }
        self.candidates.truncate(keep.max(1));
        let mass: f32 = self.candidates.iter().map(|c| c.1).sum();
        let mut target = self.rng.next_f32() * mass;
        for c in &self.candidates {
            target -= c.1;
            if target < 0.0 {
                return Some(c.0);
            }
        }
        self.candidates.last().map(|c| c.0)
    }
}

/// Index of the largest finite logit; ties go to the lowest id.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(u32, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_finite() && best.is_none_or(|(_, b)| l > b) {
            best = Some((i as u32, l));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 7,
        }
    }

    #[test]
    fn greedy_takes_the_largest_and_skips_masked_tokens() {
        let mut sampler = Sampler::new(SamplingParams::greedy());
        assert_eq!(sampler.sample(&[0.1, 3.0, 2.0]), Some(1));
        assert_eq!(sampler.sample(&[0.1, f32::NEG_INFINITY, 2.0]), Some(2));
        assert_eq!(sampler.sample(&[f32::NEG_INFINITY; 3]), None);
    }

    #[test]
    fn same_seed_same_tokens_and_different_seed_differs() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut sampler = Sampler::new(SamplingParams {
                seed,
                ..params(1.0)
            });
            (0..64)
                .map(|_| sampler.sample(&logits).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        // logits ln(1), ln(3): probabilities 0.25 and 0.75.
        let logits = [0.0f32, 3.0f32.ln()];
        let mut sampler = Sampler::new(params(1.0));
        let ones = (0..20_000)
            .filter(|_| sampler.sample(&logits) == Some(1))
            .count();
        let share = ones as f32 / 20_000.0;
        assert!((share - 0.75).abs() < 0.02, "share of token 1 = {share}");
    }

    #[test]
    fn top_k_top_p_and_min_p_cut_the_tail() {
        let logits = [5.0f32, 4.0, 0.0, -1.0, -2.0];
        let only = |p: SamplingParams| {
            let mut sampler = Sampler::new(p);
            let mut seen: Vec<u32> = (0..2000).filter_map(|_| sampler.sample(&logits)).collect();
            seen.sort_unstable();
            seen.dedup();
            seen
        };
        assert_eq!(
            only(SamplingParams {
                top_k: 2,
                ..params(1.0)
            }),
            vec![0, 1]
        );
        assert_eq!(
            only(SamplingParams {
                top_p: 0.5,
                ..params(1.0)
            }),
            vec![0]
        );
        assert_eq!(
            only(SamplingParams {
                min_p: 0.2,
                ..params(1.0)
            }),
            vec![0, 1]
        );
        assert_eq!(only(params(1.0)), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn repetition_penalty_lowers_seen_tokens_once() {
        let sampler = Sampler::new(SamplingParams {
            repeat_penalty: 2.0,
            ..params(1.0)
        });
        let mut logits = [4.0f32, -1.0, 3.0];
        sampler.penalize(&mut logits, &[0, 0, 1]);
        assert_eq!(logits, [2.0, -2.0, 3.0]);
    }

    #[test]
    fn parameters_outside_their_range_are_named() {
        let bad = SamplingParams {
            top_p: 0.0,
            ..SamplingParams::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "top_p");
        let bad = SamplingParams {
            temperature: f32::NAN,
            ..SamplingParams::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "temperature");
        assert!(SamplingParams::default().check().is_ok());
    }
}
