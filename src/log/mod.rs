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

pub mod merkle;
pub mod tiles;

use crate::core::digest::Sha256;
use crate::error::{Error, IoContext, Result};
use crate::record_id::RecordId;
use merkle::{Hash, HashReader, ProofError};
use std::fs::File;
use std::path::Path;

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

/// Read leaf lines [start, end) from the open leaves file (`path` names it in errors).
pub fn read_leaves(file: &File, path: &Path, start: u64, end: u64) -> Result<Vec<LeafEntry>> {
    if end <= start {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; ((end - start) * LEAF_LINE) as usize];
    read_exact_at(file, &mut buf, start * LEAF_LINE).ctx("read", path)?;
    buf.chunks(LEAF_LINE as usize)
        .enumerate()
        .map(|(i, line)| {
            LeafEntry::parse(line).ok_or_else(|| {
                Error::verification(format!(
                    "{}: leaf {} is not a well-formed line",
                    path.display(),
                    start + i as u64
                ))
                .hint("restore log/leaves from a backup, then run `exhibit audit`")
            })
        })
        .collect()
}

pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let n = file.seek_read(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
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
