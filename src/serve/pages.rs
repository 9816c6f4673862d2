//! The viewer's HTML, as maud templates: every value is HTML-escaped by the template language
//! itself (`PreEscaped` is used only for the constant stylesheet link). The one script,
//! /copy.js, only adds copy buttons to citations; every page reads the same without it.

use crate::cite::{human_time, Citation, Format};
use crate::diff::{Diff, ParagraphChange, WordOp};
use crate::history::{History, Outcome};
use crate::manifest::Manifest;
use crate::verify::{Check, CheckName, RecordReport};
use maud::{html, Markup, DOCTYPE};

pub const STYLE: &str = include_str!("style.css");

/// Copy buttons for the citation blocks: shown only where the script runs.
pub const COPY_JS: &str = "document.querySelectorAll('button[data-copy]').forEach(function (b) {\n\
  b.hidden = false;\n\
  b.addEventListener('click', function () {\n\
    var t = document.getElementById(b.dataset.copy).textContent;\n\
    navigator.clipboard.writeText(t).then(function () { b.textContent = 'Copied'; });\n\
  });\n\
});\n";

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · exhibit" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    a href="/" { "exhibit" } " "
                    span.muted { "read-only archive viewer" }
                }
                main #main { (body) }
                footer.site.muted {
                    "Every ✓ on this site was computed when the page was served. "
                    "Check any record yourself with " code { "exhibit verify RECORD-ID" } "."
                }
            }
        }
    }
}

pub fn error(status: u16, message: &str, hint: Option<&str>) -> Markup {
    let title = match status {
        400 => "Bad request",
        404 => "Not found",
        409 => "Record does not verify",
        _ => "Error",
    };
    layout(
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            @if let Some(h) = hint { p { (h) } }
            (search_form(""))
        },
    )
}

fn search_form(value: &str) -> Markup {
    html! {
        form.search action="/search" method="get" role="search" {
            label for="q" { "Find a record by record ID, SHA-256 (or its first 8+ digits), or URL" }
            div.row {
                input #q type="search" name="q" value=(value) maxlength="2048"
                    placeholder="EX-7K2M-9QDR-T4VW, 0be9e4ad…, https://…";
                button type="submit" { "Find" }
            }
        }
    }
}

fn mark(ok: bool) -> Markup {
    html! {
        @if ok { span.ok aria-label="verified" { "✓" } }
        @else { span.bad aria-label="failed" { "✗" } }
    }
}

/// What each check of `check_record` means, for a reader who is not an engineer.
fn check_label(c: &Check) -> &'static str {
    match c.check {
        CheckName::Signature => "Signed by a key this archive trusts",
        CheckName::RecordId => "The signed record names this record ID",
        CheckName::Document => "Stored document has the cited SHA-256 and size",
        CheckName::Log => "Listed in the archive's signed, append-only log",
        _ => "Check",
    }
}

fn plain_reason(c: &Check) -> &'static str {
    match c.check {
        CheckName::Signature => {
            "The signature does not check out: the record was not signed by a key \
                        this archive trusts, or it was changed after it was signed."
        }
        CheckName::RecordId => {
            "The signed record names a different record ID: the record file was \
                        swapped or altered."
        }
        CheckName::Document => {
            "The stored copy of the document is missing or is not the one that was \
                       cited: its bytes no longer match the SHA-256 fingerprint the record was \
                       signed with. It may have been altered or damaged on disk."
        }
        CheckName::Log => {
            "The record is not proven to be in the archive's signed log, the public, \
                  append-only list of every record."
        }
        _ => "This check failed.",
    }
}

pub struct RecordView<'a> {
    pub report: &'a RecordReport,
    pub manifest: Option<&'a Manifest>,
    /// Where the archived document is shown (the documents' origin).
    pub document_url: String,
    pub tree_size: u64,
    pub checked_at: String,
    /// The verdict was reached by an earlier visit against the same checkpoint (large document).
    pub reused: bool,
    /// Check details with server paths taken out.
    pub details: Vec<String>,
}

pub fn record(v: &RecordView) -> Markup {
    let r = v.report;
    let m = v.manifest;
    let title = m.map_or(r.record_id.as_str(), |m| m.display_title());
    let doc = r.checks.iter().find(|c| c.check == CheckName::Document);
    let stored_ok = r
        .checks
        .iter()
        .filter(|c| c.check != CheckName::Document)
        .all(|c| c.ok);
    let hash_ok = doc.is_some_and(|c| c.ok);
    layout(
        &format!("{title} ({})", r.record_id),
        html! {
            @if let Some(m) = m {
                @if let Some(e) = &m.labels.entity { p.entity { (e) } }
            }
            h1 { (title) }
            section.status aria-labelledby="status-h" {
                h2 #status-h .visually-hidden { "Verification" }
                p.marks role="status" {
                    span { "Snapshot stored " (mark(stored_ok)) }
                    span { "Hash verified " (mark(hash_ok)) }
                }
                @if r.ok && v.reused {
                    p.muted {
                        "Verified at " (v.checked_at) " against the archive's current signed checkpoint of "
                        (v.tree_size) " records. This document is large, so it is read in full once "
                        "each time the archive changes, not on every visit; downloading it checks every byte again."
                    }
                } @else if r.ok {
                    p.muted {
                        "Verified just now (" (v.checked_at) ") against the archive's signed checkpoint of "
                        (v.tree_size) " records."
                    }
                } @else {
                    div.failure role="alert" {
                        p { strong { "This record does NOT verify." } " What follows is only what it claims; it is not proven." }
                        ul {
                            @for (c, d) in r.checks.iter().zip(&v.details) {
                                @if !c.ok {
                                    li { (plain_reason(c)) br; span.muted { "Technical detail: " (d) } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(m) = m {
                section aria-labelledby="facts-h" {
                    h2 #facts-h { "Record" }
                    dl.facts {
                        @if let Some(e) = &m.labels.entity { dt { "Entity" } dd { (e) } }
                        @if let Some(d) = &m.labels.document { dt { "Document" } dd { (d) } }
                        @if let Some(t) = &m.document.title { dt { "Page title" } dd { (t) } }
                        @if let Some(n) = &m.labels.note { dt { "Note" } dd { (n) } }
                        dt { "Original URL" }
                        dd.wrap { a href=(m.requested_url) rel="noopener noreferrer nofollow" { (m.requested_url) } " " span.muted { "(the live page, which may have changed)" } }
                        @if m.final_url != m.requested_url { dt { "Final URL" } dd.wrap { (m.final_url) } }
                        dt { "Record ID" } dd { code { (m.record_id) } }
                        dt { "Captured" } dd { (human_time(&m.captured_at)) }
                        dt { "Method" } dd { (m.method.as_str()) }
                        dt { "SHA-256" } dd.wrap { code { (m.document.sha256) } }
                        dt { "Size" } dd { (crate::terminal::count(m.document.size, "byte", "bytes")) }
                        @if let Some(t) = &m.document.content_type { dt { "Content type" } dd { (t) } }
                        dt { "Signer key" } dd { code { (m.signer) } }
                        dt { "Signed" } dd { (human_time(&m.signed_at)) }
                        dt { "Log index" } dd { (m.log_index) }
                        @if let Some(c) = &m.change { dt { "Change" } dd { (c.kind.as_str()) " since " a href={"/r/" (c.previous)} { (c.previous) } } }
                    }
                    p { a href={"/u?url=" (query_value(&m.requested_url))} { "History of this URL →" } }
                }
            }
            section aria-labelledby="checks-h" {
                h2 #checks-h { "Checks" }
                table.checks {
                    thead { tr { th scope="col" { "Check" } th scope="col" { "Result" } th scope="col" { "Detail" } } }
                    tbody {
                        @for (c, d) in r.checks.iter().zip(&v.details) {
                            tr { td { (check_label(c)) } td { (mark(c.ok)) } td.wrap { (d) } }
                        }
                    }
                }
            }
            @if r.ok {
                @if let Some(m) = m {
                    section aria-labelledby="doc-h" {
                        h2 #doc-h { "Archived document" }
                        p {
                            a href=(v.document_url) rel="noopener noreferrer" { "Open the archived document" }
                            " — served only from this archive, from a separate origin, with scripts blocked."
                        }
                        iframe.archived src=(v.document_url) sandbox="" referrerpolicy="no-referrer"
                            title={"Archived copy of " (m.display_title())} loading="lazy" {}
                    }
                    @if let Some(b) = &m.browser {
                        (browser_parts(m, b, &v.document_url))
                    }
                    section aria-labelledby="dl-h" {
                        h2 #dl-h { "Downloads" }
                        ul {
                            li { a href={"/r/" (m.record_id) "/document"} download { "The document" } " (" (crate::terminal::count(m.document.size, "byte", "bytes")) ", SHA-256 " code { (short(&m.document.sha256)) } "…)" }
                            li { a href={"/r/" (m.record_id) "/export.wacz"} download { "WACZ" } " (WACZ 1.1.1 with the record's signature, proof and checkpoint; " code { "exhibit verify FILE.wacz" } " checks it)" }
                            li { a href={"/api/records/" (m.record_id)} { "Record (JSON)" } ", "
                                 a href={"/api/proof/" (m.record_id)} { "inclusion proof (JSON)" } ", "
                                 a href="/checkpoint" { "signed checkpoint" } }
                        }
                        p.muted { "Evidence bundles (.zip) are sealed with the archive's signing key, which this read-only server does not hold: make one with "
                            code { "exhibit export " (m.record_id) " --out exhibit.zip" } "." }
                    }
                    (citations(m))
                }
            }
        },
    )
}

/// A browser capture: what the reader saw (the screenshot) and every part, each verified with
/// the record and served from the documents' origin.
fn browser_parts(m: &Manifest, b: &crate::manifest::BrowserFacts, doc_url: &str) -> Markup {
    let parts = m.parts();
    let link = |sha: &str| {
        parts
            .iter()
            .position(|p| p.sha256 == sha)
            .map(|n| format!("{doc_url}/part/{n}"))
    };
    let screenshot = b.attachments.iter().find(|a| a.role == "screenshot");
    html! {
        section aria-labelledby="seen-h" {
            h2 #seen-h { "What the reader saw" }
            p.muted { "Rendered by " (b.software.name) " " (b.software.version) " at "
                (b.viewport.width) "×" (b.viewport.height) "; final URL " span.wrap { (b.final_url) } "." }
            @if let Some(u) = replay_url(m, b, doc_url) {
                p { a href=(u) rel="noopener noreferrer" { "Replay the page" }
                    " — from this archive only, on an origin of its own: its scripts run, nothing is fetched from the live web." }
            }
            @if let Some(s) = screenshot {
                @if let Some(u) = link(&s.sha256) {
                    p { a href=(u) rel="noopener noreferrer" {
                        img.screenshot src=(u) alt={"Screenshot of " (m.display_title()) " as captured"}
                            loading="lazy" width=(b.screenshot.width) height=(b.screenshot.height) {}
                    } }
                    @if b.screenshot.truncated {
                        p.muted { "The page was " (b.screenshot.page_height) " pixels tall; the screenshot shows its top "
                            (b.screenshot.height) " pixels." }
                    }
                }
            }
        }
        section aria-labelledby="parts-h" {
            h2 #parts-h { "Parts" }
            p.muted { "Every part below was checked against its SHA-256 when this page was served." }
            table.checks {
                thead { tr { th scope="col" { "Part" } th scope="col" { "Status" } th scope="col" { "SHA-256" } th scope="col" { "Size" } } }
                tbody {
                    @for a in &b.attachments {
                        tr {
                            td { @if let Some(u) = link(&a.sha256) { a href=(u) { (a.role) } } @else { (a.role) } }
                            td { (a.media_type) }
                            td { code { (short(&a.sha256)) "…" } }
                            td { (crate::terminal::count(a.size, "byte", "bytes")) }
                        }
                    }
                    @for e in &b.exchanges {
                        tr {
                            td.wrap {
                                @if let Some(r) = &e.response {
                                    @if let Some(u) = link(&r.body.sha256) { a href=(u) { (e.url) } } @else { (e.url) }
                                } @else { (e.url) }
                            }
                            td { @if let Some(r) = &e.response { (r.status) } @if e.failed { " failed" } }
                            td { @if let Some(r) = &e.response { code { (short(&r.body.sha256)) "…" } } }
                            td { @if let Some(r) = &e.response { (crate::terminal::count(r.body.size, "byte", "bytes")) } }
                        }
                    }
                }
            }
        }
    }
}

/// Where the page replays: `http://r-<id>.localhost:<documents port>` and the page's own path
/// (browsers resolve every `*.localhost` name to loopback).
fn replay_url(m: &Manifest, b: &crate::manifest::BrowserFacts, doc_url: &str) -> Option<String> {
    let port = url::Url::parse(doc_url).ok()?.port_or_known_default()?;
    let page = url::Url::parse(&b.final_url).ok()?;
    let path = &page[url::Position::BeforePath..url::Position::AfterQuery];
    Some(format!(
        "http://r-{}.localhost:{port}{path}",
        m.record_id.to_ascii_lowercase()
    ))
}

fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

fn citations(m: &Manifest) -> Markup {
    let c = Citation::new(m);
    let blocks = [
        ("Text", Format::Text),
        ("Bluebook", Format::Bluebook),
        ("BibTeX", Format::Bibtex),
        ("CSL-JSON", Format::CslJson),
    ];
    html! {
        section aria-labelledby="cite-h" {
            h2 #cite-h { "Cite this record" }
            p.muted { "Copy a block with its button, or select its text." }
            @for (i, (name, f)) in blocks.into_iter().enumerate() {
                h3 { (name) " " button.copy type="button" data-copy={"cite-" (i)} hidden { "Copy" } }
                pre.cite #{"cite-" (i)} tabindex="0" aria-label={(name) " citation"} { (c.render(f)) }
            }
            // The only script of the viewer, from its own origin: it shows the copy buttons
            // (hidden without it, so reading never depends on it).
            script src="/copy.js" defer {}
        }
    }
}

/// A value for a query string: what `form_urlencoded` gives, so `/u?url=` gets back the URL.
pub fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub struct KeyRow {
    pub id: String,
    pub status: String,
    pub introduced: String,
}

pub struct Overview<'a> {
    pub records: u64,
    pub documents: usize,
    pub checkpoint: Option<&'a str>,
    pub checkpoint_problem: Option<&'a str>,
    pub notes: &'a [String],
    pub keys: Vec<KeyRow>,
    pub keys_problem: Option<&'a str>,
    pub recent: Vec<(String, String)>,
}

pub fn overview(o: &Overview) -> Markup {
    layout(
        "Archive",
        html! {
            h1 { "Archive" }
            (search_form(""))
            section aria-labelledby="counts-h" {
                h2 #counts-h { "Contents" }
                dl.facts {
                    dt { "Records in the signed log" } dd { (o.records) }
                    dt { "Distinct documents" } dd { (o.documents) }
                    dt { "Keys" } dd { (o.keys.len()) }
                }
            }
            section aria-labelledby="cp-h" {
                h2 #cp-h { "Current signed checkpoint" }
                @match (o.checkpoint, o.checkpoint_problem) {
                    (None, _) => p { "The archive has no records yet, so no checkpoint." },
                    (Some(text), problem) => {
                        p.marks role="status" {
                            span { "Checkpoint signature " (mark(problem.is_none())) }
                        }
                        @if let Some(p) = problem { p.error role="alert" { "The checkpoint cannot be relied on: " (p) } }
                        pre.cite tabindex="0" aria-label="signed checkpoint" { (text) }
                        p { a href="/checkpoint" { "As text/plain" } " (for witnesses and monitors)" }
                    }
                }
                @for n in o.notes { p.muted { "Note: " (n) } }
            }
            section aria-labelledby="keys-h" {
                h2 #keys-h { "Keys" }
                @if let Some(p) = o.keys_problem { p.error role="alert" { "The key records cannot be relied on: " (p) } }
                table {
                    thead { tr { th scope="col" { "Key ID" } th scope="col" { "Status" } th scope="col" { "How it came in" } } }
                    tbody {
                        @for k in &o.keys {
                            tr { td { code { (k.id) } } td { (k.status) } td { (k.introduced) } }
                        }
                    }
                }
            }
            section aria-labelledby="recent-h" {
                h2 #recent-h { "Latest records" }
                @if o.recent.is_empty() { p { "None yet." } }
                ol.recent reversed {
                    @for (id, sha) in &o.recent {
                        li { a href={"/r/" (id)} { (id) } " " span.muted { code { (short(sha)) } "…" } }
                    }
                }
            }
        },
    )
}

pub struct ChangeLink {
    pub old: String,
    pub new: String,
    pub at: String,
    pub kind: Outcome,
}

fn event_name(o: Outcome) -> &'static str {
    match o {
        Outcome::New => "First capture",
        Outcome::Unchanged => "Unchanged",
        Outcome::BytesChanged => "Bytes changed (same text)",
        Outcome::Changed => "Changed",
    }
}

/// A version's event: a `check` record is a check, and only a check is called one; a capture
/// of the same bytes again is a capture.
fn version_event(v: &crate::history::Version) -> &'static str {
    match (v.change, v.method) {
        (Outcome::Unchanged, "check") => "Checked: unchanged",
        (Outcome::Unchanged, "capture") => "Captured again: unchanged",
        (Outcome::Unchanged, _) => "Imported again: unchanged",
        (o, _) => event_name(o),
    }
}

pub fn history(h: &History, changes: &[ChangeLink], inline: &[(Markup, &ChangeLink)]) -> Markup {
    layout(
        &format!("History of {}", h.url),
        html! {
            p.muted { "URL history" }
            h1.wrap { (h.url) }
            dl.facts {
                dt { "First tracked" } dd { (human_time(h.first_tracked.as_deref().unwrap_or(""))) }
                dt { "Last verified" } dd { (human_time(h.last_verified.as_deref().unwrap_or(""))) " " span.muted { "(the last signed capture or check)" } }
                dt { "Versions" } dd { (h.versions_count) " distinct, " (crate::terminal::count(h.versions.len() as u64, "record", "records")) }
                dt { "Changes in the last 30 days" } dd { (h.changes_last_30_days) }
            }
            section aria-labelledby="ev-h" {
                h2 #ev-h { "Versions and checks" }
                p.muted { "Each record is verified when you open it." }
                table {
                    thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Event" } th scope="col" { "Record" } th scope="col" { "SHA-256" } } }
                    tbody {
                        @for v in h.versions.iter().rev() {
                            tr { td { (human_time(&v.captured_at)) } td { (version_event(v)) } td { a href={"/r/" (v.record_id)} { (v.record_id) } } td { code { (short(&v.sha256)) } "…" } }
                        }
                    }
                }
            }
            section aria-labelledby="ch-h" {
                h2 #ch-h { "Change records" }
                @if changes.is_empty() { p { "No change recorded." } }
                ul {
                    @for c in changes.iter().rev() {
                        li { (human_time(&c.at)) ": " (event_name(c.kind)) " — "
                             a href={"/c?old=" (c.old) "&new=" (c.new)} { "View change record →" } }
                    }
                }
                @for (diff, c) in inline {
                    h3 { (event_name(c.kind)) " on " (human_time(&c.at)) }
                    (diff)
                }
            }
        },
    )
}

pub struct Side<'a> {
    pub manifest: &'a Manifest,
}

/// A diff as a two-column table: the old text on the left, the new on the right, each
/// paragraph beside its counterpart.
pub fn side_by_side(d: &Diff, old: &Side, new: &Side) -> Markup {
    // Each side shows its own words only, so the runs it skips leave no double space.
    let words = |ops: &[WordOp], left: bool| {
        let shown = ops.iter().filter(move |op| match op {
            WordOp::Equal { .. } => true,
            WordOp::Delete { .. } => left,
            WordOp::Insert { .. } => !left,
        });
        html! {
            @for (k, op) in shown.enumerate() {
                @if k > 0 { " " }
                @match op {
                    WordOp::Equal { text } => (text),
                    WordOp::Delete { text } => del { (text) },
                    WordOp::Insert { text } => ins { (text) },
                }
            }
        }
    };
    html! {
        p.muted { (d.summary()) }
        table.diff {
            caption.visually-hidden { "Old text on the left, new text on the right" }
            thead { tr {
                th scope="col" { "Before: " a href={"/r/" (old.manifest.record_id)} { (old.manifest.record_id) } br; span.muted { (human_time(&old.manifest.captured_at)) } }
                th scope="col" { "After: " a href={"/r/" (new.manifest.record_id)} { (new.manifest.record_id) } br; span.muted { (human_time(&new.manifest.captured_at)) } }
            } }
            tbody {
                @for p in &d.paragraphs {
                    @match p {
                        ParagraphChange::Unchanged { text } => tr.unchanged { td { (text) } td { (text) } },
                        ParagraphChange::Added { text } => tr.added { td { span.visually-hidden { "(nothing)" } } td { ins { (text) } } },
                        ParagraphChange::Removed { text } => tr.removed { td { del { (text) } } td { span.visually-hidden { "(removed)" } } },
                        ParagraphChange::Moved { text, from, to } => tr.moved {
                            td { (text) " " span.muted { "(paragraph " (from + 1) ")" } }
                            td { (text) " " span.muted { "(moved to paragraph " (to + 1) ")" } }
                        },
                        ParagraphChange::Changed { ops } => tr.changed { td { (words(ops, true)) } td { (words(ops, false)) } },
                    }
                }
            }
        }
    }
}

pub fn change(d: &Diff, old: &Side, new: &Side) -> Markup {
    layout(
        &format!(
            "Change record {} → {}",
            old.manifest.record_id, new.manifest.record_id
        ),
        html! {
            p.muted { "Change record" }
            h1.wrap { (new.manifest.display_title()) }
            p { "Both records verified just now. " a href={"/u?url=" (query_value(&new.manifest.requested_url))} { "History of this URL" } }
            (side_by_side(d, old, new))
        },
    )
}
