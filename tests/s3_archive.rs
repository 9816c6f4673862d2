//! Archives on object storage (issue 13) through the real binary and a real SeaweedFS on
//! loopback (common/seaweed.rs): every command on `--archive s3://…`, many writers with their own
//! local copies (as on separate machines) committing through the store's conditional writes,
//! writers killed at random instants, and audit finding a flipped, deleted or extra object.
//!
//! One SeaweedFS serves each test, every case under its own prefix.

mod common;

use common::seaweed::{Seaweed, BUCKET};
use common::server::{Route, TestServer};
use common::tamper::{assert_caught, Act, Objects};
use common::{assert_one_line_error, serve_owned, Env, Run};
use exhibit::archive::backend::Backend;
use exhibit::archive::s3::S3Backend;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A user of one archive on the store: its own key, its own cache directory (its own machine,
/// as far as the local copy goes).
struct S3User {
    env: Env,
    settings: Vec<(String, String)>,
    url: String,
    cache: PathBuf,
}

impl S3User {
    fn new(sw: &Seaweed, prefix: &str) -> S3User {
        let env = Env::bare();
        let cache = env.dir.path().join("cache");
        S3User {
            env,
            settings: sw.settings(),
            url: format!("s3://{BUCKET}/{prefix}"),
            cache,
        }
    }

    /// Another machine: the same key and archive, a cache of its own.
    fn another(&self, name: &str) -> S3User {
        let env = Env::bare();
        std::fs::create_dir_all(env.key.parent().unwrap()).unwrap();
        std::fs::copy(&self.env.key, &env.key).unwrap();
        let cache = env.dir.path().join(format!("cache-{name}"));
        S3User {
            env,
            settings: self.settings.clone(),
            url: self.url.clone(),
            cache,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.env.command(args);
        c.env("EXHIBIT_ARCHIVE", &self.url)
            .env("EXHIBIT_CACHE", &self.cache)
            .envs(self.settings.clone());
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        common::run_without_credentials(&mut self.command(args))
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "exhibit {args:?}: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    fn pub_key(&self) -> String {
        format!("{}.pub", self.env.key.display())
    }

    fn capture_ids(&self, urls: &[String]) -> Vec<String> {
        let list = self.env.dir.path().join(format!("urls-{}.txt", urls.len()));
        std::fs::write(&list, urls.join("\n")).unwrap();
        let out = self.ok(&["capture", "--json", "--from", list.to_str().unwrap()]);
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["record_id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    fn audit(&self, extra: &[&str]) -> (Run, serde_json::Value) {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        let v = serde_json::from_str(r.stdout.trim())
            .unwrap_or_else(|e| panic!("audit JSON: {e}: {} {}", r.stdout, r.stderr));
        (r, v)
    }

    fn assert_audit_clean(&self, pin: &str) -> serde_json::Value {
        let (r, v) = self.audit(&["--trusted-key", pin]);
        assert_eq!(r.code, 0, "audit not clean: {v:#}{}", r.stderr);
        assert_eq!(v["errors"], 0, "{v:#}");
        v
    }
}

fn pages(n: usize) -> TestServer {
    serve_owned(
        (0..n)
            .map(|i| {
                let mut body = format!("<title>Policy {i}</title><p>clause {i}</p>").into_bytes();
                // Every tenth page is large: stored as a document object of its own, not in a
                // pack (FORMAT.md 3.3).
                if i % 10 == 9 {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
                    body.extend((0..200_000).map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    }));
                }
                (format!("/p{i}"), Route::html(body))
            })
            .collect(),
    )
}

fn urls(srv: &TestServer, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| srv.url(&format!("/p{i}"))).collect()
}

/// The whole bucket through exhibit's own S3 backend: what any S3 client can do to the objects.
fn store(sw: &Seaweed) -> S3Backend {
    S3Backend::with_settings(&sw.location(""), &sw.settings()).unwrap()
}

fn objects(sw: &Seaweed, prefix: &str) -> BTreeSet<String> {
    store(sw)
        .list(prefix)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

fn read(sw: &Seaweed, name: &str) -> Vec<u8> {
    store(sw).get(name).unwrap().unwrap().0
}

/// The kill test times its kills against how long a capture takes; the other tests of this
/// file (four writers at once, a store restart) load both cores and would stretch captures
/// unpredictably under it. They run together; the kill test runs alone.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_machine() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

fn machine_alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn every_command_works_on_object_storage() {
    let _load = shared_machine();
    let sw = Seaweed::start();
    let srv = pages(30);
    let alice = S3User::new(&sw, "core");
    let pin = alice.pub_key();

    // Nothing there yet: a read command says so, naming the location.
    let r = alice.run(&["list"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_one_line_error(&r.stderr, "s3://");

    let out = alice.ok(&["init", "--origin", "example.org/s3-core"]);
    assert!(out.contains(&alice.url), "{out}");
    let pin = {
        let _ = pin;
        alice.pub_key()
    };
    let first = alice.capture_ids(&urls(&srv, 0..10));
    assert_eq!(first.len(), 10);
    let second = alice.capture_ids(&urls(&srv, 10..20));
    alice.assert_audit_clean(&pin);

    // The store holds the archive, not the cache: packs, large documents, the log as
    // segments, one checkpoint; no log file that grows.
    let names = objects(&sw, "core/");
    assert!(names.contains("core/log/checkpoint"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("core/packs/")));
    assert!(
        names.iter().any(|n| n.starts_with("core/documents/")),
        "{names:?}"
    );
    // One segment per commit: init's, then each capture commits in groups.
    assert!(
        names
            .iter()
            .filter(|n| n.starts_with("core/log/segments/"))
            .count()
            >= 3,
        "{names:?}"
    );
    assert!(!names.contains("core/log/leaves"), "{names:?}");

    // Another machine (an empty cache) reads every record back and verifies it against the
    // pinned key; show, cat, history, checkpoint, prove and export work there too.
    let bob = alice.another("bob");
    for id in first.iter().chain(&second) {
        bob.ok(&["verify", id, "--trusted-key", &pin]);
    }
    let show: serde_json::Value =
        serde_json::from_str(bob.ok(&["show", &first[3], "--json"]).trim()).unwrap();
    // Captures end in any order: the page is the one the record names.
    let url = show["requested_url"].as_str().unwrap();
    let n = url.rsplit("/p").next().unwrap();
    let body = bob.ok(&["cat", &first[3]]);
    assert!(body.contains(&format!("clause {n}<")), "{url}: {body}");
    let cp = bob.ok(&["checkpoint"]);
    let cp_file = bob.env.dir.path().join("filed.checkpoint");
    std::fs::write(&cp_file, &cp).unwrap();
    bob.ok(&["prove", &first[0]]);
    let bundle = bob.env.dir.path().join("b.zip");
    bob.ok(&["export", &second[9], "--out", bundle.to_str().unwrap()]);
    bob.ok(&["verify", bundle.to_str().unwrap(), "--trusted-key", &pin]);

    // The other commands on the store: check (an unchanged page: a check record), import,
    // history, diff, cite, and serve (a record page, verified live).
    let page = srv.url("/p0");
    bob.ok(&["check", &page]);
    let history = bob.ok(&["history", &page]);
    assert!(
        history.contains("unchanged") || history.lines().count() >= 2,
        "{history}"
    );
    bob.ok(&["diff", &first[0], &first[1]]);
    let doc = bob.env.dir.path().join("memo.txt");
    std::fs::write(&doc, "a memo filed with the court").unwrap();
    let imported = bob.ok(&[
        "import",
        doc.to_str().unwrap(),
        "--url",
        "https://example.org/memo",
    ]);
    assert!(imported.contains("EX-"), "{imported}");
    let cite = bob.ok(&["cite", &first[0]]);
    assert!(cite.contains(&first[0]), "{cite}");
    let mut serve = bob
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let viewer = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let page_html = reqwest::blocking::get(format!("http://{viewer}/r/{}", first[0]))
        .unwrap()
        .text()
        .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(page_html.contains(&first[0]), "{page_html}");

    // Bob commits too, then rotates the key; Alice sees both, and an audit pinned to the
    // founding key passes and proves the log extends the checkpoint Bob filed.
    let by_bob = bob.capture_ids(&urls(&srv, 20..25));
    bob.ok(&["keys", "rotate", "--reason", "yearly"]);
    let after = bob.capture_ids(&urls(&srv, 25..30));
    for id in by_bob.iter().chain(&after) {
        alice.ok(&["verify", id, "--trusted-key", &pin]);
    }
    let list = alice.ok(&["list", "--json"]);
    // The founding key record, 30 captures, and the rotation's key records.
    assert!(list.lines().count() > 31, "{list}");
    for id in first.iter().chain(&after) {
        assert!(list.contains(id.as_str()), "{id} missing from {list}");
    }
    let v = alice.assert_audit_clean(&pin);
    assert_eq!(v["archive"], alice.url, "{v}");
    let (r, v) = alice.audit(&["--trusted-key", &pin, "--since", cp_file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{v:#}");
    assert_eq!(v["history"], "extends", "{v}");

    // mirror store -> local: byte for byte the replica, and it audits clean.
    let local = alice.env.dir.path().join("local-copy");
    alice.ok(&["mirror", &alice.url, local.to_str().unwrap()]);
    let a = alice.env.command(&["audit", "--trusted-key", &pin]);
    let o = { a }.env("EXHIBIT_ARCHIVE", &local).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // migrate is refused on the store, with the way round it.
    let r = alice.run(&["migrate", "/tmp/nowhere-exhibit"]);
    assert_eq!(r.code, 2);
    assert_one_line_error(&r.stderr, "mirror it to a local directory");
}

/// Flip a byte of every kind of object, delete one, add one: audit names it every time.
#[test]
fn audit_on_object_storage_finds_damage_by_object_name() {
    let _load = shared_machine();
    let sw = Seaweed::start();
    let srv = pages(10);
    let alice = S3User::new(&sw, "dmg");
    let pin = alice.pub_key();
    alice.ok(&["init"]);
    alice.capture_ids(&urls(&srv, 0..10));
    alice.assert_audit_clean(&pin);

    // The same acts as tests/integrity.rs does to a directory, through the same helper.
    let store = store(&sw);
    let objects = Objects::new(&store, "dmg/");
    let names: Vec<String> = objects.list().into_iter().map(|(n, _)| n).collect();
    let pick = |prefix: &str| {
        names
            .iter()
            .find(|n| n.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {names:?}"))
            .clone()
    };
    let audit = || {
        let (r, v) = alice.audit(&["--trusted-key", &pin]);
        (r.code, v)
    };
    let mut acts = Vec::new();
    for victim in [
        "packs/",
        "documents/",
        "log/segments/",
        "log/checkpoint",
        "keys/",
        "exhibit.json",
    ] {
        let name = pick(victim);
        let at = names.iter().position(|n| *n == name).unwrap();
        let size = objects.list()[at].1 as usize;
        acts.push(Act::Flip {
            name,
            at: size / 2,
            mask: 0x01,
        });
    }
    // Deleted: a pack, a document, a segment.
    for victim in ["packs/", "documents/", "log/segments/"] {
        acts.push(Act::Delete(pick(victim)));
    }
    // Extra objects: a pack nothing names, a stray file, a segment of a tree no checkpoint had.
    for extra in [
        format!("packs/ab/ab{}.pack", "0".repeat(62)),
        "notes.txt".into(),
        "log/segments/garbage".into(),
    ] {
        acts.push(Act::Add(extra, b"not part of it".to_vec()));
    }
    for act in &acts {
        assert_caught(act, objects.tampered(act, audit));
        alice.assert_audit_clean(&pin);
    }
    alice.assert_audit_clean(&pin);
}

/// Four writers, each its own machine, 200 captures each into one archive at once: every
/// record committed once, one log, audit clean.
#[test]
fn many_writers_commit_to_one_log() {
    let _load = shared_machine();
    let sw = Seaweed::start();
    let (per, _srv, founder, _writers, children) = four_writers(&sw, "many", "");
    let pin = founder.pub_key();
    let mut ids = BTreeSet::new();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.insert(v["record_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 4 * per);
    let v = founder.assert_audit_clean(&pin);
    assert_eq!(v["tree_size"], 4 * per as u64 + 1, "{v}");
    let list = founder.ok(&["list", "--json"]);
    for id in &ids {
        assert!(list.contains(id.as_str()), "{id} lost");
    }
}

/// The store restarted while four writers make 200 captures each: each capture either commits
/// (and is then in the log for good) or fails with one line; nothing half-committed is visible;
/// audit is clean.
#[test]
fn writers_survive_a_store_restart() {
    let _load = shared_machine();
    let mut sw = Seaweed::start();
    // Each capture on its own; a failed one prints FAILED and the script goes on.
    let (per, _srv, founder, _writers, children) = four_writers(&sw, "restart", " || echo FAILED");
    let pin = founder.pub_key();
    // Let over a third of the commits land, then restart the store under the writers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while objects(&sw, "restart/log/segments/").len() < 3 * per / 2 {
        assert!(std::time::Instant::now() < deadline, "no commits");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sw.restart();
    let mut ids = BTreeSet::new();
    let mut failed = 0;
    for child in children {
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if line == "FAILED" {
                failed += 1;
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["error"].is_string() {
                // A failed capture reports itself (and exits non-zero: FAILED above).
                assert!(v["error"].as_str().unwrap().contains("hint:"), "{v}");
                continue;
            }
            let id = v["record_id"].as_str();
            ids.insert(id.unwrap_or_else(|| panic!("{line}\n{stderr}")).to_string());
        }
        for line in stderr.lines().filter(|l| l.starts_with("error:")) {
            assert!(line.contains("hint:"), "an error without its fix: {line}");
        }
    }
    assert_eq!(
        ids.len() + failed,
        4 * per,
        "every capture committed or failed"
    );
    let v = founder.assert_audit_clean(&pin);
    assert_eq!(v["tree_size"], ids.len() as u64 + 1, "{v}");
    let list = founder.ok(&["list", "--json"]);
    for id in &ids {
        assert!(list.contains(id.as_str()), "{id} lost");
    }
}

/// A writer SIGKILLed at 50 random instants of a capture: audit is clean every time (what the
/// writer left is named as an interrupted commit's, a warning), and the next writer on the same
/// machine commits.
#[test]
fn killed_writers_leave_the_archive_clean() {
    let _alone = machine_alone();
    let sw = Seaweed::start();
    let srv = pages(60);
    let user = S3User::new(&sw, "kill");
    let pin = user.pub_key();
    user.ok(&["init"]);
    let rounds = std::env::var("EXHIBIT_S3_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50usize);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    // How long one whole capture takes here (the median of three).
    let mut times: Vec<std::time::Duration> = (0..3)
        .map(|i| {
            let t = std::time::Instant::now();
            user.ok(&["capture", &srv.url(&format!("/p{}", 50 + i))]);
            t.elapsed()
        })
        .collect();
    times.sort();
    // Then followed round by round: a capture after a kill first rolls back what that one left
    // and takes over its lease, which a capture into a fresh archive does not.
    let mut full = times[1];
    let mut committed = BTreeSet::new();
    let mut warned = 0;
    let mut round = 0;
    // Watching the store: a commit pushes its log segment first and swaps the checkpoint last.
    let bucket = store(&sw);
    let segments = || bucket.list("kill/log/segments/").unwrap().len();
    // The rounds, then (only if no kill landed inside a commit yet) up to 30 more aimed at the
    // commit point: the window between the segment's push and the checkpoint's swap is a few
    // milliseconds, which random delays can miss on a fast or a loaded machine. Those rounds
    // watch the store and kill the writer the moment its segment appears.
    while round < rounds || (rounds >= 50 && warned == 0 && round < rounds + 30) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // From a third of a capture's time to three times it (a capture after a kill first
        // rolls back what that one left, and may wait for its lease): before, during and after
        // the commit (pull, lease, push, swap).
        let aimed = round >= rounds;
        let before = if aimed { segments() } else { 0 };
        let url = srv.url(&format!("/p{}", round % 60));
        let started = std::time::Instant::now();
        let mut child = user
            .command(&["capture", "--json", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if aimed {
            while child.try_wait().unwrap().is_none()
                && segments() == before
                && started.elapsed() < full * 10
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        } else {
            std::thread::sleep(full.mul_f64(0.3 + (seed % 2700) as f64 / 1000.0));
        }
        let _ = child.kill();
        let delay = started.elapsed();
        let o = child.wait_with_output().unwrap();
        if o.status.success() {
            let v: serde_json::Value =
                serde_json::from_slice(&o.stdout).expect("a finished capture prints its record");
            committed.insert(v["record_id"].as_str().unwrap().to_string());
            if !aimed {
                full = full.min(delay.max(full / 2));
            }
        } else if delay > full && !aimed {
            // Gently: a capture may also wait out the lease of one killed inside its commit.
            full = delay.min(full.mul_f64(1.25));
        }
        let (r, v) = user.audit(&["--trusted-key", &pin]);
        assert_eq!(r.code, 0, "round {round} (killed after {delay:?}): {v:#}");
        warned += (v["warnings"].as_u64().unwrap() > 0) as usize;
        round += 1;
    }
    // The kills must land both before and after commits, and some inside one (what audit
    // then warns about), or the test proves less than it says.
    eprintln!(
        "{round} kills (a capture takes {full:?}): {} committed, {warned} audits with leftovers",
        committed.len()
    );
    if rounds >= 50 {
        assert!(
            !committed.is_empty() && committed.len() < round,
            "{}",
            committed.len()
        );
        assert!(warned > 0, "no kill landed inside a commit");
    }
    // Every record a capture reported is there, and writing goes on.
    let list = user.ok(&["list", "--json"]);
    for id in &committed {
        assert!(list.contains(id.as_str()), "{id} lost");
    }
    user.capture_ids(&urls(&srv, 0..3));
    user.assert_audit_clean(&pin);
}

/// The script between `<!-- NAME begin -->` and `<!-- NAME end -->` in docs/FORMAT.md.
fn format_script(name: &str) -> String {
    let doc = include_str!("../docs/FORMAT.md");
    let begin = format!("<!-- {name} begin -->");
    let end = format!("<!-- {name} end -->");
    let start = doc.find(&begin).expect("begin marker") + begin.len();
    let stop = doc.find(&end).expect("end marker");
    let region = doc[start..stop].trim();
    region
        .strip_prefix("```bash\n")
        .and_then(|r| r.strip_suffix("\n```"))
        .expect("one bash block")
        .to_string()
}

/// FORMAT.md 3.4 run literally: a copy of the store's objects (as any S3 client makes it),
/// `segments.sh`, and the log files are byte for byte those of `exhibit mirror`'s local copy;
/// a segment missing or not the one its place names stops the script.
#[test]
fn a_stranger_rebuilds_the_log_from_the_store() {
    let _load = shared_machine();
    let sw = Seaweed::start();
    let srv = pages(20);
    let user = S3User::new(&sw, "third");
    user.ok(&["init"]);
    user.capture_ids(&urls(&srv, 0..12));
    user.ok(&["keys", "rotate", "--reason", "test"]);
    user.capture_ids(&urls(&srv, 12..20));
    let script = user.env.dir.path().join("segments.sh");
    std::fs::write(&script, format_script("segments.sh")).unwrap();

    // What `aws s3 sync` would write: every object as a file.
    let download = |to: &std::path::Path| {
        for name in objects(&sw, "third/") {
            let path = to.join(name.strip_prefix("third/").unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, read(&sw, &name)).unwrap();
        }
    };
    let rebuild =
        |dir: &std::path::Path| Command::new("bash").arg(&script).arg(dir).output().unwrap();
    let copy = user.env.dir.path().join("synced");
    download(&copy);
    let o = rebuild(&copy);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "REBUILT");
    let mirrored = user.env.dir.path().join("mirrored");
    user.ok(&["mirror", &user.url, mirrored.to_str().unwrap()]);
    for f in ["leaves", "hashes", "places", "keys", "checkpoint"] {
        let ours = std::fs::read(copy.join("log").join(f)).unwrap();
        let theirs = std::fs::read(mirrored.join("log").join(f)).unwrap();
        assert!(!ours.is_empty(), "{f}");
        assert!(ours == theirs, "log/{f} differs from exhibit's");
    }

    // Forged inputs: a segment swapped for another tree's, one missing.
    let segs: Vec<PathBuf> = std::fs::read_dir(copy.join("log/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(segs.len() >= 3);
    let (a, b) = (&segs[0], &segs[1]);
    let keep = std::fs::read(b).unwrap();
    std::fs::copy(a, b).unwrap();
    let o = rebuild(&copy);
    assert!(!o.status.success(), "a swapped segment was accepted");
    std::fs::write(b, &keep).unwrap();
    std::fs::remove_file(a).unwrap();
    let o = rebuild(&copy);
    assert!(!o.status.success(), "a missing segment was accepted");
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing: log/segments/"));
}

/// An archive under `prefix` and four writers (each its own machine), each running
/// EXHIBIT_S3_WRITES (default 200) capture processes one after another, `then` appended to each
/// command line; returns what the test needs, the writers kept alive with their caches.
#[allow(clippy::type_complexity)]
fn four_writers(
    sw: &Seaweed,
    prefix: &str,
    then: &str,
) -> (
    usize,
    TestServer,
    S3User,
    Vec<S3User>,
    Vec<std::process::Child>,
) {
    let per = std::env::var("EXHIBIT_S3_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200usize);
    let srv = pages(4 * per);
    let founder = S3User::new(sw, prefix);
    founder.ok(&["init"]);
    let writers: Vec<S3User> = (0..4).map(|i| founder.another(&format!("w{i}"))).collect();
    let children = writers
        .iter()
        .enumerate()
        .map(|(w, user)| {
            // One capture process per page: 4 x per commits racing for the log.
            let script = (w * per..(w + 1) * per)
                .map(|i| {
                    format!(
                        "{} capture --json {}{then}\n",
                        common::bin(),
                        srv.url(&format!("/p{i}"))
                    )
                })
                .collect::<String>();
            let mut c = user.command(&[]);
            let mut c = c_sh(&mut c, &script);
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    (per, srv, founder, writers, children)
}

/// `sh -c SCRIPT` with the environment of `c` (the user's settings).
fn c_sh(c: &mut Command, script: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-ec").arg(script);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.stdin(Stdio::null());
    sh
}
