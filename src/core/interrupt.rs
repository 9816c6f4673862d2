//! Temporary files and directories that must not outlive an interrupted command.
//!
//! What exhibit builds beside a path the user named (an export's scratch file, the staging
//! directory of `init` or `migrate`, a key's scratch file) and the scratch copies it makes
//! elsewhere are registered here while they exist. [`install`], called once by the `exhibit`
//! binary, catches SIGINT, SIGTERM and SIGHUP: a thread of ours then removes every registered
//! path and the process dies of the same signal, as it would have without the handler (a shell
//! reports 128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM). A signal that the process
//! was started with ignored (`nohup`) stays ignored.
//!
//! A path is registered under the same lock as it is created, and is renamed into place or
//! removed under that lock too ([`Registration::settle`]); the cleanup takes the lock and keeps
//! it until the process is gone. So an interrupted command leaves each path either removed or
//! finished (a complete output, renamed into place), never a half of each: the cleanup never
//! empties a directory that a rename has just made the finished archive.
//!
//! SIGKILL and a power cut cannot be caught. What they leave of the archive's own writes, the
//! next writer rolls back; a staging directory of `init` or `migrate`, the next `init` or
//! `migrate` of the same target removes once it is provably abandoned (archive/mod.rs,
//! `remove_stale_staging`).
//!
//! Without [`install`] (the library used on its own) nothing is caught and registering costs a
//! map entry.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

struct Registry {
    next: u64,
    paths: BTreeMap<u64, PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    paths: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A registered path: removed if the process is interrupted while this exists. Dropping it
/// forgets the path (drop it only once the path is gone or finished).
#[derive(Debug)]
#[must_use = "the path is forgotten when the registration is dropped"]
pub struct Registration {
    id: u64,
}

impl Registration {
    /// Run `op` (the rename that puts the path in place, or its removal) with no cleanup
    /// between its start and the path being forgotten.
    pub fn settle<R>(self, op: impl FnOnce() -> R) -> R {
        let mut reg = registry();
        let out = op();
        reg.paths.remove(&self.id);
        drop(reg);
        std::mem::forget(self);
        out
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().paths.remove(&self.id);
    }
}

/// Something created at a registered path. The value is dropped before the registration, so a
/// `TempDir` or `NamedTempFile` removes its path while it is still registered.
#[derive(Debug)]
pub struct Tracked<T> {
    value: T,
    registration: Registration,
}

impl<T> Tracked<T> {
    pub fn into_parts(self) -> (T, Registration) {
        (self.value, self.registration)
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl Tracked<tempfile::NamedTempFile> {
    /// Rename the file to `to` (replacing what is there); a file that cannot be renamed is
    /// removed.
    pub fn persist(self, to: &Path) -> io::Result<File> {
        let (file, registration) = self.into_parts();
        registration.settle(|| file.persist(to).map_err(|e| e.error))
    }
}

/// Create something with `create`, registered at the path `path` gives for it. Creation and
/// registration happen under the lock the cleanup takes, so nothing created is missed.
pub fn track<T, E>(
    create: impl FnOnce() -> Result<T, E>,
    path: impl FnOnce(&T) -> PathBuf,
) -> Result<Tracked<T>, E> {
    let mut reg = registry();
    let value = create()?;
    let id = reg.next;
    reg.next += 1;
    reg.paths.insert(id, path(&value));
    Ok(Tracked {
        value,
        registration: Registration { id },
    })
}

/// A scratch file `<prefix>XXXXXX` in `dir`, removed if the process is interrupted.
pub fn temp_file_in(dir: &Path, prefix: &str) -> io::Result<Tracked<tempfile::NamedTempFile>> {
    track(
        || tempfile::Builder::new().prefix(prefix).tempfile_in(dir),
        |t| t.path().to_path_buf(),
    )
}

/// A scratch directory `<prefix>XXXXXX` in `dir`, removed with everything in it if the process
/// is interrupted.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<Tracked<tempfile::TempDir>> {
    track(
        || tempfile::Builder::new().prefix(prefix).tempdir_in(dir),
        |t| t.path().to_path_buf(),
    )
}

/// As [`temp_dir_in`], in the system's temporary directory.
pub fn temp_dir(prefix: &str) -> io::Result<Tracked<tempfile::TempDir>> {
    temp_dir_in(&std::env::temp_dir(), prefix)
}

/// As [`temp_file_in`], in the system's temporary directory.
pub fn temp_file(prefix: &str) -> io::Result<Tracked<tempfile::NamedTempFile>> {
    temp_file_in(&std::env::temp_dir(), prefix)
}

/// Remove a file, or a directory and everything in it, without following links. A directory
/// that another thread is still writing into may refuse to go at first: tried again a while.
fn remove(path: &Path) {
    for _ in 0..100 {
        match std::fs::symlink_metadata(path) {
            Err(_) => return,
            Ok(m) if m.is_dir() => {
                if std::fs::remove_dir_all(path).is_ok() {
                    return;
                }
            }
            Ok(_) => {
                let _ = std::fs::remove_file(path);
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The write end of the pipe the handler tells the cleanup thread through.
static PIPE: AtomicI32 = AtomicI32::new(-1);
static CAUGHT: AtomicBool = AtomicBool::new(false);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work: an atomic and one write(2). The first signal starts the
    // cleanup; more (an impatient second Ctrl-C) change nothing, as the process is ending.
    if CAUGHT.swap(true, Ordering::SeqCst) {
        return;
    }
    let byte = sig as u8;
    // SAFETY: writing one byte from a live local to a descriptor we own; a failed write
    // changes errno only when it fails, and then the process keeps its default behaviour
    // below.
    let n = unsafe { libc::write(PIPE.load(Ordering::SeqCst), (&byte as *const u8).cast(), 1) };
    if n != 1 {
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// Remove every registered path, then die of `sig`. The lock is never released, so nothing
/// new is created or renamed into place once the cleanup has begun.
fn clean_up_and_die(sig: libc::c_int) -> ! {
    let reg = registry();
    for path in reg.paths.values() {
        remove(path);
    }
    // SAFETY: restoring the default action and sending ourselves the signal the user sent.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
    std::thread::sleep(Duration::from_secs(2));
    // Only if every thread blocks the signal.
    // SAFETY: ends the process without running anything else.
    unsafe { libc::_exit(128 + sig) }
}

/// Catch SIGINT, SIGTERM and SIGHUP for the rest of the process (see the module's text). Call
/// once, early; later calls do nothing.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut fds = [-1; 2];
        // SAFETY: pipe writes two descriptors into the array; fcntl only sets flags on them.
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return;
            }
            for fd in fds {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
            let flags = libc::fcntl(fds[1], libc::F_GETFL);
            libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        // SAFETY: the read end is ours alone from here on.
        let mut reader = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        let spawned = std::thread::Builder::new()
            .name("exhibit-interrupt".into())
            .spawn(move || {
                use std::io::Read;
                let mut b = [0u8; 1];
                loop {
                    match reader.read(&mut b) {
                        Ok(1) => clean_up_and_die(libc::c_int::from(b[0])),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        _ => return,
                    }
                }
            });
        if spawned.is_err() {
            return;
        }
        PIPE.store(fds[1], Ordering::SeqCst);
        for sig in SIGNALS {
            // SAFETY: sigaction reads and writes plain structs; the handler above only does
            // async-signal-safe work.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                new.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut new.sa_mask);
                libc::sigaction(sig, &new, std::ptr::null_mut());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_path_is_forgotten_once_settled_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let t = temp_file_in(dir.path(), ".t-").unwrap();
        let path = t.path().to_path_buf();
        assert!(registry().paths.values().any(|p| *p == path));
        t.persist(&dir.path().join("out")).unwrap();
        assert!(!registry().paths.values().any(|p| *p == path));
        assert!(dir.path().join("out").is_file());
        let d = temp_dir_in(dir.path(), ".d-").unwrap();
        let path = d.path().to_path_buf();
        drop(d);
        assert!(!path.exists());
    }

    #[test]
    fn removal_takes_a_whole_tree_and_not_what_a_link_points_to() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("keep");
        std::fs::create_dir(&keep).unwrap();
        std::fs::write(keep.join("f"), b"x").unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&keep, tree.join("link")).unwrap();
        remove(&tree);
        assert!(!tree.exists());
        assert!(keep.join("f").is_file());
    }
}
