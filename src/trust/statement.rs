//! Key statements (the documents of key records) and `log/keys`, the index of key records.
//!
//! A change to the set of trusted keys is a record like any other (method `key`): its document
//! is a small JSON statement, it is signed, appended to the log and covered by the checkpoint.
//! Version 1 statements retire a key or mark it compromised; version 2 adds `added`, which
//! introduces a key (carrying its public key, so the log alone says which keys sign for the
//! archive) and is also how an archive records its first key.

use crate::keys::PublicKey;
use serde::{Deserialize, Serialize};

pub const FORMAT_V1: &str = "exhibit-key-status/1";
pub const FORMAT_V2: &str = "exhibit-key-status/2";
pub const URL_PREFIX: &str = "exhibit:key/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// The key is trusted from this record on (version 2).
    Added,
    Retired,
    Compromised,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Added => "added",
            StatusKind::Retired => "retired",
            StatusKind::Compromised => "compromised",
        }
    }
}

/// The document of a key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub format: String,
    pub key: String,
    pub status: StatusKind,
    pub since: String,
    /// For `added`: the 32 raw public-key bytes, canonical base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Statement {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("statement serializes");
        v.push(b'\n');
        v
    }

    /// A statement that introduces `key`.
    pub fn added(key: &PublicKey, since: &str, reason: Option<String>) -> Statement {
        Statement {
            format: FORMAT_V2.into(),
            key: crate::keys::key_id(key),
            status: StatusKind::Added,
            since: since.into(),
            public_key: Some(crate::b64::encode(key.as_bytes())),
            reason,
        }
    }

    pub fn status(key_id: &str, status: StatusKind, since: &str, reason: Option<String>) -> Self {
        Statement {
            format: FORMAT_V2.into(),
            key: key_id.into(),
            status,
            since: since.into(),
            public_key: None,
            reason,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Statement, String> {
        let s: Statement =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed key statement: {e}"))?;
        if s.format != FORMAT_V1 && s.format != FORMAT_V2 {
            return Err(format!(
                "key statement format {:?} is neither {FORMAT_V1:?} nor {FORMAT_V2:?}",
                s.format
            ));
        }
        if s.format == FORMAT_V1 && (s.status == StatusKind::Added || s.public_key.is_some()) {
            return Err("a version-1 key statement cannot add a key".into());
        }
        if !crate::manifest::is_canonical_time(&s.since) {
            return Err(format!(
                "key statement time {:?} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ",
                s.since
            ));
        }
        if !is_key_id(&s.key) {
            return Err(format!("key statement names {:?}, not a key ID", s.key));
        }
        match (s.status, &s.public_key) {
            (StatusKind::Added, None) => {
                return Err("a statement that adds a key must carry its public_key".into())
            }
            (StatusKind::Added, Some(_)) => {
                let key = s.public_key().ok_or(
                    "public_key is not the canonical base64 of a 32-byte Ed25519 public key",
                )?;
                if crate::keys::key_id(&key) != s.key {
                    return Err(format!(
                        "public_key has key ID {}, not the {} the statement names",
                        crate::keys::key_id(&key),
                        s.key
                    ));
                }
            }
            (_, Some(_)) => {
                return Err("only a statement that adds a key carries a public_key".into())
            }
            _ => {}
        }
        // One statement, one byte form, as for manifests (FORMAT.md 5.6, 7.1.1).
        if s.to_bytes() != bytes {
            return Err("key statement is not in canonical form".into());
        }
        Ok(s)
    }

    /// The key an `added` statement introduces.
    pub fn public_key(&self) -> Option<PublicKey> {
        let raw = crate::b64::decode(self.public_key.as_deref()?)?;
        let raw: [u8; 32] = raw.try_into().ok()?;
        PublicKey::from_bytes(&raw).ok()
    }

    pub fn since_time(&self) -> jiff::Timestamp {
        self.since.parse().expect("checked by parse")
    }
}

pub fn is_key_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One line of `log/keys`: `<leaf index> <record ID> <key ID>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEventLine {
    pub index: u64,
    pub record_id: String,
    pub key: String,
}

impl KeyEventLine {
    pub fn to_line(&self) -> String {
        format!("{} {} {}\n", self.index, self.record_id, self.key)
    }

    /// Parse the committed part of `log/keys` strictly: canonical decimal indexes in strictly
    /// increasing order, canonical record IDs, key IDs, LF line ends. The file has one byte form
    /// because the checkpoint commits to its bytes.
    pub fn parse_file(text: &str) -> Result<Vec<KeyEventLine>, String> {
        let mut out: Vec<KeyEventLine> = Vec::new();
        for l in text.split_inclusive('\n') {
            let Some(body) = l.strip_suffix('\n') else {
                return Err(format!("line {l:?} does not end in LF"));
            };
            let mut parts = body.split(' ');
            let (Some(i), Some(r), Some(k), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("malformed line {body:?}"));
            };
            let index: u64 = i
                .parse()
                .ok()
                .filter(|n: &u64| n.to_string() == i)
                .ok_or_else(|| format!("malformed index in {body:?}"))?;
            let canonical_id = r
                .parse::<crate::record_id::RecordId>()
                .is_ok_and(|id| id.to_string() == r);
            if !canonical_id || !is_key_id(k) {
                return Err(format!("malformed line {body:?}"));
            }
            if out.last().is_some_and(|prev| prev.index >= index) {
                return Err(format!("line {body:?} is out of log order"));
            }
            out.push(KeyEventLine {
                index,
                record_id: r.to_string(),
                key: k.to_string(),
            });
        }
        Ok(out)
    }
}

/// The lines of `log/keys` that belong to a log of `size` records: complete lines (a torn last
/// line is the remains of an interrupted append) whose index is below `size`. Lines that do not
/// parse are kept, so that audit reports them instead of a rollback silently dropping them.
pub fn committed_lines(text: &str, size: u64) -> String {
    text.split_inclusive('\n')
        .filter(|l| {
            l.ends_with('\n')
                && l.split(' ')
                    .next()
                    .and_then(|i| i.parse::<u64>().ok())
                    .is_none_or(|i| i < size)
        })
        .collect()
}

/// The checkpoint extension line that commits to the committed bytes of `log/keys`:
/// `exhibit-key-events <count> <hex SHA-256 of those bytes>`. An archive without key records
/// has no such line.
pub const COMMITMENT_PREFIX: &str = "exhibit-key-events ";

pub fn commitment_line(lines: &str) -> Option<String> {
    use sha2::Digest;
    let count = lines.lines().count();
    (count > 0).then(|| {
        format!(
            "{COMMITMENT_PREFIX}{count} {}",
            hex::encode(sha2::Sha256::digest(lines.as_bytes()))
        )
    })
}

/// Check a key record's manifest against its statement.
pub fn check_record(m: &crate::manifest::Manifest, st: &Statement) -> Result<(), String> {
    if m.method != crate::manifest::Method::Key
        || m.requested_url != format!("{URL_PREFIX}{}", st.key)
    {
        return Err("a key statement must be the document of a key record for that key".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PublicKey {
        crate::keys::SecretKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[test]
    fn statements_round_trip_and_are_strict() {
        let k = key(1);
        let a = Statement::added(&k, "2026-12-02T00:00:00Z", None);
        assert_eq!(Statement::parse(&a.to_bytes()).unwrap(), a);
        assert_eq!(a.public_key().unwrap(), k);
        // The key ID must be the public key's.
        let mut wrong = a.clone();
        wrong.key = crate::keys::key_id(&key(2));
        assert!(Statement::parse(&wrong.to_bytes()).is_err());
        // Version 1 cannot add.
        let mut v1 = a.clone();
        v1.format = FORMAT_V1.into();
        assert!(Statement::parse(&v1.to_bytes()).is_err());
        // A retirement carries no key.
        let mut r = Statement::status(&a.key, StatusKind::Retired, "2026-12-02T00:00:00Z", None);
        assert!(Statement::parse(&r.to_bytes()).is_ok());
        r.public_key = a.public_key.clone();
        assert!(Statement::parse(&r.to_bytes()).is_err());
        // Old version-1 statements still parse.
        let old = br#"{"format":"exhibit-key-status/1","key":"0e57835c891af72a","status":"retired","since":"2026-11-01T00:00:00Z"}
"#;
        assert!(Statement::parse(old).is_ok());
    }

    #[test]
    fn log_keys_lines_are_canonical() {
        let ok = "2 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n";
        assert!(KeyEventLine::parse_file(ok).is_ok());
        for bad in [
            "02 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n",
            "+2 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n",
            "2 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\r\n",
            "2 EX-CYTV-RTDS-ZQVF 0e57835c891af72a",
            "2 ex-cytv-rtds-zqvf 0e57835c891af72a\n",
            "2 EX-CYTV-RTDS-ZQVF 0E57835C891AF72A\n",
            "3 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n2 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n",
        ] {
            assert!(KeyEventLine::parse_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commitment_covers_every_byte() {
        let a = "0 EX-CYTV-RTDS-ZQVF 0e57835c891af72a\n";
        let line = commitment_line(a).unwrap();
        assert!(line.starts_with("exhibit-key-events 1 "));
        assert_eq!(commitment_line(""), None);
        assert_ne!(
            commitment_line(a),
            commitment_line("0 EX-CYTV-RTDS-ZQVF 0e57835c891af72b\n")
        );
    }
}
