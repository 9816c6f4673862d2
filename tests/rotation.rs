//! Trust comes from the log (issue 9 item 8, issue 16 items 2 and 3): rotating the default key
//! keeps daily use and the CI pin working, bundles carry the key records a pinned verifier needs
//! to follow a rotation, `log/keys` cannot be edited to revive a compromised key, and no key
//! becomes trusted without a key record signed by a key the archive already trusts.

mod common;

use common::server::{Route, TestServer};
use common::{assert_one_line_error, Env};
use std::fs;

fn import(env: &Env, name: &str) -> String {
    let f = env.dir.path().join(name);
    fs::write(&f, format!("document {name}")).unwrap();
    let out = env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        &format!("https://example.org/{name}"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["record_id"].as_str().unwrap().to_string()
}

/// The README's rotation, as a newcomer runs it: `keys rotate`, then capture, check, export and
/// audit go on with the documented pins, the old key's pin included.
#[test]
fn keys_rotate_keeps_daily_use_and_the_old_pin_working() {
    let srv = TestServer::start(vec![("/p", Route::html(b"<p>policy</p>".to_vec()))]);
    let env = Env::new();
    let old_pub = env.dir.path().join("old-key.pub");
    fs::copy(format!("{}.pub", env.key.display()), &old_pub).unwrap();
    let old_pin = old_pub.to_str().unwrap();
    let before = env.capture(&srv.url("/p"), &[])["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let state = env.dir.path().join("state");
    assert_eq!(
        env.audit(&["--trusted-key", old_pin, "--state", state.to_str().unwrap()])
            .0,
        0
    );

    let out = env.ok(&["keys", "rotate", "--reason", "yearly"]);
    assert!(out.contains("rotated: key"), "{out}");
    assert!(out.contains("--trusted-key"), "{out}");
    assert!(out.contains("BEGIN PUBLIC KEY"), "{out}");
    // The old secret is kept, never deleted; the new one is the default now.
    let kept: Vec<_> = fs::read_dir(env.key.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".retired-"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let new_pin = format!("{}.pub", env.key.display());
    assert_ne!(fs::read(&new_pin).unwrap(), fs::read(&old_pub).unwrap());

    // Daily use goes on with the default key.
    let after = env.capture(&srv.url("/p"), &[])["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["check", &srv.url("/p")]);
    let zip = env.dir.path().join("after.zip");
    env.ok(&["export", &before, &after, "--out", zip.to_str().unwrap()]);

    // The old pin follows the hand-over the old key signed: verify, audit (with the state kept
    // from before the rotation) and the bundle all pass pinned to the old key alone.
    env.ok(&["verify", &before, &after, "--trusted-key", old_pin]);
    let (code, v) = env.audit(&["--trusted-key", old_pin, "--state", state.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    let r = env.run(&["verify", zip.to_str().unwrap(), "--trusted-key", old_pin]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Pinned to the new key alone, the old records fail (the new key did not sign them or add
    // the old key); the new key's own records pass.
    let r = env.run(&["verify", &before, "--trusted-key", &new_pin]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // The old key says "rotated", not "untrusted".
    let old_secret = kept
        .iter()
        .find(|e| !e.file_name().to_string_lossy().ends_with(".pub"))
        .unwrap()
        .path();
    let f = env.dir.path().join("late.txt");
    fs::write(&f, "late").unwrap();
    let r = env.fails(
        &[
            "--key",
            old_secret.to_str().unwrap(),
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://example.org/late",
        ],
        6,
    );
    assert_one_line_error(&r.stderr, "was rotated to key");
    // `keys` tells the story.
    let keys = env.ok(&["keys"]);
    assert!(keys.contains("retired: rotated to"), "{keys}");
    assert!(keys.contains("added by key"), "{keys}");
    env.assert_audit_clean();
}

/// Issue 9 item 8: deleting or editing `log/keys` must not bring a compromised key back, for a
/// pinned verify as for the writer, and audit names every leaf the true statuses reject.
#[test]
fn log_keys_is_committed_by_the_checkpoint() {
    let env = Env::new();
    let dir = env.dir.path();
    let b = dir.join("b.key");
    env.ok(&["--key", b.to_str().unwrap(), "keygen"]);
    env.ok(&["keys", "add", &format!("{}.pub", b.display())]);
    let bid = env.ok(&["--key", b.to_str().unwrap(), "keys"]);
    let bid = bid
        .lines()
        .find(|l| l.contains("added by key"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let f = dir.join("b.txt");
    fs::write(&f, "by b").unwrap();
    let out = env.ok(&[
        "--key",
        b.to_str().unwrap(),
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/b",
    ]);
    let by_b = out.split("  ").next().unwrap().to_string();
    env.ok(&[
        "keys",
        "compromised",
        &bid,
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    let pin = format!("{}.pub", env.key.display());
    env.fails(&["verify", &by_b, "--trusted-key", &pin], 1);

    // Delete log/keys (no key needed): verify, pinned or not, must not accept B's record.
    let events = env.archive.join("log/keys");
    let original = fs::read(&events).unwrap();
    fs::remove_file(&events).unwrap();
    for extra in [vec![], vec!["--trusted-key", pin.as_str()]] {
        let mut args = vec!["verify", by_b.as_str()];
        args.extend(&extra);
        let r = env.fails(&args, 1);
        assert!(
            r.stdout.contains("key record") || r.stdout.contains("compromised"),
            "{}",
            r.stdout
        );
    }
    // The writer refuses to sign with B.
    let g = dir.join("g.txt");
    fs::write(&g, "g").unwrap();
    env.fails(
        &[
            "--key",
            b.to_str().unwrap(),
            "import",
            g.to_str().unwrap(),
            "--url",
            "https://example.org/g",
        ],
        1,
    );
    // Audit names log/keys and the leaf the recomputed statuses reject.
    let (code, report) = env.audit(&["--trusted-key", &pin]);
    assert_eq!(code, 1);
    let text = report.to_string();
    assert!(text.contains("log/keys"), "{report:#}");
    assert!(
        text.contains(&by_b) && text.contains("compromised"),
        "{report:#}"
    );
    // Removing only the compromise line is caught the same way.
    let text_events = String::from_utf8(original.clone()).unwrap();
    let without_last: String = text_events
        .lines()
        .take(text_events.lines().count() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&events, without_last).unwrap();
    env.fails(&["verify", &by_b, "--trusted-key", &pin], 1);
    fs::write(&events, &original).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(
        code, 1,
        "B's record is rejected by the compromise: {report:#}"
    );
}

/// A key an intruder planted cannot mark the pinned key compromised (a denial of service), and
/// an `added` record by a key nobody trusted adds nothing.
#[test]
fn only_trusted_keys_change_trust() {
    let env = Env::new();
    let id = import(&env, "one.txt");
    let pin = format!("{}.pub", env.key.display());
    // A second archive with the same origin, founded by the intruder's key, writes key records
    // of its own; copying them in cannot make them count, and exhibit says why.
    let intruder = env.dir.path().join("intruder.key");
    env.ok(&["--key", intruder.to_str().unwrap(), "keygen"]);
    let r = env.fails(
        &[
            "--key",
            intruder.to_str().unwrap(),
            "keys",
            "compromised",
            "0000000000000000",
            "--since",
            "2000-01-01T00:00:00Z",
        ],
        2,
    );
    assert_one_line_error(&r.stderr, "not one of this archive's keys");
    env.ok(&["verify", &id, "--trusted-key", &pin]);
}

fn manifest_path(env: &Env, id: &str) -> std::path::PathBuf {
    env.archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"))
}

fn key_id_of(public: &std::path::Path) -> String {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "openssl pkey -pubin -in '{}' -outform DER | tail -c 32 | sha256sum | cut -c1-16",
            public.display()
        ))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Key A founds the archive and adds key B; A then signs record `stolen`; B marks A
/// compromised since `stolen` was signed. Returns A's public key file, B's secret key file,
/// `stolen` and the compromise record's ID.
fn compromised_after_a_theft(
    env: &Env,
) -> (std::path::PathBuf, std::path::PathBuf, String, String) {
    let a_pub = std::path::PathBuf::from(format!("{}.pub", env.key.display()));
    let b = env.dir.path().join("b.key");
    env.ok(&["--key", b.to_str().unwrap(), "keygen"]);
    env.ok(&["keys", "add", &format!("{}.pub", b.display())]);
    // The compromise must not reach back to B's own addition (a second later is enough).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let stolen = import(env, "stolen");
    let since = {
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(manifest_path(env, &stolen)).unwrap()).unwrap();
        m["signed_at"].as_str().unwrap().to_string()
    };
    let out = env.ok(&[
        "--key",
        b.to_str().unwrap(),
        "keys",
        "compromised",
        &key_id_of(&a_pub),
        "--since",
        &since,
    ]);
    let comp_id = out.split_whitespace().next().unwrap().to_string();
    assert!(comp_id.starts_with("EX-"), "{out}");
    (a_pub, b, stolen, comp_id)
}

/// An outside review (found after key records could add keys): with no key at all, flipping one
/// bit of a compromise record's signature, or editing its signer, made the record "not count",
/// which revived the compromised key for verify and let its holder sign again. A key record
/// must be the leaf the signed log holds, and one that a key which counts signed but whose
/// signature fails is damage: verify, every writer and audit stop.
#[test]
fn a_damaged_key_record_is_damage_not_a_record_to_pass_over() {
    let env = Env::new();
    let (a_pub, b, stolen, comp_id) = compromised_after_a_theft(&env);
    env.fails(
        &["verify", &stolen, "--trusted-key", a_pub.to_str().unwrap()],
        1,
    );
    // Audit names the one record the compromise withdrew, and nothing else.
    let (_, v) = env.audit(&[]);
    assert_eq!(v["errors"], 1, "{v:#}");

    let genuine = env.dir.path().join("genuine");
    common::copy_dir(&env.archive, &genuine);
    for tamper in ["signature", "signer"] {
        fs::remove_dir_all(&env.archive).unwrap();
        common::copy_dir(&genuine, &env.archive);
        let m = manifest_path(&env, &comp_id);
        if tamper == "signature" {
            let sig = m.with_extension("sig");
            let mut bytes = fs::read(&sig).unwrap();
            bytes[10] ^= 0x01;
            fs::write(&sig, bytes).unwrap();
        } else {
            let text = fs::read_to_string(&m).unwrap();
            let b_id = key_id_of(std::path::Path::new(&format!("{}.pub", b.display())));
            fs::write(
                &m,
                text.replace(
                    &format!("\"signer\":\"{b_id}\""),
                    "\"signer\":\"0123456789abcdef\"",
                ),
            )
            .unwrap();
        }
        // The stolen key's record stays refused, pinned or not.
        let r = env.run(&["verify", &stolen, "--trusted-key", a_pub.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{tamper}: {}{}", r.stdout, r.stderr);
        let r = env.run(&["verify", &stolen]);
        assert_ne!(r.code, 0, "{tamper}: {}{}", r.stdout, r.stderr);
        // The thief cannot sign with the real binary.
        let f = env.dir.path().join("forged.txt");
        fs::write(&f, "forged").unwrap();
        let r = env.run(&[
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://example.org/forged",
        ]);
        assert_ne!(
            r.code, 0,
            "{tamper}: the compromised key signed again: {}",
            r.stdout
        );
        assert!(r.stderr.contains("key record"), "{tamper}: {}", r.stderr);
        let (code, v) = env.audit(&[]);
        assert_eq!(code, 1, "{tamper}");
        assert!(v["errors"].as_u64().unwrap() >= 2, "{tamper}: {v:#}");
    }
}

/// The same review: `keys rotate` followed by marking the old key compromised since the
/// rotation reported success, but the compromise reached back to the old key's hand-over,
/// voiding the new key and so the compromise record itself. A key change that would not count,
/// or would void key records that count, is refused before anything is written.
#[test]
fn a_key_change_that_would_void_itself_is_refused() {
    let env = Env::new();
    let old_pub = env.dir.path().join("old.pub");
    fs::copy(format!("{}.pub", env.key.display()), &old_pub).unwrap();
    let old_id = key_id_of(&old_pub);
    env.ok(&["keys", "rotate"]);
    let before = env.counts();
    let r = env.fails(
        &[
            "keys",
            "compromised",
            &old_id,
            "--since",
            "2000-01-01T00:00:00Z",
        ],
        6,
    );
    assert!(r.stderr.contains("refusing the key change"), "{}", r.stderr);
    assert!(r.stderr.contains("would"), "{}", r.stderr);
    assert_eq!(env.counts(), before, "nothing was written");
    let keys = env.ok(&["keys"]);
    assert!(keys.contains("active"), "{keys}");
    env.assert_audit_clean();
    // A compromise from after the hand-over is fine.
    let now = env.ok(&[
        "keys",
        "compromised",
        &old_id,
        "--since",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(now.contains("compromised"), "{now}");
    env.assert_audit_clean();
}

/// The same review: editing the founding record's signer and planting a key in keys/ (no key
/// needed) must not make the planted key a root: the founding record is checked against the
/// signed log, so verify and writers stop.
#[test]
fn an_edited_founding_record_does_not_hand_the_archive_to_a_planted_key() {
    let env = Env::new();
    let r0 = import(&env, "first");
    let (founding, _) = env.founding().unwrap();
    let m = manifest_path(&env, &founding);
    let text = fs::read_to_string(&m).unwrap();
    let edited = {
        let at = text.find("\"signer\":\"").unwrap() + 10;
        format!("{}0000000000000000{}", &text[..at], &text[at + 16..])
    };
    fs::write(&m, edited).unwrap();
    let z = env.dir.path().join("z.key");
    env.ok(&["--key", z.to_str().unwrap(), "keygen"]);
    let z_pub = std::path::PathBuf::from(format!("{}.pub", z.display()));
    fs::copy(
        &z_pub,
        env.archive
            .join("keys")
            .join(format!("{}.pem", key_id_of(&z_pub))),
    )
    .unwrap();
    let f = env.dir.path().join("forged.txt");
    fs::write(&f, "forged").unwrap();
    let r = env.run(&[
        "--key",
        z.to_str().unwrap(),
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/forged",
    ]);
    assert_ne!(r.code, 0, "a planted key signed: {}", r.stdout);
    let r = env.run(&["verify", &r0]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (code, _) = env.audit(&[]);
    assert_eq!(code, 1);
}

/// The same review: whoever holds a key that was later marked compromised can sign a
/// checkpoint over the very same tree whose key-record line leaves the compromise out; a
/// verifier of the archive alone cannot tell. A checkpoint kept from after the compromise
/// (`audit --since`, `--state`) shows it: the key records must be those it committed to.
#[test]
fn a_kept_checkpoint_reveals_a_compromise_left_out_of_the_list() {
    let env = Env::new();
    let (a_pub, _, stolen, _) = compromised_after_a_theft(&env);
    let kept = env.dir.path().join("kept.checkpoint");
    fs::write(&kept, env.ok(&["checkpoint"])).unwrap();
    // Genuine: only the stolen record is an error; the log extends the kept checkpoint.
    let (_, v) = env.audit(&["--since", kept.to_str().unwrap()]);
    assert_eq!(v["errors"], 1, "{v:#}");

    // The thief (holding A) drops the compromise from log/keys and signs a checkpoint of the
    // same tree that commits to the shorter list.
    let keys_file = env.archive.join("log/keys");
    let lines = fs::read_to_string(&keys_file).unwrap();
    let shorter: String = lines
        .lines()
        .take(lines.lines().count() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&keys_file, &shorter).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import base64, hashlib, sys
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
cp, keys, secret = sys.argv[1:4]
note = open(cp, encoding="utf-8").read()
origin, size, root = note.split("\n")[:3]
lines = open(keys, "rb").read()
count = lines.count(b"\n")
text = f"{origin}\n{size}\n{root}\nexhibit-key-events {count} {hashlib.sha256(lines).hexdigest()}\n"
sk = load_pem_private_key(open(secret, "rb").read(), None)
raw = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
kh = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
sig = base64.b64encode(kh + sk.sign(text.encode())).decode()
open(cp, "w", encoding="utf-8").write(f"{text}\n\u2014 {origin} {sig}\n")
"#,
        )
        .arg(env.archive.join("log/checkpoint"))
        .arg(&keys_file)
        .arg(&env.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Alone, the forged state looks sound to a verifier pinned to A: the stolen record passes.
    let r = env.run(&["verify", &stolen, "--trusted-key", a_pub.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Audit, which recomputes the key records from the manifests, says otherwise, and still
    // judges the stolen record by the compromise.
    let (code, v) = env.audit(&["--trusted-key", a_pub.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    let text = v.to_string();
    assert!(
        text.contains("does not list exactly the log's key records"),
        "{v:#}"
    );
    assert!(text.contains("compromised since"), "{v:#}");
    // And with the kept checkpoint as well.
    let (code, v) = env.audit(&[
        "--since",
        kept.to_str().unwrap(),
        "--trusted-key",
        a_pub.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{v:#}");
}

/// Two rotations of one key, from two copies of its secret: both pass their checks, and the one
/// that takes the lock second is refused (its key was just retired). It once wrote its new key
/// into keys/ before the commit, leaving a key file no key record adds, an audit error for good
/// (a kill before the commit did the same). The copy is written after the commit now.
#[test]
fn a_key_change_refused_under_the_lock_leaves_no_key_file() {
    let env = Env::new();
    let copy = env.dir.path().join("copy");
    fs::create_dir(&copy).unwrap();
    let copy_key = copy.join("signing.key");
    fs::copy(&env.key, &copy_key).unwrap();
    fs::copy(
        format!("{}.pub", env.key.display()),
        format!("{}.pub", copy_key.display()),
    )
    .unwrap();
    let keys_before = fs::read_dir(env.archive.join("keys")).unwrap().count();
    // Hold the writers' lock so that both get past their checks and wait for it.
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .open(env.archive.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let spawn = |key: &std::path::Path| {
        env.command(&["keys", "rotate"])
            .env("EXHIBIT_KEY", key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = spawn(&env.key);
    let mut b = spawn(&copy_key);
    // Both must be past their checks and waiting for the lock before it is let go, or the
    // second would be refused by its checks (the key already retired) rather than under the
    // lock, which is what this covers: wait until the kernel shows both blocked on it (a
    // fixed sleep let a loaded machine release the lock before the second got there).
    wait_blocked_on_lock(&env.archive.join("lock"), &mut [&mut a, &mut b]);
    lock.unlock().unwrap();
    let outcomes: Vec<bool> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.success())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one rotation commits"
    );
    env.assert_audit_clean();
    assert_eq!(
        fs::read_dir(env.archive.join("keys")).unwrap().count(),
        keys_before + 1,
        "one new key file, the committed rotation's"
    );
}

/// Waits until every one of `children` is blocked waiting for the `flock` on `path`, as
/// /proc/locks shows it (`N: -> FLOCK ... PID MAJ:MIN:INODE ...`), for up to 60 s.
fn wait_blocked_on_lock(path: &std::path::Path, children: &mut [&mut std::process::Child]) {
    use std::os::unix::fs::MetadataExt;
    let inode = fs::metadata(path).unwrap().ino();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let locks = fs::read_to_string("/proc/locks").expect("/proc/locks (Linux)");
        let waiting: Vec<u32> = locks
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (pid, dev) = match f.as_slice() {
                    [_, "->", "FLOCK", _, _, pid, dev, ..] => (pid, dev),
                    _ => return None,
                };
                let ino = dev.rsplit(':').next()?.parse::<u64>().ok()?;
                (ino == inode).then(|| pid.parse().ok()).flatten()
            })
            .collect();
        if children.iter().all(|c| waiting.contains(&c.id())) {
            return;
        }
        for c in children.iter_mut() {
            if let Some(status) = c.try_wait().unwrap() {
                panic!("a writer ended ({status}) before waiting for the lock");
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writers never both waited for the lock: {locks}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
