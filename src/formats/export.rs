//! exhibit records as WARC 1.1 and WACZ 1.1.1 (docs/FORMAT.md section 15).
//!
//! An exhibit record becomes a [`Capture`]: the HTTP exchanges it observed (each a request and
//! a response whose body is a document of the store) and the resources it holds (an imported
//! file; a browser capture's screenshot, PDF and DOM). [`plan`] turns captures into WARC
//! records, deterministically; [`write_warc`] streams them out, one gzip member each; and
//! [`verify_warc`] reads a WARC back and checks that it is exactly what [`plan`] gives for the
//! signed manifests it carries, so a changed byte anywhere is caught.
//!
//! A browser capture is a [`Capture`] with several exchanges (one per answered request of the
//! page) and resource parts (screenshot, PDF, DOM), built from its manifest alone.

use super::cdxj;
use super::warc::writer::{Placed, WarcWriter, GZIP_HEADER};
use super::warc::{self, Fields};
use crate::archive::Archive;
use crate::core::digest::Sha256;
use crate::core::interrupt::Tracked;
use crate::error::{Error, IoContext, Kind, Result};
use crate::keys::{self, PublicKey};
use crate::log::merkle;
use crate::manifest::{Header, Manifest, Method};
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::trust::{Anchor, Trust};

use sha2::Digest as _;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;

/// The identifier of exhibit's WARC mapping, in every warcinfo record it writes.
pub const WARC_FORMAT: &str = "exhibit-warc/1";
/// Prefix of the headers whose original values a rebuilt head keeps under another name.
pub const ORIG: &str = "x-exhibit-orig-";
/// The name of the WARC inside a WACZ, and in its index.
pub const WACZ_WARC: &str = "data.warc.gz";

/// A body carried in a WARC block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Nothing: a response whose body exhibit did not keep (a redirect hop) or that was empty.
    Empty,
    /// A document of the store, by its SHA-256 and size.
    Document { sha256: String, size: u64 },
}

/// One HTTP exchange: request and response heads as rebuilt, and the body.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub target_uri: String,
    pub date: String,
    pub ip: Option<String>,
    pub request: Option<Vec<u8>>,
    pub response_head: Vec<u8>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub body: Body,
    /// The response had a body that the WARC does not carry (WARC-Truncated: unspecified).
    pub truncated: bool,
}

/// A resource part: a document that is not an HTTP response (an imported file; a screenshot).
#[derive(Debug, Clone)]
pub struct Resource {
    pub target_uri: String,
    pub date: String,
    pub content_type: String,
    pub body: Body,
}

/// One exhibit record in WARC terms, with its provenance.
#[derive(Debug, Clone)]
pub struct Capture {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Vec<u8>,
    pub proof: Vec<u8>,
    pub exchanges: Vec<Exchange>,
    pub resources: Vec<Resource>,
}

/// Everything a WARC export holds besides the captures.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub software: String,
    pub origin: String,
    pub checkpoint_text: String,
    pub checkpoint: Checkpoint,
    /// Public keys in key-ID order: (ID, PEM).
    pub keys: Vec<(String, String)>,
    /// The log's key records (docs/FORMAT.md 7.1): the committed `log/keys` bytes, which the
    /// checkpoint commits to, and each key record, so that a verifier who pins one key can
    /// follow what that key signed.
    pub keylog: String,
    pub key_records: Vec<(String, crate::trust::KeyRecordBytes)>,
}

/// A WARC record to write: its header fields without WARC-Block-Digest and Content-Length
/// (they depend on the block), the block's bytes before the document, and the document.
#[derive(Debug, Clone)]
pub struct Planned {
    pub fields: Fields,
    pub prefix: Vec<u8>,
    pub document: Option<(String, u64)>,
    /// The index entry this record gets (None for warcinfo and request records).
    pub index: Option<IndexInfo>,
}

#[derive(Debug, Clone)]
pub struct IndexInfo {
    pub url: String,
    pub date: String,
    pub mime: Option<String>,
    pub status: Option<u16>,
    pub digest: String,
}

impl Planned {
    pub fn block_len(&self) -> u64 {
        self.prefix.len() as u64 + self.document.as_ref().map_or(0, |d| d.1)
    }

    pub fn header(&self, block_sha256: &[u8], block_len: u64) -> Vec<u8> {
        let mut f = self.fields.clone();
        f.push(
            "WARC-Block-Digest",
            warc::sha256_label(&hex::encode(block_sha256)),
        );
        f.push("Content-Length", block_len.to_string());
        f.render_header()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn header_bytes(h: &Header) -> Vec<u8> {
    match (&h.value, &h.value_base64) {
        (Some(v), _) => v.as_bytes().to_vec(),
        (None, Some(b)) => crate::b64::decode(b).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Rebuild a response head for the body the WARC carries (docs/FORMAT.md 15.4): the status
/// line and the headers in the order recorded, except that `transfer-encoding`, a removed
/// `content-encoding` and a `content-length` that does not describe the carried body keep
/// their values under `x-exhibit-orig-<name>`, and a `content-length` for the carried body is
/// added after them when one was renamed.
pub fn rebuild_response(
    status_line: &str,
    headers: &[(String, Vec<u8>)],
    carried: u64,
    decoded: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut renamed_length = false;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let rename = match lower.as_str() {
            "transfer-encoding" => true,
            "content-encoding" => decoded,
            "content-length" => {
                let ok = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    == Some(carried);
                if !ok {
                    renamed_length = true;
                }
                !ok
            }
            _ => false,
        };
        if rename {
            out.extend_from_slice(ORIG.as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if renamed_length {
        out.extend_from_slice(format!("content-length: {carried}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Rebuild a request head: `METHOD origin-form-target VERSION` and the headers recorded.
pub fn rebuild_request(method: &str, url: &str, version: &str, headers: &[Header]) -> Vec<u8> {
    let target = url::Url::parse(url)
        .map(|u| {
            let mut t = u.path().to_string();
            if let Some(q) = u.query() {
                t.push('?');
                t.push_str(q);
            }
            t
        })
        .unwrap_or_else(|_| "/".into());
    let mut out = format!("{method} {target} {version}\r\n").into_bytes();
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&header_bytes(h));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn first_header(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
}

/// The IP address of `remote_addr` (`1.2.3.4:443`, `[2001:db8::1]:443`).
fn ip_of(addr: &str) -> Option<String> {
    addr.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip().to_string())
}

/// The WARC view of one record.
pub fn capture_of(
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    signature: Vec<u8>,
    proof: Vec<u8>,
) -> Capture {
    let m = &manifest;
    let doc = Body::Document {
        sha256: m.document.sha256.clone(),
        size: m.document.size,
    };
    let mut exchanges = Vec::new();
    let mut resources = Vec::new();
    if let Some(b) = &m.browser {
        browser_parts(m, b, &mut exchanges, &mut resources);
        tls_certificates(m, &mut resources);
    } else if let Some(http) = &m.http {
        let version = match http.response.version.as_str() {
            v @ ("HTTP/1.0" | "HTTP/1.1") => v,
            _ => "HTTP/1.1",
        };
        let ip = if http.proxy.is_none() {
            http.remote_addr.as_deref().and_then(ip_of)
        } else {
            None
        };
        let pairs = |hs: &[Header]| -> Vec<(String, Vec<u8>)> {
            hs.iter()
                .map(|h| (h.name.clone(), header_bytes(h)))
                .collect()
        };
        for hop in &http.redirects {
            let headers = pairs(&hop.response.headers);
            let empty = first_header(&headers, "content-length").as_deref() == Some("0");
            let line = format!(
                "{} {} {}",
                hop.response.version, hop.response.status, hop.response.reason
            );
            exchanges.push(Exchange {
                target_uri: hop.request.url.clone(),
                date: m.captured_at.clone(),
                ip: None,
                request: Some(rebuild_request(
                    &hop.request.method,
                    &hop.request.url,
                    version,
                    &hop.request.headers,
                )),
                response_head: rebuild_response(line.trim_end(), &headers, 0, false),
                status: Some(hop.response.status),
                content_type: first_header(&headers, "content-type"),
                body: Body::Empty,
                truncated: !empty,
            });
        }
        let headers = pairs(&http.response.headers);
        let line = format!(
            "{} {} {}",
            http.response.version, http.response.status, http.response.reason
        );
        exchanges.push(Exchange {
            target_uri: http.request.url.clone(),
            date: m.captured_at.clone(),
            ip,
            request: Some(rebuild_request(
                &http.request.method,
                &http.request.url,
                version,
                &http.request.headers,
            )),
            response_head: rebuild_response(
                line.trim_end(),
                &headers,
                m.document.size,
                http.content_encoding.is_some(),
            ),
            status: Some(http.response.status),
            content_type: first_header(&headers, "content-type"),
            body: doc,
            truncated: false,
        });
        tls_certificates(m, &mut resources);
    } else if let Some(w) = m.warc.as_ref().filter(|w| w.http.is_some()) {
        let h = w.http.as_ref().expect("filtered");
        let headers: Vec<(String, Vec<u8>)> = h
            .headers
            .iter()
            .map(|x| (x.name.clone(), header_bytes(x)))
            .collect();
        let decoded = first_header(&headers, "content-encoding")
            .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
        let status = super::warc::http::HttpHead {
            raw: Vec::new(),
            first_line: h.status_line.as_bytes().to_vec(),
            headers: Vec::new(),
        }
        .status();
        exchanges.push(Exchange {
            target_uri: m.requested_url.clone(),
            date: m.captured_at.clone(),
            ip: w.ip_address.clone(),
            request: None,
            response_head: rebuild_response(&h.status_line, &headers, m.document.size, decoded),
            status,
            content_type: first_header(&headers, "content-type"),
            body: doc,
            truncated: false,
        });
    } else {
        let content_type = m
            .warc
            .as_ref()
            .and_then(|w| w.content_type.clone())
            .or_else(|| m.document.content_type.clone())
            .unwrap_or_else(|| {
                if m.method == Method::Key {
                    "application/json".into()
                } else {
                    "application/octet-stream".into()
                }
            });
        resources.push(Resource {
            target_uri: m.requested_url.clone(),
            date: m.captured_at.clone(),
            content_type,
            body: doc,
        });
    }
    Capture {
        manifest,
        manifest_bytes,
        signature,
        proof,
        exchanges,
        resources,
    }
}

/// A browser capture (FORMAT.md 5.10) in WARC terms: a request and a response (or revisit) per
/// exchange that got one, in the browser's order, and the screenshot, PDF and DOM as resources.
/// A browser exchange records no HTTP version, so heads are rebuilt as HTTP/1.1.
fn browser_parts(
    m: &Manifest,
    b: &crate::manifest::BrowserFacts,
    exchanges: &mut Vec<Exchange>,
    resources: &mut Vec<Resource>,
) {
    for e in &b.exchanges {
        let Some(r) = &e.response else { continue };
        let headers: Vec<(String, Vec<u8>)> = r
            .headers
            .iter()
            .map(|h| (h.name.clone(), header_bytes(h)))
            .collect();
        let decoded = first_header(&headers, "content-encoding")
            .is_some_and(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"));
        let reason = reqwest::StatusCode::from_u16(r.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let line = format!("HTTP/1.1 {} {reason}", r.status);
        exchanges.push(Exchange {
            target_uri: e.url.clone(),
            date: m.captured_at.clone(),
            ip: None,
            request: Some(rebuild_request(
                &e.method,
                &e.url,
                "HTTP/1.1",
                &e.request_headers,
            )),
            response_head: rebuild_response(line.trim_end(), &headers, r.body.size, decoded),
            status: Some(r.status),
            content_type: first_header(&headers, "content-type"),
            body: Body::Document {
                sha256: r.body.sha256.clone(),
                size: r.body.size,
            },
            truncated: false,
        });
    }
    for a in &b.attachments {
        resources.push(Resource {
            target_uri: format!("urn:exhibit:{}/{}", m.record_id, a.role),
            date: m.captured_at.clone(),
            content_type: a.media_type.clone(),
            body: Body::Document {
                sha256: a.sha256.clone(),
                size: a.size,
            },
        });
    }
}

/// The certificates of a capture's TLS connections (manifest version 5), each once, as
/// `resource` records: they are parts of the record, so the export carries them.
fn tls_certificates(m: &Manifest, resources: &mut Vec<Resource>) {
    let browser_tls = m
        .browser
        .iter()
        .flat_map(|b| &b.exchanges)
        .filter_map(|e| e.response.as_ref()?.tls.as_ref());
    let mut seen = std::collections::HashSet::new();
    for c in m.http.iter().flat_map(|h| &h.tls).chain(browser_tls) {
        for (i, p) in c.chain.iter().enumerate() {
            if p.sha256 != m.document.sha256 && seen.insert(p.sha256.clone()) {
                resources.push(Resource {
                    target_uri: format!("urn:exhibit:{}/tls/{}/{i}", m.record_id, c.url),
                    date: m.captured_at.clone(),
                    content_type: "application/pkix-cert".into(),
                    body: Body::Document {
                        sha256: p.sha256.clone(),
                        size: p.size,
                    },
                });
            }
        }
    }
}

/// The date of an export: the latest `signed_at` of its records, so that the same records give
/// the same file.
pub fn export_date(captures: &[Capture]) -> String {
    captures
        .iter()
        .map(|c| c.manifest.signed_at.clone())
        .max()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The warcinfo block: who wrote the file, and what its rebuilt HTTP heads can and cannot say.
pub fn warcinfo_block(p: &Provenance, records: usize) -> Vec<u8> {
    let fields = [
        ("software", p.software.clone()),
        ("format", "WARC File Format 1.1".into()),
        (
            "conformsTo",
            "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/".into(),
        ),
        ("exhibit-format", WARC_FORMAT.into()),
        ("exhibit-origin", p.origin.clone()),
        ("exhibit-tree-size", p.checkpoint.size.to_string()),
        ("exhibit-records", records.to_string()),
        (
            "description",
            "Records of an exhibit archive. Each record's signed manifest, signature and \
             inclusion proof are metadata records that refer to its response or resource \
             record; the log checkpoint and public keys follow this record."
                .into(),
        ),
        (
            "http-header-block",
            "Response bodies are the documents exhibit stored, byte for byte (content-encoding \
             and transfer-encoding removed). HTTP heads are rebuilt from the signed manifests, \
             not copied from the wire: header names are lower-case and same-name fields grouped \
             where exhibit captured them, the reason phrase is the standard one for the status, \
             request heads list only the headers exhibit set; transfer-encoding, a removed \
             content-encoding and a content-length that does not match the carried body are \
             kept as x-exhibit-orig-<name>. Redirect bodies were not kept \
             (WARC-Truncated)."
                .into(),
        ),
    ];
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out
}

/// Where the key records travel in a WARC export.
pub const KEYLOG_URL: &str = "urn:exhibit-keylog:log";
/// The prefix of a key record's parts: `urn:exhibit-keylog:<ID>/manifest.json` and so on.
pub const KEY_RECORD_URL: &str = "urn:exhibit-keylog:";

fn url_of_key(id: &str) -> String {
    format!("urn:exhibit:key/{id}.pem")
}

/// The WARC records of an export, in order: warcinfo, checkpoint, keys, then for each capture
/// its exchanges (request, response or revisit), resources, and its manifest, signature and
/// proof. A response whose document was already carried by an earlier response of the file
/// becomes a revisit record (identical-payload-digest profile).
pub fn plan(p: &Provenance, captures: &[Capture], warcinfo: Vec<u8>) -> Vec<Planned> {
    let date = export_date(captures);
    let ids: Vec<&str> = captures
        .iter()
        .map(|c| c.manifest.record_id.as_str())
        .collect();
    let cp_name = format!(
        "checkpoint {} {} {}",
        p.origin,
        p.checkpoint.size,
        hex::encode(p.checkpoint.root)
    );
    let info_id = warc::record_uuid(&format!("warcinfo {cp_name} {}", ids.join(",")));
    let mut out = Vec::new();
    let mut f = Fields::default();
    f.push("WARC-Type", "warcinfo");
    f.push("WARC-Record-ID", info_id.clone());
    f.push("WARC-Date", date.clone());
    f.push("Content-Type", "application/warc-fields");
    out.push(Planned {
        fields: f,
        prefix: warcinfo,
        document: None,
        index: None,
    });
    let meta =
        |name: &str, url: String, date: &str, refers: Option<&str>, ctype: &str, bytes: Vec<u8>| {
            let digest = warc::sha256_label(&sha256_hex(&bytes));
            let mut f = Fields::default();
            f.push("WARC-Type", "metadata");
            f.push("WARC-Record-ID", warc::record_uuid(name));
            f.push("WARC-Date", date.to_string());
            f.push("WARC-Target-URI", url.clone());
            if let Some(r) = refers {
                f.push("WARC-Refers-To", r.to_string());
            }
            f.push("WARC-Warcinfo-ID", info_id.clone());
            f.push("Content-Type", ctype.to_string());
            f.push("WARC-Payload-Digest", digest.clone());
            Planned {
                fields: f,
                prefix: bytes,
                document: None,
                index: Some(IndexInfo {
                    url,
                    date: date.to_string(),
                    mime: cdxj::short_mime(ctype),
                    status: None,
                    digest,
                }),
            }
        };
    out.push(meta(
        &cp_name,
        "urn:exhibit:checkpoint".into(),
        &date,
        None,
        "text/plain; charset=utf-8",
        p.checkpoint_text.clone().into_bytes(),
    ));
    for (id, pem) in &p.keys {
        out.push(meta(
            &format!("key {id}"),
            url_of_key(id),
            &date,
            None,
            "application/x-pem-file",
            pem.clone().into_bytes(),
        ));
    }
    if !p.keylog.is_empty() {
        out.push(meta(
            &format!("keylog {cp_name}"),
            KEYLOG_URL.into(),
            &date,
            None,
            "text/plain; charset=utf-8",
            p.keylog.clone().into_bytes(),
        ));
    }
    for (id, r) in &p.key_records {
        for (part, ctype, bytes) in [
            ("manifest.json", "application/json", &r.manifest),
            ("manifest.sig", "application/octet-stream", &r.signature),
            ("statement.json", "application/json", &r.document),
        ] {
            out.push(meta(
                &format!("key record {id} {part}"),
                format!("{KEY_RECORD_URL}{id}/{part}"),
                &date,
                None,
                ctype,
                bytes.clone(),
            ));
        }
    }
    // Documents already carried by a response: (record ID, URI, date).
    let mut carried: HashMap<String, (String, String, String)> = HashMap::new();
    for c in captures {
        let rid = &c.manifest.record_id;
        let mut main: Option<String> = None;
        for (i, x) in c.exchanges.iter().enumerate() {
            let resp_id = warc::record_uuid(&format!("{rid} response {i}"));
            if let Some(req) = &x.request {
                let mut f = Fields::default();
                f.push("WARC-Type", "request");
                f.push(
                    "WARC-Record-ID",
                    warc::record_uuid(&format!("{rid} request {i}")),
                );
                f.push("WARC-Date", x.date.clone());
                f.push("WARC-Target-URI", x.target_uri.clone());
                f.push("WARC-Concurrent-To", resp_id.clone());
                f.push("WARC-Warcinfo-ID", info_id.clone());
                f.push("Content-Type", warc::HTTP_REQUEST);
                out.push(Planned {
                    fields: f,
                    prefix: req.clone(),
                    document: None,
                    index: None,
                });
            }
            let (doc, payload) = match &x.body {
                Body::Empty => (None, sha256_hex(b"")),
                Body::Document { sha256, size } => (Some((sha256.clone(), *size)), sha256.clone()),
            };
            let digest = warc::sha256_label(&payload);
            let earlier = doc.as_ref().and_then(|(s, _)| carried.get(s).cloned());
            let mut f = Fields::default();
            if let Some((ref_id, ref_uri, ref_date)) = &earlier {
                f.push("WARC-Type", "revisit");
                f.push("WARC-Record-ID", resp_id.clone());
                f.push("WARC-Date", x.date.clone());
                f.push("WARC-Target-URI", x.target_uri.clone());
                if let Some(ip) = &x.ip {
                    f.push("WARC-IP-Address", ip.clone());
                }
                f.push("WARC-Warcinfo-ID", info_id.clone());
                f.push("WARC-Profile", warc::PROFILE_IDENTICAL_PAYLOAD);
                f.push("WARC-Refers-To", ref_id.clone());
                f.push("WARC-Refers-To-Target-URI", ref_uri.clone());
                f.push("WARC-Refers-To-Date", ref_date.clone());
                f.push("Content-Type", warc::HTTP_RESPONSE);
                f.push("WARC-Payload-Digest", digest.clone());
                out.push(Planned {
                    fields: f,
                    prefix: x.response_head.clone(),
                    document: None,
                    index: Some(IndexInfo {
                        url: x.target_uri.clone(),
                        date: x.date.clone(),
                        mime: Some("warc/revisit".into()),
                        status: x.status,
                        digest,
                    }),
                });
            } else {
                f.push("WARC-Type", "response");
                f.push("WARC-Record-ID", resp_id.clone());
                f.push("WARC-Date", x.date.clone());
                f.push("WARC-Target-URI", x.target_uri.clone());
                if let Some(ip) = &x.ip {
                    f.push("WARC-IP-Address", ip.clone());
                }
                f.push("WARC-Warcinfo-ID", info_id.clone());
                f.push("Content-Type", warc::HTTP_RESPONSE);
                if x.truncated {
                    f.push("WARC-Truncated", "unspecified");
                }
                f.push("WARC-Payload-Digest", digest.clone());
                if let Some((s, _)) = &doc {
                    carried.insert(
                        s.clone(),
                        (resp_id.clone(), x.target_uri.clone(), x.date.clone()),
                    );
                }
                out.push(Planned {
                    fields: f,
                    prefix: x.response_head.clone(),
                    document: doc.clone(),
                    index: Some(IndexInfo {
                        url: x.target_uri.clone(),
                        date: x.date.clone(),
                        mime: x.content_type.as_deref().and_then(cdxj::short_mime),
                        status: x.status,
                        digest,
                    }),
                });
            }
            // The manifest's metadata refers to the record bearing its document: the first
            // that does (a browser capture has many bodies; a plain one has one).
            if main.is_none()
                && doc
                    .as_ref()
                    .is_some_and(|(s, _)| *s == c.manifest.document.sha256)
            {
                main = Some(resp_id);
            }
        }
        for (i, r) in c.resources.iter().enumerate() {
            let id = warc::record_uuid(&format!("{rid} resource {i}"));
            let (doc, payload) = match &r.body {
                Body::Empty => (None, sha256_hex(b"")),
                Body::Document { sha256, size } => (Some((sha256.clone(), *size)), sha256.clone()),
            };
            let digest = warc::sha256_label(&payload);
            let mut f = Fields::default();
            f.push("WARC-Type", "resource");
            f.push("WARC-Record-ID", id.clone());
            f.push("WARC-Date", r.date.clone());
            f.push("WARC-Target-URI", r.target_uri.clone());
            f.push("WARC-Warcinfo-ID", info_id.clone());
            f.push("Content-Type", r.content_type.clone());
            f.push("WARC-Payload-Digest", digest.clone());
            out.push(Planned {
                fields: f,
                prefix: Vec::new(),
                document: doc,
                index: Some(IndexInfo {
                    url: r.target_uri.clone(),
                    date: r.date.clone(),
                    mime: cdxj::short_mime(&r.content_type),
                    status: None,
                    digest,
                }),
            });
            main.get_or_insert(id);
        }
        let signed = c.manifest.signed_at.clone();
        let tree = p.checkpoint.size;
        for (part, file, ctype, bytes) in [
            (
                "manifest",
                "manifest.json",
                "application/json",
                &c.manifest_bytes,
            ),
            (
                "signature",
                "manifest.sig",
                "application/octet-stream",
                &c.signature,
            ),
            ("proof", "proof.json", "application/json", &c.proof),
        ] {
            let name = if part == "proof" {
                format!("{rid} proof {tree}")
            } else {
                format!("{rid} {part}")
            };
            out.push(meta(
                &name,
                format!("urn:exhibit:{rid}/{file}"),
                &signed,
                main.as_deref(),
                ctype,
                bytes.clone(),
            ));
        }
    }
    out
}

/// The last record of an export: a `metadata` record `urn:exhibit:members` listing, one line
/// each, `<offset> <length> sha256:<hex>` of every gzip member before it. It is itself written
/// in stored blocks ([`super::warc::writer::stored_member`]).
pub fn members_record(planned: &[Planned], placed: &[Placed]) -> Planned {
    let mut list = String::new();
    for p in placed {
        list.push_str(&format!(
            "{} {} sha256:{}\n",
            p.offset,
            p.length,
            hex::encode(p.sha256)
        ));
    }
    let info = planned[0]
        .fields
        .0
        .iter()
        .find(|(n, _)| n == "WARC-Record-ID")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let date = planned[0]
        .fields
        .0
        .iter()
        .find(|(n, _)| n == "WARC-Date")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let bytes = list.into_bytes();
    let digest = warc::sha256_label(&sha256_hex(&bytes));
    let url = "urn:exhibit:members".to_string();
    let ctype = "text/plain; charset=utf-8";
    let mut f = Fields::default();
    f.push("WARC-Type", "metadata");
    f.push(
        "WARC-Record-ID",
        warc::record_uuid(&format!("members {info}")),
    );
    f.push("WARC-Date", date.clone());
    f.push("WARC-Target-URI", url.clone());
    f.push("WARC-Warcinfo-ID", info);
    f.push("Content-Type", ctype);
    f.push("WARC-Payload-Digest", digest.clone());
    Planned {
        fields: f,
        prefix: bytes,
        document: None,
        index: Some(IndexInfo {
            url,
            date,
            mime: cdxj::short_mime(ctype),
            status: None,
            digest,
        }),
    }
}

/// Where the records of a written WARC are, for the index.
pub struct Written {
    pub entries: Vec<cdxj::Entry>,
    pub bytes: u64,
    pub sha256: String,
}

struct HashCount<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    count: u64,
}

impl<W: Write> Write for HashCount<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Stream the planned records into `out`. Each document is read from the store twice: once for
/// the block digest, which the record header names before the block, and once to write it.
pub fn write_warc(
    archive: &Archive,
    planned: &[Planned],
    out: impl Write,
    filename: &str,
) -> Result<Written> {
    let mut w = WarcWriter::new(HashCount {
        inner: out,
        hasher: sha2::Sha256::new(),
        count: 0,
    });
    let mut entries = Vec::new();
    let mut placements = Vec::new();
    let write_err = |e: io::Error| Error::archive(format!("cannot write the WARC: {e}"));
    for p in planned {
        let digest = match &p.document {
            Some((sha, _)) => Some(Sha256::checked(sha)?),
            None => None,
        };
        let block_sha = match &digest {
            None => sha2::Sha256::digest(&p.prefix).to_vec(),
            Some(sha) => {
                let mut h = crate::store::DigestWriter::new(io::sink());
                h.write_all(&p.prefix).expect("sink");
                archive.read_document(sha, &mut h)?;
                h.hasher.finalize().to_vec()
            }
        };
        let header = p.header(&block_sha, p.block_len());
        let mut doc_err = None;
        let placed: Placed = w
            .write_record(&header, |o| {
                o.write_all(&p.prefix)?;
                if let Some(sha) = &digest {
                    if let Err(e) = archive.read_document(sha, o) {
                        doc_err = Some(e);
                        return Err(io::Error::other("document"));
                    }
                }
                Ok(())
            })
            .map_err(|e| match doc_err.take() {
                Some(d) => Error::from(d),
                None => write_err(e),
            })?;
        placements.push(placed);
        if let Some(i) = &p.index {
            entries.push(cdxj::Entry {
                url: i.url.clone(),
                date: i.date.clone(),
                mime: i.mime.clone(),
                status: i.status,
                digest: Some(i.digest.clone()),
                length: placed.length,
                offset: placed.offset,
                filename: filename.to_string(),
            });
        }
    }
    // The list of members: the raw bytes of every member before it, by SHA-256, so that no
    // byte of the file can change unnoticed (docs/FORMAT.md 15.5).
    let last = members_record(planned, &placements);
    let placed = w
        .write_record_stored(
            &last.header(&sha2::Sha256::digest(&last.prefix), last.block_len()),
            &last.prefix,
        )
        .map_err(write_err)?;
    let i = last.index.as_ref().expect("indexed");
    entries.push(cdxj::Entry {
        url: i.url.clone(),
        date: i.date.clone(),
        mime: i.mime.clone(),
        status: i.status,
        digest: Some(i.digest.clone()),
        length: placed.length,
        offset: placed.offset,
        filename: filename.to_string(),
    });
    let mut inner = w.into_inner();
    inner.flush().map_err(write_err)?;
    Ok(Written {
        entries,
        bytes: inner.count,
        sha256: hex::encode(inner.hasher.finalize()),
    })
}

/// The records of `ids` (deduplicated, in log order), each verified in the archive and proven
/// in its log, as captures; and the provenance that goes with them.
pub fn load(archive: &Archive, ids: &[RecordId]) -> Result<(Provenance, Vec<Capture>)> {
    let (cp_text, cp) = archive.checkpoint()?.ok_or_else(|| {
        Error::not_found("the archive has no records, so nothing to export")
            .hint("capture something first")
    })?;
    let trust = crate::verify::LogState::for_export(archive)?;
    let book = trust.book().expect("checked by for_export");
    let trusted: Vec<(String, PublicKey)> = book.keys().map(|k| (k.id.clone(), *k.key())).collect();
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<RecordId> = ids.iter().copied().filter(|i| seen.insert(*i)).collect();
    let mut key_ids: Vec<String> = Vec::new();
    let mut captures = Vec::new();
    for it in crate::formats::bundle::verified_items(archive, &trust, &ids, &cp)? {
        if !key_ids.contains(&it.manifest.signer) {
            key_ids.push(it.manifest.signer.clone());
        }
        captures.push(capture_of(
            it.manifest,
            it.bytes,
            it.sig,
            it.proof.to_bytes(),
        ));
    }
    // The keys that signed the checkpoint come too (for_export refused one that does not count).
    for id in note::signed_by(&cp_text, &cp.origin, &trusted) {
        if !key_ids.contains(&id) {
            key_ids.push(id);
        }
    }
    key_ids.sort();
    let mut keys_out = Vec::new();
    for id in key_ids {
        let (_, k) = trusted.iter().find(|(i, _)| *i == id).ok_or_else(|| {
            Error::key(format!(
                "the archive does not hold public key {id}, which signed an exported record"
            ))
            .hint("run `exhibit audit`")
        })?;
        keys_out.push((id, keys::public_pem(k)));
    }
    let (keylog, key_records) = match &trust.trust {
        Ok(t) => (
            t.lines.clone(),
            t.events
                .iter()
                .map(|e| {
                    (
                        e.manifest.record_id.clone(),
                        crate::trust::KeyRecordBytes {
                            manifest: e.bytes.clone(),
                            signature: e.signature.clone(),
                            document: e.statement.to_bytes(),
                        },
                    )
                })
                .collect(),
        ),
        Err(_) => (String::new(), Vec::new()),
    };
    Ok((
        Provenance {
            software: format!("exhibit {}", env!("CARGO_PKG_VERSION")),
            origin: cp.origin.clone(),
            checkpoint_text: cp_text,
            checkpoint: cp,
            keys: keys_out,
            keylog,
            key_records,
        },
        captures,
    ))
}

/// One exhibit record of a WARC export, as a source for the one judgement: its manifest and
/// signature from its metadata records, its document from the payload of the record the
/// manifest's metadata refers to, its proof from its `proof.json` metadata record.
struct WarcRecord<'a> {
    records: &'a [ReadBack],
    manifest_record: &'a ReadBack,
    bytes: &'a [u8],
    sig: &'a [u8],
    proof: &'a [u8],
}

impl crate::verify::record::RecordSource for WarcRecord<'_> {
    fn record(&self, _id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(Some((self.bytes.to_vec(), self.sig.to_vec())))
    }

    fn carries_parts(&self) -> bool {
        true
    }

    fn document(
        &self,
        sha256: &str,
        _out: &mut dyn Write,
    ) -> Result<crate::verify::record::DocumentFound> {
        let cited = Manifest::parse(self.bytes).map(|m| m.document.sha256);
        if cited.is_ok_and(|c| c != sha256) {
            // A part of a browser capture: the response or resource record whose payload it is
            // (the file was checked to be exactly what its manifests call for).
            let found = self.records.iter().find(|r| {
                matches!(r.head.warc_type(), "response" | "resource")
                    && r.summary
                        .payload_sha256
                        .is_some_and(|p| hex::encode(p) == sha256)
            });
            return Ok(match found {
                Some(r) => {
                    let head = r.summary.http_head.as_ref().map_or(0, |h| h.len() as u64);
                    Ok((sha256.to_string(), r.summary.block_len - head))
                }
                None => Err(format!("no record of the file bears part {sha256}")),
            });
        }
        // Follow WARC-Refers-To from the manifest's metadata record to the record that bears
        // the document (through a revisit to its original).
        let mut target = self.manifest_record.head.get("WARC-Refers-To");
        for _ in 0..3 {
            let Some(t) = target else { break };
            let Some(r) = self.records.iter().find(|r| r.head.record_id() == t) else {
                break;
            };
            if r.head.warc_type() == "revisit" {
                target = r.head.get("WARC-Refers-To");
                continue;
            }
            let head = r.summary.http_head.as_ref().map_or(0, |h| h.len() as u64);
            return Ok(match r.summary.payload_sha256 {
                Some(sha) => Ok((hex::encode(sha), r.summary.block_len - head)),
                None => Err(format!("{} carries no payload digest", r.head.record_id())),
            });
        }
        Ok(Err("no record of the file bears the document".into()))
    }

    fn inclusion_proof(
        &self,
        m: &Manifest,
        bytes: &[u8],
        cp: &Checkpoint,
    ) -> std::result::Result<Vec<merkle::Hash>, String> {
        let p: crate::bundle::Proof =
            serde_json::from_slice(self.proof).map_err(|_| "no inclusion proof".to_string())?;
        if p.leaf_index != m.log_index
            || p.tree_size != cp.size
            || p.leaf_hash != hex::encode(merkle::leaf_hash(bytes))
        {
            return Err("the inclusion proof is not for this record and checkpoint".into());
        }
        p.audit_path
            .iter()
            .map(|h| {
                crate::core::b64::hex32(h)
                    .ok_or_else(|| "the inclusion proof is malformed".to_string())
            })
            .collect()
    }
}

/// What a WARC export carries for trust: its keys (the roots when nothing is pinned and the log
/// does not add its own keys) and the log's key records.
struct CarriedKeys {
    keys: Vec<PublicKey>,
    keylog: String,
    records: Vec<(String, crate::trust::KeyRecordBytes)>,
}

impl crate::trust::Source for CarriedKeys {
    fn key_event_lines(&self, _size: u64) -> Result<String> {
        Ok(self.keylog.clone())
    }
    fn key_record(
        &self,
        _index: u64,
        id: &RecordId,
    ) -> Result<Option<crate::trust::KeyRecordBytes>> {
        let id = id.to_string();
        let Some((_, r)) = self.records.iter().find(|(i, _)| *i == id) else {
            return Ok(None);
        };
        // The statement must be the document the signed manifest cites.
        let cited = Manifest::parse(&r.manifest)?;
        if sha256_hex(&r.document) != cited.document.sha256 {
            return Err(Error::verification(format!(
                "key record {id}: its statement is not the document its manifest cites"
            )));
        }
        Ok(Some(r.clone()))
    }
    fn stored_keys(&self) -> Result<Vec<PublicKey>> {
        Ok(self.keys.clone())
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    pub path: String,
    pub format: &'static str,
    pub records: usize,
    pub warc_records: usize,
    pub bytes: u64,
    pub sha256: String,
}

/// A scratch file beside `out`, removed if the export is interrupted (core/interrupt.rs).
fn scratch_beside(out: &Path) -> Result<Tracked<tempfile::NamedTempFile>> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::core::interrupt::temp_file_in(dir, ".exhibit-export-")
        .ctx("create a scratch file in", dir)
}

/// The records of `ids` as one WARC, written to a scratch file beside `out`: what both export
/// formats start from.
struct StagedWarc {
    prov: Provenance,
    captures: Vec<Capture>,
    planned: usize,
    tmp: Tracked<tempfile::NamedTempFile>,
    written: Written,
}

fn stage_warc(archive: &Archive, ids: &[RecordId], out: &Path) -> Result<StagedWarc> {
    let (prov, captures) = load(archive, ids)?;
    let planned = plan(&prov, &captures, warcinfo_block(&prov, captures.len()));
    let tmp = scratch_beside(out)?;
    let file = tmp.reopen().ctx("open", tmp.path())?;
    let written = write_warc(
        archive,
        &planned,
        io::BufWriter::with_capacity(256 * 1024, file),
        WACZ_WARC,
    )?;
    Ok(StagedWarc {
        prov,
        captures,
        planned: planned.len(),
        tmp,
        written,
    })
}

/// `exhibit export --format warc`: the WARC at `out` (written beside it, then renamed).
pub fn export_warc(archive: &Archive, ids: &[RecordId], out: &Path) -> Result<ExportSummary> {
    let st = stage_warc(archive, ids, out)?;
    st.tmp.as_file().sync_all().ctx("flush", st.tmp.path())?;
    st.tmp.persist(out).ctx("move the WARC to", out)?;
    Ok(ExportSummary {
        path: out.display().to_string(),
        format: "warc",
        records: st.captures.len(),
        warc_records: st.planned + 1,
        bytes: st.written.bytes,
        sha256: st.written.sha256,
    })
}

/// `exhibit export --format wacz`: a WACZ 1.1.1 package (see [`super::wacz`]).
pub fn export_wacz(archive: &Archive, ids: &[RecordId], out: &Path) -> Result<ExportSummary> {
    let st = stage_warc(archive, ids, out)?;
    let tmp = scratch_beside(out)?;
    super::wacz::write(
        &st.prov,
        &st.captures,
        st.tmp.path(),
        &st.written,
        tmp.reopen().ctx("open", tmp.path())?,
    )?;
    tmp.persist(out).ctx("move the WACZ to", out)?;
    let (sha256, bytes) = crate::verify::sha256_file(out)?;
    Ok(ExportSummary {
        path: out.display().to_string(),
        format: "wacz",
        records: st.captures.len(),
        warc_records: st.planned + 1,
        bytes,
        sha256,
    })
}

// ----- verification ----------------------------------------------------------------------

/// A record as read back, for the comparison with the plan.
struct ReadBack {
    head: warc::reader::RecordHead,
    summary: warc::reader::Summary,
    /// The block of a metadata or warcinfo record (small).
    block: Option<Vec<u8>>,
}

/// The largest metadata block verification keeps in memory (manifests, proofs, keys).
const MAX_META: u64 = 16 << 20;

/// Check a WARC that `exhibit export` wrote: every record's digests; that the file is exactly
/// the records [`plan`] gives for the manifests it carries (headers byte for byte, gzip members
/// one per record with exhibit's fixed header, rebuilt HTTP heads, documents by their SHA-256);
/// the manifests' signatures, inclusion proofs and checkpoint under the trust root (`pinned`,
/// else the keys the file carries).
pub fn verify_warc(
    input: impl Read,
    name: &str,
    pinned: Option<&Anchor>,
) -> Result<crate::bundle::BundleReport> {
    Ok(verify_warc_parts(input, name, pinned)?.report)
}

/// What verifying a WARC yields besides the report: the provenance and captures it carries and
/// its index entries, from which the other members of a WACZ follow.
pub struct Verified {
    pub report: crate::bundle::BundleReport,
    pub provenance: Provenance,
    pub captures: Vec<Capture>,
    pub entries: Vec<cdxj::Entry>,
}

pub fn verify_warc_parts(
    input: impl Read,
    name: &str,
    pinned: Option<&Anchor>,
) -> Result<Verified> {
    let bad = |why: String| {
        Error::new(
            Kind::Verification,
            format!("{name} is not a valid exhibit WARC export: {why}"),
        )
        .hint("the file is damaged or was not written by `exhibit export --format warc`")
    };
    let mut reader = warc::reader::WarcReader::new(input).map_err(|e| bad(e.to_string()))?;
    reader.want_sha256 = true;
    let mut records: Vec<ReadBack> = Vec::new();
    loop {
        let mut head = None;
        let mut block = None;
        let got = reader
            .next(|r| {
                let keep = (r.head.warc_type() == "metadata" || r.head.warc_type() == "warcinfo")
                    && r.head.content_length <= MAX_META;
                head = Some(r.head.clone());
                if keep {
                    let mut b = Vec::new();
                    r.payload
                        .read_to_end(&mut b)
                        .map_err(|e| Error::verification(e.to_string()))?;
                    block = Some(b);
                }
                Ok(())
            })
            .map_err(|e| bad(e.what.clone()))?;
        let Some(summary) = got else { break };
        records.push(ReadBack {
            head: head.expect("visited"),
            summary,
            block,
        });
    }
    let gzip = reader.gzip;
    let members = reader.members().to_vec();
    let end = reader.file_position();
    if !gzip {
        return Err(bad(
            "it is not gzip-compressed, one member per record".into()
        ));
    }
    if members.len() != records.len()
        || records
            .iter()
            .zip(&members)
            .any(|(r, m)| r.summary.member != Some(m.offset))
    {
        return Err(bad("its gzip members are not one per record".into()));
    }
    if let Some(m) = members.iter().find(|m| m.header != GZIP_HEADER) {
        return Err(bad(format!(
            "the gzip member at byte {} does not have the header exhibit writes",
            m.offset
        )));
    }
    // The last member lists every other member's bytes, and is itself in stored blocks.
    let last_raw = reader.last_member_raw().map(<[u8]>::to_vec);
    if last_raw
        .as_deref()
        .and_then(super::warc::writer::parse_stored_member)
        .is_none()
    {
        return Err(bad(
            "its last gzip member is not the stored member list exhibit writes".into(),
        ));
    }
    let mut placements = Vec::new();
    for (i, m) in members
        .iter()
        .enumerate()
        .take(members.len().saturating_sub(1))
    {
        let next = members[i + 1].offset;
        placements.push(Placed {
            offset: m.offset,
            length: next - m.offset,
            sha256: m.sha256.unwrap_or_default(),
        });
    }
    // The provenance the file carries.
    let meta = |url: &str| {
        records
            .iter()
            .find(|r| {
                r.head.warc_type() == "metadata" && r.head.get("WARC-Target-URI") == Some(url)
            })
            .and_then(|r| r.block.clone())
    };
    let info = records
        .first()
        .filter(|r| r.head.warc_type() == "warcinfo")
        .and_then(|r| r.block.clone())
        .ok_or_else(|| bad("it does not start with a warcinfo record".into()))?;
    let info_text = String::from_utf8_lossy(&info).into_owned();
    let field = |n: &str| {
        info_text
            .split("\r\n")
            .find_map(|l| l.strip_prefix(&format!("{n}: ")).map(str::to_string))
    };
    if field("exhibit-format").as_deref() != Some(WARC_FORMAT) {
        return Err(bad(format!(
            "its warcinfo does not say exhibit-format: {WARC_FORMAT}"
        )));
    }
    let cp_text = meta("urn:exhibit:checkpoint")
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("it carries no checkpoint".into()))?;
    let cp = note::parse_note(&cp_text)
        .and_then(|n| Checkpoint::parse(&n.text))
        .map_err(|e| bad(format!("its checkpoint: {e}")))?;
    let mut carried = Vec::new();
    let mut keys_pem = Vec::new();
    for r in &records {
        let Some(id) = r
            .head
            .get("WARC-Target-URI")
            .and_then(|u| u.strip_prefix("urn:exhibit:key/"))
            .and_then(|u| u.strip_suffix(".pem"))
        else {
            continue;
        };
        let pem = r
            .block
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        match keys::parse_public_pem(pem, Path::new(id)) {
            Ok(k) if keys::key_id(&k) == id => {
                carried.push(k);
                keys_pem.push((id.to_string(), pem.to_string()));
            }
            _ => return Err(bad(format!("key record {id} is not that public key"))),
        }
    }
    // A WARC export carries no key records: its trust root is the pinned keys, or else the
    // keys it carries (self-consistent), with no rotation to follow.
    let anchor = pinned.cloned().unwrap_or(Anchor::SelfConsistent);
    let keylog = meta(KEYLOG_URL)
        .map(|b| String::from_utf8(b).map_err(|_| bad("its key-record list is not text".into())))
        .transpose()?
        .unwrap_or_default();
    let mut key_records = Vec::new();
    for r in &records {
        let Some(id) = r
            .head
            .get("WARC-Target-URI")
            .and_then(|u| u.strip_prefix(KEY_RECORD_URL))
            .and_then(|u| u.strip_suffix("/manifest.json"))
        else {
            continue;
        };
        let part = |p: &str| meta(&format!("{KEY_RECORD_URL}{id}/{p}")).unwrap_or_default();
        key_records.push((
            id.to_string(),
            crate::trust::KeyRecordBytes {
                manifest: r.block.clone().unwrap_or_default(),
                signature: part("manifest.sig"),
                document: part("statement.json"),
            },
        ));
    }
    let source = CarriedKeys {
        keys: carried,
        keylog: keylog.clone(),
        records: key_records.clone(),
    };
    let trust = Trust::load(&source, &anchor, cp.size)?;
    let pinned_trust = trust.kind == crate::trust::TrustKind::Pinned;
    // As for a bundle: which keys, trusted or only carried, actually signed the checkpoint, so
    // the report names them whether or not the signature is trusted.
    let mut known: Vec<(String, PublicKey)> = trust
        .book
        .keys()
        .map(|k| (k.id.clone(), *k.key()))
        .collect();
    for k in &source.keys {
        let id = keys::key_id(k);
        if !known.iter().any(|(i, _)| *i == id) {
            known.push((id, *k));
        }
    }
    let checkpoint_signed_by = note::signed_by(&cp_text, &cp.origin, &known);
    let mut problems = Vec::new();
    let cp_problem = trust
        .check_checkpoint(&cp_text, &cp, &cp.origin)
        .err()
        .map(|e| {
            problems.push(format!("checkpoint: {e}"));
            format!("the checkpoint cannot be relied on ({e}), so no inclusion proof can count")
        });
    let log = crate::verify::LogState {
        kind: trust.kind,
        checkpoint: Some(cp.clone()),
        text: Some(cp_text.clone()),
        problem: cp_problem,
        notes: Vec::new(),
        trust: Ok(trust.clone()),
    };
    // The captures, from the manifests in file order.
    let mut captures = Vec::new();
    let mut reports = Vec::new();
    for r in &records {
        let Some(rid) = r
            .head
            .get("WARC-Target-URI")
            .and_then(|u| u.strip_prefix("urn:exhibit:"))
            .and_then(|u| u.strip_suffix("/manifest.json"))
        else {
            continue;
        };
        let bytes = r.block.clone().unwrap_or_default();
        let sig = meta(&format!("urn:exhibit:{rid}/manifest.sig")).unwrap_or_default();
        let proof_bytes = meta(&format!("urn:exhibit:{rid}/proof.json")).unwrap_or_default();
        let Ok(m) = Manifest::parse(&bytes) else {
            return Err(bad(format!("the manifest of {rid} is malformed")));
        };
        let source = WarcRecord {
            records: &records,
            manifest_record: r,
            bytes: &bytes,
            sig: &sig,
            proof: &proof_bytes,
        };
        let report = crate::verify::record::check_record(&source, &log, rid, &mut io::sink())?
            .expect("the manifest is there");
        reports.push(report);
        captures.push(capture_of(m, bytes, sig, proof_bytes));
    }
    if captures.is_empty() {
        return Err(bad("it carries no exhibit record".into()));
    }
    // The file must be exactly what exhibit writes for these records.
    let prov = Provenance {
        software: field("software").unwrap_or_default(),
        origin: cp.origin.clone(),
        checkpoint_text: cp_text.clone(),
        checkpoint: cp.clone(),
        keys: keys_pem,
        keylog,
        key_records,
    };
    let mut planned = plan(&prov, &captures, info.clone());
    planned.push(members_record(&planned, &placements));
    let mut layout = |why: String| {
        if problems.len() < 20 {
            problems.push(why);
        }
    };
    if planned.len() != records.len() {
        layout(format!(
            "it holds {} records where exhibit writes {} for these manifests",
            records.len(),
            planned.len()
        ));
    }
    for (i, (p, r)) in planned.iter().zip(&records).enumerate() {
        let s = &r.summary;
        let block_sha = s.block_sha256.unwrap_or_default();
        let what = format!("record {} ({})", i + 1, r.head.record_id());
        if p.header(&block_sha, s.block_len) != r.head.raw {
            layout(format!("{what}: its header is not the one exhibit writes"));
            continue;
        }
        if i == 0 {
            continue; // warcinfo: its free text is covered by its block digest only
        }
        match &p.document {
            None => {
                if block_sha.as_slice() != sha2::Sha256::digest(&p.prefix).as_slice() {
                    layout(format!("{what}: its block is not the one exhibit writes"));
                }
            }
            Some((sha, size)) => {
                let doc_ok = s.payload_sha256.map(hex::encode).as_deref() == Some(sha.as_str())
                    && s.block_len == p.prefix.len() as u64 + size;
                let head_ok = if p.prefix.is_empty() {
                    true
                } else {
                    s.http_head.as_deref() == Some(p.prefix.as_slice())
                };
                if !doc_ok {
                    layout(format!("{what}: its payload is not the document {sha}"));
                } else if !head_ok {
                    layout(format!(
                        "{what}: its HTTP head is not the one exhibit rebuilds"
                    ));
                }
            }
        }
    }
    let mut entries = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let (Some(info), Some(m)) = (&p.index, members.get(i)) else {
            continue;
        };
        let next = members.get(i + 1).map_or(end, |n| n.offset);
        entries.push(cdxj::Entry {
            url: info.url.clone(),
            date: info.date.clone(),
            mime: info.mime.clone(),
            status: info.status,
            digest: Some(info.digest.clone()),
            length: next - m.offset,
            offset: m.offset,
            filename: WACZ_WARC.into(),
        });
    }
    let ok = problems.is_empty() && !reports.is_empty() && reports.iter().all(|r| r.ok);
    Ok(Verified {
        report: {
            let mut r = crate::bundle::BundleReport::refused(name, pinned_trust, String::new());
            r.problems = problems;
            r.ok = ok;
            r.format = Some(WARC_FORMAT.into());
            r.origin = Some(cp.origin.clone());
            r.tree_size = Some(cp.size);
            r.trusted_keys = trust.book.keys().map(|k| k.id.clone()).collect();
            r.checkpoint_signed_by = checkpoint_signed_by;
            r.records = reports;
            r
        },
        provenance: prov,
        captures,
        entries,
    })
}
