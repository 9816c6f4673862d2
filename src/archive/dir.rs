//! Directory handles that never follow a link.
//!
//! An archive is a directory that others may have written to. If any operation followed a
//! symbolic link inside it, a planted `tmp -> ..` or `log/leaves -> /etc/something` would make
//! exhibit read, truncate or delete files outside the archive. So every path inside an archive is
//! opened one component at a time relative to an open directory handle (`openat`), with
//! `O_NOFOLLOW`, and every file exhibit writes must be a regular file with exactly one link (a
//! hard link to an outside file would otherwise be written through). Only the archive root itself,
//! which the user names, is resolved the ordinary way.
//!
//! Errors keep the `std::io::Error` type; an unsafe entry is an `io::Error` whose inner error is
//! [`Unsafe`], which the archive layer turns into its own message.

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// What makes an archive entry unsafe to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("{0} is a symbolic link; exhibit never follows links inside an archive")]
    Symlink(PathBuf),
    #[error("{0} has {1} hard links; a data file of an archive must have exactly one")]
    HardLinked(PathBuf, u64),
    #[error("{0} is a {1}, not a regular file")]
    NotFile(PathBuf, &'static str),
    #[error("{0} is a {1}, not a directory")]
    NotDir(PathBuf, &'static str),
    #[error("{0:?} is not a plain file name")]
    BadName(String),
}

impl Unsafe {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The `Unsafe` inside an `io::Error`, if that is what it is.
    pub fn of(e: &io::Error) -> Option<&Unsafe> {
        e.get_ref().and_then(|i| i.downcast_ref::<Unsafe>())
    }
}

/// The kind of a directory entry, read without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other(&'static str),
}

pub fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "named pipe",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

fn entry_kind(t: FileType) -> EntryKind {
    match t {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Dir,
        FileType::Symlink => EntryKind::Symlink,
        other => EntryKind::Other(kind_name(other)),
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub kind: EntryKind,
}

/// What `stat` says of an entry, without following links.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub kind: EntryKind,
    pub len: u64,
    pub nlink: u64,
    pub mtime: i64,
}

/// An open directory. Every name given to its methods is one path component.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Unsafe::BadName(name.into()).into_io());
    }
    Ok(())
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::RDONLY);

impl Dir {
    /// Open the directory the user named (the only path resolved the ordinary way).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What a component is, without following it. `None` if it does not exist.
    pub fn meta(&self, name: &str) -> io::Result<Option<Meta>> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta {
                kind: entry_kind(FileType::from_raw_mode(st.st_mode)),
                len: st.st_size as u64,
                nlink: st.st_nlink,
                mtime: st.st_mtime,
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Turn the errors of an `O_NOFOLLOW` open into their meaning: `ELOOP` is a link,
    /// `ENOTDIR` something that is not a directory.
    fn explain(&self, name: &str, e: rustix::io::Errno, want_dir: bool) -> io::Error {
        let path = self.join(name);
        match e {
            rustix::io::Errno::LOOP => Unsafe::Symlink(path).into_io(),
            rustix::io::Errno::NOTDIR if want_dir => {
                let what = self
                    .meta(name)
                    .ok()
                    .flatten()
                    .map(|m| match m.kind {
                        EntryKind::Symlink => "symbolic link",
                        EntryKind::File => "regular file",
                        EntryKind::Dir => "directory",
                        EntryKind::Other(k) => k,
                    })
                    .unwrap_or("file");
                if what == "symbolic link" {
                    Unsafe::Symlink(path).into_io()
                } else {
                    Unsafe::NotDir(path, what).into_io()
                }
            }
            e => io::Error::from(e),
        }
    }

    /// Open an existing subdirectory. `None` if it does not exist.
    pub fn sub(&self, name: &str) -> io::Result<Option<Dir>> {
        check_name(name)?;
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Some(Dir {
                fd,
                path: self.join(name),
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(self.explain(name, e, true)),
        }
    }

    /// Open a subdirectory, creating it if needed.
    pub fn sub_create(&self, name: &str) -> io::Result<Dir> {
        check_name(name)?;
        // Usually it exists: a commit opens four shard-path components per record, and a mkdir
        // that fails with EEXIST first costs a syscall each.
        if let Some(d) = self.sub(name)? {
            return Ok(d);
        }
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.sub(name)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "directory vanished"))
    }

    /// Open a path of several components below this directory, each without following links.
    pub fn walk(&self, components: &[&str]) -> io::Result<Option<Dir>> {
        let mut here: Option<Dir> = None;
        for c in components {
            let next = match &here {
                None => self.sub(c)?,
                Some(d) => d.sub(c)?,
            };
            match next {
                Some(d) => here = Some(d),
                None => return Ok(None),
            }
        }
        Ok(Some(match here {
            Some(d) => d,
            None => self.try_clone()?,
        }))
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
            path: self.path.clone(),
        })
    }

    fn check_file(&self, name: &str, file: &File, single_link: bool) -> io::Result<()> {
        let st = rustix::fs::fstat(file)?;
        let t = FileType::from_raw_mode(st.st_mode);
        if t != FileType::RegularFile {
            return Err(Unsafe::NotFile(self.join(name), kind_name(t)).into_io());
        }
        if single_link && st.st_nlink != 1 {
            return Err(Unsafe::HardLinked(self.join(name), st.st_nlink).into_io());
        }
        Ok(())
    }

    fn open_with(&self, name: &str, flags: OFlags, mode: u32) -> io::Result<Option<File>> {
        check_name(name)?;
        // O_NONBLOCK: opening a planted FIFO must not hang; regular files ignore it.
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => {
                let file = File::from(fd);
                Ok(Some(file))
            }
            Err(rustix::io::Errno::NOENT) if !flags.contains(OFlags::CREATE) => Ok(None),
            Err(e) => Err(self.explain(name, e, false)),
        }
    }

    /// Open an existing regular file for reading. `None` if it does not exist. Hard links are
    /// allowed here (reading through one cannot harm anything); audit reports them.
    pub fn open_file(&self, name: &str) -> io::Result<Option<File>> {
        let Some(f) = self.open_with(name, OFlags::RDONLY, 0)? else {
            return Ok(None);
        };
        self.check_file(name, &f, false)?;
        clear_nonblock(&f)?;
        Ok(Some(f))
    }

    pub fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let Some(mut f) = self.open_file(name)? else {
            return Ok(None);
        };
        let mut v = Vec::new();
        f.read_to_end(&mut v)?;
        Ok(Some(v))
    }

    /// Create a file that must not exist yet.
    pub fn create_new(&self, name: &str, mode: u32) -> io::Result<File> {
        let f = self
            .open_with(name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, mode)?
            .expect("created");
        clear_nonblock(&f)?;
        Ok(f)
    }

    /// Open a file for appending, creating it if needed. Refuses anything but a regular file
    /// with one link, so an append can never land in a file outside the archive.
    pub fn open_append(&self, name: &str, mode: u32) -> io::Result<File> {
        let f = self
            .open_with(name, OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE, mode)?
            .expect("created");
        self.check_file(name, &f, true)?;
        clear_nonblock(&f)?;
        Ok(f)
    }

    /// Open an existing file for writing in place (truncation). `None` if it does not exist.
    pub fn open_write(&self, name: &str) -> io::Result<Option<File>> {
        let Some(f) = self.open_with(name, OFlags::WRONLY, 0)? else {
            return Ok(None);
        };
        self.check_file(name, &f, true)?;
        clear_nonblock(&f)?;
        Ok(Some(f))
    }

    /// Open (creating if needed) a file to hold a lock on. Its content is never read.
    pub fn open_lock(&self, name: &str) -> io::Result<File> {
        let f = self
            .open_with(name, OFlags::RDONLY | OFlags::CREATE, 0o644)?
            .expect("created");
        self.check_file(name, &f, true)?;
        Ok(f)
    }

    /// Remove a file (or a link itself: unlink never follows). Returns whether it existed.
    pub fn remove_file(&self, name: &str) -> io::Result<bool> {
        check_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove an empty directory. Returns whether it existed.
    pub fn remove_dir(&self, name: &str) -> io::Result<bool> {
        check_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove an entry and, if it is a directory, everything below it, without following any
    /// link: a link is removed as a link, never what it points to.
    pub fn remove_tree(&self, name: &str) -> io::Result<()> {
        match self.meta(name)? {
            None => Ok(()),
            Some(m) if m.kind == EntryKind::Dir => {
                if let Some(sub) = self.sub(name)? {
                    for e in sub.entries()? {
                        let n = e.name.to_string_lossy().into_owned();
                        if e.name.to_str().is_none() {
                            // Not UTF-8: unlink by raw name.
                            sub.remove_raw(&e.name)?;
                            continue;
                        }
                        sub.remove_tree(&n)?;
                    }
                }
                self.remove_dir(name).map(|_| ())
            }
            Some(_) => self.remove_file(name).map(|_| ()),
        }
    }

    fn remove_raw(&self, name: &std::ffi::OsStr) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(rustix::io::Errno::ISDIR) => {
                match rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Rename `from` here to `to` in `dest`, replacing what is there.
    pub fn rename(&self, from: &str, dest: &Dir, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        rustix::fs::renameat(&self.fd, from, &dest.fd, to)?;
        Ok(())
    }

    /// Rename `from` here to `to` in `dest` unless `to` exists. Returns false if it existed.
    pub fn rename_noreplace(&self, from: &str, dest: &Dir, to: &str) -> io::Result<bool> {
        check_name(from)?;
        check_name(to)?;
        match rustix::fs::renameat_with(&self.fd, from, &dest.fd, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::EXIST) => Ok(false),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                // File systems without RENAME_NOREPLACE: a hard link fails if the target exists.
                match rustix::fs::linkat(&self.fd, from, &dest.fd, to, AtFlags::empty()) {
                    Ok(()) => {
                        self.remove_file(from)?;
                        Ok(true)
                    }
                    Err(rustix::io::Errno::EXIST) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The entries of this directory, without following links.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let d = rustix::fs::Dir::read_from(&self.fd)?;
        for e in d {
            let e = e?;
            let raw = e.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let name = OsString::from_vec(raw.to_vec());
            let t = e.file_type();
            let kind = if t == FileType::Unknown {
                // Some file systems do not fill d_type.
                match rustix::fs::statat(&self.fd, e.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => entry_kind(FileType::from_raw_mode(st.st_mode)),
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                entry_kind(t)
            };
            out.push(Entry { name, kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Make this directory's entries durable (renames and creations inside it).
    pub fn sync(&self) -> io::Result<()> {
        rustix::fs::fsync(&self.fd)?;
        Ok(())
    }

    /// Flush the whole file system this directory is on. One call makes a whole batch of files
    /// durable, which is what lets a batch of captures share one flush.
    pub fn sync_fs(&self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&self.fd)?;
        #[cfg(not(target_os = "linux"))]
        rustix::fs::fsync(&self.fd)?;
        Ok(())
    }

    /// Take an exclusive advisory lock on the directory itself (blocking).
    pub fn lock_exclusive(&self) -> io::Result<()> {
        rustix::fs::flock(&self.fd, FlockOperation::LockExclusive)?;
        Ok(())
    }

    /// Take an exclusive advisory lock on the directory itself without waiting; false if
    /// another open file description holds a lock on it.
    pub fn try_lock_exclusive(&self) -> io::Result<bool> {
        match rustix::fs::flock(&self.fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub fn lock_shared(&self) -> io::Result<()> {
        rustix::fs::flock(&self.fd, FlockOperation::LockShared)?;
        Ok(())
    }

    pub fn unlock(&self) -> io::Result<()> {
        rustix::fs::flock(&self.fd, FlockOperation::Unlock)?;
        Ok(())
    }

    /// Write `bytes` as `name`, atomically: a scratch file in `scratch` (same file system),
    /// flushed, then renamed over `name`.
    pub fn write_atomic(
        &self,
        scratch: &Dir,
        name: &str,
        bytes: &[u8],
        mode: u32,
    ) -> io::Result<()> {
        use std::io::Write;
        let tmp = unique_name(".write-");
        let mut f = scratch.create_new(&tmp, mode)?;
        let result = (|| {
            f.write_all(bytes)?;
            f.sync_all()?;
            scratch.rename(&tmp, self, name)?;
            self.sync()
        })();
        if result.is_err() {
            let _ = scratch.remove_file(&tmp);
        }
        result
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A name unlikely to collide: prefix, process id, 16 random hex digits.
pub fn unique_name(prefix: &str) -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    format!("{prefix}{}-{}", std::process::id(), hex::encode(b))
}

fn clear_nonblock(f: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(f)?;
    if flags.contains(OFlags::NONBLOCK) {
        rustix::fs::fcntl_setfl(f, flags - OFlags::NONBLOCK)?;
    }
    Ok(())
}

/// Try to take an exclusive lock on a file without waiting.
pub fn try_lock(f: &File) -> io::Result<bool> {
    match rustix::fs::flock(f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn lock(f: &File) -> io::Result<()> {
    rustix::fs::flock(f, FlockOperation::LockExclusive)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), b"keep").unwrap();
        let root = t.path().join("a");
        std::fs::create_dir(&root).unwrap();
        symlink(&outside, root.join("tmp")).unwrap();
        symlink(outside.join("victim"), root.join("leaves")).unwrap();
        let d = Dir::open(&root).unwrap();

        let e = d.sub("tmp").unwrap_err();
        assert!(matches!(Unsafe::of(&e), Some(Unsafe::Symlink(_))), "{e}");
        let e = d.open_append("leaves", 0o644).unwrap_err();
        assert!(matches!(Unsafe::of(&e), Some(Unsafe::Symlink(_))), "{e}");
        let e = d.open_file("leaves").unwrap_err();
        assert!(matches!(Unsafe::of(&e), Some(Unsafe::Symlink(_))), "{e}");
        // Removing the tree removes the links, not their targets.
        d.remove_tree("tmp").unwrap();
        d.remove_tree("leaves").unwrap();
        assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"keep");
    }

    #[test]
    fn hard_links_are_refused_for_writing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("victim"), b"keep").unwrap();
        std::fs::hard_link(t.path().join("victim"), t.path().join("leaves")).unwrap();
        let d = Dir::open(t.path()).unwrap();
        let e = d.open_append("leaves", 0o644).unwrap_err();
        assert!(
            matches!(Unsafe::of(&e), Some(Unsafe::HardLinked(_, 2))),
            "{e}"
        );
        assert!(d.open_write("leaves").is_err());
        assert!(d.open_file("leaves").unwrap().is_some());
    }

    #[test]
    fn names_are_single_components() {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path()).unwrap();
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(d.open_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fifo_does_not_hang() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let d = Dir::open(t.path()).unwrap();
        let e = d.open_file("fifo").unwrap_err();
        assert!(matches!(Unsafe::of(&e), Some(Unsafe::NotFile(_, _))), "{e}");
    }

    #[test]
    fn rename_noreplace_keeps_the_first() {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path()).unwrap();
        std::fs::write(t.path().join("a"), b"1").unwrap();
        std::fs::write(t.path().join("b"), b"2").unwrap();
        std::fs::write(t.path().join("c"), b"3").unwrap();
        assert!(d.rename_noreplace("a", &d, "x").unwrap());
        assert!(!d.rename_noreplace("b", &d, "x").unwrap());
        assert_eq!(std::fs::read(t.path().join("x")).unwrap(), b"1");
    }
}
