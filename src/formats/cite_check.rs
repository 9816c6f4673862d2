//! A pasted citation held to the record it names: `exhibit verify --citation`.
//!
//! A citation is a pair at least (a record ID and a SHA-256), usually more (a URL, a capture
//! time). Verifying its parts one by one would pass a citation that quotes one record's ID with
//! another document's hash. So the facts a citation states are read out of its text, and each
//! must be one that the named record's own citations state; the record itself is verified
//! apart.
//!
//! The same reader runs over the pasted text and over the record's own renderings in every
//! format (`exhibit cite --format …`), so whatever exhibit prints is recognised in whatever
//! shape a user kept it, and nothing is compared that exhibit never wrote: free text around
//! a citation (a court's caption, a sentence) states no facts unless it looks like one.
//! Pure: no I/O.

use super::cite::{Citation, Format};
use crate::record_id::RecordId;
use serde::Serialize;
use std::str::FromStr;

/// The facts a citation's text states, each once, in the order they appear.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stated {
    /// Record IDs (`EX-XXXX-XXXX-XXXX`) whose check character holds, canonical.
    pub record_ids: Vec<String>,
    /// Words shaped like a record ID whose check character fails: a mistyped or altered ID.
    pub bad_record_ids: Vec<String>,
    /// Whole SHA-256 values: runs of exactly 64 hex digits, lower case.
    pub sha256: Vec<String>,
    /// Times to the second, as `YYYY-MM-DD HH:MM:SS UTC`, from either shape exhibit prints
    /// ("2026-05-21 05:07:28 UTC", "May 21, 2026, 05:07:28 UTC"). Dates alone are not read.
    pub times: Vec<String>,
    /// `http://` and `https://` URLs.
    pub urls: Vec<String>,
}

/// Reads the facts out of a citation's text in any of exhibit's formats, or a copy of one
/// (HTML entities and BibTeX escapes undone, so a certificate read in a browser or a `.bib`
/// entry states the same URL as the plain text).
pub fn stated(text: &str) -> Stated {
    let text = unescape(text);
    let mut s = Stated::default();
    ids(&text, &mut s);
    hashes(&text, &mut s.sha256);
    times(&text, &mut s.times);
    urls(&text, &mut s.urls);
    s
}

/// What `stated` says that the record's own citations do not, one phrase each; empty when the
/// citation agrees with the record. `own` is the named record's citation (it should be built
/// from a manifest that verified).
pub fn disagreements(own: &Citation, stated: &Stated) -> Vec<String> {
    let mut known = Stated::default();
    for f in [
        Format::Text,
        Format::Markdown,
        Format::Oneline,
        Format::Bluebook,
        Format::Bibtex,
        Format::CslJson,
        Format::Json,
        Format::Html,
    ] {
        let one = self::stated(&own.render(f));
        for (all, new) in [
            (&mut known.sha256, one.sha256),
            (&mut known.times, one.times),
            (&mut known.urls, one.urls),
        ] {
            for v in new {
                push_once(all, v);
            }
        }
    }
    let mut out = Vec::new();
    for id in &stated.record_ids {
        if *id != own.record_id {
            out.push(format!(
                "it also names record {id}; a citation names one record"
            ));
        }
    }
    for id in &stated.bad_record_ids {
        out.push(format!(
            "it names {id}, which is not a record ID (its check character fails: mistyped or altered)"
        ));
    }
    for h in &stated.sha256 {
        if !known.sha256.contains(h) {
            out.push(format!(
                "it states SHA-256 {h}, but the document of {} has SHA-256 {}",
                own.record_id, own.sha256
            ));
        }
    }
    for t in &stated.times {
        if !known.times.contains(t) {
            out.push(format!(
                "it states the time {t}, but {} was captured {}",
                own.record_id, own.captured
            ));
        }
    }
    for u in &stated.urls {
        if !known.urls.contains(u) {
            let of = if own.final_url.is_empty() || own.final_url == own.url {
                own.url.clone()
            } else {
                format!("{} (redirected to {})", own.url, own.final_url)
            };
            out.push(format!(
                "it names the URL {u}, but {} is of {of}",
                own.record_id
            ));
        }
    }
    out
}

fn push_once(v: &mut Vec<String>, x: String) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// HTML's five entities exhibit writes and BibTeX's escaped specials, undone.
fn unescape(text: &str) -> String {
    let mut t = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'");
    for c in ["%", "#", "&", "_", "$", "{", "}"] {
        t = t.replace(&format!("\\{c}"), c);
    }
    t.replace("&amp;", "&")
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn ids(text: &str, s: &mut Stated) {
    let mut from = 0;
    while let Some(k) = text[from..].find("EX-") {
        let at = from + k;
        from = at + 3;
        // EX-XXXX-XXXX-XXXX: 17 bytes, not inside a longer word.
        let Some(word) = text.get(at..at + 17) else {
            continue;
        };
        let before = text[..at].chars().next_back();
        let after = text[at + 17..].chars().next();
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            continue;
        }
        let shaped = word.bytes().enumerate().all(|(i, c)| match i {
            0 | 1 => true,
            2 | 7 | 12 => c == b'-',
            _ => c.is_ascii_alphanumeric(),
        });
        if !shaped {
            continue;
        }
        match RecordId::from_str(word) {
            Ok(id) => push_once(&mut s.record_ids, id.to_string()),
            Err(_) => push_once(&mut s.bad_record_ids, word.to_string()),
        }
    }
}

fn hashes(text: &str, out: &mut Vec<String>) {
    let mut run = String::new();
    let mut blocked = false;
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if c.is_ascii_alphanumeric() {
            // Part of a longer word (a base64 signature, an ID): not a hash.
            blocked = true;
            run.clear();
            continue;
        }
        if run.len() == 64 && !blocked {
            push_once(out, run.to_ascii_lowercase());
        }
        run.clear();
        blocked = false;
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn times(text: &str, out: &mut Vec<String>) {
    let mut from = 0;
    while let Some(k) = text[from..].find(" UTC") {
        let end = from + k;
        from = end + 4;
        let head = &text[..end];
        // "2026-05-21 05:07:28"
        if let Some(t) = head
            .get(head.len().saturating_sub(19)..)
            .and_then(|s| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s).ok())
        {
            push_once(out, t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
            continue;
        }
        // "May 21, 2026, 05:07:28": the month name is at most 30 bytes back.
        let window = head.len().saturating_sub(30);
        let found = MONTHS.iter().find_map(|m| {
            let at = head.get(window..)?.rfind(m)? + window;
            jiff::civil::DateTime::strptime("%B %d, %Y, %H:%M:%S", &head[at..]).ok()
        });
        if let Some(t) = found {
            push_once(out, t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
        }
    }
}

fn urls(text: &str, out: &mut Vec<String>) {
    let mut from = 0;
    while let Some(k) = text[from..].find("http") {
        let at = from + k;
        from = at + 4;
        let rest = &text[at..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        if text[..at].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let len = rest
            .find(|c: char| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c))
            .unwrap_or(rest.len());
        let mut url = &rest[..len];
        // Sentence punctuation after a URL, and a closing bracket the URL did not open.
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'']);
            let trimmed = match trimmed.chars().last() {
                Some(')') if trimmed.matches('(').count() < trimmed.matches(')').count() => {
                    &trimmed[..trimmed.len() - 1]
                }
                Some(']') if trimmed.matches('[').count() < trimmed.matches(']').count() => {
                    &trimmed[..trimmed.len() - 1]
                }
                _ => trimmed,
            };
            if trimmed == url {
                break;
            }
            url = trimmed;
        }
        if url.len() > "https://".len() {
            push_once(out, url.to_string());
        }
        from = at + len.max(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_from_every_shape_exhibit_prints() {
        let s = stated(
            "https://example.org/a?x=1&amp;y=2 (captured May 21, 2026, 05:07:28 UTC; imported copy), \
             archived at exhibit record EX-J9CY-P90Q-NCV1, SHA-256 \
             73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac.\n\
             note = {captured 2026-05-21 05:07:28 UTC}, url = {https://example.org/100\\%}",
        );
        assert_eq!(s.record_ids, ["EX-J9CY-P90Q-NCV1"]);
        assert!(s.bad_record_ids.is_empty());
        assert_eq!(
            s.sha256,
            ["73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac"]
        );
        assert_eq!(s.times, ["2026-05-21 05:07:28 UTC"]);
        assert_eq!(
            s.urls,
            ["https://example.org/a?x=1&y=2", "https://example.org/100%"]
        );
    }

    #[test]
    fn words_that_only_contain_a_fact_state_none() {
        let s = stated(&format!(
            "xEX-J9CY-P90Q-NCV1 {}a g{} shttps://x.example/ EX-J9CY-P90Q-NCV2",
            "0".repeat(64),
            "1".repeat(64)
        ));
        assert!(s.record_ids.is_empty(), "{s:?}");
        assert_eq!(s.bad_record_ids, ["EX-J9CY-P90Q-NCV2"]);
        assert!(s.sha256.is_empty(), "{s:?}");
        assert!(s.urls.is_empty(), "{s:?}");
        assert_eq!(stated(&"a".repeat(65)).sha256, Vec::<String>::new());
    }

    #[test]
    fn urls_lose_sentence_punctuation_but_keep_their_own_brackets() {
        let s = stated("(see https://en.example/wiki/A_(b)), and https://x.example/p.");
        assert_eq!(
            s.urls,
            ["https://en.example/wiki/A_(b)", "https://x.example/p"]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panicking(t in "\\PC{0,300}") {
            let _ = stated(&t);
        }
    }
}
