//! The archive's append-only log: an RFC 6962 Merkle tree whose leaf i is the i-th record's
//! manifest bytes, committed to by a signed C2SP checkpoint.
//!
//! On disk (docs/FORMAT.md):
//! - `log/leaves`: one fixed-width line per leaf, `<record ID> <document sha256>\n` (83 bytes),
//!   so leaf i is found by offset, never by scanning;
//! - `log/hashes`: the tree's stored hashes, 32 bytes each, in Go tlog order, so appending a leaf
//!   reads and writes O(log n) hashes;
//! - `log/checkpoint`: the signed note. Its tree size is the commit point: bytes of `leaves` and
//!   `hashes` beyond what it covers are the remains of an interrupted write.
//!
//! Pure: the tree, proofs, tiles and line formats. Reading the files is the archive's
//! (`archive::local`), which hands the tree its stored hashes through `merkle::HashReader`.

pub mod merkle;
pub mod tiles;

use crate::core::digest::Sha256;
use crate::record_id::RecordId;

pub const LEAF_LINE: u64 = 83;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafEntry {
    pub record_id: RecordId,
    pub sha256: Sha256,
}

impl LeafEntry {
    pub fn to_line(&self) -> String {
        format!("{} {}\n", self.record_id, self.sha256)
    }

    pub fn parse(line: &[u8]) -> Option<LeafEntry> {
        if line.len() as u64 != LEAF_LINE || line[82] != b'\n' || line[17] != b' ' {
            return None;
        }
        let id_text = std::str::from_utf8(&line[..17]).ok()?;
        let record_id: RecordId = id_text.parse().ok()?;
        // Only the canonical spelling is accepted: the file is written by us, never typed.
        if record_id.to_string() != id_text {
            return None;
        }
        let sha256 = Sha256::parse(std::str::from_utf8(&line[18..82]).ok()?)?;
        Some(LeafEntry { record_id, sha256 })
    }
}
