//! The tokenizer of a GGUF model, rebuilt from the file's `tokenizer.ggml.*`
//! metadata so that it splits text exactly as llama.cpp does.
//!
//! This module owns turning text into token ids and token ids back into bytes
//! for one loaded model: the vocabulary, the merges, the special tokens, BOS /
//! EOS handling and the ids that end a generation. It reads nothing but the
//! metadata it is handed (no files, no network) and must not touch inference,
//! chat templates or sampling; those live beside it in [`crate::llm`].
//!
//! Two vocabulary families are supported:
//!
//! - `gpt2`: byte-level BPE. The merges come from `tokenizer.ggml.merges`; the
//!   text is first split by the regular expression llama.cpp uses for the
//!   `tokenizer.ggml.pre` value, then every byte is mapped to its GPT-2
//!   printable stand-in before merging.
//! - `llama`: SentencePiece BPE. GGUF files carry scores, not merges, so the
//!   merges are derived: every way of cutting a piece into two pieces of the
//!   vocabulary is a merge, ranked by the score of the whole piece. That is the
//!   rule llama.cpp's SPM tokenizer applies at run time (it repeatedly joins the
//!   adjacent pair whose concatenation is the best-scoring piece), so a BPE
//!   model over those merges produces the same ids. Characters that are not
//!   pieces fall back to `<0xNN>` byte tokens.
//!
//! The heavy lifting (added-token matching, normalisation, regex splitting and
//! the merge loop) is done by the `tokenizers` crate; this module only feeds it
//! the right configuration and keeps the facts the inference engine needs.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, SplitDelimiterBehavior, Token, TokenizerImpl,
};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_BOS_ID: &str = "tokenizer.ggml.bos_token_id";
const KEY_EOS_ID: &str = "tokenizer.ggml.eos_token_id";
const KEY_UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
const KEY_EOT_ID: &str = "tokenizer.ggml.eot_token_id";
const KEY_EOM_ID: &str = "tokenizer.ggml.eom_token_id";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";

/// Token attributes as llama.cpp keeps them: a bit set, because its name-based
/// fix-ups add `CONTROL` to tokens declared otherwise (Gemma's user-defined
/// `</s>` becomes user-defined *and* control, which changes how it is matched).
mod attr {
    pub const UNKNOWN: u8 = 1 << 0;
    pub const UNUSED: u8 = 1 << 1;
    pub const NORMAL: u8 = 1 << 2;
    pub const CONTROL: u8 = 1 << 3;
    pub const USER_DEFINED: u8 = 1 << 4;
    pub const BYTE: u8 = 1 << 5;

    /// From a `tokenizer.ggml.token_type` value (llama.cpp's
    /// `llama_token_type`); anything else is undefined.
    pub fn from_type(token_type: i32) -> u8 {
        match token_type {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            _ => 0,
        }
    }
}

/// End-of-turn texts llama.cpp looks for when the metadata names no EOT id.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];

/// Token texts that end a generation in llama.cpp (`special_eog_ids`); they
/// are also made control tokens whatever their declared type. Note `</s>`:
/// in Qwen's and Gemma's vocabularies it is an HTML tag piece, yet llama.cpp
/// stops on it and parses it as a special token.
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
];

/// Fill-in-the-middle texts llama.cpp recognises when the metadata names no
/// id: prefix, suffix, middle, pad, repository, file separator. The last three
/// also end a generation.
const FIM: [(&str, &[&str]); 6] = [
    (
        "tokenizer.ggml.fim_pre_token_id",
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<\u{ff5c}fim\u{2581}begin\u{ff5c}>",
            "<PRE>",
            "\u{2581}<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
    ),
    (
        "tokenizer.ggml.fim_suf_token_id",
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<\u{ff5c}fim\u{2581}hole\u{ff5c}>",
            "<SUF>",
            "\u{2581}<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
    ),
    (
        "tokenizer.ggml.fim_mid_token_id",
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<\u{ff5c}fim\u{2581}end\u{ff5c}>",
            "<MID>",
            "\u{2581}<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
    ),
    (
        "tokenizer.ggml.fim_pad_token_id",
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    ),
    (
        "tokenizer.ggml.fim_rep_token_id",
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
    ),
    ("tokenizer.ggml.fim_sep_token_id", &["<|file_sep|>"]),
];

/// Pre-tokenizer regexes, written after the ones llama.cpp's llama-vocab.cpp
/// selects per `tokenizer.ggml.pre`. llama.cpp's own matchers for these are
/// hand-written equivalents of exactly these expressions.
///
/// Qwen2: contractions, letter runs with one leading non-letter, single
/// digits, punctuation runs with one optional leading space and trailing
/// newlines, newline runs, then whitespace.
const QWEN2_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3: as Qwen2 but digits are grouped up to three.
const LLAMA3_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-2: lowercase contractions and space-prefixed runs of one class.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// llama.cpp's fallback for `default` (and a missing `pre`): four passes, each
/// splitting the pieces of the one before. llama.cpp runs the ones it has no
/// hand-written matcher for through `std::regex` on a simplified copy of the
/// text, so this family is the least exact; no fixture model uses it.
const DEFAULT_PATTERNS: &[&str] = &[
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// Letters and numbers (all decimal digits) that Unicode 16.0 added.
/// llama.cpp classifies characters with Unicode 15.1 tables while the regex
/// engine (Oniguruma) knows 16.0, so `\p{L}` / `\p{N}` would group these
/// where llama.cpp treats them like any unassigned character (as punctuation,
/// in effect). Taking them out of both classes makes the splits agree, e.g.
/// "𞗬's" is "𞗬'" + "s" in llama.cpp, not "𞗬" + "'s".
const UNICODE_16_LETTERS: &str = concat!(
    r"\x{1C89}-\x{1C8A}\x{A7CB}-\x{A7CD}\x{A7DA}-\x{A7DC}",
    r"\x{105C0}-\x{105F3}\x{10D4A}-\x{10D65}\x{10D6F}-\x{10D85}",
    r"\x{10EC2}-\x{10EC4}\x{11380}-\x{11389}\x{1138B}\x{1138E}",
    r"\x{11390}-\x{113B5}\x{113B7}\x{113D1}\x{113D3}",
    r"\x{11BC0}-\x{11BE0}\x{13460}-\x{143FA}\x{16100}-\x{1611D}",
    r"\x{16D40}-\x{16D6C}\x{18CFF}\x{1E5D0}-\x{1E5ED}\x{1E5F0}",
);
const UNICODE_16_NUMBERS: &str = concat!(
    r"\x{10D40}-\x{10D49}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}",
    r"\x{16130}-\x{16139}\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}",
    r"\x{1E5F1}-\x{1E5FA}",
);

/// A pre-tokenizer pattern with llama.cpp's (Unicode 15.1) letter and number
/// classes in place of the engine's.
fn with_llama_cpp_classes(pattern: &str) -> String {
    pattern
        .replace(r"\p{L}", &format!(r"[\p{{L}}&&[^{UNICODE_16_LETTERS}]]"))
        .replace(r"\p{N}", &format!(r"[\p{{N}}&&[^{UNICODE_16_NUMBERS}]]"))
}

/// SentencePiece's visible space, which stands for ' ' inside pieces.
const SPM_SPACE: &str = "\u{2581}";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("GGUF metadata key {0} is missing")]
    MissingKey(&'static str),
    #[error("GGUF metadata key {key} is not {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("unsupported tokenizer model \"{0}\" (supported: gpt2, llama)")]
    UnsupportedModel(String),
    #[error(
        "unsupported pre-tokenizer \"{0}\" for a gpt2 vocabulary \
         (supported: qwen2, llama3, llama-bpe, gpt-2, default)"
    )]
    UnsupportedPreTokenizer(String),
    #[error("invalid tokenizer metadata: {0}")]
    Invalid(String),
    #[error("could not build the tokenizer: {0}")]
    Build(String),
    #[error("could not encode text: {0}")]
    Encode(String),
}

/// Which vocabulary family the GGUF file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `gpt2`: byte-level BPE with explicit merges.
    ByteLevelBpe,
    /// `llama`: SentencePiece BPE with scores.
    SentencePiece,
}

/// A `tokenizers` model shared by the two tokenizer front-ends below, so the
/// vocabulary and merges (tens of megabytes for a 262k vocabulary) are held
/// once.
#[derive(Clone)]
struct SharedBpe(Arc<BPE>);

impl Model for SharedBpe {
    type Trainer = <BPE as Model>::Trainer;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        self.0.tokenize(sequence)
    }
    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.0.token_to_id(token)
    }
    fn id_to_token(&self, id: u32) -> Option<String> {
        self.0.id_to_token(id)
    }
    fn get_vocab(&self) -> HashMap<String, u32> {
        self.0.get_vocab()
    }
    fn get_vocab_size(&self) -> usize {
        self.0.get_vocab_size()
    }
    fn save(&self, folder: &Path, prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        self.0.save(folder, prefix)
    }
    fn get_trainer(&self) -> Self::Trainer {
        self.0.get_trainer()
    }
}

type Inner = TokenizerImpl<
    SharedBpe,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// A model's tokenizer, matching llama.cpp's `llama_tokenize` id for id.
pub struct GgufTokenizer {
    /// Matches control, unknown and user-defined tokens written in the text.
    parsing_special: Inner,
    /// Matches only user-defined tokens: llama.cpp keeps splitting those out
    /// when special parsing is off (Gemma's newline and space-run tokens are
    /// user-defined, so plain text depends on it), while control tokens become
    /// ordinary text.
    plain: Inner,
    model: SharedBpe,
    /// `token_bytes(id)` is `pieces[piece_starts[id]..piece_starts[id + 1]]`;
    /// one buffer instead of a quarter of a million small allocations.
    pieces: Vec<u8>,
    piece_starts: Vec<u32>,
    control: Vec<bool>,
    bos: Option<u32>,
    eos: u32,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    stop_ids: Vec<u32>,
    family: Family,
}

impl fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("family", &self.family)
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("add_space_prefix", &self.add_space_prefix)
            .field("stop_ids", &self.stop_ids)
            .finish_non_exhaustive()
    }
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(content: &Content) -> Result<Self, TokenizerError> {
        let meta = Metadata(&content.metadata);
        let family = match meta.string(KEY_MODEL)? {
            "gpt2" => Family::ByteLevelBpe,
            "llama" => Family::SentencePiece,
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };

        let tokens = meta.tokens()?;
        let n = tokens.len();
        let mut attrs: Vec<u8> = meta
            .token_types(n)?
            .into_iter()
            .map(attr::from_type)
            .collect();

        // Text to id, for every lookup below and then as the BPE vocabulary.
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, text)| (text.to_string(), id as u32))
            .collect();
        if vocab.len() != n {
            // llama.cpp refuses such a vocabulary too (one id per text).
            let mut seen = HashSet::with_capacity(n);
            let twice = tokens.iter().find(|&text| !seen.insert(text));
            return Err(TokenizerError::Invalid(format!(
                "token {:?} appears twice in {KEY_TOKENS}",
                twice.map(|t| t.as_ref()).unwrap_or_default()
            )));
        }

        let id_in_range = |id: u32| (id as usize) < n;
        let (default_bos, default_eos) = match family {
            Family::SentencePiece => (Some(1), Some(2)),
            Family::ByteLevelBpe => (None, None),
        };
        let bos = meta
            .token_id(KEY_BOS_ID)?
            .or(default_bos)
            .filter(|&id| id_in_range(id));
        let eos = meta
            .token_id(KEY_EOS_ID)?
            .or(default_eos)
            .filter(|&id| id_in_range(id))
            .ok_or(TokenizerError::MissingKey(KEY_EOS_ID))?;
        let stop_ids = end_of_generation(&meta, &vocab, &mut attrs, eos)?;
        let unk = meta
            .token_id(KEY_UNK_ID)?
            .or(match family {
                Family::SentencePiece => Some(0),
                Family::ByteLevelBpe => None,
            })
            .filter(|&id| id_in_range(id));

        let pre = meta.optional_string(KEY_PRE)?.unwrap_or("default");
        let (default_add_bos, add_space_prefix_default) = match family {
            Family::SentencePiece => (true, true),
            Family::ByteLevelBpe => (matches!(pre, "llama3" | "llama-v3" | "llama-bpe"), false),
        };
        let add_bos = meta.optional_bool(KEY_ADD_BOS)?.unwrap_or(default_add_bos);
        let add_eos = meta.optional_bool(KEY_ADD_EOS)?.unwrap_or(false);
        let add_space_prefix = match family {
            Family::SentencePiece => meta
                .optional_bool(KEY_ADD_SPACE_PREFIX)?
                .unwrap_or(add_space_prefix_default),
            // llama.cpp ignores a dummy prefix for byte-level vocabularies.
            Family::ByteLevelBpe => false,
        };
        if add_bos && bos.is_none() {
            return Err(TokenizerError::MissingKey(KEY_BOS_ID));
        }

        let (model, normalizer, pre_tokenizer) = match family {
            Family::ByteLevelBpe => {
                let merges = byte_level_merges(meta.string_array(KEY_MERGES)?, &vocab);
                let (patterns, ignore_merges) = pre_tokenizer_patterns(pre)?;
                let model = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .ignore_merges(ignore_merges)
                    .build()
                    .map_err(|e| TokenizerError::Build(e.to_string()))?;
                let mut steps = Vec::with_capacity(patterns.len() + 1);
                for pattern in patterns {
                    let split = Split::new(
                        SplitPattern::Regex(with_llama_cpp_classes(pattern)),
                        SplitDelimiterBehavior::Isolated,
                        false,
                    )
                    .map_err(|e| TokenizerError::Build(format!("regex {pattern}: {e}")))?;
                    steps.push(PreTokenizerWrapper::Split(split));
                }
                // The regex already split the text; ByteLevel only maps bytes.
                steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
                    false, false, false,
                )));
                let pre_tokenizer = PreTokenizerWrapper::Sequence(PreTokenizerSequence::new(steps));
                (model, None, Some(pre_tokenizer))
            }
            Family::SentencePiece => {
                let scores = meta.scores(n)?;
                let merges = sentencepiece_merges(&tokens, &scores, &vocab);
                let mut builder = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .byte_fallback(true);
                if let Some(unk) = unk {
                    builder = builder.unk_token(tokens[unk as usize].to_string());
                }
                let model = builder
                    .build()
                    .map_err(|e| TokenizerError::Build(e.to_string()))?;
                // llama.cpp escapes spaces and, with a dummy prefix, starts every
                // stretch of text (the first, and each one after a special token)
                // with a space. `tokenizers` normalises each stretch between added
                // tokens separately, which is the same rule.
                let replace = Replace::new(" ", SPM_SPACE)
                    .map_err(|e| TokenizerError::Build(e.to_string()))?;
                let normalizer = if add_space_prefix {
                    NormalizerWrapper::Sequence(NormalizerSequence::new(vec![
                        NormalizerWrapper::Prepend(Prepend::new(SPM_SPACE.to_string())),
                        NormalizerWrapper::Replace(replace),
                    ]))
                } else {
                    NormalizerWrapper::Replace(replace)
                };
                // No pre-tokenizer: llama.cpp merges over the whole stretch.
                (model, Some(normalizer), None)
            }
        };

        let model = SharedBpe(Arc::new(model));
        let build_err = |e: tokenizers::Error| TokenizerError::Build(e.to_string());
        let mut parsing_special: Inner = TokenizerImpl::new(model.clone());
        parsing_special
            .with_normalizer(normalizer.clone())
            .map_err(build_err)?
            .with_pre_tokenizer(pre_tokenizer.clone());
        let mut plain: Inner = TokenizerImpl::new(model.clone());
        plain
            .with_normalizer(normalizer)
            .map_err(build_err)?
            .with_pre_tokenizer(pre_tokenizer);

        // Special tokens are matched on the raw text (normalized = false), never
        // split, and without eating neighbouring spaces, as in llama.cpp.
        let added = |id: usize, special: bool| {
            AddedToken::from(tokens[id].as_ref(), special)
                .normalized(false)
                .single_word(false)
                .lstrip(false)
                .rstrip(false)
        };
        let mut special_tokens = Vec::new();
        let mut user_tokens = Vec::new();
        for (id, &a) in attrs.iter().enumerate() {
            if a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                special_tokens.push(added(id, true));
            } else if a & attr::USER_DEFINED != 0 {
                user_tokens.push(added(id, false));
            }
        }
        plain.add_tokens(user_tokens.clone()).map_err(build_err)?;
        special_tokens.extend(user_tokens);
        parsing_special
            .add_tokens(special_tokens)
            .map_err(build_err)?;

        let (pieces, piece_starts) = piece_table(&tokens, &attrs, family);
        let control = attrs.iter().map(|&a| a & attr::CONTROL != 0).collect();

        Ok(GgufTokenizer {
            parsing_special,
            plain,
            model,
            pieces,
            piece_starts,
            control,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            stop_ids,
            family,
        })
    }

    /// Encodes text as llama.cpp's `llama_tokenize(text, add_special = add_bos,
    /// parse_special)` does.
    ///
    /// `add_bos`: prepend BOS when the model asks for it
    /// (`tokenizer.ggml.add_bos_token`), and EOS when it asks for that; callers
    /// pass true for raw prompts. `parse_special`: control tokens written in
    /// the text (`<|im_start|>`, `<start_of_turn>`) become their single ids;
    /// when false they are tokenized as ordinary text. User-defined tokens
    /// (Gemma's `\n`, space runs, HTML tags; Qwen's `<tool_call>`) are matched
    /// either way, as llama.cpp does. Pass false for untrusted text so it
    /// cannot forge turn markers.
    pub fn encode(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let tokenizer = if parse_special {
            &self.parsing_special
        } else {
            &self.plain
        };
        let encoding = tokenizer
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        let body = encoding.get_ids();
        let mut ids = Vec::with_capacity(body.len() + 2);
        if add_bos
            && self.add_bos
            && let Some(bos) = self.bos
        {
            ids.push(bos);
        }
        ids.extend_from_slice(body);
        if add_bos && self.add_eos {
            ids.push(self.eos);
        }
        Ok(ids)
    }

    /// The text of a token sequence, as llama.cpp's `llama_detokenize` with
    /// `remove_special` and `unparse_special` prints it, minus its optional
    /// space clean-up (which loses information): a leading BOS the model adds
    /// itself is dropped (and a trailing EOS when it adds one), control tokens
    /// appear as their text, and a dummy-prefix space on the first token is
    /// removed. Invalid UTF-8 (a sequence cut inside a character) is replaced
    /// with U+FFFD; complete sequences decode without loss.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut ids = ids;
        let mut strip_space = self.add_space_prefix;
        if self.add_bos
            && let Some((&first, rest)) = ids.split_first()
            && Some(first) == self.bos
        {
            ids = rest;
            // llama.cpp keeps the prefix space once it has dropped a BOS.
            strip_space = false;
        }
        if self.add_eos
            && let Some((&last, rest)) = ids.split_last()
            && last == self.eos
        {
            ids = rest;
        }
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.token_bytes(id);
            if i == 0 && strip_space {
                bytes.extend_from_slice(piece.strip_prefix(b" ").unwrap_or(piece));
            } else {
                bytes.extend_from_slice(piece);
            }
        }
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The exact bytes this token contributes to the output text: byte-level
    /// pieces mapped back to raw bytes, SentencePiece pieces with '▁' as ' ',
    /// `<0xNN>` as that byte, control and user-defined tokens as their literal
    /// text, unused tokens as nothing (as llama.cpp prints them). Unknown ids
    /// give an empty slice. A piece may be part of a multi-byte character.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let id = id as usize;
        match (self.piece_starts.get(id), self.piece_starts.get(id + 1)) {
            (Some(&start), Some(&end)) => self
                .pieces
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            _ => &[],
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.control.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Ids that end a generation: EOS plus the end-of-turn tokens llama.cpp
    /// recognises (`<|im_end|>`, `<|endoftext|>`, `<end_of_turn>`,
    /// `<|eot_id|>`, …, and the fill-in-the-middle separators it also stops
    /// on), sorted.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Whether the id is a control token (turn markers, BOS/EOS, padding),
    /// which chat output should not show as text.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// The id of a vocabulary entry, spelled as the vocabulary stores it (for
    /// byte-level models a leading space is `Ġ`, for SentencePiece `▁`);
    /// meant for special tokens such as `<|im_end|>`.
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.model.token_to_id(token)
    }
}

/// Typed access to `tokenizer.ggml.*` keys with errors that name the key.
struct Metadata<'a>(&'a HashMap<String, Value>);

impl<'a> Metadata<'a> {
    fn get(&self, key: &'static str) -> Option<&'a Value> {
        self.0.get(key)
    }

    fn string(&self, key: &'static str) -> Result<&'a str, TokenizerError> {
        self.optional_string(key)?
            .ok_or(TokenizerError::MissingKey(key))
    }

    fn optional_string(&self, key: &'static str) -> Result<Option<&'a str>, TokenizerError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(TokenizerError::WrongType {
                key,
                expected: "a string",
            }),
        }
    }

    fn optional_bool(&self, key: &'static str) -> Result<Option<bool>, TokenizerError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(TokenizerError::WrongType {
                key,
                expected: "a boolean",
            }),
        }
    }

    /// A token id: any non-negative integer type (converters disagree).
    fn token_id(&self, key: &'static str) -> Result<Option<u32>, TokenizerError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let id = match *value {
            Value::U8(v) => Some(u64::from(v)),
            Value::U16(v) => Some(u64::from(v)),
            Value::U32(v) => Some(u64::from(v)),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        };
        id.and_then(|id| u32::try_from(id).ok())
            .map(Some)
            .ok_or(TokenizerError::WrongType {
                key,
                expected: "a token id",
            })
    }

    fn array(&self, key: &'static str) -> Result<&'a [Value], TokenizerError> {
        match self.get(key) {
            None => Err(TokenizerError::MissingKey(key)),
            Some(Value::Array(values)) => Ok(values),
            Some(_) => Err(TokenizerError::WrongType {
                key,
                expected: "an array",
            }),
        }
    }

    fn string_array(&self, key: &'static str) -> Result<Vec<&'a str>, TokenizerError> {
        self.array(key)?
            .iter()
            .map(|value| match value {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(TokenizerError::WrongType {
                    key,
                    expected: "an array of strings",
                }),
            })
            .collect()
    }

    /// The vocabulary; an empty entry gets llama.cpp's `[EMPTY_<id>]` name.
    fn tokens(&self) -> Result<Vec<Cow<'a, str>>, TokenizerError> {
        let tokens: Vec<Cow<'a, str>> = self
            .string_array(KEY_TOKENS)?
            .into_iter()
            .enumerate()
            .map(|(id, text)| {
                if text.is_empty() {
                    Cow::Owned(format!("[EMPTY_{id}]"))
                } else {
                    Cow::Borrowed(text)
                }
            })
            .collect();
        if tokens.is_empty() || u32::try_from(tokens.len()).is_err() {
            return Err(TokenizerError::Invalid(format!(
                "{KEY_TOKENS} has {} entries",
                tokens.len()
            )));
        }
        Ok(tokens)
    }

    /// Token types; all normal when the key is absent, as in llama.cpp.
    fn token_types(&self, n: usize) -> Result<Vec<i32>, TokenizerError> {
        if self.get(KEY_TOKEN_TYPE).is_none() {
            return Ok(vec![1; n]);
        }
        let values = self.array(KEY_TOKEN_TYPE)?;
        if values.len() < n {
            return Err(TokenizerError::Invalid(format!(
                "{KEY_TOKEN_TYPE} has {} entries for {n} tokens",
                values.len()
            )));
        }
        values[..n]
            .iter()
            .map(|value| match *value {
                Value::I32(t) => Ok(t),
                Value::U32(t) => i32::try_from(t).map_err(|_| ()),
                Value::I8(t) => Ok(i32::from(t)),
                Value::U8(t) => Ok(i32::from(t)),
                _ => Err(()),
            })
            .collect::<Result<_, ()>>()
            .map_err(|()| TokenizerError::WrongType {
                key: KEY_TOKEN_TYPE,
                expected: "an array of integers",
            })
    }

    /// Piece scores; zero when absent, integers accepted, as in llama.cpp.
    fn scores(&self, n: usize) -> Result<Vec<f32>, TokenizerError> {
        if self.get(KEY_SCORES).is_none() {
            return Ok(vec![0.0; n]);
        }
        let values = self.array(KEY_SCORES)?;
        if values.len() < n {
            return Err(TokenizerError::Invalid(format!(
                "{KEY_SCORES} has {} entries for {n} tokens",
                values.len()
            )));
        }
        values[..n]
            .iter()
            .map(|value| match *value {
                Value::F32(s) => Some(s),
                Value::I32(s) => Some(s as f32),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or(TokenizerError::WrongType {
                key: KEY_SCORES,
                expected: "an array of numbers",
            })
    }
}

/// The BPE regexes for a `tokenizer.ggml.pre` value and whether llama.cpp
/// takes a whole pre-token that is in the vocabulary without merging.
fn pre_tokenizer_patterns(pre: &str) -> Result<(&'static [&'static str], bool), TokenizerError> {
    const QWEN2: &[&str] = &[QWEN2_PATTERN];
    const LLAMA3: &[&str] = &[LLAMA3_PATTERN];
    const GPT2: &[&str] = &[GPT2_PATTERN];
    match pre {
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" => Ok((QWEN2, false)),
        "llama3" | "llama-v3" | "llama-bpe" | "dbrx" | "smaug-bpe" => {
            Ok((LLAMA3, matches!(pre, "llama3" | "llama-v3" | "llama-bpe")))
        }
        "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" => Ok((GPT2, false)),
        "default" => Ok((DEFAULT_PATTERNS, false)),
        other => Err(TokenizerError::UnsupportedPreTokenizer(other.to_string())),
    }
}

/// Parses `tokenizer.ggml.merges` ("left right", split at the first space
/// after the first byte, as llama.cpp does). The first occurrence of a pair
/// keeps its rank; a merge naming a piece outside the vocabulary is dropped,
/// since it could never produce a token.
fn byte_level_merges(lines: Vec<&str>, by_text: &Vocab) -> Vec<(String, String)> {
    let mut seen = HashSet::with_capacity(lines.len());
    let mut merges = Vec::with_capacity(lines.len());
    let mut joined = String::new();
    for line in lines {
        let Some(space) = line
            .as_bytes()
            .iter()
            .skip(1)
            .position(|&b| b == b' ')
            .map(|p| p + 1)
        else {
            continue;
        };
        let (left, right) = (&line[..space], &line[space + 1..]);
        joined.clear();
        joined.push_str(left);
        joined.push_str(right);
        if by_text.contains_key(left)
            && by_text.contains_key(right)
            && by_text.contains_key(joined.as_str())
            && seen.insert((left, right))
        {
            merges.push((left.to_string(), right.to_string()));
        }
    }
    merges
}

/// Derives BPE merges from SentencePiece scores: each cut of a piece into two
/// vocabulary pieces is a merge, best piece score first. llama.cpp compares
/// scores as floats (so -0.0 ties 0.0) and breaks ties by position in the
/// text; a rank cannot carry position, so equal scores are ordered by piece id
/// instead. Pieces with equal scores are special tokens and byte tokens,
/// which never compete inside one stretch of text in practice.
fn sentencepiece_merges(
    tokens: &[Cow<'_, str>],
    scores: &[f32],
    by_text: &Vocab,
) -> Vec<(String, String)> {
    // (piece id, byte offset of the cut)
    let mut cuts: Vec<(u32, u32)> = Vec::with_capacity(tokens.len() * 2);
    for (id, text) in tokens.iter().enumerate() {
        for (cut, _) in text.char_indices().skip(1) {
            if by_text.contains_key(&text[..cut]) && by_text.contains_key(&text[cut..]) {
                cuts.push((id as u32, cut as u32));
            }
        }
    }
    // A total order for the sort: NaN ranks last, -0.0 equals 0.0.
    let key = |id: u32| {
        let score = scores[id as usize];
        if score.is_nan() {
            f32::NEG_INFINITY
        } else {
            score + 0.0
        }
    };
    cuts.sort_unstable_by(|&(a, cut_a), &(b, cut_b)| {
        key(b)
            .total_cmp(&key(a))
            .then(a.cmp(&b))
            .then(cut_a.cmp(&cut_b))
    });
    cuts.into_iter()
        .map(|(id, cut)| {
            let text = &tokens[id as usize];
            let (left, right) = text.split_at(cut as usize);
            (left.to_string(), right.to_string())
        })
        .collect()
}

/// GPT-2's byte-to-character table: printable Latin-1 bytes stand for
/// themselves, the other 68 bytes are mapped to U+0100 onwards in byte order,
/// so every byte has a visible, non-space stand-in.
fn byte_level_alphabet() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for byte in 0..=255u8 {
        table[byte as usize] = if printable(byte) {
            char::from(byte)
        } else {
            let c = char::from_u32(next).unwrap_or('\0');
            next += 1;
            c
        };
    }
    table
}

/// Parses a byte token's text, `<0xNN>`.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The bytes every token prints as, following llama.cpp's `token_to_piece`
/// with special tokens shown.
fn piece_table(tokens: &[Cow<'_, str>], attrs: &[u8], family: Family) -> (Vec<u8>, Vec<u32>) {
    let alphabet = byte_level_alphabet();
    let mut from_stand_in: HashMap<char, u8> = HashMap::with_capacity(256);
    for (byte, &c) in alphabet.iter().enumerate() {
        from_stand_in.insert(c, byte as u8);
    }
    let total: usize = tokens.iter().map(|t| t.len()).sum();
    let mut pieces = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(tokens.len() + 1);
    for (text, &a) in tokens.iter().zip(attrs) {
        starts.push(pieces.len() as u32);
        if a & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0 {
            pieces.extend_from_slice(text.as_bytes());
        } else if a & attr::NORMAL != 0 {
            match family {
                Family::ByteLevelBpe => {
                    for c in text.chars() {
                        match from_stand_in.get(&c) {
                            Some(&byte) => pieces.push(byte),
                            // Not a stand-in (a malformed vocabulary): keep the
                            // character rather than lose it.
                            None => {
                                let mut buf = [0u8; 4];
                                pieces.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                }
                Family::SentencePiece => {
                    pieces.extend_from_slice(text.replace(SPM_SPACE, " ").as_bytes());
                }
            }
        } else if a & attr::BYTE != 0
            && let Some(byte) = byte_token_value(text)
        {
            pieces.push(byte);
        }
        // Unused and undefined tokens print as nothing in llama.cpp.
    }
    starts.push(pieces.len() as u32);
    (pieces, starts)
}

/// Applies llama.cpp's name-based fix-ups to the token attributes and
/// returns the ids that end a generation (its `special_eog_ids`), sorted.
///
/// llama.cpp recognises end-of-turn, fill-in-the-middle and end-of-generation
/// tokens by their text when the metadata does not name them, and makes them
/// control tokens. That decides whether they are matched in text with special
/// parsing off, so it has to be reproduced here, not just the stop list.
fn end_of_generation(
    meta: &Metadata<'_>,
    by_text: &Vocab,
    attrs: &mut [u8],
    eos: u32,
) -> Result<Vec<u32>, TokenizerError> {
    let n = attrs.len();
    let in_range = |id: &u32| (*id as usize) < n;
    let find = |texts: &[&str]| texts.iter().find_map(|&text| by_text.get(text).copied());
    // The metadata's id, else the first text found, which becomes control.
    let mut named = |key: &'static str, texts: &[&str]| -> Result<Option<u32>, TokenizerError> {
        if let Some(id) = meta.token_id(key)?.filter(in_range) {
            return Ok(Some(id));
        }
        let found = find(texts);
        if let Some(id) = found {
            attrs[id as usize] |= attr::CONTROL;
        }
        Ok(found)
    };
    let eot = named(KEY_EOT_ID, EOT_TEXTS)?;
    let eom = named(KEY_EOM_ID, EOM_TEXTS)?;
    let mut fim = [None; 6];
    for (slot, (key, texts)) in fim.iter_mut().zip(FIM) {
        *slot = named(key, texts)?;
    }

    let mut eog: Vec<u32> = fim[3..].iter().flatten().copied().collect();
    for &text in END_OF_GENERATION_TEXTS {
        if let Some(&id) = by_text.get(text) {
            eog.push(id);
            attrs[id as usize] |= attr::CONTROL;
        }
    }
    // gpt-oss's channel markers are always printed, so llama.cpp makes them
    // user-defined whatever they were.
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(&id) = by_text.get(text) {
            attrs[id as usize] = attr::USER_DEFINED;
        }
    }
    eog.push(eos);
    eog.extend(eot);
    eog.extend(eom);
    eog.retain(in_range);
    eog.sort_unstable();
    eog.dedup();

    let eog_has = |eog: &[u32], text: &str| by_text.get(text).is_some_and(|id| eog.contains(id));
    // Harmony-style vocabularies end turns with <|return|>/<|call|>; there
    // <|end|> only closes a message, so llama.cpp demotes it.
    let has_call = eog_has(&eog, "<|call|>") || eog_has(&eog, "<|calls|>");
    if has_call
        && (eog_has(&eog, "<|return|>") || eog_has(&eog, "<|flush|>"))
        && let Some(&end) = by_text.get("<|end|>")
        && eog.contains(&end)
    {
        eog.retain(|&id| id != end);
        attrs[end as usize] = attr::USER_DEFINED;
    }
    // Where a vocabulary has its own end marker, `</s>` is an ordinary piece.
    if (eog_has(&eog, "<|tool_response>") || eog_has(&eog, "<|plamo:eos|>"))
        && let Some(&s) = by_text.get("</s>")
        && eog.contains(&s)
    {
        eog.retain(|&id| id != s);
        attrs[s as usize] = attr::NORMAL;
    }
    Ok(eog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::VersionedMagic;

    fn content(entries: Vec<(&str, Value)>) -> Content {
        Content {
            magic: VersionedMagic::GgufV3,
            metadata: entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            tensor_infos: HashMap::new(),
            tensor_data_offset: 0,
        }
    }

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
    }

    /// A tiny SentencePiece vocabulary: control tokens, pieces, one
    /// user-defined token and the 256 byte tokens.
    fn spm_content(add_space_prefix: bool) -> Content {
        let mut tokens = vec!["<unk>", "<s>", "</s>", "<turn>", "\n\n"];
        let mut types = vec![2, 3, 3, 3, 4];
        let mut scores = vec![0.0, 0.0, 0.0, 0.0, 0.0];
        let pieces = [
            ("▁", -1.0),
            ("h", -2.0),
            ("e", -3.0),
            ("l", -4.0),
            ("o", -5.0),
            ("he", -6.0),
            ("ll", -7.0),
            ("hell", -8.0),
            ("▁hell", -9.0),
            ("llo", -10.0),
            ("hello", -11.0),
            ("▁hello", -12.0),
        ];
        for (piece, score) in pieces {
            tokens.push(piece);
            types.push(1);
            scores.push(score);
        }
        let bytes: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        let mut tokens: Vec<String> = tokens.into_iter().map(str::to_string).collect();
        for b in bytes {
            tokens.push(b);
            types.push(6);
            scores.push(0.0);
        }
        content(vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array(types.into_iter().map(Value::I32).collect()),
            ),
            (
                "tokenizer.ggml.scores",
                Value::Array(scores.into_iter().map(Value::F32).collect()),
            ),
            (
                "tokenizer.ggml.add_space_prefix",
                Value::Bool(add_space_prefix),
            ),
        ])
    }

    fn id(tok: &GgufTokenizer, text: &str) -> u32 {
        tok.id_of(text).unwrap()
    }

    #[test]
    fn sentencepiece_merges_follow_scores() {
        let tok = GgufTokenizer::from_gguf(&spm_content(false)).unwrap();
        // "hell" (-8) beats "llo" (-10) although "ll" forms first: the best
        // piece wins at every step, as in llama.cpp's SPM loop.
        let ids = tok.encode("hello", false, true).unwrap();
        assert_eq!(ids, vec![id(&tok, "hello")]);
        let ids = tok.encode("hello hello", true, true).unwrap();
        assert_eq!(ids, vec![1, id(&tok, "hello"), id(&tok, "▁hello")]);
    }

    #[test]
    fn sentencepiece_unknown_characters_fall_back_to_bytes() {
        let tok = GgufTokenizer::from_gguf(&spm_content(false)).unwrap();
        let ids = tok.encode("hé", false, true).unwrap();
        assert_eq!(
            ids,
            vec![id(&tok, "h"), id(&tok, "<0xC3>"), id(&tok, "<0xA9>")]
        );
        assert_eq!(tok.decode(&ids), "hé");
        assert_eq!(tok.token_bytes(id(&tok, "<0xC3>")), &[0xC3]);
        assert_eq!(tok.token_bytes(id(&tok, "▁hello")), b" hello");
    }

    #[test]
    fn dummy_prefix_starts_every_stretch_of_text() {
        let tok = GgufTokenizer::from_gguf(&spm_content(true)).unwrap();
        let ids = tok.encode("hello<turn>hello", true, true).unwrap();
        let prefixed = id(&tok, "▁hello");
        assert_eq!(ids, vec![1, prefixed, 3, prefixed]);
        // Without a BOS the decoder drops the prefix it knows encode added.
        assert_eq!(tok.decode(&ids[1..2]), "hello");
    }

    #[test]
    fn control_tokens_are_parsed_only_on_request() {
        let tok = GgufTokenizer::from_gguf(&spm_content(false)).unwrap();
        let parsed = tok.encode("<turn>", false, true).unwrap();
        assert_eq!(parsed, vec![3]);
        let plain = tok.encode("<turn>", false, false).unwrap();
        assert!(plain.len() > 1 && !plain.contains(&3), "{plain:?}");
        assert_eq!(tok.decode(&plain), "<turn>");
        // User-defined tokens are split out either way, as in llama.cpp.
        assert_eq!(tok.encode("\n\n", false, false).unwrap(), vec![4]);
        assert!(tok.is_control(3) && !tok.is_control(4));
        assert_eq!(tok.token_bytes(3), b"<turn>");
    }

    #[test]
    fn facts_come_from_defaults_and_metadata() {
        let tok = GgufTokenizer::from_gguf(&spm_content(false)).unwrap();
        assert_eq!(tok.bos(), Some(1));
        assert_eq!(tok.eos(), 2);
        assert_eq!(tok.stop_ids(), &[2]);
        assert_eq!(tok.vocab_size(), 17 + 256);
        assert_eq!(tok.token_bytes(10_000), b"");
        assert!(!tok.is_control(10_000));
        assert_eq!(tok.id_of("nope"), None);
    }

    fn byte_level_content(pre: &str) -> Content {
        let alphabet = byte_level_alphabet();
        let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
        for extra in ["Ġh", "Ġhi", "hi", "<|end|>", "<|im_end|>"] {
            tokens.push(extra.to_string());
        }
        let n = tokens.len();
        let mut types = vec![Value::I32(1); n];
        types[n - 2] = Value::I32(3);
        types[n - 1] = Value::I32(3);
        content(vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String(pre.into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            ("tokenizer.ggml.merges", strings(&["Ġ h", "Ġh i", "h i"])),
            ("tokenizer.ggml.eos_token_id", Value::U32((n - 1) as u32)),
        ])
    }

    #[test]
    fn byte_level_round_trip() {
        let tok = GgufTokenizer::from_gguf(&byte_level_content("qwen2")).unwrap();
        let text = "hi hi\n\tÿ€ <|im_end|>";
        let ids = tok.encode(text, true, true).unwrap();
        assert!(ids.contains(&id(&tok, "Ġhi")) && ids.contains(&id(&tok, "hi")));
        assert_eq!(ids.last(), Some(&id(&tok, "<|im_end|>")));
        assert_eq!(tok.decode(&ids), text);
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| tok.token_bytes(i).to_vec())
            .collect();
        assert_eq!(bytes, text.as_bytes());
        // No BOS in the metadata and none asked for.
        assert_eq!(tok.bos(), None);
        assert_eq!(ids[0], id(&tok, "hi"));
        // "<|end|>" is an end-of-generation text even though typed control here.
        let end = id(&tok, "<|end|>");
        assert_eq!(tok.stop_ids(), &[end, tok.eos()]);
    }

    #[test]
    fn byte_level_alphabet_is_a_bijection() {
        let alphabet = byte_level_alphabet();
        let distinct: HashSet<char> = alphabet.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(alphabet[b' ' as usize], 'Ġ');
        assert_eq!(alphabet[b'\n' as usize], 'Ċ');
        assert_eq!(alphabet[b'a' as usize], 'a');
    }

    #[test]
    fn every_supported_pre_tokenizer_compiles() {
        for pre in ["qwen2", "llama-bpe", "llama3", "gpt-2", "default"] {
            let mut content = byte_level_content(pre);
            // Llama 3 asks for a BOS by default, which this vocabulary lacks.
            content
                .metadata
                .insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
            let tok = GgufTokenizer::from_gguf(&content).unwrap();
            assert_eq!(
                tok.decode(&tok.encode("hi 123 hi", true, true).unwrap()),
                "hi 123 hi"
            );
        }
    }

    #[test]
    fn unicode_16_letters_and_digits_are_not_classified() {
        use tokenizers::utils::SysRegex;
        let matches = |pattern: &str, text: &str| {
            SysRegex::new(pattern)
                .unwrap()
                .find_iter(text)
                .next()
                .is_some()
        };
        let letters = with_llama_cpp_classes(r"^\p{L}+$");
        let digits = with_llama_cpp_classes(r"^\p{N}+$");
        assert!(matches(&letters, "Größe"));
        assert!(matches(&digits, "42١٢"));
        // Ol Onal letter and digit: the engine knows them, llama.cpp does not.
        assert!(matches(r"^\p{L}$", "\u{1E5EC}") && !matches(&letters, "\u{1E5EC}"));
        assert!(matches(r"^\p{N}$", "\u{1E5F1}") && !matches(&digits, "\u{1E5F1}"));
    }

    #[test]
    fn merges_are_split_like_llama_cpp() {
        let by_text: Vocab = [("a", 0), ("b c", 1), ("ab c", 2), ("Ġ", 3), ("ĠĠ", 4)]
            .into_iter()
            .map(|(text, id)| (text.to_string(), id))
            .collect();
        let merges = byte_level_merges(vec!["a b c", "Ġ Ġ", "Ġ Ġ", "nospace"], &by_text);
        assert_eq!(
            merges,
            vec![
                ("a".to_string(), "b c".to_string()),
                ("Ġ".to_string(), "Ġ".to_string())
            ]
        );
    }

    #[test]
    fn a_model_asking_for_bos_must_name_one() {
        let mut content = byte_level_content("qwen2");
        content
            .metadata
            .insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(true));
        let err = GgufTokenizer::from_gguf(&content).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GGUF metadata key tokenizer.ggml.bos_token_id is missing"
        );
    }

    #[test]
    fn metadata_errors_are_clear() {
        let err = GgufTokenizer::from_gguf(&content(vec![])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GGUF metadata key tokenizer.ggml.model is missing"
        );
        let err = GgufTokenizer::from_gguf(&content(vec![(
            "tokenizer.ggml.model",
            Value::String("t5".into()),
        )]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported tokenizer model \"t5\" (supported: gpt2, llama)"
        );
        let err = GgufTokenizer::from_gguf(&byte_level_content("tekken")).unwrap_err();
        assert!(matches!(err, TokenizerError::UnsupportedPreTokenizer(ref p) if p == "tekken"));
        let mut bad = spm_content(false);
        bad.metadata
            .insert("tokenizer.ggml.scores".into(), strings(&["x"]));
        let err = GgufTokenizer::from_gguf(&bad).unwrap_err();
        assert!(matches!(err, TokenizerError::Invalid(_)), "{err}");
        let mut bad = spm_content(false);
        bad.metadata
            .insert("tokenizer.ggml.tokens".into(), strings(&["a", "a"]));
        let err = GgufTokenizer::from_gguf(&bad).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
