//! The storage abstraction under an archive: named objects, nothing else.
//!
//! An object is named by a relative path of plain components (`log/commit/000000000042`,
//! `checkpoint`); backends keep them in a directory (local) or under a key prefix (S3-compatible
//! object storage). Everything above this trait works with names and bytes, never with paths or
//! buckets, so the same archive logic (commit protocol, audit, verify) runs on either.
//!
//! The operations are the ones an append-only, many-writer archive needs (rustic's backend
//! traits and object_store's `PutMode` are the models): reads, ranged reads, listing, writes
//! that create only (`If-None-Match: *`) or replace only a version the writer read (`If-Match`
//! on an ETag), deletes, and a durability barrier.

use crate::archive::dir::{self, Dir, EntryKind};
use crate::archive::local::io_error;
use crate::error::{Error, Result};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a listing or a head request says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub name: String,
    pub size: u64,
    /// A version tag: changes whenever the content does (an S3 ETag; locally the SHA-256).
    /// Empty in a local listing, which does not read every file to list it: ask `head`.
    pub etag: String,
    /// Seconds since the epoch, when the backend knows.
    pub modified: Option<i64>,
}

/// How a write may proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Create or replace.
    Overwrite,
    /// Only if no object of that name exists.
    Create,
    /// Only if the object still has this version tag.
    Update(String),
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Written {
        etag: String,
    },
    /// `Create`: an object of that name exists (its bytes may or may not be these).
    Exists,
    /// `Update`: the object changed since the version given (or is gone).
    Conflict,
}

pub trait Backend: Send + Sync {
    /// Where the archive is, for messages: a directory, or `s3://bucket/prefix`.
    fn describe(&self) -> String;
    /// The whole object and its version tag; `None` if there is no such object.
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>>;
    /// `len` bytes from `start` (fewer only at the end of the object).
    fn get_range(&self, name: &str, start: u64, len: u64) -> Result<Vec<u8>>;
    fn head(&self, name: &str) -> Result<Option<ObjectMeta>>;
    /// Every object whose name starts with `prefix`, sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Like `list`, but only the names after `after` (which starts with `prefix`): a store
    /// lists from there instead of from the start.
    fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>> {
        let mut all = self.list(prefix)?;
        all.retain(|m| m.name.as_str() > after);
        Ok(all)
    }
    fn put(&self, name: &str, bytes: &[u8], mode: PutMode) -> Result<PutOutcome>;
    /// Write the content of a local file (a staged document), streaming.
    fn put_file(&self, name: &str, file: &Path, mode: PutMode) -> Result<PutOutcome>;
    fn delete(&self, name: &str) -> Result<()>;
    /// Make every write so far durable.
    fn barrier(&self) -> Result<()>;
    /// Whether this is object storage, where an archive keeps its log as segments
    /// (archive/remote.rs) instead of files that grow.
    fn is_object_store(&self) -> bool {
        false
    }
}

/// A name is relative plain components: never empty, `.` or `..`, no NUL, no leading `/`.
/// A name is never also the folder of another (`a` and `a/b`): object stores allow it, a
/// directory does not, and the archive's layout never needs it.
pub fn check_name(name: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0'))
    {
        return Err(Error::archive(format!("{name:?} is not an object name"))
            .hint("this is a bug in exhibit; please report it"));
    }
    Ok(parts)
}

fn local_etag(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Objects as files in a directory, opened without following links (dir.rs). Conditional
/// writes are decided under an exclusive lock on the directory handle of the object's folder,
/// so any number of processes on one machine get the same answers an object store gives.
pub struct LocalBackend {
    root: Dir,
    /// Serialises this process's conditional writes (flock is per open file description).
    lock: Mutex<()>,
}

impl LocalBackend {
    pub fn open(path: &Path) -> Result<LocalBackend> {
        let root = Dir::open(path).map_err(|e| io_error("open", path, e))?;
        Ok(LocalBackend {
            root,
            lock: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Remove the staging files (`.put-*`) of writes that a crash or a kill interrupted, which
    /// would otherwise stay beside the objects forever (listings skip them, audit would not).
    /// Only for a caller that knows no write is in progress: one that holds the archive's
    /// writers' lock and is the only user of a backend on this directory.
    pub fn remove_abandoned_writes(&self) -> Result<usize> {
        let root = self
            .root
            .try_clone()
            .map_err(|e| io_error("open", self.root.path(), e))?;
        remove_puts(&root)
    }

    fn shown(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// The folder of `name` and its file name; folders are created when `create`.
    fn folder(&self, name: &str, create: bool) -> Result<Option<(Dir, String)>> {
        let parts = check_name(name)?;
        let (file, dirs) = parts.split_last().expect("at least one part");
        let mut d = self
            .root
            .try_clone()
            .map_err(|e| io_error("open", self.root.path(), e))?;
        for c in dirs {
            let next = if create {
                Some(
                    d.sub_create(c)
                        .map_err(|e| io_error("create directory", &d.join(c), e))?,
                )
            } else {
                d.sub(c).map_err(|e| io_error("open", &d.join(c), e))?
            };
            match next {
                Some(n) => d = n,
                None => return Ok(None),
            }
        }
        Ok(Some((d, file.to_string())))
    }

    fn write_into(
        &self,
        d: &Dir,
        file: &str,
        src: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutOutcome> {
        let _g = self.lock.lock().expect("not poisoned");
        // Stage beside the target, flush, then place: a crash leaves the old object or the new.
        let tmp = dir::unique_name(".put-");
        let shown = self.shown(file);
        let mut f = d
            .create_new(&tmp, 0o644)
            .map_err(|e| io_error("create", &d.join(&tmp), e))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let written = (|| -> std::io::Result<()> {
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n])?;
            }
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = d.remove_file(&tmp);
            return Err(io_error("write", &shown, e));
        }
        let etag = hex::encode(hasher.finalize());
        d.lock_exclusive()
            .map_err(|e| io_error("lock", d.path(), e))?;
        let placed = (|| -> Result<PutOutcome> {
            match &mode {
                PutMode::Create => {
                    if !d
                        .rename_noreplace(&tmp, d, file)
                        .map_err(|e| io_error("move into place", &shown, e))?
                    {
                        return Ok(PutOutcome::Exists);
                    }
                }
                PutMode::Update(want) => {
                    let current = d
                        .read(file)
                        .map_err(|e| io_error("read", &shown, e))?
                        .map(|b| local_etag(&b));
                    if current.as_deref() != Some(want.as_str()) {
                        return Ok(PutOutcome::Conflict);
                    }
                    d.rename(&tmp, d, file)
                        .map_err(|e| io_error("move into place", &shown, e))?;
                }
                PutMode::Overwrite => d
                    .rename(&tmp, d, file)
                    .map_err(|e| io_error("move into place", &shown, e))?,
            }
            d.sync()
                .map_err(|e| io_error("flush directory", d.path(), e))?;
            Ok(PutOutcome::Written { etag: etag.clone() })
        })();
        let _ = d.unlock();
        if !matches!(placed, Ok(PutOutcome::Written { .. })) {
            let _ = d.remove_file(&tmp);
        }
        placed
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.root.path().display().to_string()
    }

    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>> {
        let Some((d, file)) = self.folder(name, false)? else {
            return Ok(None);
        };
        let bytes = d
            .read(&file)
            .map_err(|e| io_error("read", &self.shown(name), e))?;
        Ok(bytes.map(|b| {
            let etag = local_etag(&b);
            (b, etag)
        }))
    }

    fn get_range(&self, name: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let shown = self.shown(name);
        let f = self
            .folder(name, false)?
            .and_then(|(d, file)| d.open_file(&file).transpose())
            .transpose()
            .map_err(|e| io_error("open", &shown, e))?
            .ok_or_else(|| Error::archive(format!("{} is missing", shown.display())))?;
        let size = f
            .metadata()
            .map_err(|e| io_error("inspect", &shown, e))?
            .len();
        let end = start.saturating_add(len).min(size);
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        crate::core::fsutil::read_exact_at(&f, &mut buf, start)
            .map_err(|e| io_error("read", &shown, e))?;
        Ok(buf)
    }

    fn head(&self, name: &str) -> Result<Option<ObjectMeta>> {
        Ok(self.get(name)?.map(|(b, etag)| ObjectMeta {
            name: name.to_string(),
            size: b.len() as u64,
            etag,
            modified: None,
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let root = self
            .root
            .try_clone()
            .map_err(|e| io_error("open", self.root.path(), e))?;
        list_into(&root, "", prefix, &mut out)?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn put(&self, name: &str, bytes: &[u8], mode: PutMode) -> Result<PutOutcome> {
        let (d, file) = self.folder(name, true)?.expect("created");
        self.write_into(&d, &file, &mut &bytes[..], mode)
    }

    fn put_file(&self, name: &str, file: &Path, mode: PutMode) -> Result<PutOutcome> {
        let mut src = std::fs::File::open(file).map_err(|e| Error::io("open", file, e))?;
        let (d, f) = self.folder(name, true)?.expect("created");
        self.write_into(&d, &f, &mut src, mode)
    }

    fn delete(&self, name: &str) -> Result<()> {
        if let Some((d, file)) = self.folder(name, false)? {
            d.remove_file(&file)
                .map_err(|e| io_error("remove", &self.shown(name), e))?;
        }
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.root
            .sync_fs()
            .map_err(|e| io_error("flush to disk", self.root.path(), e))
    }
}

fn list_into(d: &Dir, at: &str, prefix: &str, out: &mut Vec<ObjectMeta>) -> Result<()> {
    for e in d.entries().map_err(|e| io_error("list", d.path(), e))? {
        let Some(n) = e.name.to_str() else { continue };
        if n.starts_with(".put-") {
            continue; // a write in progress
        }
        let name = if at.is_empty() {
            n.to_string()
        } else {
            format!("{at}/{n}")
        };
        // Only descend into folders that can hold names with the prefix.
        let could = name.starts_with(prefix) || prefix.starts_with(&format!("{name}/"));
        if !could {
            continue;
        }
        match e.kind {
            EntryKind::Dir => {
                if let Some(sub) = d.sub(n).map_err(|e| io_error("open", &d.join(n), e))? {
                    list_into(&sub, &name, prefix, out)?;
                }
            }
            EntryKind::File if name.starts_with(prefix) => {
                let m = d
                    .meta(n)
                    .map_err(|e| io_error("inspect", &d.join(n), e))?
                    .expect("listed");
                out.push(ObjectMeta {
                    name,
                    size: m.len,
                    etag: String::new(),
                    modified: Some(m.mtime),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn remove_puts(d: &Dir) -> Result<usize> {
    let mut removed = 0;
    for e in d.entries().map_err(|e| io_error("list", d.path(), e))? {
        let Some(n) = e.name.to_str() else { continue };
        match e.kind {
            EntryKind::Dir => {
                if let Some(sub) = d.sub(n).map_err(|e| io_error("open", &d.join(n), e))? {
                    removed += remove_puts(&sub)?;
                }
            }
            EntryKind::File if n.starts_with(".put-") => {
                d.remove_file(n)
                    .map_err(|e| io_error("remove", &d.join(n), e))?;
                removed += 1;
            }
            _ => {}
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_writes_behave_like_an_object_store() {
        let t = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(t.path()).unwrap();
        let w = b.put("log/commit/0", b"one", PutMode::Create).unwrap();
        let PutOutcome::Written { etag } = w else {
            panic!("{w:?}")
        };
        assert_eq!(
            b.put("log/commit/0", b"two", PutMode::Create).unwrap(),
            PutOutcome::Exists
        );
        assert_eq!(b.get("log/commit/0").unwrap().unwrap().0, b"one");
        assert_eq!(
            b.put("log/commit/0", b"x", PutMode::Update("nope".into()))
                .unwrap(),
            PutOutcome::Conflict
        );
        assert!(matches!(
            b.put("log/commit/0", b"three", PutMode::Update(etag))
                .unwrap(),
            PutOutcome::Written { .. }
        ));
        assert_eq!(b.get_range("log/commit/0", 1, 3).unwrap(), b"hre");
        b.put("log/other", b"o", PutMode::Overwrite).unwrap();
        let names: Vec<String> = b
            .list("log/")
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["log/commit/0", "log/other"]);
        assert_eq!(b.list("log/c").unwrap().len(), 1);
        b.delete("log/other").unwrap();
        assert!(b.get("log/other").unwrap().is_none());
        assert!(b.put("../x", b"", PutMode::Overwrite).is_err());
    }

    #[test]
    fn many_threads_creating_one_name_have_one_winner() {
        let t = tempfile::tempdir().unwrap();
        let b = std::sync::Arc::new(LocalBackend::open(t.path()).unwrap());
        let winners: usize = (0..8)
            .map(|i| {
                let b = b.clone();
                std::thread::spawn(move || {
                    matches!(
                        b.put("c/0", format!("{i}").as_bytes(), PutMode::Create)
                            .unwrap(),
                        PutOutcome::Written { .. }
                    ) as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(winners, 1);
    }
}
