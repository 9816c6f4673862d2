//! The document store: documents compressed with zstd, addressed by the SHA-256 of their
//! uncompressed bytes, so the same content is stored once and `zstd -dc BLOB | sha256sum` prints
//! the cited hash.
//!
//! A blob is one or more zstd frames followed by a 48-byte zstd *skippable* frame that carries the
//! SHA-256 of all bytes before it. zstd ignores skippable frames, so third-party tools decompress
//! blobs unchanged, while audit can tell that not one stored byte moved, including the header bits
//! a zstd decoder is allowed to ignore.

use crate::archive::dir::Dir;
use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ZSTD_LEVEL: i32 = 3;
/// Skippable-frame magic 0x184D2A5E, little endian.
const TRAILER_MAGIC: [u8; 4] = [0x5E, 0x2A, 0x4D, 0x18];
const TRAILER_TAG: &[u8; 8] = b"EXHBLOB1";
pub const TRAILER_LEN: u64 = 48;
/// The first bytes of a document are kept in memory for sniffing (the HTML title).
const HEAD_KEEP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Stored,
    AlreadyPresent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCheck {
    pub sha256: String,
    pub size: u64,
}

/// Why a stored blob is not what its name claims.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("document {0} is missing from the store")]
    Missing(String),
    #[error("{path}: stored bytes were altered (blob checksum mismatch)")]
    Altered { path: PathBuf },
    #[error("{path}: not a valid exhibit blob ({why})")]
    Malformed { path: PathBuf, why: String },
    #[error(
        "{path}: decompressed content has SHA-256 {actual}, not the {expected} it is stored under"
    )]
    WrongContent {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot read {path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    #[error("cannot write the document: {0}")]
    Output(io::Error),
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Missing(_) => Error::verification(e.to_string())
                .hint("restore the archive from a backup; the record cannot be verified without its document"),
            BlobError::Output(ref io) if io.kind() == io::ErrorKind::BrokenPipe => {
                Error::usage("output closed early (broken pipe)")
            }
            _ => Error::verification(e.to_string()).hint("restore the file from a backup copy of the archive"),
        }
    }
}

/// A document fully written to scratch space, not yet part of the store. Dropping it deletes the
/// scratch file (after publishing, there is nothing left to delete).
pub struct Staged {
    pub sha256: String,
    pub size: u64,
    pub stored_size: u64,
    /// The first bytes of the document, for sniffing.
    pub head: Vec<u8>,
    dir: Arc<Dir>,
    name: String,
}

impl Staged {
    /// The scratch directory and file name of the staged blob.
    pub fn location(&self) -> (&Arc<Dir>, &str) {
        (&self.dir, &self.name)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Read the staged document back, checking it like any stored blob.
    pub fn read(&self, out: &mut dyn Write) -> Result<DocumentCheck, BlobError> {
        let path = self.path();
        let file = self
            .dir
            .open_file(&self.name)
            .map_err(|err| BlobError::Io {
                path: path.clone(),
                err,
            })?
            .ok_or_else(|| BlobError::Missing(self.sha256.clone()))?;
        read_blob_file(file, &path, out)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = self.dir.remove_file(&self.name);
    }
}

/// The size limit was reached; the document is refused, not truncated.
#[derive(Debug, thiserror::Error)]
#[error("document is larger than the limit of {limit} bytes")]
pub struct SizeLimitExceeded {
    pub limit: u64,
}

/// Hashes, counts and compresses document bytes as they arrive, so memory stays bounded
/// whatever the document's size.
pub struct DocumentWriter {
    encoder: Option<zstd::stream::write::Encoder<'static, HashingWriter<BufWriter<File>>>>,
    hasher: Sha256,
    size: u64,
    max_size: u64,
    head: Vec<u8>,
    limit_hit: bool,
    dir: Arc<Dir>,
    name: String,
}

impl DocumentWriter {
    /// Begin a new document in a scratch directory; nothing is visible in the store until it is
    /// published. Documents are evidence for others to read (verifiers, backups, a web server),
    /// so the blob is world-readable; only secret keys are private.
    pub fn create(dir: &Arc<Dir>, max_size: u64) -> Result<Self> {
        let name = format!("{}.zst", crate::archive::dir::unique_name("doc-"));
        let path = dir.join(&name);
        let file = dir
            .create_new(&name, 0o644)
            .map_err(|e| crate::archive::local::io_error("create", &path, e))?;
        let sink = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            count: 0,
        };
        let mut encoder =
            zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL).ctx("start compressing", &path)?;
        encoder
            .include_checksum(true)
            .ctx("configure compression for", &path)?;
        Ok(DocumentWriter {
            encoder: Some(encoder),
            hasher: Sha256::new(),
            size: 0,
            max_size,
            head: Vec::new(),
            limit_hit: false,
            dir: dir.clone(),
            name,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// True once a write was refused for exceeding the size limit. Decoders in front of this
    /// writer may re-wrap its error, so callers ask here rather than inspect the error.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    pub fn finish(mut self) -> Result<Staged> {
        let path = self.dir.join(&self.name);
        // From here on the staged file is owned by `Staged`, whose drop removes it.
        let mut staged = Staged {
            sha256: String::new(),
            size: self.size,
            stored_size: 0,
            head: std::mem::take(&mut self.head),
            dir: self.dir.clone(),
            name: std::mem::take(&mut self.name),
        };
        let encoder = self.encoder.take().expect("finish is called once");
        let mut sink = encoder.finish().ctx("finish compressing", &path)?;
        let frame_hash: [u8; 32] = sink.hasher.finalize_reset().into();
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(&TRAILER_MAGIC);
        trailer.extend_from_slice(&40u32.to_le_bytes());
        trailer.extend_from_slice(TRAILER_TAG);
        trailer.extend_from_slice(&frame_hash);
        sink.inner.write_all(&trailer).ctx("write", &path)?;
        sink.inner.flush().ctx("write", &path)?;
        staged.sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        staged.stored_size = sink.count + TRAILER_LEN;
        Ok(staged)
    }
}

impl Drop for DocumentWriter {
    fn drop(&mut self) {
        // A writer dropped before `finish` (a failed fetch) leaves no scratch file behind;
        // after `finish` the name is empty and Staged owns the file.
        if !self.name.is_empty() {
            let _ = self.dir.remove_file(&self.name);
        }
    }
}

impl Write for DocumentWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size + buf.len() as u64 > self.max_size {
            self.limit_hit = true;
            return Err(io::Error::other(SizeLimitExceeded {
                limit: self.max_size,
            }));
        }
        let n = self.encoder.as_mut().expect("not finished").write(buf)?;
        self.hasher.update(&buf[..n]);
        if self.head.len() < HEAD_KEEP {
            let take = n.min(HEAD_KEEP - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.encoder.as_mut() {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through to `inner`.
pub struct DigestWriter<W> {
    pub inner: W,
    pub hasher: Sha256,
    pub count: u64,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Check one blob file and stream its document into `out`. Returns the document's SHA-256 and
/// size; the caller compares them with the name and the manifest.
pub fn read_blob(path: &Path, out: &mut dyn Write) -> Result<DocumentCheck, BlobError> {
    let file = File::open(path).map_err(|err| BlobError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    read_blob_file(file, path, out)
}

/// [`read_blob`] of a file already opened (the archive opens blobs without following links);
/// `path` only names it in errors.
pub fn read_blob_file(
    mut file: File,
    path: &Path,
    out: &mut dyn Write,
) -> Result<DocumentCheck, BlobError> {
    let io_err = |err| BlobError::Io {
        path: path.to_path_buf(),
        err,
    };
    let malformed = |why: &str| BlobError::Malformed {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let len = file.metadata().map_err(io_err)?.len();
    if len < TRAILER_LEN + 4 {
        return Err(malformed(
            "too short to hold a zstd frame and the exhibit trailer",
        ));
    }
    let body_len = len - TRAILER_LEN;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    file.seek(SeekFrom::Start(body_len)).map_err(io_err)?;
    file.read_exact(&mut trailer).map_err(io_err)?;
    if trailer[..4] != TRAILER_MAGIC
        || trailer[4..8] != 40u32.to_le_bytes()
        || &trailer[8..16] != TRAILER_TAG
    {
        return Err(malformed(
            "the trailing checksum frame is missing or damaged",
        ));
    }
    // First the stored bytes against the trailer, in one pass over the compressed file: an
    // altered blob is refused before any decompression, so a tampered "bomb" costs nothing.
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut hashing = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, (&mut file).take(body_len)),
        hasher: Sha256::new(),
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err)?;
    let frame_hash: [u8; 32] = hashing.hasher.finalize().into();
    if frame_hash[..] != trailer[16..] {
        return Err(BlobError::Altered {
            path: path.to_path_buf(),
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
        256 * 1024,
        file.take(body_len),
    ))
    .map_err(io_err)?;
    let (decoded, sha256, size) = if body_len >= PIPELINE_FROM {
        decode_pipelined(&mut decoder, out)
    } else {
        let mut sink = DigestWriter::new(out);
        let r = copy_distinguishing(&mut decoder, &mut sink);
        (r, sink.hasher.finalize().into(), sink.count)
    };
    match decoded {
        Ok(()) => {}
        Err(Copy::Read(e)) => return Err(malformed(&format!("zstd: {e}"))),
        Err(Copy::Write(e)) => return Err(BlobError::Output(e)),
    }
    Ok(DocumentCheck {
        sha256: hex::encode(sha256),
        size,
    })
}

/// Stored size from which a document is decoded and hashed on two threads. Below it, starting a
/// thread costs more than it saves (most web pages are a few KiB compressed).
const PIPELINE_FROM: u64 = 4 << 20;

/// Decompress on this thread while another hashes what came out, so one large document keeps
/// two cores busy (zstd decodes at ~1.4 GB/s, SHA-256 runs at ~1.9 GB/s, one after the other
/// they would halve the throughput). Buffers travel back and forth, so nothing is copied.
fn decode_pipelined(
    decoder: &mut dyn Read,
    out: &mut dyn Write,
) -> (Result<(), Copy>, [u8; 32], u64) {
    use std::sync::mpsc;
    const CHUNK: usize = 1 << 20;
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(4);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..4 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            let mut count = 0u64;
            for (buf, n) in full_rx {
                h.update(&buf[..n]);
                count += n as u64;
                let _ = empty_tx.send(buf);
            }
            (h.finalize().into(), count)
        });
        let result = (|| loop {
            let mut buf = empty_rx.recv().expect("the hasher returns every buffer");
            let mut n = 0;
            // Fill the chunk, so the hasher gets large pieces.
            while n < CHUNK {
                match decoder.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Copy::Read(e)),
                }
            }
            if n == 0 {
                return out.flush().map_err(Copy::Write);
            }
            out.write_all(&buf[..n]).map_err(Copy::Write)?;
            full_tx
                .send((buf, n))
                .expect("the hasher runs until the sender is dropped");
        })();
        drop(full_tx);
        let (sha, count) = hasher.join().expect("hashing does not panic");
        (result, sha, count)
    })
}

enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// io::copy, but telling a bad input from a failed output (a closed pipe is not a damaged blob).
fn copy_distinguishing(r: &mut dyn Read, w: &mut dyn Write) -> Result<(), Copy> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return w.flush().map_err(Copy::Write),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(Copy::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Incompressible bytes, so the stored blob is large enough for the two-thread path.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn stage(dir: &Path, bytes: &[u8]) -> Staged {
        let dir = Arc::new(Dir::open(dir).unwrap());
        let mut w = DocumentWriter::create(&dir, u64::MAX).unwrap();
        w.write_all(bytes).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn large_and_small_blobs_round_trip_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 1000, (PIPELINE_FROM as usize) * 2 + 12345] {
            let doc = noise(len);
            let staged = stage(dir.path(), &doc);
            assert_eq!(
                staged.stored_size >= PIPELINE_FROM,
                len > PIPELINE_FROM as usize
            );
            let mut out = Vec::new();
            let check = read_blob(&staged.path(), &mut out).unwrap();
            assert_eq!(out, doc);
            assert_eq!(check.size, len as u64);
            assert_eq!(check.sha256, hex::encode(Sha256::digest(&doc)));
            assert_eq!(check.sha256, staged.sha256);
        }
    }

    #[test]
    fn any_altered_byte_of_a_large_blob_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let staged = stage(dir.path(), &noise(PIPELINE_FROM as usize + 1));
        let original = std::fs::read(staged.path()).unwrap();
        for pos in [
            0,
            7,
            original.len() / 2,
            original.len() - 49,
            original.len() - 1,
        ] {
            let mut bytes = original.clone();
            bytes[pos] ^= 0x20;
            std::fs::write(staged.path(), &bytes).unwrap();
            assert!(
                read_blob(&staged.path(), &mut io::sink()).is_err(),
                "byte {pos}"
            );
        }
    }
}
