//! The answer cache: replies to questions that are the same for every shopper
//! (store policies, product facts), kept in memory by normalised question so
//! a repeated question costs no model call.
//!
//! Owns which messages may be shared ([`key_for`]), the entries with their
//! age and the content version they were built under, eviction, and the hit
//! and miss counters `/metrics` reports. It must not read the store (callers
//! pass the [`ContentVersion`]), call a model or decide when a turn may use a
//! cached reply: the assistant's turn does that.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::intent::{self, Intent};
use super::slots;
use super::state::ProductRef;
use super::tools::ProductCard;
use crate::store::content::ContentVersion;

/// A reply as it was first produced, and by what.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    pub reply: String,
    /// The tier that produced the reply ("free", "starter", …).
    pub tier: String,
    /// The model that produced it; `None` for the rules driver.
    pub model: Option<String>,
    /// The product the answer is about, so "add it" works after a cached answer too.
    pub focus: Option<ProductRef>,
    /// The product cards the answer showed.
    pub products: Vec<ProductCard>,
}

/// Counters since start, and the answers held now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// Answers shared by every request thread; cheap to share behind an `Arc`.
pub struct AnswerCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Entry {
    answer: CachedAnswer,
    version: ContentVersion,
    stored_at: Instant,
    /// Position in `Entries::by_age`.
    seq: u64,
}

/// The entries by key, and their keys in the order they were stored so the
/// oldest is found without a scan.
#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    by_age: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Entries {
    /// The answer under `key` if it is younger than `ttl` and of `version`;
    /// an entry that is neither is dropped.
    fn fresh(
        &mut self,
        key: &str,
        version: ContentVersion,
        now: Instant,
        ttl: Duration,
    ) -> Option<CachedAnswer> {
        let entry = self.by_key.get(key)?;
        let current =
            entry.version == version && now.saturating_duration_since(entry.stored_at) < ttl;
        if current {
            return Some(entry.answer.clone());
        }
        self.remove(key);
        None
    }

    fn insert(&mut self, key: &str, entry_of: impl FnOnce(u64) -> Entry) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_age.insert(seq, key.to_string());
        self.by_key.insert(key.to_string(), entry_of(seq));
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.by_key.remove(key) {
            self.by_age.remove(&entry.seq);
        }
    }

    /// Drops the oldest entry; false when there was none.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, key)) = self.by_age.pop_first() else {
            return false;
        };
        self.by_key.remove(&key);
        true
    }
}

impl AnswerCache {
    /// A cache keeping answers for `ttl`, at most `capacity` of them; a zero
    /// `ttl` or `capacity` turns it off (nothing is stored, nothing counted).
    pub fn new(ttl: Duration, capacity: usize) -> AnswerCache {
        AnswerCache {
            ttl,
            capacity,
            entries: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The answer stored under `key` while the content was at `version`,
    /// unless it is older than the TTL. A stale or outdated entry is dropped
    /// and counts as a miss.
    pub fn get(&self, key: &str, version: ContentVersion) -> Option<CachedAnswer> {
        self.get_at(key, version, Instant::now())
    }

    /// Stores `answer` under `key`, built while the content was at `version`;
    /// when full, the oldest answer makes room.
    pub fn put(&self, key: &str, version: ContentVersion, answer: CachedAnswer) {
        self.put_at(key, version, answer, Instant::now())
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().by_key.len(),
        }
    }

    fn get_at(&self, key: &str, version: ContentVersion, now: Instant) -> Option<CachedAnswer> {
        if !self.is_enabled() {
            return None;
        }
        let found = self.lock().fresh(key, version, now, self.ttl);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put_at(&self, key: &str, version: ContentVersion, answer: CachedAnswer, now: Instant) {
        if !self.is_enabled() {
            return;
        }
        let mut entries = self.lock();
        entries.remove(key);
        while entries.by_key.len() >= self.capacity && entries.evict_oldest() {}
        entries.insert(key, |seq| Entry {
            answer,
            version,
            stored_at: now,
            seq,
        });
    }

    /// A poisoned lock only means another thread panicked holding it; the
    /// maps stay usable (eviction stops when it has nothing left to drop).
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What may be answered from the cache: the same for every shopper.
const SHAREABLE_INTENTS: &[Intent] = &[Intent::StorePolicy, Intent::ProductQuestion];

/// Below this confidence the classifier is unsure what was asked (the same
/// line below which the assistant asks a model to classify again).
const MIN_CONFIDENCE: f32 = 0.6;

/// Longer questions are rarely asked twice word for word, and more often
/// carry something about the shopper.
const MAX_KEY_CHARS: usize = 200;

/// This many digits in a row are an order, phone or postal number, not a
/// price or a quantity.
const MAX_DIGIT_RUN: usize = 3;

/// This many digits written in groups ("555 01 23", "(555) 012-3456") are a
/// phone number.
const MIN_PHONE_DIGITS: usize = 7;

/// Characters that may join the digit groups of a phone number.
const PHONE_JOINERS: &[char] = &[' ', '-', '.', '(', ')', '+', '/'];

/// Words about the shopper's own things or self ("my order", "ours", "I'm vegan").
const OWN_WORDS: &[&str] = &[
    "my",
    "mine",
    "myself",
    "our",
    "ours",
    "ourselves",
    "im",
    "iam",
];

/// Words that point back at something said or shown earlier in the conversation.
#[rustfmt::skip]
const POINTING_WORDS: &[&str] = &[
    "it", "its", "itself", "this", "that", "these", "those", "them", "they", "their", "theirs",
    "one", "ones", "same", "previous", "above", "last", "latter", "former", "other", "others",
    "another", "else", "instead", "again", "both", "either", "neither", "more", "cheaper",
    "bigger", "smaller", "similar", "first", "second", "third", "fourth", "fifth", "sixth",
    "seventh", "eighth", "ninth", "tenth",
];

/// First words of a follow-up that only makes sense after an earlier turn ("and in blue?").
const FOLLOW_UP_OPENINGS: &[&str] = &["and", "but", "also", "or", "so", "then"];

/// Phrases that ask the last question again about something else ("what about vegan").
const FOLLOW_UP_PHRASES: &[[&str; 2]] = &[["what", "about"], ["how", "about"]];

/// Subjects that, before a past act, tell of the shopper's own history
/// ("I ordered", "we already paid").
const FIRST_PERSON: &[&str] = &["i", "ive", "id", "we", "weve", "wed"];

/// What a shopper did that the shop keeps a record of.
#[rustfmt::skip]
const PAST_ACTS: &[&str] = &[
    "ordered", "bought", "paid", "placed", "purchased", "received", "returned", "got", "added",
    "used", "applied", "sent", "made", "signed", "registered", "subscribed", "asked", "said",
    "mentioned", "chose", "picked", "saw", "am", "charged", "billed", "booked", "reserved",
    "requested", "cancelled", "canceled",
];

/// The cache key of a shopper message whose answer may be shared with other
/// shoppers, or `None` when it may not.
///
/// The key is the normalised text ([`intent::normalize`]), so phrasings that
/// differ only in case, punctuation or spacing share it. Refused: messages
/// that name the shopper or their things (an email, an order number, a
/// voucher code, a phone or other long number, "my", "I ordered"), that point
/// back at the conversation ("it", "that one", "the second one", "and
/// vegan?"), and any that is not clearly a store-policy or product question.
/// When unsure it refuses.
///
/// This judges the text alone: the turn must still skip the cache when the
/// conversation holds state a reply could use (products shown earlier, a
/// checkout waiting for confirmation).
pub fn key_for(question: &str) -> Option<String> {
    let key = intent::normalize(question);
    let words: Vec<&str> = key.split(' ').filter(|w| !w.is_empty()).collect();
    let shareable = !words.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && !names_the_shopper(question)
        && !has_long_number(question)
        && !speaks_of_own_things(&words)
        && !points_back(&words)
        && is_a_shared_question(question);
    shareable.then_some(key)
}

/// An email, an order number or a voucher code, as the slot reader finds them.
fn names_the_shopper(question: &str) -> bool {
    // The decimals of prices do not matter here: only identifiers are read.
    let found = slots::extract(question, 2);
    found.email.is_some()
        || found.order_number.is_some()
        || found.voucher_code.is_some()
        || found.reference.is_some()
}

/// Digits in a row past a price's or a quantity's, or a phone number's worth in groups.
fn has_long_number(question: &str) -> bool {
    let mut in_row = 0;
    let mut in_groups = 0;
    for c in question.chars() {
        if c.is_ascii_digit() {
            in_row += 1;
            in_groups += 1;
            if in_row > MAX_DIGIT_RUN || in_groups >= MIN_PHONE_DIGITS {
                return true;
            }
        } else {
            in_row = 0;
            if !PHONE_JOINERS.contains(&c) {
                in_groups = 0;
            }
        }
    }
    false
}

fn speaks_of_own_things(words: &[&str]) -> bool {
    if words.iter().any(|w| OWN_WORDS.contains(w)) {
        return true;
    }
    // "I ordered", and with one word between: "I already paid", "I have ordered".
    words.iter().enumerate().any(|(i, word)| {
        FIRST_PERSON.contains(word)
            && words[i + 1..]
                .iter()
                .take(2)
                .any(|next| PAST_ACTS.contains(next))
    })
}

fn points_back(words: &[&str]) -> bool {
    words.iter().any(|w| POINTING_WORDS.contains(w))
        || words
            .first()
            .is_some_and(|first| FOLLOW_UP_OPENINGS.contains(first))
        || words
            .windows(2)
            .any(|pair| FOLLOW_UP_PHRASES.iter().any(|phrase| pair == phrase))
}

fn is_a_shared_question(question: &str) -> bool {
    let classified = intent::classify(question);
    SHAREABLE_INTENTS.contains(&classified.intent) && classified.confidence >= MIN_CONFIDENCE
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: ContentVersion = ContentVersion { catalog: 1, faq: 1 };

    fn answer(reply: &str) -> CachedAnswer {
        CachedAnswer {
            reply: reply.to_string(),
            tier: "free".to_string(),
            model: None,
            focus: None,
            products: Vec::new(),
        }
    }

    fn hour_cache(capacity: usize) -> AnswerCache {
        AnswerCache::new(Duration::from_secs(3600), capacity)
    }

    #[test]
    fn a_stored_answer_is_a_hit_and_an_unknown_key_a_miss() {
        let cache = hour_cache(10);
        cache.put("returns", V1, answer("Within 30 days."));
        assert_eq!(cache.get("returns", V1), Some(answer("Within 30 days.")));
        assert_eq!(cache.get("delivery", V1), None);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                entries: 1
            }
        );
    }

    #[test]
    fn storing_again_replaces_the_answer() {
        let cache = hour_cache(10);
        cache.put("returns", V1, answer("old"));
        cache.put("returns", V1, answer("new"));
        assert_eq!(cache.get("returns", V1), Some(answer("new")));
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn an_answer_expires_after_the_ttl() {
        let ttl = Duration::from_secs(60);
        let cache = AnswerCache::new(ttl, 10);
        let stored = Instant::now();
        cache.put_at("returns", V1, answer("30 days"), stored);
        let just_before = stored + ttl - Duration::from_millis(1);
        assert!(cache.get_at("returns", V1, just_before).is_some());
        assert_eq!(cache.get_at("returns", V1, stored + ttl), None);
        assert_eq!(cache.stats().entries, 0, "the stale entry is dropped");
        assert_eq!(cache.get_at("returns", V1, just_before), None, "and gone");
    }

    #[test]
    fn a_short_ttl_expires_in_real_time() {
        let cache = AnswerCache::new(Duration::from_millis(20), 10);
        cache.put("returns", V1, answer("30 days"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("returns", V1), None);
        assert_eq!(cache.stats().misses, 1);
    }

    #[test]
    fn a_content_change_invalidates() {
        let cache = hour_cache(10);
        cache.put("is the penne in stock", V1, answer("Yes, 4 left."));
        let sold = ContentVersion { catalog: 2, ..V1 };
        assert_eq!(cache.get("is the penne in stock", sold), None);
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(
            cache.get("is the penne in stock", V1),
            None,
            "an outdated entry is removed, not kept for the old version"
        );

        cache.put("returns", V1, answer("30 days"));
        let new_faq = ContentVersion { faq: 2, ..V1 };
        assert_eq!(cache.get("returns", new_faq), None);
    }

    #[test]
    fn a_full_cache_evicts_the_oldest() {
        let cache = hour_cache(3);
        for key in ["a", "b", "c"] {
            cache.put(key, V1, answer(key));
        }
        cache.put("b", V1, answer("b again"));
        cache.put("d", V1, answer("d"));
        assert_eq!(cache.stats().entries, 3);
        assert_eq!(cache.get("a", V1), None, "the oldest went");
        assert_eq!(cache.get("b", V1), Some(answer("b again")));
        cache.put("e", V1, answer("e"));
        assert_eq!(cache.get("c", V1), None, "then the next oldest");
        for kept in ["b", "d", "e"] {
            assert!(cache.get(kept, V1).is_some(), "{kept} stays");
        }
    }

    #[test]
    fn stats_count_every_lookup() {
        let cache = hour_cache(10);
        cache.put("returns", V1, answer("30 days"));
        for _ in 0..3 {
            cache.get("returns", V1);
        }
        cache.get("delivery", V1);
        cache.get("returns", ContentVersion { catalog: 9, faq: 9 });
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 3,
                misses: 2,
                entries: 0
            }
        );
    }

    #[test]
    fn a_zero_ttl_turns_the_cache_off() {
        let cache = AnswerCache::new(Duration::ZERO, 10);
        assert!(!cache.is_enabled());
        cache.put("returns", V1, answer("30 days"));
        assert_eq!(cache.get("returns", V1), None);
        assert_eq!(cache.stats(), CacheStats::default());
    }

    #[test]
    fn threads_share_one_cache() {
        let cache = std::sync::Arc::new(hour_cache(1000));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let cache = std::sync::Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let key = format!("q{t}-{i}");
                        cache.put(&key, V1, answer(&key));
                        assert_eq!(cache.get(&key, V1), Some(answer(&key)));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let stats = cache.stats();
        assert_eq!(stats.hits, 200);
        assert_eq!(stats.entries, 200, "every thread's answers are there");
    }

    #[test]
    fn phrasings_differing_in_case_punctuation_and_spacing_share_a_key() {
        let key = key_for("What's your return policy?").expect("a policy question is shared");
        assert_eq!(
            key_for("  whats YOUR   return policy  ").as_ref(),
            Some(&key)
        );
        assert_eq!(key_for("What's your return policy!!").as_ref(), Some(&key));
        assert_ne!(key_for("do you deliver on Sundays"), Some(key));
    }

    #[test]
    fn store_policy_and_product_questions_are_shared() {
        for question in [
            "What's your return policy?",
            "Do you deliver on Sundays?",
            "how much is shipping",
            "opening hours",
            "can I pay cash",
        ] {
            assert!(key_for(question).is_some(), "{question:?} should be cached");
        }
    }

    #[test]
    fn messages_naming_the_shopper_are_refused() {
        for question in [
            "what is the return policy for ana.lopez@example.com",
            "what's the return policy for SK-1001",
            "return policy for order 1042",
            "can I use the voucher SAVE10 on delivery",
            "do you deliver to 555 012 3456",
            "do you deliver to (555) 01-23-45",
            "do you deliver to 90210",
        ] {
            assert_eq!(key_for(question), None, "{question:?} is personal");
        }
    }

    #[test]
    fn messages_about_the_shoppers_own_things_are_refused() {
        for question in [
            "where is my order",
            "what's in my cart",
            "can I return my order",
            "the bread I ordered was stale, what is your return policy",
            "I already paid, when do you deliver",
            "is this parcel mine",
            "I'm vegan, what is your return policy",
        ] {
            assert_eq!(key_for(question), None, "{question:?} is personal");
        }
    }

    #[test]
    fn messages_pointing_back_at_the_conversation_are_refused() {
        for question in [
            "is it vegan?",
            "how much is that one",
            "are those gluten free",
            "tell me about the second one",
            "do you have it in a bigger size",
            "and vegan?",
            "what about delivery",
            "anything cheaper",
        ] {
            assert_eq!(
                key_for(question),
                None,
                "{question:?} needs the conversation"
            );
        }
    }

    #[test]
    fn actions_and_unclear_messages_are_refused() {
        for question in [
            "add two penne to the cart",
            "check out",
            "yes",
            "hello",
            "talk to a person",
            "",
            "?!",
        ] {
            assert_eq!(
                key_for(question),
                None,
                "{question:?} is not a shared question"
            );
        }
        let long = "do you deliver on sundays ".repeat(10);
        assert_eq!(key_for(&long), None, "too long to be asked twice");
    }

    #[test]
    fn prices_and_small_quantities_are_not_mistaken_for_personal_numbers() {
        assert!(!has_long_number("is the penne under $9.99 or 2 for 15"));
        assert!(has_long_number("call 0123"));
        assert!(has_long_number("+44 20 79 46"));
    }
}
