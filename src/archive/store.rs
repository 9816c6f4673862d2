//! The document store: documents compressed with zstd, addressed by the SHA-256 of their
//! uncompressed bytes, so the same content is stored once and `zstd -dc BLOB | sha256sum` prints
//! the cited hash.
//!
//! A blob is exactly one zstd frame followed by a 48-byte zstd *skippable* frame that carries
//! the SHA-256 of all bytes before it. zstd ignores skippable frames, so third-party tools
//! decompress blobs unchanged, while audit can tell that a stored byte moved, including the header
//! bits a zstd decoder is allowed to ignore. That checksum is unkeyed, so the reader also insists
//! on the exact frame layout the writer produces (docs/FORMAT.md 4.2): whoever can write the
//! archive cannot hide extra bytes in a blob that audits clean.

use crate::archive::dir::Dir;
use crate::core::digest::Sha256;
use crate::error::{Error, IoContext, Result};
use sha2::Digest;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// zstd level 5: on the benchmark's 10,000 real pages it stores 0.99 of their bytes gzipped
/// with `gzip -9` one file each, level 3 1.04 (benches/BENCHMARKS.md, issue 14). What makes it
/// affordable is [`ONE_PASS_UP_TO`].
pub const ZSTD_LEVEL: i32 = 5;
/// Documents of up to this many bytes are held until they end and compressed in one pass.
/// Knowing the size, zstd sizes its window and tables to the document (a page of 16 KB gets
/// tables of a few KiB instead of the megabytes of a level for unknown sizes): level 5 costs
/// about 17% more capture CPU that way, measured, and 27% streamed. Larger documents stream, so
/// memory stays bounded whatever the size.
pub const ONE_PASS_UP_TO: usize = 256 * 1024;
/// Skippable-frame magic 0x184D2A5E, little endian.
const TRAILER_MAGIC: [u8; 4] = [0x5E, 0x2A, 0x4D, 0x18];
const TRAILER_TAG: &[u8; 8] = b"EXHBLOB1";
pub const TRAILER_LEN: u64 = 48;
/// The first bytes of a document are kept in memory for sniffing (the HTML title).
const HEAD_KEEP: usize = 64 * 1024;
/// A document of up to this size is kept whole in memory while it is written, when its writer
/// is asked to ([`DocumentWriter::keep_whole`]), so that its text fingerprint needs no read-back
/// (open, check, decompress): pages over the 64 KiB head were a sixteenth of batch capture's
/// CPU that way. The bytes beyond the head are kept apart, so `head` means the same for every
/// reader (the HTML title is looked for in the first 64 KiB only), and
/// [`Staged::take_whole`] gives the memory back.
pub const KEEP_WHOLE_UP_TO: usize = 1 << 20;
/// A blob that stays under this size is staged in memory, not in a scratch file: it goes into
/// its commit's pack (the same bound as `archive::PACK_BLOBS_BELOW`), so a file would only be
/// created, read back and deleted. Creating and deleting those files was a sixth of batch
/// capture's CPU.
const MEMORY_BLOB_BELOW: usize = 64 * 1024;
/// Most bytes of blobs staged in memory at once in this process (a capture queues up to a few
/// thousand records for its committer); beyond it blobs are staged as files, as before.
const MEMORY_BUDGET: usize = 32 << 20;
static MEMORY_USED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Takes `n` bytes of the memory budget, if there are that many left.
fn reserve_memory(n: usize) -> bool {
    use std::sync::atomic::Ordering;
    MEMORY_USED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            (used + n <= MEMORY_BUDGET).then_some(used + n)
        })
        .is_ok()
}

fn release_memory(n: usize) {
    MEMORY_USED.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Stored,
    AlreadyPresent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCheck {
    pub sha256: Sha256,
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
    pub sha256: Sha256,
    pub size: u64,
    pub stored_size: u64,
    /// The first bytes of the document, for sniffing.
    pub head: Vec<u8>,
    /// The bytes after `head`, when the writer kept the whole document.
    rest: Option<Vec<u8>>,
    dir: Arc<Dir>,
    /// The scratch file, when the blob is not in `memory`.
    name: String,
    /// The whole blob, when small enough to be staged in memory (counted in the budget).
    memory: Option<Vec<u8>>,
}

impl Staged {
    /// The scratch directory and file name of the staged blob, writing it to a scratch file
    /// first if it was staged in memory (for a blob that is published as a file of its own).
    /// The caller makes the file durable with the scratch directory's file system.
    pub fn location(&mut self) -> Result<(&Arc<Dir>, &str)> {
        if let Some(bytes) = self.memory.take() {
            let name = format!("{}.zst", crate::archive::dir::unique_name("doc-"));
            let path = self.dir.join(&name);
            let written = self
                .dir
                .create_new(&name, 0o644)
                .and_then(|mut f| f.write_all(&bytes));
            release_memory(bytes.len());
            self.name = name;
            written.map_err(|e| crate::archive::local::io_error("write", &path, e))?;
        }
        Ok((&self.dir, &self.name))
    }

    /// The staged file (written out first if it was in memory), for tests that damage it.
    #[cfg(test)]
    fn path(&mut self) -> PathBuf {
        let (dir, name) = self.location().unwrap();
        dir.join(name)
    }

    /// The whole document, when it is longer than `head` and was kept by
    /// [`DocumentWriter::keep_whole`]; the memory is given back either way.
    pub fn take_whole(&mut self) -> Option<Vec<u8>> {
        let rest = self.rest.take()?;
        if rest.is_empty() || (self.head.len() + rest.len()) as u64 != self.size {
            return None;
        }
        let mut whole = Vec::with_capacity(self.size as usize);
        whole.extend_from_slice(&self.head);
        whole.extend_from_slice(&rest);
        Some(whole)
    }

    /// Whether the blob is in a scratch file (rather than in memory).
    pub fn in_file(&self) -> bool {
        self.memory.is_none()
    }

    /// The staged blob's bytes, to copy into a pack.
    pub fn open(&self) -> Result<Box<dyn Read + '_>> {
        match &self.memory {
            Some(bytes) => Ok(Box::new(&bytes[..])),
            None => {
                let path = self.dir.join(&self.name);
                let file = self
                    .dir
                    .open_file(&self.name)
                    .map_err(|e| crate::archive::local::io_error("open", &path, e))?
                    .ok_or_else(|| Error::archive(format!("{} vanished", path.display())))?;
                Ok(Box::new(file))
            }
        }
    }

    /// Read the staged document back, checking it like any stored blob.
    pub fn read(&self, out: &mut dyn Write) -> Result<DocumentCheck, BlobError> {
        if let Some(bytes) = &self.memory {
            let path = self
                .dir
                .join(format!("{} (staged in memory)", self.sha256).as_str());
            return check_blob(io::Cursor::new(bytes), bytes.len() as u64, &path, out);
        }
        let path = self.dir.join(&self.name);
        let file = self
            .dir
            .open_file(&self.name)
            .map_err(|err| BlobError::Io {
                path: path.clone(),
                err,
            })?
            .ok_or_else(|| BlobError::Missing(self.sha256.to_string()))?;
        read_blob_file(file, &path, out)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        match self.memory.take() {
            Some(bytes) => release_memory(bytes.len()),
            None => {
                let _ = self.dir.remove_file(&self.name);
            }
        }
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
    /// Borrowed from [`CCTX_POOL`] and given back when the writer is done.
    cctx: Option<zstd::zstd_safe::CCtx<'static>>,
    sink: HashingWriter<Spill>,
    /// Compressed output on its way to `sink`.
    out: Vec<u8>,
    /// The document so far, while it is at most [`ONE_PASS_UP_TO`] bytes and its frame has
    /// not begun; `None` once it streams.
    pending: Option<Vec<u8>>,
    hasher: sha2::Sha256,
    size: u64,
    max_size: u64,
    head: Vec<u8>,
    /// The bytes after `head`, while the whole document is kept and still fits.
    rest: Option<Vec<u8>>,
    limit_hit: bool,
    dir: Arc<Dir>,
    name: String,
}

/// Compression contexts of finished writers. A fresh context allocates and clears megabytes of
/// tables once a document streams (at level 3 that cost more than compressing a page of 20 KB:
/// a fifth of batch capture's CPU in the profile of BENCHMARKS.md); a reused one keeps its
/// tables, and zstd makes the previous frame's data unreachable without clearing them. The
/// frames it writes have the same layout (FORMAT.md 4.2): same level, same parameters.
static CCTX_POOL: std::sync::Mutex<Vec<zstd::zstd_safe::CCtx<'static>>> =
    std::sync::Mutex::new(Vec::new());
/// More contexts than concurrent writers would only hold memory.
const CCTX_POOL_MAX: usize = 32;

fn zstd_error(code: usize) -> io::Error {
    io::Error::other(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
}

fn take_cctx() -> io::Result<zstd::zstd_safe::CCtx<'static>> {
    use zstd::zstd_safe::{CCtx, CParameter, ResetDirective};
    let pooled = CCTX_POOL.lock().ok().and_then(|mut p| p.pop());
    let mut cctx = match pooled {
        // Whatever an abandoned writer left in it is dropped; level and checksum are kept.
        Some(mut c) => {
            c.reset(ResetDirective::SessionOnly).map_err(zstd_error)?;
            c
        }
        None => {
            let mut c = CCtx::create();
            c.set_parameter(CParameter::CompressionLevel(ZSTD_LEVEL))
                .map_err(zstd_error)?;
            c.set_parameter(CParameter::ChecksumFlag(true))
                .map_err(zstd_error)?;
            c
        }
    };
    // The content-size flag is chosen per frame (see `DocumentWriter::start_frame`).
    // A context must never carry a pledged size or an unfinished frame into a new document.
    cctx.reset(ResetDirective::SessionOnly)
        .map_err(zstd_error)?;
    Ok(cctx)
}

fn give_back_cctx(cctx: zstd::zstd_safe::CCtx<'static>) {
    if let Ok(mut p) = CCTX_POOL.lock() {
        if p.len() < CCTX_POOL_MAX {
            p.push(cctx);
        }
    }
}

impl DocumentWriter {
    /// Begin a new document in a scratch directory; nothing is visible in the store until it is
    /// published. Documents are evidence for others to read (verifiers, backups, a web server),
    /// so the blob is world-readable; only secret keys are private.
    pub fn create(dir: &Arc<Dir>, max_size: u64) -> Result<Self> {
        let name = format!("{}.zst", crate::archive::dir::unique_name("doc-"));
        let path = dir.join(&name);
        let cctx = take_cctx().ctx("start compressing", &path)?;
        let sink = HashingWriter {
            inner: Spill::Memory(Vec::new()),
            hasher: sha2::Sha256::new(),
            count: 0,
        };
        Ok(DocumentWriter {
            cctx: Some(cctx),
            sink,
            out: Vec::with_capacity(zstd::zstd_safe::CCtx::out_size()),
            pending: Some(Vec::new()),
            hasher: sha2::Sha256::new(),
            size: 0,
            max_size,
            head: Vec::new(),
            rest: None,
            limit_hit: false,
            dir: dir.clone(),
            name,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Keep a document of up to [`KEEP_WHOLE_UP_TO`] bytes whole, for [`Staged::take_whole`].
    pub fn keep_whole(&mut self) {
        self.rest = Some(Vec::new());
    }

    /// Room for a document of about `size` bytes, so that holding it costs no reallocations.
    /// `size` may come from a server (a Content-Length) and may lie: nothing beyond what the
    /// writer would hold for a document of that size, and of at most its size limit, is
    /// reserved.
    pub fn expect(&mut self, size: u64) {
        let size = usize::try_from(size.min(self.max_size)).unwrap_or(usize::MAX);
        if let Some(pending) = &mut self.pending {
            pending.reserve(size.min(ONE_PASS_UP_TO));
        }
        self.head.reserve(size.min(HEAD_KEEP));
        if let Some(rest) = &mut self.rest {
            rest.reserve(
                size.saturating_sub(HEAD_KEEP)
                    .min(KEEP_WHOLE_UP_TO - HEAD_KEEP),
            );
        }
    }

    /// True once a write was refused for exceeding the size limit. Decoders in front of this
    /// writer may re-wrap its error, so callers ask here rather than inspect the error.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// Set the frame's parameters before its first byte. A document held whole is compressed
    /// in one pass (zstd takes its size from the single call) without writing that size into
    /// the frame header, so the header keeps the one form readers accept (`04 WD`, FORMAT.md
    /// 4.2); only the empty document's frame carries its size, 0 (`24 00`), as it always did.
    fn start_frame(&mut self, one_pass: bool) -> io::Result<()> {
        use zstd::zstd_safe::CParameter;
        let cctx = self
            .cctx
            .as_mut()
            .ok_or_else(|| io::Error::other("the document was already finished"))?;
        cctx.set_parameter(CParameter::ContentSizeFlag(!one_pass))
            .map_err(zstd_error)?;
        Ok(())
    }

    /// From here on the document streams: whatever was held goes into the frame first.
    fn stream(&mut self) -> io::Result<()> {
        if let Some(held) = self.pending.take() {
            self.start_frame(false)?;
            self.compress(
                &held,
                zstd::zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_continue,
            )?;
        }
        Ok(())
    }

    /// Run the compressor over `input` with `op` until it has taken all of it and, for a flush
    /// or the end of the frame, written out everything it holds.
    fn compress(
        &mut self,
        input: &[u8],
        op: zstd::zstd_safe::zstd_sys::ZSTD_EndDirective,
    ) -> io::Result<()> {
        use zstd::zstd_safe::{zstd_sys::ZSTD_EndDirective, InBuffer, OutBuffer};
        let cctx = self
            .cctx
            .as_mut()
            .ok_or_else(|| io::Error::other("the document was already finished"))?;
        let mut input = InBuffer::around(input);
        loop {
            self.out.clear();
            let remaining = {
                let mut output = OutBuffer::around(&mut self.out);
                cctx.compress_stream2(&mut output, &mut input, op)
                    .map_err(zstd_error)?
            };
            if let Spill::Memory(held) = &self.sink.inner {
                if held.len() + self.out.len() + TRAILER_LEN as usize >= MEMORY_BLOB_BELOW {
                    spill(&mut self.sink.inner, &self.dir, &self.name)?;
                }
            }
            self.sink.write_all(&self.out)?;
            let consumed = input.pos() == input.src.len();
            let done = match op {
                ZSTD_EndDirective::ZSTD_e_continue => consumed,
                _ => consumed && remaining == 0,
            };
            if done {
                return Ok(());
            }
        }
    }

    pub fn finish(mut self) -> Result<Staged> {
        let path = self.dir.join(&self.name);
        // Compressed first: a document held whole may still spill to its scratch file, under
        // the writer's name (the writer's drop removes it if this fails).
        let end = zstd::zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_end;
        match self.pending.take() {
            // An empty document is the frame it always was (`24 00`: its size, 0, is known).
            Some(held) if held.is_empty() => {
                self.start_frame(false)
                    .and_then(|()| self.compress(&[], end))
                    .ctx("finish compressing", &path)?;
            }
            Some(held) => {
                self.start_frame(true)
                    .and_then(|()| self.compress(&held, end))
                    .ctx("finish compressing", &path)?;
            }
            None => self.compress(&[], end).ctx("finish compressing", &path)?,
        }
        // From here on the staged file is owned by `Staged`, whose drop removes it.
        let mut staged = Staged {
            sha256: Sha256::from_bytes([0; 32]),
            size: self.size,
            stored_size: 0,
            head: std::mem::take(&mut self.head),
            rest: self.rest.take(),
            dir: self.dir.clone(),
            name: std::mem::take(&mut self.name),
            memory: None,
        };
        if let Some(cctx) = self.cctx.take() {
            give_back_cctx(cctx);
        }
        let sink = &mut self.sink;
        let frame_hash: [u8; 32] = sink.hasher.finalize_reset().into();
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(&TRAILER_MAGIC);
        trailer.extend_from_slice(&40u32.to_le_bytes());
        trailer.extend_from_slice(TRAILER_TAG);
        trailer.extend_from_slice(&frame_hash);
        let stored_size = sink.count + TRAILER_LEN;
        if let Spill::Memory(held) = &mut sink.inner {
            if reserve_memory(held.len() + trailer.len()) {
                held.extend_from_slice(&trailer);
                staged.memory = Some(std::mem::take(held));
                staged.name.clear();
            } else {
                spill(&mut sink.inner, &self.dir, &staged.name).ctx("write", &path)?;
            }
        }
        let sink = &mut self.sink;
        if let Spill::File(file) = &mut sink.inner {
            file.write_all(&trailer).ctx("write", &path)?;
            file.flush().ctx("write", &path)?;
        }
        staged.sha256 = Sha256::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
        staged.stored_size = stored_size;
        Ok(staged)
    }
}

/// Moves what a writer holds in memory to its scratch file `name`, which from then on takes
/// the rest.
fn spill(sink: &mut Spill, dir: &Dir, name: &str) -> io::Result<()> {
    if let Spill::Memory(held) = sink {
        let mut file = BufWriter::with_capacity(256 * 1024, dir.create_new(name, 0o644)?);
        file.write_all(held)?;
        *sink = Spill::File(file);
    }
    Ok(())
}

/// Where a document writer's compressed bytes go: memory while the blob is small, then its
/// scratch file.
enum Spill {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Spill::Memory(v) => v.write(buf),
            Spill::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Spill::Memory(_) => Ok(()),
            Spill::File(f) => f.flush(),
        }
    }
}

impl Drop for DocumentWriter {
    fn drop(&mut self) {
        // A writer dropped before `finish` (a failed fetch) leaves no scratch file behind;
        // after `finish` the name is empty and Staged owns the file.
        if !self.name.is_empty() {
            let _ = self.dir.remove_file(&self.name);
        }
        // Its unfinished frame is discarded when the context is next taken.
        if let Some(cctx) = self.cctx.take() {
            give_back_cctx(cctx);
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
        match &mut self.pending {
            Some(held) if held.len() + buf.len() <= ONE_PASS_UP_TO => held.extend_from_slice(buf),
            _ => {
                self.stream()?;
                self.compress(
                    buf,
                    zstd::zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_continue,
                )?;
            }
        }
        self.hasher.update(buf);
        let mut after_head = buf;
        if self.head.len() < HEAD_KEEP {
            let take = buf.len().min(HEAD_KEEP - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
            after_head = &buf[take..];
        }
        if let Some(rest) = &mut self.rest {
            if HEAD_KEEP + rest.len() + after_head.len() > KEEP_WHOLE_UP_TO {
                self.rest = None;
            } else {
                rest.extend_from_slice(after_head);
            }
        }
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A document still held whole has no frame yet; it is compressed when it ends.
        if self.cctx.is_none() || self.pending.is_some() {
            return Ok(());
        }
        // The compressed bytes so far go into the file's buffer; `finish` writes the buffer out
        // with the rest, so a scratch file costs one write, not one more per flush.
        self.compress(
            &[],
            zstd::zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_flush,
        )
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
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
    hasher: sha2::Sha256,
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
    pub hasher: sha2::Sha256,
    pub count: u64,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: sha2::Sha256::new(),
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
    let len = file.metadata().map_err(io_err)?.len();
    if len <= READ_WHOLE_UP_TO {
        // One read instead of three seeks and three reads: most blobs are a few KiB, and audit
        // reads every one of them. The checks below then seek in memory.
        let mut whole = Vec::with_capacity(len as usize);
        file.read_to_end(&mut whole).map_err(io_err)?;
        let len = whole.len() as u64;
        return check_blob(io::Cursor::new(whole), len, path, out);
    }
    check_blob(file, len, path, out)
}

/// The checks of a blob of `len` bytes, in order: trailer, stored bytes against the trailer's
/// hash and the frame layout, then the decoded content's SHA-256.
pub(crate) fn check_blob<R: Read + Seek + Send>(
    mut file: R,
    len: u64,
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
    let buffer = (256 * 1024).min(len as usize).max(1);
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
    // First the stored bytes against the trailer and the frame layout, in one pass over the
    // compressed file: a blob that is altered, or laid out as exhibit never writes one, is
    // refused before any decompression, so a tampered "bomb" costs nothing.
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut hashing = HashingReader {
        inner: BufReader::with_capacity(buffer, (&mut file).take(body_len)),
        hasher: sha2::Sha256::new(),
    };
    let layout = check_layout(&mut hashing).map_err(io_err)?;
    // The rest (all of it when the layout is wrong) is hashed too, so damage is reported as
    // damage and only an intact blob is judged by its layout.
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err)?;
    let frame_hash: [u8; 32] = hashing.hasher.finalize().into();
    if frame_hash[..] != trailer[16..] {
        return Err(BlobError::Altered {
            path: path.to_path_buf(),
        });
    }
    if let Err(why) = layout {
        return Err(malformed(&why));
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    // A fresh decompression context costs more than decoding a typical page (ZSTD_createDCtx
    // was 7% of an audit's CPU), so each thread keeps one; `with_context` resets it.
    let mut dctx = DCTX
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(zstd::zstd_safe::DCtx::create);
    let (decoded, sha256, size) = {
        let mut decoder = zstd::stream::read::Decoder::with_context(
            BufReader::with_capacity(buffer, file.take(body_len)),
            &mut dctx,
        );
        if body_len >= PIPELINE_FROM {
            decode_pipelined(&mut decoder, out)
        } else {
            let mut sink = DigestWriter::new(out);
            let r = copy_distinguishing(&mut decoder, &mut sink);
            (r, sink.hasher.finalize().into(), sink.count)
        }
    };
    DCTX.with(|c| *c.borrow_mut() = Some(dctx));
    match decoded {
        Ok(()) => {}
        Err(Copy::Read(e)) => return Err(malformed(&format!("zstd: {e}"))),
        Err(Copy::Write(e)) => return Err(BlobError::Output(e)),
    }
    Ok(DocumentCheck {
        sha256: Sha256::from_bytes(sha256),
        size,
    })
}

/// Blobs up to this size are read into memory at once and checked from there.
const READ_WHOLE_UP_TO: u64 = 1 << 20;

thread_local! {
    static DCTX: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd frame magic 0xFD2FB528, little endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Check that the bytes before the trailer are exactly what exhibit's writer produces
/// (FORMAT.md 4.2): one zstd frame whose header is `04 WD` (content checksum, a window
/// descriptor, no dictionary, no content size) or `24 00` (content checksum, single segment,
/// content size 0: the empty document), its blocks, its 4-byte checksum, and nothing after it.
/// The trailer checksum is unkeyed, so anyone who can write the archive could otherwise hide
/// extra bytes in a blob (a skippable frame, a second frame, data after the frame) that audit
/// would call intact. The decoder checks the blocks' content and the checksum later.
///
/// Returns `Ok(Err(why))` for a layout exhibit never writes, `Err` for a failed read; a blob
/// that ends inside the frame is a layout error too.
fn check_layout(r: &mut impl Read) -> io::Result<Result<(), String>> {
    let layout = |why: String| Ok(Err(why));
    let mut head = [0u8; 6];
    match read_full(r, &mut head[..4])? {
        4 => {}
        _ => return layout("the zstd frame is truncated".into()),
    }
    if head[..4] != ZSTD_MAGIC {
        return layout(if is_skippable(&head[..4]) {
            "a skippable frame before the zstd frame".into()
        } else {
            "it does not start with a zstd frame".into()
        });
    }
    if read_full(r, &mut head[4..6])? != 2 {
        return layout("the zstd frame is truncated".into());
    }
    match (head[4], head[5]) {
        (0x04, _) | (0x24, 0x00) => {}
        (fhd, _) => {
            let why = if fhd & 0x03 != 0 {
                "its zstd frame names a dictionary".to_string()
            } else if fhd & 0x04 == 0 {
                "its zstd frame has no content checksum".to_string()
            } else {
                format!("its zstd frame header (descriptor 0x{fhd:02x}) is not one exhibit writes")
            };
            return layout(why);
        }
    }
    loop {
        let mut block = [0u8; 3];
        if read_full(r, &mut block)? != 3 {
            return layout("the zstd frame is truncated".into());
        }
        let header = u32::from_le_bytes([block[0], block[1], block[2], 0]);
        let last = header & 1 == 1;
        let size = match (header >> 1) & 3 {
            0 | 2 => u64::from(header >> 3), // raw or compressed: that many bytes follow
            1 => 1,                          // RLE: one byte, repeated
            _ => return layout("its zstd frame has a block of the reserved type".into()),
        };
        if io::copy(&mut r.take(size), &mut io::sink())? != size {
            return layout("the zstd frame is truncated".into());
        }
        if last {
            break;
        }
    }
    let mut checksum = [0u8; 4];
    if read_full(r, &mut checksum)? != 4 {
        return layout("the zstd frame is truncated".into());
    }
    let mut after = [0u8; 4];
    match read_full(r, &mut after)? {
        0 => Ok(Ok(())),
        4 if after == ZSTD_MAGIC => layout("a second zstd frame after the first".into()),
        4 if is_skippable(&after) => layout("a skippable frame besides the exhibit trailer".into()),
        _ => layout("bytes after the zstd frame".into()),
    }
}

/// zstd skippable-frame magic: 0x184D2A50 to 0x184D2A5F, little endian.
fn is_skippable(magic: &[u8]) -> bool {
    magic.len() == 4 && magic[0] & 0xF0 == 0x50 && magic[1..] == [0x2A, 0x4D, 0x18]
}

/// Read until `buf` is full or the input ends; the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
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
            let mut h = sha2::Sha256::new();
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

thread_local! {
    /// `copy_distinguishing`'s buffer. A fresh one per document was 2% of an audit's CPU in
    /// zeroing alone, and at 128 KiB it is glibc's mmap threshold: a map, a page fault per page
    /// and an unmap for every page of an archive.
    static COPY_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// io::copy, but telling a bad input from a failed output (a closed pipe is not a damaged blob).
fn copy_distinguishing(r: &mut dyn Read, w: &mut dyn Write) -> Result<(), Copy> {
    const LEN: usize = 128 * 1024;
    COPY_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.resize(LEN, 0);
            copy_through(r, w, &mut buf)
        }
        // A writer that itself copies a blob, on this thread: it gets a buffer of its own.
        Err(_) => copy_through(r, w, &mut vec![0u8; LEN]),
    })
}

fn copy_through(r: &mut dyn Read, w: &mut dyn Write, buf: &mut [u8]) -> Result<(), Copy> {
    loop {
        let n = match r.read(buf) {
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

    /// A small blob is staged in memory and a large one in a file; either way the bytes are
    /// one blob of the documented layout, and a memory blob written out is the same bytes.
    #[test]
    fn small_blobs_stay_in_memory_and_are_the_same_blob() {
        let dir = tempfile::tempdir().unwrap();
        let small = noise(10_000);
        let mut staged = stage(dir.path(), &small);
        assert!(!staged.in_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut held = Vec::new();
        staged.open().unwrap().read_to_end(&mut held).unwrap();
        assert_eq!(held.len() as u64, staged.stored_size);
        let mut out = Vec::new();
        assert_eq!(staged.read(&mut out).unwrap().size, small.len() as u64);
        assert_eq!(out, small);
        let path = staged.path();
        assert!(staged.in_file());
        assert_eq!(std::fs::read(&path).unwrap(), held);
        assert_eq!(
            read_blob(&path, &mut io::sink()).unwrap().sha256,
            staged.sha256
        );
        drop(staged);
        assert!(!path.exists(), "the written-out copy is scratch too");

        // Incompressible: over the bound after the first block, so it streams to a file.
        let large = noise(200_000);
        let staged = stage(dir.path(), &large);
        assert!(staged.in_file());
        let mut out = Vec::new();
        staged.read(&mut out).unwrap();
        assert_eq!(out, large);
    }

    /// A claimed size (a server's Content-Length, which may lie) reserves no more than the
    /// writer would hold for a document of that size and of at most its limit, and changes
    /// nothing in what is stored.
    #[test]
    fn a_claimed_size_reserves_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Dir::open(dir.path()).unwrap());
        let doc = noise(70_000);
        for (limit, claimed) in [
            (u64::MAX, u64::MAX),
            (100_000, u64::MAX),
            (u64::MAX, 10),
            (u64::MAX, 70_000),
        ] {
            let mut w = DocumentWriter::create(&d, limit).unwrap();
            w.keep_whole();
            w.expect(claimed);
            let reserved = w.pending.as_ref().map_or(0, Vec::capacity)
                + w.head.capacity()
                + w.rest.as_ref().map_or(0, Vec::capacity);
            let bound = ONE_PASS_UP_TO + KEEP_WHOLE_UP_TO;
            assert!(reserved <= bound, "{limit} {claimed}: {reserved}");
            assert!(
                reserved as u64 <= limit.min(claimed).saturating_mul(2),
                "{limit} {claimed}: {reserved}"
            );
            w.write_all(&doc).unwrap();
            let mut staged = w.finish().unwrap();
            assert_eq!(staged.take_whole().unwrap(), doc);
            let mut out = Vec::new();
            staged.read(&mut out).unwrap();
            assert_eq!(out, doc);
        }
    }

    /// Keeping a document whole for its fingerprint does not change what `head` is (the first
    /// 64 KiB, where the HTML title is looked for), and gives the whole back exactly once.
    #[test]
    fn a_document_kept_whole_has_the_same_head() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Dir::open(dir.path()).unwrap());
        let doc = noise(200_000);
        let mut w = DocumentWriter::create(&d, u64::MAX).unwrap();
        w.keep_whole();
        for chunk in doc.chunks(7_000) {
            w.write_all(chunk).unwrap();
        }
        let mut staged = w.finish().unwrap();
        assert_eq!(staged.head, doc[..HEAD_KEEP]);
        assert_eq!(staged.take_whole().unwrap(), doc);
        assert!(staged.take_whole().is_none());

        // Over the bound, or not asked for: nothing but the head.
        let big = noise(KEEP_WHOLE_UP_TO + 1);
        let mut w = DocumentWriter::create(&d, u64::MAX).unwrap();
        w.keep_whole();
        w.write_all(&big).unwrap();
        let mut staged = w.finish().unwrap();
        assert_eq!(staged.head, big[..HEAD_KEEP]);
        assert!(staged.take_whole().is_none());
        let mut staged = stage(dir.path(), &doc);
        assert!(staged.take_whole().is_none());
    }

    #[test]
    fn large_and_small_blobs_round_trip_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 1000, (PIPELINE_FROM as usize) * 2 + 12345] {
            let doc = noise(len);
            let mut staged = stage(dir.path(), &doc);
            assert_eq!(
                staged.stored_size >= PIPELINE_FROM,
                len > PIPELINE_FROM as usize
            );
            let mut out = Vec::new();
            let check = read_blob(&staged.path(), &mut out).unwrap();
            assert_eq!(out, doc);
            assert_eq!(check.size, len as u64);
            assert_eq!(check.sha256, hex::encode(sha2::Sha256::digest(&doc)));
            assert_eq!(check.sha256, staged.sha256);
        }
    }

    /// A blob file whose trailer is recomputed over `body`: what someone who can write the
    /// archive, but holds no key, can make.
    fn retrailed(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let mut file = body.to_vec();
        file.extend_from_slice(&TRAILER_MAGIC);
        file.extend_from_slice(&40u32.to_le_bytes());
        file.extend_from_slice(TRAILER_TAG);
        file.extend_from_slice(&sha2::Sha256::digest(body));
        let path = dir.join(name);
        std::fs::write(&path, file).unwrap();
        path
    }

    fn body_of(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        bytes[..bytes.len() - TRAILER_LEN as usize].to_vec()
    }

    #[test]
    fn reused_compression_contexts_start_every_document_afresh() {
        // Writers share pooled contexts: one abandoned mid-frame (a failed fetch) or finished
        // must leave nothing in the next document's frame. A document held whole gets a window
        // sized to it (50,000 bytes: 64 KiB, `04 30`), a streamed one the 2 MiB zstd gives
        // level 5 for unknown sizes (`04 58`), whatever the context did before.
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Dir::open(dir.path()).unwrap());
        for round in 0..4u8 {
            for (len, header) in [(50_000u32, [0x04, 0x30]), (300_000, [0x04, 0x58])] {
                let mut abandoned = DocumentWriter::create(&d, u64::MAX).unwrap();
                abandoned.write_all(&noise(ONE_PASS_UP_TO + 1)).unwrap();
                drop(abandoned);
                let doc: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ round).collect();
                let mut staged = stage(dir.path(), &doc);
                let bytes = std::fs::read(staged.path()).unwrap();
                assert_eq!(bytes[4..6], header, "round {round}, {len} bytes");
                let mut back = Vec::new();
                let check = read_blob(&staged.path(), &mut back).unwrap();
                assert_eq!(back, doc, "round {round}");
                assert_eq!(check.sha256, staged.sha256);
            }
        }
    }

    #[test]
    fn documents_at_the_one_pass_bound_read_back_whatever_their_chunks() {
        // Up to ONE_PASS_UP_TO bytes a document is compressed in one pass (a window sized to
        // it: 256 KiB is `04 40`); one byte more and it streams (`04 58`), the held bytes first,
        // wherever the write that crossed the bound cut.
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Dir::open(dir.path()).unwrap());
        for len in [ONE_PASS_UP_TO - 1, ONE_PASS_UP_TO, ONE_PASS_UP_TO + 1] {
            let doc: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            for chunk in [1_000, 65_536, ONE_PASS_UP_TO - 1, len] {
                let mut w = DocumentWriter::create(&d, u64::MAX).unwrap();
                for part in doc.chunks(chunk) {
                    w.write_all(part).unwrap();
                    w.flush().unwrap();
                }
                let mut staged = w.finish().unwrap();
                let bytes = std::fs::read(staged.path()).unwrap();
                let streamed = len > ONE_PASS_UP_TO;
                let header = if streamed { [0x04, 0x58] } else { [0x04, 0x40] };
                assert_eq!(bytes[4..6], header, "{len} bytes in chunks of {chunk}");
                let mut back = Vec::new();
                let check = read_blob(&staged.path(), &mut back).unwrap();
                assert!(back == doc, "{len} bytes in chunks of {chunk}");
                assert_eq!(check.sha256, staged.sha256);
                assert_eq!(check.size, len as u64);
            }
        }
    }

    #[test]
    fn every_shape_the_writer_produces_reads_back() {
        // The writer's frame header depends on what it was given: an empty document (finished
        // without input, or only flushed) is `24 00`, its size 0 known; any bytes make `04` and
        // a window descriptor, whether held whole or streamed and flushed on the way.
        let dir = tempfile::tempdir().unwrap();
        type Drive = fn(&mut DocumentWriter);
        let shapes: [(&str, Drive, &[u8]); 6] = [
            ("empty, finished", |_| {}, &[0x24, 0x00]),
            // Nothing is compressed before a document ends unless it outgrows ONE_PASS_UP_TO.
            ("empty, flushed", |w| w.flush().unwrap(), &[0x24, 0x00]),
            ("empty write", |w| w.write_all(b"").unwrap(), &[]),
            ("one byte", |w| w.write_all(b"x").unwrap(), &[0x04]),
            (
                "written, flushed, written, flushed",
                |w| {
                    w.write_all(&noise(300_000)).unwrap();
                    w.flush().unwrap();
                    w.write_all(&[b'a'; 200_000]).unwrap();
                    w.flush().unwrap();
                    w.flush().unwrap();
                },
                &[0x04],
            ),
            (
                "many small writes",
                |w| {
                    for i in 0..10_000u32 {
                        w.write_all(&i.to_le_bytes()).unwrap();
                    }
                },
                &[0x04],
            ),
        ];
        for (what, drive, header) in shapes {
            let d = Arc::new(Dir::open(dir.path()).unwrap());
            let mut w = DocumentWriter::create(&d, u64::MAX).unwrap();
            drive(&mut w);
            let mut staged = w.finish().unwrap();
            let bytes = std::fs::read(staged.path()).unwrap();
            assert_eq!(bytes[..4], ZSTD_MAGIC, "{what}");
            assert!(
                bytes[4..].starts_with(header),
                "{what}: {:02x?}",
                &bytes[..8]
            );
            let check = read_blob(&staged.path(), &mut io::sink())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(check.sha256, staged.sha256, "{what}");
        }
    }

    #[test]
    fn layouts_exhibit_never_writes_are_refused_even_with_a_valid_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let doc = b"<html>the cited page</html>".repeat(50);
        let body = body_of(&stage(dir.path(), &doc).path());
        let frame = |checksum: bool, size: bool| {
            let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL).unwrap();
            c.include_checksum(checksum).unwrap();
            c.include_contentsize(size).unwrap();
            c.compress(&doc).unwrap()
        };
        let skippable = |len: u32| {
            let mut f = vec![0x50, 0x2A, 0x4D, 0x18];
            f.extend_from_slice(&len.to_le_bytes());
            f.extend(std::iter::repeat_n(0xAB, len as usize));
            f
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "a skippable frame first",
                [skippable(1 << 20), body.clone()].concat(),
                "a skippable frame before the zstd frame",
            ),
            (
                "a skippable frame after",
                [body.clone(), skippable(1 << 20)].concat(),
                "a skippable frame besides the exhibit trailer",
            ),
            (
                "two frames",
                [body.clone(), body.clone()].concat(),
                "a second zstd frame",
            ),
            (
                "trailing bytes",
                [&body[..], b"smuggled"].concat(),
                "bytes after the zstd frame",
            ),
            (
                "one trailing byte",
                [&body[..], b"!"].concat(),
                "bytes after the zstd frame",
            ),
            ("truncated", body[..body.len() - 1].to_vec(), "truncated"),
            (
                "content size in the header",
                frame(true, true),
                "not one exhibit writes",
            ),
            ("no checksum", frame(false, false), "no content checksum"),
            (
                "not zstd",
                b"plain bytes, not compressed at all".to_vec(),
                "does not start with a zstd frame",
            ),
        ];
        for (what, bad, says) in cases {
            let path = retrailed(dir.path(), "bad.zst", &bad);
            match read_blob(&path, &mut io::sink()) {
                Err(BlobError::Malformed { why, .. }) => {
                    assert!(why.contains(says), "{what}: {why}")
                }
                other => panic!("{what}: {other:?}"),
            }
        }
        // A dictionary ID in the header, hand-set: descriptor 0x05 and a 1-byte ID.
        let mut with_dict = body.clone();
        with_dict[4] = 0x05;
        with_dict.insert(6, 0x00);
        let path = retrailed(dir.path(), "dict.zst", &with_dict);
        match read_blob(&path, &mut io::sink()) {
            Err(BlobError::Malformed { why, .. }) => assert!(why.contains("dictionary"), "{why}"),
            other => panic!("dictionary ID: {other:?}"),
        }
        // The genuine body with a recomputed trailer is of course fine.
        let path = retrailed(dir.path(), "good.zst", &body);
        assert!(read_blob(&path, &mut io::sink()).is_ok());
    }

    #[test]
    fn damage_is_reported_as_altered_not_as_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = stage(dir.path(), b"some document");
        let mut bytes = std::fs::read(staged.path()).unwrap();
        bytes.insert(bytes.len() - TRAILER_LEN as usize, 0);
        std::fs::write(staged.path(), bytes).unwrap();
        assert!(matches!(
            read_blob(&staged.path(), &mut io::sink()),
            Err(BlobError::Altered { .. })
        ));
    }

    #[test]
    fn any_altered_byte_of_a_large_blob_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = stage(dir.path(), &noise(PIPELINE_FROM as usize + 1));
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
