//! `exhibit import FILE.warc[.gz]` and `FILE.wacz`: each `response`, `resource` and `revisit`
//! record of an http(s) URL becomes a record of method `import-warc` (manifest version 4,
//! docs/FORMAT.md 15.7) whose `warc` object keeps what the file claimed.
//!
//! Nothing is committed until the whole file has been read and every digest it declares has
//! been checked: a bad digest, a truncated member, a malformed header anywhere refuses the file
//! with one error and leaves the archive as it was. Documents stream into the store's scratch
//! space as they are read, so memory does not grow with the size of the file; what stays in
//! memory is the small per-record metadata until the commit.

use super::warc::chunked::Dechunker;
use super::warc::reader::{Record, WarcReader};
use crate::archive::{Archive, Committed, Draft};
use crate::error::{Error, Kind, Result};
use crate::keys::SecretKey;
use crate::manifest::{ClaimedHttp, DocumentFacts, Header, Labels, Method, WarcClaims};
use crate::store::DocumentWriter;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::Path;

/// Records committed per batch, once the whole file has been checked.
const BATCH: usize = 1000;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Skipped {
    /// Redirect responses (3xx): they carry no document.
    pub redirects: u64,
    /// Responses marked WARC-Truncated: their payload is not the whole document.
    pub truncated: u64,
    /// Revisits whose original is not in the file.
    pub unresolved_revisits: u64,
    /// Records of other URL schemes (dns:, urn:, ...).
    pub not_http: u64,
}

pub struct Imported {
    pub committed: Vec<Committed>,
    pub skipped: Skipped,
    pub source_sha256: String,
}

/// Whether `path` names a web archive `exhibit import` reads as such.
pub fn is_web_archive(path: &Path) -> bool {
    let n = path.to_string_lossy().to_ascii_lowercase();
    n.ends_with(".warc") || n.ends_with(".warc.gz") || n.ends_with(".wacz")
}

enum Decode<W: Write> {
    Identity(W),
    Gzip(flate2::write::MultiGzDecoder<W>),
    Deflate(flate2::write::ZlibDecoder<W>),
    Brotli(Box<brotli::DecompressorWriter<W>>),
    Zstd(crate::capture::ZstdSink<W>),
}

impl<W: Write> Write for Decode<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Decode::Identity(w) => w.write(b),
            Decode::Gzip(w) => w.write(b),
            Decode::Deflate(w) => w.write(b),
            Decode::Brotli(w) => w.write(b),
            Decode::Zstd(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Decode::Identity(w) => w.flush(),
            Decode::Gzip(w) => w.flush(),
            Decode::Deflate(w) => w.flush(),
            Decode::Brotli(w) => w.flush(),
            Decode::Zstd(w) => w.flush(),
        }
    }
}

impl<W: Write> Decode<W> {
    fn new(encoding: Option<&str>, w: W) -> std::result::Result<Self, String> {
        Ok(match encoding {
            None => Decode::Identity(w),
            Some("gzip" | "x-gzip") => Decode::Gzip(flate2::write::MultiGzDecoder::new(w)),
            Some("deflate") => Decode::Deflate(flate2::write::ZlibDecoder::new(w)),
            Some("br") => Decode::Brotli(Box::new(brotli::DecompressorWriter::new(w, 64 * 1024))),
            // Capture's decoder: a window of at most 8 MiB, and a payload cut short is refused,
            // never stored as a shorter document.
            Some("zstd") => {
                Decode::Zstd(crate::capture::ZstdSink::new(w).map_err(|e| e.to_string())?)
            }
            Some(other) => {
                return Err(format!(
                    "its Content-Encoding {other:?} is not one exhibit decodes (gzip, deflate, br, zstd)"
                ))
            }
        })
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Decode::Identity(mut w) => w.flush(),
            Decode::Gzip(mut w) => w.try_finish(),
            Decode::Deflate(mut w) => w.try_finish(),
            Decode::Brotli(w) => w.into_inner().map(|_| ()).map_err(|_| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "brotli stream ended early")
            }),
            Decode::Zstd(w) => w.finish(),
        }
    }
}

enum Pipe<W: Write> {
    Plain(Decode<W>),
    Chunked(Dechunker<Decode<W>>),
}

/// A record read and staged, before signing.
struct Pending {
    draft: Draft,
}

struct State<'a> {
    scratch: &'a std::sync::Arc<crate::archive::dir::Dir>,
    labels: &'a Labels,
    member: Option<String>,
    pending: Vec<Pending>,
    /// WARC-Record-ID and payload digest of each imported record -> its index in `pending`.
    by_id: HashMap<String, usize>,
    by_payload: HashMap<String, usize>,
    staged: HashSet<String>,
    skipped: Skipped,
}

fn refuse(what: String) -> Error {
    Error::verification(what)
        .hint("the file is damaged or not a web archive exhibit reads; nothing was stored")
}

impl State<'_> {
    fn visit(&mut self, r: Record) -> Result<()> {
        let kind = r.head.warc_type().to_string();
        if r.head.get("WARC-Segment-Number").is_some() || kind == "continuation" {
            return Err(refuse(format!(
                "record {}: segmented records are not supported",
                r.head.record_id()
            )));
        }
        if !matches!(kind.as_str(), "response" | "resource" | "revisit") {
            return Ok(());
        }
        if kind != "resource" && (!r.head.is_http() || r.http.is_none()) {
            self.skipped.not_http += 1;
            return Ok(());
        }
        let target = r.head.get("WARC-Target-URI").unwrap_or("").trim();
        let target = target
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(target);
        let Ok(url) = url::Url::parse(target) else {
            if target.starts_with("http:") || target.starts_with("https:") {
                return Err(refuse(format!(
                    "record {}: WARC-Target-URI is not a valid URL",
                    r.head.record_id()
                )));
            }
            self.skipped.not_http += 1;
            return Ok(());
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.skipped.not_http += 1;
            return Ok(());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::usage(format!(
                "record {} names a URL with a user name or password; exhibit never records credentials, nothing was stored",
                r.head.record_id()
            ))
            .hint("remove the credentials from the WARC's target URIs, or import another file"));
        }
        let http = r.http;
        if kind == "response" {
            if r.head.get("WARC-Truncated").is_some() {
                self.skipped.truncated += 1;
                return Ok(());
            }
            if http
                .and_then(|h| h.status())
                .is_some_and(|s| (300..400).contains(&s))
            {
                self.skipped.redirects += 1;
                return Ok(());
            }
        }
        let date = r.head.get("WARC-Date").unwrap_or("");
        let captured_at = super::warc::parse_date(date).expect("the reader checked WARC-Date");
        let claims = WarcClaims {
            source_sha256: String::new(),
            source_size: 0,
            source_member: self.member.clone(),
            record_type: kind.clone(),
            record_id: r.head.record_id().to_string(),
            target_uri: r.head.get("WARC-Target-URI").unwrap_or("").to_string(),
            date: date.to_string(),
            content_type: r.head.get("Content-Type").map(str::to_string),
            ip_address: r.head.get("WARC-IP-Address").map(str::to_string),
            block_digest: r.head.get("WARC-Block-Digest").map(str::to_string),
            payload_digest: r.head.get("WARC-Payload-Digest").map(str::to_string),
            refers_to: r.head.get("WARC-Refers-To").map(str::to_string),
            http: match http {
                Some(h) => Some(ClaimedHttp {
                    status_line: String::from_utf8(h.first_line.clone()).map_err(|_| {
                        refuse(format!(
                            "record {}: its HTTP status line is not UTF-8",
                            r.head.record_id()
                        ))
                    })?,
                    headers: h.headers.iter().map(|(n, v)| Header::new(n, v)).collect(),
                }),
                None => None,
            },
        };
        let content_type = match http {
            Some(h) => h.get_text("content-type"),
            None => r.head.get("Content-Type").map(str::to_string),
        };
        if kind == "revisit" {
            let original = claims
                .refers_to
                .as_ref()
                .and_then(|id| self.by_id.get(id))
                .or_else(|| {
                    claims
                        .payload_digest
                        .as_ref()
                        .and_then(|d| self.by_payload.get(d))
                })
                .copied();
            let Some(i) = original else {
                self.skipped.unresolved_revisits += 1;
                return Ok(());
            };
            let document = self.pending[i].draft.document.clone();
            self.push(url.to_string(), captured_at, document, None, claims);
            return Ok(());
        }
        // The document: the payload without transfer coding and content coding.
        let encoding = http
            .and_then(|h| h.get_text("content-encoding"))
            .map(|e| e.to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        let chunked = http.is_some_and(|h| h.is_chunked());
        let mut writer = DocumentWriter::create(self.scratch, u64::MAX)?;
        writer.keep_whole();
        let what = format!("record {}", r.head.record_id());
        let decoded: std::result::Result<(), String> = (|| {
            let decode = Decode::new(encoding.as_deref(), &mut writer)?;
            let mut pipe = if chunked {
                Pipe::Chunked(Dechunker::new(decode))
            } else {
                Pipe::Plain(decode)
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r.payload.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                match &mut pipe {
                    Pipe::Chunked(d) => d.write_all(&buf[..n]),
                    Pipe::Plain(d) => d.write_all(&buf[..n]),
                }
                .map_err(|e| e.to_string())?;
            }
            let decode = match pipe {
                Pipe::Chunked(d) => d.finish().map_err(|e| e.to_string())?,
                Pipe::Plain(p) => p,
            };
            decode.finish().map_err(|e| e.to_string())
        })();
        if let Err(e) = decoded {
            return Err(refuse(format!(
                "{what}: its payload cannot be decoded: {e}"
            )));
        }
        let mut staged = writer.finish()?;
        let title = crate::text::html_title(content_type.as_deref(), &staged.head);
        let text_fingerprint = crate::text::text_fingerprint(content_type.as_deref(), &mut staged);
        // The first bytes were kept for sniffing only; a large file has many records.
        staged.head = Vec::new();
        let document = DocumentFacts {
            sha256: staged.sha256.to_string(),
            size: staged.size,
            content_type,
            title,
            text_fingerprint,
        };
        // The same document twice in one file is staged once.
        let staged = self
            .staged
            .insert(staged.sha256.to_string())
            .then_some(staged);
        self.push(url.to_string(), captured_at, document, staged, claims);
        Ok(())
    }

    fn push(
        &mut self,
        url: String,
        captured_at: String,
        document: DocumentFacts,
        staged: Option<crate::store::Staged>,
        claims: WarcClaims,
    ) {
        let i = self.pending.len();
        self.by_id.insert(claims.record_id.clone(), i);
        if let Some(d) = &claims.payload_digest {
            self.by_payload.entry(d.clone()).or_insert(i);
        }
        self.pending.push(Pending {
            draft: Draft {
                staged,
                method: Method::ImportWarc,
                requested_url: url.clone(),
                final_url: url,
                captured_at,
                document,
                http: None,
                warc: Some(claims),
                browser: None,
                parts: Vec::new(),
                labels: self.labels.clone(),
                change: None,
            },
        });
    }
}

struct Hashing<R: Read> {
    inner: R,
    hasher: sha2::Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn read_warc(state: &mut State, input: impl Read, name: &str) -> Result<()> {
    let mut reader = WarcReader::new(input).map_err(|e| refuse(format!("{name}: {e}")))?;
    loop {
        let got = reader.next(|r| state.visit(r)).map_err(|mut e| {
            if e.kind == Kind::Verification {
                e.what = format!("{name}: {}", e.what);
            }
            e
        })?;
        if got.is_none() {
            return Ok(());
        }
    }
}

/// Import a WARC or WACZ: read and check all of it, then commit its records.
pub fn import(archive: &Archive, key: &SecretKey, path: &Path, labels: Labels) -> Result<Imported> {
    use sha2::Digest;
    let scratch = archive.scratch()?;
    let open = |p: &Path| {
        std::fs::File::open(p).map_err(|e| {
            let mut err = Error::io("open", p, e);
            err.kind = Kind::Usage;
            err
        })
    };
    let name = path.display().to_string();
    let is_wacz = name.to_ascii_lowercase().ends_with(".wacz");
    let mut state = State {
        scratch: scratch.dir(),
        labels: &labels,
        member: None,
        pending: Vec::new(),
        by_id: HashMap::new(),
        by_payload: HashMap::new(),
        staged: HashSet::new(),
        skipped: Skipped::default(),
    };
    let (source_sha256, source_size) = if is_wacz {
        let mut o = super::wacz::open(path)?;
        if let Some(p) = o.problems.first() {
            return Err(refuse(format!("{name} is not a valid WACZ: {p}")));
        }
        let warcs: Vec<String> = o
            .datapackage
            .resources
            .iter()
            .map(|r| r.path.clone())
            .filter(|p| {
                let l = p.to_ascii_lowercase();
                l.starts_with("archive/") && (l.ends_with(".warc") || l.ends_with(".warc.gz"))
            })
            .collect();
        for w in &warcs {
            state.member = Some(w.clone());
            let (hex, count) = {
                let f = o
                    .zip
                    .by_name(w)
                    .map_err(|e| refuse(format!("{name}: {w}: {e}")))?;
                let mut h = Hashing {
                    inner: f,
                    hasher: sha2::Sha256::new(),
                    count: 0,
                };
                read_warc(&mut state, &mut h, &format!("{name}:{w}"))?;
                io::copy(&mut h, &mut io::sink())
                    .map_err(|e| refuse(format!("{name}: {w}: {e}")))?;
                (hex::encode(h.hasher.clone().finalize()), h.count)
            };
            if !o.listed_as(w, &hex, count) {
                return Err(refuse(format!(
                    "{name}: {w}: its SHA-256 or size is not the one datapackage.json lists"
                )));
            }
        }
        let skip: HashSet<String> = warcs.iter().cloned().collect();
        if let Some(p) = o.check_members(&skip).first() {
            return Err(refuse(format!("{name}: {p}")));
        }
        crate::verify::sha256_file(path)?
    } else {
        let mut h = Hashing {
            inner: io::BufReader::with_capacity(256 * 1024, open(path)?),
            hasher: sha2::Sha256::new(),
            count: 0,
        };
        read_warc(&mut state, &mut h, &name)?;
        io::copy(&mut h, &mut io::sink()).map_err(|e| refuse(format!("{name}: {e}")))?;
        (hex::encode(h.hasher.finalize()), h.count)
    };
    if state.pending.is_empty() {
        return Err(Error::usage(format!(
            "{name} holds no response, resource or revisit record of an http(s) URL with a document"
        ))
        .hint("nothing was stored; check that this is the WARC you meant"));
    }
    let skipped = state.skipped.clone();
    let mut drafts: Vec<Draft> = state
        .pending
        .into_iter()
        .map(|p| {
            let mut d = p.draft;
            if let Some(w) = &mut d.warc {
                w.source_sha256 = source_sha256.clone();
                w.source_size = source_size;
            }
            d
        })
        .collect();
    let mut committed = Vec::with_capacity(drafts.len());
    while !drafts.is_empty() {
        let rest = drafts.split_off(drafts.len().min(BATCH));
        committed.extend(archive.commit(key, &scratch, drafts)?);
        drafts = rest;
    }
    Ok(Imported {
        committed,
        skipped,
        source_sha256,
    })
}
