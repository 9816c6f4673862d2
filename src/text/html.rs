//! The HTML tokenizer behind the text fingerprint: the WHATWG tokenizer's states, reduced to
//! what the fingerprint reads (character data, tag names, the attributes of the tags the sink
//! asks for) and written over bytes.
//!
//! Why our own: html5ever's tokenizer builds every tag name, attribute name and value one
//! character at a time, which made it a third of the CPU of a capture. This one borrows runs of
//! text straight from the input and does not build attributes nobody reads.
//!
//! The contract is *the same text as html5ever's tokenizer* (version 0.40, which defined the
//! fingerprints of every record so far): [`super::html_text_reference`] keeps that path, and
//! the property tests, the unit tests on malformed markup and the `html_text` fuzz target
//! compare the two on every input they make. Where html5ever departs from the standard in a
//! way that can change the text, this file follows html5ever and says so.
//!
//! Pure: no I/O.

use std::borrow::Cow;

/// How the tokenizer reads what follows a start tag, as the sink decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Continue,
    /// RCDATA: character references decoded, only the matching end tag ends it.
    Rcdata,
    /// RAWTEXT: as RCDATA without character references.
    Rawtext,
    /// Script data, with its escape states (`<!--` ... `-->` inside a script).
    Script,
    /// Everything to the end is text.
    Plaintext,
}

/// Receives what the fingerprint needs from the tokenizer.
pub(super) trait Sink {
    fn text(&mut self, s: &str);
    fn start_tag(&mut self, name: &str, self_closing: bool, attrs: &[(String, String)]) -> Next;
    fn end_tag(&mut self, name: &str);
    /// Whether the attributes of a start tag of this name are read (decoded and passed on).
    fn wants_attrs(&self, name: &str) -> bool;
}

/// Tokenizes `source`, a whole document, into `sink`.
pub(super) fn tokenize(source: &str, sink: &mut impl Sink) {
    // Preprocessing: CR LF and lone CR become LF; a leading byte-order mark is dropped (as
    // html5ever's `discard_bom`).
    let normalized: Cow<'_, str> = if source.as_bytes().contains(&b'\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    };
    let s = normalized.strip_prefix('\u{feff}').unwrap_or(&normalized);
    Tokenizer {
        s,
        b: s.as_bytes(),
        attrs: Vec::new(),
    }
    .run(sink);
}

/// The text of RCDATA content that holds no end tag (a `<title>`'s, cut before its `</title`),
/// as a browser reads it: every character reference of the HTML standard decoded (the named
/// ones, and numeric ones with 0, surrogates and values past U+10FFFF read as U+FFFD and
/// 0x80-0x9F as windows-1252), CR LF and CR as LF, NUL as U+FFFD.
pub(super) fn rcdata_text(source: &str) -> String {
    struct Collect(String);
    impl Sink for Collect {
        fn text(&mut self, s: &str) {
            self.0.push_str(s);
        }
        fn start_tag(&mut self, _: &str, _: bool, _: &[(String, String)]) -> Next {
            Next::Continue
        }
        fn end_tag(&mut self, _: &str) {}
        fn wants_attrs(&self, _: &str) -> bool {
            false
        }
    }
    let normalized: Cow<'_, str> = if source.as_bytes().contains(&b'\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    };
    let mut out = Collect(String::with_capacity(normalized.len()));
    let mut tokenizer = Tokenizer {
        s: &normalized,
        b: normalized.as_bytes(),
        attrs: Vec::new(),
    };
    // Reads to the end of the input: it holds no end tag of the element (if it did, the text
    // after it would be lost, not misread).
    tokenizer.raw_text(0, "title", true, &mut out);
    out.0
}

struct Tokenizer<'a> {
    s: &'a str,
    b: &'a [u8],
    /// Attributes of the tag being read, when the sink wants them (reused between tags).
    attrs: Vec<(String, String)>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0C' | b' ')
}

/// A tag name or attribute name as the tokenizer builds it: ASCII upper case lowered, NUL
/// replaced; other characters kept.
fn lowered(raw: &str) -> Cow<'_, str> {
    if raw.bytes().any(|c| c.is_ascii_uppercase() || c == 0) {
        Cow::Owned(
            raw.chars()
                .map(|c| match c {
                    '\0' => '\u{fffd}',
                    c => c.to_ascii_lowercase(),
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

/// What a character reference decodes to, and where reading goes on.
enum CharRef {
    /// Not a reference: the `&` stands for itself and reading goes on right after it.
    NotOne,
    Decoded([char; 2], usize, usize),
}

impl<'a> Tokenizer<'a> {
    fn run(&mut self, sink: &mut impl Sink) {
        let mut i = 0;
        while i < self.b.len() {
            i = self.data(i, sink);
        }
    }

    /// Emits `s[from..to]` as text, if not empty.
    fn text(&self, from: usize, to: usize, sink: &mut impl Sink) {
        if from < to {
            sink.text(&self.s[from..to]);
        }
    }

    /// The data state, from `i`; returns where the next call starts (the end at EOF).
    fn data(&mut self, mut i: usize, sink: &mut impl Sink) -> usize {
        let b = self.b;
        loop {
            let Some(k) = memchr::memchr3(b'<', b'&', 0, &b[i..]).map(|k| i + k) else {
                self.text(i, b.len(), sink);
                return b.len();
            };
            self.text(i, k, sink);
            match b[k] {
                // html5ever hands a NUL in data to the sink as a null-character token, which the
                // fingerprint ignores.
                0 => i = k + 1,
                b'&' => i = self.char_ref_in_text(k + 1, sink),
                _ => return self.tag_open(k + 1, sink),
            }
        }
    }

    fn char_ref_in_text(&self, i: usize, sink: &mut impl Sink) -> usize {
        match self.char_ref(i, false) {
            CharRef::NotOne => {
                sink.text("&");
                i
            }
            CharRef::Decoded(chars, n, next) => {
                let mut buf = [0u8; 8];
                let mut len = 0;
                for c in &chars[..n] {
                    len += c.encode_utf8(&mut buf[len..]).len();
                }
                sink.text(std::str::from_utf8(&buf[..len]).expect("encoded chars"));
                next
            }
        }
    }

    /// A character reference whose `&` was just read; `i` is the position after it.
    fn char_ref(&self, i: usize, in_attribute: bool) -> CharRef {
        let b = self.b;
        match b.get(i) {
            Some(c) if c.is_ascii_alphanumeric() => self.named_ref(i, in_attribute),
            Some(b'#') => self.numeric_ref(i + 1),
            _ => CharRef::NotOne,
        }
    }

    fn named_ref(&self, i: usize, in_attribute: bool) -> CharRef {
        let b = self.b;
        let mut best: Option<((u32, u32), usize)> = None;
        let mut k = i;
        // The longest name in the table that the input starts with (the table holds every
        // prefix of every name, with (0, 0) for those that are not names themselves).
        while k < b.len() && b[k].is_ascii() {
            match html5ever::data::NAMED_ENTITIES.get(&self.s[i..=k]) {
                Some(&m) => {
                    if m.0 != 0 {
                        best = Some((m, k + 1));
                    }
                    k += 1;
                }
                None => break,
            }
        }
        let Some(((c1, c2), end)) = best else {
            return CharRef::NotOne;
        };
        if b[end - 1] != b';' && in_attribute {
            // Legacy names without `;` stay literal in attributes before `=` or an
            // alphanumeric (so `?a=1&copy=2` keeps its `&copy`).
            if let Some(&next) = b.get(end) {
                if next == b'=' || next.is_ascii_alphanumeric() {
                    return CharRef::NotOne;
                }
            }
        }
        let first = char::from_u32(c1).expect("entity table");
        match char::from_u32(c2) {
            Some(second) if c2 != 0 => CharRef::Decoded([first, second], 2, end),
            _ => CharRef::Decoded([first, '\0'], 1, end),
        }
    }

    /// `i` is after `&#`.
    fn numeric_ref(&self, i: usize) -> CharRef {
        let b = self.b;
        let (base, mut k) = match b.get(i) {
            Some(b'x' | b'X') => (16, i + 1),
            _ => (10, i),
        };
        let mut num: u32 = 0;
        let mut too_big = false;
        let start = k;
        while let Some(d) = b.get(k).and_then(|&c| (c as char).to_digit(base)) {
            num = num.wrapping_mul(base);
            if num > 0x10FFFF {
                too_big = true;
            }
            num = num.wrapping_add(d);
            k += 1;
        }
        if k == start {
            return CharRef::NotOne;
        }
        if b.get(k) == Some(&b';') {
            k += 1;
        }
        let c = match num {
            n if n > 0x10FFFF || too_big => '\u{fffd}',
            0 | 0xD800..=0xDFFF => '\u{fffd}',
            0x80..=0x9F => html5ever::data::C1_REPLACEMENTS[(num - 0x80) as usize]
                .unwrap_or_else(|| char::from_u32(num).expect("C1 control")),
            n => char::from_u32(n).expect("checked range"),
        };
        CharRef::Decoded([c, '\0'], 1, k)
    }

    /// After `<` in data.
    fn tag_open(&mut self, i: usize, sink: &mut impl Sink) -> usize {
        let b = self.b;
        match b.get(i) {
            None => {
                sink.text("<");
                b.len()
            }
            Some(b'!') => self.markup_declaration(i + 1),
            Some(b'/') => match b.get(i + 1) {
                None => {
                    sink.text("</");
                    b.len()
                }
                Some(c) if c.is_ascii_alphabetic() => self.tag(i + 1, false, sink),
                Some(b'>') => i + 2,
                Some(_) => bogus_comment(b, i + 1),
            },
            Some(c) if c.is_ascii_alphabetic() => self.tag(i, true, sink),
            Some(b'?') => bogus_comment(b, i),
            Some(_) => {
                sink.text("<");
                i
            }
        }
    }

    /// After `<!`.
    fn markup_declaration(&self, i: usize) -> usize {
        let b = self.b;
        let rest = &b[i..];
        if rest.starts_with(b"--") {
            comment(b, i + 2)
        } else if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"doctype") {
            // Every DOCTYPE state ends at the first `>`.
            memchr::memchr(b'>', &b[i + 7..]).map_or(b.len(), |k| i + 7 + k + 1)
        } else {
            // `<![CDATA[` too: the tokenizer alone is never in foreign content.
            bogus_comment(b, i)
        }
    }

    /// A tag whose name starts at `i`: reads it to its `>`, hands it to the sink, and goes on
    /// in the state the sink asks for. A tag cut off by the end of input is dropped.
    fn tag(&mut self, i: usize, start: bool, sink: &mut impl Sink) -> usize {
        let (s, b) = (self.s, self.b);
        let mut k = i;
        while k < b.len() && !is_space(b[k]) && b[k] != b'/' && b[k] != b'>' {
            k += 1;
        }
        if k == b.len() {
            return k;
        }
        let name = lowered(&s[i..k]);
        let want = start && sink.wants_attrs(&name);
        self.attrs.clear();
        let Some((self_closing, next)) = self.attributes(k, want) else {
            return b.len();
        };
        if !start {
            sink.end_tag(&name);
            return next;
        }
        let attrs = std::mem::take(&mut self.attrs);
        let mode = sink.start_tag(&name, self_closing, &attrs);
        self.attrs = attrs;
        match mode {
            Next::Continue => next,
            Next::Plaintext => {
                self.plaintext(next, sink);
                b.len()
            }
            Next::Rcdata | Next::Rawtext => self.raw_text(next, &name, mode == Next::Rcdata, sink),
            Next::Script => self.script(next, &name, sink),
        }
    }

    /// The attribute states, from right after the tag name up to and including the `>`.
    /// Returns whether the tag is self-closing and where reading goes on, or `None` at the end
    /// of input. Attributes are collected into `self.attrs` only when `want`.
    fn attributes(&mut self, mut k: usize, want: bool) -> Option<(bool, usize)> {
        let b = self.b;
        loop {
            // Before attribute name (also after a value and after a stray `/`).
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            match *b.get(k)? {
                b'>' => return Some((false, k + 1)),
                b'/' => {
                    match *b.get(k + 1)? {
                        b'>' => return Some((true, k + 2)),
                        _ => k += 1,
                    }
                    continue;
                }
                _ => {}
            }
            // Attribute name: its first character may be anything but space, `/` and `>`
            // (even `=`).
            let name_start = k;
            k += 1;
            while k < b.len()
                && !matches!(b[k], b'\t' | b'\n' | b'\x0C' | b' ' | b'/' | b'>' | b'=')
            {
                k += 1;
            }
            let name_end = k;
            // After attribute name.
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            if b.get(k) != Some(&b'=') {
                if want {
                    let name = lowered(&self.s[name_start..name_end]).into_owned();
                    self.attrs.push((name, String::new()));
                }
                // `/`, `>`, the end, or the start of the next attribute: the loop reads them.
                if k == b.len() {
                    return None;
                }
                continue;
            }
            k += 1;
            // Before attribute value.
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            let mut value = String::new();
            match *b.get(k)? {
                b'>' => {
                    if want {
                        let name = lowered(&self.s[name_start..name_end]).into_owned();
                        self.attrs.push((name, value));
                    }
                    return Some((false, k + 1));
                }
                // Most values are quoted and nobody reads them: one memchr to the quote.
                q @ (b'"' | b'\'') if !want => {
                    k += 1 + memchr::memchr(q, &b[k + 1..])?;
                    k += 1; // the closing quote
                }
                q @ (b'"' | b'\'') => {
                    k = self.value(k + 1, want, &mut value, |c| c == q)?;
                    k += 1; // the closing quote
                }
                _ => {
                    k = self.value(k, want, &mut value, |c| is_space(c) || c == b'>')?;
                }
            }
            if want {
                let name = lowered(&self.s[name_start..name_end]).into_owned();
                self.attrs.push((name, value));
            }
            // After a quoted value anything may follow: a `/`, `>` and space are read by the
            // loop, anything else starts the next attribute (a parse error, same effect).
        }
    }

    /// An attribute value from `k` up to (not including) the byte `end` accepts; decoded into
    /// `value` when `want`. `None` at the end of input.
    fn value(
        &self,
        mut k: usize,
        want: bool,
        value: &mut String,
        end: impl Fn(u8) -> bool,
    ) -> Option<usize> {
        let b = self.b;
        if !want {
            // Character references cannot hide the end: they never consume it.
            while k < b.len() && !end(b[k]) {
                k += 1;
            }
            return (k < b.len()).then_some(k);
        }
        let mut run = k;
        while k < b.len() && !end(b[k]) {
            match b[k] {
                b'&' => {
                    value.push_str(&self.s[run..k]);
                    match self.char_ref(k + 1, true) {
                        CharRef::NotOne => {
                            value.push('&');
                            k += 1;
                        }
                        CharRef::Decoded(chars, n, next) => {
                            value.extend(&chars[..n]);
                            k = next;
                        }
                    }
                    run = k;
                }
                0 => {
                    value.push_str(&self.s[run..k]);
                    value.push('\u{fffd}');
                    k += 1;
                    run = k;
                }
                _ => k += 1,
            }
        }
        if k == b.len() {
            return None;
        }
        value.push_str(&self.s[run..k]);
        Some(k)
    }

    fn plaintext(&self, i: usize, sink: &mut impl Sink) {
        self.text_replacing_nul(i, self.b.len(), sink);
    }

    /// Text in which NUL reads as U+FFFD (every state but data).
    fn text_replacing_nul(&self, mut from: usize, to: usize, sink: &mut impl Sink) {
        while let Some(k) = memchr::memchr(0, &self.b[from..to]).map(|k| from + k) {
            self.text(from, k, sink);
            sink.text("\u{fffd}");
            from = k + 1;
        }
        self.text(from, to, sink);
    }

    /// RCDATA or RAWTEXT after the start tag `name`, up to its matching end tag.
    fn raw_text(&mut self, mut i: usize, name: &str, rcdata: bool, sink: &mut impl Sink) -> usize {
        let b = self.b;
        loop {
            let found = if rcdata {
                memchr::memchr2(b'<', b'&', &b[i..])
            } else {
                memchr::memchr(b'<', &b[i..])
            };
            let Some(k) = found.map(|k| i + k) else {
                self.text_replacing_nul(i, b.len(), sink);
                return b.len();
            };
            self.text_replacing_nul(i, k, sink);
            if b[k] == b'&' {
                i = self.char_ref_in_text(k + 1, sink);
                continue;
            }
            match self.end_tag_in_raw(k, name, sink) {
                RawEnd::Ended(next) => return next,
                RawEnd::Not(next) => {
                    // Not the end tag: `<`, `</` and the letters read so far are text.
                    self.text(k, next, sink);
                    i = next;
                }
            }
        }
    }

    /// At a `<` in raw text: the appropriate end tag (the last start tag's name), which is
    /// then emitted, or how far the text it is not goes.
    fn end_tag_in_raw(&mut self, k: usize, name: &str, sink: &mut impl Sink) -> RawEnd {
        let b = self.b;
        if b.get(k + 1) != Some(&b'/') {
            return RawEnd::Not(k + 1);
        }
        let start = k + 2;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j == start {
            return RawEnd::Not(start);
        }
        let appropriate = j - start == name.len()
            && b[start..j].eq_ignore_ascii_case(name.as_bytes())
            && j < b.len()
            && (is_space(b[j]) || b[j] == b'/' || b[j] == b'>');
        if !appropriate {
            return RawEnd::Not(j);
        }
        match self.attributes(j, false) {
            Some((_, next)) => {
                sink.end_tag(name);
                RawEnd::Ended(next)
            }
            None => RawEnd::Ended(b.len()),
        }
    }

    /// Script data after `<script>`, up to its end tag. The text is never read (a script is
    /// not shown), only where it ends, which the escape states decide.
    fn script(&mut self, mut i: usize, name: &str, sink: &mut impl Sink) -> usize {
        #[derive(Clone, Copy, PartialEq)]
        enum S {
            Data,
            Escaped,
            EscapedDash,
            EscapedDashDash,
            Double,
            DoubleDash,
            DoubleDashDash,
        }
        let b = self.b;
        let len = b.len();
        // Letters from `j` on, and whether they spell "script" followed by a space, `/` or
        // `>` (which is then read too): the double escape start and end states.
        let script_word = |j: usize| -> (usize, bool) {
            let mut e = j;
            while e < len && b[e].is_ascii_alphabetic() {
                e += 1;
            }
            if e < len && (is_space(b[e]) || b[e] == b'/' || b[e] == b'>') {
                (e + 1, b[j..e].eq_ignore_ascii_case(b"script"))
            } else {
                (e, false)
            }
        };
        let mut st = S::Data;
        while i < len {
            match st {
                S::Data => {
                    let Some(k) = memchr::memchr(b'<', &b[i..]).map(|k| i + k) else {
                        return len;
                    };
                    match b.get(k + 1) {
                        Some(b'/') => match self.end_tag_in_raw(k, name, sink) {
                            RawEnd::Ended(next) => return next,
                            RawEnd::Not(next) => i = next,
                        },
                        Some(b'!') => {
                            i = k + 2;
                            if b.get(i) == Some(&b'-') {
                                i += 1;
                                if b.get(i) == Some(&b'-') {
                                    i += 1;
                                    st = S::EscapedDashDash;
                                }
                            }
                        }
                        _ => i = k + 1,
                    }
                    continue;
                }
                S::Escaped | S::Double => {
                    let Some(k) = memchr::memchr2(b'-', b'<', &b[i..]).map(|k| i + k) else {
                        return len;
                    };
                    i = k;
                    if b[k] == b'-' {
                        i += 1;
                        st = if st == S::Escaped {
                            S::EscapedDash
                        } else {
                            S::DoubleDash
                        };
                        continue;
                    }
                }
                S::EscapedDash | S::EscapedDashDash | S::DoubleDash | S::DoubleDashDash => {
                    let double = matches!(st, S::DoubleDash | S::DoubleDashDash);
                    match b[i] {
                        b'-' => {
                            i += 1;
                            st = if double {
                                S::DoubleDashDash
                            } else {
                                S::EscapedDashDash
                            };
                            continue;
                        }
                        b'<' => {}
                        b'>' if matches!(st, S::EscapedDashDash | S::DoubleDashDash) => {
                            i += 1;
                            st = S::Data;
                            continue;
                        }
                        _ => {
                            i += 1;
                            st = if double { S::Double } else { S::Escaped };
                            continue;
                        }
                    }
                }
            }
            // A `<` at `i` in (double) escaped script data.
            let double = matches!(st, S::Double | S::DoubleDash | S::DoubleDashDash);
            let k = i;
            i = k + 1;
            if double {
                st = S::Double;
                if b.get(i) == Some(&b'/') {
                    let (next, script) = script_word(i + 1);
                    i = next;
                    if script {
                        st = S::Escaped;
                    }
                }
            } else {
                st = S::Escaped;
                match b.get(i) {
                    Some(b'/') => match self.end_tag_in_raw(k, name, sink) {
                        RawEnd::Ended(next) => return next,
                        RawEnd::Not(next) => i = next,
                    },
                    Some(c) if c.is_ascii_alphabetic() => {
                        let (next, script) = script_word(i);
                        i = next;
                        if script {
                            st = S::Double;
                        }
                    }
                    _ => {}
                }
            }
        }
        len
    }
}

enum RawEnd {
    Ended(usize),
    Not(usize),
}

/// A bogus comment from `i`: up to and including the first `>`.
fn bogus_comment(b: &[u8], i: usize) -> usize {
    memchr::memchr(b'>', &b[i..]).map_or(b.len(), |k| i + k + 1)
}

/// A comment whose `<!--` ends at `i`: returns the position after its end (`-->`, `--!>`,
/// or `>` right after `<!--` or `<!---`), or the end of input.
fn comment(b: &[u8], i: usize) -> usize {
    #[derive(Clone, Copy)]
    enum S {
        Comment,
        EndDash,
        End,
        Bang,
    }
    let len = b.len();
    let (mut st, mut k) = match (b.get(i), b.get(i + 1)) {
        (Some(b'>'), _) => return i + 1,
        (Some(b'-'), Some(b'>')) => return i + 2,
        (Some(b'-'), Some(b'-')) => (S::End, i + 2),
        (Some(b'-'), Some(_)) => (S::Comment, i + 2),
        (None, _) | (Some(b'-'), None) => return len,
        (Some(_), _) => (S::Comment, i + 1),
    };
    while k < len {
        let c = b[k];
        k += 1;
        st = match (st, c) {
            (S::Comment, b'-') => S::EndDash,
            (S::Comment, _) => match memchr::memchr(b'-', &b[k..]) {
                Some(n) => {
                    k += n + 1;
                    S::EndDash
                }
                None => return len,
            },
            (S::EndDash, b'-') => S::End,
            (S::EndDash, _) => S::Comment,
            (S::End | S::Bang, b'>') => return k,
            (S::End, b'!') => S::Bang,
            (S::End, b'-') => S::End,
            (S::Bang, b'-') => S::EndDash,
            (S::End | S::Bang, _) => S::Comment,
        };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::super::{html_text_fast, html_text_reference};
    use proptest::prelude::*;

    fn same(input: &str) {
        for xhtml in [false, true] {
            assert_eq!(
                html_text_fast(input, xhtml),
                html_text_reference(input, xhtml),
                "input {input:?}, xhtml {xhtml}"
            );
        }
    }

    /// Markup where tokenizers are known to differ, each cut at every byte as well.
    #[test]
    fn malformed_markup_reads_as_html5ever_reads_it() {
        let cases = [
            "<p>a<b>b</b>c</p><div>d</div>",
            "<title>T &amp; t</title><p>x",
            "<title>never closed",
            "<textarea>a\n<b>b</b>\nc</textarea>z",
            "<script>if (a < b && c) { x = '</scr' + 'ipt>'; }</script>after",
            "<script><!--<script>inner</script>still--></script>after",
            "<script><!-- <script> x </script> --></script>shown",
            "<script><!--x--></script>y<script><!--<script></script>-->z</script>w",
            "<script><!-- a -- > b --> </script>c",
            "<script><!--<SCRIPT>x</Script >y</script>z",
            "<script></scriptx></script >after</script>",
            "<script>a</script\tfoo=\"</script>\">b",
            "<style>p{}</style >c<style/>d",
            "<xmp><b>&amp;</b>\nline</xmp>e",
            "<plaintext><b>all</b> text &amp;",
            "<noscript><p>hidden</p></noscript>seen",
            "<iframe>fallback</iframe><noembed>x</noembed><noframes>y</noframes>z",
            "<!-- c --> a <!--> b <!---> c <!----> d <!-- x --!> e <!-- y -- z --> f",
            "<!--<!-- nested -->g<!-- --!-->h",
            "<!DOCTYPE html><!doctype x \"a>b\">i<!DOCTYPEHTML>j",
            "<!x>k<![CDATA[ l ]]>m<?php n ?>o</ p>q</>r</",
            "a < b > c <3 <a/b> &lt &lt; &LT &amp;amp &#60; &#x3c &#X3C; &#; &#x; &# &",
            "&notin; &notit; &not &copy=1 &copy1 &ampx &amp; &nbsp;&nbsp; &NotANamed; &zwj;",
            "&#0; &#128; &#x80; &#x81; &#159; &#xD800; &#x110000; &#99999999999999; &#13; &#x1F;",
            "<input type=submit value=\"Go &amp; see\"><input type=\"BUTTON\" value='B'>",
            "<input value=&copy=x type=reset><input type=hidden value=secret>",
            "<input type=submit value=&notit;><input type=submit value=&not><input type=submit value=\"&copy1\">",
            "<INPUT TYPE=Submit VALUE=Up><input type=submit value=a value=b>",
            // After a quoted value nobody reads, reading goes on past its closing quote.
            "<p a='x'='>'>t<p b=\"y\"\"c\">u<p d=''e=\"\">v<p f='>g",
            "<input type=submit value=x\0y><input type=submit\0 value=z>",
            "<head>\n<meta charset=utf-8>\n<title>t</title>\n  text in head</head><body>b",
            "<head> \u{a0}\u{ad} </head>x<head><p>y",
            "<pre>l1\nl2\r\nl3\rl4</pre><listing>a\nb</listing>",
            "a\r\nb\rc\n\rd<pre>\r\n\r\n</pre>",
            "\u{feff}<p>bom</p>\u{feff}x",
            "<p\0>a\0b</p\0><title>\0</title><textarea>\0x</textarea>",
            "<a href='x'/>b<br/>c<img src=x alt=y>d<td>e</td><th>f",
            "<p =a b='c' d=\"e\"f g = h /i >j",
            "<template><p>x</p><template>y</template>z</template>w",
            "<template/>a<script/>b</script>c",
            "<title/>a</title>b<textarea/>c</textarea>d",
            "<p>x</p\n><p\n>y<p/>z",
            "<sCrIpT>x</ScRiPt>v<STYLE>y</style>w",
            "<a b=\"c", "<a b='c", "<a b=c", "<a b=", "<a b", "<a ", "<a", "<", "</a", "&#x", "&#",
            "<script><!--", "<script><!--<script>", "<script><!--<script></script", "<!--", "<!-",
            "<title>&amp", "<title></title", "<title></titl", "<xmp></xmp", "<textarea>&#",
        ];
        for case in cases {
            same(case);
            for (k, _) in case.char_indices() {
                same(&case[..k]);
            }
        }
    }

    /// Real pages: the Rust documentation that ships with the toolchain, when present.
    #[test]
    fn real_pages_read_as_html5ever_reads_them() {
        let Ok(out) = std::process::Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
        else {
            return;
        };
        let root = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            .join("share/doc/rust/html/std");
        let Ok(dir) = std::fs::read_dir(&root) else {
            return;
        };
        let mut pages: Vec<_> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "html"))
            .collect();
        pages.sort();
        for page in pages.iter().step_by(pages.len() / 150 + 1) {
            let text = std::fs::read_to_string(page).unwrap();
            assert_eq!(
                html_text_fast(&text, false),
                html_text_reference(&text, false),
                "{}",
                page.display()
            );
        }
    }

    const PIECES: &[&str] = &[
        "<",
        ">",
        "/",
        "!",
        "-",
        "--",
        "<!--",
        "-->",
        "--!>",
        "<!",
        "?",
        "&",
        "&amp",
        "&amp;",
        "&#",
        "&#x",
        "&#65;",
        "&#x41",
        "&#0",
        "&#128;",
        "&not",
        "&notin;",
        "&copy",
        "=",
        ";",
        "\"",
        "'",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\x0C",
        "\0",
        "\u{feff}",
        "\u{a0}",
        "\u{ad}",
        "é",
        "中",
        "a",
        "B",
        "1",
        "x",
        "script",
        "SCRIPT",
        "title",
        "textarea",
        "style",
        "xmp",
        "plaintext",
        "pre",
        "input",
        "type",
        "value",
        "submit",
        "button",
        "head",
        "body",
        "p",
        "div",
        "td",
        "br",
        "template",
        "noscript",
        "doctype",
        "DOCTYPE",
        "[CDATA[",
        "]]>",
        "<script>",
        "</script>",
        "<title>",
        "</title>",
        "<textarea>",
        "</textarea>",
        "<style>",
        "</style>",
        "<xmp>",
        "<input type=submit value=",
        "<!--<script>",
        "<head>",
        "</head>",
        "<pre>",
        "</pre>",
        "<template>",
        "</template>",
        "<p>",
        "</p>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn any_markup_reads_as_html5ever_reads_it(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..48)
        ) {
            same(&parts.concat());
        }

        #[test]
        fn any_text_reads_as_html5ever_reads_it(s in "[<>/!&#;=\"' a-zA-Z0-9\\-\\n\\r\\x00\u{a0}é]{0,80}") {
            same(&s);
        }
    }
}
