//! A small harness for driving the real `exhibit` binary against a temporary archive and key:
//! one `Env` per test, commands run with EXHIBIT_ARCHIVE / EXHIBIT_KEY pointing into it.
#![allow(dead_code)]

pub mod pki;
pub mod seaweed;
pub mod server;
pub mod tamper;

use server::{Route, TestServer};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub archive: PathBuf,
    pub key: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run a command that talks to the test store, insisting that no credential of it appears in
/// anything it prints, whatever happened.
pub fn run_without_credentials(c: &mut Command) -> Run {
    let r = Run::from(c.output().unwrap());
    for secret in [seaweed::SECRET_KEY, seaweed::ACCESS_KEY] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "a credential was printed: {}{}",
            r.stdout,
            r.stderr
        );
    }
    r
}

/// The layout of [`Env::new`]'s archive: EXHIBIT_TEST_LAYOUT, or `loose`.
pub fn test_layout() -> String {
    std::env::var("EXHIBIT_TEST_LAYOUT").unwrap_or_else(|_| "loose".into())
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_exhibit")
}

impl Env {
    /// A new archive (made by `exhibit init`, with a new key), as a user starts, in the loose
    /// layout (exhibit-archive/1) the tests written before packs look into; EXHIBIT_TEST_LAYOUT
    /// (`loose`, `packed`) chooses another, for running layout-independent tests on both (.ci/test).
    pub fn new() -> Env {
        let env = Env::bare();
        env.ok(&["init", "--layout", &test_layout()]);
        env
    }

    /// A new archive in the packed layout (exhibit-archive/2), what `exhibit init` makes.
    pub fn packed() -> Env {
        let env = Env::bare();
        env.ok(&["init", "--layout", "packed"]);
        env
    }

    /// No archive and no key yet.
    pub fn bare() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let key = dir.path().join("keys").join("signing.key");
        Env { dir, archive, key }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("EXHIBIT_ARCHIVE", &self.archive)
            .env("EXHIBIT_KEY", &self.key)
            .env("NO_COLOR", "1")
            // The test servers are on loopback, which capture refuses unless asked.
            .env("EXHIBIT_ALLOW_PRIVATE", "1")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Run and insist on exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "exhibit {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Run and insist on a given non-zero exit code; returns the run. Every failure must
    /// explain itself on one line that starts with "error:" and carries a hint.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "exhibit {args:?}: wrong exit code\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }

    /// Start `exhibit capture --from LIST` writing a list of URLs, without waiting for it.
    pub fn spawn_capture(&self, list_name: &str, urls: &[String]) -> std::process::Child {
        let list = self.dir.path().join(list_name);
        std::fs::write(&list, urls.join("\n")).unwrap();
        self.command(&["capture", "--from", list.to_str().unwrap(), "--jobs", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Capture one URL, return its JSON line.
    pub fn capture(&self, url: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["capture", "--json", url];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        serde_json::from_str(out.lines().next().expect("one JSON line")).unwrap()
    }

    pub fn audit(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        let v = serde_json::from_str(r.stdout.trim())
            .unwrap_or_else(|e| panic!("audit JSON: {e}: {} {}", r.stdout, r.stderr));
        (r.code, v)
    }

    pub fn assert_audit_clean(&self) {
        let (code, v) = self.audit(&[]);
        assert_eq!(code, 0, "audit not clean: {v:#}");
        assert_eq!(v["errors"], 0);
    }

    /// Number of stored documents and records (files), for "nothing was stored" checks. The
    /// founding key record that `init` writes (leaf 0) is not counted.
    pub fn counts(&self) -> (usize, usize) {
        let founding = self.founding();
        if self.archive.join("packs").is_dir() {
            return self.packed_counts(founding);
        }
        let docs = files_under(&self.archive.join("documents"))
            .into_iter()
            .filter(|p| {
                founding
                    .as_ref()
                    .is_none_or(|(_, sha)| !p.to_string_lossy().contains(sha.as_str()))
            })
            .count();
        let records = files_under(&self.archive.join("records"))
            .into_iter()
            .filter(|p| {
                founding
                    .as_ref()
                    .is_none_or(|(id, _)| !p.to_string_lossy().contains(id.as_str()))
            })
            .count();
        (docs, records / 2)
    }

    /// [`Env::counts`] of a packed archive (FORMAT.md 3.3): the distinct documents stored in
    /// packs (entries of kind `d`) or as blob files, and the records its log holds.
    fn packed_counts(&self, founding: Option<(String, String)>) -> (usize, usize) {
        let mut docs: std::collections::HashSet<String> =
            files_under(&self.archive.join("documents"))
                .iter()
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect();
        for pack in files_under(&self.archive.join("packs")) {
            let b = std::fs::read(&pack).unwrap();
            let trailer = String::from_utf8_lossy(&b[b.len() - 43..]).into_owned();
            let f: usize = trailer
                .trim_end()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            for line in b[f..b.len() - 43].chunks(93) {
                if line[0] == b'd' {
                    docs.insert(String::from_utf8_lossy(&line[2..66]).into_owned());
                }
            }
        }
        let leaves = std::fs::read_to_string(self.archive.join("log").join("leaves"))
            .unwrap_or_default()
            .lines()
            .count();
        if let Some((_, sha)) = &founding {
            docs.remove(sha);
        }
        (
            docs.len(),
            leaves.saturating_sub(usize::from(founding.is_some())),
        )
    }

    /// The founding key record `init` writes at leaf 0: its record ID and document hash.
    pub fn founding(&self) -> Option<(String, String)> {
        let leaves = std::fs::read_to_string(self.archive.join("log").join("leaves")).ok()?;
        let (id, sha) = leaves.lines().next()?.split_once(' ')?;
        Some((id.to_string(), sha.to_string()))
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every error line is one line, starts with "error:" and says what to do.
pub fn assert_one_line_error(stderr: &str, needle: &str) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in: {stderr}"));
    assert!(
        line.contains(needle),
        "error line {line:?} does not mention {needle:?}"
    );
    assert!(line.contains("(hint: "), "error line {line:?} has no hint");
}

/// Copy a directory tree (an archive, for tampering with a copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (p, dest) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Wait for a capture process, insist it succeeded, and return the record IDs it printed.
pub fn printed_ids(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split("  ").next().unwrap().to_string())
        .collect()
}

/// A server from routes whose paths are built at run time.
pub fn serve_owned(routes: Vec<(String, Route)>) -> TestServer {
    TestServer::start(
        routes
            .iter()
            .map(|(p, r)| (p.as_str(), r.clone()))
            .collect(),
    )
}

/// What the holder of the archive's key could do after editing manifests: rebuild log/hashes
/// over every record's manifest and sign a new checkpoint (keeping its other lines, such as the
/// key-record commitment). Only what a test changed on purpose is then wrong.
pub fn reseal(env: &Env) {
    use exhibit::log::merkle;
    let key = exhibit::keys::load(&env.key).unwrap();
    let leaves = std::fs::read(env.archive.join("log/leaves")).unwrap();
    let mut tree = merkle::TreeBuilder::new();
    let mut stored = Vec::new();
    for line in leaves.chunks(83) {
        let rid = std::str::from_utf8(&line[..17]).unwrap();
        let m = std::fs::read(
            env.archive
                .join("records")
                .join(&rid[3..5])
                .join(format!("{rid}.json")),
        )
        .unwrap();
        for h in tree.push(merkle::leaf_hash(&m)) {
            stored.extend_from_slice(&h);
        }
    }
    std::fs::write(env.archive.join("log/hashes"), stored).unwrap();
    let cp_path = env.archive.join("log/checkpoint");
    let old = std::fs::read_to_string(&cp_path).unwrap();
    let note = exhibit::note::parse_note(&old).unwrap();
    let old_cp = exhibit::note::Checkpoint::parse(&note.text).unwrap();
    let cp = exhibit::note::Checkpoint {
        origin: old_cp.origin.clone(),
        size: tree.size(),
        root: tree.root(),
        extensions: old_cp.extensions,
    };
    let signed = exhibit::note::sign_note(&cp.to_text(), &old_cp.origin, &key).unwrap();
    std::fs::write(cp_path, signed).unwrap();
}
