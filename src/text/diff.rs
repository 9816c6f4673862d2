//! Word-level diff of extracted text (see [`crate::text`]), for showing what changed between
//! two captures of a page.
//!
//! Text is split into paragraphs on blank lines and into words on white space. The diff works
//! in three steps:
//!
//! 1. Paragraph-level LCS (the `similar` crate's Myers): paragraphs on the common subsequence
//!    are [`ParagraphChange::Unchanged`].
//! 2. Moved paragraphs: a paragraph left unmatched on one side whose *identical* text is left
//!    unmatched on the other side is [`ParagraphChange::Moved`] (first unmatched copy with first
//!    unmatched copy), shown at its new position, not as a removal plus an addition.
//! 3. Changed paragraphs: the remaining removed and added paragraphs are paired when they share
//!    at least half their words (Dice coefficient `2·common / (old + new) >= 0.5` over word
//!    multisets), best pairs first; each pair gets an exact word-level diff (shortest edit
//!    script) and is shown as [`ParagraphChange::Changed`] at its new position. Unpaired
//!    paragraphs are [`ParagraphChange::Removed`] / [`ParagraphChange::Added`].
//!
//! Counting: `unchanged_words` counts words in Unchanged and Moved paragraphs and in Equal word
//! ops; `added_words` counts words in Added paragraphs and Insert ops; `removed_words` words in
//! Removed paragraphs and Delete ops. So `old words = removed + unchanged` and
//! `new words = added + unchanged`, and the pairing in step 3 depends only on paragraph texts,
//! never on positions, so `diff(b, a)` has exactly the counts of `diff(a, b)` with added and
//! removed swapped.
//!
//! Changes in white space only (re-wrapped lines, different indentation) are not changes at the
//! word level: such a paragraph is reported as Unchanged, with its new text.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use similar::{capture_diff_slices, Algorithm, DiffOp};

/// The difference between two extracted texts.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub added_words: usize,
    pub removed_words: usize,
    pub unchanged_words: usize,
    /// Every paragraph of both texts, in reading order: unchanged, removed and added
    /// paragraphs in place, moved and changed ones at their position in the new text.
    pub paragraphs: Vec<ParagraphChange>,
}

/// What happened to one paragraph.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ParagraphChange {
    Unchanged {
        text: String,
    },
    Added {
        text: String,
    },
    Removed {
        text: String,
    },
    /// Identical text at a different place; `from` and `to` are 0-based paragraph indices in
    /// the old and the new text.
    Moved {
        text: String,
        from: usize,
        to: usize,
    },
    /// An old paragraph edited into a new one, word by word.
    Changed {
        ops: Vec<WordOp>,
    },
}

/// One run of words in a changed paragraph; `text` is the words joined by single spaces.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum WordOp {
    Equal { text: String },
    Insert { text: String },
    Delete { text: String },
}

/// Pairing candidates are scored for at most this many (removed × added) paragraph pairs;
/// beyond it (a near-total rewrite) unmatched paragraphs are reported as removed and added.
const MAX_PAIR_CANDIDATES: usize = 250_000;

/// Word diffs of paragraph pairs up to this many words (old + new) are exact (shortest edit
/// script); longer ones use Myers with similar's bounded-work heuristics, which may report a
/// few more changed words than strictly necessary but cannot go quadratic.
const MAX_EXACT_WORD_DIFF: usize = 20_000;

/// Word-level diff of two extracted texts; see the module documentation.
pub fn diff(old: &str, new: &str) -> Diff {
    let old_p = paragraphs(old);
    let new_p = paragraphs(new);
    let ops = capture_diff_slices(Algorithm::Myers, &old_p, &new_p);

    // Step 1: paragraphs outside the LCS.
    let mut old_taken = vec![false; old_p.len()];
    let mut new_taken = vec![false; new_p.len()];
    for op in &ops {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = *op
        {
            old_taken[old_index..old_index + len].fill(true);
            new_taken[new_index..new_index + len].fill(true);
        }
    }

    // Step 2: moved paragraphs.
    let mut unmatched_old: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for (i, p) in old_p.iter().enumerate() {
        if !old_taken[i] {
            unmatched_old.entry(p).or_default().push_back(i);
        }
    }
    let mut moved_to: Vec<Option<usize>> = vec![None; new_p.len()]; // new index -> old index
    for (j, p) in new_p.iter().enumerate() {
        if new_taken[j] {
            continue;
        }
        if let Some(i) = unmatched_old.get_mut(p).and_then(|q| q.pop_front()) {
            moved_to[j] = Some(i);
            old_taken[i] = true;
            new_taken[j] = true;
        }
    }

    // Step 3: pair the rest.
    let rest_old: Vec<usize> = (0..old_p.len()).filter(|&i| !old_taken[i]).collect();
    let rest_new: Vec<usize> = (0..new_p.len()).filter(|&j| !new_taken[j]).collect();
    let pairs = pair_paragraphs(&old_p, &new_p, &rest_old, &rest_new);
    let mut paired_old = vec![false; old_p.len()];
    let mut paired_new: Vec<Option<usize>> = vec![None; new_p.len()];
    for &(i, j) in &pairs {
        paired_old[i] = true;
        paired_new[j] = Some(i);
    }

    // Assemble in reading order.
    let mut d = Diff {
        added_words: 0,
        removed_words: 0,
        unchanged_words: 0,
        paragraphs: Vec::with_capacity(old_p.len().max(new_p.len())),
    };
    let emit_old = |d: &mut Diff, i: usize| {
        if !old_taken[i] && !paired_old[i] {
            d.removed_words += word_count(old_p[i]);
            d.paragraphs.push(ParagraphChange::Removed {
                text: old_p[i].to_string(),
            });
        }
    };
    let emit_new = |d: &mut Diff, j: usize| {
        let text = new_p[j];
        if let Some(from) = moved_to[j] {
            d.unchanged_words += word_count(text);
            d.paragraphs.push(ParagraphChange::Moved {
                text: text.to_string(),
                from,
                to: j,
            });
        } else if let Some(i) = paired_new[j] {
            let change = word_diff(old_p[i], text, d);
            d.paragraphs.push(change);
        } else {
            d.added_words += word_count(text);
            d.paragraphs.push(ParagraphChange::Added {
                text: text.to_string(),
            });
        }
    };
    for op in ops {
        match op {
            DiffOp::Equal { new_index, len, .. } => {
                for text in &new_p[new_index..new_index + len] {
                    d.unchanged_words += word_count(text);
                    d.paragraphs.push(ParagraphChange::Unchanged {
                        text: text.to_string(),
                    });
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index..old_index + old_len).for_each(|i| emit_old(&mut d, i)),
            DiffOp::Insert {
                new_index, new_len, ..
            } => (new_index..new_index + new_len).for_each(|j| emit_new(&mut d, j)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                (old_index..old_index + old_len).for_each(|i| emit_old(&mut d, i));
                (new_index..new_index + new_len).for_each(|j| emit_new(&mut d, j));
            }
        }
    }
    d
}

/// Paragraphs of a text: maximal runs of non-blank lines, without trailing white space.
fn paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None; // byte offset of the paragraph's first line
    let mut end = 0; // byte offset just past its last non-blank content
    let mut offset = 0;
    for line in text.split('\n') {
        let line_start = offset;
        offset += line.len() + 1;
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push(&text[s..end]);
            }
        } else {
            if start.is_none() {
                start = Some(line_start);
            }
            end = line_start + line.trim_end().len();
        }
    }
    if let Some(s) = start {
        out.push(&text[s..end]);
    }
    out
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Pair removed with added paragraphs that share at least half their words, best first.
///
/// The order of candidates depends only on the texts (score, then the two texts as an
/// unordered pair); positions only break ties between copies of identical texts, which are
/// interchangeable. So which text pairs get paired, and hence every word count, is the same
/// for `diff(a, b)` and `diff(b, a)`.
fn pair_paragraphs<'a>(
    old_p: &[&'a str],
    new_p: &[&'a str],
    rest_old: &[usize],
    rest_new: &[usize],
) -> Vec<(usize, usize)> {
    if rest_old.is_empty()
        || rest_new.is_empty()
        || rest_old.len().saturating_mul(rest_new.len()) > MAX_PAIR_CANDIDATES
    {
        return Vec::new();
    }
    // Word multisets as sorted vectors of interned word ids.
    let mut ids: HashMap<&'a str, u32> = HashMap::new();
    let mut bag = |text: &'a str| -> Vec<u32> {
        let mut v: Vec<u32> = text
            .split_whitespace()
            .map(|w| {
                let next = ids.len() as u32;
                *ids.entry(w).or_insert(next)
            })
            .collect();
        v.sort_unstable();
        v
    };
    let old_bags: Vec<Vec<u32>> = rest_old.iter().map(|&i| bag(old_p[i])).collect();
    let new_bags: Vec<Vec<u32>> = rest_new.iter().map(|&j| bag(new_p[j])).collect();

    // Rank of each distinct text, so that ties can be broken by text without comparing
    // strings in the sort.
    let mut distinct: Vec<&str> = rest_old
        .iter()
        .map(|&i| old_p[i])
        .chain(rest_new.iter().map(|&j| new_p[j]))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let rank = |t: &str| distinct.binary_search(&t).unwrap_or(0);
    let old_rank: Vec<usize> = rest_old.iter().map(|&i| rank(old_p[i])).collect();
    let new_rank: Vec<usize> = rest_new.iter().map(|&j| rank(new_p[j])).collect();

    struct Candidate {
        common: usize,
        total: usize,
        /// The two texts' ranks as an unordered pair (smaller first).
        texts: (usize, usize),
        old: usize,
        new: usize,
    }
    let mut candidates = Vec::new();
    for (a, ob) in old_bags.iter().enumerate() {
        for (b, nb) in new_bags.iter().enumerate() {
            let total = ob.len() + nb.len();
            // Dice >= 0.5 needs the shorter side to be at least a third of the longer one.
            if 3 * ob.len().min(nb.len()) < ob.len().max(nb.len()) {
                continue;
            }
            let common = multiset_intersection(ob, nb);
            if 4 * common >= total && common > 0 {
                let (x, y) = (old_rank[a], new_rank[b]);
                candidates.push(Candidate {
                    common,
                    total,
                    texts: (x.min(y), x.max(y)),
                    old: rest_old[a],
                    new: rest_new[b],
                });
            }
        }
    }
    candidates.sort_unstable_by(|x, y| {
        // Higher Dice coefficient first: common/total compared exactly.
        (y.common * x.total)
            .cmp(&(x.common * y.total))
            .then_with(|| y.common.cmp(&x.common))
            .then_with(|| x.texts.cmp(&y.texts))
            .then_with(|| (x.old, x.new).cmp(&(y.old, y.new)))
    });
    let mut old_used = vec![false; old_p.len()];
    let mut new_used = vec![false; new_p.len()];
    let mut pairs = Vec::new();
    for c in candidates {
        if old_used[c.old] || new_used[c.new] {
            continue;
        }
        old_used[c.old] = true;
        new_used[c.new] = true;
        pairs.push((c.old, c.new));
    }
    pairs
}

fn multiset_intersection(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Word diff of a paired paragraph, adding its word counts to `d`.
fn word_diff(old: &str, new: &str, d: &mut Diff) -> ParagraphChange {
    let ow: Vec<&str> = old.split_whitespace().collect();
    let nw: Vec<&str> = new.split_whitespace().collect();
    let alg = if ow.len() + nw.len() <= MAX_EXACT_WORD_DIFF {
        Algorithm::RawMyers
    } else {
        Algorithm::Myers
    };
    let mut ops: Vec<WordOp> = Vec::new();
    let (mut added, mut removed, mut equal) = (0, 0, 0);
    for op in capture_diff_slices(alg, &ow, &nw) {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        match op {
            DiffOp::Equal { .. } => {
                equal += old_range.len();
                push_words(&mut ops, OpKind::Equal, &ow[old_range]);
            }
            DiffOp::Delete { .. } => {
                removed += old_range.len();
                push_words(&mut ops, OpKind::Delete, &ow[old_range]);
            }
            DiffOp::Insert { .. } => {
                added += new_range.len();
                push_words(&mut ops, OpKind::Insert, &nw[new_range]);
            }
            DiffOp::Replace { .. } => {
                removed += old_range.len();
                added += new_range.len();
                push_words(&mut ops, OpKind::Delete, &ow[old_range]);
                push_words(&mut ops, OpKind::Insert, &nw[new_range]);
            }
        }
    }
    d.added_words += added;
    d.removed_words += removed;
    d.unchanged_words += equal;
    if added == 0 && removed == 0 {
        ParagraphChange::Unchanged {
            text: new.to_string(),
        }
    } else {
        ParagraphChange::Changed { ops }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Equal,
    Insert,
    Delete,
}

/// Append words as an op of the given kind, merging with a preceding op of the same kind.
fn push_words(ops: &mut Vec<WordOp>, kind: OpKind, words: &[&str]) {
    if words.is_empty() {
        return;
    }
    if let Some(last) = ops.last_mut() {
        let (last_kind, text) = match last {
            WordOp::Equal { text } => (OpKind::Equal, text),
            WordOp::Insert { text } => (OpKind::Insert, text),
            WordOp::Delete { text } => (OpKind::Delete, text),
        };
        if last_kind == kind {
            for w in words {
                text.push(' ');
                text.push_str(w);
            }
            return;
        }
    }
    let text = words.join(" ");
    ops.push(match kind {
        OpKind::Equal => WordOp::Equal { text },
        OpKind::Insert => WordOp::Insert { text },
        OpKind::Delete => WordOp::Delete { text },
    });
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// Unchanged paragraphs shown before and after each change; longer unchanged runs are elided.
const CONTEXT: usize = 1;

/// One item of a rendering: a paragraph change, or a run of elided unchanged paragraphs.
enum Item<'a> {
    Para(&'a ParagraphChange),
    Elided(&'a [ParagraphChange]),
}

impl Diff {
    /// True when no word was added or removed and no paragraph moved (white-space-only changes
    /// do not count).
    pub fn is_empty(&self) -> bool {
        self.added_words == 0
            && self.removed_words == 0
            && !self
                .paragraphs
                .iter()
                .any(|p| !matches!(p, ParagraphChange::Unchanged { .. }))
    }

    /// Paragraph counts: (added, removed, changed, moved).
    fn paragraph_counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for p in &self.paragraphs {
            match p {
                ParagraphChange::Added { .. } => c.0 += 1,
                ParagraphChange::Removed { .. } => c.1 += 1,
                ParagraphChange::Changed { .. } => c.2 += 1,
                ParagraphChange::Moved { .. } => c.3 += 1,
                ParagraphChange::Unchanged { .. } => {}
            }
        }
        c
    }

    pub fn summary(&self) -> String {
        let (a, r, c, m) = self.paragraph_counts();
        format!(
            "{} added, {} removed, {} unchanged; paragraphs: {a} added, {r} removed, {c} changed, {m} moved",
            crate::terminal::count(self.added_words as u64, "word", "words"),
            self.removed_words,
            self.unchanged_words,
        )
    }

    /// The paragraphs with long unchanged runs elided, keeping `CONTEXT` paragraphs of context
    /// next to each change.
    fn items(&self) -> Vec<Item<'_>> {
        let ps = &self.paragraphs;
        let mut items = Vec::new();
        let mut i = 0;
        while i < ps.len() {
            if !matches!(ps[i], ParagraphChange::Unchanged { .. }) {
                items.push(Item::Para(&ps[i]));
                i += 1;
                continue;
            }
            let start = i;
            while i < ps.len() && matches!(ps[i], ParagraphChange::Unchanged { .. }) {
                i += 1;
            }
            let keep_head = if start == 0 { 0 } else { CONTEXT };
            let keep_tail = if i == ps.len() { 0 } else { CONTEXT };
            let run = &ps[start..i];
            if run.len() > keep_head + keep_tail + 1 {
                run[..keep_head]
                    .iter()
                    .for_each(|p| items.push(Item::Para(p)));
                items.push(Item::Elided(&run[keep_head..run.len() - keep_tail]));
                run[run.len() - keep_tail..]
                    .iter()
                    .for_each(|p| items.push(Item::Para(p)));
            } else {
                run.iter().for_each(|p| items.push(Item::Para(p)));
            }
        }
        items
    }

    /// Plain-text rendering, one block per paragraph separated by blank lines:
    ///
    /// ```text
    ///   unchanged paragraph (context)
    ///   [... 12 unchanged paragraphs ...]
    /// - removed paragraph
    /// + added paragraph
    /// ~ changed paragraph with [-old words-]{+new words+}
    /// > moved paragraph (moved from paragraph 3 to paragraph 7)
    ///
    /// 5 words added, 3 removed, 140 unchanged; paragraphs: 1 added, 1 removed, 1 changed, 1 moved
    /// ```
    ///
    /// Paragraph numbers are 1-based. Every line of a multi-line paragraph carries the marker.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            let _ = writeln!(out, "No changes.");
            let _ = writeln!(out, "{}", self.summary());
            return out;
        }
        let marked = |out: &mut String, marker: &str, text: &str| {
            for line in text.lines() {
                let _ = writeln!(out, "{marker} {line}");
            }
        };
        for item in self.items() {
            match item {
                Item::Elided(run) => {
                    let _ = writeln!(
                        out,
                        "  [... {} ...]",
                        crate::terminal::count(
                            run.len() as u64,
                            "unchanged paragraph",
                            "unchanged paragraphs"
                        )
                    );
                }
                Item::Para(ParagraphChange::Unchanged { text }) => marked(&mut out, " ", text),
                Item::Para(ParagraphChange::Removed { text }) => marked(&mut out, "-", text),
                Item::Para(ParagraphChange::Added { text }) => marked(&mut out, "+", text),
                Item::Para(ParagraphChange::Moved { text, from, to }) => {
                    marked(&mut out, ">", text);
                    let _ = writeln!(
                        out,
                        ">   (moved from paragraph {} to paragraph {})",
                        from + 1,
                        to + 1
                    );
                }
                Item::Para(ParagraphChange::Changed { ops }) => {
                    out.push_str("~ ");
                    for (k, op) in ops.iter().enumerate() {
                        if k > 0 {
                            out.push(' ');
                        }
                        match op {
                            WordOp::Equal { text } => out.push_str(text),
                            WordOp::Delete { text } => {
                                let _ = write!(out, "[-{text}-]");
                            }
                            WordOp::Insert { text } => {
                                let _ = write!(out, "{{+{text}+}}");
                            }
                        }
                    }
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    /// A self-contained HTML page: inline CSS, `<del>`/`<ins>` for word changes, all text
    /// HTML-escaped, no scripts and no external resources (a Content-Security-Policy meta tag
    /// forbids both). Long unchanged runs are folded into `<details>` elements.
    pub fn render_html(&self, title: &str) -> String {
        self.render_html_of(title, None)
    }

    /// [`Diff::render_html`] with a table naming both sides (record, URL, capture time,
    /// SHA-256), so a printed diff says exactly which two documents it compares.
    pub fn render_html_of(&self, title: &str, sides: Option<[&Side; 2]>) -> String {
        const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:50em;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.4em}.summary{color:#555}\
.p{margin:.6em 0;padding:.3em .6em;border-left:4px solid transparent;white-space:pre-wrap}\
.p::before{font-family:monospace;font-weight:bold;margin-right:.6em}\
.unchanged{color:#444}\
.added{background:#e6ffec;border-color:#2da44e}.added::before{content:'+';color:#2da44e}\
.removed{background:#ffebe9;border-color:#cf222e;text-decoration:line-through}.removed::before{content:'\\2212';color:#cf222e}\
.changed{background:#fff8c5;border-color:#bf8700}.changed::before{content:'~';color:#bf8700}\
.moved{background:#ddf4ff;border-color:#0969da}.moved::before{content:'\\2192';color:#0969da}\
.note{font-size:.85em;color:#0969da}\
ins{background:#abf2bc;text-decoration:none}del{background:#ffcecb}\
details{margin:.6em 0;color:#666}summary{cursor:pointer}\
table.sides{border-collapse:collapse;font-size:.85em;margin:1em 0}.sides th,.sides td{text-align:left;padding:.2em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
.sides td{overflow-wrap:anywhere}";
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
             <p class=\"summary\">{s}</p>\n",
            t = escape_html(title),
            s = escape_html(&self.summary()),
        );
        if let Some(sides) = sides {
            out.push_str("<table class=\"sides\">\n<tr><th></th><th>record</th><th>URL</th><th>captured (UTC)</th><th>SHA-256</th></tr>\n");
            for (name, side) in ["old", "new"].iter().zip(sides) {
                let _ = writeln!(
                    out,
                    "<tr><th>{name}</th><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape_html(&side.record_id),
                    escape_html(&side.url),
                    escape_html(&side.captured_at),
                    escape_html(&side.sha256)
                );
            }
            out.push_str("</table>\n");
        }
        if self.is_empty() {
            out.push_str("<p class=\"summary\">No changes.</p>\n");
        }
        let para = |out: &mut String, p: &ParagraphChange| match p {
            ParagraphChange::Unchanged { text } => {
                let _ = writeln!(out, "<p class=\"p unchanged\">{}</p>", escape_html(text));
            }
            ParagraphChange::Added { text } => {
                let _ = writeln!(out, "<p class=\"p added\">{}</p>", escape_html(text));
            }
            ParagraphChange::Removed { text } => {
                let _ = writeln!(out, "<p class=\"p removed\">{}</p>", escape_html(text));
            }
            ParagraphChange::Moved { text, from, to } => {
                let _ = writeln!(
                    out,
                    "<p class=\"p moved\">{} <span class=\"note\">(moved from paragraph {} to paragraph {})</span></p>",
                    escape_html(text),
                    from + 1,
                    to + 1
                );
            }
            ParagraphChange::Changed { ops } => {
                out.push_str("<p class=\"p changed\">");
                for (k, op) in ops.iter().enumerate() {
                    if k > 0 {
                        out.push(' ');
                    }
                    match op {
                        WordOp::Equal { text } => out.push_str(&escape_html(text)),
                        WordOp::Delete { text } => {
                            let _ = write!(out, "<del>{}</del>", escape_html(text));
                        }
                        WordOp::Insert { text } => {
                            let _ = write!(out, "<ins>{}</ins>", escape_html(text));
                        }
                    }
                }
                out.push_str("</p>\n");
            }
        };
        for item in self.items() {
            match item {
                Item::Para(p) => para(&mut out, p),
                Item::Elided(run) => {
                    let _ = writeln!(
                        out,
                        "<details><summary>{}</summary>",
                        crate::terminal::count(
                            run.len() as u64,
                            "unchanged paragraph",
                            "unchanged paragraphs"
                        )
                    );
                    run.iter().for_each(|p| para(&mut out, p));
                    out.push_str("</details>\n");
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

/// One side of a diff, as the HTML page names it.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub record_id: String,
    pub url: String,
    pub captured_at: String,
    pub sha256: String,
}

fn escape_html(s: &str) -> String {
    crate::text::escape_html(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ops_of(d: &Diff) -> Vec<&WordOp> {
        d.paragraphs
            .iter()
            .flat_map(|p| match p {
                ParagraphChange::Changed { ops } => ops.iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn inserted(d: &Diff) -> Vec<String> {
        ops_of(d)
            .into_iter()
            .filter_map(|o| match o {
                WordOp::Insert { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn deleted(d: &Diff) -> Vec<String> {
        ops_of(d)
            .into_iter()
            .filter_map(|o| match o {
                WordOp::Delete { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    const POLICY: &str = "Privacy Policy\n\n\
        Last updated May 5, 2026\n\n\
        We collect your name, email address and the pages you visit.\n\n\
        We keep server logs for 30 days, unless the law requires otherwise.\n\n\
        You can ask us to delete your data at any time.\n\n\
        Generated at [time]";

    #[test]
    fn identical_texts() {
        let d = diff(POLICY, POLICY);
        assert!(d.is_empty());
        assert_eq!(d.unchanged_words, word_count(POLICY));
        assert_eq!(d.paragraphs.len(), 6);
        assert!(d.render_text().starts_with("No changes."));
    }

    #[test]
    fn word_change() {
        let new = POLICY.replace("30 days", "60 days");
        let d = diff(POLICY, &new);
        assert_eq!((d.added_words, d.removed_words), (1, 1));
        assert_eq!(inserted(&d), ["60"]);
        assert_eq!(deleted(&d), ["30"]);
        let text = d.render_text();
        assert!(
            text.contains("~ We keep server logs for [-30-] {+60+} days, unless"),
            "{text}"
        );
        assert!(text.contains("1 word added, 1 removed"), "{text}");
    }

    #[test]
    fn clause_removed_and_sentence_added() {
        let new = POLICY
            .replace(", unless the law requires otherwise.", ".")
            .replace(
                "at any time.",
                "at any time.\n\nWe never sell your data to third parties.",
            );
        let d = diff(POLICY, &new);
        // "days," became "days." : the word with its punctuation is replaced.
        assert_eq!(deleted(&d), ["days, unless the law requires otherwise."]);
        assert_eq!(inserted(&d), ["days."]);
        let added: Vec<_> = d
            .paragraphs
            .iter()
            .filter_map(|p| match p {
                ParagraphChange::Added { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(added, ["We never sell your data to third parties."]);
        assert_eq!(d.added_words, 1 + 8);
        assert_eq!(d.removed_words, 6);
    }

    #[test]
    fn moved_paragraph() {
        let old = "Intro.\n\nAlpha paragraph here.\n\nBeta paragraph here.\n\nGamma paragraph here.\n\nOutro.";
        let new = "Intro.\n\nBeta paragraph here.\n\nGamma paragraph here.\n\nOutro.\n\nAlpha paragraph here.";
        let d = diff(old, new);
        let moved: Vec<_> = d
            .paragraphs
            .iter()
            .filter_map(|p| match p {
                ParagraphChange::Moved { text, from, to } => Some((text.as_str(), *from, *to)),
                _ => None,
            })
            .collect();
        assert_eq!(moved, [("Alpha paragraph here.", 1, 4)]);
        assert_eq!((d.added_words, d.removed_words), (0, 0));
        assert!(!d.is_empty());
        assert!(!d.paragraphs.iter().any(|p| matches!(
            p,
            ParagraphChange::Added { .. } | ParagraphChange::Removed { .. }
        )));
        let text = d.render_text();
        assert!(
            text.contains("> Alpha paragraph here.\n>   (moved from paragraph 2 to paragraph 5)"),
            "{text}"
        );
    }

    #[test]
    fn unrelated_paragraph_is_removed_and_added() {
        let d = diff(
            "Keep.\n\nOld words here",
            "Keep.\n\nCompletely different text",
        );
        assert!(matches!(d.paragraphs[1], ParagraphChange::Removed { .. }));
        assert!(matches!(d.paragraphs[2], ParagraphChange::Added { .. }));
        assert_eq!(
            (d.added_words, d.removed_words, d.unchanged_words),
            (3, 3, 1)
        );
    }

    #[test]
    fn whitespace_only_change_is_empty() {
        let d = diff("a  b\nc\n\n\n\nd", "a b c\n\nd  ");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn html_rendering_escapes() {
        let old = "Hello <script>alert(1)</script> world\n\nSame & same";
        let new =
            "Hello <script>alert(2)</script> world\n\nSame & same\n\n<img src=x onerror=alert(3)>";
        let d = diff(old, new);
        let html = d.render_html("Diff of <b>\"page\"</b>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<del>"), "{html}");
        assert!(html.contains("<ins>"), "{html}");
        assert!(html.contains("Same &amp; same"), "{html}");
        assert!(html.contains("<title>Diff of &lt;b&gt;&quot;page&quot;&lt;/b&gt;</title>"));
        assert!(!html.contains("src=\"http") && !html.contains("href="));
    }

    #[test]
    fn elides_long_unchanged_runs() {
        let old: Vec<String> = (0..20).map(|i| format!("Paragraph number {i}.")).collect();
        let mut new = old.clone();
        new[10] = "Paragraph number ten.".to_string();
        let d = diff(&old.join("\n\n"), &new.join("\n\n"));
        let text = d.render_text();
        assert!(
            text.contains("  [... 9 unchanged paragraphs ...]"),
            "{text}"
        );
        assert!(text.contains("  Paragraph number 9."), "{text}");
        assert!(
            text.contains("~ Paragraph number [-10.-] {+ten.+}"),
            "{text}"
        );
        assert!(
            text.contains("  [... 8 unchanged paragraphs ...]"),
            "{text}"
        );
        assert!(!text.contains("Paragraph number 5."), "{text}");
        let html = d.render_html("t");
        assert!(html.contains("<details><summary>9 unchanged paragraphs</summary>"));
    }

    #[test]
    fn serializes_with_tags() {
        let d = diff("a b", "a c");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["paragraphs"][0]["kind"], "changed");
        assert_eq!(json["paragraphs"][0]["ops"][0]["op"], "equal");
        assert_eq!(json["paragraphs"][0]["ops"][1]["op"], "delete");
        assert_eq!(json["paragraphs"][0]["ops"][2]["op"], "insert");
        assert_eq!(json["added_words"], 1);
    }

    #[test]
    fn end_to_end_with_extraction() {
        let page = |body: &str, nonce: &str, csrf: &str, clock: &str| {
            format!(
                r#"<!DOCTYPE html><html><head><title>Terms of Service</title>
                <meta name="csrf-token" content="{csrf}">
                <script nonce="{nonce}">window.t = "{clock}";</script>
                <link rel="stylesheet" href="/s.css?v={nonce}"></head>
                <body data-rendered="2026-05-05T{clock}Z">
                <nav><ul><li><a href="/">Home</a></li><li><a href="/terms?r={nonce}">Terms</a></li></ul></nav>
                <main>{body}</main>
                <footer><form><input type="hidden" name="csrf" value="{csrf}"></form>
                <p>Generated at {clock}</p></footer></body></html>"#
            )
        };
        let v1 = "<h1>Terms</h1>\
            <p>We share data with partners, including advertisers, to run the service.</p>\
            <p>Refunds are available within 30 days of purchase.</p>\
            <p>You can close your account at any time.</p>";
        let v2 = v1
            .replace("including advertisers, ", "")
            .replace("30 days", "60 days")
            .replace("at any time.", "at any time. We never sell your data.");
        let extract =
            |html: String| crate::text::extract(Some("text/html"), html.as_bytes()).unwrap();
        let a = extract(page(
            v1,
            "a1B2c3D4e5F6g7H8i9",
            "Xq9Lk2Vb7Nm3Pz8Rt1Yw",
            "12:03:44",
        ));
        let b = extract(page(
            v1,
            "Zz9Yy8Xx7Ww6Vv5Uu4",
            "Hq4Lk8Vb2Nm6Pz1Rt5Yw",
            "12:09:01",
        ));
        let c = extract(page(
            &v2,
            "Qq1Rr2Ss3Tt4Uu5Vv6",
            "Jq7Lk3Vb9Nm1Pz4Rt8Yw",
            "13:00:00",
        ));
        assert_eq!(crate::text::fingerprint(&a), crate::text::fingerprint(&b));
        assert!(diff(&a, &b).is_empty());
        assert_ne!(crate::text::fingerprint(&b), crate::text::fingerprint(&c));
        let d = diff(&b, &c);
        assert_eq!(deleted(&d), ["including advertisers,", "30"]);
        assert_eq!(inserted(&d), ["60", "We never sell your data."]);
        assert_eq!((d.added_words, d.removed_words), (1 + 5, 2 + 1));
        let (added, removed, changed, moved) = d.paragraph_counts();
        assert_eq!((added, removed, changed, moved), (0, 0, 3, 0));
        let text = d.render_text();
        assert!(
            text.contains("~ We share data with partners, [-including advertisers,-] to run"),
            "{text}"
        );
        assert!(
            text.contains("~ You can close your account at any time. {+We never sell your data.+}"),
            "{text}"
        );
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        // Small vocabulary and few paragraphs so that duplicates, moves and pairs are common.
        let word = prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just("d"),
            Just("e"),
            Just("the"),
            Just("<x>"),
            Just("30"),
            Just("days.")
        ];
        let para = proptest::collection::vec(word, 1..6).prop_map(|w| w.join(" "));
        let sep = prop_oneof![Just("\n\n"), Just("\n"), Just(" \n \n"), Just("\n\n\n")];
        proptest::collection::vec((para, sep), 0..7).prop_map(|ps| {
            ps.into_iter()
                .map(|(p, s)| format!("{p}{s}"))
                .collect::<String>()
        })
    }

    fn check_counts(d: &Diff) -> Result<(), TestCaseError> {
        let (mut added, mut removed, mut unchanged) = (0, 0, 0);
        for p in &d.paragraphs {
            match p {
                ParagraphChange::Unchanged { text } | ParagraphChange::Moved { text, .. } => {
                    unchanged += word_count(text)
                }
                ParagraphChange::Added { text } => added += word_count(text),
                ParagraphChange::Removed { text } => removed += word_count(text),
                ParagraphChange::Changed { ops } => {
                    let has_change = ops.iter().any(|o| !matches!(o, WordOp::Equal { .. }));
                    prop_assert!(has_change);
                    for o in ops {
                        match o {
                            WordOp::Equal { text } => unchanged += word_count(text),
                            WordOp::Insert { text } => added += word_count(text),
                            WordOp::Delete { text } => removed += word_count(text),
                        }
                    }
                }
            }
        }
        prop_assert_eq!(d.added_words, added);
        prop_assert_eq!(d.removed_words, removed);
        prop_assert_eq!(d.unchanged_words, unchanged);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn diff_with_itself_is_empty(a in text_strategy()) {
            let d = diff(&a, &a);
            prop_assert!(d.is_empty());
            prop_assert_eq!(d.unchanged_words, word_count(&a));
            check_counts(&d)?;
        }

        #[test]
        fn counts_are_consistent(a in text_strategy(), b in text_strategy()) {
            let d = diff(&a, &b);
            check_counts(&d)?;
            prop_assert_eq!(d.removed_words + d.unchanged_words, word_count(&a));
            prop_assert_eq!(d.added_words + d.unchanged_words, word_count(&b));
            prop_assert_eq!(d.is_empty(), d.paragraphs.iter().all(|p| matches!(p, ParagraphChange::Unchanged { .. })));
            let html = d.render_html("t");
            prop_assert!(!html.contains("<x>"));
            let _ = d.render_text();
        }

        #[test]
        fn reversed_diff_swaps_counts(a in text_strategy(), b in text_strategy()) {
            let ab = diff(&a, &b);
            let ba = diff(&b, &a);
            prop_assert_eq!(ab.added_words, ba.removed_words);
            prop_assert_eq!(ab.removed_words, ba.added_words);
            prop_assert_eq!(ab.unchanged_words, ba.unchanged_words);
            prop_assert_eq!(ab.is_empty(), ba.is_empty());
        }

        #[test]
        fn arbitrary_unicode_does_not_panic(a in "(?s).{0,200}", b in "(?s).{0,200}") {
            let d = diff(&a, &b);
            check_counts(&d)?;
            let _ = d.render_text();
            let _ = d.render_html(&a);
        }
    }
}
