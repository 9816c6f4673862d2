//! Citations: the facts a filing quotes, shaped like a "Citation Record" block, plus how a
//! reader re-checks them. One [`Citation`] renders as plain text, Markdown, a one-line legal
//! citation, BibTeX, CSL-JSON (what Zotero and pandoc import), JSON, or a printable HTML
//! "Certificate of capture".
//!
//! Everything a manifest says about the page (labels, title, URLs) may come from a hostile web
//! page or a careless label, so every renderer escapes for its own syntax: BibTeX special
//! characters, Markdown punctuation, HTML metacharacters, and control characters everywhere.

use crate::manifest::Manifest;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The "Citation Record" block, then a one-line citation
    Text,
    /// The same as a Markdown list
    Markdown,
    /// Only the one-line legal-style citation
    Oneline,
    /// A Bluebook (Rule 18.2) internet citation with "(last visited …)" and an archived-as
    /// parenthetical
    Bluebook,
    /// A BibTeX @misc entry
    #[value(alias = "bib")]
    Bibtex,
    /// CSL-JSON (an array with one item), as Zotero, pandoc and citeproc import
    #[value(alias = "csl")]
    CslJson,
    /// Every fact as JSON
    Json,
    /// A self-contained, printable "Certificate of capture"
    Html,
}

#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub entity: Option<String>,
    pub document: String,
    pub record_id: String,
    /// "2026-05-21 05:07:28 UTC"
    pub captured: String,
    pub captured_at: String,
    pub sha256: String,
    pub url: String,
    pub final_url: String,
    pub method: &'static str,
    pub signer: String,
    pub verify: String,
    /// The one-line legal-style citation (see [`Format::Oneline`]).
    pub oneline: String,
    /// The Bluebook citation (see [`Format::Bluebook`]).
    pub bluebook: String,
    /// The document's own name (label, else HTML title); `None` when `document` is only the URL.
    #[serde(skip)]
    title: Option<String>,
    #[serde(skip)]
    manifest: Manifest,
    /// Where a packed archive keeps the record (its certificate's steps then cut the bytes out
    /// of the pack); `None`: the loose layout's files.
    #[serde(skip)]
    packed: Option<crate::archive::PackedRecord>,
}

impl Citation {
    pub fn new(m: &Manifest) -> Citation {
        let title = m
            .labels
            .document
            .clone()
            .or_else(|| m.document.title.clone());
        let mut c = Citation {
            entity: m.labels.entity.clone(),
            document: m.display_title().to_string(),
            record_id: m.record_id.clone(),
            captured: human_time(&m.captured_at),
            captured_at: m.captured_at.clone(),
            sha256: m.document.sha256.clone(),
            url: m.requested_url.clone(),
            final_url: m.final_url.clone(),
            method: m.method.as_str(),
            signer: m.signer.clone(),
            verify: format!(
                "exhibit verify {} (or without exhibit: sha256sum of the document must print {})",
                m.record_id, m.document.sha256
            ),
            oneline: String::new(),
            bluebook: String::new(),
            title,
            manifest: m.clone(),
            packed: None,
        };
        c.oneline = c.make_oneline();
        c.bluebook = c.make_bluebook();
        c
    }

    /// The record as a packed archive keeps it (FORMAT.md 3.3), for the certificate's steps.
    pub fn packed_at(mut self, at: Option<crate::archive::PackedRecord>) -> Citation {
        self.packed = at;
        self
    }

    /// The citation in `format`, safe to show as text anywhere (a terminal, a file, a web
    /// page's `<pre>`): a bidi override or an escape sequence in a title or label would make
    /// the record ID, URL or hash after it display reversed or rewritten. Every rendering
    /// (`exhibit cite`, a bundle's CITATION.txt, the viewer) goes through here, so they agree:
    /// such characters show as `\u{202e}`, and JSON keeps its value with `\u202e` escapes.
    pub fn render(&self, format: Format) -> String {
        let raw = self.render_unescaped(format);
        match format {
            Format::Json | Format::CslJson => crate::terminal::escape_json(&raw).into_owned(),
            Format::Html => crate::terminal::escape_html_output(&raw).into_owned(),
            _ => crate::terminal::escape_lines(&raw).into_owned(),
        }
    }

    fn render_unescaped(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).expect("citation serializes");
                s.push('\n');
                s
            }
            Format::Text => {
                let mut s = self.lines("", "", &|v: &str| one_line(v));
                s.push_str(&format!("Cite as: {}\n", self.oneline));
                s
            }
            Format::Markdown => {
                let mut s = String::from("**Citation Record**\n\n");
                s.push_str(&self.lines("- **", "**", &md));
                s.push_str(&format!("- **Cite as:** {}\n", md(&self.oneline)));
                s
            }
            Format::Oneline => format!("{}\n", self.oneline),
            Format::Bluebook => format!("{}\n", self.bluebook),
            Format::Bibtex => self.bibtex(),
            Format::CslJson => self.csl_json(),
            Format::Html => self.html(),
        }
    }

    fn lines(&self, pre: &str, post: &str, esc: &dyn Fn(&str) -> String) -> String {
        let mut s = String::new();
        if pre.is_empty() {
            s.push_str("Citation Record\n");
        }
        let markdown = !pre.is_empty();
        let mut line = |k: &str, v: &str| s.push_str(&format!("{pre}{k}:{post} {v}\n"));
        let url = |u: &str| if markdown { md_url(u) } else { one_line(u) };
        if let Some(e) = &self.entity {
            line("Entity", &esc(e));
        }
        line("Document", &esc(&self.document));
        line("Record ID", &esc(&self.record_id));
        line("Captured", &esc(&self.captured));
        line("SHA-256", &esc(&self.sha256));
        line("URL", &url(&self.url));
        if self.final_url != self.url {
            line("Final URL", &url(&self.final_url));
        }
        match self.method {
            "capture" => {}
            "import" => line("Method", "imported (not fetched by exhibit)"),
            "check" => line(
                "Method",
                "re-checked (fetched again; identical to an earlier record's document)",
            ),
            other => line("Method", &esc(other)),
        }
        line("Signed by", &format!("Ed25519 key {}", esc(&self.signer)));
        line("Verify", &esc(&self.verify));
        s
    }

    /// `Entity, "Title" (captured May 21, 2026, 05:07:28 UTC), https://…, archived at exhibit
    /// record EX-…, SHA-256 0be9e4….` Parts that are unknown are left out.
    fn make_oneline(&self) -> String {
        let captured = match utc(&self.captured_at) {
            Some(t) => t.strftime("%B %-d, %Y, %H:%M:%S UTC").to_string(),
            None => self.captured.clone(),
        };
        let mut head: Vec<String> = Vec::new();
        if let Some(e) = self.entity.as_deref().map(one_line) {
            if !e.trim().is_empty() {
                head.push(e);
            }
        }
        if let Some(t) = self.title.as_deref().map(one_line) {
            if !t.trim().is_empty() {
                head.push(format!("\"{t}\""));
            }
        }
        let url = one_line(&self.url);
        let when = if self.method == "import" {
            format!("captured {captured}; imported copy")
        } else {
            format!("captured {captured}")
        };
        let mut s = if head.is_empty() {
            format!("{url} ({when})")
        } else {
            format!("{} ({when}), {url}", head.join(", "))
        };
        let _ = write!(
            s,
            ", archived at exhibit record {}, SHA-256 {}.",
            one_line(&self.record_id),
            one_line(&self.sha256)
        );
        s
    }

    /// A Bluebook Rule 18.2 internet citation (README, "Citations", states the template):
    ///
    /// `Entity, Title, URL (last visited Dec. 2, 2026) (archived as exhibit record EX-…, SHA-256
    /// 0be9e4…).`
    ///
    /// The date is the capture date in UTC, with Bluebook's month abbreviations (table T12:
    /// "Sept.", and May, June and July in full). Entity and title are left out when unknown; an
    /// imported document says so in the parenthetical, because exhibit did not visit the page.
    fn make_bluebook(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan.", "Feb.", "Mar.", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.",
            "Dec.",
        ];
        let visited = match utc(&self.captured_at) {
            Some(t) => format!(
                "{} {}, {}",
                MONTHS[usize::from(t.month().unsigned_abs()) - 1],
                t.day(),
                t.year()
            ),
            None => one_line(&self.captured),
        };
        let mut parts: Vec<String> = Vec::new();
        for part in [self.entity.as_deref(), self.title.as_deref()]
            .into_iter()
            .flatten()
        {
            let p = one_line(part).trim().to_string();
            if !p.is_empty() {
                parts.push(p);
            }
        }
        parts.push(one_line(&self.url));
        format!(
            "{} (last visited {visited}) (archived as exhibit record {}{}, SHA-256 {}).",
            parts.join(", "),
            one_line(&self.record_id),
            if self.method == "import" {
                ", an imported copy"
            } else {
                ""
            },
            one_line(&self.sha256)
        )
    }

    /// The BibTeX key: `exhibit_` and the record ID's letters and digits.
    pub fn bibtex_key(&self) -> String {
        let id: String = self
            .record_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        format!("exhibit_{id}")
    }

    fn note(&self) -> String {
        let mut s = format!(
            "Archived with exhibit as record {}; SHA-256 {}; captured {}",
            self.record_id, self.sha256, self.captured
        );
        if self.method == "import" {
            s.push_str("; imported, not fetched by exhibit");
        }
        s
    }

    fn bibtex(&self) -> String {
        let mut fields: Vec<(&str, String)> = Vec::new();
        fields.push(("title", format!("{{{{{}}}}}", bib_text(&self.document))));
        if let Some(e) = &self.entity {
            // Double braces: a corporate author, not "Inc., Example".
            fields.push(("author", format!("{{{{{}}}}}", bib_text(e))));
            fields.push(("organization", format!("{{{}}}", bib_text(e))));
        }
        fields.push((
            "howpublished",
            format!("{{\\url{{{}}}}}", bib_url_in_argument(&self.url)),
        ));
        fields.push(("url", format!("{{{}}}", bib_url(&self.url))));
        if let Some(t) = utc(&self.captured_at) {
            fields.push(("urldate", format!("{{{}}}", t.strftime("%Y-%m-%d"))));
            fields.push(("year", format!("{{{}}}", t.year())));
            // The standard month macros (jan … dec), which every BibTeX style defines.
            fields.push(("month", t.strftime("%b").to_string().to_ascii_lowercase()));
        }
        fields.push(("note", format!("{{{}}}", bib_text(&self.note()))));
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut s = format!("@misc{{{},\n", self.bibtex_key());
        for (k, v) in fields {
            let _ = writeln!(s, "  {k:<width$} = {v},");
        }
        s.push_str("}\n");
        s
    }

    fn csl_json(&self) -> String {
        let entity = self.entity.clone().filter(|e| !e.trim().is_empty());
        let item = CslItem {
            id: self.record_id.clone(),
            kind: "webpage",
            title: self.document.clone(),
            container_title: entity.clone(),
            publisher: entity,
            url: self.url.clone(),
            accessed: utc(&self.captured_at).map(|t| CslDate {
                date_parts: vec![vec![
                    i32::from(t.year()),
                    i32::from(t.month()),
                    i32::from(t.day()),
                ]],
            }),
            // exhibit knows when it captured a page, not when the page was published.
            issued: None,
            note: self.note(),
            archive: "exhibit",
            archive_location: self.record_id.clone(),
        };
        let mut s = serde_json::to_string_pretty(&[item]).expect("CSL item serializes");
        s.push('\n');
        s
    }

    fn html(&self) -> String {
        let m = &self.manifest;
        let mut facts: Vec<(&str, String)> = Vec::new();
        if let Some(e) = &self.entity {
            facts.push(("Entity", h(e)));
        }
        facts.push(("Document", h(&self.document)));
        if let (Some(t), Some(_)) = (&m.document.title, &m.labels.document) {
            facts.push(("Page title", h(t)));
        }
        facts.push(("URL", html_link(&self.url)));
        if self.final_url != self.url {
            facts.push(("Final URL", format!("<code>{}</code>", h(&self.final_url))));
        }
        facts.push(("Captured (UTC)", h(&self.captured)));
        facts.push((
            "Method",
            match self.method {
                "capture" => "capture: fetched by exhibit over HTTP".to_string(),
                "import" => "import: a copy supplied by the user, not fetched by exhibit".into(),
                "check" => "check: fetched again; identical to an earlier record's document".into(),
                other => h(other),
            },
        ));
        if let Some(http) = &m.http {
            facts.push((
                "HTTP status",
                h(&format!(
                    "{} {} ({})",
                    http.response.status, http.response.reason, http.response.version
                )),
            ));
            if !http.redirects.is_empty() {
                facts.push(("Redirects", h(&http.redirects.len().to_string())));
            }
            if let Some(a) = &http.remote_addr {
                facts.push(("Server address", h(a)));
            }
        } else {
            facts.push(("HTTP status", "none (not fetched over HTTP)".into()));
        }
        facts.push((
            "Content type",
            m.document
                .content_type
                .as_deref()
                .map(h)
                .unwrap_or_else(|| "not stated".into()),
        ));
        facts.push(("Size", h(&human_size(m.document.size))));
        if let Some(n) = &m.labels.note {
            facts.push(("Note", h(n)));
        }

        let mut hashes: Vec<(&str, String)> = vec![(
            "Document SHA-256",
            format!("<code class=\"hash\">{}</code>", h(&self.sha256)),
        )];
        if let Some(p) = m.http.as_ref().and_then(|x| x.payload.as_ref()) {
            let enc = m
                .http
                .as_ref()
                .and_then(|x| x.content_encoding.as_deref())
                .unwrap_or("encoded");
            hashes.push((
                "Payload SHA-256",
                format!(
                    "<code class=\"hash\">{}</code><br><span class=\"aside\">the body as sent ({}, {}), before exhibit removed the content-encoding</span>",
                    h(&p.sha256),
                    h(enc),
                    h(&human_size(p.size))
                ),
            ));
        }

        let signing = vec![
            (
                "Signer key ID",
                format!("<code>{}</code> (Ed25519)", h(&self.signer)),
            ),
            (
                "Log index",
                format!(
                    "{} (this record's position in the archive's signed Merkle log)",
                    h(&m.log_index.to_string())
                ),
            ),
            ("Signed (UTC)", h(&human_time(&m.signed_at))),
            (
                "Recorded by",
                h(&format!("{} {}", m.tool.name, m.tool.version)),
            ),
        ];

        let id = &self.record_id;
        let shard: String = id.chars().skip(3).take(2).collect();
        let aa: String = self.sha256.chars().take(2).collect();
        let sha = &self.sha256;
        let signer = &self.signer;
        let steps = [
            (
                "With exhibit, pinning the signer's public key (a copy obtained independently of the archive):"
                    .to_string(),
                format!("exhibit verify {id} --trusted-key {signer}.pub"),
            ),
            (
                "Without exhibit, in the archive directory: the document's SHA-256 must print the hash above."
                    .to_string(),
                match self.packed.and_then(|p| p.document) {
                    Some(d) => format!(
                        "head -c {} {} \\\n  | tail -c {} | zstd -dc | sha256sum\n# must print {sha}",
                        d.offset + d.len,
                        pack_path(&d),
                        d.len
                    ),
                    None => format!("zstd -dc \\\n  documents/{aa}/{sha}.zst \\\n  | sha256sum\n# must print {sha}"),
                },
            ),
            (
                "If you hold only the document file, hash it directly:".to_string(),
                format!("sha256sum FILE\n# must print {sha}"),
            ),
            (
                "The key is the one the record names (key ID = first 16 hex digits of the SHA-256 of the raw key). \
keys/ is the archive's own copy; to prove who signed, use a copy of the signer's key obtained independently:"
                    .to_string(),
                format!(
                    "openssl pkey -pubin -in keys/{signer}.pem -outform DER \\\n  | tail -c 32 | sha256sum | cut -c1-16\n# must print {signer}"
                ),
            ),
            match self.packed {
                None => (
                    "The signature: raw Ed25519 over the exact bytes of the manifest file:".to_string(),
                    format!(
                        "openssl pkeyutl -verify -pubin -inkey keys/{signer}.pem -rawin \\\n  -in records/{shard}/{id}.json -sigfile records/{shard}/{id}.sig\n# must print: Signature Verified Successfully"
                    ),
                ),
                Some(p) => (
                    "The signature: raw Ed25519 over the exact bytes of the manifest, both cut out of the record's pack (FORMAT.md 3.3):"
                        .to_string(),
                    format!(
                        "head -c {} {} | tail -c {} > manifest.json\nhead -c {} {} | tail -c {} > manifest.sig\nopenssl pkeyutl -verify -pubin -inkey keys/{signer}.pem -rawin \\\n  -in manifest.json -sigfile manifest.sig\n# must print: Signature Verified Successfully",
                        p.manifest.offset + p.manifest.len,
                        pack_path(&p.manifest),
                        p.manifest.len,
                        p.signature.offset + p.signature.len,
                        pack_path(&p.signature),
                        p.signature.len,
                    ),
                ),
            },
        ];

        let mut s = String::with_capacity(8192);
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        s.push_str("<meta name=\"generator\" content=\"exhibit\">\n");
        let _ = writeln!(s, "<title>Certificate of capture {}</title>", h(id));
        s.push_str("<style>\n");
        s.push_str(CSS);
        s.push_str("</style>\n</head>\n<body>\n<main class=\"cert\">\n");
        s.push_str("<header>\n<p class=\"kicker\">exhibit</p>\n<h1>Certificate of capture</h1>\n");
        let _ = writeln!(
            s,
            "<p class=\"record\">Record <strong>{}</strong></p>",
            h(id)
        );
        s.push_str("</header>\n");

        section(&mut s, "What was captured", &facts);
        section(&mut s, "Fingerprints", &hashes);
        section(&mut s, "Signature and log", &signing);

        s.push_str("<section>\n<h2>Cite as</h2>\n");
        let _ = writeln!(s, "<p class=\"oneline\">{}</p>", h(&self.oneline));
        s.push_str("</section>\n");

        s.push_str("<section class=\"verify\">\n<h2>How to verify</h2>\n<ol>\n");
        for (what, cmd) in &steps {
            let _ = writeln!(s, "<li><p>{}</p><pre>{}</pre></li>", h(what), h(cmd));
        }
        s.push_str(
            "</ol>\n<p>The complete procedure without exhibit, including the blob trailer \
and the inclusion of this record in the signed log (entry ",
        );
        s.push_str(&h(&m.log_index.to_string()));
        s.push_str(
            "), is section 12 of <code>docs/FORMAT.md</code> \
(archive layout: section 3; signatures: section 6; keys: section 7).</p>\n</section>\n",
        );

        s.push_str(
            "<footer>\n<p>This page restates a signed record. The evidence is the \
manifest, its signature and the log entry, which anyone can re-check with the steps above; \
this page is not itself signed.</p>\n</footer>\n</main>\n</body>\n</html>\n",
        );
        s
    }
}

const CSS: &str = "\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 2rem 1rem; background: #eef0f3; color: #1b1f24;
  font: 15px/1.5 Georgia, 'Times New Roman', serif; }
.cert { max-width: 52rem; margin: 0 auto; padding: 2.5rem 3rem; background: #fff;
  border: 1px solid #c9ced6; border-top: 6px solid #1f3a5f; }
header { border-bottom: 1px solid #c9ced6; margin-bottom: 1.5rem; }
.kicker { margin: 0; font: 600 0.8rem/1 system-ui, sans-serif; letter-spacing: 0.2em;
  text-transform: uppercase; color: #1f3a5f; }
h1 { margin: 0.4rem 0 0.2rem; font-size: 2rem; font-weight: normal; }
.record { margin: 0 0 1rem; font-family: ui-monospace, Menlo, Consolas, monospace; }
h2 { margin: 1.8rem 0 0.6rem; font: 600 0.85rem/1.2 system-ui, sans-serif;
  letter-spacing: 0.08em; text-transform: uppercase; color: #1f3a5f; }
dl { display: grid; grid-template-columns: 11rem 1fr; gap: 0.35rem 1rem; margin: 0; }
dt { color: #555d68; }
dd { margin: 0; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
.hash { overflow-wrap: anywhere; }
.aside { color: #555d68; font-size: 0.85em; }
.oneline { margin: 0; padding: 0.8rem 1rem; background: #f6f7f9; border-left: 3px solid #1f3a5f;
  overflow-wrap: anywhere; }
.verify ol { padding-left: 1.4rem; }
.verify li p { margin: 0.6rem 0 0.2rem; }
pre { margin: 0; padding: 0.6rem 0.8rem; background: #f6f7f9; border: 1px solid #dde1e6;
  white-space: pre-wrap; overflow-wrap: anywhere; }
a { color: #1f3a5f; }
footer { margin-top: 2rem; padding-top: 1rem; border-top: 1px solid #c9ced6; color: #555d68;
  font-size: 0.85em; }
@page { size: A4; margin: 18mm 16mm; }
@media print {
  body { background: #fff; padding: 0; font-size: 11pt; }
  .cert { max-width: none; padding: 0; border: 0; }
  a { color: inherit; text-decoration: none; }
  dl, li, pre, .oneline { break-inside: avoid; }
  h2 { break-after: avoid; }
  pre, .oneline { background: none; }
  pre { font-size: 8pt; }
}
";

fn section(s: &mut String, heading: &str, rows: &[(&str, String)]) {
    let _ = writeln!(s, "<section>\n<h2>{}</h2>\n<dl>", h(heading));
    for (k, v) in rows {
        let _ = writeln!(s, "<dt>{}</dt><dd>{v}</dd>", h(k));
    }
    s.push_str("</dl>\n</section>\n");
}

#[derive(Serialize)]
struct CslItem {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    #[serde(rename = "container-title", skip_serializing_if = "Option::is_none")]
    container_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publisher: Option<String>,
    #[serde(rename = "URL")]
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessed: Option<CslDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued: Option<CslDate>,
    note: String,
    archive: &'static str,
    archive_location: String,
}

#[derive(Serialize)]
struct CslDate {
    #[serde(rename = "date-parts")]
    date_parts: Vec<Vec<i32>>,
}

/// "2026-05-21T05:07:28Z" -> "2026-05-21 05:07:28 UTC", the form citations print.
pub fn human_time(rfc3339: &str) -> String {
    match utc(rfc3339) {
        Some(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => rfc3339.to_string(),
    }
}

fn utc(rfc3339: &str) -> Option<jiff::Zoned> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC))
}

/// "12345" -> "12,345 bytes (12.1 KiB)".
fn human_size(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let unit = if n == 1 { "byte" } else { "bytes" };
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = None;
    for name in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        u = Some(name);
    }
    match u {
        Some(name) => format!("{grouped} {unit} ({v:.1} {name})"),
        None => format!("{grouped} {unit}"),
    }
}

/// Control characters (newlines, tabs, escapes) become spaces, so a label cannot break a
/// line-oriented format or smuggle terminal escapes.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Markdown text: backslash-escape the punctuation that starts emphasis, code, links, HTML or
/// tables, so a hostile title renders as the literal text it is.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A URL in Markdown: an autolink `<…>` (no escapes needed inside), unless the URL could end
/// the autolink early, in which case it is escaped text.
fn md_url(u: &str) -> String {
    let clean = (u.starts_with("http://") || u.starts_with("https://"))
        && !u
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>');
    if clean {
        format!("<{u}>")
    } else {
        md(u)
    }
}

/// HTML text or attribute value. Unsafe characters are escaped as text first: a numeric
/// reference alone would still reorder what a browser shows.
fn h(s: &str) -> String {
    crate::text::escape_html(&crate::terminal::escape_lines(s))
}

/// The cited URL as a link, only for http(s) URLs (never `javascript:` or `data:`).
/// `packs/<aa>/<sha256>.pack`, relative to the archive.
fn pack_path(r: &crate::archive::PackRange) -> String {
    format!("packs/{}/{}.pack", r.pack.shard(), r.pack)
}

fn html_link(u: &str) -> String {
    let lower = u.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        format!("<a href=\"{0}\">{0}</a>", h(u))
    } else {
        format!("<code>{}</code>", h(u))
    }
}

/// BibTeX/LaTeX text. BibTeX delimits a braced value by counting braces and ignores
/// backslashes while doing so, so a literal brace is written as `\textbraceleft{}` rather than
/// `\{`: an unbalanced `}` in a title can then never close the field.
fn bib_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '{' => out.push_str("\\textbraceleft{}"),
            '}' => out.push_str("\\textbraceright{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            '%' | '&' | '$' | '#' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The `url` field, which biblatex reads verbatim and BibTeX styles wrap in `\url{…}`: the URL
/// as is, so `%`, `#`, `_`, `&` and `~` stay literal, except characters that are not legal in a
/// URL anyway and would unbalance or break the field (braces, backslash, spaces, controls), which
/// are percent-encoded. Percent-encoding them leaves the URL equivalent.
fn bib_url(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    for c in u.chars() {
        match c {
            '{' | '}' | '\\' | '"' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_whitespace() || c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A URL inside `\url{…}` inside another field: `\url` cannot change the meaning of `%` and `#`
/// once they are read as a macro argument, so they are escaped (hyperref's `\url` prints `\%`
/// and `\#` as `%` and `#`).
fn bib_url_in_argument(u: &str) -> String {
    let mut out = String::new();
    for c in bib_url(u).chars() {
        if matches!(c, '%' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bibtex_escapes_keep_braces_balanced() {
        let e = bib_text("Evil } @misc{x, title={pwned 100% & $5 #1 a_b ^ ~ \\");
        let depth = e.chars().try_fold(0i32, |d, c| match c {
            '{' => Some(d + 1),
            '}' if d == 0 => None,
            '}' => Some(d - 1),
            _ => Some(d),
        });
        assert_eq!(depth, Some(0), "{e}");
        assert!(
            e.contains("\\%") && e.contains("\\&") && e.contains("\\_"),
            "{e}"
        );
    }

    #[test]
    fn urls_stay_literal_in_url_fields() {
        assert_eq!(
            bib_url("https://e.org/a_b%20c#x"),
            "https://e.org/a_b%20c#x"
        );
        assert_eq!(bib_url("https://e.org/?q={x}"), "https://e.org/?q=%7Bx%7D");
        assert_eq!(
            bib_url_in_argument("https://e.org/a%20b#x"),
            "https://e.org/a\\%20b\\#x"
        );
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(12345), "12,345 bytes (12.1 KiB)");
        assert_eq!(
            human_time("2026-05-21T05:07:28Z"),
            "2026-05-21 05:07:28 UTC"
        );
        let t = utc("2026-05-01T05:07:28Z").unwrap();
        assert_eq!(
            t.strftime("%B %-d, %Y, %H:%M:%S UTC").to_string(),
            "May 1, 2026, 05:07:28 UTC"
        );
        assert_eq!(t.strftime("%b").to_string().to_ascii_lowercase(), "may");
    }

    #[test]
    fn bluebook_months_and_parts() {
        let m = |at: &str, entity: Option<&str>, title: Option<&str>| {
            let mut c = Citation {
                entity: entity.map(String::from),
                document: String::new(),
                record_id: "EX-7K2M-9QDR-T4VW".into(),
                captured: human_time(at),
                captured_at: at.into(),
                sha256: "0be9".into(),
                url: "https://example.org/privacy".into(),
                final_url: "https://example.org/privacy".into(),
                method: "capture",
                signer: String::new(),
                verify: String::new(),
                oneline: String::new(),
                bluebook: String::new(),
                title: title.map(String::from),
                manifest: crate::manifest::Manifest::parse(include_bytes!(
                    "../../archive/records/9E/EX-9EZC-KCS8-S60E.json"
                ))
                .unwrap(),
                packed: None,
            };
            c.bluebook = c.make_bluebook();
            c.bluebook
        };
        assert_eq!(
            m("2026-12-02T23:59:59Z", Some("Example Inc."), Some("Privacy\nNotice")),
            "Example Inc., Privacy Notice, https://example.org/privacy (last visited Dec. 2, 2026) \
             (archived as exhibit record EX-7K2M-9QDR-T4VW, SHA-256 0be9)."
        );
        assert_eq!(
            m("2026-09-30T00:00:00Z", None, None),
            "https://example.org/privacy (last visited Sept. 30, 2026) \
             (archived as exhibit record EX-7K2M-9QDR-T4VW, SHA-256 0be9)."
        );
        assert!(m("2026-06-01T00:00:00Z", None, Some(" ")).contains("(last visited June 1, 2026)"));
    }

    #[test]
    fn html_and_markdown_escape() {
        assert_eq!(
            h("<img src=x onerror='a'>&"),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;"
        );
        assert_eq!(md("a_b *c* [d](e)"), "a\\_b \\*c\\* \\[d\\](e)");
        assert_eq!(md_url("https://e.org/a_b"), "<https://e.org/a_b>");
        assert!(html_link("javascript:alert(1)").starts_with("<code>"));
    }
}
