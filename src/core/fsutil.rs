//! Durable file operations. The archive's crash safety rests on three rules: new bytes go to a
//! scratch file first, they are made durable before anything refers to them, and they appear
//! under their final name only by an atomic rename.

use crate::error::{IoContext, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Make everything written so far durable. On Linux one `syncfs` flushes a whole batch of files
/// and directory entries at once, which is what lets a batch of captures share one flush instead
/// of paying ~1 ms per file. Elsewhere each given file, each file directly inside each given
/// directory, and the directory itself are fsynced.
pub fn sync_all(fs_anchor: &Path, paths: &[&Path]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        use std::os::fd::AsRawFd;
        let f = File::open(fs_anchor).ctx("open", fs_anchor)?;
        // SAFETY: syncfs takes a valid open descriptor and has no memory effects.
        let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).ctx("flush to disk", fs_anchor);
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fs_anchor;
        // A directory stands for the files directly in it (staged documents and manifests) and
        // for its own entries (renames); paths that do not exist yet have nothing to flush.
        for p in paths.iter().filter(|p| p.exists()) {
            if p.is_dir() {
                for entry in fs::read_dir(p).ctx("list", p)? {
                    let f = entry.ctx("list", p)?.path();
                    if f.is_file() {
                        File::open(&f)
                            .and_then(|f| f.sync_all())
                            .ctx("flush to disk", &f)?;
                    }
                }
            }
            File::open(p)
                .and_then(|f| f.sync_all())
                .ctx("flush to disk", p)?;
        }
        Ok(())
    }
}

/// fsync a directory so that renames and creations inside it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx("flush directory", dir)
}

/// Write `bytes` to `path` atomically: a sibling scratch file in `scratch_dir`, fsync, rename.
/// `scratch_dir` must be on the same filesystem as `path`.
pub fn write_atomic(scratch_dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = scratch_file(scratch_dir, mode)?;
    let mut f = tmp.as_file();
    f.write_all(bytes).ctx("write", tmp.path())?;
    f.sync_all().ctx("flush", tmp.path())?;
    tmp.persist(path).ctx("move into place", path)?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(parent)?;
    Ok(())
}

/// Write `bytes` to `path` only if nothing is there yet: a flushed scratch file in `scratch_dir`
/// is hard-linked to `path` (which fails if `path` exists), so concurrent writers of the same
/// path never overwrite each other. Returns false if `path` already existed.
pub fn write_new(scratch_dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<bool> {
    let tmp = scratch_file(scratch_dir, mode)?;
    let mut f = tmp.as_file();
    f.write_all(bytes).ctx("write", tmp.path())?;
    f.sync_all().ctx("flush", tmp.path())?;
    // Linked, then the scratch name removed, with no interruption's clean-up in between.
    let (tmp, registration) = tmp.into_parts();
    let linked = registration.settle(|| {
        let linked = fs::hard_link(tmp.path(), path);
        drop(tmp);
        linked
    });
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).ctx("create", path),
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(parent)?;
    Ok(true)
}

/// A scratch file in `dir` with `mode`, removed if the process is interrupted (a key's scratch
/// file beside `keygen --out`, an `audit --state` file's beside it).
fn scratch_file(
    dir: &Path,
    mode: u32,
) -> Result<super::interrupt::Tracked<tempfile::NamedTempFile>> {
    super::interrupt::track(
        || {
            tempfile::Builder::new()
                .prefix(".write-")
                .permissions(permissions(mode))
                .tempfile_in(dir)
        },
        |t| t.path().to_path_buf(),
    )
    .ctx("create a scratch file in", dir)
}

#[cfg(unix)]
fn permissions(mode: u32) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(mode)
}

#[cfg(not(unix))]
fn permissions(_mode: u32) -> fs::Permissions {
    fs::metadata(".").map(|m| m.permissions()).unwrap()
}

/// Create a file that must not exist yet, with the given mode (e.g. 0o600 for secret keys).
pub fn create_new(path: &Path, mode: u32) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).ctx("create", path)
}

pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).ctx("create directory", path)
}

/// Read up to `buf.len()` bytes at `offset`, fewer only at the end of the file; returns how
/// many. Like [`read_exact_at`], the file's position does not move.
pub fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = {
            use std::os::unix::fs::FileExt;
            file.read_at(&mut buf[done..], offset + done as u64)
        };
        #[cfg(windows)]
        let n = {
            use std::os::windows::fs::FileExt;
            file.seek_read(&mut buf[done..], offset + done as u64)
        };
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Read exactly `buf.len()` bytes at `offset`, without moving the file's position (so that
/// threads can share one open file).
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
