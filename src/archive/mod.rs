//! An archive and the one way records get into it.
//!
//! The layout and every file operation live in [`local`] (a directory, opened without following
//! links); this module is the archive's logic over it: opening and creating archives, reading
//! records and the log, and the commit protocol.
//!
//! Beside it, [`backend`] is the storage seam of named objects with create-only and
//! compare-and-swap writes, implemented by `LocalBackend` and by [`s3`] (S3-compatible object
//! storage), both held to one conformance suite (tests/backend.rs). An archive on object
//! storage ([`remote`]) runs this same commit protocol on a local replica pulled under a lease,
//! and its seal pushes the new objects and swaps the store's checkpoint.
//!
//! Commit protocol, under the lock, for a batch of staged documents (`commit_locked`, one
//! function per step):
//! 1. `begin_commit`: roll back the remains of any interrupted commit (log tail beyond the
//!    checkpoint), removing only files that no committed leaf names; refuse a key that may not
//!    sign. Then `sign_group` signs the manifests without touching storage, and `log_lines`
//!    computes the leaf lines, stored hashes and new root;
//! 2. `stage`: write the pack (or manifests and signatures) to scratch; flush (documents were
//!    staged there already);
//! 3. `write_intent`: append the places, leaves, stored hashes and key lines to the log; flush:
//!    the intent record that lets step 1 find everything an interrupted commit may have moved
//!    into place;
//! 4. `publish`: move the pack or records, and the documents, into place; flush;
//! 5. `next_checkpoint` and the seal: write the new signed checkpoint (scratch, flush, rename):
//!    the commit point.
//!
//! A crash before 5 leaves a log tail that audit reports as an interrupted write (a warning) and
//! that the next writer rolls back; a crash after 5 leaves a complete record. Nothing printed to
//! the user refers to a record before its checkpoint is durable.

pub mod backend;
pub mod dir;
pub mod local;
pub mod location;
pub mod migrate;
pub mod objects;
mod packs;
pub mod remote;
pub mod s3;
pub mod store;

use crate::core::digest::Sha256;
use crate::error::{Error, IoContext, Kind, Result};
use crate::keys::{self, PublicKey, SecretKey};
use crate::log::merkle::HashReader;
use crate::log::{merkle, LeafEntry, LEAF_LINE};
use crate::manifest::{self, DocumentFacts, HttpExchange, Labels, Manifest, Method, Tool};
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::store::{BlobError, DocumentCheck, Published, Staged};
use local::StoredHashes;
use local::{Ctx, Local, LogFile};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use local::{is_os_metadata, Scratch, CONFIG_FILE};
pub use packs::{parse_legacy, parse_place, PackRange, PackedRecord};

pub const ARCHIVE_FORMAT: &str = "exhibit-archive/1";
/// The packed layout (docs/SCALE.md): a commit's manifests, signatures and small documents in
/// one pack, record IDs that follow from log positions.
pub const ARCHIVE_FORMAT_PACKED: &str = "exhibit-archive/2";
/// One line of `log/places`: the hex SHA-256 of the pack holding the leaf's manifest, and LF.
pub const PLACE_LINE: u64 = 65;
/// Blobs smaller than this go into their commit's pack; larger ones stay files of their own,
/// where `zstd -dc BLOB | sha256sum` checks them and every record citing them shares them.
pub const PACK_BLOBS_BELOW: u64 = 64 * 1024;

/// How records and small documents are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `exhibit-archive/1`: a manifest, a signature and a blob file per record.
    Loose,
    /// `exhibit-archive/2`: packs per commit, `log/places`, positional record IDs.
    Packed,
}

impl Layout {
    /// What a new archive gets.
    pub const DEFAULT: Layout = Layout::Packed;

    fn of(format: &str) -> Option<Layout> {
        match format {
            ARCHIVE_FORMAT => Some(Layout::Loose),
            ARCHIVE_FORMAT_PACKED => Some(Layout::Packed),
            _ => None,
        }
    }

    pub fn format(self) -> &'static str {
        match self {
            Layout::Loose => ARCHIVE_FORMAT,
            Layout::Packed => ARCHIVE_FORMAT_PACKED,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    pub format: String,
    /// The log's origin line, also the key name in checkpoint signatures.
    pub origin: String,
}

impl ArchiveConfig {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("config serializes");
        v.push(b'\n');
        v
    }
}

pub struct Archive {
    local: Local,
    pub config: ArchiveConfig,
    layout: Layout,
    packs: packs::PackCache,
    /// Set when this is the replica of an archive on object storage: commits go there.
    remote: Option<std::sync::Arc<remote::Remote>>,
}

/// A trusted public key as found in `keys/`.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: String,
    pub key: PublicKey,
    pub path: PathBuf,
}

impl Archive {
    fn assemble(local: Local, config: ArchiveConfig, layout: Layout) -> Archive {
        let packs = packs::PackCache::new(&config.origin);
        Archive {
            local,
            config,
            layout,
            packs,
            remote: None,
        }
    }

    /// This archive as the local replica of `remote`: its commits go to the store.
    pub fn with_remote(mut self, remote: std::sync::Arc<remote::Remote>) -> Archive {
        self.remote = Some(remote);
        self
    }

    /// Where the archive is, for messages: its directory, or its `s3://` location.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(r) => r.describe(),
            None => self.root().display().to_string(),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Where the archive is, for messages.
    pub fn root(&self) -> &Path {
        self.local.path()
    }

    pub fn local(&self) -> &Local {
        &self.local
    }

    pub fn config_path(&self) -> PathBuf {
        self.local.config_path()
    }

    /// Who counts as a signer of this archive's log, anchored as asked (docs/FORMAT.md 7).
    pub fn trust(&self, anchor: &crate::trust::Anchor) -> Result<crate::trust::Trust> {
        let size = self.log_size()?;
        crate::trust::Trust::load(self, anchor, size)
    }

    /// `records/<shard>/<ID>.json` and `.sig`, for messages.
    ///
    /// In the packed layout both are the pack that holds the record (or `log/places` when the
    /// record cannot be found).
    pub fn record_paths(&self, id: &RecordId) -> (PathBuf, PathBuf) {
        match self.layout {
            Layout::Loose => self.local.record_paths(id),
            Layout::Packed => {
                let pack = self
                    .packed_index(id)
                    .ok()
                    .flatten()
                    .and_then(|i| self.place(i).ok().flatten());
                let p = pack.map_or_else(
                    || self.local.log_path(LogFile::Places),
                    |p| self.local.pack_path(&p),
                );
                (p.clone(), p)
            }
        }
    }

    /// A record's manifest and signature bytes, each read on its own, by its log position
    /// (audit), with the paths that name them in messages.
    pub fn record_parts_at(
        &self,
        cache: &mut local::ShardCache,
        index: u64,
        id: &RecordId,
    ) -> (local::MaybeBytes, local::MaybeBytes, PathBuf, PathBuf) {
        match self.layout {
            Layout::Loose => {
                let (j, s) = self.local.read_record_parts_in(cache, id);
                let (jp, sp) = self.local.record_paths(id);
                (j, s, jp, sp)
            }
            Layout::Packed => {
                let (j, s, p) = self.packed_record_at(cache, index, id);
                (j, s, p.clone(), p)
            }
        }
    }

    pub fn record_exists(&self, id: &RecordId) -> Result<bool> {
        match self.layout {
            Layout::Loose => self.local.record_exists(id),
            Layout::Packed => Ok(self.packed_index(id)?.is_some()),
        }
    }

    pub fn exists(root: &Path) -> bool {
        // Only the metadata file makes a directory an archive; a link is not followed.
        Local::open(root)
            .ok()
            .and_then(|l| l.root().meta(CONFIG_FILE).ok().flatten())
            .is_some_and(|m| m.kind == dir::EntryKind::File)
    }

    pub fn open(root: &Path) -> Result<Archive> {
        let local = match Local::open(root) {
            Ok(l) => l,
            Err(_) if !root.exists() => return Err(no_archive(root)),
            Err(e) => return Err(e),
        };
        let path = local.config_path();
        let bytes = local.read_config()?.ok_or_else(|| no_archive(root))?;
        let config: ArchiveConfig = serde_json::from_slice(&bytes).map_err(|e| {
            Error::archive(format!("{} is malformed: {e}", path.display()))
                .hint("restore it from a backup of the archive")
        })?;
        let Some(layout) = Layout::of(&config.format) else {
            return Err(Error::archive(format!(
                "{} has format {:?}; this exhibit reads {ARCHIVE_FORMAT:?} and {ARCHIVE_FORMAT_PACKED:?}",
                path.display(),
                config.format
            ))
            .hint("use the exhibit version that wrote this archive"));
        };
        Ok(Archive::assemble(local, config, layout))
    }

    /// Open an archive whose metadata may be damaged, for audit: audit must report a damaged
    /// `exhibit.json` rather than refuse to look at the rest. The origin then comes from the
    /// checkpoint, and audit's canonical-form check names the file.
    pub fn open_for_audit(root: &Path) -> Result<Archive> {
        match Archive::open(root) {
            Ok(a) => Ok(a),
            Err(e) => {
                let Ok(local) = Local::open(root) else {
                    return Err(e);
                };
                if local.read_config().ok().flatten().is_none() {
                    return Err(e);
                }
                let checkpoint = local
                    .read_log(LogFile::Checkpoint)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let checkpoint = String::from_utf8_lossy(&checkpoint);
                let origin = checkpoint.lines().next().unwrap_or_default().to_string();
                if origin.is_empty() {
                    return Err(e);
                }
                // The directories say which layout this is when its metadata cannot.
                let layout = match local.root().meta("packs") {
                    Ok(Some(m)) if m.kind == dir::EntryKind::Dir => Layout::Packed,
                    _ => Layout::Loose,
                };
                let config = ArchiveConfig {
                    format: layout.format().into(),
                    origin,
                };
                Ok(Archive::assemble(local, config, layout))
            }
        }
    }

    /// Create the archive if needed and trust `key`. Returns whether the archive was created and
    /// whether the key was newly trusted.
    ///
    /// A new archive is built completely in a scratch directory beside its final place and then
    /// renamed into place. rename(2) of a directory succeeds only if the target is missing or an
    /// empty directory, so when several processes create the same archive at once exactly one
    /// wins and the others open the winner's: there is never a moment when two origins, or a
    /// half-made archive, are visible.
    ///
    /// A new archive starts with a signed checkpoint of the empty tree, so that from the first
    /// moment a missing checkpoint means damage, never "nothing committed yet".
    pub fn init(root: &Path, origin: Option<&str>, secret: &SecretKey) -> Result<(Archive, bool)> {
        Archive::init_with(root, origin, secret, Layout::DEFAULT)
    }

    /// [`Archive::init`] with the layout a new archive gets (an existing one keeps its own).
    pub fn init_with(
        root: &Path,
        origin: Option<&str>,
        secret: &SecretKey,
        layout: Layout,
    ) -> Result<(Archive, bool)> {
        let mut created = false;
        if !Archive::exists(root) {
            let origin = match origin {
                Some(o) => validate_origin(o)?,
                None => default_origin()?,
            };
            created = create(root, &origin, secret, layout)?;
        }
        let archive = Archive::open(root)?;
        if let (false, Some(o)) = (created, origin) {
            if o != archive.config.origin {
                return Err(Error::usage(format!(
                    "archive {} already has origin {:?}",
                    root.display(),
                    archive.config.origin
                ))
                .hint("the origin is fixed when the archive is created; drop --origin"));
            }
        }
        Ok((archive, created))
    }

    /// Write a public key into `keys/` (where key files are kept for people and for older
    /// archives whose log does not add its keys). Trust comes from the log, not from this file.
    pub fn store_public_key(&self, key: &PublicKey) -> Result<()> {
        let id = keys::key_id(key);
        if self.local.has_key(&id)? {
            return Ok(());
        }
        let scratch = self.scratch()?;
        self.local
            .write_key(&scratch, &id, keys::public_pem(key).as_bytes())
    }

    /// The public keys in `keys/`. A key file that does not parse is an error, never skipped.
    pub fn stored_keys(&self) -> Result<Vec<TrustedKey>> {
        self.read_keys(false)
    }

    /// For audit, which reports damaged key files itself and must still check everything else:
    /// key files that do not parse, or whose name is not their key ID, are left out.
    pub fn stored_keys_for_audit(&self) -> Result<Vec<TrustedKey>> {
        self.read_keys(true)
    }

    fn read_keys(&self, lenient: bool) -> Result<Vec<TrustedKey>> {
        let files = match self.local.key_files() {
            Ok(f) => f,
            Err(_) if lenient => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for (name, path, bytes) in files {
            let parsed = std::str::from_utf8(&bytes)
                .map_err(|_| {
                    Error::key(format!("{} is not text", path.display()))
                        .hint("restore it from a backup, or remove it")
                })
                .and_then(|t| keys::parse_public_pem(t, &path));
            let key = match parsed {
                Ok(k) => k,
                Err(_) if lenient => continue,
                Err(e) => return Err(e),
            };
            if lenient && name.strip_suffix(".pem") != Some(keys::key_id(&key).as_str()) {
                continue;
            }
            out.push(TrustedKey {
                id: keys::key_id(&key),
                key,
                path,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// A private scratch directory for this process (see [`local::Scratch`]).
    pub fn scratch(&self) -> Result<Scratch> {
        self.local.scratch()
    }

    /// The latest checkpoint: its signed note text and parsed body. None for an empty log.
    pub fn checkpoint(&self) -> Result<Option<(String, Checkpoint)>> {
        let path = self.local.log_path(LogFile::Checkpoint);
        let Some(bytes) = self.local.read_log(LogFile::Checkpoint)? else {
            return Ok(None);
        };
        let bad = |e: String| {
            Error::verification(format!("{}: {e}", path.display()))
                .hint("restore log/checkpoint from a backup, then run `exhibit audit`")
        };
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        let parsed = note::parse_note(&text)
            .and_then(|n| Checkpoint::parse(&n.text))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some((text, parsed)))
    }

    /// The committed tree size (0 for an empty log).
    pub fn log_size(&self) -> Result<u64> {
        Ok(self.checkpoint()?.map_or(0, |(_, c)| c.size))
    }

    pub fn leaf(&self, index: u64) -> Result<LeafEntry> {
        let mut v = self.read_leaves(index, index + 1)?;
        Ok(v.remove(0))
    }

    pub fn leaves(&self, size: u64) -> Result<Vec<LeafEntry>> {
        self.read_leaves(0, size)
    }

    /// Leaf lines [start, end).
    pub fn read_leaves(&self, start: u64, end: u64) -> Result<Vec<LeafEntry>> {
        if end <= start {
            return Ok(Vec::new());
        }
        let path = self.local.log_path(LogFile::Leaves);
        let file = self.local.open_log(LogFile::Leaves)?.ok_or_else(|| {
            Error::verification(format!("{} is missing", path.display()))
                .hint("restore log/leaves from a backup, then run `exhibit audit`")
        })?;
        local::read_leaves(&file, &path, start, end)
    }

    /// Length in bytes of a log file, for audit.
    pub fn log_len(&self, f: LogFile) -> Result<u64> {
        self.local.log_len(f)
    }

    /// The complete leaf lines beyond the committed size. A torn last line is ignored (it was
    /// never followed by any rename, since renames come after the intent record is flushed), and
    /// a damaged tail names nothing.
    pub fn uncommitted_tail(&self, size: u64) -> Result<Vec<LeafEntry>> {
        let len = self.local.log_len(LogFile::Leaves)?;
        let whole = (len / LEAF_LINE).saturating_sub(size);
        Ok(self.read_leaves(size, size + whole).unwrap_or_default())
    }

    /// The commits the records of a tail (lines beyond the checkpoint) were signed in, told apart
    /// by their `signed_at`: a commit signs its whole batch at one instant (FORMAT.md 10, step
    /// 2), so an interrupted write leaves at most one. More than one means the checkpoint was
    /// replaced by an older one, or lines were added: committed records, not remains to roll
    /// back. Records not in place, or not readable, say nothing; nor does a line naming a
    /// committed record (a copied line, which rolls back nothing and audit calls damage).
    pub fn tail_commits(
        &self,
        tail: &[LeafEntry],
        committed: &HashSet<RecordId>,
    ) -> std::collections::BTreeSet<String> {
        tail.iter()
            .filter(|e| !committed.contains(&e.record_id))
            .filter_map(|e| self.load_record(&e.record_id).ok().flatten())
            .filter_map(|(bytes, _)| Manifest::parse(&bytes).ok())
            .map(|m| m.signed_at)
            .collect()
    }

    /// Roll back what an interrupted commit left beyond the checkpoint. Caller holds the lock.
    ///
    /// Only what the interrupted commit itself placed is removed: the record files and documents
    /// its leaf lines name, and never one that a committed leaf names. Anyone can append lines
    /// to `log/leaves`, so a tail line naming a committed record (a copy of a committed line,
    /// say) removes nothing; audit reports it as damage. The tail bytes themselves are not part
    /// of the committed log, so cutting them off is always safe.
    pub(super) fn recover(&self, size: u64) -> Result<()> {
        let leaves_len = self.local.log_len(LogFile::Leaves)?;
        let hashes_len = self.local.log_len(LogFile::Hashes)?;
        let want_leaves = size * LEAF_LINE;
        let want_hashes = merkle::stored_hash_count(size) * 32;
        if leaves_len < want_leaves || hashes_len < want_hashes {
            return Err(Error::archive(format!(
                "the log in {} is shorter than its checkpoint ({size} records)",
                self.root().join("log").display()
            ))
            .hint("run `exhibit audit` and restore the log from a backup"));
        }
        let want_places = size * PLACE_LINE;
        if leaves_len == want_leaves && hashes_len == want_hashes {
            // Only the key-event append (and, packed, the places append) of an interrupted
            // commit may have reached the disk, and with it no pack (packs are moved in after
            // the whole intent is flushed); a pack its places lines name goes all the same.
            self.remove_tail_packs(want_places)?;
            self.local.sync()?;
            self.truncate_places(want_places)?;
            return self.truncate_key_events(size);
        }
        let mut tail = self.uncommitted_tail(size)?;
        let commits = if tail.is_empty() {
            Default::default()
        } else {
            let committed: HashSet<RecordId> =
                self.leaves(size)?.iter().map(|e| e.record_id).collect();
            self.tail_commits(&tail, &committed)
        };
        if commits.len() > 1 {
            return Err(Error::archive(format!(
                "refusing to roll back {} records beyond the checkpoint of {}: they were signed in {} commits ({}), and an interrupted write leaves one, so log/checkpoint was replaced by an older one or lines were added",
                tail.len(),
                self.root().display(),
                commits.len(),
                commits.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
            .hint("run `exhibit audit`; restore log/checkpoint from a backup (nothing was changed)"));
        }
        if !tail.is_empty() {
            let mut committed_ids = HashSet::new();
            let mut committed_docs = HashSet::new();
            for e in self.leaves(size)? {
                committed_ids.insert(e.record_id);
                committed_docs.insert(e.sha256);
            }
            // A browser record's parts are published after its record file (commit step 4), so
            // the parts an interrupted commit may have placed are named by a record still there.
            let mut tail_parts = Vec::new();
            for e in &tail {
                if committed_ids.contains(&e.record_id) {
                    continue;
                }
                if let Ok(Some((bytes, _))) = self.load_record(&e.record_id) {
                    if let Ok(m) = Manifest::parse(&bytes) {
                        tail_parts
                            .extend(m.parts().iter().filter_map(|p| Sha256::parse(&p.sha256)));
                    }
                }
            }
            // Only after a crash, so reading every committed manifest is affordable: a part a
            // committed browser record cites must never go, whichever tail line names it. If a
            // committed manifest cannot be read (damage), nothing is removed by name: a document
            // left over is an audit finding, a committed one deleted would be a loss.
            let mut complete = true;
            let mut cache = local::ShardCache::default();
            for (i, e) in self.leaves(size)?.iter().enumerate() {
                let manifest = match self.layout {
                    Layout::Loose => self.load_record(&e.record_id).ok().flatten().map(|r| r.0),
                    Layout::Packed => {
                        match self.packed_record_at(&mut cache, i as u64, &e.record_id) {
                            (Ok(Some(m)), _, _) => Some(m),
                            _ => None,
                        }
                    }
                };
                match manifest.as_deref().map(Manifest::parse) {
                    Some(Ok(m)) => committed_docs
                        .extend(m.parts().iter().filter_map(|p| Sha256::parse(&p.sha256))),
                    _ => complete = false,
                }
            }
            if !complete {
                tail.clear();
                tail_parts.clear();
            }
            for e in &tail {
                if !committed_ids.contains(&e.record_id) {
                    self.local.remove_record(&e.record_id)?;
                }
                if !committed_docs.contains(&e.sha256) {
                    self.local.remove_document(&e.sha256)?;
                }
            }
            for sha in &tail_parts {
                if !committed_docs.contains(sha) {
                    self.local.remove_document(sha)?;
                }
            }
        }
        self.remove_tail_packs(want_places)?;
        // Key events beyond the checkpoint go with the rest of the interrupted commit.
        self.truncate_key_events(size)?;
        // The deletions must be durable before the log stops naming them, or a crash here could
        // bring back files that nothing would ever clean up.
        self.local.sync()?;
        self.local.truncate_log(LogFile::Leaves, want_leaves)?;
        self.local.truncate_log(LogFile::Hashes, want_hashes)?;
        self.truncate_places(want_places)
    }

    /// The packs that `log/places` lines beyond the checkpoint name: an interrupted commit writes
    /// its pack for positions beyond the checkpoint, so none holds a committed record. A tail
    /// line naming a pack that a committed line names too was put there by someone else: that
    /// pack stays.
    fn remove_tail_packs(&self, want_places: u64) -> Result<()> {
        if self.layout != Layout::Packed {
            return Ok(());
        }
        let places = self.local.read_log(LogFile::Places)?.unwrap_or_default();
        let split = (want_places as usize).min(places.len());
        let committed: HashSet<Sha256> = places[..split]
            .chunks_exact(PLACE_LINE as usize)
            .filter_map(packs::parse_place)
            .collect();
        let mut gone = HashSet::new();
        for line in places[split..].chunks_exact(PLACE_LINE as usize) {
            if let Some(pack) = packs::parse_place(line) {
                if !committed.contains(&pack) && gone.insert(pack) {
                    self.packs.forget(&pack);
                    self.local.remove_pack(&pack)?;
                }
            }
        }
        Ok(())
    }

    fn truncate_places(&self, want: u64) -> Result<()> {
        if self.layout == Layout::Packed && self.local.log_len(LogFile::Places)? > want {
            self.local.truncate_log(LogFile::Places, want)?;
        }
        Ok(())
    }

    fn truncate_key_events(&self, size: u64) -> Result<()> {
        let Some(bytes) = self.local.read_log(LogFile::Keys)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&bytes);
        let keep = crate::trust::statement::committed_lines(&text, size);
        if keep.as_bytes() != bytes.as_slice() {
            let scratch = self.scratch()?;
            self.local
                .write_log(&scratch, LogFile::Keys, keep.as_bytes())?;
        }
        Ok(())
    }

    /// Sign and commit a batch of drafts as records, in order. See the module comment for the
    /// protocol. Returns the manifests and whether each document was new to the store.
    pub fn commit(
        &self,
        key: &SecretKey,
        scratch: &Scratch,
        drafts: Vec<Draft>,
    ) -> Result<Vec<Committed>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(remote) = &self.remote {
            return remote.commit(self, key, scratch, drafts);
        }
        let _guard = self.local.lock()?;
        self.commit_locked(key, scratch, drafts, &mut |cp| {
            self.local.write_log(scratch, LogFile::Checkpoint, cp)
        })
    }

    /// [`commit`](Archive::commit) with the writers' lock held by the caller. Everything up to
    /// the commit point is done here; `seal` makes the signed checkpoint the archive's (on a
    /// disk, writing `log/checkpoint`; on object storage, the push and the swap, then that).
    /// If `seal` fails, what was written is an interrupted commit's tail, which recovery rolls
    /// back. The steps are the module comment's, one function each.
    pub(super) fn commit_locked(
        &self,
        key: &SecretKey,
        scratch: &Scratch,
        drafts: Vec<Draft>,
        seal: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<Vec<Committed>> {
        let signer = keys::key_id(&key.verifying_key());
        let base = self.begin_commit(&signer)?;
        let ids = self.new_record_ids(base.size, drafts.len())?;
        let mut group = sign_group(key, &signer, base.size, drafts, ids)?;
        let log = self.log_lines(base.size, &group.records)?;
        let pack = self.stage(scratch, &mut group.records)?;
        self.write_intent(pack.as_ref(), &group, &log)?;
        let committed = self.publish(scratch, pack, group.records)?;
        let checkpoint = self.next_checkpoint(key, &base, &group.key_lines, &log)?;
        seal(checkpoint.as_bytes())?;
        Ok(committed)
    }

    /// Step 1: what the commit starts from. Rolls back an interrupted commit, then refuses a
    /// key that may not sign or key records the checkpoint does not commit to.
    fn begin_commit(&self, signer: &str) -> Result<CommitBase> {
        self.local.clean_scratch()?;
        // The checkpoint says what is committed. Without it, recovery would take every record
        // for the remains of an interrupted write and roll it back (FORMAT.md 9.5: an archive
        // has a checkpoint from its creation on, and a missing one is damage).
        let Some((_, cp)) = self.checkpoint()? else {
            return Err(Error::archive(format!(
                "{} is missing, so exhibit cannot tell which records are committed",
                self.local.log_path(LogFile::Checkpoint).display()
            ))
            .hint("restore log/checkpoint from a backup, then run `exhibit audit`; nothing was written"));
        };
        let size = cp.size;
        self.recover(size)?;
        // Only a key of the archive that is neither retired nor compromised signs anything new.
        // The book is read under the lock so that a concurrent retirement cannot be missed.
        let trust = crate::trust::Trust::load(self, &crate::trust::Anchor::Archive, size)?;
        // The key records must be the ones the checkpoint commits to: an edited log/keys must
        // not change who may sign.
        if let crate::trust::Commitment::Broken(why) = trust.commitment(&cp) {
            return Err(Error::verification(format!("{why}; nothing was written"))
                .hint("run `exhibit audit` and restore log/keys from a backup"));
        }
        trust
            .book
            .may_sign(signer)
            .map_err(|why| crate::trust::not_usable(signer, &why))?;
        Ok(CommitBase {
            size,
            key_lines: trust.lines,
        })
    }

    /// The IDs of `count` records from log position `size` on. In a packed archive the position
    /// names the record: unique by construction, and found again from the ID without an index.
    /// A loose archive draws random IDs that no record has.
    fn new_record_ids(&self, size: u64, count: usize) -> Result<Vec<RecordId>> {
        let mut ids: Vec<RecordId> = Vec::with_capacity(count);
        for i in 0..count as u64 {
            ids.push(match self.layout {
                Layout::Packed => self.packs.ids.id(size + i),
                Layout::Loose => loop {
                    let id = RecordId::random();
                    if !self.local.record_exists(&id)? && !ids.contains(&id) {
                        break id;
                    }
                },
            });
        }
        Ok(ids)
    }

    /// The log lines of a signed group: its leaf lines and the stored hashes it adds, read
    /// against the committed `log/hashes` (O(log n) hashes per leaf).
    fn log_lines(&self, size: u64, records: &[Prepared]) -> Result<LogLines> {
        let hashes_path = self.local.log_path(LogFile::Hashes);
        let hashes_file = self.local.open_log(LogFile::Hashes)?;
        let on_disk = merkle::stored_hash_count(size);
        let mut new_hashes: Vec<merkle::Hash> = Vec::new();
        let mut leaves = String::new();
        let damaged = |e: merkle::ProofError| {
            Error::archive(format!("{}: {e}", hashes_path.display())).hint("run `exhibit audit`")
        };
        for (i, p) in records.iter().enumerate() {
            let reader = StoredHashes {
                file: hashes_file.as_ref(),
                on_disk,
                pending: &new_hashes,
            };
            let leaf = merkle::leaf_hash(&p.bytes);
            let added =
                merkle::stored_hashes_for_leaf(size + i as u64, &leaf, &reader).map_err(damaged)?;
            new_hashes.extend(added);
            leaves.push_str(
                &LeafEntry {
                    record_id: p.manifest.record_id.parse().expect("we made it"),
                    sha256: Sha256::checked(&p.manifest.document.sha256)?,
                }
                .to_line(),
            );
        }
        let new_size = size + records.len() as u64;
        let root = merkle::tree_hash(
            new_size,
            &StoredHashes {
                file: hashes_file.as_ref(),
                on_disk,
                pending: &new_hashes,
            },
        )
        .map_err(damaged)?;
        Ok(LogLines {
            leaves,
            hashes: new_hashes,
            new_size,
            root,
        })
    }

    /// Step 2: everything the intent will name, written to scratch and flushed: the group's
    /// pack (packed) or its manifest and signature files (loose), and each document that will
    /// be a blob file of its own.
    fn stage(&self, scratch: &Scratch, records: &mut [Prepared]) -> Result<Option<StagedPack>> {
        let pack = match self.layout {
            Layout::Packed => Some(self.write_pack(scratch, records)?),
            Layout::Loose => {
                let sdir = scratch.dir();
                for p in records.iter() {
                    let id = &p.manifest.record_id;
                    for (name, content) in [
                        (format!("{id}.json"), &p.bytes[..]),
                        (format!("{id}.sig"), &p.signature[..]),
                    ] {
                        let path = sdir.join(&name);
                        let mut f = sdir.create_new(&name, 0o644).at("create", &path)?;
                        f.write_all(content).ctx("write", &path)?;
                    }
                }
                None
            }
        };
        for p in records.iter_mut() {
            for doc in p.staged.iter_mut().chain(p.parts.iter_mut()) {
                let packed = pack.as_ref().is_some_and(|pack| pack.holds(&doc.sha256));
                if !packed {
                    // A blob published as a file of its own and staged in memory is written to
                    // scratch now, so that the flush below makes it durable before the log
                    // names it.
                    doc.location()?;
                } else if doc.in_file() {
                    // The staged copies of what the pack now holds (or refers to) go before the
                    // flush: a deleted file's dirty pages are never written back, and a long
                    // batch does not pile up a second copy of every document in scratch.
                    let (dir, name) = doc.location()?;
                    dir.remove_file(name).at("remove", &dir.join(name))?;
                }
            }
        }
        self.local.sync()?;
        Ok(pack)
    }

    /// Step 3: the intent record, appended to the log files and flushed: what lets recovery
    /// find everything step 4 may have moved into place.
    fn write_intent(
        &self,
        pack: Option<&StagedPack>,
        group: &SignedGroup,
        log: &LogLines,
    ) -> Result<()> {
        if let Some(pack) = pack {
            let places = packs::place_line(&pack.sha256).repeat(group.records.len());
            self.local.append_log(LogFile::Places, places.as_bytes())?;
        }
        self.local
            .append_log(LogFile::Leaves, log.leaves.as_bytes())?;
        self.local
            .append_log(LogFile::Hashes, log.hashes.concat().as_slice())?;
        if !group.key_lines.is_empty() {
            self.local
                .append_log(LogFile::Keys, group.key_lines.as_bytes())?;
        }
        self.local.sync()
    }

    /// Step 4: the pack or the record files, and the blob files, moved into place; flushed.
    fn publish(
        &self,
        scratch: &Scratch,
        pack: Option<StagedPack>,
        records: Vec<Prepared>,
    ) -> Result<Vec<Committed>> {
        // A pack goes first, so that recovery (and audit) can read from its manifests which
        // documents an interrupted commit may have published.
        if let Some(pack) = &pack {
            self.local
                .publish_pack(scratch, &pack.staged_name, &pack.sha256)?;
            self.remember_pack(pack.sha256, pack.footer.clone());
        }
        let publish = |doc: &mut Staged| -> Result<Published> {
            if pack
                .as_ref()
                .is_some_and(|pack| pack.documents.contains(&doc.sha256))
            {
                return Ok(Published::Stored);
            }
            if pack
                .as_ref()
                .is_some_and(|pack| pack.referenced.contains(&doc.sha256))
            {
                return Ok(Published::AlreadyPresent);
            }
            let sha256 = doc.sha256;
            let (dir, name) = doc.location()?;
            Ok(match self.local.publish_document(dir, name, &sha256)?.0 {
                true => Published::Stored,
                false => Published::AlreadyPresent,
            })
        };
        let mut committed = Vec::with_capacity(records.len());
        for Prepared {
            manifest,
            staged,
            parts,
            ..
        } in records
        {
            // A loose record with parts goes before them, so that recovery (and audit) can
            // read from it which parts an interrupted commit may have published; one without
            // parts goes after its document, so that it never names a blob not yet in place.
            let id: RecordId = manifest.record_id.parse().expect("we made it");
            let loose = pack.is_none();
            if loose && !parts.is_empty() {
                self.local.place_record(scratch, &id)?;
            }
            let parts_first = !parts.is_empty();
            for mut part in parts {
                publish(&mut part)?;
            }
            let stored = match staged {
                Some(mut staged) => publish(&mut staged)?,
                None => Published::AlreadyPresent,
            };
            if loose && !parts_first {
                self.local.place_record(scratch, &id)?;
            }
            committed.push(Committed { manifest, stored });
        }
        self.local.sync()?;
        Ok(committed)
    }

    /// Step 5's checkpoint: the new tree, committing to every key record so far (FORMAT.md
    /// 9.5, 9.8), signed as a C2SP note.
    fn next_checkpoint(
        &self,
        key: &SecretKey,
        base: &CommitBase,
        new_key_lines: &str,
        log: &LogLines,
    ) -> Result<String> {
        let all_key_lines = format!("{}{new_key_lines}", base.key_lines);
        let body = Checkpoint {
            origin: self.config.origin.clone(),
            size: log.new_size,
            root: log.root,
            extensions: crate::trust::statement::commitment_line(&all_key_lines)
                .into_iter()
                .collect(),
        }
        .to_text();
        note::sign_note(&body, &self.config.origin, key)
            .map_err(|e| Error::archive(format!("cannot sign the checkpoint: {e}")))
    }

    /// Write the pack of one commit group into scratch: every record's small documents (those
    /// not already stored as blob files of their own) and its manifest and signature.
    fn write_pack(&self, scratch: &Scratch, prepared: &[Prepared]) -> Result<StagedPack> {
        use crate::core::pack::{Kind, PackWriter, Reference};
        let sdir = scratch.dir();
        let staged_name = dir::unique_name("pack-");
        let path = sdir.join(&staged_name);
        let file = sdir.create_new(&staged_name, 0o644).at("create", &path)?;
        let mut w = PackWriter::new(std::io::BufWriter::new(file));
        let mut documents = HashSet::new();
        let mut referenced = HashSet::new();
        let pack_err =
            |e: crate::core::pack::PackError| Error::archive(format!("{}: {e}", path.display()));
        // A document another pack holds is referred to, not stored again.
        let refer =
            |w: &mut PackWriter<_>, sha: Sha256, (pack, e): (Sha256, crate::core::pack::Entry)| {
                debug_assert_eq!(e.kind, Kind::Document);
                let to = Reference {
                    pack,
                    offset: e.offset,
                    len: e.len,
                };
                w.add_reference(sha, &to).map_err(pack_err)
            };
        // Everything this group stages is stored by it (in the pack, or as a blob file in step
        // 4), so only documents it cites without staging them need looking for.
        let staged_here: HashSet<Sha256> = prepared
            .iter()
            .flat_map(|p| p.staged.iter().chain(&p.parts).map(|d| d.sha256))
            .collect();
        for Prepared {
            manifest,
            staged,
            parts,
            bytes,
            signature,
        } in prepared
        {
            for doc in staged.iter().chain(parts) {
                let sha = doc.sha256;
                if documents.contains(&sha)
                    || referenced.contains(&sha)
                    || doc.stored_size >= PACK_BLOBS_BELOW
                    || self.local.document_exists(&sha)?
                {
                    continue;
                }
                // Only a copy still there: what this process learnt may have been rolled back
                // by another writer since (recovery above ran under the lock, so a pack that
                // exists now is committed).
                if let Some(known) = self.locate_known(&sha) {
                    let at = match known.1.kind {
                        Kind::Reference => self.follow(&known.0, &known.1).ok(),
                        _ => Some(known),
                    };
                    match at {
                        Some(at) if self.local.open_pack(&at.0)?.is_some() => {
                            refer(&mut w, sha, at)?;
                            referenced.insert(sha);
                            continue;
                        }
                        _ => self.packs.forget(&known.0),
                    }
                }
                let mut blob = doc.open()?;
                w.add_document(sha, &mut blob).map_err(pack_err)?;
                documents.insert(sha);
            }
            // What the record cites without a staged copy (a check of an unchanged page cites
            // the document of an earlier record) is referred to where it is.
            let cited = manifest.cited()?;
            for sha in cited {
                if staged_here.contains(&sha)
                    || documents.contains(&sha)
                    || referenced.contains(&sha)
                    || self.local.document_exists(&sha)?
                {
                    continue;
                }
                if let Some(at) = self.locate_packed(&sha)? {
                    refer(&mut w, sha, at)?;
                    referenced.insert(sha);
                }
            }
            let id: RecordId = manifest.record_id.parse().expect("we made it");
            w.add_record(id, bytes, signature).map_err(pack_err)?;
        }
        let (buffered, sha256, footer) = w.finish().map_err(pack_err)?;
        buffered
            .into_inner()
            .map_err(|e| Error::io("write", &path, e.into_error()))?;
        Ok(StagedPack {
            staged_name,
            sha256,
            documents,
            referenced,
            footer,
        })
    }

    /// The committed stored hashes, for proofs. Reads O(log n) of them per proof.
    fn with_hashes<T>(
        &self,
        size: u64,
        f: impl FnOnce(&StoredHashes) -> Result<T, merkle::ProofError>,
    ) -> Result<T> {
        let path = self.local.log_path(LogFile::Hashes);
        let file = self.local.open_log(LogFile::Hashes)?;
        let reader = StoredHashes {
            file: file.as_ref(),
            on_disk: merkle::stored_hash_count(size),
            pending: &[],
        };
        f(&reader).map_err(|e| {
            Error::verification(format!("{}: {e}", path.display()))
                .hint("run `exhibit audit` to find what is damaged")
        })
    }

    /// The bytes of a C2SP tlog tile of the tree of `size` leaves (FORMAT.md 9.5): its hashes
    /// read from `log/hashes`; `None` if that tree does not hold the whole tile.
    pub fn tile(&self, tile: &crate::log::tiles::Tile, size: u64) -> Result<Option<Vec<u8>>> {
        if !tile.within(size) {
            return Ok(None);
        }
        let hashes = self.with_hashes(size, |r| r.read_hashes(&tile.stored_indexes()))?;
        Ok(Some(hashes.concat()))
    }

    /// Whether `log/hashes` up to the tree of `size` leaves hashes up to `root` (tiles published
    /// from it then prove what the checkpoint signs); `Err` says where it does not.
    pub fn check_stored_hashes(&self, size: u64, root: &merkle::Hash) -> Result<()> {
        let path = self.local.log_path(LogFile::Hashes);
        let file = self.local.open_log(LogFile::Hashes)?.ok_or_else(|| {
            Error::verification(format!("{} is missing", path.display()))
                .hint("run `exhibit audit` to find what is damaged")
        })?;
        crate::log::tiles::check_stored(std::io::BufReader::new(file), size, root).map_err(|why| {
            Error::verification(format!("{}: {why}", path.display()))
                .hint("run `exhibit audit` to find what is damaged")
        })
    }

    /// Open `log/hashes` for a sequential read (audit).
    pub fn open_hashes(&self) -> Result<Option<File>> {
        self.local.open_log(LogFile::Hashes)
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<merkle::Hash>> {
        self.with_hashes(size, |r| merkle::prove_inclusion(size, index, r))
    }

    /// RFC 9162 consistency proof from the tree of `old` leaves to the tree of `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<merkle::Hash>> {
        self.with_hashes(new, |r| merkle::prove_consistency(new, old, r))
    }

    /// Root of the tree of the first `size` leaves, from the stored hashes.
    pub fn tree_root(&self, size: u64) -> Result<merkle::Hash> {
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        self.with_hashes(size, |r| merkle::tree_hash(size, r))
    }

    /// Find the manifest bytes and signature of a record.
    pub fn load_record(&self, id: &RecordId) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        match self.layout {
            Layout::Loose => self.local.read_record(id),
            Layout::Packed => self.load_packed_record(id),
        }
    }

    /// The manifest of a committed record, parsed, for display. Verification is verify.rs's job.
    pub fn manifest(&self, id: &RecordId) -> Result<Manifest> {
        let (bytes, _) = self
            .load_record(id)?
            .ok_or_else(|| no_such_record(id, self.root()))?;
        Manifest::parse(&bytes)
    }

    // ----- documents ------------------------------------------------------------------------

    /// Where a document is stored, for messages.
    pub fn document_path(&self, sha256: &Sha256) -> PathBuf {
        self.local.document_path(sha256)
    }

    /// Decompress a document into `out`, checking every stored byte and the content hash.
    pub fn read_document(
        &self,
        sha256: &Sha256,
        out: &mut dyn Write,
    ) -> Result<DocumentCheck, BlobError> {
        self.read_document_in(&mut local::ShardCache::default(), sha256, out)
    }

    /// [`Archive::read_document`] through a worker's [`local::ShardCache`].
    pub fn read_document_in(
        &self,
        cache: &mut local::ShardCache,
        sha256: &Sha256,
        out: &mut dyn Write,
    ) -> Result<DocumentCheck, BlobError> {
        if self.layout == Layout::Packed {
            if let Some(packed) = self.read_packed_document(sha256, out) {
                return packed;
            }
        }
        let path = self.local.document_path(sha256);
        let file = match self.local.open_document_in(cache, sha256) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(BlobError::Missing(sha256.to_string())),
            Err(e) => return Err(BlobError::Malformed { path, why: e.what }),
        };
        let check = crate::store::read_blob_file(file, &path, out)?;
        if check.sha256 != *sha256 {
            return Err(BlobError::WrongContent {
                path,
                expected: sha256.to_string(),
                actual: check.sha256.to_string(),
            });
        }
        Ok(check)
    }
}

impl crate::trust::Source for Archive {
    fn key_event_lines(&self, size: u64) -> Result<String> {
        let Some(bytes) = self.local.read_log(LogFile::Keys)? else {
            return Ok(String::new());
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::verification(format!(
                "{}: not UTF-8 text",
                self.local.log_path(LogFile::Keys).display()
            ))
            .hint("run `exhibit audit`")
        })?;
        Ok(crate::trust::statement::committed_lines(&text, size))
    }

    fn key_record(
        &self,
        index: u64,
        id: &RecordId,
    ) -> Result<Option<crate::trust::KeyRecordBytes>> {
        // By position: a packed archive finds it without the ID's arithmetic, so a damaged
        // exhibit.json (whose origin keys that arithmetic) cannot hide the key records.
        let record = match self.layout {
            Layout::Loose => self.load_record(id)?,
            Layout::Packed => {
                match self.packed_record_at(&mut local::ShardCache::default(), index, id) {
                    (Ok(Some(m)), Ok(Some(s)), _) => Some((m, s)),
                    (Ok(_), Ok(_), _) => None,
                    (Err(e), _, _) | (_, Err(e), _) => return Err(e),
                }
            }
        };
        let Some((bytes, sig)) = record else {
            return Ok(None);
        };
        let m = Manifest::parse(&bytes)?;
        self.key_record_in_log(id, &m, &bytes)?;
        // Opening first surfaces an unsafe archive (a link in place of a directory) as the
        // archive problem it is, not as a bad record.
        let sha256 = Sha256::checked(&m.document.sha256)?;
        self.local.open_document(&sha256)?;
        let mut doc = Vec::new();
        self.read_document(&sha256, &mut doc)?;
        Ok(Some(crate::trust::KeyRecordBytes {
            manifest: bytes,
            signature: sig,
            document: doc,
        }))
    }

    fn stored_keys(&self) -> Result<Vec<PublicKey>> {
        Ok(self.stored_keys()?.into_iter().map(|k| k.key).collect())
    }
}

impl Archive {
    /// A key record decides which keys count, so its bytes must be the ones the signed log
    /// holds: its manifest's leaf hash is in the tree of the checkpoint at its index (its
    /// document is checked against the manifest when it is read). Without this, a flipped bit in a compromise
    /// record's signature (no key needed) would make the record not count, and revive the key.
    fn key_record_in_log(&self, id: &RecordId, m: &Manifest, bytes: &[u8]) -> Result<()> {
        let damaged = |why: String| {
            Error::verification(format!(
                "key record {id} (log index {}) {why}: the key records cannot be relied on",
                m.log_index
            ))
            .hint("run `exhibit audit`; restore the archive from a copy you trust")
        };
        let Some((_, cp)) = self.checkpoint()? else {
            return Err(damaged("has no checkpoint over it".into()));
        };
        if m.log_index >= cp.size {
            return Err(damaged(format!(
                "is beyond the checkpoint's {} records",
                cp.size
            )));
        }
        let proof = self.inclusion_proof(m.log_index, cp.size)?;
        merkle::check_inclusion(
            &proof,
            cp.size,
            &cp.root,
            m.log_index,
            &merkle::leaf_hash(bytes),
        )
        .map_err(|e| {
            damaged(format!(
                "is not in the log the checkpoint signs: its inclusion proof fails ({e})"
            ))
        })
    }
}

fn no_archive(root: &Path) -> Error {
    Error::archive(format!("no exhibit archive at {}", root.display())).hint(
        "create one with `exhibit init`, or point --archive / EXHIBIT_ARCHIVE at an existing archive",
    )
}

/// The directory a new archive at `root` is built beside (opened without following links),
/// and the archive's own name in it.
fn staging_parent(root: &Path) -> Result<(dir::Dir, String)> {
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| *n != ".." && *n != ".")
        .ok_or_else(|| {
            Error::usage(format!("{} cannot be an archive directory", root.display()))
                .hint("name a directory, e.g. --archive ./archive")
        })?
        .to_string();
    let parent_path = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::fsutil::create_dir_all(&parent_path)?;
    let parent = local::Local::open(&parent_path)?;
    let dir = parent.root().try_clone().at("open", &parent_path)?;
    Ok((dir, name))
}

/// The kinds of staging directory a new archive named `name` is built in, beside it:
/// `.<name>.init-<pid>-<16 hex digits>` and `.<name>.migrate-<pid>-<16 hex digits>`
/// ([`dir::unique_name`]). The PID of the process that made it, if `entry` is one.
fn staging_pid(entry: &str, name: &str) -> Option<i32> {
    ["init", "migrate"].iter().find_map(|kind| {
        let rest = entry.strip_prefix(&format!(".{name}.{kind}-"))?;
        let (pid, hex) = rest.split_once('-')?;
        let ok = !pid.is_empty()
            && pid.len() <= 10
            && pid.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == 16
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| pid.parse().ok()).flatten().filter(|p| *p > 0)
    })
}

/// Create a staging directory for a new archive in `parent`, locked (see
/// [`remove_stale_staging`]) and registered for removal if the process is interrupted.
pub(crate) fn create_staging(
    parent: &dir::Dir,
    staging_name: &str,
) -> Result<(dir::Dir, crate::core::interrupt::Registration)> {
    let path = parent.join(staging_name);
    let (staging, registration) = crate::core::interrupt::track(
        || {
            let d = parent.sub_create(staging_name)?;
            d.lock_exclusive()?;
            Ok::<_, std::io::Error>(d)
        },
        |_| path.clone(),
    )
    .at("create directory", &path)?
    .into_parts();
    Ok((staging, registration))
}

/// Remove what interrupted `init`s and `migrate`s of the archive `name` left in `parent`: a
/// SIGKILL or a crash, which no handler sees (Ctrl-C, SIGTERM and SIGHUP clean up at once,
/// core/interrupt.rs). Only a directory that is provably such a remain goes: its name is one of
/// [`staging_pid`]'s, it is a directory (not a link), the process its name gives is gone, and
/// the lock that process held on it for as long as it ran ([`create_staging`]) is free. Anything
/// else, a staging directory still being built included, is left alone; so are errors (a
/// directory that cannot be removed is simply still there). Returns how many went.
pub(crate) fn remove_stale_staging(parent: &dir::Dir, name: &str) -> usize {
    let Ok(entries) = parent.entries() else {
        return 0;
    };
    let mut removed = 0;
    for e in entries {
        let Some(entry) = e.name.to_str() else {
            continue;
        };
        let Some(pid) = staging_pid(entry, name) else {
            continue;
        };
        if e.kind != dir::EntryKind::Dir || process_exists(pid) {
            continue;
        }
        let Ok(Some(d)) = parent.sub(entry) else {
            continue;
        };
        if d.try_lock_exclusive().unwrap_or(false) && parent.remove_tree(entry).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether a process with this PID exists (also one of another user's: EPERM).
fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Build a new archive beside `root` and rename it into place. Returns false if another
/// process created the archive first (ours is then thrown away).
fn create(root: &Path, origin: &str, secret: &SecretKey, layout: Layout) -> Result<bool> {
    let (parent_dir, name) = staging_parent(root)?;
    let parent = &parent_dir;
    let parent_path = parent.path().to_path_buf();
    match parent.meta(&name).at("inspect", root)? {
        None => {}
        Some(m) if m.kind == dir::EntryKind::Dir => {
            let d = parent.sub(&name).at("open", root)?.expect("exists");
            if d.meta(CONFIG_FILE).at("inspect", root)?.is_some() {
                // Another process created it since we looked.
                return Ok(false);
            }
            if !d.entries().at("list", root)?.is_empty() {
                return Err(Error::usage(format!(
                    "{} exists, is not empty and is not an exhibit archive",
                    root.display()
                ))
                .hint("choose a new or empty directory for the archive"));
            }
        }
        Some(_) => {
            return Err(
                Error::usage(format!("{} exists and is not a directory", root.display()))
                    .hint("choose a new or empty directory for the archive"),
            )
        }
    }
    remove_stale_staging(parent, &name);
    let staging_name = dir::unique_name(&format!(".{name}.init-"));
    // Removed if the process is interrupted before it is renamed into place (core/interrupt.rs).
    let (staging, registration) = create_staging(parent, &staging_name)?;
    let cleanup = |parent: &dir::Dir| {
        let _ = parent.remove_tree(&staging_name);
    };
    let built = (|| {
        match layout {
            Layout::Loose => local::make_layout(&staging)?,
            Layout::Packed => local::make_packed_layout(&staging)?,
        }
        let local = Local::from_dir(staging.try_clone().at("open", staging.path())?);
        let config = ArchiveConfig {
            format: layout.format().into(),
            origin: origin.to_string(),
        };
        let scratch = local.scratch()?;
        let key = secret.verifying_key();
        local.write_key(
            &scratch,
            &keys::key_id(&key),
            keys::public_pem(&key).as_bytes(),
        )?;
        let empty = Checkpoint {
            origin: origin.to_string(),
            size: 0,
            root: merkle::empty_root(),
            extensions: Vec::new(),
        }
        .to_text();
        let signed = note::sign_note(&empty, origin, secret)
            .map_err(|e| Error::archive(format!("cannot sign the first checkpoint: {e}")))?;
        local.write_log(&scratch, LogFile::Checkpoint, signed.as_bytes())?;
        local.write_config(&scratch, &config.to_bytes())?;
        // Its first record adds its own key: from then on the log alone says which key founded
        // the archive, and every other key is added by a key record signed by a trusted key.
        let archive = Archive::assemble(local, config, layout);
        let st = crate::trust::Statement::added(&key, &manifest::now(), None);
        let draft = key_draft(&scratch, &st)?;
        archive.commit(secret, &scratch, vec![draft])?;
        drop(scratch);
        archive.local.sync()
    })();
    if let Err(e) = built {
        cleanup(parent);
        return Err(e);
    }
    let renamed = registration.settle(|| {
        let renamed = parent.rename(&staging_name, parent, &name);
        if renamed.is_err() {
            cleanup(parent);
        }
        renamed
    });
    match renamed {
        Ok(()) => {
            parent.sync().at("flush directory", &parent_path)?;
            Ok(true)
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTEMPTY) | Some(libc::EEXIST) | Some(libc::EISDIR)
            ) =>
        {
            // Someone else's archive got there first: use theirs.
            Ok(false)
        }
        Err(e) => Err(local::io_error("move into place", root, e)),
    }
}

pub fn no_such_record(id: &RecordId, root: &Path) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no record {id} in the archive at {}", root.display()),
    )
    .hint("check the ID and --archive; `exhibit list` shows the records")
}

/// A key record's draft: the statement is its document, `exhibit:key/<id>` its URL.
pub fn key_draft(scratch: &Scratch, st: &crate::trust::Statement) -> Result<Draft> {
    let mut w = crate::store::DocumentWriter::create(scratch.dir(), u64::MAX)?;
    w.write_all(&st.to_bytes())
        .map_err(|e| Error::archive(format!("cannot stage the key statement: {e}")))?;
    let staged = w.finish()?;
    let url = format!("{}{}", crate::trust::statement::URL_PREFIX, st.key);
    Ok(Draft {
        method: Method::Key,
        requested_url: url.clone(),
        final_url: url,
        captured_at: st.since.clone(),
        document: DocumentFacts {
            sha256: staged.sha256.to_string(),
            size: staged.size,
            content_type: Some("application/json".into()),
            title: None,
            text_fingerprint: None,
        },
        http: None,
        warc: None,
        browser: None,
        parts: Vec::new(),
        labels: Labels {
            note: st.reason.clone(),
            ..Default::default()
        },
        change: None,
        staged: Some(staged),
    })
}

/// Everything about a new record that is known before it is signed.
pub struct Draft {
    pub staged: Option<Staged>,
    pub method: Method,
    pub requested_url: String,
    pub final_url: String,
    pub captured_at: String,
    pub document: DocumentFacts,
    pub http: Option<HttpExchange>,
    /// Manifest version 4: what an imported WARC record claimed (method `import-warc`).
    pub warc: Option<manifest::WarcClaims>,
    /// Manifest version 5: a browser capture's provenance and parts.
    pub browser: Option<Box<manifest::BrowserFacts>>,
    /// The documents the browser object names besides `staged` (bodies and attachments),
    /// published with the record. A part already stored needs no staged copy.
    pub parts: Vec<Staged>,
    pub labels: Labels,
    pub change: Option<manifest::Change>,
}

/// A signed record waiting for step 4: its manifest, documents, manifest bytes and signature.
/// What a commit starts from, read under the writers' lock.
struct CommitBase {
    /// The committed log size.
    size: u64,
    /// The committed `log/keys` lines.
    key_lines: String,
}

/// One record of a commit group: signed, its documents staged, nothing of it in the archive.
struct Prepared {
    manifest: Manifest,
    staged: Option<Staged>,
    parts: Vec<Staged>,
    /// The manifest's bytes, as signed.
    bytes: Vec<u8>,
    signature: [u8; 64],
}

/// A commit group signed ([`sign_group`]).
struct SignedGroup {
    records: Vec<Prepared>,
    /// The `log/keys` lines of the group's key records.
    key_lines: String,
}

/// What a commit group adds to the log.
struct LogLines {
    /// `log/leaves` lines.
    leaves: String,
    /// Stored hashes appended to `log/hashes`.
    hashes: Vec<merkle::Hash>,
    new_size: u64,
    /// The root of the tree of `new_size` leaves.
    root: merkle::Hash,
}

/// Sign the drafts as the records at log positions `size..`, with the given IDs: the pure part
/// of a commit (no storage is read or written; only the clock is read, for `signed_at`).
fn sign_group(
    key: &SecretKey,
    signer: &str,
    size: u64,
    drafts: Vec<Draft>,
    ids: Vec<RecordId>,
) -> Result<SignedGroup> {
    let signed_at = manifest::now();
    let mut key_lines = String::new();
    let mut records = Vec::with_capacity(drafts.len());
    for (i, (draft, record_id)) in drafts.into_iter().zip(ids).enumerate() {
        let index = size + i as u64;
        let manifest = Manifest {
            format: manifest::format_for(
                draft.method,
                draft.browser.is_some() || draft.http.as_ref().is_some_and(|h| !h.tls.is_empty()),
            )
            .into(),
            record_id: record_id.to_string(),
            log_index: index,
            method: draft.method,
            requested_url: draft.requested_url,
            final_url: draft.final_url,
            captured_at: draft.captured_at,
            signed_at: signed_at.clone(),
            document: draft.document,
            http: draft.http,
            warc: draft.warc,
            browser: draft.browser,
            labels: draft.labels,
            change: draft.change,
            tool: Tool::this(),
            signer: signer.to_string(),
        };
        // The last word on what gets signed, whoever built the draft: a manifest that breaks
        // its format's validity rules (a URL with credentials, say) is never signed. The
        // message names the rule, never the offending URL.
        manifest.check().map_err(|e| {
            Error::usage(format!("refusing to sign a record: {}", e.what))
                .hint("nothing was stored; this is a bug in whatever built the record")
        })?;
        let bytes = manifest.to_bytes();
        let signature = keys::sign(key, &bytes);
        if manifest.method == Method::Key {
            let about = manifest
                .requested_url
                .strip_prefix(crate::trust::statement::URL_PREFIX)
                .unwrap_or_default()
                .to_string();
            key_lines.push_str(
                &crate::trust::KeyEventLine {
                    index,
                    record_id: record_id.to_string(),
                    key: about,
                }
                .to_line(),
            );
        }
        records.push(Prepared {
            manifest,
            staged: draft.staged,
            parts: draft.parts,
            bytes,
            signature,
        });
    }
    Ok(SignedGroup { records, key_lines })
}

/// A commit group's pack in scratch, and which documents it holds.
struct StagedPack {
    staged_name: String,
    sha256: Sha256,
    /// Stored in the pack.
    documents: HashSet<Sha256>,
    /// Referred to in another pack.
    referenced: HashSet<Sha256>,
    footer: crate::core::pack::Footer,
}

impl StagedPack {
    /// Whether the pack stores the document or refers to where another pack does.
    fn holds(&self, sha256: &Sha256) -> bool {
        self.documents.contains(sha256) || self.referenced.contains(sha256)
    }
}

#[derive(Debug, Clone)]
pub struct Committed {
    pub manifest: Manifest,
    pub stored: Published,
}

fn validate_origin(o: &str) -> Result<String> {
    let ok = !o.is_empty()
        && o.len() <= 255
        && o.chars().all(|c| c.is_ascii_graphic() && c != '+')
        && !o.starts_with('-');
    if ok {
        Ok(o.to_string())
    } else {
        Err(
            Error::usage(format!("invalid origin {}", crate::terminal::shown(o)))
                .hint("use printable ASCII without spaces or '+', e.g. example.org/evidence"),
        )
    }
}

fn default_origin() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b)
        .map_err(|e| Error::archive(format!("the operating system gave no random bytes: {e}")))?;
    Ok(format!("exhibit.local/{}", hex::encode(b)))
}

#[cfg(test)]
mod staging_tests {
    use super::*;

    #[test]
    fn only_the_names_init_and_migrate_give_their_staging_are_theirs() {
        let name = dir::unique_name(".archive.init-");
        assert_eq!(
            staging_pid(&name, "archive"),
            Some(std::process::id() as i32)
        );
        let m = ".my-archive.migrate-42-0123456789abcdef";
        assert_eq!(staging_pid(m, "my-archive"), Some(42));
        for other in [
            ".my-archive.migrate-42-0123456789abcde",
            ".my-archive.migrate-42-0123456789ABCDEF",
            ".my-archive.migrate--0123456789abcdef",
            ".my-archive.migrate-0-0123456789abcdef",
            ".my-archive.copy-42-0123456789abcdef",
            ".other.migrate-42-0123456789abcdef",
            "my-archive.migrate-42-0123456789abcdef",
        ] {
            assert_eq!(staging_pid(other, "my-archive"), None, "{other}");
        }
        // Another archive whose name extends this one's is not this one's.
        assert_eq!(
            staging_pid(".archive.init-x.init-42-0123456789abcdef", "archive"),
            None
        );
    }
}
