//! The archive as a local directory (layout `exhibit-archive/1`, docs/FORMAT.md section 3).
//!
//! Every object of the archive is reached through this file: it knows the layout, it opens
//! everything relative to directory handles without following links ([`super::dir`]), and it
//! keeps the crash-safety rules of the commit protocol (scratch first, flush, atomic rename).
//! Nothing above it builds a path into the archive.

use super::dir::{self, Dir, EntryKind, Unsafe};
use crate::core::digest::Sha256;
use crate::core::fsutil::read_exact_at;
use crate::error::{Error, IoContext, Kind, Result};
use crate::log::merkle::{Hash, HashReader, ProofError};
use crate::log::{LeafEntry, LEAF_LINE};
use crate::record_id::RecordId;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const CONFIG_FILE: &str = "exhibit.json";
/// The directories of the layout, below the root.
pub const DIRS: [&str; 5] = ["keys", "documents", "records", "log", "tmp"];

/// Files that file managers leave in any folder they show: macOS Finder's `.DS_Store` and
/// AppleDouble `._NAME` companions (written on filesystems without extended attributes, and
/// into zips and copies), Windows Explorer's `Thumbs.db` and `desktop.ini`. exhibit never writes
/// or reads them, so they are clutter, not tampering: audit warns about them and every reader
/// skips them (an AppleDouble `keys/._ID.pem` ends in `.pem` but is not a key).
pub fn is_os_metadata(name: &str) -> bool {
    name.starts_with("._")
        || [".DS_Store", "Thumbs.db", "desktop.ini"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
}

/// Log files, below `log/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    Leaves,
    Hashes,
    Keys,
    Checkpoint,
    /// archive/2: for each leaf, the pack that holds its manifest (one line per leaf).
    Places,
    /// archive/2 made by `exhibit migrate`: the migrated records' IDs, sorted, with their index.
    LegacyIds,
}

impl LogFile {
    pub fn name(self) -> &'static str {
        match self {
            LogFile::Leaves => "leaves",
            LogFile::Hashes => "hashes",
            LogFile::Keys => "keys",
            LogFile::Checkpoint => "checkpoint",
            LogFile::Places => "places",
            LogFile::LegacyIds => "legacy-ids",
        }
    }
}

/// Turn an I/O failure on an archive path into the library's error, with the unsafe-entry
/// cases (links, devices, hard links) named as such.
pub fn io_error(action: &str, path: &Path, e: io::Error) -> Error {
    if let Some(u) = Unsafe::of(&e) {
        return Error::new(Kind::Archive, format!("refusing to {action}: {u}")).hint(
            "someone changed the archive's files; run `exhibit audit`, remove the link or file, and restore what it replaced from a backup",
        );
    }
    Error::io(action, path, e)
}

pub trait Ctx<T> {
    fn at(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn at(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| io_error(action, path, e))
    }
}

pub struct Local {
    root: Dir,
}

/// A writer's private scratch directory `tmp/w<pid>-<random>/`. Its `owner.lock` stays locked
/// for the scratch directory's whole life, which is how the next writer tells an abandoned
/// scratch directory from a busy one; dropping it removes the directory.
pub struct Scratch {
    dir: Arc<Dir>,
    tmp: Dir,
    name: String,
    _lock: File,
}

impl Scratch {
    pub fn dir(&self) -> &Arc<Dir> {
        &self.dir
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.tmp.remove_tree(&self.name);
    }
}

impl Local {
    pub fn open(path: &Path) -> Result<Local> {
        let root = Dir::open(path).at("open", path)?;
        Ok(Local { root })
    }

    pub fn from_dir(root: Dir) -> Local {
        Local { root }
    }

    pub fn root(&self) -> &Dir {
        &self.root
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    fn sub(&self, name: &str) -> Result<Option<Dir>> {
        self.root.sub(name).at("open", &self.root.join(name))
    }

    fn sub_create(&self, name: &str) -> Result<Dir> {
        self.root
            .sub_create(name)
            .at("create directory", &self.root.join(name))
    }

    fn walk(&self, comps: &[&str]) -> Result<Option<Dir>> {
        let shown = comps
            .iter()
            .fold(self.path().to_path_buf(), |p, c| p.join(c));
        self.root.walk(comps).at("open", &shown)
    }

    fn walk_create(&self, comps: &[&str]) -> Result<Dir> {
        let mut d = self.root.try_clone().at("open", self.path())?;
        for c in comps {
            d = d.sub_create(c).at("create directory", &d.join(c))?;
        }
        Ok(d)
    }

    // ----- metadata -------------------------------------------------------------------------

    pub fn read_config(&self) -> Result<Option<Vec<u8>>> {
        self.root
            .read(CONFIG_FILE)
            .at("read", &self.root.join(CONFIG_FILE))
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn write_config(&self, scratch: &Scratch, bytes: &[u8]) -> Result<()> {
        self.root
            .write_atomic(&scratch.dir, CONFIG_FILE, bytes, 0o644)
            .at("write", &self.config_path())
    }

    // ----- keys -----------------------------------------------------------------------------

    /// Every file in `keys/` ending in `.pem`: its name and bytes.
    pub fn key_files(&self) -> Result<Vec<(String, PathBuf, Vec<u8>)>> {
        let Some(keys) = self.sub("keys")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in keys.entries().at("list", keys.path())? {
            let Some(name) = e.name.to_str() else {
                continue;
            };
            if !name.ends_with(".pem") || is_os_metadata(name) {
                continue;
            }
            let path = keys.join(name);
            let bytes = keys.read(name).at("read", &path)?.unwrap_or_default();
            out.push((name.to_string(), path, bytes));
        }
        Ok(out)
    }

    /// One file of `keys/` by its file name.
    pub fn read_key_file(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(keys) = self.sub("keys")? else {
            return Ok(None);
        };
        keys.read(name).at("read", &keys.join(name))
    }

    pub fn key_path(&self, id: &str) -> PathBuf {
        self.root.join("keys").join(format!("{id}.pem"))
    }

    pub fn has_key(&self, id: &str) -> Result<bool> {
        let Some(keys) = self.sub("keys")? else {
            return Ok(false);
        };
        Ok(keys
            .meta(&format!("{id}.pem"))
            .at("inspect", &self.key_path(id))?
            .is_some())
    }

    pub fn write_key(&self, scratch: &Scratch, id: &str, pem: &[u8]) -> Result<()> {
        let keys = self.sub_create("keys")?;
        keys.write_atomic(&scratch.dir, &format!("{id}.pem"), pem, 0o644)
            .at("write", &self.key_path(id))
    }

    // ----- records --------------------------------------------------------------------------

    pub fn record_paths(&self, id: &RecordId) -> (PathBuf, PathBuf) {
        let dir = self.root.join("records").join(id.shard());
        (
            dir.join(format!("{id}.json")),
            dir.join(format!("{id}.sig")),
        )
    }

    pub fn record_exists(&self, id: &RecordId) -> Result<bool> {
        let Some(d) = self.walk(&["records", &id.shard()])? else {
            return Ok(false);
        };
        Ok(d.meta(&format!("{id}.json"))
            .at("inspect", &self.record_paths(id).0)?
            .is_some())
    }

    /// The manifest bytes and the signature bytes of a record (`None` if the manifest is
    /// missing; an empty signature if only the signature is).
    pub fn read_record(&self, id: &RecordId) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (jp, sp) = self.record_paths(id);
        let Some(d) = self.walk(&["records", &id.shard()])? else {
            return Ok(None);
        };
        let Some(json) = d.read(&format!("{id}.json")).at("read", &jp)? else {
            return Ok(None);
        };
        let sig = d
            .read(&format!("{id}.sig"))
            .at("read", &sp)?
            .unwrap_or_default();
        Ok(Some((json, sig)))
    }

    /// Move a record's manifest and signature from scratch into `records/`. Never replaces a
    /// record: record IDs are fresh, so an existing file means damage or a forgery.
    pub fn place_record(&self, scratch: &Scratch, id: &RecordId) -> Result<PathBuf> {
        let shard = id.shard();
        let d = self.walk_create(&["records", &shard])?;
        let (jp, sp) = self.record_paths(id);
        for (name, path) in [(format!("{id}.sig"), &sp), (format!("{id}.json"), &jp)] {
            if !scratch
                .dir
                .rename_noreplace(&name, &d, &name)
                .at("move into place", path)?
            {
                return Err(Error::archive(format!(
                    "{} already exists: a record ID was reused",
                    path.display()
                ))
                .hint("run `exhibit audit`; nothing was committed"));
            }
        }
        Ok(d.path().to_path_buf())
    }

    /// Remove a record's files (rollback of an interrupted commit).
    pub fn remove_record(&self, id: &RecordId) -> Result<()> {
        let Some(d) = self.walk(&["records", &id.shard()])? else {
            return Ok(());
        };
        let (jp, sp) = self.record_paths(id);
        d.remove_file(&format!("{id}.json")).at("remove", &jp)?;
        d.remove_file(&format!("{id}.sig")).at("remove", &sp)?;
        Ok(())
    }

    // ----- documents ------------------------------------------------------------------------

    pub fn document_path(&self, sha256: &Sha256) -> PathBuf {
        self.root
            .join("documents")
            .join(sha256.shard())
            .join(format!("{sha256}.zst"))
    }

    pub fn open_document(&self, sha256: &Sha256) -> Result<Option<File>> {
        self.open_document_in(&mut ShardCache::default(), sha256)
    }

    /// [`Local::open_document`] through a worker's [`ShardCache`].
    pub fn open_document_in(
        &self,
        cache: &mut ShardCache,
        sha256: &Sha256,
    ) -> Result<Option<File>> {
        let Some(d) = self.shard_dir(cache, "documents", &sha256.shard())? else {
            return Ok(None);
        };
        d.open_file(&format!("{sha256}.zst"))
            .at("open", &self.document_path(sha256))
    }

    /// `top/shard`, opened without following links, or the one the cache holds.
    fn shard_dir<'c>(
        &self,
        cache: &'c mut ShardCache,
        top: &'static str,
        shard: &str,
    ) -> Result<Option<&'c Dir>> {
        let hit = matches!(&cache.last, Some((t, s, _)) if *t == top && s == shard);
        if !hit {
            cache.last = None;
            let Some(d) = self.walk(&[top, shard])? else {
                return Ok(None);
            };
            cache.last = Some((top, shard.to_string(), d));
        }
        Ok(cache.last.as_ref().map(|(_, _, d)| d))
    }

    pub fn document_exists(&self, sha256: &Sha256) -> Result<bool> {
        let Some(d) = self.walk(&["documents", &sha256.shard()])? else {
            return Ok(false);
        };
        Ok(d.meta(&format!("{sha256}.zst"))
            .at("inspect", &self.document_path(sha256))?
            .is_some())
    }

    /// Move a staged blob into the store under its hash, unless that document is stored
    /// already. Returns whether it was new, and the shard directory to flush.
    pub fn publish_document(
        &self,
        scratch: &Dir,
        staged_name: &str,
        sha256: &Sha256,
    ) -> Result<(bool, PathBuf)> {
        let d = self.walk_create(&["documents", &sha256.shard()])?;
        let name = format!("{sha256}.zst");
        let new = scratch
            .rename_noreplace(staged_name, &d, &name)
            .at("move document into", &self.document_path(sha256))?;
        Ok((new, d.path().to_path_buf()))
    }

    /// Store a blob read from `blob` (a copy of another archive's, already checked) under its
    /// hash, through scratch like every write.
    pub fn copy_document(
        &self,
        scratch: &Scratch,
        sha256: &Sha256,
        blob: &mut dyn io::Read,
    ) -> Result<()> {
        let name = dir::unique_name("copy-");
        let path = scratch.dir.join(&name);
        let mut f = scratch.dir.create_new(&name, 0o644).at("create", &path)?;
        io::copy(blob, &mut f).at("write", &path)?;
        self.publish_document(&scratch.dir, &name, sha256)?;
        Ok(())
    }

    pub fn remove_document(&self, sha256: &Sha256) -> Result<()> {
        if let Some(d) = self.walk(&["documents", &sha256.shard()])? {
            d.remove_file(&format!("{sha256}.zst"))
                .at("remove", &self.document_path(sha256))?;
        }
        Ok(())
    }

    // ----- packs (archive/2) -----------------------------------------------------------------

    pub fn pack_path(&self, sha256: &Sha256) -> PathBuf {
        self.root
            .join("packs")
            .join(sha256.shard())
            .join(format!("{sha256}.pack"))
    }

    pub fn open_pack(&self, sha256: &Sha256) -> Result<Option<File>> {
        let Some(d) = self.walk(&["packs", &sha256.shard()])? else {
            return Ok(None);
        };
        d.open_file(&format!("{sha256}.pack"))
            .at("open", &self.pack_path(sha256))
    }

    /// Move a finished pack from scratch into `packs/`. A pack is named by its SHA-256 and holds
    /// signatures made for fresh log positions, so an existing file of that name is the same
    /// bytes (a retried move), never another pack.
    pub fn publish_pack(
        &self,
        scratch: &Scratch,
        staged_name: &str,
        sha256: &Sha256,
    ) -> Result<()> {
        let d = self.walk_create(&["packs", &sha256.shard()])?;
        scratch
            .dir
            .rename_noreplace(staged_name, &d, &format!("{sha256}.pack"))
            .at("move pack into", &self.pack_path(sha256))?;
        Ok(())
    }

    /// Every pack, by name: the files `packs/<aa>/<sha256>.pack` whose shard is their hash's.
    /// Anything else there is audit's to report, not a pack.
    pub fn pack_names(&self) -> Result<Vec<Sha256>> {
        let Some(packs) = self.sub("packs")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for shard in packs.entries().at("list", packs.path())? {
            let Some(shard_name) = shard.name.to_str() else {
                continue;
            };
            if shard.kind != EntryKind::Dir {
                continue;
            }
            let Some(d) = packs.sub(shard_name).at("open", &packs.join(shard_name))? else {
                continue;
            };
            for e in d.entries().at("list", d.path())? {
                let sha = e
                    .name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".pack"))
                    .and_then(Sha256::parse);
                if let Some(sha) = sha.filter(|s| s.shard() == shard_name) {
                    if e.kind == EntryKind::File {
                        out.push(sha);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn remove_pack(&self, sha256: &Sha256) -> Result<()> {
        if let Some(d) = self.walk(&["packs", &sha256.shard()])? {
            d.remove_file(&format!("{sha256}.pack"))
                .at("remove", &self.pack_path(sha256))?;
        }
        Ok(())
    }

    // ----- the log --------------------------------------------------------------------------

    pub fn log_path(&self, f: LogFile) -> PathBuf {
        self.root.join("log").join(f.name())
    }

    fn log_dir(&self) -> Result<Option<Dir>> {
        self.sub("log")
    }

    /// Length of a log file (0 if it does not exist).
    pub fn log_len(&self, f: LogFile) -> Result<u64> {
        let Some(d) = self.log_dir()? else {
            return Ok(0);
        };
        match d.meta(f.name()).at("inspect", &self.log_path(f))? {
            None => Ok(0),
            Some(m) if m.kind == EntryKind::File => Ok(m.len),
            Some(_) => {
                // Opening it says precisely what it is.
                d.open_file(f.name()).at("open", &self.log_path(f))?;
                Ok(0)
            }
        }
    }

    pub fn open_log(&self, f: LogFile) -> Result<Option<File>> {
        let Some(d) = self.log_dir()? else {
            return Ok(None);
        };
        d.open_file(f.name()).at("open", &self.log_path(f))
    }

    pub fn read_log(&self, f: LogFile) -> Result<Option<Vec<u8>>> {
        let Some(d) = self.log_dir()? else {
            return Ok(None);
        };
        d.read(f.name()).at("read", &self.log_path(f))
    }

    pub fn append_log(&self, f: LogFile, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let d = self.sub_create("log")?;
        let path = self.log_path(f);
        let mut file = d.open_append(f.name(), 0o644).at("open", &path)?;
        file.write_all(bytes).at("append to", &path)
    }

    /// Cut a log file back to `len` bytes and flush it.
    pub fn truncate_log(&self, f: LogFile, len: u64) -> Result<()> {
        let Some(d) = self.log_dir()? else {
            return Ok(());
        };
        let path = self.log_path(f);
        if let Some(file) = d.open_write(f.name()).at("open", &path)? {
            file.set_len(len).at("truncate", &path)?;
            file.sync_all().at("flush", &path)?;
        }
        Ok(())
    }

    pub fn write_log(&self, scratch: &Scratch, f: LogFile, bytes: &[u8]) -> Result<()> {
        let d = self.sub_create("log")?;
        d.write_atomic(&scratch.dir, f.name(), bytes, 0o644)
            .at("write", &self.log_path(f))
    }

    // ----- locks, scratch and durability ----------------------------------------------------

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// The writers' lock: held exclusively for a whole commit.
    pub fn lock(&self) -> Result<File> {
        let path = self.lock_path();
        let f = self.root.open_lock("lock").at("open", &path)?;
        dir::lock(&f).at("lock", &path)?;
        Ok(f)
    }

    /// A private scratch directory for this process, on the archive's file system so renames
    /// are atomic. `tmp/` itself is locked shared while the directory and its locked
    /// `owner.lock` are made, and exclusively while abandoned ones are removed, so a cleaner
    /// never sees a scratch directory before its owner holds it.
    pub fn scratch(&self) -> Result<Scratch> {
        let tmp = self.sub_create("tmp")?;
        tmp.lock_shared().at("lock", tmp.path())?;
        let made = (|| {
            let name = dir::unique_name("w");
            let d = tmp
                .sub_create(&name)
                .at("create directory", &tmp.join(&name))?;
            let lock_path = d.join("owner.lock");
            let lock = d.open_lock("owner.lock").at("create", &lock_path)?;
            dir::lock(&lock).at("lock", &lock_path)?;
            Ok::<_, Error>((name, d, lock))
        })();
        let _ = tmp.unlock();
        let (name, d, lock) = made?;
        Ok(Scratch {
            dir: Arc::new(d),
            tmp,
            name,
            _lock: lock,
        })
    }

    /// Remove whatever in `tmp/` no live writer owns: scratch directories whose `owner.lock`
    /// nobody holds (or that have none), and anything else found there (files, links: a link
    /// is removed, never followed).
    pub fn clean_scratch(&self) -> Result<usize> {
        let Some(tmp) = self.sub("tmp")? else {
            return Ok(0);
        };
        tmp.lock_exclusive().at("lock", tmp.path())?;
        let result = (|| {
            let mut removed = 0;
            for e in tmp.entries().at("list", tmp.path())? {
                let Some(name) = e.name.to_str() else {
                    // Not ours either way; remove_tree needs a UTF-8 name.
                    continue;
                };
                let abandoned = match e.kind {
                    EntryKind::Dir => match tmp.sub(name) {
                        Ok(Some(d)) => match d.open_file("owner.lock") {
                            Ok(Some(f)) => dir::try_lock(&f).unwrap_or(false),
                            _ => true,
                        },
                        _ => true,
                    },
                    _ => true,
                };
                if abandoned {
                    tmp.remove_tree(name).at("remove", &tmp.join(name))?;
                    removed += 1;
                }
            }
            Ok(removed)
        })();
        let _ = tmp.unlock();
        result
    }

    /// Make everything written so far durable.
    pub fn sync(&self) -> Result<()> {
        self.root.sync_fs().at("flush to disk", self.path())
    }
}

/// The directories of the packed layout (archive/2): records live in packs, not in `records/`.
pub const DIRS_PACKED: [&str; 5] = ["keys", "documents", "packs", "log", "tmp"];

/// Write a brand-new archive's directories (the layout) into `root`.
pub fn make_layout(root: &Dir) -> Result<()> {
    make_dirs(root, &DIRS)
}

/// [`make_layout`] for the packed layout (archive/2).
pub fn make_packed_layout(root: &Dir) -> Result<()> {
    make_dirs(root, &DIRS_PACKED)
}

fn make_dirs(root: &Dir, dirs: &[&str]) -> Result<()> {
    for d in dirs {
        root.sub_create(d).at("create directory", &root.join(d))?;
    }
    root.open_lock("lock").at("create", &root.join("lock"))?;
    Ok(())
}

/// The bytes of a file that may be missing (`None`) or unreadable (`Err`).
pub type MaybeBytes = Result<Option<Vec<u8>>>;

/// The shard directory a worker opened last. A pass over many files in shard order (audit reads
/// documents sorted by hash, and records sorted by shard) then opens each shard once instead of
/// walking from the root for every file: two opens fewer per file.
#[derive(Default)]
pub struct ShardCache {
    last: Option<(&'static str, String, Dir)>,
    /// Packed layout: `log/places` and the pack read last, kept open, for the same reason.
    pub(super) places: Option<File>,
    /// Lines of `log/places` read ahead, from the index of the first: an audit asks for the
    /// lines of a range in order, one read per thousand instead of one per record.
    pub(super) places_ahead: Option<(u64, Vec<u8>)>,
    /// With its length: a pack never changes once written, so one `stat` serves every read.
    pub(super) pack: Option<(Sha256, File, u64)>,
}

/// One entry found by [`Local::inventory`].
#[derive(Debug, Clone)]
pub struct Item {
    /// Path components below the root.
    pub parts: Vec<String>,
    pub kind: EntryKind,
    pub len: u64,
    pub nlink: u64,
    /// Whether the name is valid UTF-8 (a lossy name cannot be one of the archive's).
    pub utf8: bool,
}

impl Item {
    pub fn rel(&self) -> String {
        self.parts.join("/")
    }
}

impl Local {
    /// Everything below the root, without following any link: files, links, devices and other
    /// special files (directories are descended into, not listed). Directories that cannot be
    /// listed come back as errors beside what could be.
    pub fn inventory(&self) -> (Vec<Item>, Vec<(String, String)>) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        let root = match self.root.try_clone() {
            Ok(r) => r,
            Err(e) => {
                errors.push((String::new(), format!("cannot list: {e}")));
                return (items, errors);
            }
        };
        walk_into(&root, &[], &mut items, &mut errors);
        (items, errors)
    }

    /// The manifest and the signature of a record, each read on its own, for audit to report
    /// which one is missing.
    pub fn read_record_parts(&self, id: &RecordId) -> (MaybeBytes, MaybeBytes) {
        self.read_record_parts_in(&mut ShardCache::default(), id)
    }

    /// [`Local::read_record_parts`] through a worker's [`ShardCache`].
    pub fn read_record_parts_in(
        &self,
        cache: &mut ShardCache,
        id: &RecordId,
    ) -> (MaybeBytes, MaybeBytes) {
        let (jp, sp) = self.record_paths(id);
        let d = match self.shard_dir(cache, "records", &id.shard()) {
            Ok(Some(d)) => d,
            Ok(None) => return (Ok(None), Ok(None)),
            Err(e) => return (Err(e.clone_error()), Err(e)),
        };
        (
            d.read(&format!("{id}.json")).at("read", &jp),
            d.read(&format!("{id}.sig")).at("read", &sp),
        )
    }
}

/// What a walk found below one directory entry: files, and directories it could not list.
type Walked = (Vec<Item>, Vec<(String, String)>);

fn walk_into(
    d: &Dir,
    prefix: &[String],
    items: &mut Vec<Item>,
    errors: &mut Vec<(String, String)>,
) {
    use rayon::prelude::*;
    let entries = match d.entries() {
        Ok(e) => e,
        Err(e) => {
            errors.push((prefix.join("/"), format!("cannot list: {e}")));
            return;
        }
    };
    // Audit starts with this walk over every file (a tenth of its CPU, a stat per file), so
    // entries are looked at in parallel; results are put back in name order, so the inventory
    // is the same as a sequential walk's.
    let walked: Vec<Walked> = entries
        .par_iter()
        .map(|e| {
            let mut items = Vec::new();
            let mut errors = Vec::new();
            let utf8 = e.name.to_str().is_some();
            let name = e.name.to_string_lossy().into_owned();
            if e.kind == EntryKind::Dir && prefix.is_empty() && name == "lock" {
                // Not descended into as a directory of the archive: a writer cannot lock it,
                // so the archive cannot be written until it is gone.
                errors.push((
                    name,
                    "a directory where the lock file must be: no writer can lock the archive; remove it (the next writer creates an empty lock file)".into(),
                ));
                return (items, errors);
            }
            if e.kind == EntryKind::Dir && utf8 {
                match d.sub(&name) {
                    Ok(Some(sub)) => {
                        let mut prefix = prefix.to_vec();
                        prefix.push(name);
                        walk_into(&sub, &prefix, &mut items, &mut errors);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        let mut parts = prefix.to_vec();
                        parts.push(name);
                        errors.push((parts.join("/"), format!("cannot open: {err}")));
                    }
                }
                return (items, errors);
            }
            let meta = if utf8 {
                d.meta(&name).ok().flatten()
            } else {
                None
            };
            let mut parts = prefix.to_vec();
            parts.push(name);
            items.push(Item {
                parts,
                kind: e.kind,
                len: meta.map_or(0, |m| m.len),
                nlink: meta.map_or(1, |m| m.nlink),
                utf8,
            });
            (items, errors)
        })
        .collect();
    for (mut i, mut e) in walked {
        items.append(&mut i);
        errors.append(&mut e);
    }
}

/// Read leaf lines [start, end) from the open `log/leaves` (`path` names it in errors).
pub fn read_leaves(file: &File, path: &Path, start: u64, end: u64) -> Result<Vec<LeafEntry>> {
    if end <= start {
        return Ok(Vec::new());
    }
    // Read a chunk at a time: the range may come from the file's length alone (the tail beyond
    // the checkpoint), and a file grown by gigabytes of garbage must cost one bad line, not an
    // allocation of its size.
    const CHUNK_LINES: u64 = 8192;
    let mut entries = Vec::with_capacity((end - start).min(CHUNK_LINES) as usize);
    let mut buf = Vec::new();
    let mut at = start;
    while at < end {
        let lines = (end - at).min(CHUNK_LINES);
        buf.resize((lines * LEAF_LINE) as usize, 0);
        read_exact_at(file, &mut buf, at * LEAF_LINE).ctx("read", path)?;
        for (i, line) in buf.chunks(LEAF_LINE as usize).enumerate() {
            let entry = LeafEntry::parse(line).ok_or_else(|| {
                Error::verification(format!(
                    "{}: leaf {} is not a well-formed line",
                    path.display(),
                    at + i as u64
                ))
                .hint("restore log/leaves from a backup, then run `exhibit audit`")
            })?;
            entries.push(entry);
        }
        at += lines;
    }
    Ok(entries)
}

/// Stored hashes: those already in `log/hashes` (the first `on_disk`), then `pending` ones not
/// yet written. Lets a batch compute its new hashes before anything touches the file.
pub struct StoredHashes<'a> {
    pub file: Option<&'a File>,
    pub on_disk: u64,
    pub pending: &'a [Hash],
}

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        indexes
            .iter()
            .map(|&i| {
                if i >= self.on_disk {
                    let p = (i - self.on_disk) as usize;
                    return self.pending.get(p).copied().ok_or_else(|| {
                        ProofError::Storage(format!("stored hash {i} not available"))
                    });
                }
                let file = self
                    .file
                    .ok_or_else(|| ProofError::Storage("log/hashes is missing".into()))?;
                let mut h = [0u8; 32];
                read_exact_at(file, &mut h, i * 32)
                    .map_err(|e| ProofError::Storage(format!("log/hashes: {e}")))?;
                Ok(h)
            })
            .collect()
    }
}
