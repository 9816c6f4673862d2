//! Readable text of a captured document, and a noise-insensitive fingerprint of it.
//!
//! Dynamic pages differ byte for byte on every load (script nonces, CSRF tokens, render
//! timestamps, cache-busting query strings), so the byte hash of a capture says nothing about
//! whether the *content* changed. [`extract`] reduces a document to the text a reader sees and
//! [`fingerprint`] hashes that text; two loads of a page that differ only in noise get the same
//! fingerprint, while any change to the visible wording gets a different one.
//!
//! Pure functions, no I/O.
//!
//! # HTML
//!
//! HTML is tokenized with the WHATWG tokenizer's states (character references decoded,
//! raw-text elements handled like a browser does), without building a DOM: time is linear and
//! memory is bounded by a small multiple of the input size. The tokenizer is exhibit's own
//! (`html.rs`), held to give the same text as html5ever's, which defined every earlier
//! fingerprint ([`html_text_reference`]).
//!
//! * Dropped entirely: `<script>`, `<style>`, `<noscript>` (a browser with scripting on never
//!   shows it), `<template>`, `<iframe>`/`<noembed>`/`<noframes>` fallback content, comments,
//!   the doctype, and everything in `<head>` except `<title>`.
//! * No attribute value ever reaches the text, except the label of `<input type=submit|button|
//!   reset>` (visible on screen). So hidden inputs, `<meta name=csrf-token>`, nonces,
//!   `data-*` timestamps and `?v=123` cache busters in `src`/`href` cannot affect the text.
//! * Block-level elements (`p`, `div`, `li`, `h1`-`h6`, `tr`, `br`, `section`, `article`, ...,
//!   see `is_block`) start a new paragraph; table cells, images, inputs and buttons
//!   separate words; inline elements (`a`, `span`, `b`, ...) do not break words.
//! * Whitespace (any Unicode white space, including `&nbsp;`) collapses to one space inside a
//!   paragraph; invisible characters (soft hyphen, zero-width space, word joiner, BOM) are
//!   removed. Inside `<pre>`, `<listing>`, `<textarea>`, `<xmp>` and `<plaintext>` every line
//!   is its own paragraph, so code keeps its line structure.
//! * Paragraphs are joined with `"\n\n"`: the text splits back into paragraphs on blank lines.
//! * Not evaluated: CSS (`display:none`) and the `hidden` attribute. Text hidden that way is
//!   kept, which errs on the side of reporting a change rather than missing one.
//!
//! # Plain text, JSON, XML
//!
//! Decoded (see below), line endings normalized to `\n`, trailing white space trimmed on each
//! line, runs of blank lines collapsed to one, leading and trailing blank lines removed.
//! Indentation is kept.
//!
//! # Decoding
//!
//! A byte-order mark wins; then the `charset` parameter of the content type; then, for HTML,
//! a `<meta charset>` / `<meta http-equiv=Content-Type>` declaration in the first 1024 bytes.
//! Every label of the WHATWG Encoding Standard is decoded as browsers do (encoding_rs): so
//! `iso-8859-1` means windows-1252, and Shift_JIS, GB18030 or ISO-8859-2 pages are read
//! correctly instead of turning into replacement characters that would hide real changes.
//! No declaration means UTF-8; invalid sequences become U+FFFD.
//!
//! # Volatile-value masking
//!
//! Noise that *is* visible, such as "Generated at 12:03:44" in a footer, would still change the
//! text on every load. With [`ExtractOptions::mask_volatile`] (on in [`extract`] and in
//! `ExtractOptions::default()`), [`mask_volatile`] replaces, after whitespace collapsing:
//!
//! * ISO-8601 / RFC 3339 timestamps, a date *and* a time of day, like `2026-05-05T12:03:44Z`,
//!   `2026-05-05T12:03:44.123+02:00` or `2026-05-05 12:03` → `[timestamp]`. These are almost
//!   always machine-printed render or fetch times.
//! * Clock times: `HH:MM` (two-digit hour), `H:MM`/`HH:MM` followed by am/pm, and
//!   `H:MM:SS`/`HH:MM:SS` with an optional fraction, hour 0-23, minute 0-59 → `[time]` (an
//!   am/pm suffix is masked with it). Not when glued to a preceding letter, digit, `:` or `.`,
//!   nor when followed by a digit or another `:` (time codes, ratios like `16:9`, verse
//!   references like `3:16` are left alone).
//! * Tokens → `[token]`: a run of the base64/base64url alphabet (`A-Z a-z 0-9 + / = _ -`),
//!   standing alone (not glued to other letters or digits), with at least 16 letters and digits
//!   and at least one digit, that is either
//!   - hex-looking: only `0-9a-f` (or only `0-9A-F`), e.g. a SHA, a request id, a 16+ digit
//!     snowflake id; or a UUID (`8-4-4-4-12` hex groups); or
//!   - base64-looking: letters and digits *mixed*, meaning the character class (lower case,
//!     upper case, digit) changes between neighbouring characters at least once every four
//!     characters on average. Random tokens change class about every other character; words
//!     with a number attached (`guidelines2021`, `x86_64-unknown-linux-gnu`,
//!     `/docs/v2/privacy-policy`) change class once or twice and are kept.
//!
//! Deliberately *not* masked, because a change there is a real change to what the document
//! says: dates without a time (`Last updated May 5, 2026`, `Effective 2026-05-05`), numbers,
//! amounts, durations (`30 days`), version strings, and any word without a digit in it.

pub mod diff;
mod html;

use std::borrow::Cow;
use std::cell::RefCell;

use html::Next;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use sha2::{Digest, Sha256};

/// Placeholder for a masked clock time.
pub const TIME_PLACEHOLDER: &str = "[time]";
/// Placeholder for a masked ISO-8601 date-and-time.
pub const TIMESTAMP_PLACEHOLDER: &str = "[timestamp]";
/// Placeholder for a masked hex/base64-looking token.
pub const TOKEN_PLACEHOLDER: &str = "[token]";

/// Options for [`extract_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Replace visible clock times, ISO timestamps and long hex/base64-looking tokens with
    /// placeholders (see [`mask_volatile`] and the module documentation). Default: `true`,
    /// the setting [`extract`] uses for fingerprints.
    pub mask_volatile: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            mask_volatile: true,
        }
    }
}

/// Readable text of a document, or `None` when the type is not text-like (images, PDFs, ...).
///
/// Same as [`extract_with`] with `mask_volatile: true`, the form to [`fingerprint`].
pub fn extract(content_type: Option<&str>, bytes: &[u8]) -> Option<String> {
    extract_with(content_type, bytes, &ExtractOptions::default())
}

/// Readable text of a document, or `None` when the type is not text-like.
///
/// Which types are text-like:
/// * `text/html` and `application/xhtml+xml`: HTML extraction (see the module documentation).
/// * other `text/*`, `application/json`, `application/xml`, `application/*+json`,
///   `application/*+xml`, JavaScript, YAML, TOML, NDJSON: plain-text normalization.
/// * no content type, an unparsable one, `application/octet-stream` or `unknown/unknown`: the
///   bytes are sniffed: HTML if they start (after white space and a byte-order mark) with
///   `<!doctype html`, `<html`, `<head`, `<body`, `<script`, `<p`, ... as in the WHATWG
///   MIME-sniffing table; `None` for well-known binary signatures (PDF, PNG, JPEG, GIF, ZIP,
///   gzip) or when the first 1024 bytes contain a binary control byte; plain text otherwise.
/// * anything else (`image/*`, `audio/*`, `video/*`, `font/*`, `application/pdf`, ...): `None`.
pub fn extract_with(
    content_type: Option<&str>,
    bytes: &[u8],
    opts: &ExtractOptions,
) -> Option<String> {
    let essence = content_type.map(media_essence).unwrap_or_default();
    let charset = content_type.and_then(charset_param);
    let kind = match essence.as_str() {
        "text/html" => Kind::Html,
        "application/xhtml+xml" => Kind::Xhtml,
        ""
        | "application/octet-stream"
        | "binary/octet-stream"
        | "unknown/unknown"
        | "application/unknown"
        | "*/*" => sniff(bytes)?,
        e if is_text_like(e) => Kind::Text,
        _ => return None,
    };
    let text = match kind {
        Kind::Html | Kind::Xhtml => {
            let decoded = decode(bytes, html_encoding(charset.as_deref(), bytes));
            html_text(&decoded, kind == Kind::Xhtml)
        }
        Kind::Text => {
            let encoding = bom_encoding(bytes)
                .map(|(e, _)| e)
                .or_else(|| charset.as_deref().and_then(encoding_for_label));
            normalize_plain(&decode(bytes, encoding))
        }
    };
    Some(if opts.mask_volatile {
        mask_volatile(&text)
    } else {
        text
    })
}

/// `"sha256:<hex>"` of the text's UTF-8 bytes. Hash the output of [`extract`] (already
/// normalized and masked) to compare two captures by content.
pub fn fingerprint(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

// ---------------------------------------------------------------------------------------------
// Content types and sniffing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Xhtml,
    Text,
}

/// `type/subtype`, lower-cased, without parameters; empty when there is no `/`.
fn media_essence(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence.split_once('/') {
        Some((t, s)) if !t.trim().is_empty() && !s.trim().is_empty() => {
            essence.to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

/// The `charset` parameter of a content type, unquoted and lower-cased.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then(|| value.to_ascii_lowercase())
    })
}

fn is_text_like(essence: &str) -> bool {
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    match top {
        "text" => true,
        "application" => {
            sub.ends_with("+json")
                || sub.ends_with("+xml")
                || matches!(
                    sub,
                    "json"
                        | "xml"
                        | "javascript"
                        | "ecmascript"
                        | "x-javascript"
                        | "ndjson"
                        | "x-ndjson"
                        | "yaml"
                        | "x-yaml"
                        | "toml"
                )
        }
        _ => false,
    }
}

/// Sniff an unlabeled document: HTML, plain text, or not text (`None`).
fn sniff(bytes: &[u8]) -> Option<Kind> {
    const BINARY_SIGNATURES: &[&[u8]] = &[
        b"%PDF-",
        b"\x89PNG",
        b"GIF87a",
        b"GIF89a",
        b"\xFF\xD8\xFF",
        b"PK\x03\x04",
        b"\x1F\x8B",
        b"RIFF",
        b"\x28\xB5\x2F\xFD",
    ];
    if BINARY_SIGNATURES.iter().any(|s| bytes.starts_with(s)) {
        return None;
    }
    let prefix = &bytes[..bytes.len().min(1024)];
    let utf16 = matches!(
        bom_encoding(prefix),
        Some((e, _)) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE
    );
    // WHATWG "binary data byte": a C0 control other than TAB, LF, FF, CR and ESC.
    let binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
    if !utf16 && prefix.iter().any(binary) {
        return None;
    }
    let head = decode(prefix, bom_encoding(prefix).map(|(e, _)| e));
    if looks_like_html(&head) {
        Some(Kind::Html)
    } else {
        Some(Kind::Text)
    }
}

/// The WHATWG MIME-sniffing HTML patterns, each followed by white space or `>`.
fn looks_like_html(head: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "<!doctype html",
        "<html",
        "<head",
        "<script",
        "<iframe",
        "<h1",
        "<div",
        "<font",
        "<table",
        "<a",
        "<style",
        "<title",
        "<b",
        "<body",
        "<br",
        "<p",
        "<!--",
    ];
    let s = head.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{FEFF}');
    let bytes = s.as_bytes();
    PATTERNS.iter().any(|p| {
        bytes.len() > p.len()
            && bytes[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            && matches!(
                bytes[p.len()],
                b' ' | b'>' | b'\t' | b'\n' | b'\r' | b'\x0C'
            )
    })
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// An encoding from the WHATWG Encoding Standard (the one browsers use), via encoding_rs.
type Encoding = &'static encoding_rs::Encoding;

/// The encoding of an HTML document: its byte-order mark, else the content type's `charset`,
/// else a `<meta>` declaration in its first 1024 bytes; `None` (UTF-8) when there is none.
fn html_encoding(charset: Option<&str>, bytes: &[u8]) -> Option<Encoding> {
    bom_encoding(bytes)
        .map(|(e, _)| e)
        .or_else(|| charset.and_then(encoding_for_label))
        .or_else(|| meta_charset(bytes))
}

/// Encoding announced by a byte-order mark, and the mark's length.
fn bom_encoding(bytes: &[u8]) -> Option<(Encoding, usize)> {
    encoding_rs::Encoding::for_bom(bytes)
}

/// Any label the Encoding Standard knows (utf-8, shift_jis, gb18030, iso-8859-2, ...).
fn encoding_for_label(label: &str) -> Option<Encoding> {
    encoding_rs::Encoding::for_label(label.trim().as_bytes())
}

/// A `charset` declared in a `<meta>` tag within the first 1024 bytes (a simplified form of
/// the HTML prescan). A UTF-16 label found there means UTF-8, as in the HTML standard.
fn meta_charset(bytes: &[u8]) -> Option<Encoding> {
    let prefix = bytes[..bytes.len().min(1024)].to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&prefix[from..], b"<meta") {
        let start = from + pos + 5;
        let end = find(&prefix[start..], b">").map_or(prefix.len(), |e| start + e);
        let tag = &prefix[start..end];
        if let Some(c) = find(tag, b"charset") {
            let rest = &tag[c + 7..];
            let rest = trim_ascii_start(rest);
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = trim_ascii_start(rest);
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let len = rest
                    .iter()
                    .position(|b| {
                        matches!(b, b'"' | b'\'' | b';' | b'/') || b.is_ascii_whitespace()
                    })
                    .unwrap_or(rest.len());
                let label = String::from_utf8_lossy(&rest[..len]);
                return match encoding_for_label(&label) {
                    // As in browsers: a UTF-16 declaration inside ASCII-compatible bytes is wrong.
                    Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
                        Some(encoding_rs::UTF_8)
                    }
                    other => other,
                };
            }
        }
        from = start;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Decode with the given encoding (UTF-8 when unknown), dropping a matching byte-order mark.
/// Never fails: invalid input becomes U+FFFD.
fn decode(bytes: &[u8], encoding: Option<Encoding>) -> Cow<'_, str> {
    let encoding = encoding.unwrap_or(encoding_rs::UTF_8);
    let bytes = match bom_encoding(bytes) {
        Some((e, n)) if e == encoding => &bytes[n..],
        _ => bytes,
    };
    // Malformed sequences become U+FFFD, as in browsers.
    encoding.decode_without_bom_handling(bytes).0
}

// ---------------------------------------------------------------------------------------------
// Plain text
// ---------------------------------------------------------------------------------------------

/// Line endings to `\n`, trailing white space trimmed per line, runs of blank lines collapsed
/// to one, leading and trailing blank lines dropped.
fn normalize_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_pending = false;
    let mut rest = s;
    while !rest.is_empty() {
        let (line, next) = match rest.find(['\n', '\r']) {
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], &rest[i + skip..])
            }
            None => (rest, ""),
        };
        rest = next;
        let line = line.trim_end();
        if line.is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_pending {
                out.push('\n');
            }
        }
        blank_pending = false;
        out.push_str(line);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

/// Elements that start and end a paragraph.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "br"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "optgroup"
            | "option"
            | "p"
            | "search"
            | "section"
            | "select"
            | "summary"
            | "table"
            | "tbody"
            | "tfoot"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Elements that separate words without starting a paragraph.
fn is_word_separator(name: &str) -> bool {
    matches!(
        name,
        "td" | "th" | "img" | "input" | "button" | "meter" | "progress"
    )
}

/// Elements allowed in `<head>`; any other start tag implicitly ends it, as in a browser.
fn is_head_element(name: &str) -> bool {
    matches!(
        name,
        "base"
            | "basefont"
            | "bgsound"
            | "link"
            | "meta"
            | "title"
            | "style"
            | "script"
            | "noscript"
            | "template"
            | "head"
            | "html"
    )
}

/// Elements whose content is never displayed; the tokenizer reads it as raw text.
fn dropped_raw_kind(name: &str) -> Option<Next> {
    match name {
        "script" => Some(Next::Script),
        "style" | "noscript" | "iframe" | "noembed" | "noframes" => Some(Next::Rawtext),
        _ => None,
    }
}

fn html_text(source: &str, xhtml: bool) -> String {
    let mut state = HtmlState {
        xhtml,
        ..HtmlState::default()
    };
    html::tokenize(source, &mut state);
    if state.cut_sensitive {
        // The one place where the text depends on where html5ever's tokenizer cuts runs of
        // characters (white space in `<head>` after words that came before it, a page that
        // is rare and malformed): read it the way every earlier fingerprint was read.
        return html_text_reference(source, xhtml);
    }
    state.finish_paragraph();
    state.out
}

/// [`html_text`] through html5ever's tokenizer, which defined the fingerprints of every record
/// captured before exhibit had its own: kept so that tests and the `html_text` fuzz target can
/// show the two give the same text on any input. Not for other use.
#[doc(hidden)]
pub fn html_text_reference(source: &str, xhtml: bool) -> String {
    let sink = HtmlSink {
        state: RefCell::new(HtmlState {
            xhtml,
            ..HtmlState::default()
        }),
    };
    let tokenizer = Tokenizer::new(
        sink,
        TokenizerOpts {
            discard_bom: true,
            ..TokenizerOpts::default()
        },
    );
    let queue = BufferQueue::default();
    // Tendrils hold at most 4 GiB; feed in chunks split on character boundaries.
    const CHUNK: usize = 1 << 20;
    let mut rest = source;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        queue.push_back(StrTendril::from_slice(&rest[..end]));
        rest = &rest[end..];
    }
    // The sink never asks the tokenizer to pause for a script, so one feed consumes the whole
    // queue (pending lookahead, such as a trailing "<!-", moves into the tokenizer's own
    // buffer and is flushed by `end`).
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    let mut state = tokenizer.sink.state.into_inner();
    state.finish_paragraph();
    state.out
}

/// The exported form of [`html_text`], for the differential fuzz target.
#[doc(hidden)]
pub fn html_text_fast(source: &str, xhtml: bool) -> String {
    html_text(source, xhtml)
}

struct HtmlSink {
    state: RefCell<HtmlState>,
}

#[derive(Default)]
struct HtmlState {
    /// Finished paragraphs, joined by "\n\n".
    out: String,
    /// The paragraph being built, whitespace already collapsed.
    para: String,
    /// A space is due before the next visible character of this paragraph.
    pending_space: bool,
    /// Inside the raw text of a dropped element (script, style, ...).
    in_dropped_raw: bool,
    /// Open `<template>` elements.
    template_depth: u32,
    /// Inside `<head>` (explicit or not yet implicitly closed).
    in_head: bool,
    /// `<head>` is over (closed, or `<body>` or body content seen).
    head_done: bool,
    in_title: bool,
    /// Open `<pre>`-like elements, in which each line is a paragraph.
    pre_depth: u32,
    /// XHTML: honour `<x/>` self-closing syntax.
    xhtml: bool,
    /// Text reached the head's white-space rule with words already in the paragraph.
    cut_sensitive: bool,
}

impl HtmlState {
    fn visible(&self) -> bool {
        !self.in_dropped_raw && self.template_depth == 0 && (!self.in_head || self.in_title)
    }

    fn end_head(&mut self) {
        self.in_head = false;
        self.head_done = true;
    }

    fn text(&mut self, s: &str) {
        if self.in_dropped_raw || self.template_depth > 0 {
            return;
        }
        if self.in_head && !self.in_title {
            // Whether white space before the first visible character here ends up as a space
            // depends on how the tokenizer cut the text into runs, once the paragraph already
            // has words (text before `<head>`): see `html_text`.
            if !self.para.is_empty() {
                self.cut_sensitive = true;
            }
            // Text in <head> is invisible unless it is more than white space, in which case a
            // browser closes the head and shows it in the body.
            if s.chars().all(char::is_whitespace) {
                return;
            }
            self.end_head();
        }
        let visible_ascii = |b: u8| (0x21..0x7f).contains(&b);
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if visible_ascii(bytes[i]) {
                // A run of printable ASCII is copied at once: the rule below for each of its
                // characters is "push it", with the pending space before the first.
                let start = i;
                while i < bytes.len() && visible_ascii(bytes[i]) {
                    i += 1;
                }
                if self.pending_space && !self.para.is_empty() {
                    self.para.push(' ');
                }
                self.pending_space = false;
                self.para.push_str(&s[start..i]);
                continue;
            }
            let c = s[i..].chars().next().expect("at a character boundary");
            i += c.len_utf8();
            match c {
                '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' => {}
                '\n' if self.pre_depth > 0 => self.finish_paragraph(),
                c if c.is_whitespace() => self.pending_space = true,
                c if c.is_control() => {}
                c => {
                    if self.pending_space && !self.para.is_empty() {
                        self.para.push(' ');
                    }
                    self.pending_space = false;
                    self.para.push(c);
                }
            }
        }
    }

    fn finish_paragraph(&mut self) {
        if !self.para.is_empty() {
            if !self.out.is_empty() {
                self.out.push_str("\n\n");
            }
            self.out.push_str(&self.para);
            self.para.clear();
        }
        self.pending_space = false;
    }

    fn start_tag(&mut self, name: &str, self_closing: bool, attrs: &[(String, String)]) -> Next {
        // In XHTML `<script/>` is empty; in HTML the slash is ignored.
        let empty = self.xhtml && self_closing;
        match name {
            "head" if !self.head_done => {
                self.in_head = true;
                return Next::Continue;
            }
            "body" => self.end_head(),
            _ if self.in_head && !is_head_element(name) => self.end_head(),
            _ => {}
        }
        if let Some(kind) = dropped_raw_kind(name) {
            if empty {
                return Next::Continue;
            }
            self.in_dropped_raw = true;
            return kind;
        }
        match name {
            "template" => {
                if !empty {
                    self.template_depth += 1;
                }
                Next::Continue
            }
            "title" => {
                self.finish_paragraph();
                if empty {
                    return Next::Continue;
                }
                self.in_title = true;
                Next::Rcdata
            }
            "textarea" | "xmp" => {
                self.finish_paragraph();
                if empty {
                    return Next::Continue;
                }
                self.pre_depth += 1;
                if name == "textarea" {
                    Next::Rcdata
                } else {
                    Next::Rawtext
                }
            }
            "plaintext" => {
                self.finish_paragraph();
                self.pre_depth += 1;
                Next::Plaintext
            }
            "pre" | "listing" => {
                self.finish_paragraph();
                if !empty {
                    self.pre_depth += 1;
                }
                Next::Continue
            }
            "input" => {
                self.pending_space = true;
                let attr = |n: &str| attrs.iter().find(|a| a.0 == n).map(|a| a.1.as_str());
                let ty = attr("type").unwrap_or("").trim().to_ascii_lowercase();
                if matches!(ty.as_str(), "submit" | "button" | "reset") && self.visible() {
                    if let Some(value) = attr("value") {
                        self.text(value);
                        self.pending_space = true;
                    }
                }
                Next::Continue
            }
            _ => {
                self.boundary(name);
                Next::Continue
            }
        }
    }

    fn end_tag(&mut self, name: &str) {
        if dropped_raw_kind(name).is_some() {
            // The tokenizer leaves raw-text mode only at the matching end tag.
            self.in_dropped_raw = false;
            return;
        }
        match name {
            "head" => self.end_head(),
            "template" => self.template_depth = self.template_depth.saturating_sub(1),
            "title" => {
                self.in_title = false;
                self.finish_paragraph();
            }
            "textarea" | "xmp" | "pre" | "listing" => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                self.finish_paragraph();
            }
            _ => self.boundary(name),
        }
    }

    fn boundary(&mut self, name: &str) {
        if is_block(name) {
            self.finish_paragraph();
        } else if is_word_separator(name) {
            self.pending_space = true;
        }
    }
}

impl html::Sink for HtmlState {
    fn text(&mut self, s: &str) {
        HtmlState::text(self, s)
    }
    fn start_tag(&mut self, name: &str, self_closing: bool, attrs: &[(String, String)]) -> Next {
        HtmlState::start_tag(self, name, self_closing, attrs)
    }
    fn end_tag(&mut self, name: &str) {
        HtmlState::end_tag(self, name)
    }
    fn wants_attrs(&self, name: &str) -> bool {
        name == "input"
    }
}

impl TokenSink for HtmlSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => {
                    let attrs: Vec<(String, String)> = tag
                        .attrs
                        .iter()
                        .map(|a| (a.name.local.to_string(), a.value.to_string()))
                        .collect();
                    return match state.start_tag(&tag.name, tag.self_closing, &attrs) {
                        Next::Continue => TokenSinkResult::Continue,
                        Next::Rcdata => TokenSinkResult::RawData(RawKind::Rcdata),
                        Next::Rawtext => TokenSinkResult::RawData(RawKind::Rawtext),
                        Next::Script => TokenSinkResult::RawData(RawKind::ScriptData),
                        Next::Plaintext => TokenSinkResult::Plaintext,
                    };
                }
                TagKind::EndTag => state.end_tag(&tag.name),
            },
            Token::CharacterTokens(text) => state.text(&text),
            Token::EOFToken => state.finish_paragraph(),
            Token::CommentToken(_)
            | Token::DoctypeToken(_)
            | Token::NullCharacterToken
            | Token::ParseError(_) => {}
        }
        TokenSinkResult::Continue
    }
}

// ---------------------------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------------------------

/// Replace visible clock times with `[time]`, ISO date-and-times with `[timestamp]` and long
/// hex/base64-looking tokens with `[token]`. The exact rules, and what is deliberately kept
/// (dates, numbers, words), are in the module documentation. Idempotent; never touches line
/// breaks, so paragraph structure is preserved.
pub fn mask_volatile(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // text[copied..i] is still to be copied verbatim
    let mut run_end = 0; // end of a token-alphabet run already judged not a token
    let mut prev: Option<char> = None;
    let mut i = 0;
    // Every pattern needs an ASCII digit, so nothing before the token run holding the next
    // digit can be masked, and the state there is only the character before it (a run never
    // crosses the non-token byte that starts this one): jump to it. Most of a page's text is
    // passed over this way instead of byte by byte.
    let mut next_digit = 0;
    while i < b.len() {
        if next_digit < i {
            next_digit = b[i..]
                .iter()
                .position(u8::is_ascii_digit)
                .map_or(b.len(), |d| i + d);
        }
        if next_digit == b.len() {
            break;
        }
        let run_start = b[i..next_digit]
            .iter()
            .rposition(|&x| !is_token_byte(x))
            .map_or(i, |k| i + k + 1);
        if run_start > i {
            prev = text[..run_start].chars().next_back();
            i = run_start;
        }
        let c = b[i];
        if !c.is_ascii() {
            let ch = text[i..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            prev = Some(ch);
            i += ch.len_utf8();
            continue;
        }
        let standalone = !prev.is_some_and(char::is_alphanumeric);
        let mut found = None;
        if standalone && c.is_ascii_digit() {
            found = match_iso_timestamp(b, i).map(|e| (e, TIMESTAMP_PLACEHOLDER));
            if found.is_none() && !matches!(prev, Some(':' | '.')) {
                found = match_clock_time(b, i).map(|e| (e, TIME_PLACEHOLDER));
            }
        }
        if found.is_none() && i >= run_end && is_token_byte(c) {
            let end = i + b[i..].iter().take_while(|&&x| is_token_byte(x)).count();
            if !b[i..end].iter().any(u8::is_ascii_digit) {
                // Every pattern needs a digit: skip the whole run (most words) at once.
                prev = Some(char::from(b[end - 1]));
                i = end;
                run_end = end;
                continue;
            }
            let glued_after = text[end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
            if standalone && !glued_after && looks_like_token(&b[i..end]) {
                found = Some((end, TOKEN_PLACEHOLDER));
            } else {
                run_end = end;
            }
        }
        match found {
            Some((end, placeholder)) => {
                out.push_str(&text[copied..i]);
                out.push_str(placeholder);
                // Judge what follows as the next pass will see it: after the placeholder's `]`.
                prev = Some(']');
                i = end;
                copied = end;
            }
            None => {
                prev = Some(char::from(c));
                i += 1;
            }
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-')
}

/// `n` ASCII digits at `b[j..]`, as a number.
fn digits(b: &[u8], j: usize, n: usize) -> Option<u32> {
    let s = b.get(j..j + n)?;
    s.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

/// `YYYY-MM-DD` + `T`/space + `HH:MM[:SS[.frac]]` + optional `Z`/`±HH[:MM]`; end of match.
fn match_iso_timestamp(b: &[u8], i: usize) -> Option<usize> {
    digits(b, i, 4)?;
    let month = (b.get(i + 4) == Some(&b'-')).then(|| digits(b, i + 5, 2))??;
    let day = (b.get(i + 7) == Some(&b'-')).then(|| digits(b, i + 8, 2))??;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if !matches!(b.get(i + 10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let mut j = i + 11;
    let hour = digits(b, j, 2)?;
    let minute = (b.get(j + 2) == Some(&b':')).then(|| digits(b, j + 3, 2))??;
    if hour > 23 || minute > 59 {
        return None;
    }
    j += 5;
    if b.get(j) == Some(&b':') {
        if let Some(sec) = digits(b, j + 1, 2) {
            if sec <= 60 {
                j += 3;
                j = skip_fraction(b, j);
            }
        }
    }
    match b.get(j) {
        Some(b'Z' | b'z') => j += 1,
        Some(b'+' | b'-') if digits(b, j + 1, 2).is_some() => {
            j += 3;
            if b.get(j) == Some(&b':') && digits(b, j + 1, 2).is_some() {
                j += 3;
            } else if digits(b, j, 2).is_some() {
                j += 2;
            }
        }
        _ => {}
    }
    if b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(j)
}

fn skip_fraction(b: &[u8], mut j: usize) -> usize {
    if matches!(b.get(j), Some(b'.' | b',')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    j
}

/// `HH:MM`, `H:MM:SS`/`HH:MM:SS[.frac]`, or `H:MM`/`HH:MM` + am/pm; end of match.
fn match_clock_time(b: &[u8], i: usize) -> Option<usize> {
    let digit = |k: usize| {
        b.get(k)
            .filter(|d| d.is_ascii_digit())
            .map(|d| u32::from(d - b'0'))
    };
    let mut j = i;
    let mut hour = digit(j)?;
    j += 1;
    let two_digit_hour = match digit(j) {
        Some(d) => {
            hour = hour * 10 + d;
            j += 1;
            true
        }
        None => false,
    };
    if hour > 23 || b.get(j) != Some(&b':') {
        return None;
    }
    let minute = digits(b, j + 1, 2)?;
    if minute > 59 {
        return None;
    }
    j += 3;
    let mut seconds = false;
    if b.get(j) == Some(&b':') {
        if let Some(sec) = digits(b, j + 1, 2) {
            if sec <= 60 {
                seconds = true;
                j = skip_fraction(b, j + 3);
            }
        }
    }
    // Part of a longer number or a time code (12:345, 01:02:03:04): not a clock time.
    if matches!(b.get(j), Some(b':')) || b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let space = usize::from(b.get(j) == Some(&b' '));
    let meridiem = match_meridiem(b, j + space);
    if !(two_digit_hour || seconds || meridiem.is_some()) {
        return None;
    }
    Some(meridiem.unwrap_or(j))
}

/// `am`, `pm`, `a.m.`, `p.m.` (any case), not followed by a letter or digit; end of match.
fn match_meridiem(b: &[u8], j: usize) -> Option<usize> {
    let first = b.get(j)?.to_ascii_lowercase();
    if first != b'a' && first != b'p' {
        return None;
    }
    let end = if b.get(j + 1).is_some_and(|c| c.eq_ignore_ascii_case(&b'm')) {
        j + 2
    } else if b.get(j + 1) == Some(&b'.')
        && b.get(j + 2).is_some_and(|c| c.eq_ignore_ascii_case(&b'm'))
        && b.get(j + 3) == Some(&b'.')
    {
        j + 4
    } else {
        return None;
    };
    if b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(end)
}

/// Whether a run of base64-alphabet bytes is a hex- or base64-looking token.
fn looks_like_token(run: &[u8]) -> bool {
    let core = match run.iter().rposition(|&c| c != b'=') {
        Some(last) => &run[..=last],
        None => return false,
    };
    let alnum = core.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    if alnum < 16 || !core.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let has_lower = core.iter().any(u8::is_ascii_lowercase);
    let has_upper = core.iter().any(u8::is_ascii_uppercase);
    if core.iter().all(u8::is_ascii_hexdigit) && !(has_lower && has_upper) {
        return true;
    }
    if is_uuid(core) {
        return true;
    }
    if !(has_lower || has_upper) {
        return false;
    }
    let class = |c: u8| {
        if c.is_ascii_digit() {
            0
        } else if c.is_ascii_lowercase() {
            1
        } else {
            2
        }
    };
    let transitions = core
        .windows(2)
        .filter(|w| {
            w[0].is_ascii_alphanumeric()
                && w[1].is_ascii_alphanumeric()
                && class(w[0]) != class(w[1])
        })
        .count();
    transitions * 4 >= alnum
}

fn is_uuid(s: &[u8]) -> bool {
    let groups: Vec<&[u8]> = s.split(|&c| c == b'-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.iter().all(u8::is_ascii_hexdigit))
}

/// Escape text for HTML content or a quoted attribute value. Control characters other than
/// newline become spaces: they have no business in a page and some confuse renderers.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Documents larger than this get no text fingerprint: extracting text from them would cost
/// more memory than a capture should.
pub const TEXT_LIMIT: u64 = 32 << 20;

/// Worth extracting text from: text/*, HTML, XML, JSON, or untyped bytes that look like HTML.
fn worth_extracting(content_type: Option<&str>, head: &[u8]) -> bool {
    let t = content_type
        .map(|t| t.to_ascii_lowercase())
        .unwrap_or_default();
    let textual = [
        "text/",
        "html",
        "xml",
        "json",
        "javascript",
        "ecmascript",
        "yaml",
        "csv",
        "markdown",
    ];
    if textual.iter().any(|k| t.contains(k)) {
        return true;
    }
    // Untyped or generic bytes: worth a look when the first bytes have no NUL (binary formats
    // almost always do); text.rs decides for certain.
    (t.trim().is_empty() || t.starts_with("application/octet-stream"))
        && !head.iter().take(4096).any(|&b| b == 0)
}

/// The readable-text fingerprint of a staged document, when it is text-like and not huge. A
/// document kept whole while it was written ([`crate::store::DocumentWriter::keep_whole`]) is
/// read from memory, and the memory given back; a larger one is read back from its blob.
pub fn text_fingerprint(
    content_type: Option<&str>,
    staged: &mut crate::store::Staged,
) -> Option<String> {
    let whole = staged.take_whole();
    if staged.size > TEXT_LIMIT || !worth_extracting(content_type, &staged.head) {
        return None;
    }
    let read_back;
    let bytes: &[u8] = if staged.head.len() as u64 == staged.size {
        &staged.head
    } else if let Some(whole) = &whole {
        whole
    } else {
        let mut bytes = Vec::with_capacity(staged.size as usize);
        staged.read(&mut bytes).ok()?;
        read_back = bytes;
        &read_back
    };
    crate::text::extract(content_type, bytes).map(|t| crate::text::fingerprint(&t))
}

/// The text of an HTML document's `<title>`, from its first bytes: decoded in the document's
/// encoding (as [`extract`] decodes HTML), character references decoded as a browser decodes
/// them, whitespace folded, length bounded. Only for labelling: never part of a check.
pub fn html_title(content_type: Option<&str>, head: &[u8]) -> Option<String> {
    if !looks_html(content_type, head) {
        return None;
    }
    let charset = content_type.and_then(charset_param);
    let encoding = html_encoding(charset.as_deref(), head).unwrap_or(encoding_rs::UTF_8);
    // GB18030 (and GBK, decoded as it) takes ASCII digits as the second byte of its four-byte
    // sequences, so a title cut out of the bytes can end inside one that the whole decodes
    // differently: it is decoded whole, as UTF-16 is.
    let bytes_searchable = encoding.is_ascii_compatible()
        && encoding != encoding_rs::GB18030
        && encoding != encoding_rs::GBK;
    let raw = if bytes_searchable {
        // Searched in the bytes: the three markers are ASCII, and in an ASCII-compatible
        // encoding `<` and `>` are never part of a longer sequence (nor is any ASCII byte in
        // UTF-8), so the same markers are found as in the decoded text, and decoding just the
        // title gives what decoding the whole head gave there (a third of the cost of a
        // capture's title was decoding and lower-casing all 64 KiB).
        let open = find_ignoring_ascii_case(head, b"<title")?;
        let start = open + memchr::memchr(b'>', &head[open..])? + 1;
        let end = start + find_ignoring_ascii_case(&head[start..], b"</title")?;
        // Not `decode`: a byte-order mark here is a character of the title, as in the whole.
        encoding
            .decode_without_bom_handling(&head[start..end])
            .0
            .into_owned()
    } else {
        // UTF-16 (or ISO-2022-JP): the markers are not bytes of their own; GB18030: above.
        let text = decode(head, Some(encoding));
        let open = find_ignoring_ascii_case(text.as_bytes(), b"<title")?;
        let start = open + text[open..].find('>')? + 1;
        let end = start + find_ignoring_ascii_case(&text.as_bytes()[start..], b"</title")?;
        text[start..end].to_string()
    };
    tidy_title(&html::rcdata_text(&raw))
}

/// Labelled HTML, or with `<html` in its first 512 bytes.
fn looks_html(content_type: Option<&str>, head: &[u8]) -> bool {
    content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
        || head
            .iter()
            .take(512)
            .map(|b| b.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .windows(5)
            .any(|w| w == b"<html")
}

/// A title's decoded text made a label: white space folded, control characters dropped, at
/// most 300 characters.
fn tidy_title(decoded: &str) -> Option<String> {
    let folded: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    let title: String = folded
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let title = title.trim().to_string();
    (!title.is_empty()).then_some(title)
}

/// Where `needle` (ASCII, lower case, starting with `<`) first occurs in `haystack`, ASCII
/// letters matching in either case.
fn find_ignoring_ascii_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memchr_iter(needle[0], haystack).find(|&i| {
        haystack[i..]
            .get(..needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

#[cfg(test)]
mod tests {

    /// A real change in a page in an East Asian encoding must change the fingerprint: decoded
    /// as UTF-8, both versions would become the same run of replacement characters.
    #[test]
    fn shift_jis_changes_are_seen() {
        let (nine, thousand) = (
            encoding_rs::SHIFT_JIS
                .encode("保存期間：九日")
                .0
                .into_owned(),
            encoding_rs::SHIFT_JIS
                .encode("保存期間：千日")
                .0
                .into_owned(),
        );
        let t = |b: &[u8]| extract(Some("text/plain; charset=Shift_JIS"), b).unwrap();
        assert_eq!(t(&nine), "保存期間：九日");
        assert_ne!(fingerprint(&t(&nine)), fingerprint(&t(&thousand)));
        let html = |b: &[u8]| {
            let mut page = b"<html><head><meta charset=\"shift_jis\"></head><body><p>".to_vec();
            page.extend_from_slice(b);
            page.extend_from_slice(b"</p></body></html>");
            extract(Some("text/html"), &page).unwrap()
        };
        assert!(html(&thousand).contains("千日"));
    }
    use super::*;
    use proptest::prelude::*;

    /// A realistic policy page. `nonce`, `csrf`, `build`, `clock` and `extra` vary per load.
    fn policy_page(nonce: &str, csrf: &str, build: &str, clock: &str, body: &str) -> String {
        format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="csrf-token" content="{csrf}">
  <meta name="generated" content="2026-05-05T{clock}Z">
  <title>Privacy Policy &mdash; Example&nbsp;Corp</title>
  <link rel="stylesheet" href="/static/site.css?v={build}">
  <script nonce="{nonce}">window.__STATE__ = {{"csrf": "{csrf}", "t": {build}}};</script>
  <style nonce="{nonce}">body {{ font-family: sans-serif; }}</style>
</head>
<body data-build="{build}" data-rendered-at="2026-05-05T{clock}Z">
  <!-- rendered by app-server-{build} -->
  <nav class="top"><ul><li><a href="/?r={build}">Home</a></li><li><a href="/privacy">Privacy</a></li></ul></nav>
  <noscript><img src="/pixel.gif?n={nonce}" alt=""></noscript>
  <main>
    <h1>Privacy   Policy</h1>
    <p class="meta">Last updated May 5, 2026</p>
    {body}
    <form method="post" action="/newsletter?ts={build}">
      <input type="hidden" name="csrf_token" value="{csrf}">
      <input type="email" name="email" placeholder="you@example.com">
      <input type="submit" value="Subscribe">
    </form>
    <template id="row"><p>Template row {nonce}</p></template>
  </main>
  <footer><p>&copy; 2026 Example Corp &middot; <a href="/terms">Terms</a></p>
  <p class="gen">Generated at {clock} by node <span>{nonce}</span></p></footer>
  <script src="/static/app.js?v={build}" nonce="{nonce}"></script>
  <script>if (a < b && c > d) {{ document.write("</p><p>not text") }}</script>
</body>
</html>"#
        )
    }

    const BODY_V1: &str = r#"<h2>What we collect</h2>
    <p>We collect your name, email address and the pages you visit.</p>
    <h2>Retention</h2>
    <p>We keep server logs for 30 days, unless the law requires otherwise.</p>
    <div>You can ask us to delete your data at any time.</div>"#;

    fn load_a(body: &str) -> String {
        policy_page(
            "r4nd0mN0nceQ2x9Lk7Zp",
            "f8Kq2Lw9Xz3Rt6Yp1Vb5Nm7Jh4Gd0Sa",
            "1714900000123",
            "12:03:44",
            body,
        )
    }

    fn load_b(body: &str) -> String {
        policy_page(
            "Zx81kQmP03aLr7TsW9vB",
            "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV",
            "1714900987654",
            "12:07:09",
            body,
        )
    }

    fn html_text_of(page: &str) -> String {
        extract(Some("text/html; charset=utf-8"), page.as_bytes()).unwrap()
    }

    #[test]
    fn policy_page_text() {
        let text = html_text_of(&load_a(BODY_V1));
        let expected = "Privacy Policy \u{2014} Example Corp\n\n\
            Home\n\nPrivacy\n\n\
            Privacy Policy\n\n\
            Last updated May 5, 2026\n\n\
            What we collect\n\n\
            We collect your name, email address and the pages you visit.\n\n\
            Retention\n\n\
            We keep server logs for 30 days, unless the law requires otherwise.\n\n\
            You can ask us to delete your data at any time.\n\n\
            Subscribe\n\n\
            \u{a9} 2026 Example Corp \u{b7} Terms\n\n\
            Generated at [time] by node [token]";
        assert_eq!(text, expected);
    }

    #[test]
    fn noise_only_loads_have_identical_fingerprints() {
        let (a, b) = (load_a(BODY_V1), load_b(BODY_V1));
        assert_ne!(a, b, "the two loads differ byte for byte");
        let (ta, tb) = (html_text_of(&a), html_text_of(&b));
        assert_eq!(ta, tb);
        assert_eq!(fingerprint(&ta), fingerprint(&tb));
        // Without masking, the visible clock time and the visible nonce differ.
        let raw = ExtractOptions {
            mask_volatile: false,
        };
        let ra = extract_with(Some("text/html"), a.as_bytes(), &raw).unwrap();
        let rb = extract_with(Some("text/html"), b.as_bytes(), &raw).unwrap();
        assert_ne!(ra, rb);
        assert!(ra.contains("Generated at 12:03:44 by node r4nd0mN0nceQ2x9Lk7Zp"));
    }

    #[test]
    fn real_changes_change_the_fingerprint() {
        let base = fingerprint(&html_text_of(&load_a(BODY_V1)));
        let variants = [
            BODY_V1.replace("30 days", "60 days"),
            BODY_V1.replace(", unless the law requires otherwise", ""),
            BODY_V1.replace(
                "at any time.</div>",
                "at any time.</div>\n<p>We never sell your data.</p>",
            ),
        ];
        for v in &variants {
            assert_ne!(fingerprint(&html_text_of(&load_b(v))), base, "{v}");
        }
    }

    #[test]
    fn dates_are_not_masked() {
        for s in [
            "Last updated May 5, 2026",
            "Effective 2026-05-05",
            "Keep logs for 30 days",
            "Version 2.10.3",
            "See John 3:16 and aspect ratio 16:9",
            "guidelines2021 x86_64-unknown-linux-gnu /docs/v2/privacy-policy",
            "internationalization localization",
            "1-800-555-0100-1234-5678",
        ] {
            assert_eq!(mask_volatile(s), s);
        }
    }

    /// `mask_volatile` before it skipped to the next digit: what it must still equal.
    #[allow(clippy::all)]
    fn mask_volatile_byte_by_byte(text: &str) -> String {
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0; // text[copied..i] is still to be copied verbatim
        let mut run_end = 0; // end of a token-alphabet run already judged not a token
        let mut prev: Option<char> = None;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !c.is_ascii() {
                let ch = text[i..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                prev = Some(ch);
                i += ch.len_utf8();
                continue;
            }
            let standalone = !prev.is_some_and(char::is_alphanumeric);
            let mut found = None;
            if standalone && c.is_ascii_digit() {
                found = match_iso_timestamp(b, i).map(|e| (e, TIMESTAMP_PLACEHOLDER));
                if found.is_none() && !matches!(prev, Some(':' | '.')) {
                    found = match_clock_time(b, i).map(|e| (e, TIME_PLACEHOLDER));
                }
            }
            if found.is_none() && i >= run_end && is_token_byte(c) {
                let end = i + b[i..].iter().take_while(|&&x| is_token_byte(x)).count();
                if !b[i..end].iter().any(u8::is_ascii_digit) {
                    // Every pattern needs a digit: skip the whole run (most words) at once.
                    prev = Some(char::from(b[end - 1]));
                    i = end;
                    run_end = end;
                    continue;
                }
                let glued_after = text[end..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric);
                if standalone && !glued_after && looks_like_token(&b[i..end]) {
                    found = Some((end, TOKEN_PLACEHOLDER));
                } else {
                    run_end = end;
                }
            }
            match found {
                Some((end, placeholder)) => {
                    out.push_str(&text[copied..i]);
                    out.push_str(placeholder);
                    // Judge what follows as the next pass will see it: after the placeholder's `]`.
                    prev = Some(']');
                    i = end;
                    copied = end;
                }
                None => {
                    prev = Some(char::from(c));
                    i += 1;
                }
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    proptest::proptest! {
        /// Skipping to the next digit's run changes nothing: the masked text is the one the
        /// byte-by-byte reading gives (fingerprints in signed records depend on it).
        #[test]
        fn masking_skips_nothing_it_would_mask(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "2026-05-21T05:07:28Z", "2026-05-21 05:07", "12:03", "9:03 pm", "9:03:07.123",
                "+01:00", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY==",
                "0", "1", "9", "12", ":", ".", "-", "+", "/", "=", "_", "T", "Z", "z", "am", "PM",
                " ", "\n", "é", "٣", "ß", "\u{2009}", "x", "word", "abc", "]", "[", ",", "t",
            ]), 0..40),
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(mask_volatile(&text), mask_volatile_byte_by_byte(&text));
        }

        #[test]
        fn masking_skips_nothing_it_would_mask_in_any_text(text in "\\PC{0,200}") {
            proptest::prop_assert_eq!(mask_volatile(&text), mask_volatile_byte_by_byte(&text));
        }
    }

    #[test]
    fn masking_rules() {
        let cases = [
            ("Generated at 12:03:44", "Generated at [time]"),
            ("at 12:03 today", "at [time] today"),
            ("at 9:03 pm.", "at [time]."),
            ("at 9:03:07.123Z", "at [time]Z"),
            ("at 9:03 on", "at 9:03 on"),
            ("(12:03)", "([time])"),
            (
                "Rendered 2026-05-05T12:03:44.5+02:00 ok",
                "Rendered [timestamp] ok",
            ),
            ("Rendered 2026-05-05 12:03 UTC", "Rendered [timestamp] UTC"),
            ("req 3f9a8b7c6d5e4f3a2b1c done", "req [token] done"),
            ("id 550e8400-e29b-41d4-a716-446655440000.", "id [token]."),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
                "jwt [token].[token]",
            ),
            ("csrf f8Kq2Lw9Xz3Rt6Yp1Vb5Nm7Jh4Gd0Sa==", "csrf [token]"),
            ("order 1234567890123456789", "order [token]"),
            ("short a1b2c3d4", "short a1b2c3d4"),
            ("12:03:44:55 timecode", "12:03:44:55 timecode"),
            ("caf\u{e9}3f9a8b7c6d5e4f3a2b", "caf\u{e9}3f9a8b7c6d5e4f3a2b"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_volatile(input), want, "{input}");
            assert_eq!(mask_volatile(want), want, "idempotent on {want}");
        }
    }

    #[test]
    fn html_structure() {
        let html = "<p>Hello <b>wor</b>ld<br>next&amp;line</p><table><tr><td>a</td><td>b</td></tr>\
                    <tr><td>c</td></tr></table><ul><li>one<li>two</ul>\
                    <pre>fn main() {\n    x   y\n}</pre><p>caf&eacute;&nbsp;&nbsp;bar\u{ad}baz</p>";
        assert_eq!(
            extract(Some("text/html"), html.as_bytes()).unwrap(),
            "Hello world\n\nnext&line\n\na b\n\nc\n\none\n\ntwo\n\nfn main() {\n\nx y\n\n}\n\ncaf\u{e9} barbaz"
        );
    }

    #[test]
    fn head_text_and_implicit_head() {
        // No explicit <head>: title still kept, meta ignored, stray text in head shown.
        let html = "<title>T</title><meta name=x content=y><link rel=x href=y>Body text";
        assert_eq!(
            extract(Some("text/html"), html.as_bytes()).unwrap(),
            "T\n\nBody text"
        );
        let html = "<html><head><title>T</title> \n <base href=/>\n</head><body><p>B";
        assert_eq!(
            extract(Some("text/html"), html.as_bytes()).unwrap(),
            "T\n\nB"
        );
    }

    #[test]
    fn input_ending_mid_construct() {
        for (html, want) in [
            ("<p>a<!-", "a"),
            ("<p>a &am", "a &am"),
            ("<p>a &amp", "a &"),
            ("<p>a</", "a</"),
            ("<p>a<!DOCTY", "a"),
            ("<p>a<scr", "a"),
            ("<p>a<script>x", "a"),
            ("<p>a<title>t", "a\n\nt"),
        ] {
            assert_eq!(
                extract(Some("text/html"), html.as_bytes()).unwrap(),
                want,
                "{html}"
            );
        }
    }

    #[test]
    fn xhtml_self_closing() {
        let x = r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>
            <title>X</title><script src="a.js"/></head><body><p>Shown</p></body></html>"#;
        assert_eq!(
            extract(Some("application/xhtml+xml"), x.as_bytes()).unwrap(),
            "X\n\nShown"
        );
    }

    #[test]
    fn content_types_and_sniffing() {
        assert_eq!(extract(Some("image/png"), b"hello"), None);
        assert_eq!(extract(Some("application/pdf"), b"%PDF-1.7 text"), None);
        assert_eq!(extract(None, b"%PDF-1.7\n1 0 obj"), None);
        assert_eq!(extract(None, b"\x89PNG\r\n\x1a\n\0\0"), None);
        assert_eq!(extract(None, b"\0\x01\x02binary"), None);
        assert_eq!(
            extract(None, b"  <!DOCTYPE html><p>Hi<script>x</script>").as_deref(),
            Some("Hi")
        );
        assert_eq!(
            extract(Some("application/octet-stream"), b"<HTML>\n<p>Hi").as_deref(),
            Some("Hi")
        );
        assert_eq!(
            extract(None, b"plain <p>text</p>").as_deref(),
            Some("plain <p>text</p>")
        );
        assert_eq!(
            extract(Some("text/plain"), b"<html><p>x").as_deref(),
            Some("<html><p>x")
        );
        assert_eq!(
            extract(Some("application/ld+json"), b"{\"a\": 1}").as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(
            extract(Some("Application/XML; charset=UTF-8"), b"<a>1</a>").as_deref(),
            Some("<a>1</a>")
        );
    }

    #[test]
    fn plain_text_normalization() {
        let t = "\r\n\r\n  first line  \r\nsecond\t\r\n\r\n\r\n\n   \nthird\rfourth\n\n\n";
        assert_eq!(
            extract(Some("text/plain"), t.as_bytes()).unwrap(),
            "  first line\nsecond\n\nthird\nfourth"
        );
        let json = b"{\n  \"generated\": \"2026-05-05T12:03:44Z\",\n  \"days\": 30\n}\n";
        assert_eq!(
            extract(Some("application/json"), json).unwrap(),
            "{\n  \"generated\": \"[timestamp]\",\n  \"days\": 30\n}"
        );
    }

    #[test]
    fn encodings() {
        // windows-1252 declared in the header, in a meta tag, and ISO-8859-1 in the header.
        let body = b"<p>caf\xe9 \x93quoted\x94 \x80 5</p>";
        let want = "caf\u{e9} \u{201c}quoted\u{201d} \u{20ac} 5";
        assert_eq!(
            extract(Some("text/html; charset=windows-1252"), body).unwrap(),
            want
        );
        let mut meta =
            b"<meta http-equiv=Content-Type content='text/html; charset=ISO-8859-1'>".to_vec();
        meta.extend_from_slice(body);
        assert_eq!(extract(Some("text/html"), &meta).unwrap(), want);
        assert_eq!(
            extract(Some("text/plain; charset=\"latin1\""), b"caf\xe9").unwrap(),
            "caf\u{e9}"
        );
        // UTF-16 with a byte-order mark, and UTF-8 BOM.
        let mut u16 = vec![0xFF, 0xFE];
        for unit in "<p>h\u{e9}llo</p>".encode_utf16() {
            u16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(extract(Some("text/html"), &u16).unwrap(), "h\u{e9}llo");
        assert_eq!(extract(None, &u16).unwrap(), "h\u{e9}llo");
        assert_eq!(
            extract(Some("text/plain"), b"\xEF\xBB\xBFhi\xFF").unwrap(),
            "hi\u{FFFD}"
        );
    }

    #[test]
    fn fingerprint_format() {
        assert_eq!(
            fingerprint(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn large_page_is_fast_enough() {
        // ~100 KB page; the time budget here is generous because tests run unoptimized.
        let mut page = load_a(BODY_V1);
        while page.len() < 100_000 {
            page.push_str("<div class=row><p>Item <b>text</b> with <a href='/x?v=123'>link</a> and 12:03 data-x</p><script>var t=1;</script></div>\n");
        }
        let start = std::time::Instant::now();
        let text = extract(Some("text/html"), page.as_bytes()).unwrap();
        let elapsed = start.elapsed();
        assert!(text.len() < page.len());
        assert!(elapsed.as_secs() < 5, "{elapsed:?}");
    }

    /// `html_title`'s search as it was written first: decode the whole head, lower-case it,
    /// search.
    fn html_title_decoding_everything(content_type: Option<&str>, head: &[u8]) -> Option<String> {
        if !looks_html(content_type, head) {
            return None;
        }
        let charset = content_type.and_then(charset_param);
        let text = decode(head, html_encoding(charset.as_deref(), head));
        let lower = text.to_ascii_lowercase();
        let open = lower.find("<title")?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find("</title")?;
        tidy_title(&html::rcdata_text(&text[start..end]))
    }

    fn title(content_type: &str, head: &[u8]) -> Option<String> {
        html_title(Some(content_type), head)
    }

    /// Every character reference of the HTML standard, as a browser's `document.title` reads
    /// it; before, only seven spellings were decoded.
    #[test]
    fn title_character_references_are_decoded_as_html_does() {
        let t = |inner: &str| title("text/html", format!("<title>{inner}</title>").as_bytes());
        assert_eq!(
            t("Caf&eacute; &mdash; &hellip; &copy;&nbsp;2026 &frac12; &NotEqualTilde;"),
            Some("Caf\u{e9} \u{2014} \u{2026} \u{a9} 2026 \u{bd} \u{2242}\u{338}".into())
        );
        assert_eq!(
            t("&#x2014;&#8212;&#X41;&#65"),
            Some("\u{2014}\u{2014}AA".into())
        );
        // 0, surrogates and values past U+10FFFF are U+FFFD; 0x80-0x9F are windows-1252.
        assert_eq!(
            t("a&#0;b&#xD800;c&#x110000;d&#99999999999;e&#128;&#x92;"),
            Some("a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{20ac}\u{2019}".into())
        );
        // Decoded once: `&amp;lt;` is the text `&lt;`; legacy names need no `;`; an unknown
        // name, or `&` alone, stays as written.
        assert_eq!(
            t("&amp;lt; &ampx &notit; &bogus; & x"),
            Some("&lt; &x \u{ac}it; &bogus; & x".into())
        );
        // Tags are text inside a title.
        assert_eq!(
            t("<b>Terms</b> &lt;draft&gt;"),
            Some("<b>Terms</b> <draft>".into())
        );
        // A character reference cannot smuggle a control character into the label.
        assert_eq!(t("a&#x1b;[2Jb&#7;c"), Some("a[2Jbc".into()));
    }

    /// The title is read in the document's encoding: the content type's charset, else a
    /// `<meta>` declaration, else UTF-8 with U+FFFD for what is not; before, always UTF-8.
    #[test]
    fn title_is_decoded_in_the_documents_encoding() {
        let latin = b"<html><title>Caf\xe9 \x96 \x80</title>";
        assert_eq!(
            title("text/html; charset=windows-1252", latin),
            Some("Caf\u{e9} \u{2013} \u{20ac}".into())
        );
        // iso-8859-1 means windows-1252, as in browsers.
        assert_eq!(
            title("text/html; charset=\"ISO-8859-1\"", latin),
            Some("Caf\u{e9} \u{2013} \u{20ac}".into())
        );
        let meta = b"<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title>";
        assert_eq!(title("text/html", meta), Some("Caf\u{e9}".into()));
        let equiv = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-2\"><title>\xa3\xf3d\xbc</title>";
        assert_eq!(
            title("text/html", equiv),
            Some("\u{141}\u{f3}d\u{17a}".into())
        );
        // The content type's charset wins over a <meta>.
        let utf8_meta_latin = "<html><meta charset=windows-1252><title>Café</title>".as_bytes();
        assert_eq!(
            title("text/html; charset=utf-8", utf8_meta_latin),
            Some("Caf\u{e9}".into())
        );
        // No declaration: UTF-8, invalid bytes U+FFFD.
        assert_eq!(
            title("text/html", latin),
            Some("Caf\u{fffd} \u{fffd} \u{fffd}".into())
        );
        // Shift_JIS: its two-byte characters include bytes that look like ASCII letters.
        let mut sjis = b"<html><title>".to_vec();
        sjis.extend_from_slice(&encoding_rs::SHIFT_JIS.encode("利用規約 &amp; ソ").0);
        sjis.extend_from_slice(b"</title>");
        assert_eq!(
            title("text/html; charset=Shift_JIS", &sjis),
            Some("利用規約 & ソ".into())
        );
        // UTF-16, by its byte-order mark or by the content type.
        let utf16: Vec<u8> = "<html><title>Caf\u{e9} &amp; co</title>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let with_bom = [&[0xff, 0xfe][..], &utf16].concat();
        assert_eq!(title("text/html", &with_bom), Some("Caf\u{e9} & co".into()));
        assert_eq!(
            title("text/html; charset=utf-16le", &utf16),
            Some("Caf\u{e9} & co".into())
        );
    }

    /// The length cap and the control-character rule are unchanged.
    #[test]
    fn title_is_still_folded_and_capped() {
        let long = format!("<title>\t a\u{7}\n\r b {} </title>", "x".repeat(400));
        let got = title("text/html", long.as_bytes()).unwrap();
        assert!(got.starts_with("a b xxx"), "{got}");
        assert_eq!(got.chars().count(), 300);
        assert_eq!(title("text/html", b"<title> &#32;&nbsp; </title>"), None);
        assert_eq!(title("text/plain", b"<title>x</title>"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn extract_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            ct in proptest::option::of(prop_oneof![
                Just("text/html".to_string()),
                Just("application/xhtml+xml".to_string()),
                Just("text/plain; charset=utf-16be".to_string()),
                Just("text/html; charset=windows-1252".to_string()),
                Just("application/json".to_string()),
                Just("image/png".to_string()),
                ".{0,40}",
            ]),
        ) {
            let opts = ExtractOptions { mask_volatile: false };
            let _ = extract(ct.as_deref(), &bytes);
            let _ = extract_with(ct.as_deref(), &bytes, &opts);
        }

        #[test]
        fn extract_never_panics_on_tag_soup(
            parts in proptest::collection::vec(prop_oneof![
                Just("<script>"), Just("</script>"), Just("<style>"), Just("<head>"),
                Just("</head>"), Just("<title>"), Just("</title>"), Just("<template>"),
                Just("</template>"), Just("<pre>"), Just("</pre>"), Just("<p>"), Just("<br/>"),
                Just("<!--"), Just("-->"), Just("&amp;"), Just("&#x0;"), Just("<plaintext>"),
                Just("<textarea>"), Just("<noscript>"), Just("<input type=submit value=Go>"),
                Just(" 12:03:44 "), Just("2026-05-05T12:03"), Just("a1B2c3D4e5F6g7H8"),
                Just("text"), Just("\n"), Just("\u{e9}"), Just("<"), Just(">"),
            ], 0..64),
        ) {
            let html = parts.concat();
            let text = extract(Some("text/html"), html.as_bytes()).unwrap();
            prop_assert!(!text.contains("\n\n\n"));
            prop_assert_eq!(text.trim(), text.as_str());
            prop_assert_eq!(mask_volatile(&text), text.clone());
        }

        /// The title found in the bytes is the title the decoded text gave, invalid UTF-8,
        /// markers in any case and look-alikes included.
        #[test]
        fn html_title_is_found_as_in_the_decoded_text(
            parts in proptest::collection::vec(prop_oneof![
                Just(b"<title>".to_vec()), Just(b"</title>".to_vec()), Just(b"<TiTlE x='>'>".to_vec()),
                Just(b"</TITLE >".to_vec()), Just(b"<title".to_vec()), Just(b"</titl".to_vec()),
                Just(b"<html>".to_vec()), Just(b"&amp;&lt;&nbsp;".to_vec()), Just(b" \n\t".to_vec()),
                Just(b"<".to_vec()), Just(b">".to_vec()), Just(b"\xff".to_vec()), Just(b"\xe2\x82".to_vec()),
                Just("\u{e9}\u{130}\u{212a}".as_bytes().to_vec()), Just(b"\0\x07".to_vec()),
                Just(b"<meta charset=shift_jis>".to_vec()), Just(b"<meta charset=gb18030>".to_vec()),
                Just(b"\x81<\x82>\x83\x30\x84".to_vec()), Just(b"&#x80;&eacute;&#0;\r\n".to_vec()),
                Just(b"\xef\xbb\xbf".to_vec()), Just(b"\xff\xfe".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..6),
            ], 0..24),
            ct in proptest::option::of(prop_oneof![
                Just("text/html"), Just("text/plain"), Just("text/html; charset=windows-1252"),
                Just("text/html; charset=euc-kr"), Just("text/html; charset=big5"),
                Just("text/html; charset=utf-16be"),
            ]),
        ) {
            let head = parts.concat();
            prop_assert_eq!(html_title(ct, &head), html_title_decoding_everything(ct, &head));
        }

        #[test]
        fn masking_is_idempotent(s in "[0-9a-fA-Z:T .+/=_-]{0,60}") {
            let once = mask_volatile(&s);
            prop_assert_eq!(mask_volatile(&once), once);
        }
    }
}
