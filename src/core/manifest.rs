//! The manifest: the signed statement of what was captured, when, from where and with which
//! SHA-256. Its exact bytes are what the signature covers and what the log's leaf hashes, so the
//! schema is a public contract (docs/FORMAT.md). Fields are never removed or given a new meaning;
//! anything new needs a new format version. Version 2 added `document.text_fingerprint`,
//! `change` and the methods `check` and `key`; version 3 added `http.proxy` and
//! `http.redacted_headers` and the rule that no URL carries credentials; version 4 added the
//! method `import-warc` and its `warc` object (what an imported WARC record claimed); version 5
//! added the `browser` object of a browser capture (its provenance and every part: exchanges and
//! attachments). Version 1 to 4 manifests (without those) stay valid, and exhibit still writes
//! version 3 for every record that needs nothing of version 4 or 5.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The version exhibit writes for every record that needs nothing of version 4.
pub const FORMAT: &str = "exhibit-manifest/3";
/// Version 4: version 3 plus the method `import-warc` and the `warc` object. Written only for
/// records of that method, so that readers of version 3 keep reading every other new record.
pub const FORMAT_V4: &str = "exhibit-manifest/4";
/// Version 5: version 4 plus the `browser` object. Written only for browser captures, so that
/// readers of older versions keep reading every other new record.
pub const FORMAT_V5: &str = "exhibit-manifest/5";
/// Still read: the schema without the version-3 additions.
pub const FORMAT_V2: &str = "exhibit-manifest/2";
/// The first version, still read: the schema without the version-2 and version-3 additions.
pub const FORMAT_V1: &str = "exhibit-manifest/1";

/// The value that replaces a redacted header's value (`http.redacted_headers`, version 3).
pub const REDACTED: &str = "[redacted]";

/// Headers whose values the manifest also records elsewhere (the request URL, `location`,
/// `document.content_type`, `http.content_encoding`), so redacting them would hide nothing.
pub const UNREDACTABLE: [&str; 4] = ["host", "location", "content-type", "content-encoding"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `exhibit-manifest/3` (or `/2`, `/1` for older records). It is the first field so that the signed bytes
    /// announce what they are, which keeps a manifest signature from being read as anything else.
    pub format: String,
    pub record_id: String,
    /// Position of this record in the archive's log (0-based leaf index).
    pub log_index: u64,
    pub method: Method,
    pub requested_url: String,
    pub final_url: String,
    /// When the response was received (capture) or the time the importer asserts (import).
    pub captured_at: String,
    /// When exhibit signed this manifest.
    pub signed_at: String,
    pub document: DocumentFacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpExchange>,
    /// Version 4, method `import-warc` only: what the imported WARC record claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warc: Option<WarcClaims>,
    /// Version 5, browser captures only: how the page was rendered and every part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<Box<BrowserFacts>>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// For records made by `exhibit check`: how this capture compares with the latest earlier
    /// record of the same URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    pub tool: Tool,
    /// Key ID of the signer (see keys.rs).
    pub signer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Capture,
    Import,
    /// A verification event: the URL was fetched again and its bytes were identical to the
    /// previous record's document, so no new document was stored.
    Check,
    /// A key status change (keystatus.rs): the document is the signed statement.
    Key,
    /// Version 4: a record of a WARC file (`exhibit import FILE.warc`): the document is its
    /// payload, and everything the file said about it is in `warc`, as claimed by the file.
    #[serde(rename = "import-warc")]
    ImportWarc,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Capture => "capture",
            Method::Import => "import",
            Method::Check => "check",
            Method::Key => "key",
            Method::ImportWarc => "import-warc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentFacts {
    /// SHA-256 of the document bytes: the cited hash.
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The HTML `<title>`, when the document is HTML and has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `sha256:<hex>` of the document's readable text (docs/FORMAT.md says how it is extracted),
    /// for text-like documents. It only classifies changes; the cited hash is always `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_fingerprint: Option<String>,
}

/// What a WARC record said about itself and the file it came from (manifest version 4). Every
/// field except `source_sha256` and `source_size` is a claim of the file, copied as written:
/// exhibit observed none of it. exhibit checked only that the record's own digests match its
/// bytes, and computed the document from its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarcClaims {
    /// SHA-256 (hex) and size of the file given to `exhibit import` (the .warc, .warc.gz or
    /// .wacz), as exhibit read it.
    pub source_sha256: String,
    pub source_size: u64,
    /// For a WACZ: the path of the WARC inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_member: Option<String>,
    /// `response`, `resource` or `revisit`.
    pub record_type: String,
    /// WARC-Record-ID, as written (with its angle brackets).
    pub record_id: String,
    /// WARC-Target-URI, as written.
    pub target_uri: String,
    /// WARC-Date, as written.
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_digest: Option<String>,
    /// A revisit's WARC-Refers-To.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<String>,
    /// The HTTP head of a response or revisit record, as recorded: its status line and every
    /// header in order, names as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<ClaimedHttp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimedHttp {
    pub status_line: String,
    pub headers: Vec<Header>,
}

/// A browser capture (manifest version 5): how the page was rendered, every network exchange
/// the page made, and the rendered views. Every body and attachment is a document of its own in
/// the store, named by its SHA-256 like the cited document; the cited document is the body of
/// the exchange that delivered the final main-frame document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserFacts {
    pub software: BrowserSoftware,
    /// The user agent the page saw.
    pub user_agent: String,
    pub viewport: Viewport,
    pub limits: BrowserLimits,
    pub timings: BrowserTimings,
    /// `document.title` when the views were taken (empty when the page has none).
    pub title: String,
    /// The main frame's URL when the views were taken, after HTTP and client-side redirects.
    pub final_url: String,
    pub screenshot: ScreenshotFacts,
    /// Dialogs, popups, downloads, WebSockets, service workers, limits reached, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<BrowserEvent>,
    /// Every request, in the order the browser made them.
    pub exchanges: Vec<BrowserExchange>,
    /// The rendered views: roles `screenshot`, `pdf` and `dom`, each once, in that order.
    pub attachments: Vec<Attachment>,
    /// The proxy every request of the page went through (`--proxy`), as `http.proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Lower-cased header names, sorted, whose values were replaced by [`REDACTED`] in every
    /// exchange before signing (`--redact-header`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted_headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSoftware {
    pub name: String,
    pub version: String,
    pub product: String,
    pub revision: String,
    pub protocol_version: String,
    pub js_version: String,
    pub executable: String,
    pub sandbox: bool,
    /// The browser's command line as it ran, without the program name.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    /// Device pixels per CSS pixel, in thousandths (1000 = 1.0), so that the signed bytes hold
    /// no floating-point number, whose spelling would be a second canonical form to agree on.
    pub device_scale_milli: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserLimits {
    pub deadline_ms: u64,
    pub snapshot_reserve_ms: u64,
    pub settle_quiet_ms: u64,
    pub settle_max_ms: u64,
    pub max_resources: u64,
    pub max_total_bytes: u64,
    pub max_navigations: u64,
    pub max_screenshot_height: u32,
    pub max_pdf_pages: u32,
    pub max_pdf_bytes: u64,
    pub max_dom_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserTimings {
    pub started_at: String,
    pub navigation_start_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_content_loaded_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<u64>,
    pub settled_ms: u64,
    /// How waiting ended: `quiet`, `settle_cap` or `deadline`.
    pub settle: String,
    pub total_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotFacts {
    pub width: u32,
    pub height: u32,
    pub page_height: u32,
    /// The page was taller than the cap: the screenshot shows its top.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserEvent {
    pub kind: String,
    pub url: String,
    pub detail: String,
    pub at_ms: u64,
}

/// One request of the page and what came of it: a response (whose body is a stored document)
/// or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserExchange {
    pub url: String,
    pub method: String,
    pub resource_type: String,
    pub main_frame_navigation: bool,
    pub request_headers: Vec<Header>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_sha256: Option<String>,
    pub started_ms: u64,
    pub duration_ms: u64,
    /// No response, an error status (400 and above), or a response the browser refused.
    pub failed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BrowserResponseFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExchangeError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserResponseFacts {
    pub status: u16,
    /// As the server sent them, in order, names as received.
    pub headers: Vec<Header>,
    /// SHA-256 and size of the body the browser was given (content-coding removed): a stored
    /// document.
    pub body: Payload,
    /// The TLS connection an https response came over, as for `http.tls` (5.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConnection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeError {
    /// `timeout`, `refused`, `not_resolved`, `too_large`, `blocked`, `limit_reached`,
    /// `still_pending`, `other`, or `browser` (the browser refused the response it was given).
    pub kind: String,
    pub message: String,
}

/// A rendered view of the page, stored as a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub role: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
}

/// The roles of attachments, in the order a manifest lists them, with their media types.
pub const ATTACHMENT_ROLES: [(&str, &str); 3] = [
    ("screenshot", "image/png"),
    ("pdf", "application/pdf"),
    ("dom", "text/html; charset=utf-8"),
];

/// A stored document a record cites besides its main document: an attachment (named by its
/// role) or an exchange's response body (named by its URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The record this one is compared with.
    pub previous: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Identical bytes.
    Unchanged,
    /// Different bytes, same readable text (nonces, tokens, timestamps).
    BytesChanged,
    /// The readable text changed (or the document is not text and its bytes changed).
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Unchanged => "unchanged",
            ChangeKind::BytesChanged => "bytes-changed",
            ChangeKind::Changed => "changed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Labels {
    pub fn is_empty(&self) -> bool {
        self.entity.is_none() && self.document.is_none() && self.note.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The HTTP exchange as exhibit saw it: every hop's request and response head and the body's
/// digest as it crossed the wire, enough to write WARC request/response records later. Limits,
/// stated in docs/FORMAT.md: header names are lower-cased, repeated headers are grouped under
/// their first appearance, and the reason phrase is the standard one for the status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExchange {
    /// Redirect hops before the final response, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<Hop>,
    pub request: Request,
    pub response: Response,
    /// The server's Content-Encoding (gzip, br, deflate, zstd), which exhibit removed to obtain
    /// the document bytes. Absent when the body was sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// SHA-256 and size of the body as it came off the wire: transfer-encoding removed,
    /// content-encoding kept (WARC's payload digest). Present when `content_encoding` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// The IP address and port the final response came from (the proxy's, through a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Version 3: the proxy every request went through (`--proxy`). Absent: exhibit connected
    /// to the servers itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Version 3: lower-cased header names, sorted, whose values were replaced by [`REDACTED`]
    /// in every request and response of this exchange before signing (`--redact-header`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted_headers: Vec<String>,
    /// Version 5: for each https request of the exchange (redirect hops first, in order), the
    /// TLS connection it went over: the protocol version and the certificates the server sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsConnection>,
}

/// A TLS connection as exhibit verified it (FORMAT.md 5.11). Each certificate is a document of
/// its own in the store (its DER bytes, content-addressed), leaf first, exactly as the server
/// sent the chain; the record cites them as parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConnection {
    /// The request URL this connection carried.
    pub url: String,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    pub chain: Vec<Payload>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    pub request: Request,
    pub response: Response,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// "HTTP/1.1" or "HTTP/1.0" (exhibit speaks HTTP/1.x).
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub sha256: String,
    pub size: u64,
}

/// A header as received. Values that are not UTF-8 are kept exactly, base64-encoded, because a
/// lossy conversion would make the record unfaithful to what the server sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl Header {
    pub fn new(name: &str, value: &[u8]) -> Self {
        match std::str::from_utf8(value) {
            Ok(v) => Header {
                name: name.into(),
                value: Some(v.into()),
                value_base64: None,
            },
            Err(_) => {
                use base64::Engine;
                Header {
                    name: name.into(),
                    value: None,
                    value_base64: Some(base64::engine::general_purpose::STANDARD.encode(value)),
                }
            }
        }
    }
}

/// A record in one line of `--json` output: the fields every command that prints records
/// (`capture`, `check`, `import`, `list`) shares, named and typed once. Commands add what is
/// theirs beside it (`#[serde(flatten)]`); `show --json` prints the whole manifest instead.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSummary<'a> {
    pub record_id: &'a str,
    pub log_index: u64,
    pub captured_at: &'a str,
    pub method: Method,
    /// The URL asked for; `final_url` is where redirects ended.
    pub url: &'a str,
    pub final_url: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub content_type: Option<&'a str>,
    pub title: Option<&'a str>,
    pub text_fingerprint: Option<&'a str>,
}

impl Manifest {
    /// A manifest for unit tests: the fields a record needs, the rest empty.
    #[cfg(test)]
    pub(crate) fn for_test(
        method: Method,
        record_id: String,
        log_index: u64,
        url: String,
        signed_at: &str,
        (sha256, size): (String, u64),
        signer: String,
    ) -> Manifest {
        Manifest {
            format: format_for(method, false).into(),
            record_id,
            log_index,
            method,
            requested_url: url.clone(),
            final_url: url,
            captured_at: signed_at.into(),
            signed_at: signed_at.into(),
            document: DocumentFacts {
                sha256,
                size,
                content_type: None,
                title: None,
                text_fingerprint: None,
            },
            http: None,
            warc: None,
            browser: None,
            labels: Labels::default(),
            change: None,
            tool: Tool::this(),
            signer,
        }
    }

    pub fn summary(&self) -> RecordSummary<'_> {
        RecordSummary {
            record_id: &self.record_id,
            log_index: self.log_index,
            captured_at: &self.captured_at,
            method: self.method,
            url: &self.requested_url,
            final_url: &self.final_url,
            sha256: &self.document.sha256,
            size: self.document.size,
            content_type: self.document.content_type.as_deref(),
            title: self.document.title.as_deref(),
            text_fingerprint: self.document.text_fingerprint.as_deref(),
        }
    }
}

impl Manifest {
    /// The exact bytes that are stored, signed and logged: compact JSON in schema field order,
    /// then one newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Room for a typical manifest with its exchange headers: growing from serde_json's
        // 128 bytes was a tenth of the canonical-form check's cost in an audit.
        self.to_bytes_in(Vec::with_capacity(2048))
    }

    fn to_bytes_in(&self, mut v: Vec<u8>) -> Vec<u8> {
        serde_json::to_writer(&mut v, self).expect("a manifest always serializes");
        v.push(b'\n');
        v
    }

    /// Parse and check a manifest from untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::verification(format!("malformed manifest: {e}")))?;
        m.check()?;
        // Only exhibit's own byte form is a manifest (FORMAT.md 5.1, 5.6): member order,
        // omitted members, escapes, number spelling and the final LF are all fixed, so that one
        // statement has exactly one signed form and any reader can tell a manifest exhibit did
        // not write. Every manifest exhibit ever wrote is this form: `to_bytes` wrote it.
        let canonical = m.to_bytes_in(Vec::with_capacity(bytes.len()));
        if canonical != bytes {
            let at = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(Error::verification(format!(
                "malformed manifest: not in canonical form (it differs from its canonical \
                 encoding at byte {at})"
            )));
        }
        Ok(m)
    }

    /// Structural rules serde cannot express. Anything that passes here is safe to use as a
    /// path component or a hash.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::verification(format!("malformed manifest: {why}")));
        let version = match self.format.as_str() {
            FORMAT_V1 => 1,
            FORMAT_V2 => 2,
            FORMAT => 3,
            FORMAT_V4 => 4,
            FORMAT_V5 => 5,
            _ => {
                return bad(format!(
                    "format is {:?}, this exhibit reads {FORMAT_V1:?}, {FORMAT_V2:?}, {FORMAT:?}, {FORMAT_V4:?} and {FORMAT_V5:?}",
                    self.format
                ))
            }
        };
        if version < 4 && (self.method == Method::ImportWarc || self.warc.is_some()) {
            return bad(format!(
                "a {} manifest cannot hold version-4 fields (method import-warc, warc)",
                self.format
            ));
        }
        if version >= 4 {
            self.check_v4().or_else(bad)?;
        }
        if version < 5 && self.http.as_ref().is_some_and(|h| !h.tls.is_empty()) {
            return bad(format!(
                "a {} manifest cannot hold version-5 fields (http.tls)",
                self.format
            ));
        }
        if version < 5 && self.browser.is_some() {
            return bad(format!(
                "a {} manifest cannot hold version-5 fields (browser)",
                self.format
            ));
        }
        if version == 5 {
            self.check_v5().or_else(bad)?;
        }
        if self.format == FORMAT_V1
            && (self.change.is_some()
                || self.document.text_fingerprint.is_some()
                || matches!(self.method, Method::Check | Method::Key))
        {
            return bad("a version-1 manifest cannot hold version-2 fields (change, text_fingerprint, method check)".into());
        }
        if version < 3 {
            if self
                .http
                .as_ref()
                .is_some_and(|h| h.proxy.is_some() || !h.redacted_headers.is_empty())
            {
                return bad(format!(
                    "a {} manifest cannot hold version-3 fields (http.proxy, http.redacted_headers)",
                    self.format
                ));
            }
        } else {
            self.check_v3().or_else(bad)?;
        }
        // Only the canonical spelling: the ID is used in file names and compared as text.
        let canonical = |s: &str| {
            s.parse::<crate::record_id::RecordId>()
                .is_ok_and(|id| id.to_string() == s)
        };
        if !canonical(&self.record_id) {
            return bad(format!(
                "record_id {:?} is not a valid record ID",
                self.record_id
            ));
        }
        if !is_sha256_hex(&self.document.sha256) {
            return bad("document.sha256 is not 64 lowercase hex digits".into());
        }
        if let Some(f) = &self.document.text_fingerprint {
            if !f.strip_prefix("sha256:").is_some_and(is_sha256_hex) {
                return bad(
                    "document.text_fingerprint is not sha256:<64 lowercase hex digits>".into(),
                );
            }
        }
        if let Some(c) = &self.change {
            if !canonical(&c.previous) {
                return bad(format!(
                    "change.previous {:?} is not a valid record ID",
                    c.previous
                ));
            }
        }
        if self.method == Method::Check
            && self.change.as_ref().map(|c| c.kind) != Some(ChangeKind::Unchanged)
        {
            return bad(
                "a check record must say its document is unchanged from a previous record".into(),
            );
        }
        if let Some(p) = self.http.as_ref().and_then(|h| h.payload.as_ref()) {
            if !is_sha256_hex(&p.sha256) {
                return bad("http.payload.sha256 is not 64 lowercase hex digits".into());
            }
        }
        if !self
            .signer
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            || self.signer.len() != 16
        {
            return bad("signer is not a 16-lowercase-hex-digit key ID".into());
        }
        for (name, t) in [
            ("captured_at", &self.captured_at),
            ("signed_at", &self.signed_at),
        ] {
            if !is_canonical_time(t) {
                return bad(format!(
                    "{name} {t:?} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ"
                ));
            }
        }
        let warc_headers = self
            .warc
            .iter()
            .flat_map(|w| w.http.iter().flat_map(|h| h.headers.iter()));
        let browser_headers = self.browser.iter().flat_map(|b| {
            b.exchanges.iter().flat_map(|e| {
                e.request_headers
                    .iter()
                    .chain(e.response.iter().flat_map(|r| r.headers.iter()))
            })
        });
        for h in self
            .http
            .iter()
            .flat_map(all_headers)
            .chain(warc_headers)
            .chain(browser_headers)
        {
            if h.value.is_some() == h.value_base64.is_some() {
                return bad(format!(
                    "header {:?} must have exactly one of value and value_base64",
                    h.name
                ));
            }
            // value_base64 exists only for bytes that are not UTF-8 (Header::new): anything
            // else is a second spelling of a header exhibit would have written as `value`.
            if let Some(v) = &h.value_base64 {
                match crate::b64::decode(v) {
                    None => {
                        return bad(format!(
                            "header {:?}: value_base64 is not canonical base64",
                            h.name
                        ))
                    }
                    Some(raw) if std::str::from_utf8(&raw).is_ok() => {
                        return bad(format!(
                            "header {:?}: value_base64 holds UTF-8 text, which is written as value",
                            h.name
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Version-3 rules: no URL carries credentials, and redaction is stated and applied
    /// consistently. Messages never echo a URL, which could hold the very password refused.
    fn check_v3(&self) -> std::result::Result<(), String> {
        let mut urls: Vec<(&str, &str)> = vec![
            ("requested_url", &self.requested_url),
            ("final_url", &self.final_url),
        ];
        if let Some(h) = &self.http {
            for hop in &h.redirects {
                urls.push(("a redirect's request.url", &hop.request.url));
            }
            urls.push(("http.request.url", &h.request.url));
        }
        for (what, u) in urls {
            if url_has_userinfo(u, None) {
                return Err(format!(
                    "{what} carries a user name or password, which a version-3 manifest never records"
                ));
            }
        }
        let Some(h) = &self.http else { return Ok(()) };
        for hop in &h.redirects {
            let base = url::Url::parse(&hop.request.url).ok();
            if url_has_userinfo(&hop.location, base.as_ref()) {
                return Err(
                    "a redirect's location carries a user name or password, which a version-3 manifest never records"
                        .into(),
                );
            }
        }
        if let Some(p) = &h.proxy {
            let ok = url::Url::parse(p).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.has_host() && !url_has_userinfo(p, None)
            });
            if !ok {
                return Err(
                    "http.proxy is not an http or https URL without user name or password".into(),
                );
            }
        }
        let names = &h.redacted_headers;
        for (i, n) in names.iter().enumerate() {
            if !is_header_name(n) || n.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "http.redacted_headers: {n:?} is not a lower-case header name"
                ));
            }
            if i > 0 && names[i - 1] >= *n {
                return Err("http.redacted_headers is not sorted and free of duplicates".into());
            }
            if UNREDACTABLE.contains(&n.as_str()) {
                return Err(format!(
                    "http.redacted_headers names {n:?}, whose value the manifest records elsewhere"
                ));
            }
        }
        for hd in all_headers(h) {
            if names.contains(&hd.name) && hd.value.as_deref() != Some(REDACTED) {
                return Err(format!(
                    "header {:?} is listed in http.redacted_headers but its value is not {REDACTED:?}",
                    hd.name
                ));
            }
        }
        Ok(())
    }

    /// Version-4 rules: `warc` is present exactly on `import-warc` records, which have no `http`
    /// (exhibit observed no HTTP exchange), and its URL carries no credentials.
    fn check_v4(&self) -> std::result::Result<(), String> {
        match (self.warc.is_some(), self.method == Method::ImportWarc) {
            (true, true) | (false, false) => {}
            (false, true) => return Err("an import-warc record must have a warc object".into()),
            (true, false) => return Err("only import-warc records have a warc object".into()),
        }
        let Some(w) = &self.warc else { return Ok(()) };
        if self.http.is_some() {
            return Err(
                "an import-warc record has no http object (exhibit fetched nothing)".into(),
            );
        }
        if !is_sha256_hex(&w.source_sha256) {
            return Err("warc.source_sha256 is not 64 lowercase hex digits".into());
        }
        if !["response", "resource", "revisit"].contains(&w.record_type.as_str()) {
            return Err("warc.record_type is not response, resource or revisit".into());
        }
        if url_has_userinfo(&w.target_uri, None) {
            return Err(
                "warc.target_uri carries a user name or password, which a manifest never records"
                    .into(),
            );
        }
        if let Some(h) = &w.http {
            for hd in &h.headers {
                if !is_header_name(&hd.name) {
                    return Err(format!("warc.http: {:?} is not a header name", hd.name));
                }
            }
        }
        Ok(())
    }

    /// Version-5 rules: a browser object only on captures, whose cited document is the body of
    /// a main-frame exchange; every part named by a valid hash; no URL with credentials; the
    /// attachments are the three views, once each, in order.
    fn check_v5(&self) -> std::result::Result<(), String> {
        let browser_tls = self
            .browser
            .iter()
            .flat_map(|b| &b.exchanges)
            .filter_map(|e| e.response.as_ref()?.tls.as_ref());
        for c in self.http.iter().flat_map(|h| &h.tls).chain(browser_tls) {
            if !matches!(c.version.as_str(), "TLSv1.2" | "TLSv1.3" | "unknown") {
                return Err(format!("http.tls: unknown version {:?}", c.version));
            }
            if !c.url.starts_with("https://") {
                return Err("http.tls: a connection's url is not an https URL".into());
            }
            if c.chain.is_empty() || c.chain.iter().any(|p| !is_sha256_hex(&p.sha256)) {
                return Err("http.tls: a chain is empty or names a malformed SHA-256".into());
            }
        }
        let Some(b) = &self.browser else {
            return Ok(());
        };
        if self.method != Method::Capture {
            return Err("only capture records have a browser object".into());
        }
        if self.http.is_some() {
            return Err(
                "a browser capture has no http object (its exchanges are in browser)".into(),
            );
        }
        if !is_canonical_time(&b.timings.started_at) {
            return Err(
                "browser.timings.started_at is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ"
                    .into(),
            );
        }
        if url_has_userinfo(&b.final_url, None) {
            return Err("browser.final_url carries a user name or password".into());
        }
        if let Some(p) = &b.proxy {
            let ok = url::Url::parse(p).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.has_host() && !url_has_userinfo(p, None)
            });
            if !ok {
                return Err(
                    "browser.proxy is not an http or https URL without user name or password"
                        .into(),
                );
            }
        }
        let names = &b.redacted_headers;
        for (i, n) in names.iter().enumerate() {
            if !is_header_name(n) || n.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(format!(
                    "browser.redacted_headers: {n:?} is not a lower-case header name"
                ));
            }
            if i > 0 && names[i - 1] >= *n {
                return Err("browser.redacted_headers is not sorted and free of duplicates".into());
            }
            if UNREDACTABLE.contains(&n.as_str()) {
                return Err(format!(
                    "browser.redacted_headers names {n:?}, whose value the manifest records elsewhere"
                ));
            }
        }
        let headers = b.exchanges.iter().flat_map(|e| {
            e.request_headers
                .iter()
                .chain(e.response.iter().flat_map(|r| r.headers.iter()))
        });
        for hd in headers {
            if names.contains(&hd.name.to_ascii_lowercase())
                && hd.value.as_deref() != Some(REDACTED)
            {
                return Err(format!(
                    "header {:?} is listed in browser.redacted_headers but its value is not {REDACTED:?}",
                    hd.name
                ));
            }
        }
        let roles: Vec<&str> = b.attachments.iter().map(|a| a.role.as_str()).collect();
        let want: Vec<&str> = ATTACHMENT_ROLES.iter().map(|r| r.0).collect();
        if roles != want {
            return Err(
                "browser.attachments are not screenshot, pdf and dom, in that order".into(),
            );
        }
        for (a, (_, media_type)) in b.attachments.iter().zip(ATTACHMENT_ROLES) {
            if a.media_type != media_type || !is_sha256_hex(&a.sha256) {
                return Err(format!(
                    "browser attachment {}: media type is not {media_type:?} or sha256 is not 64 lowercase hex digits",
                    a.role
                ));
            }
        }
        let mut cites_document = false;
        for (i, e) in b.exchanges.iter().enumerate() {
            if url_has_userinfo(&e.url, None) {
                return Err(format!(
                    "browser exchange {i}: its URL carries a user name or password"
                ));
            }
            // An error beside a response is the browser's refusal of the response it was given.
            let refused = e.error.as_ref().is_some_and(|x| x.kind == "browser");
            if e.response.is_none() && (e.error.is_none() || refused) {
                return Err(format!(
                    "browser exchange {i} has neither a response nor a fetch error"
                ));
            }
            if e.response.is_some() && e.error.is_some() && !refused {
                return Err(format!(
                    "browser exchange {i} has a response and an error of kind other than browser"
                ));
            }
            if let Some(r) = &e.response {
                if !is_sha256_hex(&r.body.sha256) {
                    return Err(format!(
                        "browser exchange {i}: body.sha256 is not 64 lowercase hex digits"
                    ));
                }
                if (r.status >= 400 || refused) != e.failed {
                    return Err(format!(
                        "browser exchange {i}: failed must say whether the status is 400 or above or the browser refused it"
                    ));
                }
            } else if !e.failed {
                return Err(format!(
                    "browser exchange {i} has an error but is not failed"
                ));
            }
            if let Some(r) = &e.response {
                cites_document |= e.main_frame_navigation
                    && r.body.sha256 == self.document.sha256
                    && r.body.size == self.document.size;
            }
            if let Some(h) = &e.request_body_sha256 {
                if !is_sha256_hex(h) {
                    return Err(format!(
                        "browser exchange {i}: request_body_sha256 is not 64 lowercase hex digits"
                    ));
                }
            }
            let headers = e
                .request_headers
                .iter()
                .chain(e.response.iter().flat_map(|r| r.headers.iter()));
            for hd in headers {
                if !is_header_name(&hd.name) {
                    return Err(format!(
                        "browser exchange {i}: {:?} is not a header name",
                        hd.name
                    ));
                }
            }
        }
        if !cites_document {
            return Err(
                "the document is not the body of any main-frame exchange of the browser object"
                    .into(),
            );
        }
        Ok(())
    }

    /// Every stored document the record cites: its document, then its parts.
    pub fn cited(&self) -> Result<Vec<crate::core::digest::Sha256>> {
        let mut out = vec![crate::core::digest::Sha256::checked(&self.document.sha256)?];
        out.extend(
            self.parts()
                .iter()
                .filter_map(|p| crate::core::digest::Sha256::parse(&p.sha256)),
        );
        Ok(out)
    }

    /// The stored documents this record cites besides its document: the attachments (named by
    /// role), then every distinct response body (named by the first URL that delivered it),
    /// leaving out the document itself.
    pub fn parts(&self) -> Vec<Part> {
        let mut seen = std::collections::HashSet::new();
        seen.insert(self.document.sha256.as_str());
        let mut named: Vec<(String, &str, u64)> = Vec::new();
        if let Some(b) = &self.browser {
            named.extend(
                b.attachments
                    .iter()
                    .map(|a| (a.role.clone(), a.sha256.as_str(), a.size)),
            );
            named.extend(b.exchanges.iter().filter_map(|e| {
                e.response
                    .as_ref()
                    .map(|r| (e.url.clone(), r.body.sha256.as_str(), r.body.size))
            }));
        }
        // Then the certificates of every TLS connection (version 5), named after the request
        // and their place in its chain: `tls:<url>#0` is the leaf.
        let browser_tls = self
            .browser
            .iter()
            .flat_map(|b| &b.exchanges)
            .filter_map(|e| e.response.as_ref()?.tls.as_ref());
        let http_tls = self.http.iter().flat_map(|h| &h.tls);
        {
            for c in http_tls.chain(browser_tls) {
                named.extend(
                    c.chain
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (format!("tls:{}#{i}", c.url), p.sha256.as_str(), p.size)),
                );
            }
        }
        named
            .into_iter()
            .filter(|(_, sha, _)| seen.insert(sha))
            .map(|(name, sha, size)| Part {
                name,
                sha256: sha.to_string(),
                size,
            })
            .collect()
    }

    /// The name a reader knows the document by: its label, else its HTML title, else its URL.
    pub fn display_title(&self) -> &str {
        self.labels
            .document
            .as_deref()
            .or(self.document.title.as_deref())
            .unwrap_or(&self.final_url)
    }
}

fn all_headers(h: &HttpExchange) -> impl Iterator<Item = &Header> {
    h.redirects
        .iter()
        .flat_map(|hop| hop.request.headers.iter().chain(&hop.response.headers))
        .chain(&h.request.headers)
        .chain(&h.response.headers)
}

/// Whether `url` (resolved against `base` when it is relative) has a user name or a password,
/// as the WHATWG URL parser reads it. Text that does not parse counts as having one when it
/// contains an `@` at all: nothing exhibit writes is unparseable, and a reader cannot tell what
/// such text would mean. Credentials are never sent or recorded (docs/FORMAT.md 5.6, version 3).
pub fn url_has_userinfo(url: &str, base: Option<&url::Url>) -> bool {
    // The WHATWG parser sets a user name or password only when it meets an `@`; otherwise the
    // result has none, or a relative reference's copy of the base's. So without an `@` and
    // without credentials in the base the answer is no, and no parse is needed: every URL of
    // every manifest is checked, and parsing them was 2% of an audit.
    if !url.contains('@') && base.is_none_or(|b| b.username().is_empty() && b.password().is_none())
    {
        return false;
    }
    let parsed = match base {
        Some(b) => b.join(url),
        None => url::Url::parse(url),
    };
    match parsed {
        Ok(u) => !u.username().is_empty() || u.password().is_some(),
        Err(_) => url.contains('@'),
    }
}

/// An HTTP field name (RFC 9110 `token`).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The manifest version exhibit writes for a new record of `method`: version 5 for a browser
/// capture or one that went over TLS (`v5`: it holds a version-5 field), version 4 for
/// `import-warc`, which only they can hold, version 3 for everything else.
pub fn format_for(method: Method, v5: bool) -> &'static str {
    let browser = v5;
    if browser {
        FORMAT_V5
    } else if method == Method::ImportWarc {
        FORMAT_V4
    } else {
        FORMAT
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    crate::core::digest::Sha256::parse(s).is_some()
}

/// Whether `s` is a time exactly as exhibit writes it (`format_time`): a valid instant spelled
/// `YYYY-MM-DDTHH:MM:SSZ`, in UTC, whole seconds, no other offset or precision.
pub fn is_canonical_time(s: &str) -> bool {
    s.parse::<jiff::Timestamp>()
        .is_ok_and(|t| format_time(t) == s)
}

/// RFC 3339 UTC with second precision, as cited ("2026-05-21T05:07:28Z").
pub fn format_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn now() -> String {
    format_time(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {

    /// The shortcut of `url_has_userinfo` gives the answer of the full parse, on every text
    /// and base.
    mod userinfo {
        use super::super::url_has_userinfo;
        use proptest::prelude::*;

        fn parsed(url: &str, base: Option<&url::Url>) -> bool {
            match base.map_or_else(|| url::Url::parse(url), |b| b.join(url)) {
                Ok(u) => !u.username().is_empty() || u.password().is_some(),
                Err(_) => url.contains('@'),
            }
        }

        proptest! {
            #[test]
            fn without_an_at_sign_the_shortcut_agrees_with_the_parser(
                url in r"(https?:|ftp:|file:|data:|[a-z]{1,3}:)?(//)?[a-zA-Z0-9.:@%/?#\\\[\] \t\n＠﹫／：。K-]{0,24}",
                base in proptest::option::of("https?://([a-z]{1,3}(:[a-z]{0,3})?@)?[a-z]{1,5}(:[0-9]{1,5})?/[a-z/]{0,6}"),
            ) {
                let base = base.and_then(|b| url::Url::parse(&b).ok());
                prop_assert_eq!(url_has_userinfo(&url, base.as_ref()), parsed(&url, base.as_ref()));
            }
        }

        #[test]
        fn credentials_come_from_an_at_sign_or_from_the_base() {
            let with = url::Url::parse("http://u:p@a.example/x/").unwrap();
            let without = url::Url::parse("http://a.example/x/").unwrap();
            for (url, base, has) in [
                ("http://a.example/", None, false),
                ("http://u@a.example/", None, true),
                ("y", Some(&with), true),
                ("/y", Some(&with), true),
                ("//b.example/", Some(&with), false),
                ("http://b.example/", Some(&with), false),
                ("y", Some(&without), false),
                ("//u:p@b.example/", Some(&without), true),
                ("http://[::1/", Some(&with), false),
            ] {
                assert_eq!(url_has_userinfo(url, base), has, "{url} {base:?}");
                assert_eq!(parsed(url, base), has, "{url} {base:?}");
            }
        }
    }
    use super::*;

    /// A version-3 capture manifest with a redirect, as exhibit writes one, with `edit` applied
    /// to its JSON first.
    fn parse_edited(edit: impl Fn(&mut serde_json::Value)) -> Result<Manifest> {
        let mut v = serde_json::json!({
            "format": "exhibit-manifest/3",
            "record_id": "EX-GQN6-420A-ZZ7Q",
            "log_index": 0,
            "method": "capture",
            "requested_url": "http://example.org/a",
            "final_url": "http://example.org/b",
            "captured_at": "2026-05-21T05:07:28Z",
            "signed_at": "2026-05-21T05:07:28Z",
            "document": {"sha256": "7b026fd61526c14f244a3f1268080a6b8b5b887061582e49016752ba6c3cd141", "size": 1},
            "http": {
                "redirects": [{
                    "request": {"method": "GET", "url": "http://example.org/a", "headers": []},
                    "response": {"version": "HTTP/1.1", "status": 302, "reason": "Found", "headers": [
                        {"name": "location", "value": "/b"},
                        {"name": "set-cookie", "value": "[redacted]"}
                    ]},
                    "location": "/b"
                }],
                "request": {"method": "GET", "url": "http://example.org/b", "headers": [
                    {"name": "host", "value": "example.org"}
                ]},
                "response": {"version": "HTTP/1.1", "status": 200, "reason": "OK", "headers": [
                    {"name": "set-cookie", "value": "[redacted]"},
                    {"name": "x-id", "value": "[redacted]"}
                ]},
                "proxy": "http://127.0.0.1:3128/",
                "redacted_headers": ["set-cookie", "x-id"]
            },
            "tool": {"name": "exhibit", "version": "0.1.0"},
            "signer": "52ef03b1d0c954b5"
        });
        edit(&mut v);
        // Through the typed struct, so the bytes are in canonical form (member order) and only
        // the rule under test can reject them.
        let m: Manifest = serde_json::from_value(v)
            .map_err(|e| Error::verification(format!("malformed manifest: {e}")))?;
        Manifest::parse(&m.to_bytes())
    }

    fn rejected(edit: impl Fn(&mut serde_json::Value), says: &str) {
        let e = parse_edited(edit).expect_err(says);
        assert!(e.to_string().contains(says), "{e}");
        assert!(
            !e.to_string().contains("pw@"),
            "the error echoes a password: {e}"
        );
    }

    #[test]
    fn version_3_fields_and_rules() {
        let m = parse_edited(|_| {}).unwrap();
        assert_eq!(m.format, FORMAT);
        // Byte-exact round trip: the new fields sit after remote_addr, in this order.
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
        let s = String::from_utf8(m.to_bytes()).unwrap();
        assert!(s.contains(
            r#""proxy":"http://127.0.0.1:3128/","redacted_headers":["set-cookie","x-id"]}"#
        ));

        for format in [FORMAT_V1, FORMAT_V2] {
            rejected(
                |v| v["format"] = format.into(),
                "cannot hold version-3 fields",
            );
            // Without the v3 fields, the same manifest is a valid older one.
            parse_edited(|v| {
                v["format"] = format.into();
                let h = v["http"].as_object_mut().unwrap();
                h.remove("proxy");
                h.remove("redacted_headers");
            })
            .unwrap();
        }
        // An old record keeps verifying whatever URL it holds; a v3 one never has credentials.
        parse_edited(|v| {
            v["format"] = FORMAT_V2.into();
            v["http"].as_object_mut().unwrap().remove("proxy");
            v["http"]
                .as_object_mut()
                .unwrap()
                .remove("redacted_headers");
            v["requested_url"] = "http://u:pw@example.org/a".into();
        })
        .unwrap();
        rejected(
            |v| v["requested_url"] = "http://u:pw@example.org/a".into(),
            "requested_url carries",
        );
        rejected(
            |v| v["final_url"] = "http://u@example.org/b".into(),
            "final_url carries",
        );
        rejected(
            |v| v["http"]["request"]["url"] = "https://:pw@example.org/".into(),
            "http.request.url",
        );
        rejected(
            |v| v["http"]["redirects"][0]["request"]["url"] = "http://u:pw@example.org/a".into(),
            "a redirect's request.url",
        );
        rejected(
            |v| v["http"]["redirects"][0]["location"] = "//u:pw@example.org/b".into(),
            "a redirect's location",
        );
        rejected(
            |v| v["requested_url"] = "http://u:pw@example.org:99999/".into(),
            "requested_url carries",
        );
        rejected(
            |v| v["http"]["proxy"] = "http://u:pw@proxy:1/".into(),
            "http.proxy",
        );
        rejected(
            |v| v["http"]["proxy"] = "socks5://proxy:1/".into(),
            "http.proxy",
        );
        rejected(
            |v| v["http"]["redacted_headers"] = serde_json::json!(["x-id", "set-cookie"]),
            "not sorted",
        );
        rejected(
            |v| {
                v["http"]["redacted_headers"] =
                    serde_json::json!(["set-cookie", "set-cookie", "x-id"])
            },
            "not sorted",
        );
        rejected(
            |v| v["http"]["redacted_headers"] = serde_json::json!(["Set-Cookie", "x-id"]),
            "not a lower-case header name",
        );
        rejected(
            |v| {
                v["http"]["redacted_headers"] =
                    serde_json::json!(["location", "set-cookie", "x-id"])
            },
            "records elsewhere",
        );
        rejected(
            |v| v["http"]["response"]["headers"][1]["value"] = "abc".into(),
            "its value is not",
        );
        // A listed name no header carries is fine: the list says what would have been replaced.
        parse_edited(|v| {
            v["http"]["redacted_headers"] =
                serde_json::json!(["authorization-x", "set-cookie", "x-id"])
        })
        .unwrap();
        // Key records keep their exhibit:key/ URLs.
        parse_edited(|v| {
            v["method"] = "key".into();
            v["requested_url"] = "exhibit:key/52ef03b1d0c954b5".into();
            v["final_url"] = "exhibit:key/52ef03b1d0c954b5".into();
            v.as_object_mut().unwrap().remove("http");
        })
        .unwrap();
    }

    #[test]
    fn version_4_import_warc() {
        let v4 = |v: &mut serde_json::Value| {
            v["format"] = FORMAT_V4.into();
            v["method"] = "import-warc".into();
            v.as_object_mut().unwrap().remove("http");
            v["warc"] = serde_json::json!({
                "source_sha256": "7b026fd61526c14f244a3f1268080a6b8b5b887061582e49016752ba6c3cd141",
                "source_size": 1234,
                "record_type": "response",
                "record_id": "<urn:uuid:1>",
                "target_uri": "<http://example.org/b>",
                "date": "2026-05-21T05:07:28.5Z",
                "payload_digest": "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5",
                "http": {"status_line": "HTTP/1.1 200 OK", "headers": [{"name": "Content-Type", "value": "text/html"}]}
            });
        };
        let m = parse_edited(v4).unwrap();
        assert_eq!(m.method, Method::ImportWarc);
        assert_eq!(format_for(m.method, false), FORMAT_V4);
        assert_eq!(format_for(Method::Capture, false), FORMAT);
        assert_eq!(format_for(Method::Capture, true), FORMAT_V5);
        let s = String::from_utf8(m.to_bytes()).unwrap();
        assert!(s.contains(r#""method":"import-warc""#), "{s}");
        for old in [FORMAT_V1, FORMAT_V2, FORMAT] {
            rejected(
                |v| {
                    v4(v);
                    v["format"] = old.into();
                },
                "cannot hold version-4 fields",
            );
        }
        rejected(
            |v| {
                v4(v);
                v.as_object_mut().unwrap().remove("warc");
            },
            "must have a warc object",
        );
        rejected(
            |v| {
                v4(v);
                v["method"] = "import".into();
            },
            "only import-warc records",
        );
        rejected(
            |v| {
                v4(v);
                v["warc"]["target_uri"] = "<http://u:pw@example.org/b>".into();
            },
            "warc.target_uri carries",
        );
        rejected(
            |v| {
                v4(v);
                v["warc"]["record_type"] = "request".into();
            },
            "warc.record_type",
        );
        // A version-4 capture (no v4 field) is valid: version 4 is version 3 plus additions.
        parse_edited(|v| v["format"] = FORMAT_V4.into()).unwrap();
    }
    #[test]
    fn version_5_browser() {
        let h = |c: char| c.to_string().repeat(64);
        let v5 = move |v: &mut serde_json::Value| {
            v["format"] = FORMAT_V5.into();
            v.as_object_mut().unwrap().remove("http");
            let doc = v["document"]["sha256"].clone();
            v["browser"] = serde_json::json!({
                "software": {"name": "Chromium", "version": "156.0.1.2", "product": "Chrome/156.0.1.2",
                    "revision": "@x", "protocol_version": "1.3", "js_version": "15", "executable": "/usr/bin/chromium",
                    "sandbox": false, "flags": ["--headless"]},
                "user_agent": "UA",
                "viewport": {"width": 1280, "height": 800, "device_scale_milli": 1000},
                "limits": {"deadline_ms": 1, "snapshot_reserve_ms": 1, "settle_quiet_ms": 1, "settle_max_ms": 1,
                    "max_resources": 1, "max_total_bytes": 1, "max_navigations": 1, "max_screenshot_height": 1,
                    "max_pdf_pages": 1, "max_pdf_bytes": 1, "max_dom_bytes": 1},
                "timings": {"started_at": "2026-05-21T05:07:28Z", "navigation_start_ms": 1, "settled_ms": 2,
                    "settle": "quiet", "total_ms": 3},
                "title": "T",
                "final_url": "http://example.org/b",
                "screenshot": {"width": 1280, "height": 800, "page_height": 800, "truncated": false},
                "exchanges": [
                    {"url": "http://example.org/b", "method": "GET", "resource_type": "Document",
                     "main_frame_navigation": true, "request_headers": [], "started_ms": 0, "duration_ms": 1,
                     "failed": false, "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "text/html"}],
                     "body": {"sha256": doc, "size": 1}}},
                    {"url": "http://example.org/a.css", "method": "GET", "resource_type": "Stylesheet",
                     "main_frame_navigation": false, "request_headers": [], "started_ms": 0, "duration_ms": 1,
                     "failed": true, "error": {"kind": "timeout", "message": "slow"}},
                    {"url": "http://example.org/x.png", "method": "GET", "resource_type": "Image",
                     "main_frame_navigation": false, "request_headers": [], "started_ms": 0, "duration_ms": 1,
                     "failed": true, "response": {"status": 404, "headers": [], "body": {"sha256": h('c'), "size": 9}}}
                ],
                "attachments": [
                    {"role": "screenshot", "media_type": "image/png", "sha256": h('a'), "size": 5},
                    {"role": "pdf", "media_type": "application/pdf", "sha256": h('b'), "size": 6},
                    {"role": "dom", "media_type": "text/html; charset=utf-8", "sha256": h('a'), "size": 5}
                ]
            });
        };
        let m = parse_edited(v5).unwrap();
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
        let parts: Vec<(String, String)> =
            m.parts().into_iter().map(|p| (p.name, p.sha256)).collect();
        // The document and repeated bytes are listed once, under their first name.
        assert_eq!(
            parts,
            vec![
                ("screenshot".to_string(), h('a')),
                ("pdf".to_string(), h('b')),
                ("http://example.org/x.png".to_string(), h('c')),
            ]
        );
        for old in [FORMAT_V1, FORMAT_V2, FORMAT, FORMAT_V4] {
            rejected(
                |v| {
                    v5(v);
                    v["format"] = old.into();
                },
                "cannot hold version-5 fields",
            );
        }
        rejected(
            |v| {
                v5(v);
                v["browser"]["exchanges"][0]["response"]["body"]["sha256"] = h('d').into();
            },
            "not the body of any main-frame exchange",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["exchanges"][1]["failed"] = false.into();
            },
            "not failed",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["exchanges"][2]["failed"] = false.into();
            },
            "failed must say",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["attachments"][2]["role"] = "pdf".into();
            },
            "screenshot, pdf and dom",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["exchanges"][1]["url"] = "http://u:pw@example.org/".into();
            },
            "carries a user name",
        );
        rejected(
            |v| {
                v5(v);
                v["method"] = "import".into();
            },
            "only capture records",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["proxy"] = "socks5://proxy:1/".into();
            },
            "browser.proxy",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["redacted_headers"] = serde_json::json!(["set-cookie", "cookie"]);
            },
            "not sorted",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["redacted_headers"] = serde_json::json!(["content-type"]);
            },
            "records elsewhere",
        );
        rejected(
            |v| {
                v5(v);
                v["browser"]["exchanges"][0]["request_headers"] =
                    serde_json::json!([{"name": "Cookie", "value": "a=b"}]);
                v["browser"]["redacted_headers"] = serde_json::json!(["cookie"]);
            },
            "its value is not",
        );
        parse_edited(|v| {
            v5(v);
            v["browser"]["proxy"] = "http://127.0.0.1:3128/".into();
            v["browser"]["exchanges"][0]["request_headers"] =
                serde_json::json!([{"name": "Cookie", "value": REDACTED}]);
            v["browser"]["redacted_headers"] = serde_json::json!(["cookie", "set-cookie"]);
        })
        .unwrap();
        // Plain records keep their version; a v5 capture without browser is version 4 plus nothing.
        parse_edited(|v| v["format"] = FORMAT_V5.into()).unwrap();
    }
}
