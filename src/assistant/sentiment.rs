//! The mood of one shopper message from a small lexicon: how happy or angry, and whether
//! the shopper sounds frustrated.
//!
//! Owns the word lists, negation, intensifiers and the reading of shouting
//! (ALL CAPS, "!!!"). It must not decide what a frustrated message leads to:
//! flagging a conversation and handing it to a person belong to the assistant core.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::intent::normalize;

/// How a message sounds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Mood {
    /// -1 (angry) ..= 1 (happy); 0 for a neutral message.
    pub score: f32,
    /// The shopper needs care: a strongly negative message or a phrase of giving up.
    pub frustrated: bool,
}

/// Reads the mood of one message.
pub fn mood(message: &str) -> Mood {
    let normalized = normalize(message);
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    let reading = read_lexicon(&words);
    let mut raw = reading.sum + emoji_score(message);
    let shouting = is_shouting(message);
    if shouting && raw <= 0.0 {
        // Shouting with nothing kind in it reads as annoyance, even without a bad word.
        raw -= SHOUTING_BASELINE;
    }
    if shouting {
        raw *= SHOUTING_FACTOR;
    }
    if is_emphatic(message) {
        raw *= EMPHASIS_FACTOR;
    }
    let score = (raw / (raw.abs() + SOFTNESS)).clamp(-1.0, 1.0);
    Mood {
        score,
        frustrated: reading.gave_up || score <= FRUSTRATED_AT,
    }
}

/// Words and phrases with how happy (positive) or unhappy (negative) they sound.
const LEXICON: &[(&str, f32)] = &[
    ("no thanks", 0.0),
    ("no thank you", 0.0),
    ("no problem", 1.0),
    ("no worries", 1.0),
    ("thanks", 1.0),
    ("thank you", 1.0),
    ("thank", 1.0),
    ("cheers", 1.0),
    ("appreciate", 1.5),
    ("great", 1.5),
    ("perfect", 1.5),
    ("lovely", 1.5),
    ("helpful", 1.5),
    ("happy", 1.5),
    ("glad", 1.5),
    ("pleased", 1.5),
    ("delicious", 1.5),
    ("yay", 1.5),
    ("nice", 1.0),
    ("good", 1.0),
    ("cool", 1.0),
    ("easy", 1.0),
    ("love", 2.0),
    ("awesome", 2.0),
    ("amazing", 2.0),
    ("excellent", 2.0),
    ("fantastic", 2.0),
    ("brilliant", 2.0),
    ("wonderful", 2.0),
    ("superb", 2.0),
    ("good job", 2.0),
    ("well done", 2.0),
    ("meh", -0.5),
    ("problem", -1.0),
    ("confused", -1.0),
    ("slow", -1.0),
    ("late", -1.0),
    ("bad", -1.5),
    ("poor", -1.5),
    ("wrong", -1.5),
    ("broken", -1.5),
    ("missing", -1.5),
    ("stale", -1.5),
    ("confusing", -1.5),
    ("complaint", -1.5),
    ("ugh", -1.5),
    ("annoying", -2.0),
    ("annoyed", -2.0),
    ("disappointed", -2.0),
    ("disappointing", -2.0),
    ("unhappy", -2.0),
    ("upset", -2.0),
    ("damaged", -2.0),
    ("mouldy", -2.0),
    ("moldy", -2.0),
    ("rotten", -2.0),
    ("rude", -2.0),
    ("argh", -2.0),
    ("doesnt work", -2.0),
    ("not working", -2.0),
    ("never arrived", -2.5),
    ("terrible", -2.5),
    ("awful", -2.5),
    ("horrible", -2.5),
    ("disgusting", -2.5),
    ("hate", -2.5),
    ("angry", -2.5),
    ("frustrated", -2.5),
    ("frustrating", -2.5),
    ("sucks", -2.5),
    ("rip off", -2.5),
    ("furious", -3.0),
    ("scam", -3.0),
];

/// Phrases of a shopper at the end of their patience: frustrated whatever else they say.
const GIVING_UP: &[&str] = &[
    "this is useless",
    "useless",
    "waste of time",
    "waste of my time",
    "ridiculous",
    "worst",
    "i give up",
    "give up",
    "fed up",
    "sick of",
    "sick and tired",
    "pathetic",
    "hopeless",
    "rubbish",
    "garbage",
    "nonsense",
    "unacceptable",
    "this is a joke",
    "wtf",
    "what the hell",
    "for gods sake",
    "stupid",
    "not listening",
    "you dont understand",
    "doesnt understand",
    "makes no sense",
    "how many times",
    "still waiting",
];

/// How unhappy a giving-up phrase sounds on the score.
const GIVING_UP_WEIGHT: f32 = -3.0;

/// Words that turn the meaning of a sentiment word a few words later ("not helpful").
const NEGATORS: &[&str] = &[
    "not", "no", "never", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant",
    "cannot", "wont", "hardly", "without", "nothing",
];

/// How many words back a negator still reaches.
const NEGATION_REACH: usize = 3;

/// "not helpful" is as bad as "helpful" is good, but "not bad" is only mildly good.
const NEGATED_POSITIVE: f32 = -1.0;
const NEGATED_NEGATIVE: f32 = -0.5;

/// Words that strengthen the sentiment word right after them.
const INTENSIFIERS: &[(&str, f32)] = &[
    ("very", 1.5),
    ("so", 1.5),
    ("really", 1.5),
    ("super", 1.5),
    ("totally", 1.5),
    ("completely", 1.5),
    ("absolutely", 1.5),
    ("extremely", 1.8),
    ("incredibly", 1.8),
    ("too", 1.3),
    ("quite", 1.2),
];

const POSITIVE_EMOJI: &[char] = &[
    '😀', '😃', '😄', '😁', '😊', '🙂', '😍', '🥰', '😋', '👍', '❤', '💕', '🎉', '🙏',
];
const NEGATIVE_EMOJI: &[char] = &[
    '😡', '😠', '🤬', '👎', '😤', '😞', '😒', '🙁', '☹', '😢', '😭', '💩',
];
/// Emoji add up to at most this much either way: a row of them is one feeling, not ten.
const MAX_EMOJI_SCORE: f32 = 2.0;

/// Upper-case share of letters that reads as shouting.
const SHOUTING_SHARE: f32 = 0.7;
/// Fewer capitals than this ("OK", "I") is not shouting.
const MIN_SHOUTED_LETTERS: usize = 4;
const SHOUTING_BASELINE: f32 = 1.0;
const SHOUTING_FACTOR: f32 = 1.5;
const EMPHASIS_FACTOR: f32 = 1.5;

/// Maps the raw sum onto (-1, 1): a raw sum of ±SOFTNESS scores ±0.5.
const SOFTNESS: f32 = 2.0;
const FRUSTRATED_AT: f32 = -0.5;

/// The lexicon's verdict on a message's words.
struct Reading {
    sum: f32,
    gave_up: bool,
}

/// A lexicon phrase found in the message.
struct Hit {
    weight: f32,
    len: usize,
    giving_up: bool,
}

fn read_lexicon(words: &[&str]) -> Reading {
    let mut reading = Reading {
        sum: 0.0,
        gave_up: false,
    };
    // A negator inside an earlier hit ("no thanks") must not reach past it.
    let mut reach_from = 0;
    let mut i = 0;
    while i < words.len() {
        let Some(hit) = hit_at(words, i) else {
            i += 1;
            continue;
        };
        let negated = words[reach_from.max(i.saturating_sub(NEGATION_REACH))..i]
            .iter()
            .any(|w| NEGATORS.contains(w));
        let weight = match (negated, hit.weight >= 0.0) {
            (false, _) => hit.weight,
            (true, true) => hit.weight * NEGATED_POSITIVE,
            (true, false) => hit.weight * NEGATED_NEGATIVE,
        };
        // "not very helpful" is milder than "not helpful": a negated intensifier adds nothing.
        let intensity = if negated {
            1.0
        } else {
            intensity_before(words, i)
        };
        reading.sum += weight * intensity;
        reading.gave_up |= hit.giving_up && !negated;
        i += hit.len;
        reach_from = i;
    }
    reading
}

/// A lexicon or giving-up phrase split into words.
struct Phrase {
    words: Vec<&'static str>,
    weight: f32,
    giving_up: bool,
}

/// Every phrase, filed under its first word.
static PHRASES: LazyLock<HashMap<&'static str, Vec<Phrase>>> = LazyLock::new(|| {
    let lexicon = LEXICON.iter().map(|(text, weight)| (*text, *weight, false));
    let giving_up = GIVING_UP.iter().map(|text| (*text, GIVING_UP_WEIGHT, true));
    let mut phrases: HashMap<&'static str, Vec<Phrase>> = HashMap::new();
    for (text, weight, giving_up) in lexicon.chain(giving_up) {
        let words: Vec<&'static str> = text.split(' ').collect();
        if let Some(first) = words.first() {
            phrases.entry(first).or_default().push(Phrase {
                words,
                weight,
                giving_up,
            });
        }
    }
    phrases
});

/// The longest lexicon or giving-up phrase starting at word `i`.
fn hit_at(words: &[&str], i: usize) -> Option<Hit> {
    PHRASES
        .get(words.get(i)?)?
        .iter()
        .filter(|phrase| words.get(i..i + phrase.words.len()) == Some(&phrase.words[..]))
        .max_by_key(|phrase| phrase.words.len())
        .map(|phrase| Hit {
            weight: phrase.weight,
            len: phrase.words.len(),
            giving_up: phrase.giving_up,
        })
}

/// The strengthening from intensifiers right before word `i` ("so very bad" stacks).
fn intensity_before(words: &[&str], i: usize) -> f32 {
    words[..i]
        .iter()
        .rev()
        .map_while(|w| INTENSIFIERS.iter().find(|(word, _)| word == w))
        .map(|(_, factor)| factor)
        .product()
}

fn emoji_score(message: &str) -> f32 {
    let sum: f32 = message
        .chars()
        .map(|c| {
            if POSITIVE_EMOJI.contains(&c) {
                1.0
            } else if NEGATIVE_EMOJI.contains(&c) {
                -1.0
            } else {
                0.0
            }
        })
        .sum();
    sum.clamp(-MAX_EMOJI_SCORE, MAX_EMOJI_SCORE)
}

/// Mostly capital letters, and enough of them to mean it.
fn is_shouting(message: &str) -> bool {
    let letters = message.chars().filter(|c| c.is_alphabetic());
    let (upper, total) = letters.fold((0usize, 0usize), |(upper, total), c| {
        (upper + usize::from(c.is_uppercase()), total + 1)
    });
    upper >= MIN_SHOUTED_LETTERS && upper as f32 >= SHOUTING_SHARE * total as f32
}

/// "!!", "!!!", "?!", "??": punctuation that raises the voice.
fn is_emphatic(message: &str) -> bool {
    ["!!", "?!", "!?", "??"]
        .iter()
        .any(|mark| message.contains(mark))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(message: &str) -> f32 {
        mood(message).score
    }

    fn frustrated(message: &str) -> bool {
        mood(message).frustrated
    }

    #[test]
    fn happy_messages_score_positive_and_calm() {
        for message in [
            "thanks, that's perfect!",
            "great, thanks a lot",
            "I love this shop",
            "no problem",
            "not bad at all",
            "that was really helpful 👍",
            "I'm not angry",
        ] {
            let m = mood(message);
            assert!(m.score > 0.0, "{message:?}: {m:?}");
            assert!(!m.frustrated, "{message:?}: {m:?}");
        }
        assert!(score("amazing, thank you so much") > 0.5);
    }

    #[test]
    fn neutral_messages_score_near_zero() {
        for message in [
            "where is my order",
            "hi",
            "add two of those",
            "",
            "no thanks",
            "🍞",
        ] {
            let m = mood(message);
            assert!(m.score.abs() < 0.2, "{message:?}: {m:?}");
            assert!(!m.frustrated, "{message:?}: {m:?}");
        }
    }

    #[test]
    fn unhappy_messages_score_negative() {
        for message in [
            "not helpful",
            "the bread was stale and the milk was missing",
            "not happy with this",
            "ugh, the site is slow",
            "my parcel never arrived",
            "that's wrong 😠",
        ] {
            let m = mood(message);
            assert!(m.score < 0.0, "{message:?}: {m:?}");
        }
    }

    #[test]
    fn giving_up_phrases_are_frustrated_whatever_the_score() {
        for message in [
            "this is useless",
            "what a waste of time",
            "ridiculous",
            "the worst service ever",
            "I give up",
            "fed up with waiting",
            "you don't understand me",
            "This is not what I asked for, useless bot",
        ] {
            assert!(frustrated(message), "{message:?}: {:?}", mood(message));
            assert!(score(message) < 0.0, "{message:?}");
        }
    }

    #[test]
    fn strongly_negative_messages_are_frustrated() {
        assert!(frustrated("terrible"));
        assert!(frustrated("this is so annoying"));
        assert!(frustrated("WHERE IS MY ORDER!!!"));
        assert!(!frustrated("bad"));
        assert!(!frustrated("where is my order!!!"));
        assert!(!frustrated("HI DO YOU HAVE BREAD"));
    }

    #[test]
    fn negation_flips_and_stops_at_the_previous_phrase() {
        assert!(score("helpful") > 0.0);
        assert!(score("not helpful") < 0.0);
        assert!(score("not very helpful") < 0.0);
        assert!(score("bad") < 0.0 && score("not bad") > 0.0);
        assert!(score("not bad") < score("good"));
        assert!(!frustrated("it's not the worst"));
        assert!(score("no thanks, that's great") > 0.0);
    }

    #[test]
    fn intensifiers_caps_and_exclamations_raise_intensity() {
        assert!(score("very bad") < score("bad"));
        assert!(score("so annoying") < score("annoying"));
        assert!(score("TERRIBLE") < score("terrible"));
        assert!(score("bad!!!") < score("bad"));
        assert!(score("GREAT THANKS!!!") > score("great thanks"));
        assert!(score("great thanks!!!") > score("great thanks"));
    }

    #[test]
    fn scores_stay_in_range_on_odd_input() {
        let furious = "TERRIBLE AWFUL USELESS!!! 😡".repeat(400);
        let delighted = "amazing wonderful love it 😍 ".repeat(400);
        for message in [
            furious.as_str(),
            delighted.as_str(),
            "!!!",
            "😡😡😡😡😡",
            "\u{0}",
        ] {
            let m = mood(message);
            assert!((-1.0..=1.0).contains(&m.score), "{m:?}");
        }
        assert!(mood(&furious).frustrated);
        assert!(mood(&delighted).score > 0.9);
        assert!(score("😡😡😡😡😡") >= score("😡😡😡😡😡😡😡😡") - f32::EPSILON);
    }
}
