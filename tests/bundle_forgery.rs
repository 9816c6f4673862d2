//! The third-party procedures for evidence bundles, run as a stranger would, on genuine bundles
//! and on every forgery of the outside review (issue 9, items 4 and 6):
//!
//! - VERIFY.txt, literally: every "$ " line (with its "> " continuations) typed into one bash
//!   session, in a directory holding `bundle.zip` and `trusted/` with the keys the stranger
//!   obtained from the publisher. VERIFY.txt is byte for byte FORMAT.md section 13.11;
//! - docs/verify-bundle.py, the published verifier (never the bundle's own code);
//! - `exhibit verify BUNDLE.zip --trusted-key`.
//!
//! Genuine bundles (plain, re-zipped by hand, a checkpoint with a witness cosignature and a
//! line by an untrusted key, records by two keys after `exhibit keys add`) pass all three.
//! Each forgery (an extra member, a directory entry named like the document, an index re-sealed
//! with another url or root_hash, a key swapped in keys/, a decoy end-of-central-directory
//! record, a shadowed duplicate member) fails all three. Then the published verifier is fed
//! thousands of malformed bundles and must refuse each one with a reason, never crash.

mod common;

use common::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "python failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn import(env: &Env, key: &Path, name: &str, bytes: &[u8], ctype: &str) -> String {
    let f = env.dir.path().join(name);
    std::fs::write(&f, bytes).unwrap();
    let out = env.ok(&[
        "--key",
        key.to_str().unwrap(),
        "import",
        f.to_str().unwrap(),
        "--url",
        &format!("https://example.org/{name}"),
        "--content-type",
        ctype,
        "--entity",
        "Example Inc.",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["record_id"].as_str().unwrap().to_string()
}

fn archive_with_records() -> (Env, Vec<String>) {
    let env = Env::new();
    let key = env.key.clone();
    let ids =
        vec![
        import(
            &env,
            &key,
            "terms.html",
            b"<html><head><title>Terms of Service</title></head><body>Fees: 10 USD.</body></html>",
            "text/html",
        ),
        import(&env, &key, "data.bin", &[0u8, 1, 2, 255, 254, 10, 13], "application/octet-stream"),
        import(&env, &key, "notes.txt", b"plain notes\n", "text/plain"),
    ];
    (env, ids)
}

fn export(env: &Env, key: &Path, ids: &[String], name: &str) -> PathBuf {
    let out = env.dir.path().join(name);
    let mut args = vec!["--key", key.to_str().unwrap(), "export"];
    args.extend(ids.iter().map(|s| s.as_str()));
    args.extend(["--out", out.to_str().unwrap()]);
    env.ok(&args);
    out
}

fn public(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}

/// The procedure of docs/FORMAT.md section 13.11, between its markers.
fn format_procedure() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/FORMAT.md")).unwrap();
    let start = doc
        .find("<!-- VERIFY.txt begin -->\n```text\n")
        .expect("FORMAT.md has the VERIFY.txt block")
        + "<!-- VERIFY.txt begin -->\n```text\n".len();
    let end = doc[start..].find("```\n<!-- VERIFY.txt end -->").unwrap() + start;
    doc[start..end].to_string()
}

fn member(bundle: &Path, name: &str) -> Vec<u8> {
    let out = Command::new("unzip")
        .arg("-p")
        .arg(bundle)
        .arg(name)
        .output()
        .expect("unzip is needed");
    assert!(out.status.success(), "unzip -p {name}");
    out.stdout
}

/// Type VERIFY.txt's commands into one bash session, in a fresh directory holding the bundle
/// as bundle.zip and the trusted keys in trusted/ (as keyN.pem). Verified means every command
/// exited 0 and the last one printed VERIFIED.
fn run_verify_txt(text: &str, bundle: &Path, trusted: &[&Path]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(bundle, dir.path().join("bundle.zip")).unwrap();
    std::fs::create_dir(dir.path().join("trusted")).unwrap();
    for (i, k) in trusted.iter().enumerate() {
        std::fs::copy(k, dir.path().join(format!("trusted/key{i}.pem"))).unwrap();
    }
    run_verify_txt_in(text, dir.path())
}

/// The same with one key that keeps its file name, and so its form (.pem, .hex, .vkey).
fn run_verify_txt_named(text: &str, bundle: &Path, key: &Path) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(bundle, dir.path().join("bundle.zip")).unwrap();
    std::fs::create_dir(dir.path().join("trusted")).unwrap();
    std::fs::copy(
        key,
        dir.path().join("trusted").join(key.file_name().unwrap()),
    )
    .unwrap();
    run_verify_txt_in(text, dir.path())
}

/// Each "$ " line (with its "> " continuations) in turn, in one bash session in `dir`, as a
/// reader types them; the session stops at the first that exits non-zero.
fn run_verify_txt_in(text: &str, dir: &Path) -> (bool, String) {
    let mut commands: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("$ ") {
            commands.push(c.to_string());
        } else if let Some(c) = line.strip_prefix("> ") {
            let last = commands
                .last_mut()
                .expect("a continuation follows a command");
            last.push('\n');
            last.push_str(c);
        }
    }
    assert!(commands.len() >= 9, "{text}");
    let mut script = String::new();
    for (i, c) in commands.iter().enumerate() {
        script.push_str(c);
        script.push_str(&format!(
            "\n__st=$?; if [ $__st -ne 0 ]; then echo \"step {i} exited $__st\"; exit 1; fi\n"
        ));
    }
    let mut child = Command::new("bash")
        .current_dir(dir)
        .env_remove("EXHIBIT_ARCHIVE")
        .env_remove("EXHIBIT_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash is needed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(script.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = out.status.success()
        && text
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("VERIFIED: "));
    (verified, text)
}

/// docs/verify-bundle.py, as published: exit code and output. Never a traceback.
fn run_published_py(bundle: &Path, trusted: &[&Path]) -> (i32, String) {
    let out = Command::new("python3")
        .arg(repo().join("docs/verify-bundle.py"))
        .arg(bundle)
        .args(trusted)
        .output()
        .expect("python3 is needed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Traceback"),
        "verify-bundle.py crashed:\n{text}"
    );
    (out.status.code().unwrap(), text)
}

fn run_exhibit(bundle: &Path, trusted: &[&Path]) -> (i32, String) {
    let cwd = tempfile::tempdir().unwrap();
    let mut c = Command::new(common::bin());
    c.arg("verify").arg(bundle);
    for k in trusted {
        c.arg("--trusted-key").arg(k);
    }
    let out = c
        .current_dir(cwd.path())
        .env("EXHIBIT_ARCHIVE", cwd.path().join("no-archive"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "exhibit panicked:\n{text}");
    (out.status.code().unwrap(), text)
}

fn assert_genuine(label: &str, bundle: &Path, trusted: &[&Path]) {
    // The bundle's VERIFY.txt is the published procedure, byte for byte.
    let procedure = format_procedure();
    assert_eq!(
        String::from_utf8(member(bundle, "VERIFY.txt")).unwrap(),
        procedure,
        "{label}: VERIFY.txt differs from FORMAT.md section 13.11"
    );
    let (ok, out) = run_verify_txt(&procedure, bundle, trusted);
    assert!(ok, "{label}: VERIFY.txt rejected a genuine bundle:\n{out}");
    let (code, out) = run_published_py(bundle, trusted);
    assert_eq!(
        code, 0,
        "{label}: verify-bundle.py rejected a genuine bundle:\n{out}"
    );
    let (code, out) = run_exhibit(bundle, trusted);
    assert_eq!(
        code, 0,
        "{label}: exhibit rejected a genuine bundle:\n{out}"
    );
}

fn assert_forged(label: &str, bundle: &Path, trusted: &[&Path]) {
    let (ok, out) = run_verify_txt(&format_procedure(), bundle, trusted);
    assert!(!ok, "{label}: VERIFY.txt accepted a forgery:\n{out}");
    let (code, out) = run_published_py(bundle, trusted);
    assert_eq!(
        code, 1,
        "{label}: verify-bundle.py accepted a forgery:\n{out}"
    );
    assert!(out.starts_with("FAILED: "), "{label}: {out}");
    let (code, out) = run_exhibit(bundle, trusted);
    assert_eq!(code, 1, "{label}: exhibit accepted a forgery:\n{out}");
}

/// Makes the forgeries from a genuine bundle. Modes that re-seal use KEY (a secret key PEM):
/// the genuine key for "someone who can seal" and a fresh one for the key swap.
const FORGE: &str = r#"
import base64, hashlib, json, struct, sys, zipfile, zlib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat, load_pem_private_key)

mode, src, dst, keyfile = sys.argv[1:5]
zin = zipfile.ZipFile(src)
order = [i.filename for i in zin.infolist()]
m = {n: zin.read(n) for n in order}
index = json.loads(m["exhibit-bundle.json"])
doc = index["records"][0]["document"]
H = lambda b: hashlib.sha256(b).digest()

def write(members, names):
    with zipfile.ZipFile(dst, "w") as z:
        for n in names:
            z.writestr(n, members[n])

def reseal(members, key):
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in sorted(members.items())
                   if n not in ("SHA256SUMS", "SHA256SUMS.sig")).encode()
    members["SHA256SUMS"], members["SHA256SUMS.sig"] = sums, key.sign(sums)

def pretty(obj):
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()

if mode == "extra":
    m["fees-corrected.txt"] = b"Fees: 0 USD.\n"
    write(m, order + ["fees-corrected.txt"])
elif mode == "dir-like-doc":
    with zipfile.ZipFile(dst, "w") as z:
        for n in order:
            z.writestr(n, m[n])
        z.writestr(zipfile.ZipInfo(doc + "/"), b"")
elif mode in ("url", "root"):
    if mode == "url":
        index["records"][0]["url"] = "https://example.org/fees-corrected.html"
    else:
        index["root_hash"] = "00" * 32
    m["exhibit-bundle.json"] = pretty(index)
    reseal(m, load_pem_private_key(open(keyfile, "rb").read(), password=None))
    write(m, order)
elif mode in ("key-swap", "key-swap-consistent"):
    # A complete forgery under a key of one's own: another URL in a manifest, every signature,
    # proof, checkpoint and the seal redone. "key-swap" keeps the genuine key ID everywhere and
    # puts its own key in keys/<genuine id>.pem; "key-swap-consistent" uses its own key ID.
    evil = Ed25519PrivateKey.generate()
    raw = evil.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = evil.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    genuine = [n[5:21] for n in order if n.startswith("keys/")][0]
    kid = genuine if mode == "key-swap" else H(raw)[:8].hex()
    recs = sorted(index["records"], key=lambda r: json.loads(m[r["manifest"]])["log_index"])
    cp_lines = m["checkpoint.txt"].decode().split("\n")
    origin, size = cp_lines[0], int(cp_lines[1])
    # The log: the founding key record (leaf 0, the forger's key adding itself), then the
    # exported records. The genuine archive holds exactly these.
    assert size == len(recs) + 1, "the test archive holds the founding record and the exports"
    krid = m["keylog.txt"].decode().split(" ")[1]
    kd = "keylog/%s/" % krid
    st = json.loads(m[kd + "statement.json"])
    st["key"], st["public_key"] = kid, base64.b64encode(raw).decode()
    m[kd + "statement.json"] = (json.dumps(st, separators=(",", ":")) + "\n").encode()
    km = json.loads(m[kd + "manifest.json"])
    km["requested_url"] = km["final_url"] = "exhibit:key/" + kid
    km["document"]["sha256"] = hashlib.sha256(m[kd + "statement.json"]).hexdigest()
    km["document"]["size"] = len(m[kd + "statement.json"])
    km["signer"] = kid
    m[kd + "manifest.json"] = (json.dumps(km, separators=(",", ":")) + "\n").encode()
    m[kd + "manifest.sig"] = evil.sign(m[kd + "manifest.json"])
    m["keylog.txt"] = ("0 %s %s\n" % (krid, kid)).encode()
    for r in recs:
        b = m[r["manifest"]].decode().replace('"signer":"%s"' % genuine, '"signer":"%s"' % kid)
        if r is recs[0]:
            b = b.replace(r["url"], "https://example.org/fees-corrected.html")
            r["url"] = "https://example.org/fees-corrected.html"
        m[r["manifest"]] = b.encode()
        m[r["signature"]] = evil.sign(m[r["manifest"]])
    leaves = [H(b"\x00" + m[kd + "manifest.json"])] + [H(b"\x00" + m[r["manifest"]]) for r in recs]
    node = lambda l, r: H(b"\x01" + l + r)
    split = lambda n: 1 << (n - 1).bit_length() - 1
    def mth(h):
        return h[0] if len(h) == 1 else node(mth(h[:split(len(h))]), mth(h[split(len(h)):]))
    def path(i, h):
        if len(h) == 1: return []
        k = split(len(h))
        return path(i, h[:k]) + [mth(h[k:])] if i < k else path(i - k, h[k:]) + [mth(h[:k])]
    root = mth(leaves)
    keylog_sum = hashlib.sha256(m["keylog.txt"]).hexdigest()
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\nexhibit-key-events 1 {keylog_sum}\n"
    keyhash = H(origin.encode() + b"\n\x01" + raw)[:4]
    sig = base64.b64encode(keyhash + evil.sign(text.encode())).decode()
    m["checkpoint.txt"] = f"{text}\n\u2014 {origin} {sig}\n".encode()
    for i, r in enumerate(recs, 1):
        m[r["proof"]] = pretty({"record_id": r["record_id"], "leaf_index": i, "tree_size": size,
                                "leaf_hash": leaves[i].hex(),
                                "audit_path": [h.hex() for h in path(i, leaves)],
                                "root_hash": root.hex()})
    index["root_hash"] = root.hex()
    index["records"] = recs
    m["exhibit-bundle.json"] = pretty(index)
    del m["keys/%s.pem" % genuine]
    m["keys/%s.pem" % kid] = pem
    order = [n if n != "keys/%s.pem" % genuine else "keys/%s.pem" % kid for n in order]
    reseal(m, evil)
    write(m, order)
elif mode in ("duplicate", "decoy"):
    # Append a second member named like the document, with other content, after the genuine
    # members: a reader that takes the last of two names shows it.
    raw = open(src, "rb").read()
    n, cd_size, cd_off = struct.unpack("<HII", raw[-12:-2])
    cd = raw[cd_off:cd_off + cd_size]
    p, target = 0, None
    while p < len(cd):
        nl, ml, kl = struct.unpack("<HHH", cd[p + 28:p + 34])
        if cd[p + 46:p + 46 + nl] == doc.encode():
            target = cd[p:p + 46 + nl + ml + kl]
        p += 46 + nl + ml + kl
    forged = b"<html><head><title>Terms of Service</title></head><body>Fees: 0 USD.</body></html>"
    name = doc.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(forged),
                        len(forged), len(forged), len(name), 0) + name
    entry = bytearray(target)
    struct.pack_into("<III", entry, 16, zlib.crc32(forged), len(forged), len(forged))
    struct.pack_into("<I", entry, 42, cd_off)
    body = raw[:cd_off] + local + forged
    new_cd = cd + bytes(entry)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n + 1, n + 1, len(new_cd), len(body), 0)
    if mode == "decoy":
        # The real end record counts every member; a decoy in its comment counts the genuine
        # ones only, for a reader that takes the last end record it finds.
        decoy = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(new_cd), len(body), 0)
        end = end[:-2] + struct.pack("<H", len(decoy)) + decoy
    open(dst, "wb").write(body + new_cd + end)
else:
    raise SystemExit("unknown mode " + mode)
"#;

fn forge(mode: &str, genuine: &Path, key: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(format!("forged-{mode}.zip"));
    python(
        FORGE,
        &[
            mode,
            genuine.to_str().unwrap(),
            out.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
    );
    out
}

#[test]
fn every_forgery_fails_every_procedure() {
    let (env, ids) = archive_with_records();
    let key = env.key.clone();
    let genuine = export(&env, &key, &ids, "genuine.zip");
    let pin = public(&key);
    assert_genuine("genuine", &genuine, &[&pin]);
    for mode in [
        "extra",
        "dir-like-doc",
        "url",
        "root",
        "key-swap",
        "key-swap-consistent",
        "duplicate",
        "decoy",
    ] {
        let forged = forge(mode, &genuine, &key, env.dir.path());
        assert_forged(mode, &forged, &[&pin]);
    }
    // The complete forgery under a key of one's own is self-consistent: that is all an
    // unpinned check can say, and exhibit says no more.
    let forged = forge("key-swap-consistent", &genuine, &key, env.dir.path());
    let (code, out) = run_exhibit(&forged, &[]);
    assert_eq!(code, 9, "{out}");
    assert!(out.contains("signer not established"), "{out}");
    // Re-sealed with the genuine key, a changed value of the index is named.
    let forged = forge("url", &genuine, &key, env.dir.path());
    let (_, out) = run_exhibit(&forged, &[&pin]);
    assert!(
        out.contains("url \"https://example.org/fees-corrected.html\" differs from"),
        "{out}"
    );
    let forged = forge("root", &genuine, &key, env.dir.path());
    let (_, out) = run_exhibit(&forged, &[&pin]);
    assert!(
        out.contains("root_hash") && out.contains("differs from the checkpoint"),
        "{out}"
    );
}

/// Re-zipped by hand (deflate, directory entries, another order): still the same bundle to
/// every procedure.
#[test]
fn a_rezipped_bundle_passes_every_procedure() {
    let (env, ids) = archive_with_records();
    let genuine = export(&env, &env.key, &ids, "genuine.zip");
    let rezipped = env.dir.path().join("rezipped.zip");
    python(
        r#"
import sys, zipfile
zin = zipfile.ZipFile(sys.argv[1])
names = sorted(zin.namelist(), reverse=True)
dirs = sorted({n.rsplit("/", 1)[0] + "/" for n in names if "/" in n})
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    for d in dirs:
        z.writestr(zipfile.ZipInfo(d), b"")
    for n in names:
        z.writestr(n, zin.read(n))
"#,
        &[genuine.to_str().unwrap(), rezipped.to_str().unwrap()],
    );
    assert_genuine("rezipped", &rezipped, &[&public(&env.key)]);
}

/// A checkpoint that carries more signature lines than the archive's: a witness cosignature
/// (another key name) and a line under the archive's own name by a key nobody trusts.
#[test]
fn a_checkpoint_with_other_signature_lines_passes_every_procedure() {
    let (env, ids) = archive_with_records();
    let cp = env.archive.join("log/checkpoint");
    python(
        r#"
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
path = sys.argv[1]
note = open(path, encoding="utf-8").read()
text = note[: note.rindex("\n\n") + 1]
origin = text.split("\n")[0]
lines = ""
for name in ("witness.example/w1", origin):
    k = Ed25519PrivateKey.generate()
    raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    h = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    lines += "\u2014 %s %s\n" % (name, base64.b64encode(h + k.sign(text.encode())).decode())
open(path, "w", encoding="utf-8").write(note + lines)
"#,
        &[cp.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&cp).unwrap();
    assert_eq!(text.matches('—').count(), 3, "{text}");
    let bundle = export(&env, &env.key, &ids, "witnessed.zip");
    assert_eq!(member(&bundle, "checkpoint.txt"), text.as_bytes());
    assert_genuine("witnessed", &bundle, &[&public(&env.key)]);
}

/// After `exhibit keys add` of a second key: records by both keys, sealed by the new one.
/// Pinned to both keys, or to the old key alone (whose signed key record added the new one),
/// every procedure passes. Pinned to the new key alone, the key records the old key signed
/// cannot be followed, so each fails, and exhibit names that record's signer.
#[test]
fn a_bundle_signed_by_two_keys_passes_pinned_to_both() {
    let (env, mut ids) = archive_with_records();
    let new = env.dir.path().join("new.key");
    env.ok(&["--key", new.to_str().unwrap(), "keygen"]);
    env.ok(&["keys", "add", public(&new).to_str().unwrap()]);
    ids.push(import(
        &env,
        &new,
        "later.txt",
        b"signed by the new key\n",
        "text/plain",
    ));
    let bundle = export(&env, &new, &ids, "rotated.zip");
    let (old_pin, new_pin) = (public(&env.key), public(&new));
    assert_genuine("two keys", &bundle, &[&old_pin, &new_pin]);
    assert_genuine("old key only", &bundle, &[&old_pin]);
    assert_forged("new key only", &bundle, &[&new_pin]);
    let old_id = {
        let v: serde_json::Value = serde_json::from_str(
            env.ok(&["keys", "--json"])
                .lines()
                .find(|l| l.contains(&std::fs::read_to_string(&old_pin).unwrap()[27..60]))
                .unwrap(),
        )
        .unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let (_, out) = run_exhibit(&bundle, &[&new_pin]);
    assert!(out.contains(&format!("signed by key {old_id}")), "{out}");
    let (_, out) = run_published_py(&bundle, &[&new_pin]);
    assert!(
        out.contains(&format!(
            "is signed by key {old_id}, which is not a key you trust"
        )),
        "{out}"
    );
}

/// Keys in any of the forms a publisher might give: PEM, raw hex, signed-note verifier key.
#[test]
fn trusted_keys_can_be_given_as_pem_hex_or_verifier_key() {
    let (env, ids) = archive_with_records();
    let bundle = export(&env, &env.key, &ids, "b.zip");
    let line = env.ok(&["keys", "--json"]);
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hex_key = dir.path().join("publisher.hex");
    std::fs::write(
        &hex_key,
        format!("{}\n", v["public_key_hex"].as_str().unwrap()),
    )
    .unwrap();
    let vkey = dir.path().join("publisher.vkey");
    std::fs::write(&vkey, format!("{}\n", v["verifier_key"].as_str().unwrap())).unwrap();
    for k in [&hex_key, &vkey] {
        // VERIFY.txt takes the file name's extension as its form.
        let (ok, out) = run_verify_txt_named(&format_procedure(), &bundle, k);
        assert!(ok, "{}: {out}", k.display());
        let (code, out) = run_published_py(&bundle, &[k]);
        assert_eq!(code, 0, "{out}");
    }
    // A verifier key whose hash does not match is refused, not trusted.
    let bad = dir.path().join("bad.vkey");
    let text = v["verifier_key"].as_str().unwrap().to_string();
    let mut parts: Vec<&str> = text.splitn(3, '+').collect();
    parts[1] = "00000000";
    std::fs::write(&bad, parts.join("+")).unwrap();
    let (ok, _) = run_verify_txt_named(&format_procedure(), &bundle, &bad);
    assert!(!ok);
    assert_eq!(run_published_py(&bundle, &[&bad]).0, 2);
}

/// Damage a genuine bundle every way we can think of, thousands of times, and feed each result
/// to the published verifier, in-process: raw byte damage (flips, truncation, insertion,
/// deletion) and, re-sealed with the genuine key so that the seal holds, damage to each JSON
/// value and type, each checkpoint line, each SHA256SUMS line and each member. It must refuse
/// with its own reason (`Refused`), never crash (any other exception); re-sealed damage must
/// never be accepted. A sample of the re-sealed cases goes to DIR for exhibit.
const MUTATE: &str = r#"
import copy, hashlib, importlib.util, io, json, os, random, sys, traceback, zipfile
from cryptography.hazmat.primitives.serialization import load_pem_private_key

script, bundle, secret, public, outdir = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("verify_bundle", script)
vb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vb)
genuine = open(bundle, "rb").read()
trusted = vb.load_trusted([public])
key = load_pem_private_key(open(secret, "rb").read(), password=None)
case = os.path.join(outdir, "case.zip")
crashes, accepted, counts = [], [], {"raw": 0, "resealed": 0}
sample = 0

def check(data, label, must_refuse):
    global sample
    counts["resealed" if must_refuse else "raw"] += 1
    open(case, "wb").write(data)
    try:
        vb.verify(case, trusted)
        if must_refuse:
            accepted.append(label)
    except vb.Refused:
        pass
    except Exception:
        crashes.append(label + ": " + traceback.format_exc().strip().splitlines()[-1])
    if must_refuse and counts["resealed"] % 4 == 0:
        sample += 1
        open(os.path.join(outdir, "sample-%04d.zip" % sample), "wb").write(data)
        open(os.path.join(outdir, "sample-%04d.txt" % sample), "w").write(label)

assert not vb.verify(bundle, trusted) is None
rng = random.Random(9)
for i in range(1500):
    d = bytearray(genuine)
    kind = i % 5
    at = rng.randrange(len(d))
    if kind == 0:
        d[at] ^= rng.randrange(1, 256)
    elif kind == 1:
        del d[at:]
    elif kind == 2:
        d[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    elif kind == 3:
        del d[at:at + rng.randrange(1, 40)]
    else:
        for _ in range(8):
            d[rng.randrange(len(d))] = rng.choice([0, 0xFF, 0x50, 0x4B])
    check(bytes(d), "raw %d" % i, False)

zin = zipfile.ZipFile(io.BytesIO(genuine))
order = [i.filename for i in zin.infolist()]
base = {n: zin.read(n) for n in order}

def zipped(members, names=None):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in names or [n for n in order if n in members] + sorted(set(members) - set(order)):
            z.writestr(n, members[n])
    return out.getvalue()

def resealed(members):
    members = dict(members)
    sums = "".join("%s  %s\n" % (hashlib.sha256(b).hexdigest(), n)
                   for n, b in sorted(members.items())
                   if n not in ("SHA256SUMS", "SHA256SUMS.sig")).encode()
    members["SHA256SUMS"], members["SHA256SUMS.sig"] = sums, key.sign(sums)
    return zipped(members)

BAD = [None, True, False, 0, -1, 1 << 70, 1.5, "", "x", "../x", [], {}, [1], {"a": 1}, "\u2014"]

def variants(obj, path=()):
    if isinstance(obj, dict):
        for k in list(obj):
            yield from ((("del", k) + path, {kk: vv for kk, vv in obj.items() if kk != k}),)
            for p, v in variants(obj[k], path):
                yield p, {**obj, k: v}
        yield ("add",) + path, {**obj, "extra": 1}
        ks = list(obj)
        yield ("reorder",) + path, {k: obj[k] for k in reversed(ks)}
    elif isinstance(obj, list):
        for i in range(len(obj)):
            yield ("drop", i) + path, obj[:i] + obj[i + 1:]
            for p, v in variants(obj[i], path):
                yield p, obj[:i] + [v] + obj[i + 1:]
        if obj:
            yield ("dup",) + path, obj + [obj[0]]
    for b in BAD:
        if not (type(b) is type(obj) and b == obj):
            yield ("set", repr(b)) + path, b

def pretty(o):
    return (json.dumps(o, indent=2, ensure_ascii=False) + "\n").encode()

json_members = ["exhibit-bundle.json"] + [n for n in order if n.endswith("/proof.json")][:1]
for name in json_members:
    obj = json.loads(base[name])
    for label, v in variants(obj):
        check(resealed({**base, name: pretty(v)}), "%s %s" % (name, label), True)
    text = base[name]
    for cut in (0, 1, len(text) // 2, len(text) - 2):
        check(resealed({**base, name: text[:cut]}), "%s cut %d" % (name, cut), True)
    check(resealed({**base, name: text + b"\xff"}), name + " not utf-8", True)
    lines = text.split(b"\n")
    check(resealed({**base, name: b"\n".join(lines[:2] + lines[1:])}), name + " dup key", True)

cp = base["checkpoint.txt"].decode()
cp_lines = cp.split("\n")
for i in range(len(cp_lines)):
    for repl in (None, "", "x", "\u2014 a b", "\u2014 %s !!!" % cp_lines[0], cp_lines[i] * 2,
                 cp_lines[i] + "\r"):
        ls = cp_lines[:i] + ([] if repl is None else [repl]) + cp_lines[i + 1:]
        new = "\n".join(ls)
        if new != cp:
            check(resealed({**base, "checkpoint.txt": new.encode()}), "cp line %d %r" % (i, repl), True)

sums = base["SHA256SUMS"].decode().split("\n")
for i in range(len(sums) - 1):
    for repl in (None, sums[i].upper(), sums[i].replace("  ", " "), sums[i] + "\n" + sums[i],
                 sums[i][:64] + "  ../" + sums[i][66:], sums[i][:64] + "  missing.txt"):
        ls = sums[:i] + ([] if repl is None else [repl]) + sums[i + 1:]
        text = "\n".join(ls).encode()
        m = {**base, "SHA256SUMS": text, "SHA256SUMS.sig": key.sign(text)}
        check(zipped(m), "sums line %d %r" % (i, repl), True)

for n in order:
    if n in ("SHA256SUMS", "SHA256SUMS.sig"):
        continue
    m = dict(base); del m[n]
    check(resealed(m), "drop " + n, True)
    # CITATION.txt is informational: its wording is not checked (the facts are in the
    # manifests, which the verifiers print).
    check(resealed({**base, n: base[n] + b"x"}), "grow " + n, n != "CITATION.txt")
for extra in ("records/EX-0000-0000-0000/x.txt", "keys/0000000000000000.pem", "notes.txt",
              "verify.py", "keys/0000000000000000.ed25519"):
    check(resealed({**base, extra: b"hello"}), "add " + extra, True)

print(json.dumps({"counts": counts, "crashes": crashes, "accepted": accepted}))
"#;

#[test]
fn the_published_verifier_refuses_every_malformed_bundle_with_a_reason() {
    let (env, ids) = archive_with_records();
    let genuine = export(&env, &env.key, &ids, "genuine.zip");
    let out_dir = env.dir.path().join("mutated");
    std::fs::create_dir(&out_dir).unwrap();
    let report = python(
        MUTATE,
        &[
            repo().join("docs/verify-bundle.py").to_str().unwrap(),
            genuine.to_str().unwrap(),
            env.key.to_str().unwrap(),
            public(&env.key).to_str().unwrap(),
            out_dir.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(
        v["crashes"],
        serde_json::json!([]),
        "verify-bundle.py crashed: {v:#}"
    );
    assert_eq!(
        v["accepted"],
        serde_json::json!([]),
        "verify-bundle.py accepted: {v:#}"
    );
    assert!(v["counts"]["raw"].as_u64().unwrap() >= 1500, "{v}");
    let resealed = v["counts"]["resealed"].as_u64().unwrap();
    assert!(resealed >= 400, "{v}");
    // exhibit refuses the same damage, with a reason and without a panic.
    let pin = public(&env.key);
    let mut samples: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sample-")
        })
        .collect();
    samples.sort();
    assert!(
        samples.len() as u64 >= resealed / 4 - 1,
        "{}",
        samples.len()
    );
    for s in &samples {
        let (code, out) = run_exhibit(s, &[&pin]);
        let label = std::fs::read_to_string(s.with_extension("txt")).unwrap();
        assert_eq!(code, 1, "{label}: exhibit did not refuse:\n{out}");
        assert!(out.contains('✗') || out.contains("error: "), "{out}");
    }
}

/// A reader checks the published verifier against the SHA-256 the README prints, and the
/// verifier checks VERIFY.txt against the text FORMAT.md publishes: neither may drift.
#[test]
fn the_published_verifier_is_the_one_the_readme_names() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let script = std::fs::read(repo().join("docs/verify-bundle.py")).unwrap();
    let line = format!(
        "docs/verify-bundle.py  SHA-256 {}",
        common::sha256_hex(&script)
    );
    assert!(
        readme.contains(&line),
        "README.md must print {line:?} (update it with the script)"
    );
    let expected = common::sha256_hex(format_procedure().as_bytes());
    assert!(
        String::from_utf8(script)
            .unwrap()
            .contains(&format!("VERIFY_TXT_SHA256 = \"{expected}\"")),
        "docs/verify-bundle.py must know the SHA-256 of FORMAT.md's VERIFY.txt, {expected}"
    );
}

/// Forgeries by a holder of the pinned key itself (a thief of it, say), from the outside review
/// after key records travelled in bundles: a keylog.txt whose last line lost its LF (a shell
/// `while read` would skip that key record), and a version-3 bundle downgraded to version 2
/// with its key records taken out. Each is refused, the first by every procedure; the second by
/// exhibit and verify-bundle.py (the version-2 VERIFY.txt predates key records and cannot tell,
/// as FORMAT.md 13.12 says).
#[test]
fn a_key_holder_cannot_hide_key_records_from_a_bundle() {
    let (env, ids) = archive_with_records();
    let genuine = export(&env, &env.key, &ids, "genuine.zip");
    let pin = public(&env.key);
    let v2_text = repo().join("src/formats/bundle_verify_v2.txt");
    let forge = |mode: &str| -> PathBuf {
        let out = env.dir.path().join(format!("{mode}.zip"));
        python(
            r#"
import base64, hashlib, json, sys, zipfile
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
mode, src, dst, keyfile, v2 = sys.argv[1:6]
sk = load_pem_private_key(open(keyfile, "rb").read(), None)
raw = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
z = zipfile.ZipFile(src)
m = {n: z.read(n) for n in z.namelist()}
origin, size, root = m["checkpoint.txt"].decode().split("\n")[:3]
if mode == "nolf":
    m["keylog.txt"] = m["keylog.txt"].rstrip(b"\n")
    kl = m["keylog.txt"]
    count = kl.count(b"\n")
    text = f"{origin}\n{size}\n{root}\nexhibit-key-events {count} {hashlib.sha256(kl).hexdigest()}\n"
else:
    for n in [n for n in m if n == "keylog.txt" or n.startswith("keylog/")]:
        del m[n]
    idx = json.loads(m["exhibit-bundle.json"])
    idx["format"] = "exhibit-bundle/2"
    m["exhibit-bundle.json"] = (json.dumps(idx, indent=2, ensure_ascii=False) + "\n").encode()
    m["VERIFY.txt"] = open(v2, "rb").read()
    text = m["checkpoint.txt"].decode()
    text = text[: text.index("\n\n") + 1]
kh = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
m["checkpoint.txt"] = (text + "\n\u2014 " + origin + " " + base64.b64encode(kh + sk.sign(text.encode())).decode() + "\n").encode()
del m["SHA256SUMS"], m["SHA256SUMS.sig"]
sums = "".join(f"{hashlib.sha256(m[n]).hexdigest()}  {n}\n" for n in sorted(m)).encode()
with zipfile.ZipFile(dst, "w") as out:
    out.writestr("SHA256SUMS", sums)
    out.writestr("SHA256SUMS.sig", sk.sign(sums))
    for n in sorted(m):
        out.writestr(n, m[n])
"#,
            &[
                mode,
                genuine.to_str().unwrap(),
                out.to_str().unwrap(),
                env.key.to_str().unwrap(),
                v2_text.to_str().unwrap(),
            ],
        );
        out
    };
    let nolf = forge("nolf");
    assert_forged("keylog.txt without its last LF", &nolf, &[&pin]);
    let downgraded = forge("downgrade");
    let (code, out) = run_published_py(&downgraded, &[&pin]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key records"), "{out}");
    let (code, out) = run_exhibit(&downgraded, &[&pin]);
    assert_eq!(code, 1, "{out}");
}

/// A record with parts (here the TLS certificates of an https capture, as for a browser
/// capture's bodies and views): the bundle carries each part as records/<ID>/parts/<SHA-256>,
/// and every procedure checks them. A part swapped for other bytes and re-sealed by the key
/// holder, or one left out, is refused.
#[test]
fn parts_travel_in_the_bundle_and_every_procedure_checks_them() {
    let env = Env::new();
    let pki_dir = env.dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    common::pki::pki(&pki_dir);
    let server = common::pki::s_server(&pki_dir);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let root = pki_dir.join("root.pem");
    let out = env.ok(&[
        "capture",
        &url,
        "--ca-cert",
        root.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let id = v["record_id"].as_str().unwrap().to_string();
    let bundle = export(&env, &env.key, std::slice::from_ref(&id), "parts.zip");
    let leaf = common::pki::der_sha256(&pki_dir, "leaf.pem");
    let leaf_member = format!("records/{id}/parts/{leaf}");
    assert_eq!(
        common::sha256_hex(&member(&bundle, &leaf_member)),
        leaf,
        "the leaf certificate travels as a part"
    );
    let pin = public(&env.key);
    assert_genuine("with parts", &bundle, &[&pin]);

    for mode in ["swap", "drop"] {
        let forged = env.dir.path().join(format!("parts-{mode}.zip"));
        python(
            r#"
import hashlib, sys, zipfile
from cryptography.hazmat.primitives.serialization import load_pem_private_key
mode, src, dst, keyfile, name = sys.argv[1:6]
sk = load_pem_private_key(open(keyfile, "rb").read(), None)
z = zipfile.ZipFile(src)
m = {n: z.read(n) for n in z.namelist()}
if mode == "swap":
    m[name] = m[name][:-1] + bytes([m[name][-1] ^ 1])
else:
    del m[name]
del m["SHA256SUMS"], m["SHA256SUMS.sig"]
sums = "".join(f"{hashlib.sha256(m[n]).hexdigest()}  {n}\n" for n in sorted(m)).encode()
with zipfile.ZipFile(dst, "w") as out:
    out.writestr("SHA256SUMS", sums)
    out.writestr("SHA256SUMS.sig", sk.sign(sums))
    for n in sorted(m):
        out.writestr(n, m[n])
"#,
            &[
                mode,
                bundle.to_str().unwrap(),
                forged.to_str().unwrap(),
                env.key.to_str().unwrap(),
                &leaf_member,
            ],
        );
        if mode == "swap" {
            assert_forged("a part with other bytes", &forged, &[&pin]);
        } else {
            // The shell procedure checks the parts a bundle carries, not that none is left out
            // (FORMAT.md 13.11 says so); exhibit and the published verifier refuse it.
            let (code, out) = run_published_py(&forged, &[&pin]);
            assert_eq!(code, 1, "{out}");
            let (code, out) = run_exhibit(&forged, &[&pin]);
            assert_eq!(code, 1, "{out}");
        }
    }
}

/// Members the format does not define, added and re-sealed by the key holder (a second review):
/// parts of a record the bundle does not hold, a hidden file among a record's parts, an extra
/// file in a key record's folder. Every procedure refuses each.
#[test]
fn members_the_format_does_not_define_are_refused_by_every_procedure() {
    let (env, ids) = archive_with_records();
    let genuine = export(&env, &env.key, &ids, "genuine.zip");
    let pin = public(&env.key);
    for (label, extra) in [
        (
            "orphan part",
            format!("records/EX-RPYA-G3CB-BHTF/parts/{}", "ab".repeat(32)),
        ),
        ("hidden part", format!("records/{}/parts/.note", ids[0])),
        (
            "extra key record file",
            "keylog/KEYLOG_ID/notes.txt".to_string(),
        ),
    ] {
        let forged = env
            .dir
            .path()
            .join(format!("{}.zip", label.replace(' ', "-")));
        python(
            r#"
import hashlib, sys, zipfile
from cryptography.hazmat.primitives.serialization import load_pem_private_key
src, dst, keyfile, name = sys.argv[1:5]
sk = load_pem_private_key(open(keyfile, "rb").read(), None)
z = zipfile.ZipFile(src)
m = {n: z.read(n) for n in z.namelist()}
if "KEYLOG_ID" in name:
    name = name.replace("KEYLOG_ID", m["keylog.txt"].decode().split(" ")[1])
m[name] = b"<p>fees corrected</p>"
del m["SHA256SUMS"], m["SHA256SUMS.sig"]
sums = "".join(f"{hashlib.sha256(m[n]).hexdigest()}  {n}\n" for n in sorted(m)).encode()
with zipfile.ZipFile(dst, "w") as out:
    out.writestr("SHA256SUMS", sums)
    out.writestr("SHA256SUMS.sig", sk.sign(sums))
    for n in sorted(m):
        out.writestr(n, m[n])
"#,
            &[
                genuine.to_str().unwrap(),
                forged.to_str().unwrap(),
                env.key.to_str().unwrap(),
                &extra,
            ],
        );
        assert_forged(label, &forged, &[&pin]);
    }
}
