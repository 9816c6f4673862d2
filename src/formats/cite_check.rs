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
use crate::manifest::Manifest;
use crate::record_id::RecordId;
use serde::Serialize;
use std::str::FromStr;

/// The facts a citation's text states, each once, in the order they appear.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stated {
    /// Record IDs whose check character holds, canonical: `EX` and twelve symbols, in any case,
    /// with hyphens (any dash) or none, as `exhibit verify` reads them.
    pub record_ids: Vec<String>,
    /// Words shaped like a record ID whose check character fails: a mistyped or altered ID.
    pub bad_record_ids: Vec<String>,
    /// Whole SHA-256 values, lower case: 64 hex digits, also grouped by spaces or broken
    /// across a line as a word processor leaves them.
    pub sha256: Vec<String>,
    /// Hash prefixes, lower case: 8 to 63 hex digits with a letter among them, or after
    /// `sha256:` (digits alone are too often a number).
    pub prefixes: Vec<String>,
    /// Words that look like a hash but are none (hex digits glued to other letters, more than
    /// 64 digits): a citation that hides a value from this reader is not accepted.
    pub unreadable: Vec<String>,
    /// Times to the second, as `YYYY-MM-DD HH:MM:SS UTC` (fractions kept), from the shapes
    /// exhibit prints and RFC 3339.
    pub times: Vec<String>,
    /// Clock times written in a shape this reader does not take (no seconds, another zone, a
    /// 12-hour clock): a time a person reads that is not compared fails the check.
    pub unreadable_times: usize,
    /// Dates, as `YYYY-MM-DD`: ISO, "May 21, 2026" and Bluebook's "Dec. 3, 2026".
    pub dates: Vec<String>,
    /// `http://` and `https://` URLs (scheme in lower case), and `www.` names without one.
    pub urls: Vec<String>,
}

/// Reads the facts out of a citation's text in any of exhibit's formats, or a copy of one:
/// HTML entities and BibTeX escapes undone, invisible characters (soft hyphens, zero-width
/// spaces) dropped, dashes and no-break spaces made plain.
pub fn stated(text: &str) -> Stated {
    read(&normalize(text))
}

fn read(text: &str) -> Stated {
    let mut s = Stated::default();
    ids(text, &mut s);
    hashes(text, &mut s);
    let read = times(text, &mut s.times);
    let written = clock_tokens(text);
    if written > read {
        s.unreadable_times = written - read;
    }
    dates(text, &mut s.dates);
    urls(text, &mut s.urls);
    s
}

/// What the record named by a citation says of itself, by role: the facts of its own
/// citations in every format, rendered with its title and labels left out (a page's title is
/// the page's words, not the archive's: a hash or URL in it is no fact of the record).
struct Known {
    sha256: Vec<String>,
    hex: Vec<String>,
    times: Vec<String>,
    dates: Vec<String>,
    urls: Vec<String>,
}

fn known(m: &Manifest, packed: Option<crate::archive::PackedRecord>) -> Known {
    let mut bare = m.clone();
    bare.labels = Default::default();
    bare.document.title = None;
    let own = Citation::new(&bare).packed_at(packed);
    let mut k = Known {
        sha256: Vec::new(),
        hex: Vec::new(),
        times: Vec::new(),
        dates: Vec::new(),
        urls: vec![m.requested_url.clone(), m.final_url.clone()],
    };
    if let Some(t) = rfc3339(&m.captured_at) {
        push_once(&mut k.dates, t[..10].to_string());
        push_once(&mut k.times, t);
    }
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
        let one = stated(&own.render(f));
        for (all, new) in [
            (&mut k.sha256, one.sha256),
            (&mut k.hex, one.prefixes),
            (&mut k.times, one.times),
            (&mut k.dates, one.dates),
        ] {
            for v in new {
                push_once(all, v);
            }
        }
        // The certificate lists a browser capture's parts by the URLs the page loaded: the
        // page's choices, not the URL of what was cited.
        if f != Format::Html {
            for u in one.urls {
                push_once(&mut k.urls, u);
            }
        }
    }
    k
}

/// What a citation states that its record does not, one phrase each; empty when it agrees.
/// `m` is the manifest of the record the citation names (verified by the caller); its title and
/// labels are masked out of `text` first, so words a page chose for its title are not read as
/// facts. The citation must state the document's SHA-256 (whole, or a prefix of 8+ digits).
pub fn disagreements(
    text: &str,
    m: &Manifest,
    packed: Option<crate::archive::PackedRecord>,
) -> (Stated, Vec<String>) {
    let text_raw = text;
    let mut text = normalize(text);
    let mut masks: Vec<String> = [
        m.labels.entity.as_deref(),
        m.labels.document.as_deref(),
        m.labels.note.as_deref(),
        m.document.title.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(normalize)
    // Only a title or label long enough to be one, of two words or more, and not part of the
    // record's URLs: a page titled "http" or "-" would otherwise mask facts out of the whole
    // citation.
    .filter(|t| {
        t.trim().chars().count() >= 8
            && t.trim().contains(' ')
            && !m.requested_url.contains(t.as_str())
            && !m.final_url.contains(t.as_str())
    })
    .collect();
    // Longest first, so a label inside a title is not masked out of it alone.
    masks.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in &masks {
        text = text.replace(t.as_str(), " ");
    }
    let stated = read(&text);
    let k = known(m, packed);
    let doc = &m.document.sha256;
    let mut out = Vec::new();
    for id in &stated.record_ids {
        if *id != m.record_id {
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
    if let Some(ch) = text_raw.chars().find(|c| hides(*c)) {
        out.push(format!(
            "it contains U+{:04X}, an invisible character that reorders or hides what a reader sees: copy the citation again as plain text",
            u32::from(ch)
        ));
    }
    if stated.unreadable_times > 0 {
        out.push(format!(
            "it has {} time(s) this check cannot read (without seconds, in another zone or a 12-hour clock): write times as `exhibit cite` does, e.g. {}",
            stated.unreadable_times,
            crate::cite::human_time(&m.captured_at)
        ));
    }
    for w in &stated.unreadable {
        out.push(format!(
            "it has {w}, which looks like a hash but is none (hex digits run into other characters or past 64): compare it by eye"
        ));
    }
    for h in &stated.sha256 {
        if !k.sha256.contains(h) {
            out.push(format!(
                "it states SHA-256 {h}, but the document of {} has SHA-256 {doc}",
                m.record_id
            ));
        }
    }
    for p in &stated.prefixes {
        if !k.sha256.iter().any(|h| h.starts_with(p.as_str())) && !k.hex.contains(p) {
            out.push(format!(
                "it states the hash prefix {p}, but the document of {} has SHA-256 {doc}",
                m.record_id
            ));
        }
    }
    let states_document =
        stated.sha256.contains(doc) || stated.prefixes.iter().any(|p| doc.starts_with(p.as_str()));
    if !states_document && out.is_empty() {
        out.push(format!(
            "it states no SHA-256 of the document (whole, or 8 or more of its first hex digits) in a form this check reads; the document of {} has SHA-256 {doc}",
            m.record_id
        ));
    }
    let captured = crate::cite::human_time(&m.captured_at);
    for t in &stated.times {
        if !k.times.contains(t) {
            out.push(format!(
                "it states the time {t}, but {} was captured {captured}",
                m.record_id
            ));
        }
    }
    for d in &stated.dates {
        if !k.dates.contains(d) {
            out.push(format!(
                "it states the date {d}, but {} was captured {captured}",
                m.record_id
            ));
        }
    }
    for u in &stated.urls {
        let ok = if u.starts_with("www.") {
            k.urls
                .iter()
                .any(|x| *x == format!("https://{u}") || *x == format!("http://{u}"))
        } else {
            k.urls.contains(u)
        };
        if !ok {
            let of = if m.final_url.is_empty() || m.final_url == m.requested_url {
                m.requested_url.clone()
            } else {
                format!("{} (redirected to {})", m.requested_url, m.final_url)
            };
            out.push(format!(
                "it names the URL {u}, but {} is of {of}",
                m.record_id
            ));
        }
    }
    (stated, out)
}

/// Characters that reorder or hide text without showing themselves: bidirectional controls,
/// invisible operators, tags.
fn hides(c: char) -> bool {
    matches!(c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2061}'..='\u{2064}' | '\u{180e}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

fn push_once(v: &mut Vec<String>, x: String) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The text as the readers below see it.
fn normalize(text: &str) -> String {
    let mut t: String = text
        .chars()
        .filter_map(|c| match c {
            // Soft hyphen, zero-width space/joiners, word joiner, byte-order mark.
            '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => None,
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' | '\u{ff0d}' => Some('-'),
            '\u{a0}' | '\u{2007}' | '\u{202f}' => Some(' '),
            c => Some(c),
        })
        .collect();
    t = t
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'");
    for c in ["%", "#", "&", "_", "$", "{", "}"] {
        t = t.replace(&format!("\\{c}"), c);
    }
    join_hex(&join_broken_words(&t.replace("&amp;", "&")))
}

/// A word broken across a line at a hyphen ("EX-C9SE-\n17AF-KJQA", "…95b3-\n59ce…"), as PDF
/// viewers and `fold` leave it: between hex digits the hyphen is the break's (it goes), between
/// other letters or digits it is the word's (it stays).
fn join_broken_words(t: &str) -> String {
    let c: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '-' && i > 0 && c[i - 1].is_ascii_alphanumeric() {
            let mut k = i + 1;
            while k < c.len() && (c[k] == ' ' || c[k] == '\t' || c[k] == '\r') {
                k += 1;
            }
            if k < c.len() && c[k] == '\n' {
                k += 1;
                while k < c.len() && (c[k] == ' ' || c[k] == '\t') {
                    k += 1;
                }
                if k < c.len() && c[k].is_ascii_alphanumeric() {
                    if !(c[i - 1].is_ascii_hexdigit() && c[k].is_ascii_hexdigit()) {
                        out.push('-');
                    }
                    i = k;
                    continue;
                }
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// Joins the pieces of a hash a word processor split: groups of 4 or 8 hex digits separated by
/// single spaces (four groups or more), and hex digits broken across a line (with or without a
/// hyphen at the break) when the line ends inside a run shorter than 64.
fn join_hex(t: &str) -> String {
    let c: Vec<char> = t.chars().collect();
    let hex_run = |i: usize| c[i..].iter().take_while(|x| x.is_ascii_hexdigit()).count();
    let word_start = |i: usize| i == 0 || !c[i - 1].is_ascii_alphanumeric();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < c.len() {
        if c[i].is_ascii_hexdigit() && word_start(i) {
            let n = hex_run(i);
            // Grouped: "9589 6bd0 95b3 59ce ...", or a whole hash as "95:89:6b:..." or
            // "9589-6bd0-...".
            let sep = c
                .get(i + n)
                .copied()
                .filter(|x| [' ', ':', '-'].contains(x));
            if let (Some(sep), true) = (sep, n == 2 || n == 4 || n == 8) {
                let mut j = i + n;
                let mut groups = 1;
                while groups * n < 64 && j + 1 < c.len() && c[j] == sep && hex_run(j + 1) == n {
                    let end = j + 1 + n;
                    if end < c.len() && c[end].is_ascii_alphanumeric() {
                        break;
                    }
                    groups += 1;
                    j = end;
                }
                let whole = groups * n == 64;
                if (sep == ' ' && n >= 4 && groups >= 4) || whole {
                    out.extend(c[i..j].iter().filter(|x| **x != sep));
                    i = j;
                    continue;
                }
            }
            // Broken across a line: "…95b359ce-\n  a6c27…" or "…95b3\n59ce…".
            let mut run: String = c[i..i + n].iter().collect();
            let mut j = i + n;
            loop {
                let mut k = j;
                if k < c.len() && c[k] == '-' {
                    k += 1;
                }
                while k < c.len() && (c[k] == ' ' || c[k] == '\t' || c[k] == '\r') {
                    k += 1;
                }
                if run.len() < 64 && k < c.len() && c[k] == '\n' {
                    k += 1;
                    while k < c.len() && (c[k] == ' ' || c[k] == '\t') {
                        k += 1;
                    }
                    let m = if k < c.len() { hex_run(k) } else { 0 };
                    let after = k + m;
                    let ends = after >= c.len() || !c[after].is_ascii_alphanumeric();
                    // A short piece joins only when it makes a whole hash (a year at the end
                    // of a line is not the start of one).
                    let fits = if run.len() >= 8 {
                        run.len() + m <= 64
                    } else {
                        run.len() + m == 64
                    };
                    if m > 0
                        && fits
                        && (ends || (run.len() + m < 64 && after < c.len() && c[after] == '\n'))
                    {
                        run.extend(&c[k..after]);
                        j = after;
                        continue;
                    }
                }
                break;
            }
            out.push_str(&run);
            i = j;
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// Words as `verify` reads record IDs: letters, digits and hyphens.
fn ids(text: &str, s: &mut Stated) {
    let mut word = String::new();
    let mut flush = |w: &mut String| {
        let trimmed = w.trim_matches('-');
        let symbols: String = trimmed.chars().filter(|c| *c != '-').collect();
        if symbols.len() == 14 && symbols[..2].eq_ignore_ascii_case("ex") {
            match RecordId::from_str(trimmed) {
                Ok(id) => push_once(&mut s.record_ids, id.to_string()),
                Err(_) => push_once(&mut s.bad_record_ids, trimmed.to_string()),
            }
        }
        w.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            word.push(c);
        } else if is_word(c) {
            // A non-ASCII letter glued to it: not an ID of ours.
            word.clear();
            word.push('\u{0}');
        } else {
            if !word.starts_with('\u{0}') {
                flush(&mut word);
            }
            word.clear();
        }
    }
    if !word.starts_with('\u{0}') {
        flush(&mut word);
    }
}

fn hashes(text: &str, s: &mut Stated) {
    let c: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < c.len() && c[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let mut word: String = c[start..i].iter().collect();
        // "0x…" is a hex number's prefix, not part of it.
        if word.len() > 2 && (word.starts_with("0x") || word.starts_with("0X")) {
            word.drain(..2);
        }
        let hex = word.chars().filter(char::is_ascii_hexdigit).count();
        let after_sha = start >= 7
            && c[start - 7..start]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case("sha256:");
        if hex == word.len() {
            let lower = word.to_ascii_lowercase();
            let has_letter = lower.bytes().any(|b| b.is_ascii_alphabetic());
            match lower.len() {
                64 => push_once(&mut s.sha256, lower),
                8..=63 if has_letter || after_sha => push_once(&mut s.prefixes, lower),
                n if n > 64 => push_once(&mut s.unreadable, word),
                _ => {}
            }
        } else {
            // Hex digits run into other letters: 32 or more hex digits in a row reads as a
            // hash to a person, whatever comes after it.
            let longest = word
                .split(|x: char| !x.is_ascii_hexdigit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            if longest >= 32 {
                push_once(&mut s.unreadable, word);
            }
        }
        // A hash glued to non-ASCII letters (Cyrillic а for a) hides in plain sight.
        if i < c.len() && is_word(c[i]) {
            let mut j = start;
            while j < c.len() && (is_word(c[j]) || c[j].is_ascii_alphanumeric()) {
                j += 1;
            }
            let glued: String = c[start..j].iter().collect();
            let hexish = glued.chars().filter(char::is_ascii_hexdigit).count();
            if hexish >= 32 {
                s.sha256
                    .retain(|h| !glued.to_ascii_lowercase().contains(h.as_str()));
                push_once(&mut s.unreadable, glued);
            }
            i = j;
        }
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

/// Bluebook's abbreviations (T12), as exhibit prints them.
const SHORT_MONTHS: [&str; 12] = [
    "Jan.", "Feb.", "Mar.", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec.",
];

/// `YYYY-MM-DD HH:MM:SS[.f] UTC` of an RFC 3339 time, or `None`.
fn rfc3339(s: &str) -> Option<String> {
    let t: jiff::Timestamp = s.parse().ok()?;
    Some(
        t.to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y-%m-%d %H:%M:%S%.f UTC")
            .to_string(),
    )
}

/// Reads the times into `out`; returns how many times were read, repeats counted.
fn times(text: &str, out: &mut Vec<String>) -> usize {
    let mut count = 0;
    let read = &mut count;
    let fmt = |t: jiff::civil::DateTime| t.strftime("%Y-%m-%d %H:%M:%S%.f UTC").to_string();
    let mut from = 0;
    while let Some(k) = text[from..].find(" UTC") {
        let end = from + k;
        from = end + 4;
        let head = &text[..end];
        // "2026-05-21 05:07:28", with a fraction of up to 9 digits.
        if let Some(t) = (19..=29).find_map(|k| {
            let s = head.get(head.len().checked_sub(k)?..)?;
            if head.len() > k && head.as_bytes()[head.len() - k - 1].is_ascii_alphanumeric() {
                return None;
            }
            jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", s).ok()
        }) {
            *read += 1;
            push_once(out, fmt(t));
            continue;
        }
        // "May 21, 2026, 05:07:28": the month name is at most 30 bytes back.
        let window = head.len().saturating_sub(30);
        let found = MONTHS.iter().find_map(|m| {
            let at = head.get(window..)?.rfind(m)? + window;
            jiff::civil::DateTime::strptime("%B %d, %Y, %H:%M:%S", &head[at..]).ok()
        });
        if let Some(t) = found {
            *read += 1;
            push_once(out, fmt(t));
        }
    }
    // RFC 3339: "2026-05-21T05:07:28Z", "2026-05-21T07:07:28.5+02:00".
    let b = text.as_bytes();
    for (i, _) in text.match_indices(['T', 't']) {
        if i < 10 || !text.is_char_boundary(i - 10) {
            continue;
        }
        let start = i - 10;
        if start > 0 && b[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        // An RFC 3339 time is at most 35 bytes: a longer run is no time, and is not searched
        // again for every `T` in it.
        let window = &text.as_bytes()[start..(start + 40).min(text.len())];
        let len = window
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || b"-:.+".contains(c)))
            .unwrap_or(window.len());
        if let Some(t) = rfc3339(&text[start..start + len].to_ascii_uppercase()) {
            *read += 1;
            push_once(out, t);
        }
    }
    count
}

/// Clock times written anywhere: runs of digits and colons of the shape `H:MM` or `HH:MM:SS`.
fn clock_tokens(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b':')) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b':') {
                j += 1;
            }
            let run = &text[i..j];
            let parts: Vec<&str> = run.split(':').collect();
            if parts.len() >= 2 && parts[0].len() <= 2 && parts[1..].iter().all(|p| p.len() == 2) {
                n += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    n
}

fn dates(text: &str, out: &mut Vec<String>) {
    let b = text.as_bytes();
    // ISO: "2026-05-21", not inside a longer number.
    for i in 0..b.len().saturating_sub(9) {
        if (i > 0 && b[i - 1].is_ascii_alphanumeric())
            || b.get(i + 10).is_some_and(|x| x.is_ascii_digit())
        {
            continue;
        }
        if let Some(d) = text
            .get(i..i + 10)
            .and_then(|s| jiff::civil::Date::strptime("%Y-%m-%d", s).ok())
        {
            push_once(out, d.to_string());
        }
    }
    // "May 21, 2026" and "Dec. 3, 2026".
    for (n, name) in MONTHS
        .iter()
        .zip(SHORT_MONTHS)
        .flat_map(|(l, s)| [*l, s])
        .enumerate()
    {
        let month = n / 2 + 1;
        for (at, _) in text.match_indices(name) {
            if at > 0 && text[..at].chars().next_back().is_some_and(is_word) {
                continue;
            }
            let rest = &text[at + name.len()..];
            let Some(rest) = rest.strip_prefix(' ') else {
                continue;
            };
            let day: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let Some(rest) = rest[day.len()..].strip_prefix(", ") else {
                continue;
            };
            let year: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if year.len() != 4 || day.is_empty() || day.len() > 2 {
                continue;
            }
            let (Ok(y), Ok(d)) = (year.parse::<i16>(), day.parse::<i8>()) else {
                continue;
            };
            if let Ok(date) = jiff::civil::Date::new(y, month as i8, d) {
                push_once(out, date.to_string());
            }
        }
    }
}

fn urls(text: &str, out: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    let mut starts: Vec<(usize, bool)> = Vec::new();
    for (at, _) in lower.match_indices("http") {
        let rest = &lower[at..];
        if rest.starts_with("http://") || rest.starts_with("https://") {
            starts.push((at, true));
        }
    }
    for (at, _) in lower.match_indices("www.") {
        let before = text[..at].chars().next_back();
        if !before.is_some_and(|c| is_word(c) || c == '/' || c == '.') {
            starts.push((at, false));
        }
    }
    starts.sort();
    for (at, scheme) in starts {
        if text[..at].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let rest = &text[at..];
        let mut len = rest
            .find(|c: char| c.is_whitespace() || c.is_control() || "<>\"}“”‘’«»".contains(c))
            .unwrap_or(rest.len());
        if let Some(k) = rest[..len].find("](") {
            len = k;
        }
        let mut url = &rest[..len];
        // Sentence punctuation after a URL, and a closing bracket the URL did not open (counted
        // once: a URL followed by a million brackets is trimmed in one pass).
        let (open_p, mut close_p) = (url.matches('(').count(), url.matches(')').count());
        let (open_b, mut close_b) = (url.matches('[').count(), url.matches(']').count());
        while let Some(last) = url.chars().last() {
            match last {
                '.' | ',' | ';' | ':' | '!' | '?' | '\'' => {}
                ')' if open_p < close_p => close_p -= 1,
                ']' if open_b < close_b => close_b -= 1,
                _ => break,
            }
            url = &url[..url.len() - last.len_utf8()];
        }
        if scheme {
            let sep = url.find("://").unwrap_or(0);
            if url.len() > sep + 3 {
                push_once(
                    out,
                    format!("{}{}", url[..sep].to_ascii_lowercase(), &url[sep..]),
                );
            }
        } else if url.len() > 4 {
            push_once(out, url.to_string());
        }
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

    #[test]
    fn hashes_are_read_in_the_shapes_people_leave_them() {
        let h = "95896bd095b359ce6d4c9d1fcd5cb3d3a2b2d1f5a2e4f6a8b0c2d4e6f8a0c6c27";
        let h = &h[..64];
        let grouped: Vec<String> = h
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        for text in [
            format!("SHA-256 {}", grouped.join(" ")),
            format!("SHA-256 {}\n{}.", &h[..40], &h[40..]),
            format!("SHA-256 {}-\n   {}", &h[..33], &h[33..]),
            format!("SHA-256 0x{h}"),
            format!(
                "SHA-256 {}\u{ad}{}\u{200b}{}",
                &h[..10],
                &h[10..20],
                &h[20..]
            ),
            format!("SHA-256 {}", h.to_ascii_uppercase()),
        ] {
            assert_eq!(stated(&text).sha256, [h], "{text:?}");
        }
        let s = stated(&format!(
            "sha256:95896bd0 and 12345678 and sha256:12345678 {h}z"
        ));
        assert_eq!(s.prefixes, ["95896bd0", "12345678"]);
        assert!(s.sha256.is_empty());
        assert_eq!(s.unreadable, [format!("{h}z")]);
        // Cyrillic а glued on: a person reads a hash, so it must not go unread.
        let s = stated(&format!("SHA-256 {}\u{430}", &h[..63]));
        assert_eq!(s.unreadable.len(), 1, "{s:?}");
    }

    #[test]
    fn ids_times_dates_and_urls_in_other_shapes() {
        let s = stated(
            "ex-j9cy-p90q-ncv1; EX\u{2011}J9CY\u{2011}P90Q\u{2011}NCV1 EXJ9CYP90QNCV1 \
             2019-01-03T00:00:00Z 2026-05-21T07:07:28.5+02:00 (last visited Jan. 3, 2019) \
             HTTPS://Evil.example/x www.evil.example/y “https://q.example/z” \
             [https://m.example/a](https://m.example/a)",
        );
        assert_eq!(s.record_ids, ["EX-J9CY-P90Q-NCV1"]);
        assert_eq!(
            s.times,
            ["2019-01-03 00:00:00 UTC", "2026-05-21 05:07:28.5 UTC"]
        );
        assert_eq!(
            stated("at 2026-05-21 05:07:28.5 UTC").times,
            ["2026-05-21 05:07:28.5 UTC"]
        );
        assert!(s.dates.contains(&"2019-01-03".to_string()), "{s:?}");
        assert_eq!(
            s.urls,
            [
                "https://Evil.example/x",
                "www.evil.example/y",
                "https://q.example/z",
                "https://m.example/a"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panicking(t in "\\PC{0,300}") {
            let _ = stated(&t);
        }
    }
}
