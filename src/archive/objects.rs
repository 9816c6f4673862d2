//! Which objects are an archive's content, by name (layout `exhibit-archive/1`, FORMAT.md 3).
//!
//! A copy of an archive (`exhibit mirror`) must carry exactly these and nothing else: not the
//! writers' `lock`, not the scratch space under `tmp/`, not what a file manager leaves behind.
//! The names are the layout's relative paths, so they are the same on every backend. Audit's
//! inventory (verify/audit.rs) classifies by the same function, so a name audit calls an
//! unexpected file is never copied, and one it accepts always is.

use crate::archive::local::{is_os_metadata, LogFile, CONFIG_FILE};
use crate::core::digest::Sha256;
use crate::record_id::RecordId;

/// What an object of the archive is. The order is the order a copy writes them in: what the
/// log names before the log, and the checkpoint (the commit point) last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectKind {
    Config,
    Key,
    Document,
    /// archive/2: `packs/<aa>/<sha256>.pack`, named by the SHA-256 of its bytes.
    Pack,
    Record,
    /// `log/leaves`, `log/hashes`, `log/keys`.
    Log,
    Checkpoint,
}

impl ObjectKind {
    /// Whether an object of this kind never changes once written: documents and packs are named
    /// by their content, records by a fresh ID, key files by their key ID, the config is fixed
    /// at init.
    pub fn immutable(self) -> bool {
        !matches!(self, ObjectKind::Log | ObjectKind::Checkpoint)
    }
}

/// The name of the checkpoint object.
pub fn checkpoint_name() -> String {
    format!("log/{}", LogFile::Checkpoint.name())
}

/// The kind of an archive object, or `None` for a name that is not archive content.
pub fn classify(name: &str) -> Option<ObjectKind> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.last().is_some_and(|n| is_os_metadata(n)) {
        return None;
    }
    match parts.as_slice() {
        [n] if *n == CONFIG_FILE => Some(ObjectKind::Config),
        ["keys", n] if n.ends_with(".pem") && n.len() > 4 => Some(ObjectKind::Key),
        ["documents", shard, n] => {
            let sha = Sha256::parse(n.strip_suffix(".zst")?)?;
            (sha.shard() == *shard).then_some(ObjectKind::Document)
        }
        ["packs", shard, n] => {
            let sha = Sha256::parse(n.strip_suffix(".pack")?)?;
            (sha.shard() == *shard).then_some(ObjectKind::Pack)
        }
        ["records", shard, n] => {
            let stem = n.strip_suffix(".json").or_else(|| n.strip_suffix(".sig"))?;
            let id: RecordId = stem.parse().ok()?;
            (id.to_string() == stem && id.shard() == *shard).then_some(ObjectKind::Record)
        }
        ["log", n] => [
            LogFile::Leaves,
            LogFile::Hashes,
            LogFile::Keys,
            LogFile::Checkpoint,
            LogFile::Places,
            LogFile::LegacyIds,
        ]
        .into_iter()
        .find(|f| f.name() == *n)
        .map(|f| {
            if f == LogFile::Checkpoint {
                ObjectKind::Checkpoint
            } else {
                ObjectKind::Log
            }
        }),
        _ => None,
    }
}

/// Names that belong to a working archive without being its content: the writers' lock, the
/// scratch space, file-manager clutter. A destination may hold these; anything else that is not
/// content means it is not (only) an archive.
pub fn is_working_file(name: &str) -> bool {
    name == "lock"
        || name.starts_with("tmp/")
        || name.rsplit('/').next().is_some_and(is_os_metadata)
}

/// The SHA-256 a pack object's name claims for its bytes.
pub fn pack_sha256(name: &str) -> Option<Sha256> {
    let file = name.rsplit('/').next()?;
    Sha256::parse(file.strip_suffix(".pack")?)
}

/// The SHA-256 a document object's name claims for its content.
pub fn document_sha256(name: &str) -> Option<Sha256> {
    let file = name.rsplit('/').next()?;
    Sha256::parse(file.strip_suffix(".zst")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_what_audit_accounts_for() {
        let sha = Sha256::of(b"x");
        let doc = format!("documents/{}/{sha}.zst", sha.shard());
        assert_eq!(classify(&doc), Some(ObjectKind::Document));
        assert_eq!(document_sha256(&doc), Some(sha));
        assert_eq!(classify(&format!("documents/zz/{sha}.zst")), None);
        let id = RecordId::random();
        for ext in ["json", "sig"] {
            let n = format!("records/{}/{id}.{ext}", id.shard());
            assert_eq!(classify(&n), Some(ObjectKind::Record), "{n}");
        }
        let pack = format!("packs/{}/{sha}.pack", sha.shard());
        assert_eq!(classify(&pack), Some(ObjectKind::Pack));
        assert_eq!(pack_sha256(&pack), Some(sha));
        assert_eq!(classify(&format!("packs/zz/{sha}.pack")), None);
        assert_eq!(classify("log/places"), Some(ObjectKind::Log));
        assert_eq!(classify("log/legacy-ids"), Some(ObjectKind::Log));
        assert_eq!(classify("exhibit.json"), Some(ObjectKind::Config));
        assert_eq!(classify("keys/abc.pem"), Some(ObjectKind::Key));
        assert_eq!(classify("log/leaves"), Some(ObjectKind::Log));
        assert_eq!(classify("log/checkpoint"), Some(ObjectKind::Checkpoint));
        for not in [
            "lock",
            "tmp/w1/owner.lock",
            "keys/._a.pem",
            "log/.DS_Store",
            "log/x",
            "a",
        ] {
            assert_eq!(classify(not), None, "{not}");
        }
        assert!(is_working_file("lock") && is_working_file("tmp/w1/x"));
        assert!(is_working_file("documents/.DS_Store") && !is_working_file("log/x"));
    }
}
