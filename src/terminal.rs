//! Text on its way to a terminal. Strings exhibit prints come from web servers (titles, URLs,
//! reason phrases, headers), from manifests and bundles anyone may have edited, and from the
//! command line. A terminal obeys control characters in them: ESC starts sequences that move the
//! cursor, rewrite earlier lines, set the window title or (in some terminals) write files; CR
//! overwrites a line, so "✗ FAILED\r✓ verified" shows only the second half; C1 controls such as
//! U+009B act as ESC [ on terminals that honour them; bidirectional overrides (U+202E) display
//! text in another order than it is stored; invisible characters make two different values look
//! alike. Every string from those sources goes through [`escape`] (one value on one line) or
//! [`escape_lines`] (multi-line text such as a diff) before it is printed, and JSON output
//! through [`escape_json`]. Echoed input is also capped ([`shown`]): an error message must not
//! repeat a 120 kB argument.
//!
//! Escapes use Rust's notation, `\n`, `\r`, `\t` and `\u{1b}`, so the printed value still says
//! exactly which characters it holds. Backslashes are left alone: they cannot drive a terminal,
//! and doubling them would garble Windows paths and URLs.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of an input an error message repeats before it says "…".
pub const ECHO_LIMIT: usize = 200;

/// Whether a character must not reach a terminal as is: C0 and C1 controls and DEL, the
/// bidirectional controls, line and paragraph separators, and invisible format characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen (invisible unless a line breaks there)
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark (bidi)
            | '\u{115F}' | '\u{1160}'   // Hangul fillers (blank)
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels (invisible)
            | '\u{180B}'..='\u{180F}'   // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // zero-width no-break space (BOM)
            | '\u{FFA0}'                // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation controls
            | '\u{1D173}'..='\u{1D17A}' // musical format controls
            | '\u{E0000}'..='\u{E0FFF}' // tags and supplementary variation selectors
        )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value for one line: every unsafe character escaped, newlines and tabs included.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// Multi-line text (a diff, a citation block): newlines and tabs kept, everything else escaped.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n' || c == '\t')
}

/// At most `max` characters of `s`; a longer value is cut and says how long it was:
/// `abc… (120000 characters)`.
pub fn cap(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}… ({} characters)", &s[..end], s.chars().count())),
    }
}

/// At most about `max` characters of `s`, keeping both its start and its end: a longer value
/// loses its middle and says how long it was: `abc… (120000 characters) …xyz`. For error
/// messages, whose end (the cause) matters as much as their start.
pub fn cap_middle(s: &str, max: usize) -> Cow<'_, str> {
    let total = s.chars().count();
    if total <= max {
        return Cow::Borrowed(s);
    }
    let tail = max * 2 / 5;
    let head_end = s.char_indices().nth(max - tail).map_or(s.len(), |(i, _)| i);
    let tail_start = s
        .char_indices()
        .nth(total - tail)
        .map_or(s.len(), |(i, _)| i);
    Cow::Owned(format!(
        "{}… ({total} characters) …{}",
        &s[..head_end],
        &s[tail_start..]
    ))
}

/// A user's input as an error message repeats it: quoted, escaped and capped at
/// [`ECHO_LIMIT`] characters.
pub fn shown(input: &str) -> String {
    match input.char_indices().nth(ECHO_LIMIT) {
        None => format!("\"{}\"", escape(input)),
        Some((end, _)) => format!(
            "\"{}…\" ({} characters)",
            escape(&input[..end]),
            input.chars().count()
        ),
    }
}

/// Serialized JSON made safe for a terminal. serde_json already writes C0 controls as `\u00XX`;
/// this also writes every other unsafe character (C1 controls, bidi overrides, invisible format
/// characters) as a `\uXXXX` escape (a surrogate pair above U+FFFF). Such characters can only
/// occur inside JSON strings, where the escape means the same character, so the JSON parses to
/// exactly the same value.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| is_unsafe(c) && !c.is_ascii()) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) && !c.is_ascii() {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// HTML made safe for a terminal without changing what a browser shows: unsafe characters other
/// than newlines and tabs become numeric character references.
pub fn escape_html_output(html: &str) -> Cow<'_, str> {
    if !html.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len() + 16);
    for c in html.chars() {
        if is_unsafe(c) && c != '\n' && c != '\t' {
            let _ = write!(out, "&#x{:X};", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// "1 error", "2 errors": a count and its noun.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("plain text é ✓"), "plain text é ✓");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("ok\r✓"), "ok\\r✓");
        assert_eq!(escape("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("exa\u{200b}mple"), "exa\\u{200b}mple");
        assert_eq!(escape("\x7f"), "\\u{7f}");
        assert_eq!(escape_lines("a\nb\x1b]0;x\x07"), "a\nb\\u{1b}]0;x\\u{7}");
        assert_eq!(escape(r"C:\dir\file"), r"C:\dir\file");
    }

    #[test]
    fn echoed_input_is_capped_with_its_length() {
        let long = "x".repeat(120_000);
        let s = shown(&long);
        assert!(s.len() < 300, "{}", s.len());
        assert!(s.ends_with("…\" (120000 characters)"), "{s}");
        assert_eq!(shown("abc"), "\"abc\"");
        assert_eq!(
            shown(&"é".repeat(ECHO_LIMIT)),
            format!("\"{}\"", "é".repeat(ECHO_LIMIT))
        );
        assert_eq!(cap("abcdef", 3), "abc… (6 characters)");
        assert_eq!(cap("abc", 3), "abc");
    }

    /// An error message's end is its cause: a cut keeps it.
    #[test]
    fn a_capped_message_keeps_its_end() {
        assert_eq!(cap_middle("abcdefghij", 5), "abc… (10 characters) …ij");
        assert_eq!(cap_middle("abcde", 5), "abcde");
        assert_eq!(cap_middle("ééééééé", 5), "ééé… (7 characters) …éé");
        let long = format!(
            "request to {} failed: Connection refused",
            "x".repeat(5_000)
        );
        let c = cap_middle(&long, 1000);
        assert!(c.starts_with("request to xxx"), "{c}");
        assert!(c.ends_with("xxx failed: Connection refused"), "{c}");
        assert!(c.chars().count() < 1_030, "{}", c.chars().count());
    }

    #[test]
    fn json_keeps_its_value() {
        let v = serde_json::json!({"t": "a\u{1b}b\u{9b}c\u{202e}d\u{e0041}e"});
        let s = serde_json::to_string(&v).unwrap();
        let safe = escape_json(&s);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
        assert!(
            safe.contains("\\u009b") && safe.contains("\\u202e") && safe.contains("\\udb40\\udc41")
        );
    }

    #[test]
    fn html_output_keeps_newlines() {
        assert_eq!(
            escape_html_output("<p>a\u{202e}b</p>\n\x1b"),
            "<p>a&#x202E;b</p>\n&#x1B;"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(count(1, "error", "errors"), "1 error");
        assert_eq!(count(0, "error", "errors"), "0 errors");
        assert_eq!(count(2, "URL", "URLs"), "2 URLs");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_unsafe_character(s in any::<String>()) {
            prop_assert!(!escape(&s).chars().any(is_unsafe));
            prop_assert!(!escape_lines(&s).chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'));
            prop_assert!(!shown(&s).chars().any(is_unsafe));
            prop_assert!(shown(&s).chars().count() <= ECHO_LIMIT + 40);
        }

        #[test]
        fn safe_text_is_unchanged(s in "[a-zA-Z0-9 .,:/?#=&%é✓-]{0,80}") {
            prop_assert_eq!(escape(&s), s.as_str());
        }

        #[test]
        fn json_round_trips(s in any::<String>()) {
            let json = serde_json::to_string(&s).unwrap();
            let safe = escape_json(&json);
            prop_assert!(!safe.chars().any(is_unsafe));
            prop_assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), s);
        }
    }
}
