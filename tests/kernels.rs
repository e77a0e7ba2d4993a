//! The fast CPU kernels against candle's reference mat-mul, on the real
//! packaged models: logits for fixed prompts, greedy generations, and
//! perplexity over a fixed text (`tests/fixtures/perplexity.txt`).

mod common;

use std::fs::File;
use std::io::BufReader;

use candle_core::Device;
use candle_core::quantized::gguf_file;
use shopkeep::llm::Family;
use shopkeep::llm::tokenizer::GgufTokenizer;
use shopkeep::llm::transformer::{Kernels, KvCache, Transformer};

const PROMPTS: [&str; 10] = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "A customer asks for gluten-free bread. A good answer is:",
    "List three fruits that are red:\n1.",
    "Translate to German: Good morning, how much is this loaf?",
    "{\"product\": \"sourdough\", \"price\":",
    "Once upon a time, in a small bakery,",
    "SELECT name, price FROM products WHERE",
    "The order total is 12.50 euros plus 3.90 shipping, so the customer pays",
    "Q: What is the boiling point of water at sea level?\nA:",
];

const GREEDY_TOKENS: usize = 64;

struct Pair {
    tokenizer: GgufTokenizer,
    fast: Transformer,
    reference: Transformer,
}

fn load_pair(id: &str) -> Pair {
    let path = common::model_file(id);
    let mut reader = BufReader::new(File::open(&path).unwrap());
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let architecture = content.metadata["general.architecture"]
        .to_string()
        .unwrap()
        .clone();
    let family = Family::from_architecture(&architecture).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&content).unwrap();
    let mut load = |kernels| {
        Transformer::load(&content, &mut reader, family, 2048, &Device::Cpu, kernels).unwrap()
    };
    let fast = load(Kernels::Fast);
    let reference = load(Kernels::Reference);
    Pair {
        tokenizer,
        fast,
        reference,
    }
}

fn encode(pair: &Pair, text: &str) -> Vec<u32> {
    pair.tokenizer.encode(text, true, false).unwrap()
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Logits after each token, running them one by one.
fn one_at_a_time(model: &Transformer, tokens: &[u32], cache: &mut KvCache) -> Vec<Vec<f32>> {
    tokens
        .iter()
        .map(|&token| model.forward(&[token], cache).unwrap())
        .collect()
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// 64 greedy tokens after `prompt`, with the logits each was chosen from.
fn greedy(model: &Transformer, prompt: &[u32]) -> (Vec<u32>, Vec<Vec<f32>>) {
    let mut cache = model.new_cache();
    let mut logits = model.forward(prompt, &mut cache).unwrap();
    let (mut tokens, mut steps) = (Vec::new(), Vec::new());
    for _ in 0..GREEDY_TOKENS {
        let next = argmax(&logits);
        tokens.push(next);
        let following = model.forward(&[next], &mut cache).unwrap();
        steps.push(std::mem::replace(&mut logits, following));
    }
    (tokens, steps)
}

/// Perplexity of the fixed text from the logits after each token.
fn perplexity(logits: &[Vec<f32>], tokens: &[u32]) -> f64 {
    let mut negative_log_likelihood = 0f64;
    for (row, &token) in logits.iter().zip(&tokens[1..]) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        negative_log_likelihood += max + sum.ln() - row[token as usize] as f64;
    }
    (negative_log_likelihood / (tokens.len() - 1) as f64).exp()
}

/// The logits after each token, in 64-token batches through the cache.
fn batched(model: &Transformer, tokens: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache();
    tokens
        .chunks(64)
        .flat_map(|chunk| model.forward_all(chunk, &mut cache).unwrap())
        .collect()
}

fn check_model(id: &str) {
    let pair = load_pair(id);

    // How far apart may logits be? These small models carry activation
    // outliers, and 8-bit activations round differently after any change
    // in f32 summation order, so the reference itself moves by tenths of a
    // logit between running a prompt in one batch and token by token. That
    // self-disagreement is the yardstick: ours may differ from the
    // reference by at most twice the reference's own noise (or 2% of the
    // logits' spread where that noise happens to be small). A broken kernel
    // moves logits by whole units, and is caught exactly by the unit tests.
    let mut noise_seen = 0f32;
    for prompt in PROMPTS {
        let tokens = encode(&pair, prompt);
        let fast = pair
            .fast
            .forward(&tokens, &mut pair.fast.new_cache())
            .unwrap();
        let reference = pair
            .reference
            .forward(&tokens, &mut pair.reference.new_cache())
            .unwrap();
        let sequential = one_at_a_time(&pair.reference, &tokens, &mut pair.reference.new_cache())
            .pop()
            .unwrap();
        let spread = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let noise = largest_difference(&reference, &sequential);
        let worst = largest_difference(&fast, &reference);
        noise_seen = noise_seen.max(noise);
        eprintln!(
            "{id}: {prompt:?}: largest logit difference {worst:.4}, reference's own {noise:.4} (spread {spread:.2})"
        );
        assert!(
            worst <= (2.0 * noise).max(0.02 * spread),
            "{id}: logits for {prompt:?} differ by {worst} (reference noise {noise}, spread {spread})"
        );
        assert_eq!(argmax(&fast), argmax(&reference), "{id}: {prompt:?}");
    }

    // Greedy continuations: identical, except that they may part where the
    // reference's own top two tokens lie within the logit noise measured
    // above (a near-tie that the reference itself breaks either way
    // depending on batching); everything up to that point must be equal.
    let mut identical = 0;
    for prompt in PROMPTS {
        let tokens = encode(&pair, prompt);
        let (fast, _) = greedy(&pair.fast, &tokens);
        let (reference, steps) = greedy(&pair.reference, &tokens);
        match fast.iter().zip(&reference).position(|(a, b)| a != b) {
            None => identical += 1,
            Some(at) => {
                let logits = &steps[at];
                let gap = logits[reference[at] as usize] - logits[fast[at] as usize];
                eprintln!(
                    "{id}: {prompt:?}: the continuations part at token {at} of {GREEDY_TOKENS}, a near-tie of {gap:.4} in the reference\nfast: {:?}\nreference: {:?}",
                    pair.tokenizer.decode(&fast),
                    pair.tokenizer.decode(&reference)
                );
                assert!(
                    gap <= 2.0 * noise_seen,
                    "{id}: greedy continuations of {prompt:?} part at token {at} where the reference prefers its token by {gap} (noise {noise_seen})"
                );
            }
        }
    }
    eprintln!(
        "{id}: {identical} of {} greedy continuations identical over {GREEDY_TOKENS} tokens; the others part at near-ties",
        PROMPTS.len()
    );

    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/perplexity.txt"),
    )
    .unwrap();
    let tokens = encode(&pair, &text);
    assert!(tokens.len() > 900, "the text is {} tokens", tokens.len());
    let fast = perplexity(&batched(&pair.fast, &tokens), &tokens);
    let reference = perplexity(&batched(&pair.reference, &tokens), &tokens);
    let ratio = fast / reference;
    eprintln!("{id}: perplexity fast {fast:.4}, reference {reference:.4}, ratio {ratio:.6}");
    assert!(
        reference > 1.0 && reference < 100.0,
        "{id}: a reference perplexity of {reference} means the model is broken"
    );
    assert!(
        (ratio - 1.0).abs() < 0.005,
        "{id}: perplexity {fast} against the reference's {reference}"
    );
}

#[test]
fn qwen_fast_kernels_match_the_reference() {
    check_model("qwen2.5-coder-0.5b-instruct");
}

#[test]
fn gemma_fast_kernels_match_the_reference() {
    check_model("gemma-3-270m");
}
