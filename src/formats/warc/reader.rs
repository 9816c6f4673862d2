//! A streaming WARC reader for files from anywhere: WARC/1.0 and WARC/1.1, plain or gzipped
//! (one member per record, the whole file in one member, or anything in between, as `wget
//! --warc-file` and exhibit write them).
//!
//! Memory stays bounded whatever the file: a record header is at most [`MAX_WARC_HEADER`]
//! bytes, an HTTP head at most [`MAX_HTTP_HEAD`], and blocks stream through in pieces. Every
//! declared digest is checked (SHA-1, SHA-256, SHA-384, SHA-512) as the block streams by. Each
//! defect stops the reading with one error naming the record: a truncated file or gzip member,
//! a corrupt gzip member, a malformed record header or HTTP head, a block digest or payload
//! digest that does not match.

use super::chunked::Dechunker;
use super::http::{self, HttpHead};
use super::{Digest, Hasher};
use crate::error::{Error, Result};
use std::io::{self, BufRead, BufReader, Read, Write};

pub const MAX_WARC_HEADER: usize = 64 * 1024;
pub const MAX_HTTP_HEAD: usize = 256 * 1024;
const BUF: usize = 64 * 1024;

/// Raw bytes of a gzip member kept for inspection, at most this many.
const MAX_RAW_MEMBER: usize = 16 << 20;

/// A byte source that counts what was consumed and remembers reaching its end. For a gzip file
/// it also hashes the raw bytes of the current member and keeps them when they are few.
struct CountBuf<R: BufRead + BufferSlice> {
    inner: R,
    pos: u64,
    eof: bool,
    hasher: Option<sha2::Sha256>,
    raw: Option<Vec<u8>>,
}

impl<R: BufRead + BufferSlice> CountBuf<R> {
    /// The SHA-256 and (when small) the bytes of the member consumed since the last call.
    fn take_member(&mut self) -> Option<([u8; 32], Option<Vec<u8>>)> {
        use sha2::Digest;
        let h = self.hasher.replace(sha2::Sha256::new())?;
        let raw = self.raw.replace(Vec::new());
        Some((h.finalize().into(), raw))
    }
}

impl<R: BufRead + BufferSlice> Read for CountBuf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead + BufferSlice> BufRead for CountBuf<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let b = self.inner.fill_buf()?;
        if b.is_empty() {
            self.eof = true;
        }
        Ok(b)
    }
    fn consume(&mut self, n: usize) {
        if self.hasher.is_some() {
            use sha2::Digest;
            let bytes = &self.inner.buffer_slice()[..n];
            if let Some(h) = &mut self.hasher {
                h.update(bytes);
            }
            if let Some(r) = &mut self.raw {
                if r.len() + n <= MAX_RAW_MEMBER {
                    r.extend_from_slice(bytes);
                } else {
                    self.raw = None;
                }
            }
        }
        self.pos += n as u64;
        self.inner.consume(n);
    }
}

/// The buffered bytes of a `BufRead` that already holds them (after `fill_buf`).
trait BufferSlice {
    fn buffer_slice(&self) -> &[u8];
}

impl<R: Read> BufferSlice for BufReader<R> {
    fn buffer_slice(&self) -> &[u8] {
        self.buffer()
    }
}

/// Where a gzip member starts: its offset in the file, and the offset of its first byte in the
/// decompressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberStart {
    pub offset: u64,
    pub start: u64,
    /// The member's first 10 bytes: its fixed gzip header fields.
    pub header: [u8; 10],
    /// SHA-256 of the member's raw (compressed) bytes, once it was read through.
    pub sha256: Option<[u8; 32]>,
}

type Member<R> =
    flate2::bufread::GzDecoder<io::Chain<io::Cursor<[u8; 10]>, CountBuf<BufReader<R>>>>;

// The gzip variant is the larger; one Source lives per reader, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Source<R: Read> {
    Plain(CountBuf<BufReader<R>>),
    Gzip {
        current: Option<Member<R>>,
        spare: Option<CountBuf<BufReader<R>>>,
        out: u64,
        members: Vec<MemberStart>,
        defect: Option<String>,
        /// The raw bytes of the last member read through, when small.
        last_raw: Option<Vec<u8>>,
    },
}

fn close_member(
    members: &mut [MemberStart],
    inner: &mut CountBuf<BufReader<impl Read>>,
    last_raw: &mut Option<Vec<u8>>,
) {
    if let Some(m) = members.last_mut() {
        if m.sha256.is_none() {
            if let Some((h, raw)) = inner.take_member() {
                m.sha256 = Some(h);
                *last_raw = raw;
            }
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Gzip {
                current,
                spare,
                out,
                members,
                defect,
                last_raw,
            } => loop {
                if let Some(dec) = current {
                    match dec.read(buf) {
                        Ok(0) if !buf.is_empty() => {
                            *spare =
                                Some(current.take().expect("present").into_inner().into_inner().1);
                            continue;
                        }
                        Ok(n) => {
                            *out += n as u64;
                            return Ok(n);
                        }
                        Err(e) => {
                            let m = members.last().copied().unwrap_or(MemberStart {
                                offset: 0,
                                start: 0,
                                header: [0; 10],
                                sha256: None,
                            });
                            let why = if dec.get_ref().get_ref().1.eof {
                                format!("the gzip member at byte {} is truncated ({e})", m.offset)
                            } else {
                                format!("the gzip member at byte {} is corrupt ({e})", m.offset)
                            };
                            *defect = Some(why.clone());
                            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                        }
                    }
                }
                let Some(mut inner) = spare.take() else {
                    return Ok(0);
                };
                let at_end = inner.fill_buf()?.is_empty();
                close_member(members, &mut inner, last_raw);
                if at_end {
                    *spare = Some(inner);
                    return Ok(0);
                }
                let offset = inner.pos;
                let mut header = [0u8; 10];
                let mut got = 0;
                while got < 10 {
                    let n = inner.read(&mut header[got..])?;
                    if n == 0 {
                        let why = format!(
                            "the gzip member at byte {offset} is truncated (in its header)"
                        );
                        *defect = Some(why.clone());
                        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                    }
                    got += n;
                }
                members.push(MemberStart {
                    offset,
                    start: *out,
                    header,
                    sha256: None,
                });
                *current = Some(flate2::bufread::GzDecoder::new(
                    io::Cursor::new(header).chain(inner),
                ));
            },
        }
    }
}

/// The named fields of a record header, in order, names as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// `WARC/1.0` or `WARC/1.1`.
    pub version: String,
    pub fields: Vec<(String, String)>,
    /// The header's exact bytes, from the version line to the empty line included.
    pub raw: Vec<u8>,
    pub content_length: u64,
}

impl RecordHead {
    /// The first value of a field (names compare case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn warc_type(&self) -> &str {
        self.get("WARC-Type").unwrap_or("")
    }
    pub fn record_id(&self) -> &str {
        self.get("WARC-Record-ID").unwrap_or("")
    }
    pub fn is_http(&self) -> bool {
        self.get("Content-Type").is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/http")
        })
    }
}

/// One record as the visitor sees it: the header, the parsed HTTP head of `request`,
/// `response` and `revisit` records of type `application/http`, and the rest of the block
/// (the payload) to read as far as it likes.
pub struct Record<'r> {
    pub index: u64,
    pub head: &'r RecordHead,
    pub http: Option<&'r HttpHead>,
    pub payload: &'r mut dyn Read,
}

/// What the reader learned about a record once it was read through and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub index: u64,
    /// Offset of the record in the decompressed stream.
    pub start: u64,
    /// Its gzip member when one starts exactly at the record (compressed offset).
    pub member: Option<u64>,
    pub block_len: u64,
    /// SHA-256 of the block and of the payload (after the HTTP head), when asked for.
    pub block_sha256: Option<[u8; 32]>,
    pub payload_sha256: Option<[u8; 32]>,
    /// The exact HTTP head bytes, when the record has one.
    pub http_head: Option<Vec<u8>>,
}

pub struct WarcReader<R: Read> {
    src: BufReader<Source<R>>,
    pos: u64,
    index: u64,
    pub gzip: bool,
    /// Also compute SHA-256 of every block and payload (for exhibit's own verification).
    pub want_sha256: bool,
}

/// The block of the current record, as a bounded BufRead that hashes what is consumed.
struct Block<'a, R: Read> {
    src: &'a mut BufReader<Source<R>>,
    pos: &'a mut u64,
    left: u64,
    len: u64,
    block: Vec<Hasher>,
    payload: Vec<Hasher>,
    dechunked: Option<(Dechunker<HashSink>, bool)>,
    in_payload: bool,
    defect: Option<String>,
}

struct HashSink(Hasher);
impl Write for HashSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<R: Read> Read for Block<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Block<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.left == 0 {
            return Ok(&[]);
        }
        let left = self.left;
        let len = self.len;
        let avail = match self.src.fill_buf().map(|b| b.len()) {
            Ok(n) => n,
            Err(e) => {
                let why = gzip_defect(self.src.get_ref()).unwrap_or_else(|| e.to_string());
                self.defect.get_or_insert(why.clone());
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
        };
        if avail == 0 {
            let why = format!(
                "the file ends inside the record's block ({} of the {len} bytes its Content-Length declares): it is truncated",
                len - left
            );
            self.defect.get_or_insert(why.clone());
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why));
        }
        let n = (avail as u64).min(left) as usize;
        Ok(&self.src.buffer()[..n])
    }

    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let bytes = &self.src.buffer()[..n];
        for h in &mut self.block {
            h.update(bytes);
        }
        if self.in_payload {
            for h in &mut self.payload {
                h.update(bytes);
            }
            if let Some((d, failed)) = &mut self.dechunked {
                if !*failed && d.write_all(bytes).is_err() {
                    *failed = true;
                }
            }
        }
        self.left -= n as u64;
        *self.pos += n as u64;
        self.src.consume(n);
    }
}

fn gzip_defect<R: Read>(s: &Source<R>) -> Option<String> {
    match s {
        Source::Gzip { defect, .. } => defect.clone(),
        Source::Plain(_) => None,
    }
}

/// Fields that may appear once only.
const SINGLE: [&str; 9] = [
    "WARC-Type",
    "WARC-Record-ID",
    "WARC-Date",
    "Content-Length",
    "Content-Type",
    "WARC-Block-Digest",
    "WARC-Payload-Digest",
    "WARC-Target-URI",
    "WARC-Refers-To",
];

impl<R: Read> WarcReader<R> {
    /// Start reading; gzip is recognised by its magic bytes.
    pub fn new(r: R) -> io::Result<Self> {
        let mut raw = CountBuf {
            inner: BufReader::with_capacity(BUF, r),
            pos: 0,
            eof: false,
            hasher: None,
            raw: None,
        };
        let gzip = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        if gzip {
            use sha2::Digest;
            raw.hasher = Some(sha2::Sha256::new());
            raw.raw = Some(Vec::new());
        }
        let src = if gzip {
            Source::Gzip {
                current: None,
                spare: Some(raw),
                out: 0,
                members: Vec::new(),
                defect: None,
                last_raw: None,
            }
        } else {
            Source::Plain(raw)
        };
        Ok(WarcReader {
            src: BufReader::with_capacity(BUF, src),
            pos: 0,
            index: 0,
            gzip,
            want_sha256: false,
        })
    }

    /// Gzip members seen so far.
    pub fn members(&self) -> &[MemberStart] {
        match self.src.get_ref() {
            Source::Gzip { members, .. } => members,
            Source::Plain(_) => &[],
        }
    }

    /// The raw bytes of the last gzip member, once the file was read to its end (when they
    /// are at most 16 MiB).
    pub fn last_member_raw(&self) -> Option<&[u8]> {
        match self.src.get_ref() {
            Source::Gzip { last_raw, .. } => last_raw.as_deref(),
            Source::Plain(_) => None,
        }
    }

    /// Bytes of the file consumed so far (compressed bytes for a gzip file).
    pub fn file_position(&self) -> u64 {
        match self.src.get_ref() {
            Source::Plain(r) => r.pos,
            Source::Gzip { current, spare, .. } => current
                .as_ref()
                .map(|d| d.get_ref().get_ref().1.pos)
                .or(spare.as_ref().map(|s| s.pos))
                .unwrap_or(0),
        }
    }

    fn defect(&self, what: impl std::fmt::Display) -> Error {
        Error::verification(format!(
            "record {} (at byte {}): {what}",
            self.index + 1,
            self.pos
        ))
        .hint("the file is damaged, truncated or not a WARC; nothing was stored")
    }

    fn fill(&mut self) -> Result<&[u8]> {
        match self.src.fill_buf().map(|_| ()) {
            Ok(()) => Ok(self.src.buffer()),
            Err(e) => {
                let why = gzip_defect(self.src.get_ref()).unwrap_or_else(|| e.to_string());
                Err(self.defect(why))
            }
        }
    }

    /// Read the next record, hand it to `visit`, then read the rest of its block, check its
    /// digests and the CRLF CRLF that ends it. `Ok(None)` at the end of the file. A WARC defect
    /// found while reading the block wins over an error of `visit`, since it explains it.
    pub fn next(&mut self, visit: impl FnOnce(Record) -> Result<()>) -> Result<Option<Summary>> {
        if self.fill()?.is_empty() {
            return Ok(None);
        }
        let start = self.pos;
        let head = self.read_head()?;
        let member = self
            .members()
            .last()
            .filter(|m| m.start == start)
            .map(|m| m.offset);
        let ctx = format!("{} record {}", head.warc_type(), head.record_id());
        let digest = |name: &str| -> Result<Option<Digest>> {
            head.get(name)
                .map(|v| {
                    Digest::parse(v)
                        .map_err(|e| self.defect(format!("{ctx}: malformed {name}: {e}")))
                })
                .transpose()
        };
        let block_digest = digest("WARC-Block-Digest")?;
        let payload_digest =
            if head.warc_type() == "revisit" || head.get("WARC-Segment-Number").is_some() {
                // A revisit's payload digest names the payload it refers to; a segment's names the
                // whole of the segmented payload.
                None
            } else {
                digest("WARC-Payload-Digest")?
            };
        let want = self.want_sha256;
        let mut block = Block {
            len: head.content_length,
            left: head.content_length,
            pos: &mut self.pos,
            src: &mut self.src,
            block: block_digest
                .iter()
                .map(|d| d.algorithm.hasher())
                .chain(want.then(|| super::Algorithm::Sha256.hasher()))
                .collect(),
            payload: payload_digest
                .iter()
                .map(|d| d.algorithm.hasher())
                .chain(want.then(|| super::Algorithm::Sha256.hasher()))
                .collect(),
            dechunked: None,
            in_payload: false,
            defect: None,
        };
        let http_types = ["response", "request", "revisit"];
        let mut http_head = None;
        let mut parsed = None;
        let mut early: Option<String> = None;
        if head.is_http() && http_types.contains(&head.warc_type()) {
            match http::read_head(&mut block, MAX_HTTP_HEAD) {
                Ok(Ok(raw)) => {
                    if head.warc_type() != "request" {
                        match HttpHead::parse(raw.clone()) {
                            Ok(h) => parsed = Some(h),
                            Err(e) => early = Some(format!("{ctx}: malformed HTTP head: {e}")),
                        }
                    }
                    http_head = Some(raw);
                }
                Ok(Err(e)) => early = Some(format!("{ctx}: {e}")),
                Err(_) => {}
            }
        }
        block.in_payload = true;
        if let (Some(d), Some(h)) = (&payload_digest, &parsed) {
            if h.is_chunked() {
                block.dechunked = Some((Dechunker::new(HashSink(d.algorithm.hasher())), false));
            }
        }
        let visited = if early.is_some() || block.defect.is_some() {
            Ok(())
        } else {
            visit(Record {
                index: self.index,
                head: &head,
                http: parsed.as_ref(),
                payload: &mut block,
            })
        };
        // Read the rest of the block whatever happened, so its digests can be checked.
        if block.defect.is_none() && early.is_none() {
            let _ = io::copy(&mut block, &mut io::sink());
        }
        let Block {
            block: block_hashers,
            payload: payload_hashers,
            dechunked,
            defect,
            ..
        } = block;
        if let Some(d) = defect {
            return Err(self.defect(format!("{ctx}: {d}")));
        }
        if let Some(e) = early {
            return Err(self.defect(e));
        }
        let mut block_h = block_hashers.into_iter();
        let mut payload_h = payload_hashers.into_iter();
        if let Some(d) = &block_digest {
            let got = block_h.next().expect("one per digest").finish();
            if !d.matches(&got) {
                return Err(self.defect(format!(
                    "{ctx}: WARC-Block-Digest does not match the block (declared {}, computed {})",
                    head.get("WARC-Block-Digest").unwrap_or(""),
                    hex::encode(got)
                )));
            }
        }
        if let Some(d) = &payload_digest {
            let got = payload_h.next().expect("one per digest").finish();
            // The payload of a chunked response is the chunked bytes (as warcio and wget digest
            // it) or the content (as the WARC standard's "entity-body" reads): either matches.
            let dechunked = dechunked
                .filter(|(_, failed)| !failed)
                .and_then(|(d, _)| d.finish().ok())
                .map(|s| s.0.finish());
            if !d.matches(&got) && !dechunked.as_deref().is_some_and(|x| d.matches(x)) {
                return Err(self.defect(format!(
                    "{ctx}: WARC-Payload-Digest does not match the payload (declared {}, computed {})",
                    head.get("WARC-Payload-Digest").unwrap_or(""),
                    hex::encode(got)
                )));
            }
        }
        let sha = |h: Option<Hasher>| {
            h.map(|h| {
                let v = h.finish();
                let mut a = [0u8; 32];
                a.copy_from_slice(&v);
                a
            })
        };
        let block_sha256 = if want { sha(block_h.next()) } else { None };
        let payload_sha256 = if want { sha(payload_h.next()) } else { None };
        visited?;
        // The record ends with two CRLFs.
        let mut end = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let b = self.fill()?;
            if b.is_empty() {
                return Err(self.defect(format!(
                    "{ctx}: the file ends before the CRLF CRLF that closes the record: it is truncated"
                )));
            }
            let n = b.len().min(4 - got);
            end[got..got + n].copy_from_slice(&b[..n]);
            self.src.consume(n);
            self.pos += n as u64;
            got += n;
        }
        if &end != b"\r\n\r\n" {
            return Err(self.defect(format!(
                "{ctx}: the block is not followed by CRLF CRLF (its Content-Length is wrong or the record is damaged)"
            )));
        }
        let index = self.index;
        self.index += 1;
        Ok(Some(Summary {
            index,
            start,
            member,
            block_len: head.content_length,
            block_sha256,
            payload_sha256,
            http_head,
        }))
    }

    /// Read and parse one record header.
    fn read_head(&mut self) -> Result<RecordHead> {
        let mut raw = Vec::new();
        loop {
            let before = raw.len();
            let limit = (MAX_WARC_HEADER + 1 - raw.len()) as u64;
            let n = match (&mut self.src).take(limit).read_until(b'\n', &mut raw) {
                Ok(n) => n,
                Err(e) => {
                    let why = gzip_defect(self.src.get_ref()).unwrap_or_else(|| e.to_string());
                    return Err(self.defect(why));
                }
            };
            self.pos += n as u64;
            if raw.len() > MAX_WARC_HEADER {
                return Err(self.defect(format!(
                    "malformed record header: longer than {MAX_WARC_HEADER} bytes"
                )));
            }
            if n == 0 || !raw.ends_with(b"\n") {
                return Err(self.defect("the file ends inside a record header: it is truncated"));
            }
            if before == 0 && !(raw == b"WARC/1.0\r\n" || raw == b"WARC/1.1\r\n") {
                let shown: String = String::from_utf8_lossy(&raw).chars().take(40).collect();
                return Err(self.defect(format!(
                    "malformed record header: expected a WARC/1.0 or WARC/1.1 version line, found {:?}",
                    shown.trim_end()
                )));
            }
            if &raw[before..] == b"\r\n" {
                break;
            }
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| self.defect("malformed record header: not UTF-8"))?
            .to_string();
        let mut lines = text.split("\r\n");
        let version = lines.next().unwrap_or_default().to_string();
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            if line.contains('\n') || line.contains('\r') {
                return Err(self.defect("malformed record header: a line does not end in CRLF"));
            }
            if line.starts_with([' ', '\t']) {
                let Some(last) = fields.last_mut() else {
                    return Err(self
                        .defect("malformed record header: a continuation line before any field"));
                };
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(self.defect(format!(
                    "malformed record header: line {:?} is not a named field",
                    line.chars().take(60).collect::<String>()
                )));
            };
            if !http::is_token(name.as_bytes()) {
                return Err(self.defect(format!(
                    "malformed record header: field name {name:?} is not a token"
                )));
            }
            fields.push((name.to_string(), value.trim().to_string()));
        }
        for single in SINGLE {
            if fields
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(single))
                .count()
                > 1
            {
                return Err(self.defect(format!("malformed record header: {single} appears twice")));
            }
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        for required in ["WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Length"] {
            if get(required).is_none_or(str::is_empty) {
                return Err(self.defect(format!("malformed record header: no {required} field")));
            }
        }
        let id = get("WARC-Record-ID").unwrap_or_default();
        if !(id.starts_with('<') && id.ends_with('>') && id.len() > 2) || id.contains([' ', '\t']) {
            return Err(self.defect(format!(
                "malformed record header: WARC-Record-ID {id:?} is not <URI>"
            )));
        }
        let date = get("WARC-Date").unwrap_or_default();
        if super::parse_date(date).is_none() {
            return Err(self.defect(format!(
                "malformed record header: WARC-Date {date:?} is not a UTC time YYYY-MM-DDThh:mm:ssZ"
            )));
        }
        let len = get("Content-Length").unwrap_or_default();
        let content_length = len
            .parse::<u64>()
            .ok()
            .filter(|_| len.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                self.defect(format!(
                    "malformed record header: Content-Length {len:?} is not a number of bytes"
                ))
            })?;
        Ok(RecordHead {
            version,
            fields,
            raw,
            content_length,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::warc::writer::WarcWriter;
    use sha2::Digest as _;

    fn record(kind: &str, block: &[u8], extra: &str) -> Vec<u8> {
        let h = hex::encode(sha2::Sha256::digest(block));
        format!(
            "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:1>\r\nWARC-Date: 2026-05-21T05:07:28Z\r\n{extra}WARC-Block-Digest: sha256:{h}\r\nContent-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes()
        .into_iter()
        .chain(block.iter().copied())
        .chain(*b"\r\n\r\n")
        .collect()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut r = WarcReader::new(bytes).unwrap();
        let mut out = Vec::new();
        loop {
            let mut body = Vec::new();
            let mut kind = String::new();
            let got = r.next(|rec| {
                kind = rec.head.warc_type().to_string();
                rec.payload
                    .read_to_end(&mut body)
                    .map_err(|e| Error::verification(e.to_string()))?;
                Ok(())
            })?;
            if got.is_none() {
                return Ok(out);
            }
            out.push((kind, body));
        }
    }

    #[test]
    fn reads_plain_and_gzip_and_checks_digests() {
        let body = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";
        let payload = hex::encode(sha2::Sha256::digest(b"hello"));
        let one = record(
            "response",
            body,
            &format!("Content-Type: application/http;msgtype=response\r\nWARC-Payload-Digest: sha256:{payload}\r\n"),
        );
        let two = record(
            "metadata",
            b"x: y\r\n",
            "Content-Type: application/warc-fields\r\n",
        );
        let plain = [one.clone(), two.clone()].concat();
        let got = read_all(&plain).unwrap();
        assert_eq!(got[0], ("response".into(), b"hello".to_vec()));
        assert_eq!(got[1], ("metadata".into(), b"x: y\r\n".to_vec()));

        let mut w = WarcWriter::new(Vec::new());
        for rec in [&one, &two] {
            w.write_record(&[], |o| o.write_all(&rec[..rec.len() - 4]))
                .unwrap();
        }
        assert_eq!(read_all(&w.into_inner()).unwrap(), got);
        // The whole file as one gzip member works too.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&plain).unwrap();
        assert_eq!(read_all(&e.finish().unwrap()).unwrap(), got);

        // A flipped payload byte.
        let mut bad = plain.clone();
        let at = plain.windows(5).position(|w| w == b"hello").unwrap();
        bad[at] = b'j';
        let e = read_all(&bad).unwrap_err().to_string();
        assert!(e.contains("WARC-Block-Digest does not match"), "{e}");
        // Truncated.
        let e = read_all(&plain[..plain.len() - 10])
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        // Malformed header.
        let bad = String::from_utf8(plain.clone()).unwrap().replacen(
            "WARC-Date: 2026-05-21T05:07:28Z",
            "WARC-Date: yesterday",
            1,
        );
        let e = read_all(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("WARC-Date"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn build(records: &[(u8, Vec<u8>, bool)]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
            let mut out = Vec::new();
            let mut bodies = Vec::new();
            for (i, (kind, body, http)) in records.iter().enumerate() {
                let (kind, block, payload, extra) = if *http {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    let block = [head.as_bytes(), body].concat();
                    (
                        "response",
                        block,
                        body.clone(),
                        "Content-Type: application/http;msgtype=response\r\n".to_string(),
                    )
                } else {
                    let k = ["resource", "metadata", "warcinfo"][*kind as usize % 3];
                    (
                        k,
                        body.clone(),
                        body.clone(),
                        "Content-Type: application/octet-stream\r\n".to_string(),
                    )
                };
                let h = format!(
                    "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{i}>\r\nWARC-Date: 2026-05-21T05:07:28Z\r\n{extra}WARC-Payload-Digest: sha256:{}\r\nWARC-Block-Digest: sha256:{}\r\nContent-Length: {}\r\n\r\n",
                    hex::encode(sha2::Sha256::digest(&payload)),
                    hex::encode(sha2::Sha256::digest(&block)),
                    block.len()
                );
                out.push([h.into_bytes(), block].concat());
                bodies.push(payload);
            }
            (out, bodies)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Whatever is written (plain, or one gzip member per record) reads back as written,
            /// every digest holding; one changed byte of a block is refused.
            #[test]
            fn write_then_read(records in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..3000), any::<bool>()), 1..6), flip in any::<prop::sample::Index>()) {
                let (recs, bodies) = build(&records);
                let plain: Vec<u8> = recs.iter().flat_map(|r| r.iter().copied().chain(*b"\r\n\r\n")).collect();
                let mut w = WarcWriter::new(Vec::new());
                for r in &recs {
                    w.write_record(r, |_| Ok(())).unwrap();
                }
                let gz = w.into_inner();
                for file in [&plain, &gz] {
                    let got = read_all(file).unwrap();
                    prop_assert_eq!(got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(), bodies.clone());
                }
                // Flip one byte inside some block (not the header, not the final CRLFs).
                let (i, r) = recs.iter().enumerate().max_by_key(|(_, r)| r.len()).unwrap();
                let hl = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                if r.len() > hl {
                    let at: usize = recs[..i].iter().map(|r| r.len() + 4).sum::<usize>() + hl + flip.index(r.len() - hl);
                    let mut bad = plain.clone();
                    bad[at] ^= 0x01;
                    let e = read_all(&bad).unwrap_err().to_string();
                    prop_assert!(e.contains("Digest does not match") || e.contains("malformed HTTP head"), "{}", e);
                }
            }
        }
    }
}
