//! Streaming text out of tokens: bytes are released only as whole UTF-8
//! characters, and text that might be the start of a stop string (or of a
//! tool-call tag) is held back until it is known not to be.
//!
//! It owns the byte/character bookkeeping of one generation and nothing else.

/// What the next piece of generated text did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Text that is safe to show (may be empty while a prefix is held back).
    Text(String),
    /// A marker was found: the text before it, and which marker.
    Marker { before: String, marker: usize },
}

/// Accumulates token bytes and releases text.
#[derive(Debug, Default)]
pub struct TextStream {
    /// Bytes of a character that is not complete yet.
    partial: Vec<u8>,
    /// Decoded text not yet released because it may start a marker.
    held: String,
    markers: Vec<String>,
}

impl TextStream {
    /// `markers`: stop strings and tags to watch for; empty ones are ignored.
    pub fn new(markers: Vec<String>) -> TextStream {
        TextStream {
            partial: Vec::new(),
            held: String::new(),
            markers: markers.into_iter().filter(|m| !m.is_empty()).collect(),
        }
    }

    /// The markers in the order given (without empty ones).
    pub fn markers(&self) -> &[String] {
        &self.markers
    }

    /// Adds the bytes of one token.
    pub fn push(&mut self, bytes: &[u8]) -> Release {
        self.partial.extend_from_slice(bytes);
        self.decode_partial();
        if let Some((at, marker)) = self.first_marker() {
            let before = self.held[..at].to_string();
            // What follows the marker stays for the next release.
            self.held.drain(..at + self.markers[marker].len());
            return Release::Marker { before, marker };
        }
        let keep = self.longest_marker_prefix_suffix();
        let release_to = self.held.len() - keep;
        let text = self.held[..release_to].to_string();
        self.held.drain(..release_to);
        Release::Text(text)
    }

    /// Everything still held, at the end of generation (an unfinished
    /// character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        if !self.partial.is_empty() {
            self.held
                .push_str(&String::from_utf8_lossy(&std::mem::take(&mut self.partial)));
        }
        std::mem::take(&mut self.held)
    }

    fn decode_partial(&mut self) {
        loop {
            match std::str::from_utf8(&self.partial) {
                Ok(text) => {
                    self.held.push_str(text);
                    self.partial.clear();
                    return;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    // Safe: from_utf8 just said these bytes are valid.
                    self.held
                        .push_str(&String::from_utf8_lossy(&self.partial[..valid]));
                    match error.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.partial.drain(..valid);
                            return;
                        }
                        // Bytes that can never be valid: show the replacement character.
                        Some(bad) => {
                            self.held.push(char::REPLACEMENT_CHARACTER);
                            self.partial.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn first_marker(&self) -> Option<(usize, usize)> {
        self.markers
            .iter()
            .enumerate()
            .filter_map(|(i, m)| self.held.find(m.as_str()).map(|at| (at, i)))
            .min()
    }

    /// Length of the longest end of `held` that some marker starts with.
    fn longest_marker_prefix_suffix(&self) -> usize {
        let mut best = 0;
        for marker in &self.markers {
            for (end, _) in marker.char_indices().skip(1) {
                if end > best && self.held.ends_with(&marker[..end]) {
                    best = end;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(release: Release) -> String {
        match release {
            Release::Text(t) => t,
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        let mut stream = TextStream::new(vec![]);
        let euro = "€".as_bytes();
        assert_eq!(text(stream.push(&euro[..1])), "");
        assert_eq!(text(stream.push(&euro[1..2])), "");
        assert_eq!(text(stream.push(&euro[2..])), "€");
        let emoji = "👍🏽".as_bytes();
        let mut out = String::new();
        for b in emoji {
            out.push_str(&text(stream.push(std::slice::from_ref(b))));
        }
        assert_eq!(out, "👍🏽");
    }

    #[test]
    fn invalid_bytes_become_the_replacement_character() {
        let mut stream = TextStream::new(vec![]);
        assert_eq!(text(stream.push(&[b'a', 0xFF, b'b'])), "a\u{FFFD}b");
        assert_eq!(text(stream.push(&[0xE2, 0x82])), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
    }

    #[test]
    fn text_that_may_begin_a_stop_string_is_held_until_it_does_not() {
        let mut stream = TextStream::new(vec!["STOP".into()]);
        assert_eq!(text(stream.push(b"Hello ST")), "Hello ");
        assert_eq!(text(stream.push(b"AR")), "STAR");
        assert_eq!(text(stream.push(b" and ST")), " and ");
        assert_eq!(
            stream.push(b"OP here"),
            Release::Marker {
                before: String::new(),
                marker: 0
            }
        );
    }

    #[test]
    fn text_after_a_marker_is_kept_for_later() {
        let mut stream = TextStream::new(vec!["```json".into()]);
        assert_eq!(
            stream.push(b"ok ```json{"),
            Release::Marker {
                before: "ok ".into(),
                marker: 0
            }
        );
        assert_eq!(text(stream.push(b"}")), "{}");
    }

    #[test]
    fn the_earliest_marker_wins() {
        let mut stream = TextStream::new(vec!["b".into(), "<tool_call>".into()]);
        assert_eq!(
            stream.push(b"x<tool_call>b"),
            Release::Marker {
                before: "x".into(),
                marker: 1
            }
        );
    }
}
