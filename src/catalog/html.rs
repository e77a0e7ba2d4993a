//! Turns the HTML of imported product descriptions into readable plain text.
//!
//! Shop exports carry descriptions as HTML fragments. Shoppers, the search
//! index and the language model all want text, so block elements become line
//! breaks, list items become "- " lines, entities are decoded and scripts and
//! styles are dropped. It must not lose the words: anything it does not
//! understand is kept as text.

/// Elements whose start or end begins a new line.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
];

/// Elements whose content is never text for a reader.
const HIDDEN_ELEMENTS: &[&str] = &["script", "style", "head", "template", "noscript", "iframe"];

/// Converts an HTML fragment into plain text with paragraphs on their own lines.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut hidden_until: Option<String> = None;
    while let Some(open) = rest.find('<') {
        let (text, after) = rest.split_at(open);
        if hidden_until.is_none() {
            push_text(&mut out, text);
        }
        // As in browsers, only '<' followed by a letter, '/', '!' or '?' opens a tag.
        if !after[1..]
            .starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'))
        {
            if hidden_until.is_none() {
                push_text(&mut out, "<");
            }
            rest = &after[1..];
            continue;
        }
        let Some(close) = tag_end(after) else {
            // A '<' that never closes is text ("5 < 6"), not markup.
            if hidden_until.is_none() {
                push_text(&mut out, after);
            }
            rest = "";
            break;
        };
        let tag = &after[1..close];
        rest = &after[close + 1..];
        let (name, is_end) = tag_name(tag);
        if let Some(waiting) = &hidden_until {
            if is_end && &name == waiting {
                hidden_until = None;
            }
            continue;
        }
        if HIDDEN_ELEMENTS.contains(&name.as_str()) && !is_end && !tag.ends_with('/') {
            hidden_until = Some(name);
        } else if name == "li" && !is_end {
            new_line(&mut out);
            out.push_str("- ");
        } else if BLOCK_ELEMENTS.contains(&name.as_str()) {
            new_line(&mut out);
        } else if (name == "td" || name == "th") && !out.ends_with('\n') && !out.is_empty() {
            out.push_str(" | ");
        }
    }
    if hidden_until.is_none() {
        push_text(&mut out, rest);
    }
    tidy_lines(&out)
}

/// Index of the '>' closing the tag that starts `s`, honouring quoted attributes.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// The lower-cased element name of a tag body and whether it is an end tag.
fn tag_name(tag: &str) -> (String, bool) {
    let tag = tag.trim_start();
    let (is_end, tag) = match tag.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let name: String = tag
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    (name, is_end)
}

fn new_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Appends text with its entities decoded and its white space folded as a browser would.
fn push_text(out: &mut String, text: &str) {
    let decoded = decode_entities(text);
    for c in decoded.chars() {
        let c = if c.is_whitespace() && c != '\u{a0}' {
            ' '
        } else {
            c
        };
        let c = if c == '\u{a0}' { ' ' } else { c };
        if c == ' ' && (out.ends_with(' ') || out.ends_with('\n') || out.is_empty()) {
            continue;
        }
        out.push(c);
    }
}

/// Trims every line and drops runs of empty lines.
fn tidy_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decodes numeric entities and the named ones that show up in product copy.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp..];
        match candidate[1..].find(';').filter(|end| *end <= 10) {
            Some(end) => match entity(&candidate[1..=end]) {
                Some(c) => {
                    out.push(c);
                    rest = &candidate[end + 2..];
                }
                None => {
                    out.push('&');
                    rest = &candidate[1..];
                }
            },
            None => {
                out.push('&');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "hellip" => '…',
        "bull" => '•',
        "middot" => '·',
        "deg" => '°',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "times" => '×',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "eacute" => 'é',
        "egrave" => 'è',
        "aacute" => 'á',
        "agrave" => 'à',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "ntilde" => 'ñ',
        "ccedil" => 'ç',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        "euro" => '€',
        "pound" => '£',
        "cent" => '¢',
        "iexcl" => '¡',
        "iquest" => '¿',
        _ => return None,
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_lists_become_lines() {
        let html = "<p>Fresh <b>sourdough</b>.</p><ul><li>800 g</li><li>Baked daily</li></ul>";
        assert_eq!(
            html_to_text(html),
            "Fresh sourdough.\n- 800 g\n- Baked daily"
        );
    }

    #[test]
    fn entities_are_decoded_and_unknown_ones_kept() {
        assert_eq!(
            html_to_text("Fish &amp; chips &ndash; 5&nbsp;kg &#233;t&#xE9; &bogus; AT&T"),
            "Fish & chips – 5 kg été &bogus; AT&T"
        );
    }

    #[test]
    fn scripts_styles_and_attributes_are_not_text() {
        let html =
            r#"<style>p{color:red}</style><p data-x="a>b">Hi<script>alert(1)</script> there</p>"#;
        assert_eq!(html_to_text(html), "Hi there");
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        assert_eq!(html_to_text("5 < 6 and 7 > 3"), "5 < 6 and 7 > 3");
        assert_eq!(html_to_text("a <b unclosed"), "a <b unclosed");
    }

    #[test]
    fn whitespace_is_folded() {
        assert_eq!(
            html_to_text("  one\n\n   two  <br/> three "),
            "one two\nthree"
        );
    }
}
