//! Interrupted commands leave nothing behind: `export` (bundle, WARC, WACZ) and `migrate`
//! stopped by SIGINT or SIGTERM part-way remove the scratch file or staging directory they
//! were building beside the output, write no output, and die of that signal (README, exit
//! codes: a shell reports 130 or 143). And a staging directory that a SIGKILL left behind is
//! removed by the next `init` or `migrate` of the same target, while one whose process is
//! still running is left alone.

mod common;

use common::Env;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `n` bytes that zstd and deflate cannot shrink much (xorshift), so that writing them takes a
/// while.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// An archive of `docs` imported documents of `mib` MiB each; their record IDs.
fn big_archive(env: &Env, docs: usize, mib: usize) -> Vec<String> {
    (0..docs)
        .map(|i| {
            let file = env.dir.path().join(format!("big-{i}.bin"));
            std::fs::write(&file, noise(mib << 20, i as u64 + 7)).unwrap();
            let url = format!("https://example.org/big-{i}.bin");
            let out = env.ok(&["import", file.to_str().unwrap(), "--url", &url]);
            std::fs::remove_file(&file).unwrap();
            out.split_whitespace().next().unwrap().to_string()
        })
        .collect()
}

/// Entries of `dir` whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// Wait until something named `prefix…` appears in `dir` (the command is under way), then send
/// `sig`. Returns false if the command ended first.
fn signal_once_under_way(child: &mut Child, dir: &Path, prefix: &str, sig: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if !named(dir, prefix).is_empty() {
            // A moment more, so that the command is writing, not only starting.
            std::thread::sleep(Duration::from_millis(30));
            // SAFETY: signalling the child this test started, by its PID.
            unsafe { libc::kill(child.id() as libc::pid_t, sig) };
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("nothing named {prefix}… appeared in {}", dir.display());
}

fn wait(child: Child) -> (std::process::ExitStatus, String) {
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn an_interrupted_export_leaves_no_scratch_file_and_no_output() {
    let env = Env::new();
    let ids = big_archive(&env, 2, 48);
    let out_dir = env.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cases = [
        ("exhibit-A.zip", ".exhibit-bundle-", libc::SIGINT),
        ("exhibit-A.warc.gz", ".exhibit-export-", libc::SIGINT),
        ("exhibit-A.wacz", ".exhibit-export-", libc::SIGTERM),
        ("exhibit-B.zip", ".exhibit-bundle-", libc::SIGTERM),
    ];
    for (name, scratch, sig) in cases {
        let out = out_dir.join(name);
        let mut child = env
            .command(&["export", &ids[0], &ids[1], "--out", out.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            signal_once_under_way(&mut child, &out_dir, scratch, sig),
            "{name}: the export ended before it could be interrupted"
        );
        let (status, stderr) = wait(child);
        assert_eq!(
            status.signal(),
            Some(sig),
            "{name}: not ended by signal {sig}: {status:?} {stderr}"
        );
        let left: Vec<_> = named(&out_dir, "");
        assert!(
            left.is_empty(),
            "{name}: an interrupted export left {left:?}"
        );
    }
    // Uninterrupted, the same export writes its file and nothing else.
    let out = out_dir.join("exhibit-A.zip");
    env.ok(&["export", &ids[0], &ids[1], "--out", out.to_str().unwrap()]);
    assert_eq!(named(&out_dir, ""), vec![out]);
}

/// A `migrate` of a loose archive big enough to interrupt, under way into `copies/packed`:
/// (env, copies/, copies/packed, the child).
fn migrating() -> (Env, PathBuf, PathBuf, std::process::Child) {
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    big_archive(&env, 4, 32);
    let parent = env.dir.path().join("copies");
    std::fs::create_dir(&parent).unwrap();
    let dest = parent.join("packed");
    let child = env
        .command(&["migrate", dest.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (env, parent, dest, child)
}

#[test]
fn an_interrupted_migrate_leaves_no_staging_directory() {
    let (env, parent, dest, mut child) = migrating();
    assert!(
        signal_once_under_way(&mut child, &parent, ".packed.migrate-", libc::SIGINT),
        "the migration ended before it could be interrupted"
    );
    let (status, stderr) = wait(child);
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?} {stderr}");
    let left = named(&parent, "");
    assert!(left.is_empty(), "an interrupted migrate left {left:?}");
    // The source is untouched, and migrating again works.
    env.assert_audit_clean();
    env.ok(&["migrate", dest.to_str().unwrap()]);
    assert_eq!(named(&parent, ""), vec![dest]);
}

/// The PID of a process that has ended.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A staging directory as `init` or `migrate` names it, with something inside.
fn staging_dir(parent: &Path, name: &str, kind: &str, pid: u32, hex: &str) -> PathBuf {
    let d = parent.join(format!(".{name}.{kind}-{pid}-{hex}"));
    std::fs::create_dir_all(d.join("log")).unwrap();
    std::fs::write(d.join("log").join("leaves"), b"half a log").unwrap();
    d
}

/// SIGKILL cannot be caught: the staging directory of a killed `migrate` stays, and the next
/// `migrate` to the same place removes it (its process is gone and its lock free).
#[test]
fn the_next_migrate_removes_the_staging_directory_a_killed_one_left() {
    let (env, parent, dest, mut child) = migrating();
    assert!(
        signal_once_under_way(&mut child, &parent, ".packed.migrate-", libc::SIGKILL),
        "the migration ended before it could be killed"
    );
    let (status, _) = wait(child);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let left = named(&parent, ".packed.migrate-");
    assert_eq!(left.len(), 1, "{left:?}");
    env.ok(&["migrate", dest.to_str().unwrap()]);
    assert_eq!(named(&parent, ""), vec![dest]);
}

/// `init` removes the staging directories of its target that are provably abandoned, and only
/// those: not one whose process still runs, not one still locked, not another archive's, not
/// one of another name.
#[test]
fn init_removes_abandoned_staging_directories_of_its_target_only() {
    let env = Env::bare();
    let parent = env.dir.path();
    let dead = dead_pid();
    let hex = "0123456789abcdef";
    let stale_init = staging_dir(parent, "archive", "init", dead, hex);
    let stale_migrate = staging_dir(parent, "archive", "migrate", dead, "fedcba9876543210");
    // Its process still runs (this test), no lock: kept.
    let running = staging_dir(parent, "archive", "init", std::process::id(), hex);
    // Its process is gone but someone holds its lock (say, a process in another PID
    // namespace): kept.
    let locked = staging_dir(parent, "archive", "migrate", dead, "00000000000000aa");
    let held = std::fs::File::open(&locked).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&held), libc::LOCK_EX) },
        0
    );
    // Another archive's, and a name that is not a staging directory's: kept.
    let other = staging_dir(parent, "archive2", "init", dead, hex);
    let odd = staging_dir(parent, "archive", "init", dead, "not-hex");
    // A staging directory's name on a file: kept.
    let file = parent.join(format!(".archive.init-{dead}-1111111111111111"));
    std::fs::write(&file, b"").unwrap();

    env.ok(&["init"]);
    assert!(!stale_init.exists() && !stale_migrate.exists());
    for kept in [&running, &locked, &other, &odd, &file] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    env.assert_audit_clean();
    drop(held);
}
