//! Copying an archive between backends (`exhibit mirror SRC DST`): local directory or
//! S3-compatible object storage at either end, through the [`Backend`] trait for both.
//!
//! What is copied is exactly the archive's content (archive/objects.rs): never the lock, the
//! scratch space or file-manager clutter.
//!
//! The destination is never left naming what it does not hold. Its checkpoint (the commit point
//! of an archive) is written last, after every other object was written, read back and found to
//! have the source's SHA-256, and after a durability barrier. An interrupted mirror therefore
//! leaves the destination with no checkpoint or with its old one; the log files may then be
//! longer than that checkpoint, which is exactly what an interrupted commit leaves (a tail that
//! audit warns about and the next writer rolls back).
//!
//! A local source is read under its writers' lock, for the whole copy. The alternative, copying
//! log files only up to the length the checkpoint commits, would still copy the records and
//! documents of a commit in progress (they are placed before its checkpoint), which audit of the
//! copy would then call extra files; under the lock the copy is the source as of one instant,
//! byte for byte, and audits exactly as the source does. Writers wait meanwhile (a mirror is a
//! backup, not a hot path). An S3 source is read through a fresh local copy of everything its
//! checkpoint names (archive/remote.rs): writers may go on meanwhile, the copy is of the
//! checkpoint read first.
//!
//! Resuming is comparing: an object the destination already holds with the source's size and
//! SHA-256 (read back and hashed; an S3 ETag is not a SHA-256, and sizes alone would keep a
//! damaged copy) is skipped; anything else is written again.
//!
//! Objects go one at a time, small ones through memory and large ones (documents can be
//! gigabytes) through a temporary file in ranges, so memory stays bounded whatever the archive.

use crate::archive::backend::{Backend, LocalBackend, PutMode};
use crate::archive::local::{self, Local};
use crate::archive::location::Location;
use crate::archive::objects::{self, ObjectKind};
use crate::archive::remote::{self, Remote, Segment};
use crate::archive::s3::S3Backend;
use crate::archive::{dir::Dir, store, CONFIG_FILE};
use crate::error::{Error, Kind};
use crate::log::merkle::{self, Hash, HASH_SIZE};
use crate::note::{self, Checkpoint};
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, Write};

/// What a mirror did.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub source: String,
    pub destination: String,
    /// The source's archive objects, every one of which the destination now holds.
    pub objects: u64,
    /// Written to the destination (missing there, or different).
    pub copied: u64,
    /// Already in the destination with the same SHA-256.
    pub skipped: u64,
    pub bytes_copied: u64,
    /// The tree size of the checkpoint the destination has now.
    pub tree_size: u64,
    /// The destination's tree size before, if it had a checkpoint.
    pub previous_tree_size: Option<u64>,
}

/// How far a mirror is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The number of objects to go through.
    Listed(u64),
    /// One more object is in place (copied or found there already).
    Object,
}

/// Why a mirror stopped. Nothing after the object it names was written, and in particular not
/// the destination's checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("no exhibit archive at {0} (no {CONFIG_FILE})")]
    NoSource(String),
    #[error("the source {0} has no log/checkpoint, so which records are committed is unknown")]
    NoSourceCheckpoint(String),
    #[error("the source's {name} is damaged: {why}")]
    SourceLog { name: String, why: String },
    #[error("source object {name} does not match its name: {why}")]
    BadSourceObject { name: String, why: String },
    #[error("source object {name} disappeared while it was being copied")]
    SourceChanged { name: String },
    #[error("{destination} holds {name}, which is not part of an exhibit archive")]
    Foreign { destination: String, name: String },
    #[error("{destination} holds a different archive ({what} differs from the source's)")]
    DifferentArchive { destination: String, what: String },
    #[error(
        "{destination} has a checkpoint of tree size {destination_size}, larger than the source's {source_size}: mirroring would roll it back"
    )]
    DestinationAhead {
        destination: String,
        destination_size: u64,
        source_size: u64,
    },
    #[error(
        "{destination} has a checkpoint of tree size {size} whose root hash is not the source's tree of that size: the two logs have diverged"
    )]
    Diverged { destination: String, size: u64 },
    #[error(
        "{name} in {destination} reads back with SHA-256 {actual} after writing, not the source's {expected}"
    )]
    CopyMismatch {
        destination: String,
        name: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Storage(#[from] Error),
}

impl From<MirrorError> for Error {
    fn from(e: MirrorError) -> Error {
        let (kind, hint) = match &e {
            MirrorError::Storage(_) => match e {
                MirrorError::Storage(inner) => return inner,
                _ => unreachable!("matched above"),
            },
            MirrorError::NoSource(_) => (
                Kind::Archive,
                "name the archive's directory or s3://BUCKET/PREFIX as SRC",
            ),
            MirrorError::NoSourceCheckpoint(_) | MirrorError::SourceLog { .. } => (
                Kind::Verification,
                "run `exhibit audit` on the source and restore it from a backup; nothing was written",
            ),
            MirrorError::BadSourceObject { .. } => (
                Kind::Verification,
                "run `exhibit audit` on the source and restore that object from a backup; the destination got no checkpoint",
            ),
            MirrorError::SourceChanged { .. } => (
                Kind::Archive,
                "something else is changing the source; run the mirror again when it is done",
            ),
            MirrorError::Foreign { .. } => (
                Kind::Usage,
                "mirror into an empty directory or prefix, or into a copy of this archive",
            ),
            MirrorError::DifferentArchive { .. } | MirrorError::Diverged { .. } => (
                Kind::Usage,
                "mirror into an empty directory or prefix; the destination was left as it was",
            ),
            MirrorError::DestinationAhead { .. } => (
                Kind::Usage,
                "the destination is newer: mirror in the other direction, or choose an empty destination; nothing was written",
            ),
            MirrorError::CopyMismatch { .. } => (
                Kind::Archive,
                "the destination did not keep what was written; check the storage and run the mirror again (it resumes)",
            ),
        };
        Error::new(kind, e.to_string()).hint(hint)
    }
}

/// One end of a mirror: its backend, and for a local archive the writers' lock, held until the
/// mirror is done.
struct End {
    backend: Box<dyn Backend>,
    _lock: Option<File>,
    /// An s3:// source is read into a fresh local copy first (its log is segments).
    _copy: Option<crate::core::interrupt::Tracked<tempfile::TempDir>>,
}

fn open_source(loc: &Location) -> Result<End, MirrorError> {
    match loc {
        Location::Local(path) => {
            if !crate::archive::Archive::exists(path) {
                return Err(MirrorError::NoSource(path.display().to_string()));
            }
            let lock = Local::open(path)?.lock()?;
            Ok(End {
                backend: Box::new(LocalBackend::open(path)?),
                _lock: Some(lock),
                _copy: None,
            })
        }
        Location::S3(s3) => {
            let backend = S3Backend::from_env(s3)?;
            if backend.head(CONFIG_FILE)?.is_none() {
                return Err(MirrorError::NoSource(s3.to_string()));
            }
            // Every object the checkpoint names, each checked against its name, and the log
            // read back from its segments; then copied on from that local copy.
            // In the cache directory, not the system's temporary one (often memory): the copy
            // is the whole archive.
            let cache = crate::archive::remote::cache_root();
            crate::fsutil::create_dir_all(&cache)?;
            let temp =
                crate::core::interrupt::temp_dir_in(&cache, "mirror-").map_err(temp_error)?;
            let path = temp.path().join("archive");
            let remote =
                Remote::with_replica(s3.clone(), std::sync::Arc::new(backend), path.clone());
            remote.pull_into_replica(4)?;
            Ok(End {
                backend: Box::new(LocalBackend::open(&path)?),
                _lock: None,
                _copy: Some(temp),
            })
        }
    }
}

fn open_destination(loc: &Location) -> Result<End, MirrorError> {
    match loc {
        Location::Local(path) => {
            crate::fsutil::create_dir_all(path)?;
            let backend = LocalBackend::open(path)?;
            // A directory that is not (a part-copy of) an archive is refused before the layout
            // is made in it.
            check_no_foreign(&backend)?;
            let root = Dir::open(path).map_err(|e| local::io_error("open", path, e))?;
            local::make_layout(&root)?;
            let lock = Local::from_dir(root).lock()?;
            // Under the lock no write is in progress: what an interrupted mirror was writing
            // is debris (audit would call it unexpected), and this run writes it again.
            backend.remove_abandoned_writes()?;
            Ok(End {
                backend: Box::new(backend),
                _lock: Some(lock),
                _copy: None,
            })
        }
        Location::S3(s3) => Ok(End {
            backend: Box::new(S3Backend::from_env(s3)?),
            _lock: None,
            _copy: None,
        }),
    }
}

fn check_no_foreign(dst: &dyn Backend) -> Result<(), MirrorError> {
    for m in dst.list("")? {
        if objects::classify(&m.name).is_none() && !objects::is_working_file(&m.name) {
            return Err(MirrorError::Foreign {
                destination: dst.describe(),
                name: m.name,
            });
        }
    }
    Ok(())
}

/// Copy the archive at `src` to `dst`; see the module comment for the guarantees.
pub fn mirror(
    src: &Location,
    dst: &Location,
    progress: &mut dyn FnMut(Progress),
) -> Result<MirrorReport, MirrorError> {
    if same_place(src, dst) {
        return Err(MirrorError::Storage(
            Error::usage(format!("SRC and DST are the same archive ({src})"))
                .hint("name another directory or prefix as DST"),
        ));
    }
    let source = open_source(src)?;
    // The source is judged before the destination is touched (a local one is created).
    let state = read_source(&*source.backend)?;
    let destination = open_destination(dst)?;
    copy(&*source.backend, &state, &*destination.backend, progress)
}

fn same_place(a: &Location, b: &Location) -> bool {
    match (a, b) {
        (Location::Local(a), Location::Local(b)) => {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
        }
        (Location::S3(a), Location::S3(b)) => a == b,
        _ => false,
    }
}

fn parse_checkpoint(bytes: &[u8]) -> Result<Checkpoint, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    note::parse_note(text)
        .and_then(|n| Checkpoint::parse(&n.text))
        .map_err(|e| e.to_string())
}

/// The root of the tree of `size` leaves from the bytes of `log/hashes`.
fn root_at(hashes: &[u8], size: u64) -> Result<Hash, String> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    let count = merkle::stored_hash_count(size) as usize;
    if hashes.len() < count * HASH_SIZE {
        return Err(format!(
            "{} bytes, fewer than the {} the tree of {size} leaves needs",
            hashes.len(),
            count * HASH_SIZE
        ));
    }
    let stored: Vec<Hash> = hashes[..count * HASH_SIZE]
        .chunks_exact(HASH_SIZE)
        .map(|c| c.try_into().expect("chunk of HASH_SIZE"))
        .collect();
    merkle::tree_hash(size, &stored).map_err(|e| e.to_string())
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Objects larger than this are copied through a temporary file in ranges of [`CHUNK`], not
/// held in memory (a document may be gigabytes).
const IN_MEMORY: u64 = 16 * 1024 * 1024;
const CHUNK: u64 = 8 * 1024 * 1024;

/// An object's bytes on their way from the source to the destination.
enum Staged {
    Memory(Vec<u8>),
    File(
        crate::core::interrupt::Tracked<tempfile::NamedTempFile>,
        u64,
    ),
}

impl Staged {
    fn len(&self) -> u64 {
        match self {
            Staged::Memory(b) => b.len() as u64,
            Staged::File(_, len) => *len,
        }
    }
}

fn temp_error(e: std::io::Error) -> MirrorError {
    MirrorError::Storage(Error::io(
        "write a temporary file in",
        &std::env::temp_dir(),
        e,
    ))
}

/// The SHA-256 of `size` bytes of an object read in ranges, each also written to `out`; `None`
/// if the object ends early or is gone.
fn hash_ranges(
    b: &dyn Backend,
    name: &str,
    size: u64,
    mut out: Option<&mut File>,
) -> Result<Option<String>, MirrorError> {
    let mut h = sha2::Sha256::new();
    let mut at = 0;
    while at < size {
        let chunk = b.get_range(name, at, CHUNK.min(size - at))?;
        if chunk.is_empty() {
            return Ok(None);
        }
        h.update(&chunk);
        if let Some(f) = out.as_mut() {
            f.write_all(&chunk).map_err(temp_error)?;
        }
        at += chunk.len() as u64;
    }
    Ok(Some(hex::encode(h.finalize())))
}

/// The SHA-256 of the destination's object if it has exactly `len` bytes.
fn destination_hash(
    dst: &dyn Backend,
    name: &str,
    len: u64,
) -> Result<Option<String>, MirrorError> {
    if len <= IN_MEMORY {
        return Ok(dst
            .get(name)?
            .filter(|(b, _)| b.len() as u64 == len)
            .map(|(b, _)| sha_hex(&b)));
    }
    if dst.head(name)?.map(|m| m.size) != Some(len) {
        return Ok(None);
    }
    hash_ranges(dst, name, len, None)
}

/// A document blob must decompress to the SHA-256 its name says. The blob reader wants a file
/// (it seeks to the trailer first).
fn check_document(name: &str, file: File) -> Result<(), MirrorError> {
    let bad = |why: String| MirrorError::BadSourceObject {
        name: name.to_string(),
        why,
    };
    let expected = objects::document_sha256(name).ok_or_else(|| bad("not a document".into()))?;
    let check = store::read_blob_file(file, std::path::Path::new(name), &mut std::io::sink())
        .map_err(|e| match e {
            store::BlobError::Io { .. } | store::BlobError::Output(_) => {
                MirrorError::Storage(e.into())
            }
            // The blob reader's messages start with the path, which is the name here.
            other => {
                let text = other.to_string();
                let prefix = format!("{name}: ");
                bad(text.strip_prefix(&prefix).unwrap_or(&text).to_string())
            }
        })?;
    if check.sha256 != expected {
        return Err(bad(format!(
            "decompressed content has SHA-256 {}",
            check.sha256
        )));
    }
    Ok(())
}

fn check_staged_document(name: &str, staged: &Staged) -> Result<(), MirrorError> {
    let file = match staged {
        Staged::Memory(bytes) => {
            let mut f = tempfile::tempfile().map_err(temp_error)?;
            f.write_all(bytes).map_err(temp_error)?;
            f.rewind().map_err(temp_error)?;
            f
        }
        Staged::File(t, _) => t.reopen().map_err(temp_error)?,
    };
    check_document(name, file)
}

/// [`mirror`] between two open backends.
pub fn mirror_between(
    src: &dyn Backend,
    dst: &dyn Backend,
    progress: &mut dyn FnMut(Progress),
) -> Result<MirrorReport, MirrorError> {
    let state = read_source(src)?;
    copy(src, &state, dst, progress)
}

/// The source's checkpoint and the stored hashes it commits to.
struct SourceState {
    checkpoint_bytes: Vec<u8>,
    checkpoint: Checkpoint,
    hashes: Vec<u8>,
}

/// The source's checkpoint and stored hashes, checked against each other before anything is
/// written: a copy of a log that does not hash to its checkpoint would only move the damage.
fn read_source(src: &dyn Backend) -> Result<SourceState, MirrorError> {
    let checkpoint_name = objects::checkpoint_name();
    let hashes_name = "log/hashes";
    let (checkpoint_bytes, _) = src
        .get(&checkpoint_name)?
        .ok_or_else(|| MirrorError::NoSourceCheckpoint(src.describe()))?;
    let checkpoint = parse_checkpoint(&checkpoint_bytes).map_err(|why| MirrorError::SourceLog {
        name: checkpoint_name.clone(),
        why,
    })?;
    let hashes = src.get(hashes_name)?.map(|(b, _)| b).unwrap_or_default();
    let root = root_at(&hashes, checkpoint.size).map_err(|why| MirrorError::SourceLog {
        name: hashes_name.into(),
        why,
    })?;
    if root != checkpoint.root {
        return Err(MirrorError::SourceLog {
            name: hashes_name.into(),
            why: format!(
                "its tree of {} leaves does not hash to the checkpoint's root",
                checkpoint.size
            ),
        });
    }
    Ok(SourceState {
        checkpoint_bytes,
        checkpoint,
        hashes,
    })
}

/// On object storage the log is one segment per step (archive/remote.rs): the source's log
/// from the destination's tree size on, cut from the source's log files.
fn put_segment(
    src: &dyn Backend,
    state: &SourceState,
    dst: &dyn Backend,
    from: u64,
) -> Result<(), MirrorError> {
    let to = state.checkpoint.size;
    if to <= from {
        return Ok(());
    }
    let read = |f: &str| -> Result<Vec<u8>, MirrorError> {
        Ok(src
            .get(&format!("log/{f}"))?
            .map(|(b, _)| b)
            .unwrap_or_default())
    };
    let from_root = root_at(&state.hashes, from).map_err(|why| MirrorError::SourceLog {
        name: "log/hashes".into(),
        why,
    })?;
    let seg = Segment::cut(
        (from, from_root),
        (to, state.checkpoint.root),
        &read("leaves")?,
        &state.hashes,
        &read("places")?,
        &read("keys")?,
    );
    let bytes = seg.to_bytes();
    Segment::parse(&bytes).map_err(|why| MirrorError::SourceLog {
        name: "log/leaves".into(),
        why: format!("the log does not make a segment: {why}"),
    })?;
    let name = seg.name();
    if let crate::archive::backend::PutOutcome::Exists = dst.put(&name, &bytes, PutMode::Create)? {
        if dst.get(&name)?.map(|(b, _)| b).as_deref() != Some(&bytes[..]) {
            return Err(MirrorError::CopyMismatch {
                destination: dst.describe(),
                name,
                expected: sha_hex(&bytes),
                actual: "another segment's".into(),
            });
        }
    }
    Ok(())
}

fn copy(
    src: &dyn Backend,
    state: &SourceState,
    dst: &dyn Backend,
    progress: &mut dyn FnMut(Progress),
) -> Result<MirrorReport, MirrorError> {
    let checkpoint_name = objects::checkpoint_name();
    let (src_cp_bytes, src_cp, src_hashes) =
        (&state.checkpoint_bytes, &state.checkpoint, &state.hashes);
    let existing: HashMap<String, u64> = dst
        .list("")?
        .into_iter()
        .map(|m| (m.name, m.size))
        .collect();
    let store = dst.is_object_store();
    // On object storage the log is segments, and writers take the lease.
    let store_only =
        |name: &str| store && (name.starts_with(remote::SEGMENT_PREFIX) || name == remote::LEASE);
    for name in existing.keys() {
        if objects::classify(name).is_none() && !objects::is_working_file(name) && !store_only(name)
        {
            return Err(MirrorError::Foreign {
                destination: dst.describe(),
                name: name.clone(),
            });
        }
    }
    if existing.contains_key(CONFIG_FILE) {
        let src_config = src.get(CONFIG_FILE)?.map(|(b, _)| b);
        let dst_config = dst.get(CONFIG_FILE)?.map(|(b, _)| b);
        if src_config != dst_config {
            return Err(MirrorError::DifferentArchive {
                destination: dst.describe(),
                what: CONFIG_FILE.into(),
            });
        }
    }
    // A destination checkpoint is replaced only by the source's tree of the same or a larger
    // size that contains it: never rolled back, never swapped for a fork.
    let mut previous_tree_size = None;
    let mut previous = None;
    if let Some((bytes, etag)) = dst.get(&checkpoint_name)? {
        previous = Some((bytes.clone(), etag));
        let destination = dst.describe();
        let old = parse_checkpoint(&bytes).map_err(|why| MirrorError::DifferentArchive {
            destination: destination.clone(),
            what: format!("log/checkpoint ({why})"),
        })?;
        if old.origin != src_cp.origin {
            return Err(MirrorError::DifferentArchive {
                destination,
                what: "the log's origin".into(),
            });
        }
        if old.size > src_cp.size {
            return Err(MirrorError::DestinationAhead {
                destination,
                destination_size: old.size,
                source_size: src_cp.size,
            });
        }
        if root_at(src_hashes, old.size).ok() != Some(old.root) {
            return Err(MirrorError::Diverged {
                destination,
                size: old.size,
            });
        }
        previous_tree_size = Some(old.size);
    }

    let mut names: Vec<(ObjectKind, String, u64)> = src
        .list("")?
        .into_iter()
        .filter_map(|m| objects::classify(&m.name).map(|k| (k, m.name, m.size)))
        .filter(|(k, _, _)| *k != ObjectKind::Checkpoint)
        .filter(|(k, n, _)| !(store && *k == ObjectKind::Log && n != "log/legacy-ids"))
        .collect();
    names.sort();
    // The checkpoint copied is the one read and checked above, whatever a listing says.
    names.push((
        ObjectKind::Checkpoint,
        checkpoint_name.clone(),
        src_cp_bytes.len() as u64,
    ));
    progress(Progress::Listed(names.len() as u64));
    let mut report = MirrorReport {
        source: src.describe(),
        destination: dst.describe(),
        objects: names.len() as u64,
        copied: 0,
        skipped: 0,
        bytes_copied: 0,
        tree_size: src_cp.size,
        previous_tree_size,
    };
    for (kind, name, size) in &names {
        if *kind == ObjectKind::Checkpoint {
            if store {
                put_segment(src, state, dst, previous_tree_size.unwrap_or(0))?;
            }
            // Only after every other object is in place and durable.
            dst.barrier()?;
        }
        if *kind == ObjectKind::Checkpoint && store {
            // Swapped, not overwritten: a writer committing meanwhile must not be undone.
            if previous.as_ref().is_some_and(|(b, _)| b == src_cp_bytes) {
                report.skipped += 1;
                progress(Progress::Object);
                continue;
            }
            let mode = match &previous {
                Some((_, etag)) => PutMode::Update(etag.clone()),
                None => PutMode::Create,
            };
            match dst.put(name, src_cp_bytes, mode)? {
                crate::archive::backend::PutOutcome::Written { .. } => {}
                _ => return Err(MirrorError::Storage(
                    Error::archive(format!(
                        "a writer committed to {} while the mirror ran",
                        dst.describe()
                    ))
                    .hint(
                        "its checkpoint was left as that writer made it; mirror again to compare",
                    ),
                )),
            }
            report.copied += 1;
            report.bytes_copied += src_cp_bytes.len() as u64;
            progress(Progress::Object);
            continue;
        }
        let changed = || MirrorError::SourceChanged { name: name.clone() };
        let (staged, want) = if *kind == ObjectKind::Checkpoint {
            // The checkpoint read (and checked) at the start, not a newer one: the log files
            // copied are the ones it was checked against.
            let sha = sha_hex(src_cp_bytes);
            (Staged::Memory(src_cp_bytes.clone()), sha)
        } else if *size > IN_MEMORY {
            let mut t =
                crate::core::interrupt::temp_file(".exhibit-mirror-").map_err(temp_error)?;
            let sha = hash_ranges(src, name, *size, Some(t.as_file_mut()))?.ok_or_else(changed)?;
            (Staged::File(t, *size), sha)
        } else {
            let bytes = src.get(name)?.ok_or_else(changed)?.0;
            let sha = sha_hex(&bytes);
            (Staged::Memory(bytes), sha)
        };
        if *kind == ObjectKind::Document {
            check_staged_document(name, &staged)?;
        }
        if *kind == ObjectKind::Pack
            && objects::pack_sha256(name).map(|s| s.to_string()) != Some(want.clone())
        {
            return Err(MirrorError::BadSourceObject {
                name: name.clone(),
                why: format!("its bytes have SHA-256 {want}"),
            });
        }
        let len = staged.len();
        let present = existing.get(name) == Some(&len)
            && destination_hash(dst, name, len)?.as_deref() == Some(want.as_str());
        if present {
            report.skipped += 1;
        } else {
            match &staged {
                Staged::Memory(bytes) => dst.put(name, bytes, PutMode::Overwrite)?,
                Staged::File(t, _) => dst.put_file(name, t.path(), PutMode::Overwrite)?,
            };
            let back = destination_hash(dst, name, len)?;
            if back.as_deref() != Some(want.as_str()) {
                return Err(MirrorError::CopyMismatch {
                    destination: dst.describe(),
                    name: name.clone(),
                    expected: want,
                    actual: back.unwrap_or_else(|| "(missing or another size)".into()),
                });
            }
            report.copied += 1;
            report.bytes_copied += len;
        }
        progress(Progress::Object);
    }
    dst.barrier()?;
    Ok(report)
}
