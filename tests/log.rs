//! The append-only log through the real binary: any removed, reordered, altered or inserted
//! record is caught and the first bad index named; `audit --since` proves history only grew;
//! checkpoints and proofs check out with an independent implementation (Python, RFC 9162 and
//! the C2SP signed-note rules written out from the specs, not from our code).

mod common;

use common::server::{Route, TestServer};
use common::{files_under, Env};
use std::process::Command;

fn serve(n: usize, tag: &str) -> TestServer {
    let routes: Vec<(String, Route)> = (0..n)
        .map(|i| {
            (
                format!("/{tag}{i}"),
                Route::Ok {
                    content_type: "text/plain",
                    body: format!("{tag} page {i}").into_bytes(),
                },
            )
        })
        .collect();
    common::serve_owned(routes)
}

fn capture_all(env: &Env, srv: &TestServer, tag: &str, range: std::ops::Range<usize>) {
    let list = env.dir.path().join(format!("{tag}{}.txt", range.start));
    let urls: Vec<String> = range.map(|i| srv.url(&format!("/{tag}{i}"))).collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    env.ok(&["capture", "--from", list.to_str().unwrap(), "--jobs", "8"]);
}

/// A copy of `env`'s archive, sharing its key.
fn copy_of(env: &Env) -> Env {
    let c = Env::bare();
    common::copy_dir(&env.archive, &c.archive);
    std::fs::create_dir_all(c.key.parent().unwrap()).unwrap();
    std::fs::copy(&env.key, &c.key).unwrap();
    c
}

fn leaf_record(env: &Env, i: usize) -> (String, std::path::PathBuf) {
    let leaves = std::fs::read(env.archive.join("log/leaves")).unwrap();
    let line = std::str::from_utf8(&leaves[i * 83..i * 83 + 83]).unwrap();
    let id = line[..17].to_string();
    let json = env
        .archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"));
    (id, json)
}

fn assert_first_bad(env: &Env, want: u64, what: &str) {
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1, "{what}: audit passed: {report:#}");
    assert_eq!(
        report["first_bad_leaf"], want,
        "{what}: {}",
        report["problems"]
    );
}

#[test]
fn thousand_records_every_rewrite_is_caught_at_its_index() {
    let srv = serve(1000, "p");
    let env = Env::new();
    // With the founding key record at leaf 0, 499 captures make a log of 500 records.
    capture_all(&env, &srv, "p", 0..499);
    let old_checkpoint = env.dir.path().join("old.checkpoint");
    std::fs::write(&old_checkpoint, env.ok(&["checkpoint"])).unwrap();
    capture_all(&env, &srv, "p", 499..999);
    let (code, report) = env.audit(&["--since", old_checkpoint.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        (report["tree_size"].as_u64(), report["extends"].as_u64()),
        (Some(1000), Some(500))
    );
    assert!(report["first_bad_leaf"].is_null());

    // Delete a record.
    let c = copy_of(&env);
    let (_, json) = leaf_record(&c, 500);
    std::fs::remove_file(&json).unwrap();
    std::fs::remove_file(json.with_extension("sig")).unwrap();
    assert_first_bad(&c, 500, "deleted record");

    // Delete a record and its log line (the tree is now shorter than the signed one).
    let c = copy_of(&env);
    let (_, json) = leaf_record(&c, 321);
    std::fs::remove_file(&json).unwrap();
    std::fs::remove_file(json.with_extension("sig")).unwrap();
    let mut leaves = std::fs::read(c.archive.join("log/leaves")).unwrap();
    leaves.drain(321 * 83..322 * 83);
    std::fs::write(c.archive.join("log/leaves"), leaves).unwrap();
    assert_first_bad(&c, 321, "deleted record and log line");

    // Reorder two records.
    let c = copy_of(&env);
    let mut leaves = std::fs::read(c.archive.join("log/leaves")).unwrap();
    let a: Vec<u8> = leaves[200 * 83..201 * 83].to_vec();
    let b: Vec<u8> = leaves[300 * 83..301 * 83].to_vec();
    leaves[200 * 83..201 * 83].copy_from_slice(&b);
    leaves[300 * 83..301 * 83].copy_from_slice(&a);
    std::fs::write(c.archive.join("log/leaves"), leaves).unwrap();
    assert_first_bad(&c, 200, "reordered records");

    // Alter a record.
    let c = copy_of(&env);
    let (_, json) = leaf_record(&c, 700);
    let mut m = std::fs::read(&json).unwrap();
    let at = m.windows(4).position(|w| w == b"http").unwrap();
    m[at] = b'H';
    std::fs::write(&json, m).unwrap();
    assert_first_bad(&c, 700, "altered record");

    // Insert a record signed by the same key (from another archive) at index 100.
    let c = copy_of(&env);
    let other = Env::bare();
    std::fs::create_dir_all(other.key.parent().unwrap()).unwrap();
    std::fs::copy(&env.key, &other.key).unwrap();
    let origin = env.ok(&["checkpoint", "--json"]);
    let origin: serde_json::Value = serde_json::from_str(&origin).unwrap();
    other.ok(&[
        "init",
        "--layout",
        "loose",
        "--origin",
        origin["origin"].as_str().unwrap(),
    ]);
    let f = other.dir.path().join("forged.txt");
    std::fs::write(&f, "inserted later").unwrap();
    other.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/forged",
    ]);
    let (_, forged_json) = leaf_record(&other, 0);
    let dest = c
        .archive
        .join(forged_json.strip_prefix(&other.archive).unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(&forged_json, &dest).unwrap();
    std::fs::copy(
        forged_json.with_extension("sig"),
        dest.with_extension("sig"),
    )
    .unwrap();
    let forged_line = std::fs::read(other.archive.join("log/leaves")).unwrap();
    let mut leaves = std::fs::read(c.archive.join("log/leaves")).unwrap();
    leaves.splice(100 * 83..100 * 83, forged_line);
    std::fs::write(c.archive.join("log/leaves"), leaves).unwrap();
    assert_first_bad(&c, 100, "inserted record");

    // Rewritten history by the key holder: a whole new, self-consistent log under the same key
    // and origin passes a plain audit, but not `--since` the checkpoint kept from before.
    let (code, _) = other.audit(&[]);
    assert_eq!(code, 0);
    let (code, report) = other.audit(&["--since", old_checkpoint.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        report.to_string().contains("history was rewritten"),
        "{report:#}"
    );
    let srv2 = serve(600, "q");
    capture_all(&other, &srv2, "q", 0..600);
    let (code, report) = other.audit(&["--since", old_checkpoint.to_str().unwrap()]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        report
            .to_string()
            .contains("does not extend the old checkpoint"),
        "{report:#}"
    );

    independent_checks(&env);
}

/// Checks of our checkpoint and proofs by code that is not ours: Python with `cryptography`,
/// following c2sp.org/signed-note and RFC 9162 sections 2.1.3.2 and 2.1.4.2.
fn independent_checks(env: &Env) {
    const SCRIPT: &str = r#"
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

keys, cp, inc, cons = (json.loads(x) for x in sys.argv[1:5])
vkey = keys["verifier_key"]
name, khash, kb64 = vkey.split("+", 2)
raw = base64.b64decode(kb64)
assert raw[0] == 1 and len(raw) == 33, "ed25519 verifier key"
assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == khash, "key hash"
pub = Ed25519PublicKey.from_public_bytes(raw[1:])

note = cp["checkpoint"]
text, sigs = note.split("\n\n", 1)
text += "\n"
ok = False
for line in sigs.splitlines():
    assert line.startswith("\u2014 "), line
    who, b64 = line[2:].split(" ")
    blob = base64.b64decode(b64)
    if who == name and blob[:4].hex() == khash:
        pub.verify(blob[4:], text.encode())   # raises if invalid
        ok = True
assert ok, "no signature by the archive key"
origin, size, root_b64 = text.splitlines()[:3]
size, root = int(size), base64.b64decode(root_b64)

def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()

# RFC 9162 2.1.3.2: inclusion
fn, sn, r = inc["leaf_index"], inc["tree_size"] - 1, bytes.fromhex(inc["leaf_hash"])
for p in map(bytes.fromhex, inc["audit_path"]):
    assert sn != 0
    if fn & 1 or fn == sn:
        r = node(p, r)
        while fn & 1 == 0 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        r = node(r, p)
    fn >>= 1; sn >>= 1
assert sn == 0 and r == root and inc["tree_size"] == size, "inclusion"

# RFC 9162 2.1.4.2: consistency
first, second = cons["old_size"], cons["tree_size"]
path = [bytes.fromhex(h) for h in cons["consistency_path"]]
first_hash = bytes.fromhex(cons["old_root"])
if first & (first - 1) == 0:
    path = [first_hash] + path
fn, sn = first - 1, second - 1
while fn & 1:
    fn >>= 1; sn >>= 1
fr = sr = path[0]
for c in path[1:]:
    assert sn != 0
    if fn & 1 or fn == sn:
        fr, sr = node(c, fr), node(c, sr)
        while fn & 1 == 0 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        sr = node(sr, c)
    fn >>= 1; sn >>= 1
assert fr == first_hash and sr == root and sn == 0, "consistency"
print("independent checks ok")
"#;
    let keys = env.ok(&["keys", "--json"]);
    let cp = env.ok(&["checkpoint", "--json"]);
    let (id, _) = leaf_record(env, 777);
    let inc = env.ok(&["prove", &id, "--json"]);
    let cons = env.ok(&["prove", "--consistency", "500", "--json"]);
    let out = Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            keys.trim(),
            cp.trim(),
            inc.trim(),
            cons.trim(),
        ])
        .output()
        .expect("python3 with `cryptography` is needed (pip install cryptography)");
    assert!(
        out.status.success(),
        "independent check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let inc: serde_json::Value = serde_json::from_str(&inc).unwrap();
    assert_eq!(inc["leaf_index"], 777);
    assert_eq!(inc["tree_size"], 1000);
    assert_eq!(inc["audit_path"].as_array().unwrap().len(), 10);
    let _ = files_under;
}

#[test]
fn verify_checks_inclusion_and_prove_refuses_unknown_sizes() {
    let srv = serve(5, "v");
    let env = Env::new();
    capture_all(&env, &srv, "v", 0..5);
    let (id, _) = leaf_record(&env, 3);
    let r = env.run(&["verify", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let log_check = v["records"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "log")
        .cloned()
        .unwrap();
    assert_eq!(log_check["ok"], true, "{v:#}");
    // Damage the stored hashes the proof is built from: verify fails on the log check.
    let hashes = env.archive.join("log/hashes");
    let mut h = std::fs::read(&hashes).unwrap();
    for i in (0..h.len()).step_by(32) {
        h[i] ^= 1;
    }
    std::fs::write(&hashes, h).unwrap();
    let r = env.fails(&["verify", &id], 1);
    assert!(r.stdout.contains("inclusion proof"), "{}", r.stdout);
    // Six records (the founding key record and five captures): seven is beyond the log.
    env.fails(&["prove", "--consistency", "7"], 2);
}
