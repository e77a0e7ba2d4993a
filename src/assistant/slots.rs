//! Slot extraction: the facts a rules-driven turn needs from one shopper message.
//!
//! Owns reading quantities, price bounds, dietary labels, references to earlier
//! results ("the second one", "those"), order numbers, voucher codes, emails and
//! the words left over for a product search. Pure and model-free: it must not
//! touch the store, the search index or a cart, and it resolves nothing — "the
//! second one" stays an ordinal for the caller to match against its last results.

use crate::catalog::dietary;
use crate::commerce::shopper::check_email;
use crate::commerce::vouchers::normalise_code;

/// A pointer back at products the assistant showed earlier in the conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Reference {
    /// 1-based position in the last results: "the second one", "#2", "number 3".
    Ordinal(usize),
    /// "the last one".
    Last,
    /// "those", "them", "it", "that one", "these": everything just shown, or the one in focus.
    Those,
}

/// What one message says beyond its intent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Slots {
    pub quantity: Option<i64>,
    pub max_price_minor: Option<u64>,
    pub min_price_minor: Option<u64>,
    /// Canonical labels of `catalog::dietary`, in the order the message names them.
    pub dietary: Vec<String>,
    pub reference: Option<Reference>,
    pub order_number: Option<String>,
    pub voucher_code: Option<String>,
    pub email: Option<String>,
    /// The words left for a product search, lower-cased, once filler and every slot above are
    /// taken out.
    pub query: String,
}

/// Reads every slot out of `message`; prices become minor units with `minor_digits` decimals.
pub fn extract(message: &str, minor_digits: u32) -> Slots {
    let mut scan = Scan::new(message);
    let email = scan.email();
    let keyed_voucher = scan.keyed_voucher();
    let order_number = scan.order_number();
    let (min_price_minor, max_price_minor) = scan.price_bounds(minor_digits);
    let dietary = scan.dietary();
    let reference = scan.reference();
    // A bare code-like token is only a voucher once prices and order numbers had their pick.
    let voucher_code = keyed_voucher.or_else(|| scan.bare_voucher());
    let quantity = scan.quantity();
    Slots {
        quantity,
        max_price_minor,
        min_price_minor,
        dietary,
        reference,
        order_number,
        voucher_code,
        email,
        query: scan.query(),
    }
}

/// Characters that always end a token.
const SEPARATORS: &[char] = &[
    ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '"', '“', '”', '«', '»', '/', '&', '+',
    '*', '=', '|', '~', '…',
];

/// Marks trimmed from both ends of a token but kept inside it ("SK-1042", "9.99").
const EDGE_MARKS: &[char] = &['.', '\'', '’', '‘', '`', '-', '_'];

/// Words that carry no product meaning: requests, pronouns, cart talk, politeness.
#[rustfmt::skip]
const FILLER: &[&str] = &[
    "a", "about", "above", "add", "affordable", "again", "all", "also", "am", "an", "and", "any",
    "anything", "apply", "are", "at", "available", "basket", "be", "below", "between", "but", "buy",
    "by", "can", "cart", "change", "cheap", "cheaper", "cheapest", "cost", "costs", "could",
    "delete", "did", "do", "does", "dont", "drop", "else", "find", "for", "from", "get", "give",
    "got", "grab", "have", "hello", "here", "hey", "hi", "how", "i", "id", "ill", "im", "in",
    "info", "instead", "into", "is", "it", "item", "items", "ive", "just", "kind", "know", "less",
    "like", "look", "looking", "make", "max", "may", "me", "might", "more", "my", "need", "needs",
    "no", "not", "now", "of", "off", "ok", "okay", "on", "one", "ones", "or", "our", "out", "over",
    "please", "pls", "plz", "price", "priced", "product", "products", "purchase", "put", "quantity",
    "really", "remove", "search", "searching", "see", "sell", "set", "should", "show", "so", "some",
    "something", "sort", "stuff", "take", "tell", "than", "thank", "thanks", "that", "the", "them",
    "there", "these", "thing", "things", "this", "those", "to", "too", "trolley", "type", "under",
    "update", "us", "use", "wanna", "want", "was", "we", "what", "whats", "when", "where", "which",
    "will", "with", "would", "yes", "you", "your",
];

/// Words that name a currency when written after an amount ("15 dollars").
const CURRENCY_WORDS: &[&str] = &[
    "dollar", "dollars", "bucks", "buck", "usd", "euro", "euros", "eur", "pound", "pounds", "quid",
    "gbp", "yen", "jpy",
];

/// Currency symbols written before or after an amount ("$15", "15€").
const CURRENCY_SYMBOLS: &[char] = &['$', '€', '£', '¥', '₹', '₩'];

/// Units after a number make it a size ("800 g loaf"), neither a price nor a quantity.
const UNITS: &[&str] = &[
    "g", "gr", "gram", "grams", "kg", "kgs", "kilo", "kilos", "ml", "cl", "l", "litre", "litres",
    "liter", "liters", "oz", "lb", "lbs", "cal", "kcal", "calories", "percent", "pc", "pcs", "cm",
    "mm", "inch", "inches", "am", "pm", "oclock", "minutes", "mins", "hours", "days", "weeks",
];

/// Words before a number that make it a time or a date rather than a count.
const TIME_WORDS: &[&str] = &["before", "after", "at", "by", "until", "till", "since"];

/// Phrases that cap the price when an amount follows them.
const AT_MOST: &[&[&str]] = &[
    &["no", "more", "than"],
    &["not", "more", "than"],
    &["less", "than"],
    &["cheaper", "than"],
    &["lower", "than"],
    &["at", "most"],
    &["up", "to"],
    &["budget", "of"],
    &["under"],
    &["below"],
    &["max"],
    &["maximum"],
    &["within"],
    &["<"],
    &["<="],
];

/// Phrases that set a price floor when an amount follows them.
const AT_LEAST: &[&[&str]] = &[
    &["more", "than"],
    &["higher", "than"],
    &["pricier", "than"],
    &["at", "least"],
    &["starting", "at"],
    &["upwards", "of"],
    &["over"],
    &["above"],
    &["min"],
    &["minimum"],
    &[">"],
    &[">="],
];

/// Words that open a range ("between 5 and 10", "from $5 to $10") and the word joining it.
const RANGES: &[(&str, &str)] = &[("between", "and"), ("from", "to")];

/// Words that say what is missing ("no dairy", "without milk").
const ABSENCE: &[&str] = &["no", "without", "non", "zero"];

/// Ingredient words whose absence the dietary vocabulary names under another word.
const ALLERGEN_ALIASES: &[(&str, &str)] = &[
    ("milk", "dairy"),
    ("nuts", "nut"),
    ("peanuts", "peanut"),
    ("wheat", "gluten"),
    ("sugars", "sugar"),
];

const NUMBER_WORDS: &[(&str, i64)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("fifteen", 15),
    ("twenty", 20),
];

/// Counting phrases, longest first so "half a dozen" wins over "a dozen".
const COUNT_PHRASES: &[(&[&str], i64)] = &[
    (&["half", "a", "dozen"], 6),
    (&["a", "dozen"], 12),
    (&["dozen"], 12),
    (&["a", "couple"], 2),
    (&["couple"], 2),
    (&["a", "pair"], 2),
];

/// Words before "one" that make it a pronoun ("the first one", "that one"), not a count.
const POINTING_WORDS: &[&str] = &[
    "the", "that", "this", "which", "last", "other", "any", "each", "every", "no", "another",
    "same", "cheaper", "bigger", "smaller", "first", "second", "third", "fourth", "fifth",
];

/// Larger numbers are ids, phone numbers or years, not how many of something to buy.
const MAX_QUANTITY: i64 = 1_000_000;

const ORDINAL_WORDS: &[(&str, usize)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
];

/// Nouns that follow an ordinal when it points at a result ("the second item").
const RESULT_NOUNS: &[&str] = &[
    "one", "ones", "item", "items", "option", "product", "result", "choice",
];

/// Words that introduce a result by number ("number 3", "item 2").
const NUMBERED: &[&str] = &["number", "item", "option", "product", "result", "choice"];

/// Words that point at what was just shown; "this"/"that" only count at the end.
const POINTERS: &[&[&str]] = &[
    &["those", "ones"],
    &["these", "ones"],
    &["that", "one"],
    &["this", "one"],
    &["those"],
    &["these"],
    &["them"],
    &["it"],
];

/// Words that introduce a voucher code.
const VOUCHER_WORDS: &[&str] = &["code", "voucher", "coupon", "promo", "promocode"];

/// Words between a voucher word and the code itself ("voucher code is SAVE10").
const VOUCHER_LEAD_INS: &[&str] = &["code", "is", "number", "of"];

/// Words that follow a voucher word without being a code ("a voucher for my order").
const NOT_A_CODE: &[&str] = &[
    "a", "again", "and", "anymore", "applied", "apply", "at", "code", "coupon", "did", "didnt",
    "discount", "do", "does", "doesnt", "expired", "for", "from", "got", "has", "have", "here",
    "i", "in", "isnt", "it", "me", "my", "not", "now", "on", "please", "pls", "promo", "thanks",
    "that", "the", "there", "this", "to", "today", "too", "use", "valid", "voucher", "was", "will",
    "with", "wont", "work", "works", "you",
];

const MAX_CODE_CHARS: usize = 32;

/// Words that introduce an order number ("order 1042", "order number 1042").
const ORDER_LEAD_INS: &[&str] = &["number", "no", "num", "nr", "id"];

/// Longest letter prefix of an order number written "SK-1042".
const MAX_ORDER_PREFIX: usize = 5;
const MAX_ORDER_DIGITS: usize = 12;
/// Order numbers start at 1001; "order 2 loaves" is a count, not an order.
const MIN_ORDER_DIGITS: usize = 3;

/// One piece of the message between separators.
struct Token<'a> {
    /// As written with edge marks trimmed: codes and emails keep their case and inner marks.
    raw: &'a str,
    /// Lower-case without apostrophes: what keyword matching compares.
    word: String,
}

/// The message's tokens and which of them a slot has already claimed.
struct Scan<'a> {
    tokens: Vec<Token<'a>>,
    used: Vec<bool>,
}

/// A price written in the message.
struct Amount {
    minor: u64,
    /// A currency symbol or word came with it, so it is a price whatever surrounds it.
    marked: bool,
    /// How many tokens it spans ("$ 15" is two).
    len: usize,
}

impl<'a> Scan<'a> {
    fn new(message: &'a str) -> Scan<'a> {
        let tokens: Vec<Token<'a>> = message
            .split(|c: char| c.is_whitespace() || SEPARATORS.contains(&c))
            .map(|piece| piece.trim_matches(EDGE_MARKS))
            .filter(|piece| !piece.is_empty())
            .map(|raw| Token {
                raw,
                word: raw.to_lowercase().replace(['\'', '’', '‘', '`'], ""),
            })
            .collect();
        let used = vec![false; tokens.len()];
        Scan { tokens, used }
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The word at `i` if no slot has claimed it.
    fn free_word(&self, i: usize) -> Option<&str> {
        (i < self.len() && !self.used[i]).then(|| self.tokens[i].word.as_str())
    }

    fn free_raw(&self, i: usize) -> Option<&'a str> {
        (i < self.len() && !self.used[i]).then(|| self.tokens[i].raw)
    }

    fn is_free_word(&self, i: usize, word: &str) -> bool {
        self.free_word(i) == Some(word)
    }

    /// The word before `i`, claimed or not: context for what a number means.
    fn previous_word(&self, i: usize) -> Option<&str> {
        i.checked_sub(1).map(|p| self.tokens[p].word.as_str())
    }

    /// Whether the free words from `i` on spell `phrase`.
    fn free_phrase_at(&self, i: usize, phrase: &[&str]) -> bool {
        phrase
            .iter()
            .enumerate()
            .all(|(k, word)| self.is_free_word(i + k, word))
    }

    fn claim(&mut self, from: usize, len: usize) {
        let end = (from + len).min(self.len());
        for used in &mut self.used[from..end] {
            *used = true;
        }
    }

    /// The first free position where `found` reads something, claiming what it spans.
    fn claim_first<T>(&mut self, found: impl Fn(&Self, usize) -> Option<(T, usize)>) -> Option<T> {
        let (value, at, len) =
            (0..self.len()).find_map(|i| found(self, i).map(|(value, len)| (value, i, len)))?;
        self.claim(at, len);
        Some(value)
    }

    fn email(&mut self) -> Option<String> {
        self.claim_first(|scan, i| {
            let raw = scan.free_raw(i)?;
            (raw.contains('@') && check_email(raw).is_ok()).then(|| (raw.to_lowercase(), 1))
        })
    }

    /// The code after "code", "voucher", "coupon" or "promo".
    fn keyed_voucher(&mut self) -> Option<String> {
        self.claim_first(|scan, i| {
            if !VOUCHER_WORDS.contains(&scan.free_word(i)?) {
                return None;
            }
            let mut at = i + 1;
            while scan
                .free_word(at)
                .is_some_and(|w| VOUCHER_LEAD_INS.contains(&w))
            {
                at += 1;
            }
            let raw = scan.free_raw(at)?;
            let word = scan.free_word(at)?;
            (looks_like_code(raw) && !NOT_A_CODE.contains(&word))
                .then(|| (normalise_code(raw), at + 1 - i))
        })
    }

    /// An ALLCAPS token with digits, like SAVE10, written without a voucher word.
    fn bare_voucher(&mut self) -> Option<String> {
        self.claim_first(|scan, i| {
            let raw = scan.free_raw(i)?;
            let shaped = raw.len() >= 4
                && looks_like_code(raw)
                && raw.starts_with(|c: char| c.is_ascii_uppercase())
                && raw.bytes().any(|b| b.is_ascii_digit())
                && !raw.bytes().any(|b| b.is_ascii_lowercase());
            shaped.then(|| (raw.to_string(), 1))
        })
    }

    /// "SK-1042" anywhere, or the number after "order".
    fn order_number(&mut self) -> Option<String> {
        self.claim_first(|scan, i| {
            if let Some(number) = scan.free_raw(i).and_then(prefixed_order_number) {
                return Some((number, 1));
            }
            if !scan.is_free_word(i, "order") {
                return None;
            }
            let mut at = i + 1;
            if scan
                .free_word(at)
                .is_some_and(|w| ORDER_LEAD_INS.contains(&w))
            {
                at += 1;
            }
            let raw = scan.free_raw(at)?;
            let digits = raw.strip_prefix('#').unwrap_or(raw);
            let plausible = (MIN_ORDER_DIGITS..=MAX_ORDER_DIGITS).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit());
            plausible.then(|| (digits.to_string(), at + 1 - i))
        })
    }

    /// (min, max) price bounds in minor units.
    fn price_bounds(&mut self, minor_digits: u32) -> (Option<u64>, Option<u64>) {
        let mut min = None;
        let mut max = None;
        let mut i = 0;
        while i < self.len() {
            if let Some((low, high, len)) = self.range_at(i, minor_digits) {
                min = min.or(Some(low.min(high)));
                max = max.or(Some(low.max(high)));
                self.claim(i, len);
                i += len;
            } else if let Some((bound, len)) = self.bound_at(i, AT_MOST, minor_digits) {
                max = max.or(Some(bound));
                self.claim(i, len);
                i += len;
            } else if let Some((bound, len)) = self.bound_at(i, AT_LEAST, minor_digits) {
                min = min.or(Some(bound));
                self.claim(i, len);
                i += len;
            } else if let Some(amount) = self.amount_at(i, minor_digits).filter(|a| a.marked) {
                // "a $5 coffee": a price, though not a bound; neither a count nor a search word.
                self.claim(i, amount.len);
                i += amount.len;
            } else {
                i += 1;
            }
        }
        (min, max)
    }

    /// A comparator from `phrases` followed by an amount: (minor units, tokens spanned).
    fn bound_at(&self, i: usize, phrases: &[&[&str]], minor_digits: u32) -> Option<(u64, usize)> {
        phrases.iter().find_map(|phrase| {
            if !self.free_phrase_at(i, phrase) {
                return None;
            }
            let amount = self.amount_at(i + phrase.len(), minor_digits)?;
            Some((amount.minor, phrase.len() + amount.len))
        })
    }

    /// "between 5 and 10", "from $5 to $10", "$5 to $10", "$5-$10": (low, high, tokens spanned).
    fn range_at(&self, i: usize, minor_digits: u32) -> Option<(u64, u64, usize)> {
        for (opener, joiner) in RANGES {
            if self.is_free_word(i, opener) {
                if let Some((low, high, len)) = self.dash_range_at(i + 1, minor_digits, true) {
                    return Some((low, high, len + 1));
                }
                if let Some((low, high, len)) = self.joined_range_at(i + 1, joiner, minor_digits) {
                    return Some((low, high, len + 1));
                }
            }
        }
        if let Some(found) = self.dash_range_at(i, minor_digits, false) {
            return Some(found);
        }
        let (low, high, len) = self.joined_range_at(i, "to", minor_digits)?;
        let marked = (i..i + len).any(|k| self.tokens[k].word.contains(CURRENCY_SYMBOLS))
            || self
                .free_word(i + len - 1)
                .is_some_and(|w| CURRENCY_WORDS.contains(&w));
        marked.then_some((low, high, len))
    }

    /// Amount, `joiner`, amount.
    fn joined_range_at(
        &self,
        i: usize,
        joiner: &str,
        minor_digits: u32,
    ) -> Option<(u64, u64, usize)> {
        let low = self.amount_at(i, minor_digits)?;
        if !self.is_free_word(i + low.len, joiner) {
            return None;
        }
        let high = self.amount_at(i + low.len + 1, minor_digits)?;
        Some((low.minor, high.minor, low.len + 1 + high.len))
    }

    /// One token "5-10" or "$5-$10"; without an opener it must name a currency.
    fn dash_range_at(
        &self,
        i: usize,
        minor_digits: u32,
        opened: bool,
    ) -> Option<(u64, u64, usize)> {
        let raw = self.free_raw(i)?;
        let (left, right) = raw.split_once('-')?;
        let (low, low_marked) = price_text(left, minor_digits)?;
        let (high, high_marked) = price_text(right, minor_digits)?;
        let word_marked = self
            .free_word(i + 1)
            .is_some_and(|w| CURRENCY_WORDS.contains(&w));
        let len = if word_marked { 2 } else { 1 };
        (opened || low_marked || high_marked || word_marked).then_some((low, high, len))
    }

    /// A price at `i`: "$15", "15.50", "$ 15", "15€", "15 dollars"; never "800 g".
    fn amount_at(&self, i: usize, minor_digits: u32) -> Option<Amount> {
        let raw = self.free_raw(i)?;
        let (minor, marked, len) = if raw.chars().all(|c| CURRENCY_SYMBOLS.contains(&c)) {
            let (minor, _) = price_text(self.free_raw(i + 1)?, minor_digits)?;
            (minor, true, 2)
        } else {
            let (minor, marked) = price_text(raw, minor_digits)?;
            (minor, marked, 1)
        };
        match self.free_word(i + len) {
            Some(next) if CURRENCY_WORDS.contains(&next) => Some(Amount {
                minor,
                marked: true,
                len: len + 1,
            }),
            Some(next) if UNITS.contains(&next) && !marked => None,
            _ => Some(Amount { minor, marked, len }),
        }
    }

    /// Dietary labels, canonical, without repeats, in the order they appear.
    fn dietary(&mut self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.len() {
            match self.dietary_at(i) {
                Some((label, len)) => {
                    if !labels.iter().any(|l| l == label) {
                        labels.push(label.to_string());
                    }
                    self.claim(i, len);
                    i += len;
                }
                None => i += 1,
            }
        }
        labels
    }

    /// A dietary label at `i` and the tokens it spans: "vegan", "gluten free", "no dairy",
    /// "nut-free".
    fn dietary_at(&self, i: usize) -> Option<(&'static str, usize)> {
        let word = self.free_word(i)?;
        let named = (1..=3).rev().find_map(|n| {
            let words: Option<Vec<&str>> = (i..i + n).map(|k| self.free_word(k)).collect();
            dietary::canonical(&words?.join(" ")).map(|label| (label, n))
        });
        let next = self.free_word(i + 1);
        let after_next = self.free_word(i + 2);
        named
            .or_else(|| {
                // "no dairy", "without milk"
                ABSENCE
                    .contains(&word)
                    .then(|| free_of(next?).map(|label| (label, 2)))
                    .flatten()
            })
            .or_else(|| {
                // "milk free"
                (next == Some("free"))
                    .then(|| free_of(word).map(|label| (label, 2)))
                    .flatten()
            })
            .or_else(|| {
                // "free from nuts", "free of gluten"
                (word == "free" && matches!(next, Some("from" | "of")))
                    .then(|| free_of(after_next?).map(|label| (label, 3)))
                    .flatten()
            })
            .or_else(|| {
                // "milk-free", "non-dairy"
                let hyphenated = word
                    .strip_suffix("-free")
                    .or_else(|| word.strip_prefix("non-"))?;
                free_of(hyphenated).map(|label| (label, 1))
            })
    }

    /// "the second one", "#2", "number 3", "the last one"; otherwise "those", "it", "that one".
    fn reference(&mut self) -> Option<Reference> {
        self.claim_first(|scan, i| scan.ordinal_at(i))
            .or_else(|| self.claim_first(|scan, i| scan.pointer_at(i)))
    }

    fn ordinal_at(&self, i: usize) -> Option<(Reference, usize)> {
        let word = self.free_word(i)?;
        if let Some(n) = word.strip_prefix('#').and_then(positive_index) {
            return Some((Reference::Ordinal(n), 1));
        }
        if NUMBERED.contains(&word) {
            let next = self.free_word(i + 1)?;
            let n = positive_index(next.strip_prefix('#').unwrap_or(next))?;
            return Some((Reference::Ordinal(n), 2));
        }
        let reference = if word == "last" {
            Reference::Last
        } else {
            Reference::Ordinal(ordinal_number(word)?)
        };
        let follows_the = matches!(self.previous_word(i), Some("the" | "that" | "this"));
        let noun_follows = self
            .free_word(i + 1)
            .is_some_and(|w| RESULT_NOUNS.contains(&w));
        if !(follows_the || noun_follows) {
            return None;
        }
        let len = if noun_follows { 2 } else { 1 };
        Some((reference, len))
    }

    fn pointer_at(&self, i: usize) -> Option<(Reference, usize)> {
        if let Some(phrase) = POINTERS.iter().find(|p| self.free_phrase_at(i, p)) {
            return Some((Reference::Those, phrase.len()));
        }
        // Mid-sentence "this"/"that" are mostly grammar ("anything that goes"); last, they point.
        let last = i + 1 == self.len();
        (last && matches!(self.free_word(i)?, "this" | "that")).then_some((Reference::Those, 1))
    }

    /// The first count: "2", "two", "a couple", "a dozen", "x3"; never a size, time or pronoun.
    fn quantity(&mut self) -> Option<i64> {
        self.claim_first(|scan, i| scan.quantity_at(i))
    }

    fn quantity_at(&self, i: usize) -> Option<(i64, usize)> {
        if let Some((phrase, n)) = COUNT_PHRASES
            .iter()
            .find(|(p, _)| self.free_phrase_at(i, p))
        {
            return Some((*n, phrase.len()));
        }
        let word = self.free_word(i)?;
        if let Some(n) = multiplied(word) {
            return Some((n, 1));
        }
        if word == "x" || word == "×" {
            return self.count_at(i + 1).map(|n| (n, 2));
        }
        if word == "one"
            && self
                .previous_word(i)
                .is_some_and(|p| POINTING_WORDS.contains(&p))
        {
            return None;
        }
        if self
            .previous_word(i)
            .is_some_and(|p| TIME_WORDS.contains(&p))
        {
            return None;
        }
        self.count_at(i).map(|n| (n, 1))
    }

    /// A bare count at `i` ("3", "three") that no unit follows.
    fn count_at(&self, i: usize) -> Option<i64> {
        let n = count_word(self.free_word(i)?)?;
        let sized = self
            .free_word(i + 1)
            .is_some_and(|next| UNITS.contains(&next));
        (!sized).then_some(n)
    }

    /// The free words that are not filler, for a product search.
    fn query(&self) -> String {
        (0..self.len())
            .filter_map(|i| self.free_word(i))
            .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|word| !word.is_empty() && !FILLER.contains(word))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Letters, digits, '-' and '_' only, and not too long: what a voucher code may hold.
fn looks_like_code(raw: &str) -> bool {
    (1..=MAX_CODE_CHARS).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// "SK-1042" (letters, a dash, digits), upper-cased.
fn prefixed_order_number(raw: &str) -> Option<String> {
    let (prefix, digits) = raw.split_once('-')?;
    let plausible = (1..=MAX_ORDER_PREFIX).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_alphabetic())
        && (1..=MAX_ORDER_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    plausible.then(|| raw.to_ascii_uppercase())
}

/// The dietary label for a message saying `ingredient` is absent ("no dairy" → "dairy-free").
fn free_of(ingredient: &str) -> Option<&'static str> {
    let named = ALLERGEN_ALIASES
        .iter()
        .find(|(word, _)| *word == ingredient)
        .map_or(ingredient, |(_, alias)| alias);
    dietary::canonical(&format!("{named} free"))
}

/// A price written as one token: "15", "9.99", "$15", "15€"; whether it had a symbol.
fn price_text(text: &str, minor_digits: u32) -> Option<(u64, bool)> {
    let stripped = text
        .strip_prefix(CURRENCY_SYMBOLS)
        .or_else(|| text.strip_suffix(CURRENCY_SYMBOLS));
    let marked = stripped.is_some();
    let digits = stripped.unwrap_or(text);
    decimal_to_minor(digits, minor_digits).map(|minor| (minor, marked))
}

/// "15.50" with 2 minor digits is 1550. Extra fraction digits are cut, not rounded:
/// a price bound never loosens past what the shopper wrote.
fn decimal_to_minor(text: &str, minor_digits: u32) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let scale = 10u64.checked_pow(minor_digits)?;
    let kept: String = fraction.chars().take(minor_digits as usize).collect();
    let fraction_minor = if kept.is_empty() {
        0
    } else {
        let padding = 10u64.checked_pow(minor_digits - kept.len() as u32)?;
        kept.parse::<u64>().ok()?.checked_mul(padding)?
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction_minor)
}

/// "3" or "three" as a count, whatever surrounds it.
pub(super) fn count_word(word: &str) -> Option<i64> {
    NUMBER_WORDS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, n)| *n)
        .or_else(|| plain_count(word))
}

/// "x3", "3x", "×3" as a count.
fn multiplied(word: &str) -> Option<i64> {
    let digits = word
        .strip_prefix('x')
        .or_else(|| word.strip_prefix('×'))
        .or_else(|| word.strip_suffix('x'))?;
    plain_count(digits)
}

/// Digits only, within what a cart line could hold.
fn plain_count(word: &str) -> Option<i64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse::<i64>().ok().filter(|n| *n <= MAX_QUANTITY)
}

/// "2" → 2, for positions; zero is not a position.
fn positive_index(word: &str) -> Option<usize> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse::<usize>().ok().filter(|n| *n >= 1)
}

/// "second" or "2nd" → 2.
fn ordinal_number(word: &str) -> Option<usize> {
    if let Some((_, n)) = ORDINAL_WORDS.iter().find(|(name, _)| *name == word) {
        return Some(*n);
    }
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))?;
    positive_index(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(message: &str) -> Slots {
        extract(message, 2)
    }

    #[test]
    fn the_breakfast_request_yields_every_filter_and_a_short_query() {
        let s = slots("I need something for breakfast, no dairy, under $15");
        assert_eq!(s.max_price_minor, Some(1500));
        assert_eq!(s.min_price_minor, None);
        assert_eq!(s.dietary, vec!["dairy-free"]);
        assert_eq!(s.quantity, None);
        assert_eq!(s.query, "breakfast");
    }

    #[test]
    fn search_phrases_leave_only_the_product_words() {
        let cases = [
            ("do you have gluten free pasta", "pasta"),
            ("show me vegan snacks", "snacks"),
            ("looking for coffee", "coffee"),
            ("add the oat milk to my cart please", "oat milk"),
            ("remove the bread", "bread"),
            ("take the coffee out of my cart", "coffee"),
            ("change the milk to 3", "milk"),
            ("set quantity of coffee to 4", "coffee"),
            ("is the sourdough vegan?", "sourdough"),
            (
                "Country Sourdough Loaf 800 g",
                "country sourdough loaf 800 g",
            ),
            ("", ""),
        ];
        for (message, query) in cases {
            assert_eq!(slots(message).query, query, "query of {message:?}");
        }
    }

    #[test]
    fn quantities_in_digits_words_and_idioms() {
        let cases = [
            ("add two of those to my cart", Some(2)),
            ("put 3 in my basket", Some(3)),
            ("I'd like a couple of croissants", Some(2)),
            ("a dozen eggs please", Some(12)),
            ("half a dozen eggs", Some(6)),
            ("coffee beans x3", Some(3)),
            ("3x oat milk", Some(3)),
            ("make it 2 instead", Some(2)),
            ("change the milk to 3", Some(3)),
            ("set quantity of coffee to 4", Some(4)),
            ("add one sourdough", Some(1)),
            ("add one of those", Some(1)),
            ("add the bread", None),
        ];
        for (message, quantity) in cases {
            assert_eq!(slots(message).quantity, quantity, "quantity of {message:?}");
        }
    }

    #[test]
    fn numbers_that_are_sizes_prices_positions_or_times_are_not_quantities() {
        let cases = [
            "the 800 g loaf",
            "a 500 ml bottle of oat milk",
            "a 1kg bag of rice",
            "bread under $15",
            "coffee under 15",
            "I'll take the first one",
            "the second one",
            "number 3 please",
            "add #2",
            "where is order 1042",
            "status of order SK-1042",
            "apply code SAVE10",
            "do you deliver before 10",
            "a $5 coffee",
            "99999999999999999999",
            "add 2000000 eggs",
        ];
        for message in cases {
            assert_eq!(slots(message).quantity, None, "quantity of {message:?}");
        }
    }

    #[test]
    fn price_ceilings_in_many_wordings() {
        let cases = [
            ("under $15", 1500),
            ("less than 15 dollars", 1500),
            ("below 9.99", 999),
            ("max 20", 2000),
            ("cheaper than $5", 500),
            ("no more than €12.50", 1250),
            ("up to 7 bucks", 700),
            ("pasta under $ 4", 400),
            ("coffee at most 10£", 1000),
            ("under 9.999", 999),
        ];
        for (message, minor) in cases {
            let s = slots(message);
            assert_eq!(s.max_price_minor, Some(minor), "max of {message:?}");
            assert_eq!(s.min_price_minor, None, "min of {message:?}");
        }
    }

    #[test]
    fn price_floors_and_ranges() {
        let floor = |m: &str| {
            let s = slots(m);
            (s.min_price_minor, s.max_price_minor)
        };
        assert_eq!(floor("over $10"), (Some(1000), None));
        assert_eq!(floor("more than 10"), (Some(1000), None));
        assert_eq!(floor("at least 5"), (Some(500), None));
        assert_eq!(floor("between 5 and 10"), (Some(500), Some(1000)));
        assert_eq!(floor("between $10 and $5"), (Some(500), Some(1000)));
        assert_eq!(floor("from $5 to $10"), (Some(500), Some(1000)));
        assert_eq!(floor("wine $5-$10"), (Some(500), Some(1000)));
        assert_eq!(floor("cheese 5-10 dollars"), (Some(500), Some(1000)));
        assert_eq!(floor("between 5-10"), (Some(500), Some(1000)));
        assert_eq!(floor("over 5 but under 9.50"), (Some(500), Some(950)));
    }

    #[test]
    fn prices_respect_the_currency_exponent() {
        assert_eq!(extract("under ¥1500", 0).max_price_minor, Some(1500));
        assert_eq!(extract("under 15.50", 0).max_price_minor, Some(15));
        assert_eq!(extract("under 15.5", 3).max_price_minor, Some(15_500));
        assert_eq!(extract("under 15", 2).max_price_minor, Some(1500));
    }

    #[test]
    fn sizes_and_dangling_comparators_are_not_prices() {
        for message in [
            "under 500 g",
            "under $",
            "$",
            "over the moon",
            "under",
            "max",
        ] {
            let s = slots(message);
            assert_eq!(
                (s.min_price_minor, s.max_price_minor),
                (None, None),
                "prices of {message:?}"
            );
        }
        assert_eq!(slots("under 99999999999999999999").max_price_minor, None);
        assert_eq!(extract("under 5", 30).max_price_minor, None);
    }

    #[test]
    fn dietary_words_map_to_canonical_labels() {
        let cases: [(&str, &[&str]); 12] = [
            ("no dairy", &["dairy-free"]),
            ("dairy free yoghurt", &["dairy-free"]),
            ("dairy-free yoghurt", &["dairy-free"]),
            ("without milk", &["dairy-free"]),
            ("lactose free milk", &["dairy-free"]),
            ("non-dairy creamer", &["dairy-free"]),
            ("vegan snacks", &["vegan"]),
            ("gluten free or no gluten", &["gluten-free"]),
            ("nut free", &["nut-free"]),
            ("no nuts please", &["nut-free"]),
            ("free from peanuts", &["nut-free"]),
            (
                "organic vegan GF bread, no added sugar",
                &["organic", "vegan", "gluten-free", "low-sugar"],
            ),
        ];
        for (message, labels) in cases {
            assert_eq!(slots(message).dietary, labels, "dietary of {message:?}");
        }
        assert!(slots("chocolate cake with milk").dietary.is_empty());
        assert_eq!(slots("no meat").query, "meat");
    }

    #[test]
    fn references_to_earlier_results() {
        let cases = [
            ("I'll take the first one", Some(Reference::Ordinal(1))),
            ("how big is the second one", Some(Reference::Ordinal(2))),
            ("delete the second item", Some(Reference::Ordinal(2))),
            ("add #2", Some(Reference::Ordinal(2))),
            ("number 3 please", Some(Reference::Ordinal(3))),
            ("the 4th", Some(Reference::Ordinal(4))),
            ("the last one", Some(Reference::Last)),
            ("add two of those", Some(Reference::Those)),
            ("put them in my basket", Some(Reference::Those)),
            ("is it vegan", Some(Reference::Those)),
            ("I want that one", Some(Reference::Those)),
            ("these", Some(Reference::Those)),
            ("anything that goes with this?", Some(Reference::Those)),
            ("wait a second", None),
            ("anything that goes with bread", None),
            ("my last order", None),
            ("#0", None),
            ("add the oat milk", None),
        ];
        for (message, reference) in cases {
            assert_eq!(
                slots(message).reference,
                reference,
                "reference of {message:?}"
            );
        }
    }

    #[test]
    fn order_numbers_with_and_without_prefix() {
        let cases = [
            ("status of order SK-1042", Some("SK-1042")),
            ("where is sk-1042?", Some("SK-1042")),
            ("where is order 1042", Some("1042")),
            ("order #1042 please", Some("1042")),
            ("my order number 1042", Some("1042")),
            ("where is my order?", None),
            ("order 2 loaves", None),
        ];
        for (message, number) in cases {
            assert_eq!(
                slots(message).order_number.as_deref(),
                number,
                "order number of {message:?}"
            );
        }
    }

    #[test]
    fn voucher_codes_after_a_keyword_or_shaped_like_one() {
        let cases = [
            ("apply code SAVE10", Some("SAVE10")),
            ("I have a voucher WELCOME5", Some("WELCOME5")),
            ("use coupon X", Some("X")),
            ("promo code: summer-24", Some("SUMMER-24")),
            ("my voucher code is save10", Some("SAVE10")),
            ("SAVE10 please", Some("SAVE10")),
            ("I have a voucher for my order", None),
            ("do you have any discount codes?", None),
            ("add 2 sourdough", None),
            ("800G", None),
        ];
        for (message, code) in cases {
            assert_eq!(
                slots(message).voucher_code.as_deref(),
                code,
                "voucher of {message:?}"
            );
        }
        assert_eq!(slots("apply code SAVE10").query, "");
    }

    #[test]
    fn emails_are_found_and_lower_cased() {
        let s = slots("send it to Ana.Lopez@Example.com, thanks");
        assert_eq!(s.email.as_deref(), Some("ana.lopez@example.com"));
        assert_eq!(slots("my handle is @ana").email, None);
        assert_eq!(slots("ana@localhost").email, None);
    }

    #[test]
    fn a_message_with_no_slots_gives_the_default() {
        assert_eq!(slots("hello there"), Slots::default());
        assert_eq!(slots("  "), Slots::default());
        assert_eq!(
            slots("what is the meaning of life"),
            Slots {
                query: "meaning life".into(),
                ..Slots::default()
            }
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "under $15 two of those SK-1042 gluten free ".repeat(250);
        let odd = [
            "",
            "$",
            "under $",
            "99999999999999999999",
            "$99999999999999999999.99",
            "🍞🥛😀",
            "x",
            "#",
            "-",
            "--- ... '''",
            "between and",
            "from to",
            "5-",
            "-5",
            "ordér №5 für 3€",
            "\u{0}\u{feff}",
            long.as_str(),
        ];
        for message in odd {
            for digits in [0, 2, 3, 40] {
                let s = extract(message, digits);
                assert!(s.quantity.is_none_or(|q| (0..=MAX_QUANTITY).contains(&q)));
            }
        }
        let s = extract(&long, 2);
        assert_eq!(s.max_price_minor, Some(1500));
        assert_eq!(s.order_number.as_deref(), Some("SK-1042"));
    }
}
