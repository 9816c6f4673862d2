//! An archive on disk and the one way records get into it.
//!
//! Layout (docs/FORMAT.md):
//! ```text
//! exhibit.json              archive metadata: format version and log origin
//! keys/<key id>.pem         trusted public keys (SPKI PEM)
//! documents/<aa>/<sha>.zst  the document store (store.rs)
//! records/<ss>/<ID>.json    manifests; <ID>.sig is the raw 64-byte Ed25519 signature
//! log/leaves, log/hashes, log/checkpoint   the Merkle log (log/mod.rs)
//! lock                      empty; writers hold an exclusive lock on it while committing
//! tmp/                      scratch space of writers, never data
//! ```
//!
//! Commit protocol, under the lock, for a batch of staged documents:
//! 1. recover: roll back the remains of any interrupted commit (log tail beyond the checkpoint);
//! 2. write manifests and signatures to scratch; flush (documents were staged there already);
//! 3. append the leaves and stored hashes to the log; flush: this is the intent record that lets
//!    step 1 find everything an interrupted commit may have moved into place;
//! 4. move documents and records into place; flush;
//! 5. write the new signed checkpoint (scratch, flush, rename): the commit point.
//!
//! A crash before 5 leaves a log tail that audit reports as an interrupted write (a warning) and
//! that the next writer rolls back; a crash after 5 leaves a complete record. Nothing printed to
//! the user refers to a record before its checkpoint is durable.

use crate::error::{Error, IoContext, Kind, Result};
use crate::fsutil;
use crate::keys::{self, PublicKey, SecretKey};
use crate::log::{self, merkle, LeafEntry, StoredHashes, LEAF_LINE};
use crate::manifest::{self, DocumentFacts, HttpExchange, Labels, Manifest, Method, Tool};
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::store::{DocumentStore, LocalStore, Published, Staged};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "exhibit.json";
pub const ARCHIVE_FORMAT: &str = "exhibit-archive/1";

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
    root: PathBuf,
    pub config: ArchiveConfig,
    store: LocalStore,
}

/// A trusted public key as found in `keys/`.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: String,
    pub key: PublicKey,
    pub path: PathBuf,
}

impl Archive {
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn store(&self) -> &dyn DocumentStore {
        &self.store
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }
    pub fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }
    pub fn documents_dir(&self) -> PathBuf {
        self.root.join("documents")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn leaves_path(&self) -> PathBuf {
        self.log_dir().join("leaves")
    }
    pub fn hashes_path(&self) -> PathBuf {
        self.log_dir().join("hashes")
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.log_dir().join("checkpoint")
    }
    pub fn key_events_path(&self) -> PathBuf {
        self.log_dir().join("keys")
    }

    /// Key events (`log/keys`) of the committed log, in order.
    pub fn key_events(&self, size: u64) -> Result<Vec<crate::keystatus::KeyEvent>> {
        let path = self.key_events_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let events = crate::keystatus::KeyEvent::parse_file(&text).map_err(|e| {
            Error::verification(format!("{}: {e}", path.display())).hint("run `exhibit audit`")
        })?;
        Ok(events.into_iter().filter(|e| e.index < size).collect())
    }

    /// The current status of every retired or compromised key: each key record named by
    /// `log/keys` is checked (signature under `trust`, in the log, statement well formed).
    pub fn key_statuses(
        &self,
        trust: &crate::verify::TrustRoot,
    ) -> Result<crate::keystatus::KeyStatuses> {
        use crate::keystatus::{KeyStatus, Statement};
        let size = self.log_size()?;
        let mut out = crate::keystatus::KeyStatuses::new();
        // Judge each event by the keys trusted before it: a status cannot be set by a key that
        // was itself already compromised.
        let plain = crate::verify::TrustRoot {
            keys: trust.keys.clone(),
            pinned: trust.pinned,
            statuses: HashMap::new(),
        };
        for event in self.key_events(size)? {
            let bad = |why: String| {
                Error::key(format!(
                    "key event at log index {} cannot be trusted: {why}",
                    event.index
                ))
                .hint("run `exhibit audit` to find what is damaged")
            };
            let id: RecordId = event
                .record_id
                .parse()
                .map_err(|_| bad("malformed record ID".into()))?;
            let (bytes, sig) = self
                .load_record(&id)?
                .ok_or_else(|| bad("its record is missing".into()))?;
            let mut judge = plain.clone();
            judge.statuses = out.clone();
            let (m, verdict) = crate::verify::check_signed(&bytes, &sig, &judge);
            verdict.map_err(bad)?;
            let m = m.expect("verified manifests parse");
            if m.log_index != event.index || self.leaf(event.index)?.record_id != id {
                return Err(bad("it is not at that position in the log".into()));
            }
            let mut doc = Vec::new();
            self.store
                .read_verified(&m.document.sha256, &mut doc)
                .map_err(|e| bad(e.to_string()))?;
            let st = Statement::parse(&doc).map_err(bad)?;
            crate::keystatus::check_record(&m, &st).map_err(bad)?;
            if st.key != event.key {
                return Err(bad("log/keys names another key".into()));
            }
            let since = st.since.parse().expect("checked by Statement::parse");
            out.entry(st.key.clone()).or_default().push(KeyStatus {
                kind: st.status,
                since,
                event_index: event.index,
                event_record: event.record_id.clone(),
            });
        }
        Ok(out)
    }

    /// `records/<shard>/<ID>.json` and `.sig`.
    pub fn record_paths(&self, id: &RecordId) -> (PathBuf, PathBuf) {
        let dir = self.records_dir().join(id.shard());
        (
            dir.join(format!("{id}.json")),
            dir.join(format!("{id}.sig")),
        )
    }

    pub fn exists(root: &Path) -> bool {
        root.join(CONFIG_FILE).is_file()
    }

    pub fn open(root: &Path) -> Result<Archive> {
        let path = root.join(CONFIG_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::archive(format!("no exhibit archive at {}", root.display()))
                    .hint("create one with `exhibit init`, or point --archive / EXHIBIT_ARCHIVE at an existing archive"));
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let config: ArchiveConfig = serde_json::from_slice(&bytes).map_err(|e| {
            Error::archive(format!("{} is malformed: {e}", path.display()))
                .hint("restore it from a backup of the archive")
        })?;
        if config.format != ARCHIVE_FORMAT {
            return Err(Error::archive(format!(
                "{} has format {:?}; this exhibit reads {ARCHIVE_FORMAT:?}",
                path.display(),
                config.format
            ))
            .hint("use the exhibit version that wrote this archive"));
        }
        Ok(Archive {
            root: root.to_path_buf(),
            store: LocalStore::new(root.join("documents")),
            config,
        })
    }

    /// Open an archive whose metadata may be damaged, for audit: audit must report a damaged
    /// `exhibit.json` rather than refuse to look at the rest. The origin then comes from the
    /// checkpoint, and audit's canonical-form check names the file.
    pub fn open_for_audit(root: &Path) -> Result<Archive> {
        match Archive::open(root) {
            Ok(a) => Ok(a),
            Err(e) if root.join(CONFIG_FILE).is_file() => {
                let checkpoint =
                    fs::read_to_string(root.join("log").join("checkpoint")).unwrap_or_default();
                let origin = checkpoint.lines().next().unwrap_or_default().to_string();
                if origin.is_empty() {
                    return Err(e);
                }
                Ok(Archive {
                    root: root.to_path_buf(),
                    store: LocalStore::new(root.join("documents")),
                    config: ArchiveConfig {
                        format: ARCHIVE_FORMAT.into(),
                        origin,
                    },
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Create the archive if needed (idempotent) and trust `key`. Returns whether the archive was
    /// created and whether the key was newly trusted.
    ///
    /// A new archive starts with a signed checkpoint of the empty tree, so that from the first
    /// moment a missing checkpoint means damage, never "nothing committed yet": otherwise a crash
    /// in the first commit would look like, and deleting the checkpoint could pass as, an
    /// interrupted write.
    pub fn init(
        root: &Path,
        origin: Option<&str>,
        secret: &SecretKey,
    ) -> Result<(Archive, bool, bool)> {
        let key = &secret.verifying_key();
        let created = !Archive::exists(root);
        if created {
            for dir in ["", "keys", "documents", "records", "log", "tmp"] {
                fsutil::create_dir_all(&root.join(dir))?;
            }
            let origin = match origin {
                Some(o) => validate_origin(o)?,
                None => default_origin()?,
            };
            let config = ArchiveConfig {
                format: ARCHIVE_FORMAT.into(),
                origin,
            };
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join("lock"))
                .ctx("create", &root.join("lock"))?;
            let unopened = Archive {
                root: root.to_path_buf(),
                store: LocalStore::new(root.join("documents")),
                config: config.clone(),
            };
            unopened.trust_key(key)?;
            let scratch = unopened.scratch()?;
            let empty = Checkpoint {
                origin: config.origin.clone(),
                size: 0,
                root: merkle::empty_root(),
                extensions: Vec::new(),
            }
            .to_text();
            let signed = note::sign_note(&empty, &config.origin, secret)
                .map_err(|e| Error::archive(format!("cannot sign the first checkpoint: {e}")))?;
            fsutil::write_atomic(
                scratch.path(),
                &unopened.checkpoint_path(),
                signed.as_bytes(),
                0o644,
            )?;
            // The config file is what makes a directory an archive, so it is written last.
            fsutil::write_atomic(
                scratch.path(),
                &root.join(CONFIG_FILE),
                &config.to_bytes(),
                0o644,
            )?;
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
        let added = archive.trust_key(key)?;
        Ok((archive, created, added))
    }

    /// Add a public key to `keys/`. Returns false if it was already there.
    pub fn trust_key(&self, key: &PublicKey) -> Result<bool> {
        let path = self.keys_dir().join(format!("{}.pem", keys::key_id(key)));
        if path.exists() {
            return Ok(false);
        }
        fsutil::create_dir_all(&self.keys_dir())?;
        // Through this process's locked scratch directory: a bare file in tmp/ could be taken
        // for an abandoned one and removed by a concurrent writer.
        let scratch = self.scratch()?;
        fsutil::write_atomic(
            scratch.path(),
            &path,
            keys::public_pem(key).as_bytes(),
            0o644,
        )?;
        Ok(true)
    }

    /// The keys this archive trusts. A key file that does not parse is an error, never skipped.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>> {
        self.read_keys(false)
    }

    /// For audit, which reports damaged key files itself and must still check everything else:
    /// key files that do not parse, or whose name is not their key ID, are left out.
    pub fn trusted_keys_for_audit(&self) -> Result<Vec<TrustedKey>> {
        self.read_keys(true)
    }

    fn read_keys(&self, lenient: bool) -> Result<Vec<TrustedKey>> {
        let dir = self.keys_dir();
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        for entry in entries {
            let path = entry.ctx("list", &dir)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pem") {
                continue;
            }
            let key = match keys::read_public(&path) {
                Ok(k) => k,
                Err(_) if lenient => continue,
                Err(e) => return Err(e),
            };
            if lenient
                && path.file_stem().and_then(|s| s.to_str()) != Some(keys::key_id(&key).as_str())
            {
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

    /// A private scratch directory for this process, on the archive's filesystem so renames are
    /// atomic. It holds an exclusive lock on its `owner.lock` for as long as it lives, which is how
    /// the next writer tells an abandoned scratch directory from a busy one.
    pub fn scratch(&self) -> Result<Scratch> {
        let tmp = self.tmp_dir();
        fsutil::create_dir_all(&tmp)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("w{}-", std::process::id()))
            .tempdir_in(&tmp)
            .ctx("create a scratch directory in", &tmp)?;
        let lock_path = dir.path().join("owner.lock");
        let lock = File::create(&lock_path).ctx("create", &lock_path)?;
        lock.lock().ctx("lock", &lock_path)?;
        Ok(Scratch { dir, _lock: lock })
    }

    /// Remove scratch directories whose owner is gone.
    fn clean_scratch(&self) -> Result<usize> {
        let tmp = self.tmp_dir();
        let mut removed = 0;
        let entries = match fs::read_dir(&tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("list", &tmp, e)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let owner = path.join("owner.lock");
                let abandoned = match File::open(&owner) {
                    Ok(f) => f.try_lock().is_ok(),
                    // A directory without its lock file was cut short while being created.
                    Err(_) => true,
                };
                if abandoned {
                    let _ = fs::remove_dir_all(&path);
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn lock(&self) -> Result<File> {
        let path = self.lock_path();
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ctx("open", &path)?;
        f.lock().ctx("lock", &path)?;
        Ok(f)
    }

    /// The latest checkpoint: its signed note text and parsed body. None for an empty log.
    pub fn checkpoint(&self) -> Result<Option<(String, Checkpoint)>> {
        let path = self.checkpoint_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let parsed = note::parse_note(&text)
            .and_then(|n| Checkpoint::parse(&n.text))
            .map_err(|e| {
                Error::verification(format!("{}: {e}", path.display()))
                    .hint("restore log/checkpoint from a backup, then run `exhibit audit`")
            })?;
        Ok(Some((text, parsed)))
    }

    /// The committed tree size (0 for an empty log).
    pub fn log_size(&self) -> Result<u64> {
        Ok(self.checkpoint()?.map_or(0, |(_, c)| c.size))
    }

    pub fn leaf(&self, index: u64) -> Result<LeafEntry> {
        let mut v = log::read_leaves(&self.leaves_path(), index, index + 1)?;
        Ok(v.remove(0))
    }

    pub fn leaves(&self, size: u64) -> Result<Vec<LeafEntry>> {
        log::read_leaves(&self.leaves_path(), 0, size)
    }

    /// Roll back what an interrupted commit left beyond the checkpoint. Caller holds the lock.
    fn recover(&self, size: u64) -> Result<()> {
        let leaves_path = self.leaves_path();
        let hashes_path = self.hashes_path();
        let leaves_len = fs::metadata(&leaves_path).map(|m| m.len()).unwrap_or(0);
        let hashes_len = fs::metadata(&hashes_path).map(|m| m.len()).unwrap_or(0);
        let want_leaves = size * LEAF_LINE;
        let want_hashes = merkle::stored_hash_count(size) * 32;
        if leaves_len < want_leaves || hashes_len < want_hashes {
            return Err(Error::archive(format!(
                "the log in {} is shorter than its checkpoint ({size} records)",
                self.log_dir().display()
            ))
            .hint("run `exhibit audit` and restore the log from a backup"));
        }
        if leaves_len == want_leaves && hashes_len == want_hashes {
            // Only the key-event append of an interrupted commit may have reached the disk.
            return self.truncate_key_events(size);
        }
        let tail = uncommitted_tail(&leaves_path, size, leaves_len)?;
        if !tail.is_empty() {
            let tail_docs: HashSet<&str> = tail.iter().map(|e| e.sha256.as_str()).collect();
            let mut committed_docs = HashSet::new();
            for e in self.leaves(size)? {
                if tail_docs.contains(e.sha256.as_str()) {
                    committed_docs.insert(e.sha256);
                }
            }
            for e in &tail {
                let (json, sig) = self.record_paths(&e.record_id);
                remove_if_exists(&json)?;
                remove_if_exists(&sig)?;
                if !committed_docs.contains(&e.sha256) {
                    self.store.remove(&e.sha256)?;
                }
            }
        }
        // Key events beyond the checkpoint go with the rest of the interrupted commit.
        self.truncate_key_events(size)?;
        // The deletions must be durable before the log stops naming them, or a crash here could
        // bring back files that nothing would ever clean up.
        fsutil::sync_all(&self.root, &[&self.records_dir(), &self.documents_dir()])?;
        for (path, len) in [(&leaves_path, want_leaves), (&hashes_path, want_hashes)] {
            if let Ok(f) = OpenOptions::new().write(true).open(path) {
                f.set_len(len).ctx("truncate", path)?;
                f.sync_all().ctx("flush", path)?;
            }
        }
        Ok(())
    }

    fn truncate_key_events(&self, size: u64) -> Result<()> {
        let path = self.key_events_path();
        let Ok(text) = fs::read_to_string(&path) else {
            return Ok(());
        };
        let keep = crate::keystatus::committed_lines(&text, size);
        if keep != text {
            let scratch = self.scratch()?;
            fsutil::write_atomic(scratch.path(), &path, keep.as_bytes(), 0o644)?;
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
        let public = key.verifying_key();
        let signer = keys::key_id(&public);
        if !self.keys_dir().join(format!("{signer}.pem")).is_file() {
            return Err(Error::key(format!(
                "signing key {signer} is not trusted by the archive at {}",
                self.root.display()
            ))
            .hint("run `exhibit init` with this key to trust it, or pass the archive's own key with --key"));
        }
        let _guard = self.lock()?;
        self.clean_scratch()?;
        let size = self.log_size()?;
        self.recover(size)?;
        // A retired or compromised key signs nothing new. Statuses are read under the lock so
        // that a concurrent retirement cannot be missed.
        let trust = crate::verify::TrustRoot::from_archive(self)?;
        if let Some(status) = trust.statuses.get(&signer).and_then(|v| v.first()) {
            return Err(crate::keystatus::not_usable(&signer, status));
        }

        let hashes_path = self.hashes_path();
        let hashes_file = File::open(&hashes_path).ok();
        let on_disk = merkle::stored_hash_count(size);
        let mut new_hashes: Vec<merkle::Hash> = Vec::new();
        let mut lines = String::new();
        let mut key_lines = String::new();
        let mut batch_ids = HashSet::new();
        let mut prepared = Vec::with_capacity(drafts.len());
        let signed_at = manifest::now();

        for (i, draft) in drafts.into_iter().enumerate() {
            let index = size + i as u64;
            let record_id = loop {
                let id = RecordId::random();
                if !self.record_paths(&id).0.exists() && batch_ids.insert(id) {
                    break id;
                }
            };
            let manifest = Manifest {
                format: manifest::FORMAT.into(),
                record_id: record_id.to_string(),
                log_index: index,
                method: draft.method,
                requested_url: draft.requested_url,
                final_url: draft.final_url,
                captured_at: draft.captured_at,
                signed_at: signed_at.clone(),
                document: draft.document,
                http: draft.http,
                labels: draft.labels,
                change: draft.change,
                tool: Tool::this(),
                signer: signer.clone(),
            };
            let bytes = manifest.to_bytes();
            let signature = keys::sign(key, &bytes);
            if manifest.method == Method::Key {
                let about = manifest
                    .requested_url
                    .strip_prefix(crate::keystatus::URL_PREFIX)
                    .unwrap_or_default()
                    .to_string();
                key_lines.push_str(
                    &crate::keystatus::KeyEvent {
                        index,
                        record_id: record_id.to_string(),
                        key: about,
                    }
                    .to_line(),
                );
            }
            let tmp_json = scratch.path().join(format!("{record_id}.json"));
            let tmp_sig = scratch.path().join(format!("{record_id}.sig"));
            fs::write(&tmp_json, &bytes).ctx("write", &tmp_json)?;
            fs::write(&tmp_sig, signature).ctx("write", &tmp_sig)?;

            let leaf = merkle::leaf_hash(&bytes);
            let reader = StoredHashes {
                file: hashes_file.as_ref(),
                on_disk,
                pending: &new_hashes,
            };
            let added = merkle::stored_hashes_for_leaf(index, &leaf, &reader).map_err(|e| {
                Error::archive(format!("log/hashes: {e}")).hint("run `exhibit audit`")
            })?;
            new_hashes.extend(added);
            lines.push_str(
                &LeafEntry {
                    record_id,
                    sha256: manifest.document.sha256.clone(),
                }
                .to_line(),
            );
            prepared.push((manifest, draft.staged, tmp_json, tmp_sig));
        }
        fsutil::sync_all(&self.root, &[scratch.path()])?;

        // Step 3: the intent record.
        fsutil::create_dir_all(&self.log_dir())?;
        append(&self.leaves_path(), lines.as_bytes())?;
        append(&hashes_path, new_hashes.concat().as_slice())?;
        if !key_lines.is_empty() {
            append(&self.key_events_path(), key_lines.as_bytes())?;
        }
        fsutil::sync_all(
            &self.root,
            &[&self.leaves_path(), &hashes_path, &self.key_events_path()],
        )?;

        // Step 4: move into place.
        let mut committed = Vec::with_capacity(prepared.len());
        let mut touched_dirs = Vec::new();
        for (manifest, staged, tmp_json, tmp_sig) in prepared {
            let stored = match staged {
                Some(staged) => {
                    touched_dirs.push(
                        self.store
                            .location(&staged.sha256)
                            .parent()
                            .unwrap()
                            .to_path_buf(),
                    );
                    self.store.publish(staged)?
                }
                None => Published::AlreadyPresent,
            };
            let id: RecordId = manifest.record_id.parse().expect("we made it");
            let (json, sig) = self.record_paths(&id);
            let dir = json.parent().unwrap();
            fsutil::create_dir_all(dir)?;
            fs::rename(&tmp_sig, &sig).ctx("move into place", &sig)?;
            fs::rename(&tmp_json, &json).ctx("move into place", &json)?;
            touched_dirs.push(dir.to_path_buf());
            committed.push(Committed { manifest, stored });
        }
        let dirs: Vec<&Path> = touched_dirs.iter().map(|p| p.as_path()).collect();
        fsutil::sync_all(&self.root, &dirs)?;

        // Step 5: the commit point.
        let new_size = size + committed.len() as u64;
        let reader = StoredHashes {
            file: hashes_file.as_ref(),
            on_disk,
            pending: &new_hashes,
        };
        let root = merkle::tree_hash(new_size, &reader)
            .map_err(|e| Error::archive(format!("log/hashes: {e}")).hint("run `exhibit audit`"))?;
        let body = Checkpoint {
            origin: self.config.origin.clone(),
            size: new_size,
            root,
            extensions: Vec::new(),
        }
        .to_text();
        let signed = note::sign_note(&body, &self.config.origin, key)
            .map_err(|e| Error::archive(format!("cannot sign the checkpoint: {e}")))?;
        fsutil::write_atomic(
            scratch.path(),
            &self.checkpoint_path(),
            signed.as_bytes(),
            0o644,
        )?;
        Ok(committed)
    }

    /// The committed stored hashes, for proofs. Reads O(log n) of them per proof.
    fn with_hashes<T>(
        &self,
        size: u64,
        f: impl FnOnce(&StoredHashes) -> Result<T, merkle::ProofError>,
    ) -> Result<T> {
        let path = self.hashes_path();
        let file = File::open(&path).ctx("open", &path)?;
        let reader = StoredHashes {
            file: Some(&file),
            on_disk: merkle::stored_hash_count(size),
            pending: &[],
        };
        f(&reader).map_err(|e| {
            Error::verification(format!("log/hashes: {e}"))
                .hint("run `exhibit audit` to find what is damaged")
        })
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
        let (json, sig) = self.record_paths(id);
        let bytes = match fs::read(&json) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &json, e)),
        };
        let signature = match fs::read(&sig) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read", &sig, e)),
        };
        Ok(Some((bytes, signature)))
    }

    /// The manifest of a committed record, parsed, for display. Verification is verify.rs's job.
    pub fn manifest(&self, id: &RecordId) -> Result<Manifest> {
        let (bytes, _) = self
            .load_record(id)?
            .ok_or_else(|| no_such_record(id, &self.root))?;
        Manifest::parse(&bytes)
    }
}

pub fn no_such_record(id: &RecordId, root: &Path) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no record {id} in the archive at {}", root.display()),
    )
    .hint("check the ID and --archive; `exhibit list` shows the records")
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
    pub labels: Labels,
    pub change: Option<manifest::Change>,
}

#[derive(Debug, Clone)]
pub struct Committed {
    pub manifest: Manifest,
    pub stored: Published,
}

pub struct Scratch {
    dir: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Complete lines beyond the committed size; a torn last line is ignored (it was never
/// followed by any rename, since renames come after the intent record is flushed).
pub fn uncommitted_tail(leaves: &Path, size: u64, len: u64) -> Result<Vec<LeafEntry>> {
    let whole = (len / LEAF_LINE).saturating_sub(size);
    let lines = log::read_leaves(leaves, size, size + whole);
    // A damaged tail cannot name anything reliably; treat it as nothing to roll back by name.
    Ok(lines.unwrap_or_default())
}

fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ctx("open", path)?;
    f.write_all(bytes).ctx("append to", path)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
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
