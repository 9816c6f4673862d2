//! `exhibit migrate`: a packed (archive/2) copy of a loose (archive/1) archive.
//!
//! Nothing signed changes. The manifests, signatures, documents, key records and the log
//! (leaves, stored hashes, key-event lines, checkpoint) are carried over byte for byte; only
//! where they sit changes: manifests, signatures and small documents go into packs in log order,
//! and two files the packed layout reads by are added: `log/places` (each leaf's pack) and
//! `log/legacy-ids` (the migrated records' IDs, which are random, sorted for lookup). So every
//! record ID, every citation, every checkpoint and every proof stays valid, and `audit --since`
//! a checkpoint kept from before the migration still proves the log only grew.
//!
//! The source is read under its writers' lock and is never changed (beyond the roll-back of an
//! interrupted commit every writer does first); the copy is built beside its destination and
//! renamed into place only once it is complete and flushed. Before a byte is written, the
//! copy's tree is recomputed from the manifests themselves and must hash to the signed root.

use super::local::{self, Ctx, Local, LogFile};
use super::{dir, packs, Archive, ArchiveConfig, Layout, PACK_BLOBS_BELOW, PLACE_LINE};
use crate::core::digest::Sha256;
use crate::core::pack::{Key, Kind, PackWriter, Reference};
use crate::error::{Error, Result};
use crate::log::merkle::{self, TreeBuilder};
use crate::log::LEAF_LINE;
use crate::manifest::Manifest;
use crate::record_id::RecordId;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

/// A pack is closed after this many records or bytes, whichever comes first: packs large
/// enough that files stay few, small enough that reading one record's footer stays cheap.
const PACK_RECORDS: usize = 256;
const PACK_BYTES: u64 = 16 << 20;

/// One line of `log/legacy-ids`: a record ID, a space, its log index in 12 digits, LF.
pub const LEGACY_LINE: u64 = 31;

#[derive(Debug, Default, Clone)]
pub struct Migrated {
    pub records: u64,
    pub packs: u64,
    pub packed_documents: u64,
    pub large_documents: u64,
}

/// Write a packed copy of `src` (a loose archive) at `dest`, which must not exist yet.
pub fn migrate(src: &Archive, dest: &Path, progress: &dyn Fn(u64, u64)) -> Result<Migrated> {
    if src.layout != Layout::Loose {
        return Err(Error::usage(format!(
            "{} is already packed ({})",
            src.root().display(),
            src.config.format
        ))
        .hint("nothing to migrate; copy it with `exhibit mirror` if you need a copy"));
    }
    let (parent, name) = super::staging_parent(dest)?;
    if parent.meta(&name).at("inspect", dest)?.is_some() {
        return Err(Error::usage(format!("{} already exists", dest.display()))
            .hint("migrate writes a new archive: name a directory that does not exist yet"));
    }
    let _guard = src.local.lock()?;
    let (checkpoint_text, cp) = src.checkpoint()?.ok_or_else(|| {
        Error::archive(format!(
            "{} has no checkpoint",
            src.local.log_path(LogFile::Checkpoint).display()
        ))
        .hint("run `exhibit audit` on the archive first; nothing was written")
    })?;
    src.recover(cp.size)?;

    super::remove_stale_staging(&parent, &name);
    let staging_name = dir::unique_name(&format!(".{name}.migrate-"));
    // Removed if the process is interrupted before it is renamed into place (core/interrupt.rs).
    let (staging, registration) = super::create_staging(&parent, &staging_name)?;
    let built = (|| {
        local::make_packed_layout(&staging)?;
        let out = Local::from_dir(staging.try_clone().at("open", staging.path())?);
        let migrated = write_copy(src, &out, cp.size, &cp.root, progress)?;
        let scratch = out.scratch()?;
        for (file, _, bytes) in src.local.key_files()? {
            let id = file.strip_suffix(".pem").expect("key files end in .pem");
            out.write_key(&scratch, id, &bytes)?;
        }
        // The committed parts of the log, exactly: the tail of an interrupted write is not
        // carried (recovery above removed it anyway).
        let leaves = read_prefix(src, LogFile::Leaves, cp.size * LEAF_LINE)?;
        out.write_log(&scratch, LogFile::Leaves, &leaves)?;
        let keys = crate::trust::Source::key_event_lines(src, cp.size)?;
        if !keys.is_empty() {
            out.write_log(&scratch, LogFile::Keys, keys.as_bytes())?;
        }
        let config = ArchiveConfig {
            format: Layout::Packed.format().into(),
            origin: src.config.origin.clone(),
        };
        out.write_config(&scratch, &config.to_bytes())?;
        out.write_log(&scratch, LogFile::Checkpoint, checkpoint_text.as_bytes())?;
        drop(scratch);
        out.sync()?;
        Ok::<_, Error>(migrated)
    })();
    let migrated = match built {
        Ok(m) => m,
        Err(e) => {
            let _ = parent.remove_tree(&staging_name);
            return Err(e);
        }
    };
    let renamed = registration.settle(|| {
        let renamed = parent.rename_noreplace(&staging_name, &parent, &name);
        if !matches!(renamed, Ok(true)) {
            let _ = parent.remove_tree(&staging_name);
        }
        renamed
    });
    if !renamed.at("move into place", dest)? {
        return Err(
            Error::usage(format!("{} appeared while migrating", dest.display()))
                .hint("name a directory that does not exist yet; nothing was changed"),
        );
    }
    parent.sync().at("flush directory", dest)?;
    Ok(migrated)
}

fn read_prefix(src: &Archive, f: LogFile, len: u64) -> Result<Vec<u8>> {
    let mut bytes = src.local.read_log(f)?.unwrap_or_default();
    if (bytes.len() as u64) < len {
        return Err(Error::archive(format!(
            "{} is shorter than its checkpoint",
            src.local.log_path(f).display()
        ))
        .hint("run `exhibit audit` on the archive first; nothing was written"));
    }
    bytes.truncate(len as usize);
    Ok(bytes)
}

/// Packs, large documents, `log/hashes`, `log/places` and `log/legacy-ids` of the copy.
fn write_copy(
    src: &Archive,
    out: &Local,
    size: u64,
    root: &merkle::Hash,
    progress: &dyn Fn(u64, u64),
) -> Result<Migrated> {
    let mut migrated = Migrated::default();
    let mut tree = TreeBuilder::new();
    let mut hashes: Vec<u8> = Vec::new();
    let mut places = String::with_capacity((size * PLACE_LINE) as usize);
    let mut legacy: Vec<(RecordId, u64)> = Vec::with_capacity(size as usize);
    let mut large_done = HashSet::new();
    let mut packed_before: HashMap<Sha256, Reference> = HashMap::new();
    let scratch = out.scratch()?;
    let mut group: Option<Group> = None;

    let damaged = |why: String| {
        Error::archive(why).hint("run `exhibit audit` on the archive first; nothing was written")
    };
    let leaves = src.leaves(size)?;
    for (index, leaf) in leaves.iter().enumerate() {
        let index = index as u64;
        let (bytes, sig) = src.local.read_record(&leaf.record_id)?.ok_or_else(|| {
            damaged(format!(
                "record {} (leaf {index}) is missing",
                leaf.record_id
            ))
        })?;
        let signature: [u8; 64] = sig.as_slice().try_into().map_err(|_| {
            damaged(format!(
                "the signature of record {} is not 64 bytes",
                leaf.record_id
            ))
        })?;
        let m = Manifest::parse(&bytes)
            .map_err(|e| damaged(format!("record {}: {}", leaf.record_id, e.what)))?;
        for h in tree.push(merkle::leaf_hash(&bytes)) {
            hashes.extend_from_slice(&h);
        }
        let g = match &mut group {
            Some(g) => g,
            None => group.insert(Group::new(&scratch)?),
        };
        let mut docs = vec![Sha256::checked(&m.document.sha256)?];
        docs.extend(m.parts().iter().filter_map(|p| Sha256::parse(&p.sha256)));
        for sha in docs {
            if g.documents.contains(&sha) || large_done.contains(&sha) {
                continue;
            }
            // Stored in an earlier pack of the copy: referred to, not stored again.
            if let Some(to) = packed_before.get(&sha) {
                g.writer
                    .add_reference(sha, to)
                    .map_err(|e| Error::archive(e.to_string()))?;
                g.documents.insert(sha);
                continue;
            }
            let file = src.local.open_document(&sha)?.ok_or_else(|| {
                damaged(format!(
                    "document {sha} of record {} is missing",
                    leaf.record_id
                ))
            })?;
            let len = file
                .metadata()
                .at("inspect", &src.local.document_path(&sha))?
                .len();
            // Every blob is checked as it is copied: a damaged one stops the migration rather
            // than being carried into packs that would then audit as damaged.
            let mut blob = Vec::new();
            let check = crate::store::read_blob_file(
                file,
                &src.local.document_path(&sha),
                &mut std::io::sink(),
            );
            match check {
                Ok(c) if c.sha256 == sha => {}
                Ok(c) => return Err(damaged(format!("document {sha} holds {}", c.sha256))),
                Err(e) => return Err(damaged(e.to_string())),
            }
            let mut f = src
                .local
                .open_document(&sha)?
                .ok_or_else(|| damaged(format!("document {sha} vanished")))?;
            if len < PACK_BLOBS_BELOW {
                std::io::Read::read_to_end(&mut f, &mut blob)
                    .at("read", &src.local.document_path(&sha))?;
                g.writer
                    .add_document(sha, &mut blob.as_slice())
                    .map_err(|e| Error::archive(e.to_string()))?;
                g.documents.insert(sha);
                g.bytes += len;
                migrated.packed_documents += 1;
            } else {
                out.copy_document(&scratch, &sha, &mut f)?;
                large_done.insert(sha);
                migrated.large_documents += 1;
            }
        }
        g.writer
            .add_record(leaf.record_id, &bytes, &signature)
            .map_err(|e| Error::archive(e.to_string()))?;
        g.records += 1;
        g.bytes += bytes.len() as u64 + 64;
        legacy.push((leaf.record_id, index));
        if g.records >= PACK_RECORDS || g.bytes >= PACK_BYTES {
            let g = group.take().expect("a group is open");
            let n = g.records;
            let pack = g.close(out, &scratch, &mut packed_before)?;
            places.push_str(&packs::place_line(&pack).repeat(n));
            migrated.packs += 1;
        }
        migrated.records += 1;
        progress(index + 1, size);
    }
    if let Some(g) = group.take() {
        let n = g.records;
        let pack = g.close(out, &scratch, &mut packed_before)?;
        places.push_str(&packs::place_line(&pack).repeat(n));
        migrated.packs += 1;
    }
    if tree.root() != *root {
        return Err(damaged(
            "the manifests do not hash to the checkpoint's root: a record was altered".into(),
        ));
    }
    out.write_log(&scratch, LogFile::Hashes, &hashes)?;
    out.write_log(&scratch, LogFile::Places, places.as_bytes())?;
    legacy.sort_unstable();
    let mut lines = String::with_capacity(legacy.len() * LEGACY_LINE as usize);
    for (id, index) in &legacy {
        lines.push_str(&legacy_line(id, *index));
    }
    out.write_log(&scratch, LogFile::LegacyIds, lines.as_bytes())?;
    Ok(migrated)
}

pub fn legacy_line(id: &RecordId, index: u64) -> String {
    format!("{id} {index:012}\n")
}

/// One pack being filled, in the copy's scratch directory.
struct Group {
    name: String,
    writer: PackWriter<std::io::BufWriter<std::fs::File>>,
    documents: HashSet<Sha256>,
    records: usize,
    bytes: u64,
}

impl Group {
    fn new(scratch: &local::Scratch) -> Result<Group> {
        let name = dir::unique_name("pack-");
        let path = scratch.dir().join(&name);
        let file = scratch.dir().create_new(&name, 0o644).at("create", &path)?;
        Ok(Group {
            name,
            writer: PackWriter::new(std::io::BufWriter::new(file)),
            documents: HashSet::new(),
            records: 0,
            bytes: 0,
        })
    }

    /// Finish and publish the pack; its documents join `packed`, for later packs to refer to.
    fn close(
        self,
        out: &Local,
        scratch: &local::Scratch,
        packed: &mut HashMap<Sha256, Reference>,
    ) -> Result<Sha256> {
        let path = scratch.dir().join(&self.name);
        let (buffered, sha, footer) = self
            .writer
            .finish()
            .map_err(|e| Error::archive(format!("{}: {e}", path.display())))?;
        let mut file = buffered
            .into_inner()
            .map_err(|e| Error::io("write", &path, e.into_error()))?;
        file.flush().at("write", &path)?;
        out.publish_pack(scratch, &self.name, &sha)?;
        for e in footer.entries.iter().filter(|e| e.kind == Kind::Document) {
            if let Key::Document(doc) = e.key {
                packed.insert(
                    doc,
                    Reference {
                        pack: sha,
                        offset: e.offset,
                        len: e.len,
                    },
                );
            }
        }
        Ok(sha)
    }
}
