//! JSON-schema constrained output: a schema is compiled into a byte-level
//! grammar, and a matcher follows the model's output byte by byte so the
//! sampler can refuse any token that would leave it. Whatever the sampler
//! picks, the finished output parses as JSON and conforms to the schema.
//!
//! This module owns the compiled grammar, the matcher state and the token
//! trie used to mask a vocabulary. It must not touch anything but its inputs
//! (a schema value, the bytes fed to a matcher, a token list): no I/O, no
//! model, no store.
//!
//! # Output form
//!
//! Output is compact JSON with **no insignificant whitespace at all**, so a
//! model cannot stall in whitespace and every position has few choices.
//! Generation can always finish: every state the matcher can reach has a
//! completion, and every value is bounded:
//!
//! - strings hold at most `maxLength` characters, or 256 without one (64 for
//!   the keys of free-form objects); raw control characters are refused,
//!   escapes are `\" \\ \/ \b \f \n \r \t \uXXXX` with surrogate escapes
//!   (`\uD800`–`\uDFFF`) refused, since a lone one fails to parse; multi-byte
//!   UTF-8 is checked byte by byte (overlong forms and surrogates refused) and
//!   a token may end inside a character;
//! - numbers have at most 16 digits and an exponent of at most 2 digits; a
//!   number with `minimum`/`maximum` is written without exponent in at most 15
//!   digits (so it is exactly comparable through `f64`), with up to 6
//!   fraction digits (fewer when the bounds need more integer digits);
//! - arrays have at most `maxItems` items, or 32 without one; free-form objects
//!   at most 32 members;
//! - nesting is at most 32 levels deep, and values of the empty schema `{}`
//!   nest at most 4 containers deep.
//!
//! # Supported schema subset
//!
//! - `type`: `object`, `string`, `number`, `integer`, `boolean`, `null`,
//!   `array`, or a list of them (`["string","null"]`). Without `type` the kind
//!   is inferred from the keywords present; with none, any value is allowed.
//! - Objects: `properties` and `required`. Only listed properties are ever
//!   written (`additionalProperties` is treated as false), every required one
//!   appears, optional ones may be skipped, in property order. When serde_json
//!   keeps map order (its `preserve_order` feature) that is the written order;
//!   otherwise maps are sorted, so the order is the `required` list first, then
//!   the optional properties alphabetically. Keys are written exactly as in the
//!   schema. A required name missing from `properties` may hold any value. An
//!   object schema without `properties` is a free-form object whose member
//!   values follow `additionalProperties` (any value when absent; only `{}`
//!   when it is `false`).
//! - Strings: `minLength`, `maxLength` (counted in code points, escapes
//!   counting one); `format` is ignored.
//! - Numbers and integers: `minimum`, `maximum`, `exclusiveMinimum`,
//!   `exclusiveMaximum` (numbers, or draft-4 booleans), enforced exactly.
//! - Arrays: `items` (one schema), `minItems`, `maxItems`.
//! - `enum` and `const` of any JSON value, written as serde_json writes them
//!   compactly; values that fail sibling keywords are dropped.
//! - `anyOf` and `oneOf`, both treated as a list of alternatives (for `oneOf`
//!   the schema author must keep the alternatives disjoint); `allOf` with one
//!   member; OpenAPI's `nullable: true`.
//! - `$ref` to any local JSON pointer (`#`, `#/$defs/..`, `#/definitions/..`),
//!   recursion included; a `$ref` may only have annotations beside it.
//! - `true` is any value. Annotations (`description`, `title`, `default`,
//!   `examples`, `$comment`, `$schema`, `$id`, `deprecated`, ...) and
//!   unknown keywords are ignored. Keywords that would restrict validity in
//!   ways this grammar cannot follow (`pattern`, `multipleOf`, `not`, `if`,
//!   `patternProperties`, `uniqueItems: true`, tuple `items`, ...) are a
//!   compile error naming the keyword and its JSON pointer, and so are
//!   combinations that would need an intersection: type keywords beside
//!   `anyOf`/`oneOf`, anything but annotations beside `$ref` or `allOf`.
//!
//! # How matching works
//!
//! A matcher state is a small set of parallel threads; each thread is a stack
//! of frames, one per value being written (a string, a number, an object at
//! some phase...). `anyOf` forks threads at the first byte of the value and
//! dead threads are dropped, identical ones merged. Keys and literals are
//! matched with a (first candidate, position) pair against their byte
//! strings, so choosing among them needs no extra thread.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Most frames one thread may hold: the nesting bound that keeps recursive
/// schemas finite. A value is only started if it can be finished within it.
const MAX_FRAMES: usize = 32;
/// String length cap when the schema gives no `maxLength`.
const DEFAULT_MAX_LENGTH: u32 = 256;
/// Item cap when the schema gives no `maxItems`.
const DEFAULT_MAX_ITEMS: u32 = 32;
/// Containers a value of the empty schema may nest.
const ANY_DEPTH: usize = 4;
/// Key length cap for free-form objects.
const FREE_KEY_MAX_LENGTH: u32 = 64;
/// Member cap for free-form objects.
const FREE_MAX_MEMBERS: u32 = 32;
/// Digits of a number without bounds.
const MAX_DIGITS: u8 = 16;
/// Digits of a number with bounds: 15 decimal digits survive a round trip
/// through `f64`, which makes the bound checks exact for any consumer.
const BOUNDED_DIGITS: u32 = 15;
/// Fraction digits of a bounded number whose bounds fit 9 integer digits.
const BOUNDED_FRACTION: u32 = 6;
/// Exponent digits: two keep every number finite as an `f64`.
const MAX_EXP_DIGITS: u8 = 2;
/// Parallel threads kept; beyond it extra alternatives are dropped, which is
/// safe because each remaining thread can still finish.
const MAX_THREADS: usize = 64;
/// Longest `forced` run returned at once.
const MAX_FORCED: usize = 4096;
/// Deepest schema nesting the compiler walks.
const MAX_SCHEMA_DEPTH: usize = 128;
/// Height of a node that has no finite value.
const INF: u32 = u32::MAX;

/// Keywords that restrict validity in ways the grammar cannot follow.
const UNSUPPORTED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "contains",
    "minContains",
    "maxContains",
    "prefixItems",
    "unevaluatedItems",
    "multipleOf",
    "pattern",
    "$dynamicRef",
    "$recursiveRef",
];

/// Keywords the compiler interprets. Beside `$ref` or a one-member `allOf`
/// they are refused rather than silently dropped.
const INTERPRETED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "nullable",
];

/// Keywords that imply a type when `type` is absent, per type.
const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "unevaluatedProperties",
];
const ARRAY_KEYWORDS: &[&str] = &["items", "minItems", "maxItems"];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength"];
const NUMBER_KEYWORDS: &[&str] = &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The schema uses a keyword the grammar cannot enforce.
    #[error("unsupported schema keyword `{keyword}` at `#{pointer}`")]
    Unsupported { keyword: String, pointer: String },
    /// Two keywords the grammar supports alone but cannot intersect.
    #[error("schema keyword `{keyword}` beside `{beside}` at `#{pointer}` is unsupported")]
    Combined {
        keyword: String,
        beside: String,
        pointer: String,
    },
    /// The schema is malformed or has no value the grammar can produce.
    #[error("invalid schema at `#{pointer}`: {reason}")]
    Invalid { pointer: String, reason: String },
    /// `advance` was given a byte that leaves the grammar.
    #[error("byte {byte:#04x} at offset {offset} does not fit the grammar")]
    Rejected { offset: usize, byte: u8 },
}

fn invalid(pointer: &str, reason: impl Into<String>) -> GrammarError {
    GrammarError::Invalid {
        pointer: pointer.to_owned(),
        reason: reason.into(),
    }
}

fn combined(keyword: &str, beside: &str, pointer: &str) -> GrammarError {
    GrammarError::Combined {
        keyword: keyword.to_owned(),
        beside: beside.to_owned(),
        pointer: join(pointer, keyword),
    }
}

fn unsupported(keyword: &str, pointer: &str) -> GrammarError {
    GrammarError::Unsupported {
        keyword: keyword.to_owned(),
        pointer: pointer.to_owned(),
    }
}

/// Appends one reference token to a JSON pointer.
fn join(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

// ---------------------------------------------------------------------------
// Compiled grammar
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Node {
    /// A placeholder while compiling; never reachable afterwards.
    Dead,
    /// A `$ref` being compiled; resolved away before matching.
    Alias(u32),
    /// Compact JSON texts, sorted and deduplicated, so that all texts sharing
    /// a prefix are contiguous.
    Lit(Vec<Box<[u8]>>),
    Str {
        min: u32,
        max: u32,
    },
    Num(NumSpec),
    /// `next_req[i]` is the index of the first required property at or after
    /// `i` (`props.len()` when none), which bounds the keys allowed next.
    Obj {
        props: Vec<Prop>,
        next_req: Vec<u32>,
    },
    /// A free-form object: string keys, `value` members.
    Map {
        key: u32,
        value: u32,
        max: u32,
    },
    Arr {
        items: u32,
        min: u32,
        max: u32,
    },
    /// Alternatives; after compiling, none of them is itself an `Alt`.
    Alt(Vec<u32>),
}

#[derive(Debug, Clone)]
struct Prop {
    /// The key as a JSON string, quotes included.
    key: Box<[u8]>,
    node: u32,
    required: bool,
}

#[derive(Debug, Clone, Copy)]
struct NumSpec {
    integer: bool,
    range: Option<Range>,
}

/// Bounds of a number in units of `10^-frac`, with the digit layout that
/// makes every unit value in `lo..=hi` writable.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: i64,
    hi: i64,
    int_digits: u32,
    frac: u32,
}

#[derive(Debug)]
struct Grammar {
    nodes: Vec<Node>,
    /// Bytes a value of each node may start with (a superset for numbers).
    first: Vec<[u64; 4]>,
    /// Fewest frames needed to finish a value of each node, `INF` if none.
    height: Vec<u32>,
    root: u32,
}

static DEAD: Node = Node::Dead;

impl Grammar {
    fn node(&self, id: u32) -> &Node {
        self.nodes.get(id as usize).unwrap_or(&DEAD)
    }

    /// Whether a value of `id` started at frame index `idx` can be finished
    /// within the frame limit.
    fn fits(&self, id: u32, idx: usize) -> bool {
        let h = self.height.get(id as usize).copied().unwrap_or(INF);
        h != INF && idx + h as usize <= MAX_FRAMES
    }

    fn may_start(&self, id: u32, b: u8) -> bool {
        self.first
            .get(id as usize)
            .is_some_and(|set| set[(b >> 6) as usize] >> (b & 63) & 1 == 1)
    }
}

/// A compiled schema. Cheap to clone and share between threads.
#[derive(Debug, Clone)]
pub struct JsonGrammar {
    g: Arc<Grammar>,
}

impl JsonGrammar {
    /// Compiles a schema. Errors name the offending keyword and its JSON
    /// pointer.
    pub fn compile(schema: &Value) -> Result<Self, GrammarError> {
        let mut c = Compiler::new(schema);
        let root = c.compile(schema, "", 0)?;
        let g = c.finish(root)?;
        Ok(Self { g: Arc::new(g) })
    }

    /// A matcher at the start of the output.
    pub fn matcher(&self) -> JsonMatcher {
        JsonMatcher {
            g: Arc::clone(&self.g),
            st: Threads::start(self.g.root),
        }
    }
}

// ---------------------------------------------------------------------------
// Matcher state
// ---------------------------------------------------------------------------

const OBJ_OPEN: u8 = 0;
const OBJ_KEYSTART: u8 = 1;
const OBJ_KEY: u8 = 2;
const OBJ_COLON: u8 = 3;
const OBJ_AFTER: u8 = 4;

const MAP_OPEN: u8 = 0;
const MAP_KEYSTART: u8 = 1;
const MAP_COLON: u8 = 2;
const MAP_AFTER: u8 = 3;

const ARR_OPEN: u8 = 0;
const ARR_AFTER: u8 = 1;

const N_START: u8 = 0;
const N_MINUS: u8 = 1;
const N_ZERO: u8 = 2;
const N_INT: u8 = 3;
const N_DOT: u8 = 4;
const N_FRAC: u8 = 5;
const N_E: u8 = 6;
const N_ESIGN: u8 = 7;
const N_EXP: u8 = 8;

const E_NONE: u8 = 0;
const E_BACKSLASH: u8 = 1;
const E_U0: u8 = 2;
const E_U1: u8 = 3;
const E_U2: u8 = 4;
const E_U3: u8 = 5;
/// After `\uD`: the next hex digit must be 0-7 to stay out of surrogates.
const E_U1_D: u8 = 6;

const U_NONE: u8 = 0;
const U_1: u8 = 1;
const U_2: u8 = 2;
const U_2_E0: u8 = 3;
const U_2_ED: u8 = 4;
const U_3: u8 = 5;
const U_3_F0: u8 = 6;
const U_3_F4: u8 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumState {
    /// Digits read so far as an integer (bounded numbers only).
    val: i64,
    st: u8,
    neg: bool,
    digits: u8,
    frac: u8,
    exp: u8,
}

impl NumState {
    const START: NumState = NumState {
        val: 0,
        st: N_START,
        neg: false,
        digits: 0,
        frac: 0,
        exp: 0,
    };
}

/// One value being written. Fields not used by a phase are kept at zero so
/// equal states compare equal and threads can be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A value of `node` starts with the next byte.
    Value {
        node: u32,
    },
    /// Inside a literal: `pos` bytes of `Lit` texts matched; `cand` is the
    /// first text with that prefix.
    Lit {
        node: u32,
        cand: u32,
        pos: u32,
    },
    /// Inside a string, after the opening quote; `len` counts code points.
    Str {
        node: u32,
        len: u32,
        esc: u8,
        utf8: u8,
    },
    Num {
        node: u32,
        n: NumState,
    },
    /// `lo` is the first property that may come next; in `OBJ_KEY`, `cand`
    /// is the first candidate matching the `pos` key bytes read; in
    /// `OBJ_COLON`/`OBJ_AFTER` it is the property whose key was read.
    Obj {
        node: u32,
        phase: u8,
        lo: u32,
        cand: u32,
        pos: u32,
    },
    Map {
        node: u32,
        phase: u8,
        count: u32,
    },
    Arr {
        node: u32,
        phase: u8,
        count: u32,
    },
}

/// Parallel threads, stored flat: thread `i` is
/// `frames[ends[i-1]..ends[i]]`. An empty thread is a finished value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Threads {
    frames: Vec<Frame>,
    ends: Vec<u32>,
}

impl Threads {
    fn start(root: u32) -> Threads {
        Threads {
            frames: vec![Frame::Value { node: root }],
            ends: vec![1],
        }
    }

    fn threads(&self) -> impl Iterator<Item = &[Frame]> {
        let mut s = 0usize;
        self.ends.iter().map(move |&e| {
            let e = e as usize;
            let t = self.frames.get(s..e).unwrap_or(&[]);
            s = e;
            t
        })
    }
}

/// Output matcher. Cloning copies a few small vectors.
#[derive(Debug, Clone)]
pub struct JsonMatcher {
    g: Arc<Grammar>,
    st: Threads,
}

impl JsonMatcher {
    /// Whether appending `bytes` keeps the output a valid prefix. Does not
    /// change the matcher; an empty slice is always accepted.
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        let Some((&first, rest)) = bytes.split_first() else {
            return true;
        };
        let mut a = Threads::default();
        let mut b = Threads::default();
        if !step(&self.g, &self.st, first, &mut a) {
            return false;
        }
        for &x in rest {
            if !step(&self.g, &a, x, &mut b) {
                return false;
            }
            std::mem::swap(&mut a, &mut b);
        }
        true
    }

    /// Appends `bytes`. On error the matcher is unchanged.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<(), GrammarError> {
        let mut cur = self.st.clone();
        let mut next = Threads::default();
        for (offset, &byte) in bytes.iter().enumerate() {
            if !step(&self.g, &cur, byte, &mut next) {
                return Err(GrammarError::Rejected { offset, byte });
            }
            std::mem::swap(&mut cur, &mut next);
        }
        self.st = cur;
        Ok(())
    }

    /// Whether the output is a whole value. Objects, arrays, strings and
    /// literals are self-delimiting, so nothing more may follow them; a
    /// top-level number could still take more digits.
    pub fn is_complete(&self) -> bool {
        self.st.threads().any(|t| thread_complete(&self.g, t))
    }

    /// The bytes that must come next whatever is sampled, for jump-forward
    /// decoding: empty when there is a choice (or the output is complete).
    pub fn forced(&self) -> Vec<u8> {
        let g = &*self.g;
        let mut out = Vec::new();
        let mut cur = self.st.clone();
        let mut next = Threads::default();
        let mut probe = Threads::default();
        while out.len() < MAX_FORCED {
            if cur.threads().any(|t| thread_complete(g, t)) {
                break;
            }
            let mut found = None;
            let mut several = false;
            for b in 0..=255u8 {
                if step(g, &cur, b, &mut probe) {
                    if found.is_some() {
                        several = true;
                        break;
                    }
                    found = Some(b);
                    std::mem::swap(&mut next, &mut probe);
                }
            }
            match (found, several) {
                (Some(b), false) => {
                    out.push(b);
                    std::mem::swap(&mut cur, &mut next);
                }
                _ => break,
            }
        }
        out
    }

    /// Sets `allowed[id]` to whether token `id` may come next, for every
    /// entry (ids beyond the slice are skipped). Walks the trie depth-first,
    /// advancing the matcher one byte per edge and pruning dead prefixes.
    pub fn allowed_tokens(&self, trie: &TokenTrie, allowed: &mut [bool]) {
        allowed.fill(false);
        let g = &*self.g;
        let mut levels: Vec<Threads> = vec![self.st.clone()];
        // (trie node, level of its state); a node's state is computed when
        // it is popped, into `levels[level]`, from its parent's level. LIFO
        // order finishes a subtree before its next sibling overwrites it.
        let mut stack: Vec<(u32, u32)> = vec![(0, 0)];
        while let Some((ni, lvl)) = stack.pop() {
            let Some(node) = trie.nodes.get(ni as usize) else {
                continue;
            };
            let lvl = lvl as usize;
            if lvl > 0 {
                if levels.len() <= lvl {
                    levels.push(Threads::default());
                }
                let (done, rest) = levels.split_at_mut(lvl);
                let (Some(parent), Some(child)) = (done.last(), rest.first_mut()) else {
                    continue;
                };
                if !step(g, parent, node.byte, child) {
                    continue;
                }
            }
            let Some(state) = levels.get(lvl) else {
                continue;
            };
            // Inside strings with room to spare, a subtree of ordinary text
            // is accepted whole: take it without stepping it.
            if string_takes_subtree(g, state, node) {
                trie.mark(node.tok_start, node.tok_end, allowed);
                continue;
            }
            trie.mark(node.tok_start, node.own_end, allowed);
            for c in (node.first_child..node.first_child + node.n_children).rev() {
                stack.push((c, lvl as u32 + 1));
            }
        }
    }
}

/// Whether some thread sits inside a string, between escapes, with room for
/// the longest path below `node`, and every path below it is text that string
/// accepts from the thread's UTF-8 state (no quote, backslash or control
/// byte, valid UTF-8 possibly ending inside a character). That thread alone
/// then accepts every token below. Each byte adds at most one character, so
/// the room check in bytes is safe.
fn string_takes_subtree(g: &Grammar, st: &Threads, node: &TrieNode) -> bool {
    st.threads().any(|t| match t.last() {
            Some(&Frame::Str {
                node: sn,
                len,
                esc: E_NONE,
                utf8,
            }) => {
                node.text >> utf8 & 1 == 1
                    && matches!(g.node(sn), Node::Str { max, .. } if max.saturating_sub(len) >= node.height)
            }
            _ => false,
        })
}

fn thread_complete(g: &Grammar, t: &[Frame]) -> bool {
    match t {
        [] => true,
        [Frame::Lit { node, cand, pos }] => match g.node(*node) {
            Node::Lit(vals) => lit_can_end(vals, *cand, *pos),
            _ => false,
        },
        [Frame::Num { node, n }] => match g.node(*node) {
            Node::Num(spec) => num_can_end(spec, n),
            _ => false,
        },
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Stepping
// ---------------------------------------------------------------------------

enum Step {
    Accept,
    Reject,
    /// The top frame is a `Value` of this `Alt` node: fork per alternative.
    Fork(u32),
}

/// Advances every thread of `src` by `b` into `dst`; false when none
/// survives.
fn step(g: &Grammar, src: &Threads, b: u8, dst: &mut Threads) -> bool {
    dst.frames.clear();
    dst.ends.clear();
    let mut s = 0usize;
    for &e in &src.ends {
        let e = e as usize;
        let start = dst.frames.len();
        if let Some(t) = src.frames.get(s..e) {
            dst.frames.extend_from_slice(t);
            step_thread(g, dst, start, b);
        }
        s = e;
    }
    if dst.ends.len() > 1 {
        dedupe(dst);
    }
    !dst.ends.is_empty()
}

/// Steps the thread at `out.frames[start..]` (not yet in `out.ends`),
/// replacing it by zero or more threads.
fn step_thread(g: &Grammar, out: &mut Threads, start: usize, b: u8) {
    match run_byte(g, &mut out.frames, start, b) {
        Step::Accept => out.ends.push(out.frames.len() as u32),
        Step::Reject => out.frames.truncate(start),
        Step::Fork(alt) => {
            out.frames.pop();
            let base_end = out.frames.len();
            let base_len = base_end - start;
            let first_end = out.ends.len();
            if let Node::Alt(leaves) = g.node(alt) {
                for &leaf in leaves {
                    if !g.may_start(leaf, b) || !g.fits(leaf, base_len) {
                        continue;
                    }
                    let s = out.frames.len();
                    out.frames.extend_from_within(start..base_end);
                    out.frames.push(Frame::Value { node: leaf });
                    // Leaves are never `Alt`, so this cannot fork again.
                    match run_byte(g, &mut out.frames, s, b) {
                        Step::Accept => out.ends.push(out.frames.len() as u32),
                        _ => out.frames.truncate(s),
                    }
                }
            }
            // Drop the shared base the forks were copied from.
            out.frames.drain(start..base_end);
            for e in out.ends.iter_mut().skip(first_end) {
                *e -= base_len as u32;
            }
        }
    }
}

/// Merges identical threads and caps their number.
fn dedupe(t: &mut Threads) {
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(t.ends.len());
    let mut s = 0usize;
    let mut w = 0usize;
    for i in 0..t.ends.len() {
        let e = t.ends[i] as usize;
        let len = e - s;
        let dup = kept
            .iter()
            .any(|&(ks, ke)| t.frames[ks..ke] == t.frames[s..e]);
        if !dup && kept.len() < MAX_THREADS {
            // w <= s, so compacted threads never overwrite unread ones.
            t.frames.copy_within(s..e, w);
            kept.push((w, w + len));
            w += len;
        }
        s = e;
    }
    t.frames.truncate(w);
    t.ends.clear();
    t.ends.extend(kept.iter().map(|&(_, e)| e as u32));
}

/// Feeds one byte to the thread `fr[start..]`. A frame that can end but does
/// not take the byte is popped and the byte goes to its parent.
fn run_byte(g: &Grammar, fr: &mut Vec<Frame>, start: usize, b: u8) -> Step {
    loop {
        if fr.len() <= start {
            // A finished value: nothing may follow.
            return Step::Reject;
        }
        let top = fr.len() - 1;
        let idx = top - start;
        match fr[top] {
            Frame::Value { node } => return start_value(g, fr, node, b),
            Frame::Lit { node, cand, pos } => {
                let Node::Lit(vals) = g.node(node) else {
                    return Step::Reject;
                };
                if let Some(j) = lit_next(vals, cand, pos, b) {
                    let pos = pos + 1;
                    if lit_must_end(vals, j, pos) {
                        fr.pop();
                    } else {
                        fr[top] = Frame::Lit { node, cand: j, pos };
                    }
                    return Step::Accept;
                }
                if lit_can_end(vals, cand, pos) {
                    fr.pop();
                    continue;
                }
                return Step::Reject;
            }
            Frame::Str {
                node,
                len,
                esc,
                utf8,
            } => {
                let Node::Str { min, max } = *g.node(node) else {
                    return Step::Reject;
                };
                return match str_step(min, max, len, esc, utf8, b) {
                    StrStep::Next { len, esc, utf8 } => {
                        fr[top] = Frame::Str {
                            node,
                            len,
                            esc,
                            utf8,
                        };
                        Step::Accept
                    }
                    StrStep::Close => {
                        fr.pop();
                        Step::Accept
                    }
                    StrStep::Reject => Step::Reject,
                };
            }
            Frame::Num { node, n } => {
                let Node::Num(spec) = g.node(node) else {
                    return Step::Reject;
                };
                if let Some(n) = num_step(spec, &n, b) {
                    fr[top] = Frame::Num { node, n };
                    return Step::Accept;
                }
                if num_can_end(spec, &n) {
                    fr.pop();
                    continue;
                }
                return Step::Reject;
            }
            Frame::Obj {
                node,
                phase,
                lo,
                cand,
                pos,
            } => {
                let Node::Obj { props, next_req } = g.node(node) else {
                    return Step::Reject;
                };
                let keys = Keys {
                    g,
                    props,
                    next_req,
                    idx,
                };
                return match phase {
                    OBJ_OPEN | OBJ_KEYSTART => {
                        if b == b'"' {
                            let Some(j) = keys.first(lo) else {
                                return Step::Reject;
                            };
                            // A key is at least `""`, so its first byte never
                            // completes it.
                            fr[top] = Frame::Obj {
                                node,
                                phase: OBJ_KEY,
                                lo,
                                cand: j,
                                pos: 1,
                            };
                            Step::Accept
                        } else if b == b'}' && phase == OBJ_OPEN && keys.may_close(lo) {
                            fr.pop();
                            Step::Accept
                        } else {
                            Step::Reject
                        }
                    }
                    OBJ_KEY => {
                        let Some((j, key_len)) = keys.next(lo, cand, pos, b) else {
                            return Step::Reject;
                        };
                        let pos = pos + 1;
                        fr[top] = if key_len == pos as usize {
                            Frame::Obj {
                                node,
                                phase: OBJ_COLON,
                                lo: 0,
                                cand: j,
                                pos: 0,
                            }
                        } else {
                            Frame::Obj {
                                node,
                                phase: OBJ_KEY,
                                lo,
                                cand: j,
                                pos,
                            }
                        };
                        Step::Accept
                    }
                    OBJ_COLON => {
                        let Some(p) = props.get(cand as usize) else {
                            return Step::Reject;
                        };
                        if b != b':' {
                            return Step::Reject;
                        }
                        fr[top] = Frame::Obj {
                            node,
                            phase: OBJ_AFTER,
                            lo: 0,
                            cand,
                            pos: 0,
                        };
                        fr.push(Frame::Value { node: p.node });
                        Step::Accept
                    }
                    OBJ_AFTER => {
                        let next = cand + 1;
                        if b == b',' && keys.first(next).is_some() {
                            fr[top] = Frame::Obj {
                                node,
                                phase: OBJ_KEYSTART,
                                lo: next,
                                cand: 0,
                                pos: 0,
                            };
                            Step::Accept
                        } else if b == b'}' && keys.may_close(next) {
                            fr.pop();
                            Step::Accept
                        } else {
                            Step::Reject
                        }
                    }
                    _ => Step::Reject,
                };
            }
            Frame::Map { node, phase, count } => {
                let Node::Map { key, value, max } = *g.node(node) else {
                    return Step::Reject;
                };
                let room = count < max && g.fits(key, idx + 1) && g.fits(value, idx + 1);
                match phase {
                    MAP_OPEN | MAP_KEYSTART => {
                        if b == b'"' && room {
                            fr[top] = Frame::Map {
                                node,
                                phase: MAP_COLON,
                                count: count + 1,
                            };
                            fr.push(Frame::Value { node: key });
                            // The quote opens the key string: feed it again.
                            continue;
                        }
                        if b == b'}' && phase == MAP_OPEN {
                            fr.pop();
                            return Step::Accept;
                        }
                        return Step::Reject;
                    }
                    MAP_COLON if b == b':' => {
                        fr[top] = Frame::Map {
                            node,
                            phase: MAP_AFTER,
                            count,
                        };
                        fr.push(Frame::Value { node: value });
                        return Step::Accept;
                    }
                    MAP_AFTER if b == b',' && room => {
                        fr[top] = Frame::Map {
                            node,
                            phase: MAP_KEYSTART,
                            count,
                        };
                        return Step::Accept;
                    }
                    MAP_AFTER if b == b'}' => {
                        fr.pop();
                        return Step::Accept;
                    }
                    _ => return Step::Reject,
                }
            }
            Frame::Arr { node, phase, count } => {
                let Node::Arr { items, min, max } = *g.node(node) else {
                    return Step::Reject;
                };
                let room = count < max && g.fits(items, idx + 1);
                match phase {
                    ARR_OPEN if b == b']' => {
                        if min > 0 {
                            return Step::Reject;
                        }
                        fr.pop();
                        return Step::Accept;
                    }
                    ARR_OPEN if room => {
                        fr[top] = Frame::Arr {
                            node,
                            phase: ARR_AFTER,
                            count: 1,
                        };
                        fr.push(Frame::Value { node: items });
                        // The byte starts the first item: feed it again.
                        continue;
                    }
                    ARR_AFTER if b == b',' && room => {
                        fr[top] = Frame::Arr {
                            node,
                            phase: ARR_AFTER,
                            count: count + 1,
                        };
                        fr.push(Frame::Value { node: items });
                        return Step::Accept;
                    }
                    ARR_AFTER if b == b']' && count >= min => {
                        fr.pop();
                        return Step::Accept;
                    }
                    _ => return Step::Reject,
                }
            }
        }
    }
}

/// The top frame is `Value { node }`: turn it into the frame of the value
/// that `b` starts.
fn start_value(g: &Grammar, fr: &mut Vec<Frame>, node: u32, b: u8) -> Step {
    let next = match g.node(node) {
        Node::Alt(_) => return Step::Fork(node),
        Node::Lit(vals) => {
            let Some(j) = lit_next(vals, 0, 0, b) else {
                return Step::Reject;
            };
            if lit_must_end(vals, j, 1) {
                fr.pop();
                return Step::Accept;
            }
            Frame::Lit {
                node,
                cand: j,
                pos: 1,
            }
        }
        Node::Str { .. } if b == b'"' => Frame::Str {
            node,
            len: 0,
            esc: E_NONE,
            utf8: U_NONE,
        },
        Node::Num(spec) => match num_step(spec, &NumState::START, b) {
            Some(n) => Frame::Num { node, n },
            None => return Step::Reject,
        },
        Node::Obj { .. } if b == b'{' => Frame::Obj {
            node,
            phase: OBJ_OPEN,
            lo: 0,
            cand: 0,
            pos: 0,
        },
        Node::Map { .. } if b == b'{' => Frame::Map {
            node,
            phase: MAP_OPEN,
            count: 0,
        },
        Node::Arr { .. } if b == b'[' => Frame::Arr {
            node,
            phase: ARR_OPEN,
            count: 0,
        },
        _ => return Step::Reject,
    };
    if let Some(top) = fr.last_mut() {
        *top = next;
    }
    Step::Accept
}

/// Key candidates of an object frame at frame index `idx`.
struct Keys<'a> {
    g: &'a Grammar,
    props: &'a [Prop],
    next_req: &'a [u32],
    idx: usize,
}

impl Keys<'_> {
    /// End (exclusive) of the properties that may come next from `lo`: up to
    /// and including the first required one.
    fn end(&self, lo: u32) -> usize {
        let r = self.next_req.get(lo as usize).copied().unwrap_or(0) as usize;
        if r < self.props.len() {
            r + 1
        } else {
            self.props.len()
        }
    }

    fn usable(&self, p: &Prop) -> bool {
        self.g.fits(p.node, self.idx + 1)
    }

    fn may_close(&self, lo: u32) -> bool {
        self.next_req.get(lo as usize).copied().unwrap_or(0) as usize >= self.props.len()
    }

    fn first(&self, lo: u32) -> Option<u32> {
        let lo = lo as usize;
        let end = self.end(lo as u32);
        (lo..end)
            .find(|&j| self.props.get(j).is_some_and(|p| self.usable(p)))
            .map(|j| j as u32)
    }

    /// The first candidate at or after `cand` that shares the `pos` key
    /// bytes read so far and continues with `b`, with its key length.
    fn next(&self, lo: u32, cand: u32, pos: u32, b: u8) -> Option<(u32, usize)> {
        let end = self.end(lo);
        let prefix = self.props.get(cand as usize)?.key.get(..pos as usize)?;
        (cand as usize..end).find_map(|j| {
            let p = self.props.get(j)?;
            (self.usable(p) && p.key.starts_with(prefix) && p.key.get(pos as usize) == Some(&b))
                .then_some((j as u32, p.key.len()))
        })
    }
}

/// The first literal at or after `cand` sharing its `pos`-byte prefix and
/// continuing with `b`. Literals are sorted, so the group is contiguous.
fn lit_next(vals: &[Box<[u8]>], cand: u32, pos: u32, b: u8) -> Option<u32> {
    let (cand, pos) = (cand as usize, pos as usize);
    let prefix = vals.get(cand)?.get(..pos)?;
    for (j, v) in vals.iter().enumerate().skip(cand) {
        if !v.starts_with(prefix) {
            break;
        }
        match v.get(pos) {
            Some(&c) if c == b => return Some(j as u32),
            Some(&c) if c > b => break,
            _ => {}
        }
    }
    None
}

fn lit_can_end(vals: &[Box<[u8]>], cand: u32, pos: u32) -> bool {
    vals.get(cand as usize)
        .is_some_and(|v| v.len() == pos as usize)
}

/// Whether the literal is done and no longer literal continues it, so it can
/// be popped at once (only numbers like `1` and `12` need to wait).
fn lit_must_end(vals: &[Box<[u8]>], j: u32, pos: u32) -> bool {
    let j = j as usize;
    let Some(v) = vals.get(j) else {
        return false;
    };
    v.len() == pos as usize && vals.get(j + 1).is_none_or(|n| !n.starts_with(v))
}

enum StrStep {
    Next { len: u32, esc: u8, utf8: u8 },
    Close,
    Reject,
}

fn str_step(min: u32, max: u32, len: u32, esc: u8, utf8: u8, b: u8) -> StrStep {
    let next = |len, esc, utf8| StrStep::Next { len, esc, utf8 };
    if utf8 != U_NONE {
        return match utf8_cont(utf8, b) {
            Some(u) => next(len, E_NONE, u),
            None => StrStep::Reject,
        };
    }
    let hex = b.is_ascii_hexdigit();
    match esc {
        E_NONE => match b {
            b'"' if len >= min => StrStep::Close,
            b'"' => StrStep::Reject,
            // The character is counted at its first byte.
            _ if len >= max => StrStep::Reject,
            b'\\' => next(len + 1, E_BACKSLASH, U_NONE),
            0x00..=0x1f => StrStep::Reject,
            0x20..=0x7f => next(len + 1, E_NONE, U_NONE),
            _ => match utf8_lead(b) {
                Some(u) => next(len + 1, E_NONE, u),
                None => StrStep::Reject,
            },
        },
        E_BACKSLASH => match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => next(len, E_NONE, U_NONE),
            b'u' => next(len, E_U0, U_NONE),
            _ => StrStep::Reject,
        },
        E_U0 if b == b'd' || b == b'D' => next(len, E_U1_D, U_NONE),
        E_U0 if hex => next(len, E_U1, U_NONE),
        E_U1_D if (b'0'..=b'7').contains(&b) => next(len, E_U2, U_NONE),
        E_U1 if hex => next(len, E_U2, U_NONE),
        E_U2 if hex => next(len, E_U3, U_NONE),
        E_U3 if hex => next(len, E_NONE, U_NONE),
        _ => StrStep::Reject,
    }
}

/// The state after a UTF-8 lead byte, refusing overlong forms (C0, C1, and
/// the E0/F0 ranges below), surrogates (ED A0..) and code points past
/// U+10FFFF (F4 90.., F5..).
fn utf8_lead(b: u8) -> Option<u8> {
    match b {
        0xc2..=0xdf => Some(U_1),
        0xe0 => Some(U_2_E0),
        0xe1..=0xec | 0xee..=0xef => Some(U_2),
        0xed => Some(U_2_ED),
        0xf0 => Some(U_3_F0),
        0xf1..=0xf3 => Some(U_3),
        0xf4 => Some(U_3_F4),
        _ => None,
    }
}

fn utf8_cont(state: u8, b: u8) -> Option<u8> {
    let (lo, hi, next) = match state {
        U_1 => (0x80, 0xbf, U_NONE),
        U_2 => (0x80, 0xbf, U_1),
        U_2_E0 => (0xa0, 0xbf, U_1),
        U_2_ED => (0x80, 0x9f, U_1),
        U_3 => (0x80, 0xbf, U_2),
        U_3_F0 => (0x90, 0xbf, U_2),
        U_3_F4 => (0x80, 0x8f, U_2),
        _ => return None,
    };
    (lo..=hi).contains(&b).then_some(next)
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(e: u32) -> i64 {
    POW10.get(e as usize).copied().unwrap_or(i64::MAX)
}

fn num_step(spec: &NumSpec, s: &NumState, b: u8) -> Option<NumState> {
    match &spec.range {
        None => free_num_step(spec.integer, s, b),
        Some(r) => bounded_num_step(r, s, b),
    }
}

fn num_can_end(spec: &NumSpec, s: &NumState) -> bool {
    match &spec.range {
        None => matches!(s.st, N_ZERO | N_INT | N_FRAC | N_EXP),
        Some(r) => {
            let scale = match s.st {
                N_ZERO | N_INT => pow10(r.frac),
                N_FRAC => pow10(r.frac.saturating_sub(u32::from(s.frac))),
                _ => return false,
            };
            let Some(v) = s.val.checked_mul(scale) else {
                return false;
            };
            let v = if s.neg { -v } else { v };
            r.lo <= v && v <= r.hi
        }
    }
}

/// Plain JSON number syntax with digit and exponent caps. A `.` is only
/// taken while a fraction digit still fits, so no state is a dead end.
fn free_num_step(integer: bool, s: &NumState, b: u8) -> Option<NumState> {
    let mut n = *s;
    let digit = b.is_ascii_digit();
    match s.st {
        N_START if b == b'-' => {
            n.st = N_MINUS;
            n.neg = true;
        }
        N_START | N_MINUS if digit => {
            n.st = if b == b'0' { N_ZERO } else { N_INT };
            n.digits = 1;
        }
        N_ZERO | N_INT | N_FRAC => {
            if digit && s.st != N_ZERO && s.digits < MAX_DIGITS {
                n.digits += 1;
            } else if b == b'.' && !integer && s.st != N_FRAC && s.digits < MAX_DIGITS {
                n.st = N_DOT;
            } else if (b == b'e' || b == b'E') && !integer {
                n.st = N_E;
            } else {
                return None;
            }
        }
        N_DOT if digit => {
            n.st = N_FRAC;
            n.digits += 1;
        }
        N_E if b == b'+' || b == b'-' => n.st = N_ESIGN,
        N_E | N_ESIGN if digit => {
            n.st = N_EXP;
            n.exp = 1;
        }
        N_EXP if digit && s.exp < MAX_EXP_DIGITS => n.exp += 1,
        _ => return None,
    }
    Some(n)
}

/// A number in `r`, without exponent. Each byte is taken only if some value
/// in range still extends the prefix, so the number can always be finished.
fn bounded_num_step(r: &Range, s: &NumState, b: u8) -> Option<NumState> {
    let mut n = *s;
    let digit = b.is_ascii_digit().then(|| i64::from(b - b'0'));
    match (s.st, digit) {
        (N_START, None) if b == b'-' => {
            // Negative values exist exactly when `lo < 0`.
            if r.lo >= 0 {
                return None;
            }
            n.st = N_MINUS;
            n.neg = true;
            return Some(n);
        }
        (N_START | N_MINUS, Some(d)) => {
            n.val = d;
            n.digits = 1;
            n.st = if d == 0 { N_ZERO } else { N_INT };
        }
        (N_INT, Some(d)) if u32::from(s.digits) < r.int_digits => {
            n.val = s.val.checked_mul(10)?.checked_add(d)?;
            n.digits += 1;
        }
        (N_ZERO | N_INT, None) if b == b'.' && r.frac > 0 => n.st = N_DOT,
        (N_DOT | N_FRAC, Some(d)) if u32::from(s.frac) < r.frac => {
            n.val = s.val.checked_mul(10)?.checked_add(d)?;
            n.frac += 1;
            n.st = N_FRAC;
        }
        _ => return None,
    }
    bounded_feasible(r, &n).then_some(n)
}

/// Whether some number extending the prefix `n` lies in `r`. The values a
/// prefix reaches are whole runs of units, so this is an interval test.
fn bounded_feasible(r: &Range, n: &NumState) -> bool {
    // The magnitudes allowed for the prefix's sign.
    let (a, b) = if n.neg {
        (r.hi.saturating_neg().max(0), r.lo.saturating_neg())
    } else {
        (r.lo.max(0), r.hi)
    };
    if a > b {
        return false;
    }
    let hits = |scale: i64| -> bool {
        let (Some(lo), Some(hi)) = (
            n.val.checked_mul(scale),
            (n.val + 1).checked_mul(scale).map(|v| v - 1),
        ) else {
            return false;
        };
        lo <= b && hi >= a
    };
    match n.st {
        // `m` more integer digits, then any fraction.
        N_ZERO | N_INT => {
            let more = if n.st == N_ZERO {
                0
            } else {
                r.int_digits.saturating_sub(u32::from(n.digits))
            };
            (0..=more).any(|m| hits(pow10(m + r.frac)))
        }
        N_DOT | N_FRAC => hits(pow10(r.frac.saturating_sub(u32::from(n.frac)))),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Token trie
// ---------------------------------------------------------------------------

/// A vocabulary as a trie over token bytes, built once per model, for
/// [`JsonMatcher::allowed_tokens`].
#[derive(Debug, Clone)]
pub struct TokenTrie {
    nodes: Vec<TrieNode>,
    /// Token ids sorted by their bytes: a node's tokens and those of its
    /// subtree are a contiguous run.
    ids: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct TrieNode {
    byte: u8,
    /// Bit `s` set: every path below this node is string text when read from
    /// UTF-8 decoder state `s` (see `text_step`).
    text: u8,
    /// Longest path below this node, in bytes.
    height: u32,
    first_child: u32,
    n_children: u32,
    tok_start: u32,
    /// End of the tokens that end at this node.
    own_end: u32,
    tok_end: u32,
}

/// One byte of string text read from UTF-8 decoder state `state`: the next
/// state, or None for a quote, backslash, control byte or invalid UTF-8.
fn text_step(state: u8, b: u8) -> Option<u8> {
    if state != U_NONE {
        return utf8_cont(state, b);
    }
    match b {
        b'"' | b'\\' | 0x00..=0x1f => None,
        0x20..=0x7f => Some(U_NONE),
        _ => utf8_lead(b),
    }
}

/// All decoder states; `text` masks have one bit per state.
const UTF8_STATES: [u8; 8] = [U_NONE, U_1, U_2, U_2_E0, U_2_ED, U_3, U_3_F0, U_3_F4];

impl TokenTrie {
    /// Builds the trie from `(token id, token bytes)`. Tokens with no bytes
    /// are left out: they are never allowed.
    pub fn new(tokens: impl Iterator<Item = (u32, Vec<u8>)>) -> Self {
        let mut toks: Vec<(Vec<u8>, u32)> = tokens
            .filter(|(_, b)| !b.is_empty())
            .map(|(id, b)| (b, id))
            .collect();
        toks.sort_unstable();
        let ids: Vec<u32> = toks.iter().map(|t| t.1).collect();
        let mut nodes = vec![TrieNode {
            byte: 0,
            text: 0xff,
            height: 0,
            first_child: 0,
            n_children: 0,
            tok_start: 0,
            own_end: 0,
            tok_end: toks.len() as u32,
        }];
        // Children of a node are pushed together so they are contiguous.
        let mut work: Vec<(usize, usize)> = vec![(0, 0)];
        while let Some((ni, depth)) = work.pop() {
            let (lo, hi) = (nodes[ni].tok_start as usize, nodes[ni].tok_end as usize);
            let byte_at = |i: usize| toks.get(i).and_then(|t| t.0.get(depth)).copied();
            let mut i = lo;
            while i < hi && byte_at(i).is_none() {
                i += 1;
            }
            nodes[ni].own_end = i as u32;
            let first = nodes.len();
            while i < hi {
                let Some(byte) = byte_at(i) else { break };
                let mut j = i + 1;
                while j < hi && byte_at(j) == Some(byte) {
                    j += 1;
                }
                nodes.push(TrieNode {
                    byte,
                    text: 0xff,
                    height: 0,
                    first_child: 0,
                    n_children: 0,
                    tok_start: i as u32,
                    own_end: i as u32,
                    tok_end: j as u32,
                });
                i = j;
            }
            nodes[ni].first_child = first as u32;
            nodes[ni].n_children = (nodes.len() - first) as u32;
            work.extend((first..nodes.len()).map(|c| (c, depth + 1)));
        }
        // Children come after their parent, so one backward pass suffices.
        for ni in (0..nodes.len()).rev() {
            let n = nodes[ni];
            let kids = n.first_child as usize..(n.first_child + n.n_children) as usize;
            let mut height = 0;
            let mut text = 0xffu8;
            for c in &nodes[kids] {
                height = height.max(c.height + 1);
                for s in UTF8_STATES {
                    let ok = text_step(s, c.byte).is_some_and(|next| c.text >> next & 1 == 1);
                    if !ok {
                        text &= !(1 << s);
                    }
                }
            }
            nodes[ni].height = height;
            nodes[ni].text = text;
        }
        TokenTrie { nodes, ids }
    }

    /// Number of (non-empty) tokens in the trie.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn mark(&self, from: u32, to: u32, allowed: &mut [bool]) {
        for &id in self.ids.get(from as usize..to as usize).unwrap_or(&[]) {
            if let Some(a) = allowed.get_mut(id as usize) {
                *a = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Compiler
// ---------------------------------------------------------------------------

struct Compiler<'a> {
    doc: &'a Value,
    nodes: Vec<Node>,
    /// `$ref` pointer → its node, so recursion terminates.
    refs: HashMap<String, u32>,
    /// Alias node → the pointer it stands for, for error messages.
    ref_names: HashMap<u32, String>,
    any: Option<u32>,
    null: Option<u32>,
    boolean: Option<u32>,
    free_key: Option<u32>,
    /// `enum`/`const` literal nodes to filter by their sibling keywords:
    /// (literal, siblings, pointer).
    filters: Vec<(u32, u32, String)>,
    /// Whether serde_json maps keep the written key order.
    keep_order: bool,
}

/// serde_json sorts map keys unless its `preserve_order` feature is on;
/// which one is in effect is only known at run time of the whole build.
fn maps_keep_order() -> bool {
    let mut m = Map::new();
    m.insert("b".to_owned(), Value::Null);
    m.insert("a".to_owned(), Value::Null);
    m.keys().next().is_some_and(|k| k == "b")
}

fn count_keyword(m: &Map<String, Value>, kw: &str, ptr: &str) -> Result<Option<u32>, GrammarError> {
    let Some(v) = m.get(kw) else {
        return Ok(None);
    };
    let n = v
        .as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .ok_or_else(|| invalid(&join(ptr, kw), "must be a non-negative integer"))?;
    Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
}

/// Integer digits of `|x|`, at least 1, capped at 16.
fn int_digit_count(x: f64) -> u32 {
    let x = x.abs();
    let mut d = 1;
    let mut p = 10.0;
    while x >= p && d < 16 {
        d += 1;
        p *= 10.0;
    }
    d
}

/// `x` in units of `10^-p`, rounded down and up, exactly: the shortest
/// decimal that reads back as `x` is scaled in integers, so the bound a
/// consumer parses and the one enforced agree. Saturates at ±10^17.
fn to_units(x: f64, p: u32) -> (i64, i64) {
    const SAT: i128 = 100_000_000_000_000_000;
    let text = format!("{:e}", x.abs());
    let (mant, exp) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let m: i128 = digits.parse().unwrap_or(0);
    // x = m * 10^(exp - (nd - 1)); in units: m * 10^shift.
    let shift = exp - (nd - 1) + p as i32;
    let (floor, ceil) = if m == 0 {
        (0, 0)
    } else if shift >= 0 {
        let mut v = m;
        for _ in 0..shift {
            v = (v * 10).min(SAT);
        }
        (v, v)
    } else if -shift > 30 {
        (0, 1)
    } else {
        let div = 10i128.pow((-shift) as u32);
        let q = m / div;
        (q, q + i128::from(m % div != 0))
    };
    let (floor, ceil) = (floor.min(SAT) as i64, ceil.min(SAT) as i64);
    if x < 0.0 {
        (-ceil, -floor)
    } else {
        (floor, ceil)
    }
}

impl<'a> Compiler<'a> {
    fn new(doc: &'a Value) -> Self {
        Compiler {
            doc,
            nodes: Vec::new(),
            refs: HashMap::new(),
            ref_names: HashMap::new(),
            any: None,
            null: None,
            boolean: None,
            free_key: None,
            filters: Vec::new(),
            keep_order: maps_keep_order(),
        }
    }

    fn push(&mut self, n: Node) -> u32 {
        self.nodes.push(n);
        (self.nodes.len() - 1) as u32
    }

    fn lit(&mut self, texts: &[&str]) -> u32 {
        let mut v: Vec<Box<[u8]>> = texts.iter().map(|t| t.as_bytes().into()).collect();
        v.sort();
        self.push(Node::Lit(v))
    }

    fn null(&mut self) -> u32 {
        if let Some(id) = self.null {
            return id;
        }
        let id = self.lit(&["null"]);
        self.null = Some(id);
        id
    }

    fn boolean(&mut self) -> u32 {
        if let Some(id) = self.boolean {
            return id;
        }
        let id = self.lit(&["true", "false"]);
        self.boolean = Some(id);
        id
    }

    fn free_key(&mut self) -> u32 {
        if let Some(id) = self.free_key {
            return id;
        }
        let id = self.push(Node::Str {
            min: 0,
            max: FREE_KEY_MAX_LENGTH,
        });
        self.free_key = Some(id);
        id
    }

    /// The empty schema: any value, containers nesting at most `ANY_DEPTH`.
    fn any(&mut self) -> u32 {
        if let Some(id) = self.any {
            return id;
        }
        let null = self.null();
        let boolean = self.boolean();
        let key = self.free_key();
        let num = self.push(Node::Num(NumSpec {
            integer: false,
            range: None,
        }));
        let s = self.push(Node::Str {
            min: 0,
            max: DEFAULT_MAX_LENGTH,
        });
        let mut inner = self.push(Node::Alt(vec![null, boolean, num, s]));
        for _ in 0..ANY_DEPTH {
            let arr = self.push(Node::Arr {
                items: inner,
                min: 0,
                max: DEFAULT_MAX_ITEMS,
            });
            let map = self.push(Node::Map {
                key,
                value: inner,
                max: FREE_MAX_MEMBERS,
            });
            inner = self.push(Node::Alt(vec![null, boolean, num, s, arr, map]));
        }
        self.any = Some(inner);
        inner
    }

    fn compile(&mut self, schema: &Value, ptr: &str, depth: usize) -> Result<u32, GrammarError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(invalid(ptr, "schema nested too deeply"));
        }
        let m = match schema {
            Value::Bool(true) => return Ok(self.any()),
            Value::Bool(false) => return Err(invalid(ptr, "schema `false` accepts no value")),
            Value::Object(m) => m,
            _ => return Err(invalid(ptr, "a schema must be an object or a boolean")),
        };
        for (k, v) in m {
            let refused = UNSUPPORTED.contains(&k.as_str())
                || (k == "uniqueItems" && v == &Value::Bool(true))
                || (k == "items" && v.is_array())
                || (k == "allOf" && v.as_array().is_none_or(|a| a.len() != 1));
            if refused {
                return Err(unsupported(k, &join(ptr, k)));
            }
        }
        // Keywords beside `$ref` or `allOf` would need an intersection.
        let sibling = |own: &str| {
            m.iter()
                .find(|(k, v)| {
                    k.as_str() != own
                        && INTERPRETED.contains(&k.as_str())
                        && !(matches!(k.as_str(), "uniqueItems" | "nullable")
                            && v == &&Value::Bool(false))
                })
                .map(|(k, _)| combined(k, own, ptr))
        };
        if let Some(r) = m.get("$ref") {
            if let Some(e) = sibling("$ref") {
                return Err(e);
            }
            return self.compile_ref(r, &join(ptr, "$ref"), depth);
        }
        if let Some(all) = m.get("allOf").and_then(Value::as_array) {
            if let Some(e) = sibling("allOf") {
                return Err(e);
            }
            let inner = all.first().ok_or_else(|| invalid(ptr, "empty allOf"))?;
            return self.compile(inner, &join(&join(ptr, "allOf"), "0"), depth + 1);
        }

        let alts = match (m.get("anyOf"), m.get("oneOf")) {
            (Some(_), Some(_)) => return Err(combined("oneOf", "anyOf", ptr)),
            (Some(a), None) => Some(("anyOf", a)),
            (None, Some(a)) => Some(("oneOf", a)),
            (None, None) => None,
        };
        let base = match alts {
            Some((kw, list)) => {
                let typed = m.keys().find(|k| {
                    let k = k.as_str();
                    k == "type"
                        || OBJECT_KEYWORDS.contains(&k)
                        || ARRAY_KEYWORDS.contains(&k)
                        || STRING_KEYWORDS.contains(&k)
                        || NUMBER_KEYWORDS.contains(&k)
                });
                if let Some(k) = typed {
                    return Err(combined(k, kw, ptr));
                }
                let list = list
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| invalid(&join(ptr, kw), "must be a non-empty array"))?;
                let at = join(ptr, kw);
                let mut leaves = Vec::with_capacity(list.len());
                for (i, s) in list.iter().enumerate() {
                    leaves.push(self.compile(s, &join(&at, &i.to_string()), depth + 1)?);
                }
                Some(self.push(Node::Alt(leaves)))
            }
            None => self.typed(m, ptr, depth)?,
        };

        let values: Option<Vec<&Value>> = match (m.get("enum"), m.get("const")) {
            (Some(_), Some(_)) => return Err(combined("const", "enum", ptr)),
            (Some(e), None) => Some(
                e.as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| invalid(&join(ptr, "enum"), "must be a non-empty array"))?
                    .iter()
                    .collect(),
            ),
            (None, Some(c)) => Some(vec![c]),
            (None, None) => None,
        };
        let mut node = match values {
            Some(values) => {
                let mut texts = Vec::with_capacity(values.len());
                for v in values {
                    let t = serde_json::to_vec(v).map_err(|e| invalid(ptr, e.to_string()))?;
                    texts.push(t.into_boxed_slice());
                }
                texts.sort();
                texts.dedup();
                let lit = self.push(Node::Lit(texts));
                if let Some(base) = base {
                    self.filters.push((lit, base, ptr.to_owned()));
                }
                lit
            }
            None => match base {
                Some(b) => b,
                None => self.any(),
            },
        };
        if m.get("nullable") == Some(&Value::Bool(true)) {
            let null = self.null();
            node = self.push(Node::Alt(vec![node, null]));
        }
        Ok(node)
    }

    fn compile_ref(&mut self, r: &Value, ptr: &str, depth: usize) -> Result<u32, GrammarError> {
        let r = r
            .as_str()
            .ok_or_else(|| invalid(ptr, "`$ref` must be a string"))?;
        let Some(pointer) = r.strip_prefix('#') else {
            return Err(invalid(
                ptr,
                format!("only local `#...` references are supported, not `{r}`"),
            ));
        };
        if let Some(&id) = self.refs.get(pointer) {
            return Ok(id);
        }
        let doc = self.doc;
        let target = doc
            .pointer(pointer)
            .ok_or_else(|| invalid(ptr, format!("`{r}` does not resolve")))?;
        let id = self.push(Node::Dead);
        self.refs.insert(pointer.to_owned(), id);
        self.ref_names.insert(id, pointer.to_owned());
        let inner = self.compile(target, pointer, depth + 1)?;
        if let Some(n) = self.nodes.get_mut(id as usize) {
            *n = Node::Alias(inner);
        }
        Ok(id)
    }

    /// The value kinds a schema allows from `type` or, without it, from the
    /// type-specific keywords present. None: any value.
    fn typed(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Result<Option<u32>, GrammarError> {
        let types: Vec<&str> = match m.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => {
                let mut v = Vec::with_capacity(list.len());
                for t in list {
                    v.push(t.as_str().ok_or_else(|| {
                        invalid(&join(ptr, "type"), "type names must be strings")
                    })?);
                }
                if v.is_empty() {
                    return Err(invalid(&join(ptr, "type"), "empty type list"));
                }
                v
            }
            Some(_) => return Err(invalid(&join(ptr, "type"), "must be a string or a list")),
            None => {
                // Without `type`, keywords of one kind leave other kinds
                // unconstrained; writing only the constrained kinds is valid.
                let has = |kws: &[&str]| kws.iter().any(|k| m.contains_key(*k));
                let mut v = Vec::new();
                if has(OBJECT_KEYWORDS) {
                    v.push("object");
                }
                if has(ARRAY_KEYWORDS) {
                    v.push("array");
                }
                if has(STRING_KEYWORDS) {
                    v.push("string");
                }
                if has(NUMBER_KEYWORDS) {
                    v.push("number");
                }
                if v.is_empty() {
                    return Ok(None);
                }
                v
            }
        };
        let mut leaves = Vec::with_capacity(types.len());
        for t in types {
            let id = match t {
                "null" => self.null(),
                "boolean" => self.boolean(),
                "string" => self.string(m, ptr)?,
                "number" => self.number(m, ptr, false)?,
                "integer" => self.number(m, ptr, true)?,
                "object" => self.object(m, ptr, depth)?,
                "array" => self.array(m, ptr, depth)?,
                other => {
                    return Err(invalid(
                        &join(ptr, "type"),
                        format!("unknown type `{other}`"),
                    ));
                }
            };
            leaves.push(id);
        }
        Ok(Some(match leaves.as_slice() {
            [one] => *one,
            _ => self.push(Node::Alt(leaves)),
        }))
    }

    fn string(&mut self, m: &Map<String, Value>, ptr: &str) -> Result<u32, GrammarError> {
        let min = count_keyword(m, "minLength", ptr)?.unwrap_or(0);
        let max = count_keyword(m, "maxLength", ptr)?.unwrap_or(DEFAULT_MAX_LENGTH.max(min));
        if min > max {
            return Err(invalid(ptr, "minLength is above maxLength"));
        }
        Ok(self.push(Node::Str { min, max }))
    }

    fn number(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        integer: bool,
    ) -> Result<u32, GrammarError> {
        let num = |kw: &str| -> Result<Option<f64>, GrammarError> {
            match m.get(kw) {
                None | Some(Value::Bool(_)) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| invalid(&join(ptr, kw), "must be a number")),
            }
        };
        let flag = |kw: &str| m.get(kw) == Some(&Value::Bool(true));
        let minimum = num("minimum")?;
        let maximum = num("maximum")?;
        let ex_min = num("exclusiveMinimum")?;
        let ex_max = num("exclusiveMaximum")?;
        let bounds = [minimum, maximum, ex_min, ex_max];
        if bounds.iter().all(Option::is_none) {
            return Ok(self.push(Node::Num(NumSpec {
                integer,
                range: None,
            })));
        }
        let (int_digits, frac) = if integer {
            (BOUNDED_DIGITS, 0)
        } else {
            let need = bounds
                .iter()
                .flatten()
                .map(|x| int_digit_count(*x))
                .max()
                .unwrap_or(1);
            let int_digits = need.clamp(BOUNDED_DIGITS - BOUNDED_FRACTION, BOUNDED_DIGITS);
            (int_digits, BOUNDED_DIGITS - int_digits)
        };
        let limit = pow10(int_digits + frac) - 1;
        let (mut lo, mut hi) = (-limit, limit);
        if let Some(x) = minimum {
            let (f, c) = to_units(x, frac);
            // Draft 4 spells an exclusive bound as a flag beside it.
            lo = lo.max(if flag("exclusiveMinimum") { f + 1 } else { c });
        }
        if let Some(x) = ex_min {
            lo = lo.max(to_units(x, frac).0 + 1);
        }
        if let Some(x) = maximum {
            let (f, c) = to_units(x, frac);
            hi = hi.min(if flag("exclusiveMaximum") { c - 1 } else { f });
        }
        if let Some(x) = ex_max {
            hi = hi.min(to_units(x, frac).1 - 1);
        }
        if lo > hi {
            return Err(invalid(
                ptr,
                format!("no number with at most {frac} fraction digits lies within the bounds"),
            ));
        }
        Ok(self.push(Node::Num(NumSpec {
            integer,
            range: Some(Range {
                lo,
                hi,
                int_digits,
                frac,
            }),
        })))
    }

    fn object(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Result<u32, GrammarError> {
        let mut required: Vec<&str> = Vec::new();
        match m.get("required") {
            None => {}
            Some(Value::Array(list)) => {
                for r in list {
                    let r = r.as_str().ok_or_else(|| {
                        invalid(&join(ptr, "required"), "entries must be strings")
                    })?;
                    if !required.contains(&r) {
                        required.push(r);
                    }
                }
            }
            Some(_) => return Err(invalid(&join(ptr, "required"), "must be an array")),
        }
        let empty = Map::new();
        let props = match m.get("properties") {
            Some(Value::Object(p)) => p,
            Some(_) => return Err(invalid(&join(ptr, "properties"), "must be an object")),
            None if required.is_empty() => return self.free_object(m, ptr, depth),
            None => &empty,
        };
        let names: Vec<&str> = if self.keep_order {
            let mut v: Vec<&str> = props.keys().map(String::as_str).collect();
            v.extend(required.iter().filter(|r| !props.contains_key(**r)));
            v
        } else {
            // Sorted maps lost the written order; the `required` list is the
            // author's only remaining order, and leads with what matters.
            let mut v = required.clone();
            v.extend(
                props
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !required.contains(k)),
            );
            v
        };
        let at = join(ptr, "properties");
        let mut list = Vec::with_capacity(names.len());
        for name in names {
            let is_required = required.contains(&name);
            let node = match props.get(name) {
                None => self.any(),
                // An optional property that can never be valid is left out.
                Some(Value::Bool(false)) if !is_required => continue,
                Some(s) => self.compile(s, &join(&at, name), depth + 1)?,
            };
            let key = serde_json::to_vec(&Value::String(name.to_owned()))
                .map_err(|e| invalid(ptr, e.to_string()))?;
            list.push(Prop {
                key: key.into_boxed_slice(),
                node,
                required: is_required,
            });
        }
        let mut next_req = vec![list.len() as u32; list.len() + 1];
        for i in (0..list.len()).rev() {
            next_req[i] = if list[i].required {
                i as u32
            } else {
                next_req[i + 1]
            };
        }
        Ok(self.push(Node::Obj {
            props: list,
            next_req,
        }))
    }

    /// An object schema without `properties`.
    fn free_object(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Result<u32, GrammarError> {
        let closed = |kw: &str| m.get(kw) == Some(&Value::Bool(false));
        if closed("additionalProperties") || closed("unevaluatedProperties") {
            return Ok(self.push(Node::Obj {
                props: Vec::new(),
                next_req: vec![0],
            }));
        }
        if let Some(u) = m.get("unevaluatedProperties")
            && u != &Value::Bool(true)
        {
            return Err(unsupported(
                "unevaluatedProperties",
                &join(ptr, "unevaluatedProperties"),
            ));
        }
        let value = match m.get("additionalProperties") {
            None | Some(Value::Bool(true)) => self.any(),
            Some(s) => self.compile(s, &join(ptr, "additionalProperties"), depth + 1)?,
        };
        let key = self.free_key();
        Ok(self.push(Node::Map {
            key,
            value,
            max: FREE_MAX_MEMBERS,
        }))
    }

    fn array(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Result<u32, GrammarError> {
        let min = count_keyword(m, "minItems", ptr)?.unwrap_or(0);
        let mut max = count_keyword(m, "maxItems", ptr)?.unwrap_or(DEFAULT_MAX_ITEMS.max(min));
        let items = match m.get("items") {
            None | Some(Value::Bool(true)) => self.any(),
            Some(Value::Bool(false)) => {
                max = 0;
                self.any()
            }
            Some(s) => self.compile(s, &join(ptr, "items"), depth + 1)?,
        };
        if min > max {
            return Err(invalid(ptr, "minItems is above maxItems"));
        }
        Ok(self.push(Node::Arr { items, min, max }))
    }

    /// Resolves `$ref` aliases, flattens alternatives, filters literals and
    /// checks that the root has a finite value within the nesting limit.
    fn finish(self, root: u32) -> Result<Grammar, GrammarError> {
        let Compiler {
            mut nodes,
            ref_names,
            filters,
            ..
        } = self;
        let n = nodes.len();
        let mut canon: Vec<u32> = (0..n as u32).collect();
        for (id, c) in canon.iter_mut().enumerate() {
            let mut cur = id;
            let mut hops = 0;
            while let Some(Node::Alias(t)) = nodes.get(cur) {
                cur = *t as usize;
                hops += 1;
                if hops > n {
                    let name = ref_names.get(&(id as u32)).cloned().unwrap_or_default();
                    return Err(invalid(&name, "`$ref` cycle with no schema in it"));
                }
            }
            *c = cur as u32;
        }
        let map = |id: &mut u32| *id = canon.get(*id as usize).copied().unwrap_or(*id);
        for node in &mut nodes {
            match node {
                Node::Obj { props, .. } => props.iter_mut().for_each(|p| map(&mut p.node)),
                Node::Map { key, value, .. } => {
                    map(key);
                    map(value);
                }
                Node::Arr { items, .. } => map(items),
                Node::Alt(leaves) => leaves.iter_mut().for_each(map),
                Node::Dead | Node::Alias(_) | Node::Lit(_) | Node::Str { .. } | Node::Num(_) => {}
            }
        }
        // Flatten nested alternatives; a cycle through alternatives only adds
        // nothing, so revisits are skipped.
        for id in 0..n {
            let Some(Node::Alt(first)) = nodes.get(id) else {
                continue;
            };
            let mut seen = vec![false; n];
            let mut todo: Vec<u32> = first.iter().rev().copied().collect();
            let mut leaves = Vec::new();
            while let Some(x) = todo.pop() {
                let xi = x as usize;
                if seen.get(xi).copied().unwrap_or(true) {
                    continue;
                }
                seen[xi] = true;
                match nodes.get(xi) {
                    Some(Node::Alt(more)) => todo.extend(more.iter().rev()),
                    Some(_) => leaves.push(x),
                    None => {}
                }
            }
            nodes[id] = Node::Alt(leaves);
        }
        let root = canon.get(root as usize).copied().unwrap_or(root);
        let (first, height) = analyse(&nodes);
        let mut g = Grammar {
            nodes,
            first,
            height,
            root,
        };
        if !filters.is_empty() {
            // Inner literals were registered first, so they are filtered
            // before any literal whose siblings contain them.
            for (lit, base, ptr) in filters {
                let base = canon.get(base as usize).copied().unwrap_or(base);
                let Some(Node::Lit(texts)) = g.nodes.get(lit as usize) else {
                    continue;
                };
                let kept: Vec<Box<[u8]>> = texts
                    .iter()
                    .filter(|t| full_match(&g, base, t))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    return Err(invalid(
                        &ptr,
                        "no `enum`/`const` value satisfies the keywords beside it",
                    ));
                }
                g.nodes[lit as usize] = Node::Lit(kept);
            }
            let (first, height) = analyse(&g.nodes);
            g.first = first;
            g.height = height;
        }
        if !g.fits(g.root, 0) {
            return Err(invalid(
                "",
                format!("no value fits within {MAX_FRAMES} levels of nesting (endless recursion?)"),
            ));
        }
        Ok(g)
    }
}

/// Whether `text` is a whole value of `node`.
fn full_match(g: &Grammar, node: u32, text: &[u8]) -> bool {
    let mut cur = Threads::start(node);
    let mut next = Threads::default();
    for &b in text {
        if !step(g, &cur, b, &mut next) {
            return false;
        }
        std::mem::swap(&mut cur, &mut next);
    }
    cur.threads().any(|t| thread_complete(g, t))
}

/// First-byte sets and heights (fewest frames to finish a value, found by
/// iterating to a fixed point so recursion through `$ref` is handled).
fn analyse(nodes: &[Node]) -> (Vec<[u64; 4]>, Vec<u32>) {
    let set = |bytes: &mut dyn Iterator<Item = u8>| {
        let mut s = [0u64; 4];
        for b in bytes {
            s[(b >> 6) as usize] |= 1 << (b & 63);
        }
        s
    };
    let mut first: Vec<[u64; 4]> = nodes
        .iter()
        .map(|n| match n {
            Node::Lit(vals) => set(&mut vals.iter().filter_map(|v| v.first().copied())),
            Node::Str { .. } => set(&mut std::iter::once(b'"')),
            Node::Num(_) => set(&mut (b'0'..=b'9').chain(std::iter::once(b'-'))),
            Node::Obj { .. } | Node::Map { .. } => set(&mut std::iter::once(b'{')),
            Node::Arr { .. } => set(&mut std::iter::once(b'[')),
            Node::Dead | Node::Alias(_) | Node::Alt(_) => [0; 4],
        })
        .collect();
    for i in 0..nodes.len() {
        if let Node::Alt(leaves) = &nodes[i] {
            let mut s = [0u64; 4];
            for &l in leaves {
                if let Some(ls) = first.get(l as usize) {
                    for k in 0..4 {
                        s[k] |= ls[k];
                    }
                }
            }
            first[i] = s;
        }
    }
    let mut height = vec![INF; nodes.len()];
    loop {
        let mut changed = false;
        for (i, n) in nodes.iter().enumerate() {
            let h = |id: &u32| height.get(*id as usize).copied().unwrap_or(INF);
            let v = match n {
                Node::Lit(vals) if vals.is_empty() => INF,
                Node::Lit(_) | Node::Str { .. } | Node::Num(_) | Node::Map { .. } => 1,
                Node::Obj { props, .. } => props
                    .iter()
                    .filter(|p| p.required)
                    .map(|p| h(&p.node))
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1),
                Node::Arr { items, min, .. } => {
                    if *min > 0 {
                        h(items).saturating_add(1)
                    } else {
                        1
                    }
                }
                Node::Alt(leaves) => leaves.iter().map(h).min().unwrap_or(INF),
                Node::Dead | Node::Alias(_) => INF,
            };
            if v < height[i] {
                height[i] = v;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    (first, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    use crate::llm::cpu::quant::testing::Rng;

    fn search_tool() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"const": "search_products"},
                "arguments": {
                    "type": "object",
                    "description": "what to search for",
                    "properties": {
                        "query": {"type": "string", "minLength": 1, "maxLength": 40},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                        "category": {"type": "string", "enum": ["hats", "shirts", "shoes"]},
                        "in_stock": {"type": "boolean"},
                        "max_price": {"type": "number", "minimum": 0, "maximum": 1000},
                        "min_rating": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
                        "note": {"type": ["string", "null"], "maxLength": 20},
                        "sort": {"enum": ["price", "relevance", null]},
                        "tags": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": 12, "format": "slug"},
                            "maxItems": 4
                        }
                    },
                    "required": ["query", "limit"]
                }
            },
            "required": ["name", "arguments"]
        })
    }

    fn get_tool() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"const": "get_product"},
                "arguments": {
                    "type": "object",
                    "properties": {"sku": {"type": "string", "minLength": 3, "maxLength": 16}},
                    "required": ["sku"]
                }
            },
            "required": ["name", "arguments"]
        })
    }

    fn two_tools() -> Value {
        json!({"oneOf": [search_tool(), get_tool()]})
    }

    fn nested_arrays() -> Value {
        json!({
            "type": "array",
            "items": {
                "type": "array",
                "items": {"type": "integer", "minimum": -5, "maximum": 5},
                "minItems": 1,
                "maxItems": 3
            },
            "maxItems": 4
        })
    }

    fn with_refs() -> Value {
        json!({
            "$defs": {
                "line": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "maxLength": 10},
                        "qty": {"type": "integer", "minimum": 1, "maximum": 99}
                    },
                    "required": ["sku", "qty"]
                },
                "node": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string", "maxLength": 8},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}
                    },
                    "required": ["label"]
                }
            },
            "definitions": {"old": {"type": "string", "enum": ["x", "y"]}},
            "type": "object",
            "properties": {
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 1, "maxItems": 5},
                "legacy": {"$ref": "#/definitions/old"},
                "tree": {"$ref": "#/$defs/node"}
            },
            "required": ["lines"]
        })
    }

    fn numbers() -> Value {
        json!({
            "type": "object",
            "properties": {
                "a": {"type": "number"},
                "b": {"type": "integer"},
                "c": {"type": "number", "minimum": -2.5, "maximum": 1e3},
                "d": {"type": "integer", "exclusiveMinimum": -10, "exclusiveMaximum": 10},
                "e": {"type": "number", "minimum": 0.1, "maximum": 0.2},
                "f": {"type": ["integer", "null"], "maximum": -3}
            },
            "required": ["a", "b", "c", "d", "e", "f"]
        })
    }

    fn with_any() -> Value {
        json!({
            "type": "object",
            "properties": {"id": {"type": "integer"}, "meta": {}, "extra": {"type": "object"}},
            "required": ["id"]
        })
    }

    /// Alternatives that overlap for many bytes, so several threads live at
    /// once and merge again.
    fn overlapping() -> Value {
        json!({
            "type": "array",
            "items": {"anyOf": [
                {"type": "string", "maxLength": 3},
                {"type": "string", "minLength": 2, "maxLength": 6},
                {"enum": ["abc", 1, 12, [1]]},
                {"type": "integer", "minimum": 10, "maximum": 20},
                {"type": "array", "items": {"type": "integer"}, "maxItems": 2}
            ]},
            "maxItems": 5
        })
    }

    fn compile(schema: &Value) -> JsonGrammar {
        match JsonGrammar::compile(schema) {
            Ok(g) => g,
            Err(e) => panic!("schema does not compile: {e}"),
        }
    }

    fn type_ok(t: &str, v: &Value) -> bool {
        match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            "object" => v.is_object(),
            "array" => v.is_array(),
            _ => false,
        }
    }

    /// An independent validator for the subset, with this grammar's stricter
    /// reading of objects (no properties beyond the listed ones).
    fn conforms(s: &Value, root: &Value, v: &Value) -> bool {
        let m = match s {
            Value::Bool(b) => return *b,
            Value::Object(m) => m,
            _ => return false,
        };
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            let target = root
                .pointer(r.trim_start_matches('#'))
                .expect("ref resolves");
            return conforms(target, root, v);
        }
        if let Some(a) = m.get("allOf").and_then(Value::as_array)
            && !a.iter().all(|x| conforms(x, root, v))
        {
            return false;
        }
        if let Some(a) = m.get("anyOf").and_then(Value::as_array)
            && !a.iter().any(|x| conforms(x, root, v))
        {
            return false;
        }
        if let Some(a) = m.get("oneOf").and_then(Value::as_array)
            && a.iter().filter(|x| conforms(x, root, v)).count() != 1
        {
            return false;
        }
        if let Some(e) = m.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            return false;
        }
        if let Some(c) = m.get("const")
            && c != v
        {
            return false;
        }
        if v.is_null() && m.get("nullable") == Some(&Value::Bool(true)) {
            return true;
        }
        match m.get("type") {
            Some(Value::String(t)) if !type_ok(t, v) => return false,
            Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
                return false;
            }
            _ => {}
        }
        let num = |k: &str| m.get(k).and_then(Value::as_f64);
        match v {
            Value::String(s) => {
                let n = s.chars().count() as f64;
                if num("minLength").is_some_and(|x| n < x)
                    || num("maxLength").is_some_and(|x| n > x)
                {
                    return false;
                }
            }
            Value::Number(x) => {
                let x = x.as_f64().expect("finite");
                if num("minimum").is_some_and(|b| x < b)
                    || num("maximum").is_some_and(|b| x > b)
                    || num("exclusiveMinimum").is_some_and(|b| x <= b)
                    || num("exclusiveMaximum").is_some_and(|b| x >= b)
                {
                    return false;
                }
            }
            Value::Array(a) => {
                let n = a.len() as f64;
                if num("minItems").is_some_and(|x| n < x) || num("maxItems").is_some_and(|x| n > x)
                {
                    return false;
                }
                if let Some(items) = m.get("items")
                    && !a.iter().all(|x| conforms(items, root, x))
                {
                    return false;
                }
            }
            Value::Object(o) => {
                if let Some(req) = m.get("required").and_then(Value::as_array)
                    && !req.iter().all(|r| o.contains_key(r.as_str().unwrap_or("")))
                {
                    return false;
                }
                match m.get("properties").and_then(Value::as_object) {
                    Some(props) => {
                        for (k, x) in o {
                            match props.get(k) {
                                Some(p) if conforms(p, root, x) => {}
                                _ => return false,
                            }
                        }
                    }
                    None => {
                        if let Some(ap) = m.get("additionalProperties")
                            && !o.values().all(|x| conforms(ap, root, x))
                        {
                            return false;
                        }
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn assert_valid_output(schema: &Value, out: &[u8]) {
        let text = String::from_utf8_lossy(out);
        let v: Value = serde_json::from_slice(out)
            .unwrap_or_else(|e| panic!("output does not parse ({e}): {text}"));
        assert!(
            conforms(schema, schema, &v),
            "output does not conform: {text}"
        );
    }

    fn matcher_after(g: &JsonGrammar, prefix: &[u8]) -> JsonMatcher {
        let mut m = g.matcher();
        if let Err(e) = m.advance(prefix) {
            panic!("prefix {:?} refused: {e}", String::from_utf8_lossy(prefix));
        }
        m
    }

    /// `prefix` is a valid prefix and `bad` may not follow it.
    fn assert_rejects(g: &JsonGrammar, prefix: &str, bad: &[u8]) {
        let mut m = matcher_after(g, prefix.as_bytes());
        assert!(
            !m.accepts(bad),
            "{:?} accepted after {prefix:?}",
            String::from_utf8_lossy(bad)
        );
        let before = m.st.clone();
        assert!(m.advance(bad).is_err());
        assert_eq!(m.st, before, "a failed advance changed the matcher");
    }

    fn assert_accepts(g: &JsonGrammar, prefix: &str, good: &[u8]) {
        let m = matcher_after(g, prefix.as_bytes());
        assert!(
            m.accepts(good),
            "{:?} refused after {prefix:?}",
            String::from_utf8_lossy(good)
        );
    }

    /// Feeds `text` byte by byte and in random chunks; every way must reach a
    /// complete value.
    fn assert_feeds(schema: &Value, g: &JsonGrammar, text: &str, rng: &mut Rng) {
        let bytes = text.as_bytes();
        let mut m = g.matcher();
        for (i, b) in bytes.iter().enumerate() {
            assert!(!m.is_complete(), "complete too early in {text} at {i}");
            assert!(m.accepts(&[*b]), "byte {i} of {text} refused");
            m.advance(&[*b]).expect("accepted byte advances");
        }
        assert!(m.is_complete(), "incomplete after {text}");
        for _ in 0..40 {
            let mut m = g.matcher();
            let mut i = 0;
            while i < bytes.len() {
                let n = 1 + rng.below(9);
                let chunk = &bytes[i..(i + n).min(bytes.len())];
                assert!(m.accepts(chunk), "chunk at {i} of {text} refused");
                m.advance(chunk).expect("accepted chunk advances");
                i += chunk.len();
            }
            assert!(m.is_complete());
        }
        let mut whole = g.matcher();
        whole.advance(bytes).expect("whole text advances");
        assert!(whole.is_complete());
        assert_valid_output(schema, bytes);
    }

    const SEARCH_OK: &[&str] = &[
        r#"{"name":"search_products","arguments":{"query":"red shoes","limit":10}}"#,
        r#"{"name":"search_products","arguments":{"query":"hat \"wool\" \u00e9\n\/","limit":1,"category":"hats","in_stock":true,"max_price":99.5,"min_rating":4.25,"note":null,"sort":null,"tags":["a","b\u0041","ünï"]}}"#,
        r#"{"name":"search_products","arguments":{"query":"日本語 😀","limit":50,"max_price":1000,"note":"x\u12aBy","sort":"relevance","tags":[]}}"#,
        r#"{"name":"search_products","arguments":{"query":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","limit":7,"in_stock":false,"max_price":0,"min_rating":0.000001}}"#,
        r#"{"name":"search_products","arguments":{"query":"x","limit":23,"max_price":0.5,"min_rating":5.0,"sort":"price"}}"#,
    ];

    #[test]
    fn valid_envelopes_feed_in_any_chunking() {
        let schema = search_tool();
        let g = compile(&schema);
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for text in SEARCH_OK {
            assert_feeds(&schema, &g, text, &mut rng);
        }
    }

    #[test]
    fn either_tool_of_a_one_of() {
        let schema = two_tools();
        let g = compile(&schema);
        let mut rng = Rng(7);
        for text in SEARCH_OK {
            assert_feeds(&schema, &g, text, &mut rng);
        }
        assert_feeds(
            &schema,
            &g,
            r#"{"name":"get_product","arguments":{"sku":"AB-123"}}"#,
            &mut rng,
        );
        assert_rejects(&g, r#"{"name":"get_product","arguments":{"#, b"\"query\"");
        assert_rejects(&g, r#"{"name":"search_products","arguments":{"#, b"\"sku\"");
        assert_rejects(&g, r#"{"name":"get_"#, b"x");
    }

    #[test]
    fn nested_arrays_and_refs() {
        let mut rng = Rng(99);
        let schema = nested_arrays();
        let g = compile(&schema);
        for text in ["[]", "[[0]]", "[[-5,5,3],[1],[-4],[2,2]]"] {
            assert_feeds(&schema, &g, text, &mut rng);
        }
        assert_rejects(&g, "[", b"[]");
        assert_rejects(&g, "[[", b"6");
        assert_rejects(&g, "[[", b"-6");
        assert_rejects(&g, "[[1,2,3", b",");
        assert_rejects(&g, "[[1],[2],[3],[4]", b",");
        assert_rejects(&g, "[[1", b".");
        assert_rejects(&g, "[[0", b"1");
        assert_rejects(&g, "[[1]", b",]");

        let schema = with_refs();
        let g = compile(&schema);
        for text in [
            r#"{"lines":[{"sku":"A1","qty":2}]}"#,
            r#"{"lines":[{"sku":"A1","qty":99},{"sku":"","qty":1}],"legacy":"y","tree":{"label":"root","children":[{"label":"a"},{"label":"b","children":[{"label":"c","children":[]}]}]}}"#,
        ] {
            assert_feeds(&schema, &g, text, &mut rng);
        }
        assert_rejects(&g, r#"{"lines":["#, b"]");
        assert_rejects(&g, r#"{"lines":[{"sku":"A1","qty":"#, b"0");
        assert_rejects(&g, r#"{"lines":[{"sku":"A1","qty":1}],"legacy":"#, b"\"z");
        assert_rejects(
            &g,
            r#"{"lines":[{"sku":"A1","qty":1}],"tree":{"#,
            b"\"children\"",
        );
    }

    #[test]
    fn recursion_is_bounded_by_the_frame_limit() {
        let g = compile(&with_refs());
        let mut m = matcher_after(&g, br#"{"lines":[{"sku":"a","qty":1}],"tree":"#);
        let mut depth = 0;
        while m.accepts(br#"{"label":"","children":["#) {
            m.advance(br#"{"label":"","children":["#).expect("accepted");
            depth += 1;
            assert!(depth < MAX_FRAMES, "recursion not bounded");
        }
        assert!(depth > 8, "only {depth} levels of recursion allowed");
        // The deepest level can still be closed.
        let close = format!("{}}}", "]}".repeat(depth));
        assert!(m.accepts(close.as_bytes()));
        m.advance(close.as_bytes()).expect("closes");
        assert!(m.is_complete());
    }

    #[test]
    fn structural_mistakes_are_refused() {
        let g = compile(&search_tool());
        let args = r#"{"name":"search_products","arguments":{"#;
        // Wrong or misplaced keys.
        assert_rejects(&g, r#"{"nam"#, b"x");
        assert_rejects(&g, "{", b"\"arguments\"");
        assert_rejects(&g, args, b"\"limit\"");
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"in_stock":true,"#),
            b"\"c",
        );
        assert_rejects(&g, &format!(r#"{args}"query":"a","#), b"\"query\"");
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"tags":[]"#),
            b",",
        );
        // A missing required key.
        assert_rejects(&g, r#"{"name":"search_products""#, b"}");
        assert_rejects(&g, &format!(r#"{args}"query":"a""#), b"}");
        assert_rejects(&g, "", b"{}");
        // Whitespace anywhere.
        assert_rejects(&g, "", b" ");
        assert_rejects(&g, "{", b" ");
        assert_rejects(&g, r#"{"name""#, b" ");
        assert_rejects(&g, r#"{"name":"#, b" ");
        assert_rejects(&g, r#"{"name":"search_products""#, b"\n");
        // Trailing commas.
        assert_rejects(&g, &format!(r#"{args}"query":"a","limit":1"#), b",}");
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"tags":["a""#),
            b",]",
        );
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"tags":["#),
            b",",
        );
        // Wrong kinds.
        assert_rejects(&g, &format!(r#"{args}"query":"#), b"1");
        assert_rejects(&g, &format!(r#"{args}"query":"#), b"null");
        assert_rejects(&g, &format!(r#"{args}"query":"a","limit":"#), b"\"");
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"in_stock":"#),
            b"1",
        );
        assert_rejects(
            &g,
            &format!(r#"{args}"query":"a","limit":1,"in_stock":"#),
            b"tru ",
        );
        assert_rejects(&g, r#"{"name":"#, b"\"search_product\"");
        assert_rejects(&g, r#"{"name":"#, b"\"Search");
        // Nothing after a complete value.
        let done = SEARCH_OK[0];
        let m = matcher_after(&g, done.as_bytes());
        assert!(m.is_complete());
        for extra in [&b"x"[..], b" ", b"\n", b"}", b",", b"\"", b"0"] {
            assert!(!m.accepts(extra));
        }
        let mut all = [false; 256];
        for (b, a) in all.iter_mut().enumerate() {
            *a = m.accepts(&[b as u8]);
        }
        assert!(all.iter().all(|a| !a));
        assert!(m.forced().is_empty());
    }

    #[test]
    fn strings_are_checked_byte_by_byte() {
        let g = compile(&search_tool());
        let q = r#"{"name":"search_products","arguments":{"query":""#;
        // Control characters; DEL is not one.
        for c in [0x00u8, 0x0a, 0x0d, 0x09, 0x1f] {
            assert_rejects(&g, &format!("{q}a"), &[c]);
        }
        assert_accepts(&g, q, &[0x7f]);
        // Invalid UTF-8: bad leads, overlong forms, surrogates, beyond
        // U+10FFFF, stray continuations, truncated characters.
        for bad in [
            &[0xffu8][..],
            &[0xc0],
            &[0xc1],
            &[0x80],
            &[0xbf],
            &[0xf5],
            &[0xe0, 0x80],
            &[0xe0, 0x9f],
            &[0xed, 0xa0],
            &[0xf0, 0x80],
            &[0xf0, 0x8f],
            &[0xf4, 0x90],
            &[0xc3, b'"'],
            &[0xe2, 0x82, b'a'],
            &[0xf0, 0x9f, 0x98, b'"'],
        ] {
            assert_rejects(&g, q, bad);
        }
        // A token may end inside a character.
        let mut m = matcher_after(&g, q.as_bytes());
        assert!(m.accepts(&[0xe2, 0x82]));
        m.advance(&[0xe2, 0x82]).expect("partial character");
        assert!(!m.accepts(b"\""));
        m.advance(&[0xac]).expect("character completed");
        assert!(m.accepts(b"\""));
        assert_accepts(&g, q, "😀\"".as_bytes());
        assert_accepts(&g, q, &[0xf4, 0x8f, 0xbf, 0xbf]);
        assert_accepts(&g, q, &[0xed, 0x9f, 0xbf]);
        // Escapes.
        for good in [
            &br#"\"\\\/\b\f\n\r\t"#[..],
            br"\u00e9",
            br"\uD7FF",
            br"\uE000",
            br"\u0000",
        ] {
            assert_accepts(&g, q, good);
        }
        for bad in [
            &br"\x"[..],
            br"\U0041",
            br"\u00g",
            br"\uD800",
            br"\udbff",
            br"\uDC00",
            br"\'",
        ] {
            assert_rejects(&g, q, bad);
        }
        // Length bounds: minLength 1, maxLength 40 code points, escapes and
        // multi-byte characters counting one.
        assert_rejects(&g, q, b"\"");
        let forty = "a".repeat(40);
        assert_rejects(&g, &format!("{q}{forty}"), b"a");
        assert_rejects(&g, &format!("{q}{forty}"), b"\\");
        assert_accepts(&g, &format!("{q}{forty}"), b"\"");
        let mixed = format!("{}{}{}", "é".repeat(20), r"\n".repeat(10), "😀".repeat(10));
        assert_rejects(&g, &format!("{q}{mixed}"), "é".as_bytes());
        assert_accepts(&g, &format!("{q}{mixed}"), b"\"");
        // Enum strings are whole.
        let c = r#"{"name":"search_products","arguments":{"query":"a","limit":1,"category":"#;
        assert_rejects(&g, c, b"\"hat\"");
        assert_rejects(&g, c, b"\"hatsx");
        assert_accepts(&g, c, b"\"shirts\"");
    }

    #[test]
    fn numbers_follow_syntax_and_bounds() {
        let g = compile(&search_tool());
        let a = r#"{"name":"search_products","arguments":{"query":"a","limit":"#;
        // limit: integer 1..=50.
        for bad in [
            &b"0"[..],
            b"51",
            b"-",
            b"1.",
            b"1e",
            b"01",
            b"60",
            b"100",
            b"+1",
            b".5",
        ] {
            assert_rejects(&g, a, bad);
        }
        for good in [&b"1}"[..], b"50}", b"5,", b"49}"] {
            assert_accepts(&g, a, good);
        }
        // max_price: number 0..=1000, written without exponent.
        let p = r#"{"name":"search_products","arguments":{"query":"a","limit":1,"max_price":"#;
        for bad in [
            &b"-"[..],
            b"1000.5",
            b"1001",
            b"1e3",
            b"00",
            b"0.1234567",
            b"1000.000001",
        ] {
            assert_rejects(&g, p, bad);
        }
        for good in [
            &b"1000.000000}"[..],
            b"0}",
            b"0.123456}",
            b"999.99}",
            b"12.5,",
        ] {
            assert_accepts(&g, p, good);
        }
        // min_rating: exclusiveMinimum 0, maximum 5.
        let r = r#"{"name":"search_products","arguments":{"query":"a","limit":1,"min_rating":"#;
        assert_rejects(&g, r, b"0}");
        assert_rejects(&g, r, b"0.0}");
        assert_rejects(&g, r, b"0.000000");
        assert_rejects(&g, r, b"5.000001");
        assert_rejects(&g, r, b"6");
        assert_accepts(&g, r, b"0.000001}");
        assert_accepts(&g, r, b"5}");

        let schema = numbers();
        let g = compile(&schema);
        let mut rng = Rng(3);
        assert_feeds(
            &schema,
            &g,
            r#"{"a":-0.5e-12,"b":-1234567890123456,"c":-2.5,"d":9,"e":0.2,"f":-3}"#,
            &mut rng,
        );
        assert_feeds(
            &schema,
            &g,
            r#"{"a":1E+99,"b":0,"c":1000,"d":-9,"e":0.1,"f":null}"#,
            &mut rng,
        );
        assert_rejects(&g, r#"{"a":"#, b"1e100");
        assert_rejects(&g, r#"{"a":"#, b"1.e5");
        assert_rejects(&g, r#"{"a":"#, b"12345678901234567");
        assert_rejects(&g, r#"{"a":"#, b"0.1234567890123456");
        assert_rejects(&g, r#"{"a":1,"b":"#, b"1.0");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":"#, b"-2.6");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":"#, b"-3");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":"#, b"1000.1");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":"#, b"10");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":"#, b"-10");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":"#, b"0.09");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":"#, b"0.2000001");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":"#, b"0.21");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":"#, b"1");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":0.15,"f":"#, b"-2}");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":0.15,"f":"#, b"0");
        assert_rejects(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":0.15,"f":"#, b"1");
        assert_accepts(&g, r#"{"a":1,"b":1,"c":0,"d":0,"e":0.15,"f":"#, b"-20}");

        // A top-level number is complete yet may grow.
        let g = compile(&json!({"type": "integer"}));
        let m = matcher_after(&g, b"12");
        assert!(m.is_complete());
        assert!(m.accepts(b"3"));
        assert!(!m.accepts(b"."));
        assert!(!matcher_after(&g, b"-").is_complete());
    }

    #[test]
    fn literals_and_type_lists() {
        let g = compile(&json!({"enum": [1, 12, "x", null, {"a": [true]}, [1, 2]]}));
        for ok in [
            &b"1"[..],
            b"12",
            b"\"x\"",
            b"null",
            br#"{"a":[true]}"#,
            b"[1,2]",
        ] {
            let m = matcher_after(&g, ok);
            assert!(m.is_complete(), "{}", String::from_utf8_lossy(ok));
        }
        assert!(!g.matcher().accepts(b"13"));
        assert!(!g.matcher().accepts(b"[1]"));
        assert!(!g.matcher().accepts(b"\"y\""));

        // Sibling keywords filter enum values.
        let g = compile(&json!({"type": "string", "maxLength": 3, "enum": ["ab", "abcd", 5]}));
        assert!(matcher_after(&g, b"\"ab\"").is_complete());
        assert!(!g.matcher().accepts(b"\"abc"));
        assert!(!g.matcher().accepts(b"5"));

        let g = compile(&json!({"type": ["integer", "null", "boolean"], "minimum": 2}));
        for ok in [&b"2"[..], b"null", b"true", b"false", b"99"] {
            assert!(matcher_after(&g, ok).is_complete());
        }
        assert!(!matcher_after(&g, b"1").is_complete());
        assert!(!g.matcher().accepts(b"0"));
        assert!(!g.matcher().accepts(b"\""));

        let g = compile(&json!({"type": "string", "nullable": true}));
        assert!(matcher_after(&g, b"null").is_complete());
        assert!(matcher_after(&g, b"\"a\"").is_complete());

        // Pydantic-style wrappers.
        let g = compile(&json!({
            "$defs": {"Color": {"enum": ["red", "blue"], "title": "Color"}},
            "type": "object",
            "properties": {
                "color": {"allOf": [{"$ref": "#/$defs/Color"}], "description": "which"},
                "size": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null}
            },
            "required": ["color"]
        }));
        assert!(matcher_after(&g, br#"{"color":"red","size":null}"#).is_complete());
        assert!(matcher_after(&g, br#"{"color":"blue","size":3}"#).is_complete());
        assert!(matcher_after(&g, br#"{"color":"blue"}"#).is_complete());

        // Odd key names are written as JSON strings.
        let g = compile(&json!({
            "type": "object",
            "properties": {"we\"ird/κey": {"type": "boolean"}},
            "required": ["we\"ird/κey"]
        }));
        assert!(matcher_after(&g, "{\"we\\\"ird/κey\":true}".as_bytes()).is_complete());
    }

    #[test]
    fn free_objects_and_any_values() {
        let schema = with_any();
        let g = compile(&schema);
        let mut rng = Rng(11);
        assert_feeds(
            &schema,
            &g,
            r#"{"id":1,"extra":{"k":[1,{"x":null}],"":"v"},"meta":[{"a":{"b":[]}},"s",-1.5e3,true]}"#,
            &mut rng,
        );
        let g = compile(&json!({}));
        assert!(matcher_after(&g, b"[[[").accepts(b"[]]]]"));
        assert!(!matcher_after(&g, b"[[[[").accepts(b"["));
        assert!(!matcher_after(&g, br#"{"a":{"b":[{"c":"#).accepts(b"{"));
        let g = compile(&json!({"type": "object", "additionalProperties": false}));
        assert!(matcher_after(&g, b"{}").is_complete());
        assert!(!g.matcher().accepts(b"{\""));
        let g = compile(&json!({"type": "object", "additionalProperties": {"type": "integer"}}));
        assert!(matcher_after(&g, br#"{"a":1,"b":2}"#).is_complete());
        assert!(!g.matcher().accepts(br#"{"a":"x"#));
        let g = compile(&json!({"type": "object", "properties": {}}));
        assert!(matcher_after(&g, b"{}").is_complete());
        assert!(!g.matcher().accepts(b"{\""));
    }

    #[test]
    fn forced_bytes_jump_ahead() {
        let g = compile(&json!({
            "type": "object",
            "properties": {
                "name": {"const": "x"},
                "arguments": {"type": "object", "properties": {"q": {"type": "string"}}}
            },
            "required": ["name"]
        }));
        let m = matcher_after(&g, b"{");
        assert_eq!(m.forced(), br#""name":"x""#);
        assert!(m.accepts(&m.forced()));
        let mut m = m;
        let f = m.forced();
        m.advance(&f).expect("forced bytes advance");
        // `,` or `}` now: a choice.
        assert!(m.forced().is_empty());
        assert_eq!(g.matcher().forced(), br#"{"name":"x""#);

        let g = compile(&search_tool());
        assert_eq!(
            String::from_utf8(g.matcher().forced()).expect("utf8"),
            r#"{"name":"search_products","arguments":{"query":""#
        );
        let m = matcher_after(
            &g,
            br#"{"name":"search_products","arguments":{"query":"a","limit":1,"in_stock":t"#,
        );
        assert_eq!(m.forced(), b"rue");
        let m = matcher_after(
            &g,
            br#"{"name":"search_products","arguments":{"query":"a","limit":1,"category":"sh"#,
        );
        assert!(m.forced().is_empty());
        let m = matcher_after(
            &g,
            br#"{"name":"search_products","arguments":{"query":"a","limit":1,"category":"sho"#,
        );
        assert_eq!(m.forced(), b"es\"");
        let m = matcher_after(&g, SEARCH_OK[0].as_bytes());
        assert!(m.forced().is_empty());

        let g = compile(&two_tools());
        assert_eq!(g.matcher().forced(), br#"{"name":""#);
        let m = matcher_after(&g, br#"{"name":"g"#);
        assert_eq!(
            String::from_utf8(m.forced()).expect("utf8"),
            r#"et_product","arguments":{"sku":""#
        );
        assert!(m.accepts(&m.forced()));
        assert_eq!(compile(&nested_arrays()).matcher().forced(), b"[");
    }

    /// Picks a random allowed byte, leaning toward bytes that close values
    /// so walks end.
    fn pick(m: &JsonMatcher, rng: &mut Rng) -> Option<u8> {
        if rng.below(100) < 35 {
            let ok: Vec<u8> = [b'}', b']', b'"']
                .into_iter()
                .filter(|b| m.accepts(&[*b]))
                .collect();
            if !ok.is_empty() {
                return Some(ok[rng.below(ok.len())]);
            }
        }
        for _ in 0..24 {
            let b = rng.next_u64() as u8;
            if m.accepts(&[b]) {
                return Some(b);
            }
        }
        let all: Vec<u8> = (0..=255u8).filter(|b| m.accepts(&[*b])).collect();
        (!all.is_empty()).then(|| all[rng.below(all.len())])
    }

    const WALK_LIMIT: usize = 50_000;

    fn walk(g: &JsonGrammar, rng: &mut Rng, mut visit: impl FnMut(&JsonMatcher)) -> Vec<u8> {
        let mut m = g.matcher();
        let mut out = Vec::new();
        while !m.is_complete() {
            visit(&m);
            assert!(out.len() < WALK_LIMIT, "walk did not end");
            let Some(b) = pick(&m, rng) else {
                panic!("dead end after {:?}", String::from_utf8_lossy(&out));
            };
            m.advance(&[b]).expect("accepted byte advances");
            out.push(b);
        }
        out
    }

    #[test]
    fn random_walks_always_finish_and_conform() {
        let schemas = [
            search_tool(),
            two_tools(),
            nested_arrays(),
            with_refs(),
            numbers(),
            with_any(),
            json!({}),
            overlapping(),
        ];
        let mut rng = Rng(0x0dd_ba11_cafe_f00d);
        let mut longest = 0;
        let mut walks = 0;
        for schema in &schemas {
            let g = compile(schema);
            for _ in 0..400 {
                let out = walk(&g, &mut rng, |_| {});
                longest = longest.max(out.len());
                assert_valid_output(schema, &out);
                walks += 1;
            }
        }
        assert!(walks >= 2800);
        assert!(longest < WALK_LIMIT);
    }

    fn synthetic_vocab(rng: &mut Rng, random: usize) -> Vec<(u32, Vec<u8>)> {
        let jsonish: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"{\"",
            b"\":",
            b"\",",
            b"\"}",
            b"\"]",
            b"\":\"",
            b"},{",
            b"\"},",
            b"}}",
            b"]}",
            b"null",
            b"true",
            b"false",
            b"tr",
            b"ue",
            b"0",
            b"1",
            b"5",
            b"9",
            b"12",
            b"123",
            b"50",
            b"-",
            b".",
            b"e",
            b"E",
            b"e+",
            b"\\",
            b"\\n",
            b"\\u",
            b"00e9",
            b"D800",
            b" ",
            b"  ",
            b"\n",
            b"name",
            b"search_products",
            b"search",
            b"_products",
            b"\"name\":\"",
            b"arguments",
            b"\"arguments\":{",
            b"query",
            b"\"query\":\"",
            b"limit",
            b"\":1",
            b"\":true",
            b"hats",
            b"sh",
            b"oes",
            b"get",
            b"_product",
            b"sku",
            b"\"sku\":\"",
            "é".as_bytes(),
            "日本".as_bytes(),
            &[0xe2, 0x82],
            &[0xac],
            &[0xff],
            &[0xf0, 0x9f],
            &[0x98, 0x80],
            b"\x00",
            b"\x1f",
        ];
        let mut vocab: Vec<(u32, Vec<u8>)> = Vec::new();
        for t in jsonish {
            vocab.push((vocab.len() as u32, t.to_vec()));
        }
        let alphabet: &[u8] = b"abcdefghijklmnopqrstuvwxyz_ ";
        for _ in 0..random {
            let len = 1 + rng.below(8);
            let t: Vec<u8> = (0..len)
                .map(|_| match rng.below(100) {
                    0..=54 => alphabet[rng.below(alphabet.len())],
                    55..=69 => b"{}[]\":,\\"[rng.below(8)],
                    70..=79 => b'0' + rng.below(10) as u8,
                    80..=89 => 0x80 + rng.below(128) as u8,
                    90..=94 => rng.below(32) as u8,
                    _ => b".-+eE/tn"[rng.below(8)],
                })
                .collect();
            vocab.push((vocab.len() as u32, t));
        }
        // An empty token and a duplicate of a real one, under other ids.
        vocab.push((vocab.len() as u32, Vec::new()));
        vocab.push((vocab.len() as u32, b"{\"".to_vec()));
        vocab
    }

    fn assert_mask_agrees(m: &JsonMatcher, trie: &TokenTrie, vocab: &[(u32, Vec<u8>)]) {
        let mut allowed = vec![true; vocab.len() + 3];
        m.allowed_tokens(trie, &mut allowed);
        for (id, bytes) in vocab {
            let expect = !bytes.is_empty() && m.accepts(bytes);
            assert_eq!(
                allowed[*id as usize],
                expect,
                "token {:?} after state {:?}",
                String::from_utf8_lossy(bytes),
                m.st
            );
        }
        assert!(!allowed[vocab.len()..].iter().any(|a| *a));
    }

    #[test]
    fn allowed_tokens_match_accepts() {
        let mut rng = Rng(42);
        let vocab = synthetic_vocab(&mut rng, 3000);
        let trie = TokenTrie::new(vocab.iter().cloned());
        assert_eq!(trie.len(), vocab.len() - 1);
        for schema in [
            search_tool(),
            two_tools(),
            with_any(),
            numbers(),
            overlapping(),
        ] {
            let g = compile(&schema);
            for text in SEARCH_OK {
                let m = matcher_after(&compile(&search_tool()), &text.as_bytes()[..text.len() / 2]);
                assert_mask_agrees(&m, &trie, &vocab);
            }
            for _ in 0..2 {
                let mut states = Vec::new();
                walk(&g, &mut rng, |m| states.push(m.clone()));
                for m in states.iter().step_by(3) {
                    assert_mask_agrees(m, &trie, &vocab);
                }
            }
        }
        // Deep in a long string the fast path takes whole subtrees.
        let g = compile(&search_tool());
        let m = matcher_after(&g, br#"{"name":"search_products","arguments":{"query":"ab"#);
        assert_mask_agrees(&m, &trie, &vocab);
        let m = matcher_after(
            &g,
            format!(
                r#"{{"name":"search_products","arguments":{{"query":"{}"#,
                "a".repeat(37)
            )
            .as_bytes(),
        );
        assert_mask_agrees(&m, &trie, &vocab);
    }

    #[test]
    fn allowed_tokens_timing_on_150k_vocab() {
        let mut rng = Rng(0xfeed);
        let words: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                let len = 2 + rng.below(9);
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        let mut vocab: Vec<(u32, Vec<u8>)> = Vec::with_capacity(150_000);
        while vocab.len() < 150_000 {
            let w = &words[rng.below(words.len())];
            let t: Vec<u8> = match rng.below(100) {
                0..=44 => [b" ".as_slice(), w].concat(),
                45..=69 => w.clone(),
                70..=74 => {
                    let mut t = w.clone();
                    t[0] = t[0].to_ascii_uppercase();
                    [b" ".as_slice(), &t].concat()
                }
                75..=79 => (0..1 + rng.below(4))
                    .map(|_| b'0' + rng.below(10) as u8)
                    .collect(),
                80..=89 => {
                    let c = char::from_u32(0xa0 + rng.below(0x3000) as u32).unwrap_or('é');
                    let mut s = String::new();
                    for _ in 0..1 + rng.below(3) {
                        s.push(c);
                    }
                    s.into_bytes()
                }
                90..=94 => (0..1 + rng.below(4))
                    .map(|_| b"{}[]\":,\\.-_/()!?'#"[rng.below(18)])
                    .collect(),
                _ => (0..1 + rng.below(6))
                    .map(|_| rng.next_u64() as u8)
                    .collect(),
            };
            vocab.push((vocab.len() as u32, t));
        }
        let started = Instant::now();
        let trie = TokenTrie::new(vocab.iter().cloned());
        let build = started.elapsed();
        let g = compile(&search_tool());
        let states: [(&str, &[u8]); 6] = [
            ("start", b""),
            ("after {", b"{"),
            ("in name", br#"{"name":"sea"#),
            (
                "key of arguments",
                br#"{"name":"search_products","arguments":{"query":"a","#,
            ),
            (
                "in query string",
                br#"{"name":"search_products","arguments":{"query":"red "#,
            ),
            (
                "in number",
                br#"{"name":"search_products","arguments":{"query":"a","limit":1,"max_price":12"#,
            ),
        ];
        let reps = if cfg!(debug_assertions) { 1 } else { 50 };
        let mixed = compile(&json!({"anyOf": [{"enum": ["red", "blue"]}, {"type": "string"}]}));
        let two = compile(&json!({"anyOf": [
            {"type": "string", "maxLength": 200},
            {"type": "string", "minLength": 2, "format": "uri"}
        ]}));
        let mut allowed = vec![false; vocab.len()];
        println!(
            "allowed_tokens over {} tokens ({} trie nodes, built in {:?}):",
            trie.len(),
            trie.nodes.len(),
            build
        );
        let cases = states
            .iter()
            .map(|(label, prefix)| (*label, matcher_after(&g, prefix)))
            .chain([
                ("2 string threads", matcher_after(&two, b"\"ab")),
                ("string + enum", matcher_after(&mixed, b"\"r")),
            ]);
        for (label, m) in cases {
            let started = Instant::now();
            for _ in 0..reps {
                m.allowed_tokens(&trie, &mut allowed);
            }
            let per = started.elapsed() / reps;
            let count = allowed.iter().filter(|a| **a).count();
            println!("  {label:>18}: {per:>10.2?} per call, {count} allowed");
            // Spot-check agreement on a sample.
            for (id, bytes) in vocab.iter().step_by(97) {
                assert_eq!(allowed[*id as usize], m.accepts(bytes));
            }
        }
        let m = matcher_after(
            &g,
            br#"{"name":"search_products","arguments":{"query":"red "#,
        );
        let started = Instant::now();
        let n = if cfg!(debug_assertions) {
            1_000
        } else {
            1_000_000
        };
        let mut hits = 0;
        for i in 0..n {
            hits += usize::from(m.accepts(&vocab[i % vocab.len()].1));
        }
        println!(
            "  accepts: {:?} per token ({hits} of {n})",
            started.elapsed() / n as u32
        );
        let m = g.matcher();
        let started = Instant::now();
        let f = m.forced();
        println!(
            "  forced() from the start: {:?} for {} bytes",
            started.elapsed(),
            f.len()
        );
    }

    #[test]
    fn forced_agrees_with_accepts_along_walks() {
        let accepted =
            |m: &JsonMatcher| -> Vec<u8> { (0..=255u8).filter(|b| m.accepts(&[*b])).collect() };
        let mut rng = Rng(0xf0_4ced);
        for schema in [search_tool(), two_tools(), with_refs(), overlapping()] {
            let g = compile(&schema);
            for _ in 0..12 {
                let mut states = Vec::new();
                walk(&g, &mut rng, |m| states.push(m.clone()));
                for m in states {
                    let f = m.forced();
                    assert!(m.accepts(&f));
                    if f.is_empty() {
                        assert!(m.is_complete() || accepted(&m).len() != 1);
                        continue;
                    }
                    let mut m = m;
                    for b in f {
                        assert!(!m.is_complete());
                        assert_eq!(accepted(&m), vec![b]);
                        m.advance(&[b]).expect("forced byte advances");
                    }
                    assert!(m.is_complete() || accepted(&m).len() != 1);
                }
            }
        }
    }

    #[test]
    fn bounds_convert_to_units_exactly() {
        assert_eq!(to_units(0.1, 6), (100_000, 100_000));
        assert_eq!(to_units(-2.5, 6), (-2_500_000, -2_500_000));
        assert_eq!(to_units(1e-7, 6), (0, 1));
        assert_eq!(to_units(-1e-7, 6), (-1, 0));
        assert_eq!(to_units(1.5, 0), (1, 2));
        assert_eq!(to_units(-1.5, 0), (-2, -1));
        assert_eq!(to_units(0.0, 6), (0, 0));
        assert_eq!(
            to_units(123_456_789.123_456, 6),
            (123_456_789_123_456, 123_456_789_123_456)
        );
        assert_eq!(
            to_units(1e300, 0),
            (100_000_000_000_000_000, 100_000_000_000_000_000)
        );
        assert_eq!(to_units(1e-300, 6), (0, 1));
    }

    #[test]
    fn unsupported_keywords_are_named_with_their_pointer() {
        let err = |s: Value| match JsonGrammar::compile(&s) {
            Ok(_) => panic!("{s} compiled"),
            Err(e) => e,
        };
        let e = err(json!({
            "type": "object",
            "properties": {"a b/c": {"type": "string", "pattern": "^x"}}
        }));
        assert_eq!(
            e,
            GrammarError::Unsupported {
                keyword: "pattern".into(),
                pointer: "/properties/a b~1c/pattern".into()
            }
        );
        assert!(e.to_string().contains("`pattern`"));
        assert!(e.to_string().contains("#/properties/a b~1c/pattern"));
        for (s, kw) in [
            (json!({"type": "integer", "multipleOf": 2}), "multipleOf"),
            (json!({"not": {"type": "null"}}), "not"),
            (json!({"type": "array", "uniqueItems": true}), "uniqueItems"),
            (
                json!({"type": "array", "items": [{"type": "string"}]}),
                "items",
            ),
            (
                json!({"allOf": [{"type": "string"}, {"maxLength": 2}]}),
                "allOf",
            ),
            (
                json!({"type": "object", "patternProperties": {}}),
                "patternProperties",
            ),
            (json!({"items": {"if": {}}}), "if"),
        ] {
            match err(s.clone()) {
                GrammarError::Unsupported { keyword, .. } => assert_eq!(keyword, kw, "{s}"),
                other => panic!("{s}: {other}"),
            }
        }
        for (s, kw, beside) in [
            (
                json!({"$ref": "#/$defs/a", "type": "string", "$defs": {"a": {}}}),
                "type",
                "$ref",
            ),
            (
                json!({"anyOf": [{"type": "string"}], "minLength": 2}),
                "minLength",
                "anyOf",
            ),
            (json!({"anyOf": [{}], "oneOf": [{}]}), "oneOf", "anyOf"),
            (json!({"allOf": [{}], "maxItems": 2}), "maxItems", "allOf"),
            (json!({"enum": [1], "const": 1}), "const", "enum"),
        ] {
            match err(s.clone()) {
                GrammarError::Combined {
                    keyword, beside: b, ..
                } => assert_eq!((keyword.as_str(), b.as_str()), (kw, beside), "{s}"),
                other => panic!("{s}: {other}"),
            }
        }
        for s in [
            json!({"$ref": "#/$defs/missing"}),
            json!({"$ref": "other.json#/a"}),
            json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
            json!({"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}, "required": ["c"]}}, "$ref": "#/$defs/n"}),
            json!({"type": "strin"}),
            json!({"type": "string", "minLength": 5, "maxLength": 4}),
            json!({"type": "string", "enum": [1, 2]}),
            json!({"type": "integer", "minimum": 5, "maximum": 4}),
            json!({"type": "number", "minimum": 0.1234567, "maximum": 0.1234568}),
            json!({"type": "integer", "minimum": 1e20}),
            json!(false),
            json!(3),
            json!({"enum": []}),
            json!({"type": "array", "minItems": 3, "maxItems": 2}),
        ] {
            assert!(
                matches!(err(s.clone()), GrammarError::Invalid { .. }),
                "{s}"
            );
        }
        // Annotations and unknown keywords are ignored.
        compile(&json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:x", "$comment": "c", "title": "t", "description": "d",
            "default": 1, "examples": [1], "deprecated": false, "readOnly": true,
            "x-vendor": {"pattern": "ignored"}, "type": "string", "format": "email",
            "uniqueItems": false
        }));
    }

    #[test]
    fn garbage_never_panics_and_failed_advance_reports_offset() {
        let mut rng = Rng(5);
        for schema in [search_tool(), with_refs(), json!({}), numbers()] {
            let g = compile(&schema);
            for _ in 0..300 {
                let mut m = g.matcher();
                let len = rng.below(40);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                let _ = m.accepts(&bytes);
                let _ = m.advance(&bytes);
                let _ = m.forced();
                let _ = m.is_complete();
            }
        }
        let g = compile(&search_tool());
        let mut m = g.matcher();
        assert_eq!(
            m.advance(br#"{"name":"seX"#),
            Err(GrammarError::Rejected {
                offset: 11,
                byte: b'X'
            })
        );
        assert_eq!(m.st, g.matcher().st);
        assert!(g.matcher().accepts(b""));
        let mut allowed = [true; 4];
        g.matcher()
            .allowed_tokens(&TokenTrie::new(std::iter::empty()), &mut allowed);
        assert_eq!(allowed, [false; 4]);
    }

    #[test]
    fn matcher_state_stays_small() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<JsonGrammar>();
        shareable::<JsonMatcher>();
        shareable::<TokenTrie>();
        assert!(std::mem::size_of::<Frame>() <= 24);
        let g = compile(&two_tools());
        let m = matcher_after(&g, br#"{"name":"search_products","arguments":{"query":"a"#);
        assert_eq!(m.st.ends.len(), 1, "the losing alternative was pruned");
        assert!(m.st.frames.len() <= 4);
        // Overlapping alternatives run side by side, then merge or die.
        let g = compile(&overlapping());
        assert_eq!(matcher_after(&g, b"[\"ab").st.ends.len(), 3);
        assert_eq!(matcher_after(&g, b"[\"ab\"").st.ends.len(), 1);
        assert_eq!(matcher_after(&g, b"[1").st.ends.len(), 2);
        assert_eq!(matcher_after(&g, b"[1,").st.ends.len(), 1);
        assert!(matcher_after(&g, b"[12,15,\"abc\",[1],[1,2]]").is_complete());
        assert!(matcher_after(&g, b"[2").accepts(b"0]"));
        assert!(!matcher_after(&g, b"[2").accepts(b"1"));
        assert!(!matcher_after(&g, b"[2").accepts(b"]"));
    }
}
