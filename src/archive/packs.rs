//! Reading the packed layout (archive/2): a record found from its ID by arithmetic (its ID
//! names its log position), its pack from `log/places`, its bytes from the pack's footer.
//!
//! Small documents live in the pack of the commit that stored them. A reader reaches them
//! through a record (every command shows or checks a document because a record cites it), so
//! the footers read while loading records say where their documents are; only a document asked
//! for by hash alone, before any record citing it was read, costs a pass over the footers.

use super::local::ShardCache;
use super::migrate::LEGACY_LINE;
use super::{Archive, Layout, LogFile, PLACE_LINE};
use crate::core::digest::Sha256;
use crate::core::fsutil::{read_at_most, read_exact_at};
use crate::core::pack::{Entry, Footer, Key, Kind, Reference};
use crate::error::{Error, Result};
use crate::log::LEAF_LINE;
use crate::record_id::{IdMap, RecordId};
use crate::store::{BlobError, DocumentCheck};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Bounds on what a long-running reader (serve) remembers; past them it starts over, which
/// costs re-reading footers, never correctness.
const FOOTERS_KEPT: usize = 4096;
const DOCUMENTS_KEPT: usize = 1 << 20;
/// The largest entry read into memory: manifests (a browser capture's can reach megabytes),
/// signatures, references, and blobs under 64 KiB.
const MAX_ENTRY_READ: u64 = 64 << 20;
/// Lines of `log/places` an audit worker reads at once (64 KiB).
const PLACES_AHEAD: u64 = 1008;

/// Where bytes of a packed record are: a range of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackRange {
    pub pack: Sha256,
    pub offset: u64,
    pub len: u64,
}

/// Where a packed record's manifest, signature and document are, for instructions a person
/// follows with `head -c` and `tail -c` (a certificate of capture). `document` is `None` when
/// the document is a blob file of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRecord {
    pub manifest: PackRange,
    pub signature: PackRange,
    pub document: Option<PackRange>,
}

pub(super) struct PackCache {
    pub(super) ids: IdMap,
    footers: Mutex<HashMap<Sha256, Arc<Footer>>>,
    documents: Mutex<HashMap<Sha256, (Sha256, Entry)>>,
}

impl PackCache {
    pub(super) fn new(origin: &str) -> PackCache {
        PackCache {
            ids: IdMap::for_origin(origin),
            footers: Mutex::new(HashMap::new()),
            documents: Mutex::new(HashMap::new()),
        }
    }

    /// Drop what is known about a pack that is being removed (recovery).
    pub(super) fn forget(&self, pack: &Sha256) {
        self.footers.lock().expect("not poisoned").remove(pack);
        self.documents
            .lock()
            .expect("not poisoned")
            .retain(|_, (p, _)| p != pack);
    }
}

impl Archive {
    /// `packs/<aa>/<sha256>.pack`, for messages.
    pub fn pack_path(&self, pack: &Sha256) -> PathBuf {
        self.local.pack_path(pack)
    }

    /// The log position of a packed record: the one its ID names, if the leaf there is that
    /// record's. `None` for an ID this archive never gave.
    pub fn packed_index(&self, id: &RecordId) -> Result<Option<u64>> {
        let index = self.packs.ids.index(*id);
        let leaves = self.local.log_len(LogFile::Leaves)? / LEAF_LINE;
        if index < leaves && self.leaf(index)?.record_id == *id {
            return Ok(Some(index));
        }
        self.legacy_index(id)
    }

    /// A migrated record's log index, from `log/legacy-ids` (sorted by ID, fixed-width lines):
    /// a binary search, about 17 reads at a million records.
    fn legacy_index(&self, id: &RecordId) -> Result<Option<u64>> {
        let path = self.local.log_path(LogFile::LegacyIds);
        let Some(file) = self.local.open_log(LogFile::LegacyIds)? else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        let damaged = |i: u64| {
            Error::verification(format!("{}: line {i} is not well formed", path.display()))
                .hint("run `exhibit audit` to find what is damaged")
        };
        let (mut lo, mut hi) = (0u64, len / LEGACY_LINE);
        let mut line = [0u8; LEGACY_LINE as usize];
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            read_exact_at(&file, &mut line, mid * LEGACY_LINE)
                .map_err(|e| Error::io("read", &path, e))?;
            let (found, index) = parse_legacy(&line).ok_or_else(|| damaged(mid))?;
            match found.cmp(id) {
                std::cmp::Ordering::Equal => return Ok(Some(index)),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// Which pack holds the manifest of leaf `index` (`log/places`, FORMAT.md 3).
    pub fn place(&self, index: u64) -> Result<Option<Sha256>> {
        self.place_in(&mut ShardCache::default(), index, 1)
    }

    /// [`Archive::place`] through a worker's cache, which keeps `log/places` open and holds the
    /// `lines` lines from `index` on (fewer at the end of the file) for the calls that follow.
    fn place_in(&self, cache: &mut ShardCache, index: u64, lines: u64) -> Result<Option<Sha256>> {
        let path = self.local.log_path(LogFile::Places);
        if cache.places.is_none() {
            cache.places = self.local.open_log(LogFile::Places)?;
        }
        let Some(file) = cache.places.as_ref() else {
            return Ok(None);
        };
        let held = |ahead: &Option<(u64, Vec<u8>)>| {
            let (first, bytes) = ahead.as_ref()?;
            let at = usize::try_from(index.checked_sub(*first)?.checked_mul(PLACE_LINE)?).ok()?;
            let line: [u8; PLACE_LINE as usize] = bytes
                .get(at..at.checked_add(PLACE_LINE as usize)?)?
                .try_into()
                .ok()?;
            Some(line)
        };
        let line = match held(&cache.places_ahead) {
            Some(line) => line,
            None => {
                let mut bytes = cache
                    .places_ahead
                    .take()
                    .map(|(_, b)| b)
                    .unwrap_or_default();
                bytes.resize((lines.max(1) * PLACE_LINE) as usize, 0);
                let n = read_at_most(file, &mut bytes, index.saturating_mul(PLACE_LINE))
                    .map_err(|e| Error::io("read", &path, e))?;
                // Only whole lines: a line being appended now is read again when asked for.
                bytes.truncate(n - n % PLACE_LINE as usize);
                cache.places_ahead = Some((index, bytes));
                match held(&cache.places_ahead) {
                    Some(line) => line,
                    None => return Ok(None),
                }
            }
        };
        parse_place(&line).map(Some).ok_or_else(|| {
            Error::verification(format!(
                "{}: line {index} is not a pack's SHA-256",
                path.display()
            ))
            .hint("run `exhibit audit` to find what is damaged")
        })
    }

    /// A pack's footer, checked (FORMAT.md, packs), from the cache when it was read before.
    pub fn pack_footer(&self, pack: &Sha256) -> Result<Arc<Footer>> {
        if let Some(f) = self.packs.footers.lock().expect("not poisoned").get(pack) {
            return Ok(f.clone());
        }
        let path = self.local.pack_path(pack);
        let damaged = |why: String| {
            Error::verification(format!("{}: {why}", path.display()))
                .hint("run `exhibit audit` to find what is damaged")
        };
        let mut file = self
            .local
            .open_pack(pack)?
            .ok_or_else(|| damaged("missing".into()))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        let footer = Arc::new(Footer::read(&mut file, len).map_err(|e| damaged(e.to_string()))?);
        {
            let mut docs = self.packs.documents.lock().expect("not poisoned");
            if docs.len() > DOCUMENTS_KEPT {
                docs.clear();
            }
            for e in footer
                .entries
                .iter()
                .filter(|e| matches!(e.kind, Kind::Document | Kind::Reference))
            {
                if let Key::Document(sha) = e.key {
                    // A copy beats a reference to one: one read instead of two.
                    let known = docs
                        .get(&sha)
                        .is_some_and(|(_, k)| k.kind == Kind::Document);
                    if !known {
                        docs.insert(sha, (*pack, *e));
                    }
                }
            }
        }
        let mut footers = self.packs.footers.lock().expect("not poisoned");
        if footers.len() > FOOTERS_KEPT {
            footers.clear();
        }
        footers.insert(*pack, footer.clone());
        Ok(footer)
    }

    /// The exact bytes of one entry of a pack.
    pub fn pack_entry(&self, pack: &Sha256, entry: &Entry) -> Result<Vec<u8>> {
        self.pack_entry_in(&mut ShardCache::default(), pack, entry)
    }

    /// [`Archive::pack_entry`] through a worker's cache, which keeps the last pack open: audit
    /// reads records in log order, so a run of them comes from one pack.
    fn pack_entry_in(
        &self,
        cache: &mut ShardCache,
        pack: &Sha256,
        entry: &Entry,
    ) -> Result<Vec<u8>> {
        // The path is for messages only: built when one is needed, not for every entry read.
        let path = || self.local.pack_path(pack);
        if cache.pack.as_ref().is_none_or(|(p, _, _)| p != pack) {
            cache.pack = None;
            let file = self.local.open_pack(pack)?.ok_or_else(|| {
                Error::verification(format!("{}: missing", path().display()))
                    .hint("run `exhibit audit` to find what is damaged")
            })?;
            let len = file
                .metadata()
                .map_err(|e| Error::io("inspect", &path(), e))?
                .len();
            cache.pack = Some((*pack, file, len));
        }
        let (_, file, len) = cache.pack.as_ref().expect("just opened");
        let len = *len;
        // Entries read whole are manifests, signatures, references and small blobs: bounded,
        // and within the file, before anything is allocated.
        if entry.len > MAX_ENTRY_READ || entry.offset.saturating_add(entry.len) > len {
            return Err(Error::verification(format!(
                "{}: an entry of {} bytes at {} lies outside the pack or beyond what an entry can be",
                path().display(),
                entry.len,
                entry.offset
            ))
            .hint("run `exhibit audit` to find what is damaged"));
        }
        let mut buf = vec![0u8; entry.len as usize];
        read_exact_at(file, &mut buf, entry.offset).map_err(|e| Error::io("read", &path(), e))?;
        Ok(buf)
    }

    /// Where a record of a packed archive is (`None` in a loose archive, or for no such record).
    pub fn packed_location(
        &self,
        id: &RecordId,
        document: &Sha256,
    ) -> Result<Option<PackedRecord>> {
        if self.layout != Layout::Packed {
            return Ok(None);
        }
        let Some(index) = self.packed_index(id)? else {
            return Ok(None);
        };
        let Some(pack) = self.place(index)? else {
            return Ok(None);
        };
        let footer = self.pack_footer(&pack)?;
        let key = Key::Record(*id);
        let range = |e: &Entry| PackRange {
            pack,
            offset: e.offset,
            len: e.len,
        };
        let (Some(m), Some(s)) = (
            footer.find(Kind::Manifest, &key),
            footer.find(Kind::Signature, &key),
        ) else {
            return Ok(None);
        };
        let doc_key = Key::Document(*document);
        let document = if self.local.document_exists(document)? {
            None
        } else if let Some(d) = footer.find(Kind::Document, &doc_key) {
            Some(range(d))
        } else if let Some(r) = footer.find(Kind::Reference, &doc_key) {
            let (to, e) = self.follow(&pack, r)?;
            Some(PackRange {
                pack: to,
                offset: e.offset,
                len: e.len,
            })
        } else {
            None
        };
        Ok(Some(PackedRecord {
            manifest: range(m),
            signature: range(s),
            document,
        }))
    }

    /// A packed record's manifest and signature.
    pub(super) fn load_packed_record(&self, id: &RecordId) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(index) = self.packed_index(id)? else {
            return Ok(None);
        };
        let path = self.local.log_path(LogFile::Places);
        let pack = self.place(index)?.ok_or_else(|| {
            Error::verification(format!(
                "{}: no line for log index {index}, where record {id} is",
                path.display()
            ))
            .hint("run `exhibit audit` to find what is damaged")
        })?;
        let footer = self.pack_footer(&pack)?;
        let key = Key::Record(*id);
        let (Some(m), Some(s)) = (
            footer.find(Kind::Manifest, &key),
            footer.find(Kind::Signature, &key),
        ) else {
            return Err(Error::verification(format!(
                "{}: holds no manifest of record {id}, which log/places says it does",
                self.local.pack_path(&pack).display()
            ))
            .hint("run `exhibit audit` to find what is damaged"));
        };
        Ok(Some((
            self.pack_entry(&pack, m)?,
            self.pack_entry(&pack, s)?,
        )))
    }

    /// Where a small document is packed: in a footer already read, else found by reading every
    /// pack's footer (a document asked for by hash alone). A reference is followed, so the
    /// answer is always a document entry.
    pub(super) fn locate_packed(&self, sha256: &Sha256) -> Result<Option<(Sha256, Entry)>> {
        let mut hit = self.locate_known(sha256);
        if hit.is_none() {
            for pack in self.local.pack_names()? {
                let footer = self.pack_footer(&pack)?;
                if let Some(e) = footer.find(Kind::Document, &Key::Document(*sha256)) {
                    hit = Some((pack, *e));
                    break;
                }
            }
        }
        match hit {
            Some((pack, e)) if e.kind == Kind::Reference => self.follow(&pack, &e).map(Some),
            other => Ok(other),
        }
    }

    /// [`Archive::locate_packed`] among the footers read so far only: no search.
    pub(super) fn locate_known(&self, sha256: &Sha256) -> Option<(Sha256, Entry)> {
        self.packs
            .documents
            .lock()
            .expect("not poisoned")
            .get(sha256)
            .copied()
    }

    /// The document entry a reference entry points at.
    pub fn follow(&self, pack: &Sha256, entry: &Entry) -> Result<(Sha256, Entry)> {
        let bytes = self.pack_entry(pack, entry)?;
        let r = Reference::parse(&bytes).ok_or_else(|| {
            Error::verification(format!(
                "{}: a reference entry is not well formed",
                self.local.pack_path(pack).display(),
            ))
            .hint("run `exhibit audit` to find what is damaged")
        })?;
        // The reference must land on exactly a document entry of its pack (FORMAT.md 3.3), and
        // never on another reference: one hop, never a cycle.
        let target = self.pack_footer(&r.pack)?;
        match target.find(Kind::Document, &entry.key) {
            Some(d) if d.offset == r.offset && d.len == r.len => Ok((r.pack, *d)),
            _ => Err(Error::verification(format!(
                "{}: refers to document {} in pack {}, which holds no such entry there",
                self.local.pack_path(pack).display(),
                entry.key_text(),
                r.pack
            ))
            .hint("run `exhibit audit` to find what is damaged")),
        }
    }

    /// Remember a pack this process wrote, so that later commits refer to its documents
    /// instead of storing them again.
    pub(super) fn remember_pack(&self, pack: Sha256, footer: Footer) {
        let mut docs = self.packs.documents.lock().expect("not poisoned");
        for e in footer.entries.iter().filter(|e| e.kind == Kind::Document) {
            if let Key::Document(sha) = e.key {
                docs.insert(sha, (pack, *e));
            }
        }
        drop(docs);
        self.packs
            .footers
            .lock()
            .expect("not poisoned")
            .insert(pack, Arc::new(footer));
    }

    /// A document of the packed layout: its own blob file if it has one, else its pack entry,
    /// checked exactly as a blob file (FORMAT.md 4.2).
    pub(super) fn read_packed_document(
        &self,
        sha256: &Sha256,
        out: &mut dyn Write,
    ) -> Option<Result<DocumentCheck, BlobError>> {
        debug_assert_eq!(self.layout, Layout::Packed);
        match self.local.document_exists(sha256) {
            Ok(true) => return None,
            Ok(false) => {}
            Err(e) => {
                return Some(Err(BlobError::Malformed {
                    path: self.local.document_path(sha256),
                    why: e.what,
                }))
            }
        }
        // What another process's recovery removed since this one read a footer (a long-running
        // `serve`) is forgotten and looked for again, once: a stale cache never fails a record.
        for attempt in 0..2 {
            let (pack, entry) = match self.locate_packed(sha256) {
                Ok(Some(hit)) => hit,
                Ok(None) => return Some(Err(BlobError::Missing(sha256.to_string()))),
                Err(e) => {
                    return Some(Err(BlobError::Malformed {
                        path: self.local.document_path(sha256),
                        why: e.what,
                    }))
                }
            };
            let gone = attempt == 0 && matches!(self.local.open_pack(&pack), Ok(None));
            if gone {
                self.packs.forget(&pack);
                continue;
            }
            return Some(self.pack_document(&pack, &entry, out));
        }
        Some(Err(BlobError::Missing(sha256.to_string())))
    }

    /// How a document entry of a pack is named in messages: the pack, and the entry.
    pub fn pack_document_path(&self, pack: &Sha256, entry: &Entry) -> PathBuf {
        let mut p = self.local.pack_path(pack).into_os_string();
        if let Key::Document(sha) = entry.key {
            p.push(format!("[d {sha}]"));
        }
        p.into()
    }

    /// One document entry of a pack, checked exactly as a blob file (FORMAT.md 4.2) and
    /// against the SHA-256 the footer files it under.
    pub fn pack_document(
        &self,
        pack: &Sha256,
        entry: &Entry,
        out: &mut dyn Write,
    ) -> Result<DocumentCheck, BlobError> {
        self.pack_document_in(&mut ShardCache::default(), pack, entry, out)
    }

    /// [`Archive::pack_document`] through a worker's cache (audit).
    pub fn pack_document_in(
        &self,
        cache: &mut ShardCache,
        pack: &Sha256,
        entry: &Entry,
        out: &mut dyn Write,
    ) -> Result<DocumentCheck, BlobError> {
        let path = self.pack_document_path(pack, entry);
        let bytes = self
            .pack_entry_in(cache, pack, entry)
            .map_err(|e| BlobError::Malformed {
                path: path.clone(),
                why: e.what,
            })?;
        let len = bytes.len() as u64;
        let check = crate::store::check_blob(std::io::Cursor::new(bytes), len, &path, out)?;
        let Key::Document(sha256) = entry.key else {
            return Err(BlobError::Malformed {
                path,
                why: "not a document entry".into(),
            });
        };
        if check.sha256 != sha256 {
            return Err(BlobError::WrongContent {
                path,
                expected: sha256.to_string(),
                actual: check.sha256.to_string(),
            });
        }
        Ok(check)
    }

    /// The manifest and signature of the record at log position `index` (audit reads by
    /// position: a damaged ID must not send it elsewhere), and the pack they are in, for
    /// messages.
    pub fn packed_record_at(
        &self,
        cache: &mut ShardCache,
        index: u64,
        id: &RecordId,
    ) -> (super::local::MaybeBytes, super::local::MaybeBytes, PathBuf) {
        let places = self.local.log_path(LogFile::Places);
        let pack = match self.place_in(cache, index, PLACES_AHEAD) {
            Ok(Some(p)) => p,
            Ok(None) => {
                let e =
                    || Error::verification(format!("log/places has no line for log index {index}"));
                return (Err(e()), Err(e()), places);
            }
            Err(e) => return (Err(e.clone_error()), Err(e), places),
        };
        let path = self.local.pack_path(&pack);
        let footer = match self.pack_footer(&pack) {
            Ok(f) => f,
            Err(e) => return (Err(e.clone_error()), Err(e), path),
        };
        let key = Key::Record(*id);
        let (manifest, signature) = (
            footer.find(Kind::Manifest, &key),
            footer.find(Kind::Signature, &key),
        );
        // A pack writer puts a record's signature right after its manifest: one read for both.
        // Anything else, or a read that fails, goes the way of one read each, whose errors
        // name the entry.
        if let (Some(m), Some(s)) = (manifest, signature) {
            if s.offset == m.offset.saturating_add(m.len) {
                let both = Entry {
                    kind: Kind::Manifest,
                    key,
                    offset: m.offset,
                    len: m.len.saturating_add(s.len),
                };
                if let Ok(mut bytes) = self.pack_entry_in(cache, &pack, &both) {
                    let signature = bytes.split_off(m.len as usize);
                    return (Ok(Some(bytes)), Ok(Some(signature)), path);
                }
            }
        }
        let mut get = |entry: Option<&Entry>| match entry {
            Some(e) => self.pack_entry_in(cache, &pack, e).map(Some),
            None => Ok(None),
        };
        let manifest = get(manifest);
        (manifest, get(signature), path)
    }
}

/// One line of `log/legacy-ids`, strictly: the canonical ID and a 12-digit index.
pub fn parse_legacy(line: &[u8]) -> Option<(RecordId, u64)> {
    if line.len() as u64 != LEGACY_LINE || line[17] != b' ' || line[30] != b'\n' {
        return None;
    }
    let text = std::str::from_utf8(&line[..30]).ok()?;
    let id: RecordId = text[..17].parse().ok()?;
    let digits = &text[18..];
    if id.to_string() != text[..17] || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id, digits.parse().ok()?))
}

pub fn parse_place(line: &[u8]) -> Option<Sha256> {
    if line.len() as u64 != PLACE_LINE || line[64] != b'\n' {
        return None;
    }
    Sha256::parse(std::str::from_utf8(&line[..64]).ok()?)
}

pub(super) fn place_line(pack: &Sha256) -> String {
    format!("{pack}\n")
}
