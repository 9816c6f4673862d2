//! `exhibit mirror SRC DST` (issue 13) through the real binary, between local directories and a
//! real SeaweedFS on loopback (common/seaweed.rs): the copy is byte-identical and audits clean
//! with the same pinned key, an interrupted mirror leaves no checkpoint and resumes, a damaged
//! source object stops it before the checkpoint, and a newer destination is refused.
//!
//! One SeaweedFS serves every case below (each under its own prefix), so that the suite starts
//! one server, not one per case.

mod common;

use common::seaweed::{Seaweed, BUCKET};
use common::server::{Route, TestServer};
use common::{assert_one_line_error, copy_dir, files_under, serve_owned, Env, Run};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn s3(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

fn mirror_cmd(env: &Env, sw: &Seaweed, src: &str, dst: &str) -> Command {
    let mut c = env.command(&["mirror", src, dst, "--json"]);
    c.envs(sw.settings());
    c
}

fn run(mut c: Command) -> Run {
    // Whatever happened, no credential is ever shown.
    common::run_without_credentials(&mut c)
}

/// Mirror, insist on success, return the JSON report.
fn mirror(env: &Env, sw: &Seaweed, src: &str, dst: &str) -> serde_json::Value {
    let r = run(mirror_cmd(env, sw, src, dst));
    assert_eq!(r.code, 0, "mirror {src} {dst}: {}{}", r.stdout, r.stderr);
    serde_json::from_str(r.stdout.trim()).unwrap()
}

/// Every file below `dir` by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (rel, fs::read(&p).unwrap())
        })
        .collect()
}

/// An archive command on another archive directory than the env's own.
fn on(env: &Env, archive: &Path, args: &[&str]) -> Run {
    let mut c = env.command(args);
    c.env("EXHIBIT_ARCHIVE", archive);
    run(c)
}

fn pages(n: usize) -> TestServer {
    serve_owned(
        (0..n)
            .map(|i| {
                (
                    format!("/p{i}"),
                    Route::html(format!("<title>Policy {i}</title><p>clause {i}</p>").into_bytes()),
                )
            })
            .collect(),
    )
}

fn capture_all(env: &Env, srv: &TestServer, range: std::ops::Range<usize>) -> Vec<String> {
    let urls: Vec<String> = range.map(|i| srv.url(&format!("/p{i}"))).collect();
    common::printed_ids(env.spawn_capture("urls.txt", &urls))
}

/// A random 17 MiB document, too large to be held in memory by mirror: it is read, uploaded and
/// read back in ranges.
fn import_large(env: &Env) {
    let large = env.dir.path().join("large.bin");
    let mut bytes = vec![0u8; 17 * 1024 * 1024];
    getrandom::getrandom(&mut bytes).unwrap();
    fs::write(&large, bytes).unwrap();
    env.ok(&[
        "import",
        large.to_str().unwrap(),
        "--url",
        "https://example.org/large",
    ]);
}
#[test]
fn mirror_between_local_and_object_storage() {
    let sw = Seaweed::start();
    let srv = pages(60);
    let env = Env::new();
    let old_pub = env.dir.path().join("old-key.pub");
    fs::copy(format!("{}.pub", env.key.display()), &old_pub).unwrap();
    let pin = old_pub.to_str().unwrap();

    // An archive with captures on both sides of a key rotation, and a copy of it from before
    // the rotation (an older state of the same log).
    let first = capture_all(&env, &srv, 0..3);
    let older = env.dir.path().join("older");
    copy_dir(&env.archive, &older);
    env.ok(&["keys", "rotate", "--reason", "yearly"]);
    let later = capture_all(&env, &srv, 3..5);
    // A document too large to be held in memory: read, uploaded and read back in ranges.
    import_large(&env);
    let archive = env.archive.to_str().unwrap().to_string();

    // local -> s3 -> local: every file byte-identical, and the copy audits clean pinned to the
    // key the archive started with.
    let out = mirror(&env, &sw, &archive, &s3("rt"));
    assert_eq!(out["skipped"], 0, "{out}");
    assert_eq!(out["copied"], out["objects"], "{out}");
    let restored = env.dir.path().join("restored");
    let back = mirror(&env, &sw, &s3("rt"), restored.to_str().unwrap());
    // On the store the log is segments, locally it is files: the counts differ, the trees not.
    assert_eq!(back["tree_size"], out["tree_size"], "{back}");
    assert_eq!(tree(&env.archive), tree(&restored));
    let a = on(&env, &restored, &["audit", "--json", "--trusted-key", pin]);
    assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
    for id in first.iter().chain(&later) {
        let v = on(&env, &restored, &["verify", id, "--trusted-key", pin]);
        assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    }

    // s3 -> s3 (two prefixes of one bucket), then again: nothing left to copy.
    let out = mirror(&env, &sw, &s3("rt"), &s3("rt2"));
    assert_eq!(out["copied"], out["objects"], "{out}");
    let again = mirror(&env, &sw, &s3("rt"), &s3("rt2"));
    assert_eq!(again["copied"], 0, "{again}");
    assert_eq!(again["skipped"], again["objects"], "{again}");
    let restored2 = env.dir.path().join("restored2");
    mirror(&env, &sw, &s3("rt2"), restored2.to_str().unwrap());
    assert_eq!(tree(&env.archive), tree(&restored2));

    // A destination with an older checkpoint of the same log is brought forward.
    let older_s = older.to_str().unwrap();
    mirror(&env, &sw, older_s, &s3("grow"));
    let grown = mirror(&env, &sw, &archive, &s3("grow"));
    assert!(grown["previous_tree_size"].as_u64().unwrap() < grown["tree_size"].as_u64().unwrap());
    assert!(grown["skipped"].as_u64().unwrap() > 0, "{grown}");

    // A destination with a larger checkpoint than the source is refused, and left untouched.
    let before = tree(&restored);
    let r = run(mirror_cmd(&env, &sw, older_s, restored.to_str().unwrap()));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_one_line_error(&r.stderr, "larger than the source's");
    assert_eq!(before, tree(&restored));
    let cp_before = sw.read_via_filer("rt/log/checkpoint").unwrap();
    let r = run(mirror_cmd(&env, &sw, older_s, &s3("rt")));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(sw.read_via_filer("rt/log/checkpoint").unwrap(), cp_before);

    // A flipped byte in a source document: the mirror names it and writes no checkpoint.
    let damaged = env.dir.path().join("damaged");
    copy_dir(&env.archive, &damaged);
    let doc = files_under(&damaged.join("documents")).pop().unwrap();
    let mut bytes = fs::read(&doc).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&doc, bytes).unwrap();
    let name = doc
        .strip_prefix(&damaged)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let r = run(mirror_cmd(&env, &sw, damaged.to_str().unwrap(), &s3("bad")));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_one_line_error(&r.stderr, &name);
    assert!(sw.read_via_filer("bad/log/checkpoint").is_none());
    assert!(sw.read_via_filer("bad/log/leaves").is_none());

    interrupted_mirror_resumes(&env, &sw, &srv);
}

/// SIGKILL in the middle of a mirror leaves no checkpoint; the next run copies only the rest.
fn interrupted_mirror_resumes(env: &Env, sw: &Seaweed, srv: &TestServer) {
    let big = Env::new();
    capture_all(&big, srv, 0..60);
    let src = big.archive.to_str().unwrap().to_string();
    let mut child = mirror_cmd(env, sw, &src, &s3("big"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // exhibit.json is the first object written; wait until the mirror has got that far.
    while sw.read_via_filer("big/exhibit.json").is_none() {
        assert!(child.try_wait().unwrap().is_none(), "mirror ended early");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        sw.read_via_filer("big/log/checkpoint").is_none(),
        "the mirror finished before it was killed; the test needs a larger archive"
    );

    let out = mirror(env, sw, &src, &s3("big"));
    let (objects, copied, skipped) = (
        out["objects"].as_u64().unwrap(),
        out["copied"].as_u64().unwrap(),
        out["skipped"].as_u64().unwrap(),
    );
    assert!(skipped >= 1 && copied < objects, "{out}");
    assert_eq!(copied + skipped, objects, "{out}");
    let copy: PathBuf = env.dir.path().join("big-copy");
    mirror(env, sw, &s3("big"), copy.to_str().unwrap());
    assert_eq!(tree(&big.archive), tree(&copy));
    let a = on(
        &big,
        &copy,
        &[
            "audit",
            "--json",
            "--trusted-key",
            &format!("{}.pub", big.key.display()),
        ],
    );
    assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
}

/// The refusals that need no object storage: not an archive, the same place twice, a directory
/// that holds something else.
#[test]
fn mirror_refuses_what_is_not_an_archive_copy() {
    let env = Env::new();
    let archive = env.archive.to_str().unwrap();
    let r = env.fails(&["mirror", "/nonexistent/nowhere", "x"], 7);
    assert_one_line_error(&r.stderr, "no exhibit archive");
    let r = env.fails(&["mirror", archive, archive], 2);
    assert_one_line_error(&r.stderr, "the same archive");
    let other = env.dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("notes.txt"), "mine").unwrap();
    let r = env.fails(&["mirror", archive, other.to_str().unwrap()], 2);
    assert_one_line_error(&r.stderr, "notes.txt");
    assert_eq!(fs::read_dir(&other).unwrap().count(), 1);
    // local -> local works too, with a document too large to hold in memory (copied through a
    // temporary file in ranges).
    import_large(&env);
    let copy = env.dir.path().join("copy");
    env.ok(&["mirror", archive, copy.to_str().unwrap()]);
    assert_eq!(tree(&env.archive), tree(&copy));
    let again = env.ok(&["mirror", archive, copy.to_str().unwrap(), "--json"]);
    let again: serde_json::Value = serde_json::from_str(again.trim()).unwrap();
    assert_eq!(again["copied"], 0, "{again}");
    // What a mirror killed while writing into a directory leaves (a staging file beside the
    // object) is removed by the next run, which audits clean.
    let staged = copy.join("log").join(".put-w1-abandoned");
    fs::write(&staged, "half a file").unwrap();
    fs::remove_file(copy.join("log").join("checkpoint")).unwrap();
    let out = env.ok(&["mirror", archive, copy.to_str().unwrap(), "--json"]);
    let out: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out["copied"], 1, "{out}");
    assert!(!staged.exists());
    assert_eq!(tree(&env.archive), tree(&copy));

    // Another archive, and a fork of this one (same origin, other records), are refused as
    // destinations and left as they were.
    let other_archive = Env::new();
    let r = env.fails(
        &["mirror", archive, other_archive.archive.to_str().unwrap()],
        2,
    );
    assert_one_line_error(&r.stderr, "a different archive");
    let fork = env.dir.path().join("fork");
    copy_dir(&env.archive, &fork);
    let doc = env.dir.path().join("doc.txt");
    fs::write(&doc, "a document").unwrap();
    let import = |at: &Path, url: &str| {
        let r = on(&env, at, &["import", doc.to_str().unwrap(), "--url", url]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    };
    import(&fork, "https://example.org/fork");
    import(&env.archive, "https://example.org/main");
    import(&env.archive, "https://example.org/main2");
    let before = tree(&fork);
    let r = env.fails(&["mirror", archive, fork.to_str().unwrap()], 2);
    assert_one_line_error(&r.stderr, "diverged");
    assert_eq!(before, tree(&fork));

    // A source whose log does not hash to its checkpoint is refused before the destination is
    // even created.
    let broken = env.dir.path().join("broken");
    copy_dir(&env.archive, &broken);
    let hashes = broken.join("log").join("hashes");
    let mut bytes = fs::read(&hashes).unwrap();
    // The last stored hash is one the root is computed from (an earlier one may be covered by
    // a stored parent: audit, which recomputes every hash, is what finds that).
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&hashes, bytes).unwrap();
    let nowhere = env.dir.path().join("never-made");
    let r = env.fails(
        &[
            "mirror",
            broken.to_str().unwrap(),
            nowhere.to_str().unwrap(),
        ],
        1,
    );
    assert_one_line_error(&r.stderr, "log/hashes");
    assert!(!nowhere.exists());
}
