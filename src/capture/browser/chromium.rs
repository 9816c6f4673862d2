//! Finding, starting and always stopping the Chromium process.
//!
//! Chromium comes from the system (Debian's `chromium` package), found on PATH or named by
//! `EXHIBIT_CHROMIUM`; exhibit never downloads a browser. It runs headless with a fresh
//! temporary profile, DevTools over a pipe (fds 3 and 4) and a proxy that refuses every
//! connection, so the only way a page gets a byte is through exhibit's Fetch interception.
//!
//! No orphans: the browser gets its own process group, and `PR_SET_PDEATHSIG` (SIGKILL) from a
//! thread that lives exactly as long as the browser, so it dies with exhibit even when exhibit
//! is killed. [`Process::kill`] (also run by `Drop`, hence on errors and panics) SIGKILLs the
//! group and every descendant found in /proc, then reaps the browser.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// The environment variable naming the Chromium executable to use.
pub const ENV_CHROMIUM: &str = "EXHIBIT_CHROMIUM";
/// The command that installs the browser exhibit uses.
pub const INSTALL_HINT: &str =
    "install it with `apt-get install --no-install-recommends chromium`, or set EXHIBIT_CHROMIUM to a Chromium executable";

/// The executable: `explicit` if given, else `EXHIBIT_CHROMIUM` if set, else `chromium` on PATH.
pub fn find_chromium(explicit: Option<&Path>) -> Result<PathBuf> {
    locate(
        explicit,
        std::env::var_os(ENV_CHROMIUM).as_deref(),
        std::env::var_os("PATH").as_deref(),
    )
}

fn locate(
    explicit: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return check_executable(p, "the configured Chromium");
    }
    if let Some(p) = env.filter(|v| !v.is_empty()) {
        return check_executable(Path::new(p), ENV_CHROMIUM);
    }
    for dir in std::env::split_paths(path.unwrap_or_default()) {
        let cand = dir.join("chromium");
        if is_executable(&cand) {
            return Ok(cand);
        }
    }
    Err(
        Error::usage("Chromium was not found (no `chromium` on PATH, EXHIBIT_CHROMIUM not set)")
            .hint(INSTALL_HINT),
    )
}

fn check_executable(p: &Path, what: &str) -> Result<PathBuf> {
    if is_executable(p) {
        Ok(p.to_path_buf())
    } else {
        Err(
            Error::usage(format!("{what} {} is not an executable file", p.display()))
                .hint(INSTALL_HINT),
        )
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether this process runs as root, where Chromium's sandbox cannot start (it refuses to run
/// as root without `--no-sandbox`).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A TCP port on 127.0.0.1 that is bound but not listening: every connection to it is refused
/// at once. The browser's proxy points here, so a request that escaped interception fails
/// instead of reaching the network. Holding the socket keeps the port from being reused.
pub struct DeadPort {
    fd: RawFd,
    pub port: u16,
}

impl DeadPort {
    pub fn bind() -> std::io::Result<DeadPort> {
        // SAFETY: plain socket calls on a descriptor this function owns; every error path
        // closes it.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            addr.sin_port = 0;
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            if libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut got_len) != 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(DeadPort {
                fd,
                port: u16::from_be(got.sin_port),
            })
        }
    }

    /// The proxy URL that refuses everything.
    pub fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DeadPort {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A pipe whose two ends are at descriptors >= 10 with close-on-exec set, so `dup2` onto 3 and
/// 4 in the child never meets its own source (which would leave close-on-exec set) and no
/// other child exhibit starts inherits them.
fn high_pipe() -> std::io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array; fcntl duplicates them; the
    // originals are closed once.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut out = [0 as RawFd; 2];
        for i in 0..2 {
            let high = libc::fcntl(fds[i], libc::F_DUPFD_CLOEXEC, 10);
            if high < 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fds[0]);
                libc::close(fds[1]);
                if i == 1 {
                    libc::close(out[0]);
                }
                return Err(e);
            }
            out[i] = high;
        }
        libc::close(fds[0]);
        libc::close(fds[1]);
        Ok((out[0], out[1]))
    }
}

/// A running browser process; killed (with all its descendants) on drop.
pub struct Process {
    pub pid: u32,
    /// The exit status, sent once by the thread that started and waits for the browser.
    exited: Mutex<Option<mpsc::Receiver<String>>>,
    exit_status: Mutex<Option<String>>,
    killed: std::sync::atomic::AtomicBool,
}

/// What [`launch`] returns: the process and the parent's pipe ends.
pub struct Launched {
    pub process: Process,
    pub to_browser: File,
    pub from_browser: File,
}

/// Starts `exe` with `args`. Chromium's stderr goes to `stderr_file` (for launch errors).
pub fn launch(exe: &Path, args: &[OsString], stderr_file: File) -> Result<Launched> {
    let io_err = |what: &str, e: std::io::Error| {
        Error::fetch(format!("cannot start Chromium: {what}: {e}"))
            .hint("check free memory and the limit on open files")
    };
    // Pipe A: we write, the browser reads it as fd 3. Pipe B: the browser writes fd 4.
    let (a_read, a_write) = high_pipe().map_err(|e| io_err("pipe", e))?;
    let (b_read, b_write) = match high_pipe() {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: closing the descriptors of pipe A, owned here.
            unsafe {
                libc::close(a_read);
                libc::close(a_write);
            }
            return Err(io_err("pipe", e));
        }
    };
    // SAFETY: each descriptor is owned by exactly one File from here on.
    let (to_browser, child_in, child_out, from_browser) = unsafe {
        (
            File::from_raw_fd(a_write),
            File::from_raw_fd(a_read),
            File::from_raw_fd(b_write),
            File::from_raw_fd(b_read),
        )
    };

    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file);
    let (in_fd, out_fd) = {
        use std::os::fd::AsRawFd;
        (child_in.as_raw_fd(), child_out.as_raw_fd())
    };
    // SAFETY: only async-signal-safe calls (getppid, prctl, setpgid, dup2) between fork and
    // exec, on descriptors that stay open in the parent until the spawn returns.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            // Killed with the thread that started it (see `Process`), also when exhibit is
            // killed; and if that already happened between fork and here, give up.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            // Its own process group, so killing the group reaches every helper process.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::dup2(in_fd, 3) < 0 || libc::dup2(out_fd, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }

    // PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so the child is
    // spawned from a thread that then waits for it: the browser lives until it is killed or
    // exhibit exits, whichever thread asked for it.
    let (started_tx, started_rx) = mpsc::channel::<std::io::Result<u32>>();
    let (exit_tx, exit_rx) = mpsc::channel::<String>();
    thread::Builder::new()
        .name("exhibit-chromium".into())
        .spawn(move || {
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            let _ = started_tx.send(Ok(child.id()));
            drop(cmd);
            let status = match child.wait() {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(status);
        })
        .map_err(|e| io_err("thread", e))?;
    let pid = match started_rx.recv() {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) => {
            return Err(
                Error::fetch(format!("cannot start Chromium {}: {e}", exe.display()))
                    .hint(INSTALL_HINT),
            )
        }
        Err(_) => {
            return Err(Error::fetch(
                "cannot start Chromium: the launcher thread died",
            ))
        }
    };
    // The child's ends are closed here, so our reads see EOF when the browser is gone.
    drop(child_in);
    drop(child_out);
    Ok(Launched {
        process: Process {
            pid,
            exited: Mutex::new(Some(exit_rx)),
            exit_status: Mutex::new(None),
            killed: std::sync::atomic::AtomicBool::new(false),
        },
        to_browser,
        from_browser,
    })
}

impl Process {
    /// The browser and every process descended from it, as /proc shows them now (nothing once
    /// the browser has exited: its process ID may belong to another process by then).
    pub fn tree(&self) -> Vec<u32> {
        if self.exit_status().is_some() {
            return Vec::new();
        }
        descendants(self.pid)
    }

    /// Whether the browser process has exited; its status when it has.
    pub fn exit_status(&self) -> Option<String> {
        let mut status = self.exit_status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_none() {
            let rx = self.exited.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rx) = rx.as_ref() {
                if let Ok(s) = rx.try_recv() {
                    *status = Some(s);
                }
            }
        }
        status.clone()
    }

    /// SIGKILL to the browser's process group and to every descendant, then reap the browser.
    /// Runs once; later calls do nothing (the IDs may have been reused by then).
    pub fn kill(&self) {
        if self.killed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let tree = self.tree();
        // SAFETY: kill(2) with a negative pid targets the process group the browser leads
        // (created in pre_exec; the kernel keeps the group's ID allocated while any member
        // lives); the other pids were its descendants a moment ago.
        unsafe {
            libc::kill(-(self.pid as i32), libc::SIGKILL);
            for &p in &tree {
                libc::kill(p as i32, libc::SIGKILL);
            }
        }
        let rx = self.exited.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(rx) = rx {
            if let Ok(s) = rx.recv_timeout(Duration::from_secs(10)) {
                *self.exit_status.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
            }
        }
        // Helpers' own children that were between fork and joining the group, or that left it
        // (the browser itself is reaped now, so it is not looked at again).
        for p in descendants_of_any(tree.get(1..).unwrap_or_default()) {
            // SAFETY: as above.
            unsafe {
                libc::kill(p as i32, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `(pid, parent pid)` of every process in /proc.
fn process_table() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // The command name, in parentheses, may itself contain ") ": parse after the last one.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split(' ');
        let state = fields.next()?;
        if state == "Z" || state == "X" {
            return None;
        }
        let ppid: u32 = fields.next()?.parse().ok()?;
        Some((pid, ppid))
    })
    .collect()
}

/// `root` and all its living descendants.
pub fn descendants(root: u32) -> Vec<u32> {
    let table = process_table();
    if !table.iter().any(|&(p, _)| p == root) {
        return Vec::new();
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            table
                .iter()
                .filter(|&&(_, pp)| pp == parent)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    out
}

/// Living descendants of any of `roots` (not the roots themselves).
fn descendants_of_any(roots: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for &r in roots {
        out.extend(descendants(r).into_iter().skip(1));
    }
    out
}

/// Whether `pid` is a living process (not a zombie).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;

    fn exe(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn chromium_is_found_by_setting_then_path_and_missing_names_the_install() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        exe(a.path(), "chromium", 0o644); // not executable: skipped
        let on_path = exe(b.path(), "chromium", 0o755);
        let other = exe(a.path(), "my-chrome", 0o755);
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(locate(None, None, Some(&path)).unwrap(), on_path);
        assert_eq!(
            locate(None, Some(OsStr::new("")), Some(&path)).unwrap(),
            on_path
        );
        assert_eq!(
            locate(None, Some(other.as_os_str()), Some(&path)).unwrap(),
            other
        );
        assert_eq!(
            locate(Some(&other), Some(OsStr::new("/x")), None).unwrap(),
            other
        );
        let bad = locate(None, Some(OsStr::new("/nonexistent/chrome")), Some(&path)).unwrap_err();
        assert!(
            bad.to_string()
                .contains("EXHIBIT_CHROMIUM /nonexistent/chrome"),
            "{bad}"
        );
        let none = locate(None, None, Some(a.path().as_os_str())).unwrap_err();
        assert_eq!(none.kind, crate::Kind::Usage);
        assert!(
            none.to_string().contains("Chromium was not found"),
            "{none}"
        );
        assert!(
            none.to_string()
                .contains("apt-get install --no-install-recommends chromium"),
            "{none}"
        );
        assert!(locate(None, None, None).is_err());
    }

    #[test]
    fn the_dead_port_refuses_connections() {
        let dead = DeadPort::bind().unwrap();
        let err = std::net::TcpStream::connect(("127.0.0.1", dead.port)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        // And nobody else can take the port while it is held.
        assert!(std::net::TcpListener::bind(("127.0.0.1", dead.port)).is_err());
    }

    #[test]
    fn pipes_are_placed_above_the_descriptors_chromium_uses() {
        let (r, w) = high_pipe().unwrap();
        assert!(r >= 10 && w >= 10);
        // SAFETY: closing the two descriptors just created.
        unsafe {
            assert!(libc::fcntl(r, libc::F_GETFD) & libc::FD_CLOEXEC != 0);
            libc::close(r);
            libc::close(w);
        }
    }
}
