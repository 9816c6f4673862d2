//! Packs: many small signed things in one file, each still extractable with `tail -c` and
//! `head -c` (archive/2, docs/SCALE.md).
//!
//! A record today costs three files (a manifest, a signature, a blob), each taking a whole disk
//! block and, on object storage, a request. A pack holds the manifests, signatures and small
//! document blobs of one commit group, byte for byte as they would be as files, followed by a
//! footer: one fixed-width text line per entry and one trailer line. So a stranger finds an entry
//! with `grep` on the footer and extracts its exact bytes with `tail -c +OFFSET | head -c LEN`,
//! then checks them exactly as the loose files (`openssl pkeyutl -verify`, `zstd -dc | sha256sum`).
//!
//! ```text
//! entry bytes, concatenated in write order, no separators       [0, F)
//! footer: one 93-byte line per entry, sorted by kind then key   [F, F + 93 n)
//!   "<kind> <key, left-aligned, space-padded to 64> <offset, 12 digits> <length, 12 digits>\n"
//! trailer: 43 bytes                                              [F + 93 n, F + 93 n + 43)
//!   "exhibit-pack/1 <n, 10 digits> <F, 16 digits>\n"
//! ```
//!
//! Kinds: `m` a manifest and `s` its 64-byte signature, keyed by record ID; `d` a document blob
//! (docs/FORMAT.md 4.2), keyed by the document's SHA-256; `r` a reference to a document another
//! pack holds (that pack's SHA-256 and the entry's offset and length, 91 bytes), so identical
//! content is stored once across commits. The parser accepts one byte form only:
//! the entries must tile `[0, F)` exactly (so every byte of a pack is some entry's, and a flipped
//! byte lands in a named entry), keys are unique per kind, every manifest has its signature and
//! the reverse. Pure: no I/O beyond the reader or writer the caller hands in.

use crate::core::digest::Sha256;
use crate::record_id::RecordId;
use std::io::{self, Read, Seek, SeekFrom, Write};

pub const LINE: u64 = 93;
pub const TRAILER: u64 = 43;
const MAGIC: &[u8] = b"exhibit-pack/1 ";
const KEY_WIDTH: usize = 64;
pub const SIGNATURE_LEN: u64 = 64;
/// A reference entry: "<pack sha256> <offset, 12 digits> <length, 12 digits>\n".
pub const REFERENCE_LEN: u64 = 91;
/// Offsets are written with 12 digits and the footer offset with 16; a pack is one commit group,
/// so this bound (just under 1 TB) is never near, but the parser must not trust wider numbers.
const MAX_OFFSET: u64 = 999_999_999_999;
/// A commit group's or a migration's pack has a few thousand entries; a footer of more than a
/// million (93 MB) is refused before it is read.
pub const MAX_ENTRIES: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Document,
    Manifest,
    /// A document stored in another pack: the entry's bytes say where (a [`Reference`]).
    Reference,
    Signature,
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Document => b'd',
            Kind::Manifest => b'm',
            Kind::Reference => b'r',
            Kind::Signature => b's',
        }
    }

    fn from_letter(b: u8) -> Option<Kind> {
        match b {
            b'd' => Some(Kind::Document),
            b'm' => Some(Kind::Manifest),
            b'r' => Some(Kind::Reference),
            b's' => Some(Kind::Signature),
            _ => None,
        }
    }
}

/// What an entry is named by: its record (manifests, signatures) or its content (documents).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Record(RecordId),
    Document(Sha256),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Record(id) => id.to_string(),
            Key::Document(sha) => sha.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub key: Key,
    pub offset: u64,
    pub len: u64,
}

impl Entry {
    /// The key as the footer spells it (record ID or hex SHA-256), for messages.
    pub fn key_text(&self) -> String {
        self.key.text()
    }

    /// The footer line, exactly `LINE` bytes.
    pub fn line(&self) -> String {
        format!(
            "{} {:<KEY_WIDTH$} {:012} {:012}\n",
            char::from(self.kind.letter()),
            self.key.text(),
            self.offset,
            self.len
        )
    }

    /// Footer order: by kind, then by the key's spelling (which for both kinds sorts like the
    /// key's value), so a reader can binary-search the footer.
    fn order(&self) -> (Kind, String) {
        (self.kind, self.key.text())
    }
}

/// [`Entry::order`]'s comparison of keys without spelling them: a record ID's spelling sorts
/// like its bits (most significant symbol first, then the check symbol, which the bits decide,
/// in an alphabet in ASCII order) and lowercase hex like its bytes. Lookups run for every
/// record an audit reads.
fn cmp_spelling(a: &Key, b: &Key) -> std::cmp::Ordering {
    match (a, b) {
        (Key::Record(x), Key::Record(y)) => x.cmp(y),
        (Key::Document(x), Key::Document(y)) => x.cmp(y),
        _ => a.text().cmp(&b.text()),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackError {
    #[error("too short to be a pack ({len} bytes; a pack ends in a {TRAILER}-byte trailer)")]
    TooShort { len: u64 },
    #[error("its last {TRAILER} bytes are not an exhibit-pack/1 trailer")]
    BadTrailer,
    #[error("its trailer says {count} entries from byte {footer}, but the pack is {len} bytes")]
    WrongLength { count: u64, footer: u64, len: u64 },
    #[error(
        "its footer begins at byte {footer}, beyond 999,999,999,999 (the largest offset a footer line can write)"
    )]
    FooterBeyondCap { footer: u64 },
    #[error(
        "its trailer claims {count} entries, more than any pack exhibit reads ({MAX_ENTRIES})"
    )]
    TooManyEntries { count: u64 },
    #[error("footer line {line} is not well formed")]
    BadLine { line: u64 },
    #[error("footer line {line} is out of order or repeats a key")]
    Order { line: u64 },
    #[error("the entries do not cover bytes [0, {footer}) exactly once: {why}")]
    Coverage { footer: u64, why: String },
    #[error("{what}")]
    Pairing { what: String },
    #[error("entry {kind:?} {key}: {why}")]
    Entry {
        kind: Kind,
        key: String,
        why: String,
    },
    #[error("{0}")]
    Io(String),
}

impl From<io::Error> for PackError {
    fn from(e: io::Error) -> Self {
        PackError::Io(e.to_string())
    }
}

/// The trailer's two numbers: the entry count and where the footer starts.
pub fn parse_trailer(trailer: &[u8], pack_len: u64) -> Result<(u64, u64), PackError> {
    if pack_len < TRAILER {
        return Err(PackError::TooShort { len: pack_len });
    }
    if trailer.len() as u64 != TRAILER
        || !trailer.starts_with(MAGIC)
        || trailer[25] != b' '
        || trailer[42] != b'\n'
    {
        return Err(PackError::BadTrailer);
    }
    let count = digits(&trailer[15..25]).ok_or(PackError::BadTrailer)?;
    let footer = digits(&trailer[26..42]).ok_or(PackError::BadTrailer)?;
    let expected = count
        .checked_mul(LINE)
        .and_then(|f| f.checked_add(footer))
        .and_then(|f| f.checked_add(TRAILER));
    if footer > MAX_OFFSET {
        return Err(PackError::FooterBeyondCap { footer });
    }
    if expected != Some(pack_len) {
        return Err(PackError::WrongLength {
            count,
            footer,
            len: pack_len,
        });
    }
    Ok((count, footer))
}

/// One footer line, strictly: the kind, a key spelled canonically and padded, two numbers.
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    if !separated(line) {
        return None;
    }
    let kind = Kind::from_letter(line[0])?;
    let key_text = std::str::from_utf8(key_field(line)).ok()?;
    // One spelling only: the canonical key, the exact padding. The digit fields are canonical
    // whenever they parse (12 digits, zero-padded, as written), and the padding is whatever
    // follows the key, so the line is the one `Entry::line` writes exactly when the key is
    // spelled canonically. An audit parses every footer line; this check allocates nothing.
    let key = match kind {
        // `Sha256::parse` takes lowercase hex only: its one spelling.
        Kind::Document | Kind::Reference => Key::Document(Sha256::parse(key_text)?),
        Kind::Manifest | Kind::Signature => {
            let id: RecordId = key_text.parse().ok()?;
            let mut canonical = [0u8; 32];
            let mut w = &mut canonical[..];
            write!(w, "{id}").ok()?;
            let n = 32 - w.len();
            if canonical[..n] != *key_text.as_bytes() {
                return None;
            }
            Key::Record(id)
        }
    };
    let offset = digits(&line[67..79])?;
    let len = digits(&line[80..92])?;
    Some(Entry {
        kind,
        key,
        offset,
        len,
    })
}

/// A footer line's length and its separators in their places.
fn separated(line: &[u8]) -> bool {
    line.len() as u64 == LINE
        && line[1] == b' '
        && line[66] == b' '
        && line[79] == b' '
        && line[92] == b'\n'
}

/// The key as a footer line spells it, without its padding.
fn key_field(line: &[u8]) -> &[u8] {
    let field = &line[2..66];
    let end = field.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &field[..end]
}

fn digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A pack's footer, parsed and checked: every rule of the module comment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// In footer order (kind, then key).
    pub entries: Vec<Entry>,
    /// Where the entries end and the footer begins.
    pub footer_offset: u64,
}

impl Footer {
    /// Parse the bytes from the footer's start to the end of the pack.
    pub fn parse(tail: &[u8], pack_len: u64) -> Result<Footer, PackError> {
        let trailer_at = tail
            .len()
            .checked_sub(TRAILER as usize)
            .ok_or(PackError::TooShort {
                len: tail.len() as u64,
            })?;
        let (count, footer_offset) = parse_trailer(&tail[trailer_at..], pack_len)?;
        if trailer_at as u64 != count * LINE {
            return Err(PackError::WrongLength {
                count,
                footer: footer_offset,
                len: pack_len,
            });
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut prev: Option<(Kind, &[u8])> = None;
        for (i, line) in tail[..trailer_at].chunks(LINE as usize).enumerate() {
            let entry = parse_line(line).ok_or(PackError::BadLine { line: i as u64 })?;
            // `Entry::order` on the line's own spelling, which parse_line found canonical.
            let order = (entry.kind, key_field(line));
            if prev.is_some_and(|p| p >= order) {
                return Err(PackError::Order { line: i as u64 });
            }
            prev = Some(order);
            entries.push(entry);
        }
        check_coverage(&entries, footer_offset)?;
        check_pairs(&entries)?;
        Ok(Footer {
            entries,
            footer_offset,
        })
    }

    /// Read and check the footer of a pack of `pack_len` bytes. Reads only the footer, so a
    /// reader of one record pays for the group's index, never for its documents.
    pub fn read<R: Read + Seek>(r: &mut R, pack_len: u64) -> Result<Footer, PackError> {
        if pack_len < TRAILER {
            return Err(PackError::TooShort { len: pack_len });
        }
        let mut trailer = [0u8; TRAILER as usize];
        r.seek(SeekFrom::Start(pack_len - TRAILER))?;
        r.read_exact(&mut trailer)?;
        let (count, footer_offset) = parse_trailer(&trailer, pack_len)?;
        // The trailer's numbers agree with the file's length, but a sparse file can make both
        // huge: never allocate more than a pack's footer can honestly need.
        if count > MAX_ENTRIES {
            return Err(PackError::TooManyEntries { count });
        }
        let mut tail = vec![0u8; (pack_len - footer_offset) as usize];
        r.seek(SeekFrom::Start(footer_offset))?;
        r.read_exact(&mut tail)?;
        Footer::parse(&tail, pack_len)
    }

    pub fn find(&self, kind: Kind, key: &Key) -> Option<&Entry> {
        find_in(&self.entries, kind, key)
    }

    /// The records of the pack, in the order their manifests were written.
    pub fn records(&self) -> Vec<RecordId> {
        let mut m: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Manifest)
            .collect();
        m.sort_by_key(|e| e.offset);
        m.iter()
            .filter_map(|e| match e.key {
                Key::Record(id) => Some(id),
                Key::Document(_) => None,
            })
            .collect()
    }
}

/// Binary search of entries in footer order.
fn find_in<'e>(entries: &'e [Entry], kind: Kind, key: &Key) -> Option<&'e Entry> {
    entries
        .binary_search_by(|e| e.kind.cmp(&kind).then_with(|| cmp_spelling(&e.key, key)))
        .ok()
        .map(|i| &entries[i])
}

fn check_coverage(entries: &[Entry], footer: u64) -> Result<(), PackError> {
    let mut spans: Vec<(u64, u64)> = entries.iter().map(|e| (e.offset, e.len)).collect();
    spans.sort_unstable();
    let mut at = 0u64;
    for (offset, len) in spans {
        if offset != at {
            let why = if offset < at {
                format!("two entries overlap at byte {offset}")
            } else {
                format!("bytes [{at}, {offset}) belong to no entry")
            };
            return Err(PackError::Coverage { footer, why });
        }
        at = offset.checked_add(len).ok_or(PackError::Coverage {
            footer,
            why: "an entry's end overflows".into(),
        })?;
    }
    if at != footer {
        let why = if at > footer {
            format!("an entry runs past the footer, to byte {at}")
        } else {
            format!("bytes [{at}, {footer}) belong to no entry")
        };
        return Err(PackError::Coverage { footer, why });
    }
    Ok(())
}

fn check_pairs(entries: &[Entry]) -> Result<(), PackError> {
    let ids = |kind| {
        entries
            .iter()
            .filter(move |e| e.kind == kind)
            .map(|e| e.key)
            .collect::<Vec<_>>()
    };
    let (manifests, signatures) = (ids(Kind::Manifest), ids(Kind::Signature));
    // Both lists are sorted by key, so they pair up position by position or not at all.
    for (i, key) in manifests.iter().enumerate() {
        if signatures.get(i) != Some(key) {
            return Err(PackError::Pairing {
                what: format!("the manifest of {} has no signature", key.text()),
            });
        }
    }
    if let Some(extra) = signatures.get(manifests.len()) {
        return Err(PackError::Pairing {
            what: format!("the signature of {} has no manifest", extra.text()),
        });
    }
    for e in entries {
        if e.kind == Kind::Signature && e.len != SIGNATURE_LEN {
            return Err(PackError::Entry {
                kind: e.kind,
                key: e.key.text(),
                why: format!("a signature is {SIGNATURE_LEN} bytes, not {}", e.len),
            });
        }
        if e.kind == Kind::Reference && e.len != REFERENCE_LEN {
            return Err(PackError::Entry {
                kind: e.kind,
                key: e.key.text(),
                why: format!("a reference is {REFERENCE_LEN} bytes, not {}", e.len),
            });
        }
        if e.kind == Kind::Reference && find_in(entries, Kind::Document, &e.key).is_some() {
            return Err(PackError::Entry {
                kind: e.kind,
                key: e.key.text(),
                why: "the document is in this pack and referenced elsewhere at once".into(),
            });
        }
        if e.kind == Kind::Manifest && e.len == 0 {
            return Err(PackError::Entry {
                kind: e.kind,
                key: e.key.text(),
                why: "a manifest is never empty".into(),
            });
        }
    }
    Ok(())
}

/// Where a reference entry says its document is: a document entry of another pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    pub pack: Sha256,
    pub offset: u64,
    pub len: u64,
}

impl Reference {
    pub fn to_bytes(&self) -> String {
        format!("{} {:012} {:012}\n", self.pack, self.offset, self.len)
    }

    /// The bytes of a reference entry, strictly.
    pub fn parse(b: &[u8]) -> Option<Reference> {
        if b.len() as u64 != REFERENCE_LEN || b[64] != b' ' || b[77] != b' ' || b[90] != b'\n' {
            return None;
        }
        let r = Reference {
            pack: Sha256::parse(std::str::from_utf8(&b[..64]).ok()?)?,
            offset: digits(&b[65..77])?,
            len: digits(&b[78..90])?,
        };
        (r.to_bytes().as_bytes() == b).then_some(r)
    }
}

/// Writes a pack to any writer, hashing as it goes: the pack's name is its SHA-256, so the
/// writer hands it back with the footer and no second pass reads the bytes.
pub struct PackWriter<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    offset: u64,
    entries: Vec<Entry>,
    /// The names of `entries`, for refusing a second entry of a name without a scan per entry
    /// (a pack of a batch capture holds a thousand or more).
    names: std::collections::HashSet<(Kind, Key)>,
    /// For copying documents in; one per pack, not one zeroed 64 KiB per document (1% of
    /// batch capture's CPU).
    buf: Vec<u8>,
}

impl<W: Write> PackWriter<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        PackWriter {
            inner,
            hasher: sha2::Sha256::new(),
            offset: 0,
            entries: Vec::new(),
            names: std::collections::HashSet::new(),
            buf: Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        use sha2::Digest;
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// A record's manifest and signature, one after the other.
    pub fn add_record(
        &mut self,
        id: RecordId,
        manifest: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), PackError> {
        self.check_new(Kind::Manifest, &Key::Record(id))?;
        if manifest.is_empty() {
            return Err(PackError::Entry {
                kind: Kind::Manifest,
                key: id.to_string(),
                why: "a manifest is never empty".into(),
            });
        }
        let at = self.offset;
        self.write(manifest)?;
        self.push(Entry {
            kind: Kind::Manifest,
            key: Key::Record(id),
            offset: at,
            len: manifest.len() as u64,
        });
        let at = self.offset;
        self.write(signature)?;
        self.push(Entry {
            kind: Kind::Signature,
            key: Key::Record(id),
            offset: at,
            len: SIGNATURE_LEN,
        });
        Ok(())
    }

    /// A document's blob, streamed from `blob` (the caller has checked it is the blob of `sha`).
    pub fn add_document(&mut self, sha: Sha256, blob: &mut dyn Read) -> Result<u64, PackError> {
        if self.contains(Kind::Reference, &Key::Document(sha)) {
            return Err(PackError::Entry {
                kind: Kind::Document,
                key: sha.to_string(),
                why: "the document is referenced from this pack already".into(),
            });
        }
        self.check_new(Kind::Document, &Key::Document(sha))?;
        let at = self.offset;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(64 * 1024, 0);
        let copied = loop {
            let n = match blob.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if let Err(e) = self.write(&buf[..n]) {
                break Err(e);
            }
        };
        self.buf = buf;
        copied?;
        let len = self.offset - at;
        self.push(Entry {
            kind: Kind::Document,
            key: Key::Document(sha),
            offset: at,
            len,
        });
        Ok(at)
    }

    /// A document this pack's records cite that another pack holds.
    pub fn add_reference(&mut self, sha: Sha256, to: &Reference) -> Result<(), PackError> {
        let key = Key::Document(sha);
        if self.contains(Kind::Document, &key) {
            return Err(PackError::Entry {
                kind: Kind::Reference,
                key: key.text(),
                why: "the document is in this pack already".into(),
            });
        }
        self.check_new(Kind::Reference, &key)?;
        let at = self.offset;
        self.write(to.to_bytes().as_bytes())?;
        self.push(Entry {
            kind: Kind::Reference,
            key,
            offset: at,
            len: REFERENCE_LEN,
        });
        Ok(())
    }

    pub fn contains(&self, kind: Kind, key: &Key) -> bool {
        self.names.contains(&(kind, *key))
    }

    fn push(&mut self, entry: Entry) {
        self.names.insert((entry.kind, entry.key));
        self.entries.push(entry);
    }

    fn check_new(&self, kind: Kind, key: &Key) -> Result<(), PackError> {
        if self.contains(kind, key) {
            return Err(PackError::Entry {
                kind,
                key: key.text(),
                why: "is already in this pack".into(),
            });
        }
        if self.offset > MAX_OFFSET {
            return Err(PackError::Entry {
                kind,
                key: key.text(),
                why: "the pack is full".into(),
            });
        }
        Ok(())
    }

    /// Write the footer and trailer; returns the writer, the pack's SHA-256 and its footer.
    pub fn finish(mut self) -> Result<(W, Sha256, Footer), PackError> {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_by_cached_key(Entry::order);
        let footer_offset = self.offset;
        let mut tail = String::with_capacity(entries.len() * LINE as usize + TRAILER as usize);
        for e in &entries {
            tail.push_str(&e.line());
        }
        tail.push_str(&format!(
            "exhibit-pack/1 {:010} {:016}\n",
            entries.len(),
            footer_offset
        ));
        self.write(tail.as_bytes())?;
        self.inner.flush()?;
        use sha2::Digest;
        let sha = Sha256::from_bytes(self.hasher.finalize().into());
        Ok((
            self.inner,
            sha,
            Footer {
                entries,
                footer_offset,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn id(n: u64) -> RecordId {
        RecordId::from_bits(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn build(records: &[(u64, Vec<u8>)], docs: &[Vec<u8>]) -> (Vec<u8>, Sha256, Footer) {
        let mut w = PackWriter::new(Vec::new());
        for d in docs {
            w.add_document(Sha256::of(d), &mut d.as_slice()).unwrap();
        }
        for (n, m) in records {
            w.add_record(id(*n), m, &[7u8; 64]).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn lines_and_trailer_have_their_documented_widths() {
        let (bytes, _, footer) = build(&[(1, b"{}\n".to_vec())], &[b"page".to_vec()]);
        let e = footer.entries[0];
        assert_eq!(e.line().len() as u64, LINE);
        let trailer = &bytes[bytes.len() - TRAILER as usize..];
        assert_eq!(
            std::str::from_utf8(trailer).unwrap(),
            format!("exhibit-pack/1 {:010} {:016}\n", 3, 4 + 3 + 64)
        );
    }

    #[test]
    fn every_entry_is_extractable_by_offset_and_length() {
        let docs = vec![b"first document".to_vec(), b"second".to_vec()];
        let records = vec![(5, b"{\"a\":1}\n".to_vec()), (9, b"{\"b\":2}\n".to_vec())];
        let (bytes, sha, footer) = build(&records, &docs);
        assert_eq!(sha, Sha256::of(&bytes));
        let read = Footer::read(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(read, footer);
        let slice = |e: &Entry| &bytes[e.offset as usize..(e.offset + e.len) as usize];
        for d in &docs {
            let e = footer
                .find(Kind::Document, &Key::Document(Sha256::of(d)))
                .unwrap();
            assert_eq!(slice(e), d.as_slice());
        }
        for (n, m) in &records {
            let e = footer.find(Kind::Manifest, &Key::Record(id(*n))).unwrap();
            assert_eq!(slice(e), m.as_slice());
            let s = footer.find(Kind::Signature, &Key::Record(id(*n))).unwrap();
            assert_eq!(slice(s), &[7u8; 64]);
        }
        assert_eq!(footer.records(), vec![id(5), id(9)]);
        assert!(footer.find(Kind::Manifest, &Key::Record(id(6))).is_none());
    }

    #[test]
    fn references_name_a_document_of_another_pack() {
        let (first, first_sha, first_footer) = build(&[], &[b"shared".to_vec()]);
        let sha = Sha256::of(b"shared");
        let e = first_footer
            .find(Kind::Document, &Key::Document(sha))
            .unwrap();
        let to = Reference {
            pack: first_sha,
            offset: e.offset,
            len: e.len,
        };
        let mut w = PackWriter::new(Vec::new());
        w.add_reference(sha, &to).unwrap();
        assert!(w.add_document(sha, &mut &b"shared"[..]).is_err());
        w.add_record(id(1), b"{}\n", &[1; 64]).unwrap();
        let (bytes, _, footer) = w.finish().unwrap();
        let r = footer.find(Kind::Reference, &Key::Document(sha)).unwrap();
        let parsed =
            Reference::parse(&bytes[r.offset as usize..(r.offset + r.len) as usize]).unwrap();
        assert_eq!(parsed, to);
        assert_eq!(
            &first[parsed.offset as usize..(parsed.offset + parsed.len) as usize],
            b"shared"
        );
        assert_eq!(footer_of(&bytes).unwrap(), footer);
        assert!(Reference::parse(&to.to_bytes().as_bytes()[1..]).is_none());
    }

    #[test]
    fn an_empty_pack_is_just_its_trailer() {
        let (bytes, _, footer) = build(&[], &[]);
        assert_eq!(bytes.len() as u64, TRAILER);
        assert!(footer.entries.is_empty());
        assert_eq!(
            Footer::read(&mut Cursor::new(&bytes), TRAILER).unwrap(),
            footer
        );
    }

    #[test]
    fn the_writer_refuses_a_second_copy_of_a_key() {
        let mut w = PackWriter::new(Vec::new());
        w.add_record(id(1), b"{}\n", &[0; 64]).unwrap();
        assert!(w.add_record(id(1), b"{}\n", &[0; 64]).is_err());
        w.add_document(Sha256::of(b"x"), &mut &b"x"[..]).unwrap();
        assert!(w.add_document(Sha256::of(b"x"), &mut &b"x"[..]).is_err());
    }

    /// The fuzz seeds were written by a few lines of Python from the module comment alone: an
    /// independent writer whose packs this parser must accept.
    #[test]
    fn packs_written_from_the_description_alone_are_read() {
        let one = include_bytes!("../../fuzz/corpus/pack/one-record");
        let f = footer_of(one).unwrap();
        assert_eq!(f.entries.len(), 3);
        let m = f
            .find(
                Kind::Manifest,
                &Key::Record("EX-7K2M-9QDR-T4VW".parse().unwrap()),
            )
            .unwrap();
        assert_eq!(
            &one[m.offset as usize..(m.offset + m.len) as usize],
            b"{\"record\":1}\n"
        );
        let two = include_bytes!("../../fuzz/corpus/pack/two-records");
        let ids: Vec<String> = footer_of(two)
            .unwrap()
            .records()
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, ["EX-GQN6-420A-ZZ7Q", "EX-7K2M-9QDR-T4VW"]);
        assert!(footer_of(include_bytes!("../../fuzz/corpus/pack/empty")).is_ok());
    }

    fn footer_of(bytes: &[u8]) -> Result<Footer, PackError> {
        Footer::read(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    /// Rewrites footer line `i` of a built pack with `f` applied to its entry.
    fn with_line(bytes: &[u8], i: usize, f: impl Fn(&mut Entry)) -> Vec<u8> {
        let footer = footer_of(bytes).unwrap();
        let mut e = footer.entries[i];
        f(&mut e);
        let at = footer.footer_offset as usize + i * LINE as usize;
        let mut out = bytes.to_vec();
        out[at..at + LINE as usize].copy_from_slice(e.line().as_bytes());
        out
    }

    #[test]
    fn footers_that_lie_about_the_bytes_are_refused() {
        let (bytes, _, _) = build(&[(1, b"{\"m\":1}\n".to_vec())], &[b"document".to_vec()]);
        // Line 0 is the document (kind d sorts first).
        let gap = with_line(&bytes, 0, |e| e.len -= 1);
        assert!(matches!(footer_of(&gap), Err(PackError::Coverage { .. })));
        let overlap = with_line(&bytes, 2, |e| e.offset -= 1);
        assert!(matches!(
            footer_of(&overlap),
            Err(PackError::Coverage { .. })
        ));
        let renamed = with_line(&bytes, 2, |e| e.key = Key::Record(id(2)));
        assert!(matches!(
            footer_of(&renamed),
            Err(PackError::Pairing { .. })
        ));
        let mut short = bytes.clone();
        short.remove(0);
        assert!(footer_of(&short).is_err());
        let mut long = bytes.clone();
        long.insert(0, b'x');
        assert!(matches!(
            footer_of(&long),
            Err(PackError::WrongLength { .. })
        ));
        // A record ID in another spelling that the lenient parser of typed IDs would accept.
        let mut lower = bytes.clone();
        let at = footer_of(&bytes).unwrap().footer_offset as usize + LINE as usize + 2;
        assert_eq!(lower[at], b'E');
        lower[at] = b'e';
        assert!(matches!(
            footer_of(&lower),
            Err(PackError::BadLine { line: 1 })
        ));
    }

    #[test]
    fn lines_out_of_order_are_refused() {
        let (bytes, _, footer) = build(&[(1, b"{}\n".to_vec()), (2, b"{}\n".to_vec())], &[]);
        let at = footer.footer_offset as usize;
        let l = LINE as usize;
        let mut swapped = bytes.clone();
        swapped[at..at + l].copy_from_slice(&bytes[at + l..at + 2 * l]);
        swapped[at + l..at + 2 * l].copy_from_slice(&bytes[at..at + l]);
        assert!(matches!(footer_of(&swapped), Err(PackError::Order { .. })));
    }

    /// What `parse_line` decided before it stopped allocating: re-write the entry and compare.
    fn parse_line_by_rewriting(line: &[u8]) -> Option<Entry> {
        if !separated(line) {
            return None;
        }
        let kind = Kind::from_letter(line[0])?;
        let key_text = std::str::from_utf8(&line[2..66])
            .ok()?
            .trim_end_matches(' ');
        let key = match kind {
            Kind::Document | Kind::Reference => Key::Document(Sha256::parse(key_text)?),
            Kind::Manifest | Kind::Signature => Key::Record(key_text.parse().ok()?),
        };
        let entry = Entry {
            kind,
            key,
            offset: digits(&line[67..79])?,
            len: digits(&line[80..92])?,
        };
        (entry.line().as_bytes() == line).then_some(entry)
    }

    /// Spellings of a record ID that `RecordId` parses but a footer line must not hold.
    #[test]
    fn only_the_canonical_spelling_of_a_record_id_is_read() {
        let id = RecordId::from_bits(0x1234_5678_9abc_def0);
        let good = Entry {
            kind: Kind::Manifest,
            key: Key::Record(id),
            offset: 12,
            len: 345,
        }
        .line();
        assert!(parse_line(good.as_bytes()).is_some());
        let text = id.to_string();
        for other in [
            text.to_lowercase(),
            text.replace('-', ""),
            text.replacen("EX-", "", 1),
            text.replace('1', "I"),
            format!("'{text}'"),
        ] {
            assert_ne!(other, text);
            assert_eq!(other.parse::<RecordId>().ok(), Some(id), "{other}");
            let line = good.replace(
                &format!("{text:<KEY_WIDTH$}"),
                &format!("{other:<KEY_WIDTH$}"),
            );
            assert_eq!(line.len() as u64, LINE);
            assert_eq!(parse_line(line.as_bytes()), None, "{line:?}");
            assert_eq!(parse_line_by_rewriting(line.as_bytes()), None);
        }
    }

    proptest! {
        #[test]
        fn written_packs_read_back(
            records in proptest::collection::btree_map(0u64..1_000, proptest::collection::vec(any::<u8>(), 1..200), 0..12),
            docs in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        ) {
            let records: Vec<(u64, Vec<u8>)> = records.into_iter().collect();
            let docs: Vec<Vec<u8>> = docs.into_iter().collect();
            let (bytes, sha, footer) = build(&records, &docs);
            prop_assert_eq!(sha, Sha256::of(&bytes));
            prop_assert_eq!(footer_of(&bytes).unwrap(), footer.clone());
            prop_assert_eq!(footer.entries.len(), docs.len() + 2 * records.len());
        }

        /// Reading a line without re-writing it decides exactly as re-writing did, for any
        /// change to any byte of real lines.
        #[test]
        fn lines_are_read_as_rewriting_them_would(
            kind in 0usize..4, index in any::<u64>(), sha in any::<[u8; 32]>(),
            offset in 0u64..=MAX_OFFSET, len in 0u64..=MAX_OFFSET,
            edits in proptest::collection::vec((0usize..93, any::<u8>()), 0..3),
            pick in proptest::sample::select(b"0123456789abcdefABCDEFXEIiLlOo- \t\nmdrs".to_vec()),
        ) {
            let kind = [Kind::Document, Kind::Manifest, Kind::Reference, Kind::Signature][kind];
            let key = match kind {
                Kind::Document | Kind::Reference => Key::Document(Sha256::from_bytes(sha)),
                _ => Key::Record(RecordId::from_bits(index)),
            };
            let mut line = Entry { kind, key, offset, len }.line().into_bytes();
            for (i, (at, byte)) in edits.iter().enumerate() {
                // Half the edits use bytes a footer line is made of, where a wrong spelling
                // can still parse.
                line[*at] = if i % 2 == 0 { pick } else { *byte };
            }
            prop_assert_eq!(parse_line(&line), parse_line_by_rewriting(&line));
        }

        /// Keys compare as their spellings do, which is the order footers are written in.
        #[test]
        fn keys_compare_as_their_spellings(
            a in any::<u64>(), b in any::<u64>(), x in any::<[u8; 32]>(), y in any::<[u8; 32]>(),
            near in 0u64..64,
        ) {
            let pairs = [
                (Key::Record(RecordId::from_bits(a)), Key::Record(RecordId::from_bits(b))),
                (Key::Record(RecordId::from_bits(a)), Key::Record(RecordId::from_bits(a ^ near))),
                (Key::Document(Sha256::from_bytes(x)), Key::Document(Sha256::from_bytes(y))),
                (Key::Record(RecordId::from_bits(a)), Key::Document(Sha256::from_bytes(y))),
            ];
            for (p, q) in pairs {
                prop_assert_eq!(cmp_spelling(&p, &q), p.text().cmp(&q.text()));
            }
        }

        #[test]
        fn a_flipped_footer_byte_is_refused_or_changes_nothing_it_names(
            at in 0usize..10_000, bit in 0u8..8,
        ) {
            let (bytes, _, footer) = build(&[(3, b"{\"x\":1}\n".to_vec()), (4, b"{}\n".to_vec())], &[b"doc".to_vec()]);
            let start = footer.footer_offset as usize;
            let i = start + at % (bytes.len() - start);
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            // Any change to the footer or trailer either fails to parse or (a key changed into
            // another valid key) names different entries: it never parses to the same footer.
            if let Ok(f) = footer_of(&bad) {
                prop_assert_ne!(f, footer);
            }
        }
    }
}
