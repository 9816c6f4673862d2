//! Tampering with an archive's objects through exhibit's own storage backend, the same way on a
//! directory (`LocalBackend`) and on an S3 bucket (`S3Backend`): what anyone with write access
//! to the storage can do. tests/integrity.rs and tests/s3_archive.rs run their tamper suites on
//! it, so a suite written for one runs on the other unchanged.

use exhibit::archive::backend::{Backend, PutMode};

/// An archive's objects: the names under `prefix` of a backend, without the prefix.
pub struct Objects<'a> {
    store: &'a dyn Backend,
    prefix: String,
}

/// One act of tampering.
#[derive(Debug, Clone)]
pub enum Act {
    /// The byte at `at` XOR `mask` (not zero).
    Flip {
        name: String,
        at: usize,
        mask: u8,
    },
    Delete(String),
    /// A new object with these bytes.
    Add(String, Vec<u8>),
}

impl Act {
    pub fn name(&self) -> &str {
        match self {
            Act::Flip { name, .. } | Act::Delete(name) | Act::Add(name, _) => name,
        }
    }
}

impl std::fmt::Display for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Act::Flip { name, at, mask } => write!(f, "byte {at} of {name} xor {mask:#x}"),
            Act::Delete(name) => write!(f, "{name} deleted"),
            Act::Add(name, _) => write!(f, "{name} added"),
        }
    }
}

impl<'a> Objects<'a> {
    /// `prefix` is the archive's folder in the store ("" for a whole directory), with its `/`.
    pub fn new(store: &'a dyn Backend, prefix: &str) -> Objects<'a> {
        Objects {
            store,
            prefix: prefix.to_string(),
        }
    }

    /// Every object's name and size, sorted by name.
    pub fn list(&self) -> Vec<(String, u64)> {
        self.store
            .list(&self.prefix)
            .unwrap()
            .into_iter()
            .map(|m| (m.name[self.prefix.len()..].to_string(), m.size))
            .collect()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        let full = format!("{}{name}", self.prefix);
        let (bytes, _) = self
            .store
            .get(&full)
            .unwrap()
            .unwrap_or_else(|| panic!("no object {full}"));
        bytes
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        self.store
            .put(&format!("{}{name}", self.prefix), bytes, PutMode::Overwrite)
            .unwrap();
    }

    pub fn delete(&self, name: &str) {
        self.store
            .delete(&format!("{}{name}", self.prefix))
            .unwrap();
    }

    /// Do `act`, run `audit` (its exit code and `--json` report), then put everything back as
    /// it was.
    pub fn tampered<T>(&self, act: &Act, audit: impl FnOnce() -> T) -> T {
        let name = act.name();
        let original = match act {
            Act::Add(..) => None,
            _ => Some(self.read(name)),
        };
        match act {
            Act::Flip { at, mask, .. } => {
                assert_ne!(*mask, 0, "a flip changes the byte");
                let mut bytes = original.clone().unwrap();
                bytes[*at] ^= mask;
                self.write(name, &bytes);
            }
            Act::Delete(_) => self.delete(name),
            Act::Add(_, bytes) => self.write(name, bytes),
        }
        let result = audit();
        match original {
            Some(bytes) => self.write(name, &bytes),
            None => self.delete(name),
        }
        result
    }
}

/// Whether an audit report (`exhibit audit --json`) names the object `name` in an error.
pub fn names_error(report: &serde_json::Value, name: &str) -> bool {
    report["problems"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["severity"] == "error" && p["path"] == name)
    })
}

/// The audit after `act` fails (exit code 1) and names the object in an error.
pub fn assert_caught(act: &Act, (code, report): (i32, serde_json::Value)) {
    assert_eq!(code, 1, "audit did not fail after {act}: {report:#}");
    assert!(
        names_error(&report, act.name()),
        "audit failed but did not name the object after {act}: {report:#}"
    );
}
