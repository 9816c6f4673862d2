//! The manifest: the signed statement of what was captured, when, from where and with which
//! SHA-256. Its exact bytes are what the signature covers and what the log's leaf hashes, so the
//! schema is a public contract (docs/FORMAT.md). Fields are never removed or given a new meaning;
//! anything new needs a new format version. Version 2 added `document.text_fingerprint`,
//! `change` and the method `check`; version 1 manifests (without them) stay valid.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The version exhibit writes.
pub const FORMAT: &str = "exhibit-manifest/2";
/// The first version, still read: the same schema without the version-2 additions.
pub const FORMAT_V1: &str = "exhibit-manifest/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `exhibit-manifest/2` (or `/1` for older records). It is the first field so that the signed bytes
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
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Capture => "capture",
            Method::Import => "import",
            Method::Check => "check",
            Method::Key => "key",
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
    /// The IP address and port the final response came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
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

impl Manifest {
    /// The exact bytes that are stored, signed and logged: compact JSON in schema field order,
    /// then one newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("a manifest always serializes");
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
        let canonical = m.to_bytes();
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
        if self.format != FORMAT && self.format != FORMAT_V1 {
            return bad(format!(
                "format is {:?}, this exhibit reads {FORMAT_V1:?} and {FORMAT:?}",
                self.format
            ));
        }
        if self.format == FORMAT_V1
            && (self.change.is_some()
                || self.document.text_fingerprint.is_some()
                || matches!(self.method, Method::Check | Method::Key))
        {
            return bad("a version-1 manifest cannot hold version-2 fields (change, text_fingerprint, method check)".into());
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
        for h in self.http.iter().flat_map(all_headers) {
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

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
