//! Evidence bundles through the real binary: deterministic export, verification anywhere,
//! honest output (pinned, self-consistent, failed), every altered byte caught, hostile zips
//! refused without writing anything, version 1 bundles still verified. The third-party
//! procedures and the forgeries are in tests/bundle_forgery.rs.

mod common;

use common::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn archive_with_records() -> (Env, Vec<String>) {
    let env = Env::new();
    let mut ids = Vec::new();
    let docs: [(&str, &[u8], &str); 3] = [
        (
            "terms.html",
            b"<html><head><title>Terms of Service</title></head><body>Be nice.</body></html>",
            "text/html",
        ),
        (
            "data.bin",
            &[0u8, 1, 2, 255, 254, 10, 13],
            "application/octet-stream",
        ),
        ("notes.txt", b"plain notes\n", "text/plain"),
    ];
    for (name, bytes, ctype) in docs {
        let f = env.dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let out = env.ok(&[
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
        ids.push(v["record_id"].as_str().unwrap().to_string());
    }
    (env, ids)
}

fn export(env: &Env, ids: &[String], name: &str) -> PathBuf {
    let out = env.dir.path().join(name);
    let mut args = vec!["export"];
    args.extend(ids.iter().map(|s| s.as_str()));
    args.extend(["--out", out.to_str().unwrap()]);
    env.ok(&args);
    out
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
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Verify a bundle with exhibit from a directory with no archive at all.
fn verify_elsewhere(bundle: &Path, extra: &[&str]) -> (i32, String) {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .arg("verify")
        .arg(bundle)
        .args(extra)
        .current_dir(cwd.path())
        .env("EXHIBIT_ARCHIVE", cwd.path().join("no-archive-here"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let leftovers = std::fs::read_dir(cwd.path()).unwrap().count();
    assert_eq!(leftovers, 0, "verifying a bundle wrote files");
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn export_is_deterministic_and_verifies_anywhere() {
    let (env, ids) = archive_with_records();
    let a = export(&env, &ids, "a.zip");
    let b = export(&env, &ids, "b.zip");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "bundles differ"
    );

    let public = format!("{}.pub", env.key.display());
    let (code, out) = verify_elsewhere(&a, &["--trusted-key", &public]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("✓ EX-").count(), 3, "{out}");
    assert!(
        out.contains("bundle verified") && out.contains("all pinned"),
        "{out}"
    );

    // The documents carry readable names with the right extension; no code ships inside.
    let names = python(
        "import zipfile,sys; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        &[a.to_str().unwrap()],
    );
    assert!(
        names.lines().any(|n| n.ends_with("/terms-of-service.html")),
        "{names}"
    );
    assert!(names.lines().any(|n| n.ends_with(".bin")), "{names}");
    assert!(names.contains("CITATION.txt") && names.contains("VERIFY.txt"));
    assert!(
        !names.contains("verify.py") && !names.contains(".ed25519"),
        "{names}"
    );
}

/// Without a pinned key, a bundle that passes every check is only self-consistent: no ✓, no
/// "verified", its own exit code, and the JSON says so.
#[test]
fn an_unpinned_bundle_is_self_consistent_never_verified() {
    let (env, ids) = archive_with_records();
    let a = export(&env, &ids, "a.zip");
    let (code, out) = verify_elsewhere(&a, &[]);
    assert_eq!(code, 9, "{out}");
    assert!(
        out.contains(
            "self-consistent; signer not established (pin a key with --trusted-key KEY.pub)"
        ),
        "{out}"
    );
    assert!(!out.contains('✓') && !out.contains("verified"), "{out}");
    let key_id = key_id_of(&env);
    assert!(out.contains(&format!("sealed by key {key_id}")), "{out}");
    let (code, json) = verify_elsewhere(&a, &["--json"]);
    assert_eq!(code, 9);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["bundles"][0]["trust"], "self-consistent", "{v}");
    assert_eq!(v["bundles"][0]["sealed_by"], key_id.as_str(), "{v}");
    // The exit code is documented where users look.
    let help = env.ok(&["--help"]);
    assert!(
        help.contains("  9  ") && help.contains("self-consistent"),
        "{help}"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains("| 9 |"), "README has no exit code 9");
}

/// The key ID of the test archive's key, computed here from its PEM.
fn key_id_of(env: &Env) -> String {
    let raw = python(
        "import base64,sys; print(base64.b64decode(''.join(open(sys.argv[1]).read().split('\\n')[1:-2]))[-32:].hex())",
        &[&format!("{}.pub", env.key.display())],
    );
    common::sha256_hex(&hex::decode(raw.trim()).unwrap())[..16].to_string()
}

/// Pinned to a key that did not sign: the failure says which key did, and why, and never
/// claims the signatures are by the pinned key.
#[test]
fn a_failed_pinned_verify_names_the_key_that_signed() {
    let (env, ids) = archive_with_records();
    let a = export(&env, &ids, "a.zip");
    let other = env.dir.path().join("other.key");
    env.ok(&["--key", other.to_str().unwrap(), "keygen"]);
    let other_pub = format!("{}.pub", other.display());
    let (code, out) = verify_elsewhere(&a, &["--trusted-key", &other_pub]);
    assert_eq!(code, 1, "{out}");
    let signer = key_id_of(&env);
    assert!(!out.contains("signatures are by the pinned"), "{out}");
    for needle in [
        format!("SHA256SUMS.sig: sealed by key {signer}, which is not a pinned key"),
        format!("checkpoint.txt: signed by key {signer}, which is not a pinned key"),
        format!("signed by key {signer}, which is not a pinned trusted key"),
        // The log check says the checkpoint is there, but by another key...
        "the checkpoint cannot be relied on (signed by key".to_string(),
    ] {
        assert!(out.contains(&needle), "no {needle:?} in:\n{out}");
    }
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("FAILED verification against pinned key(s)") && last.contains(&signer),
        "{last}"
    );
    // ...which is not what a bundle without a checkpoint says.
    let no_cp = env.dir.path().join("no-checkpoint.zip");
    python(
        RESEAL,
        &[
            a.to_str().unwrap(),
            no_cp.to_str().unwrap(),
            env.key.to_str().unwrap(),
            "drop",
            "checkpoint.txt",
        ],
    );
    let public = format!("{}.pub", env.key.display());
    let (code, out) = verify_elsewhere(&no_cp, &["--trusted-key", &public]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checkpoint.txt: missing"), "{out}");
    assert!(out.contains("the bundle has no checkpoint.txt"), "{out}");
    assert!(!out.contains("cannot be relied on"), "{out}");
}

/// Rebuild a bundle with one member dropped or replaced, its SHA256SUMS recomputed and sealed
/// again with the given secret key: what someone holding a trusted key can do.
const RESEAL: &str = r#"
import hashlib, sys, zipfile
from cryptography.hazmat.primitives.serialization import load_pem_private_key
src, dst, keyfile, action, name = sys.argv[1:6]
zin = zipfile.ZipFile(src)
members = {i.filename: zin.read(i) for i in zin.infolist()}
if action == "drop":
    del members[name]
else:
    members[name] = open(action, "rb").read()
sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in sorted(members.items())
               if n not in ("SHA256SUMS", "SHA256SUMS.sig")).encode()
key = load_pem_private_key(open(keyfile, "rb").read(), password=None)
members["SHA256SUMS"], members["SHA256SUMS.sig"] = sums, key.sign(sums)
with zipfile.ZipFile(dst, "w") as z:
    for n in [i.filename for i in zin.infolist() if i.filename in members]:
        z.writestr(n, members[n])
"#;

/// CITATION.txt gives its recipient the command that works for them, and says where the key
/// comes from: the publisher, by key ID and fingerprint.
#[test]
fn citation_txt_tells_the_recipient_how_to_verify() {
    let (env, ids) = archive_with_records();
    let a = export(&env, &ids, "a.zip");
    let citation = python(
        "import zipfile,sys; print(zipfile.ZipFile(sys.argv[1]).read('CITATION.txt').decode())",
        &[a.to_str().unwrap()],
    );
    let id = key_id_of(&env);
    let command = format!("exhibit verify BUNDLE.zip --trusted-key {id}.pub");
    assert!(citation.contains(&command), "{citation}");
    assert!(
        !citation.contains("Verify: exhibit verify EX-"),
        "{citation}"
    );
    assert!(
        citation.contains("obtained from the publisher"),
        "{citation}"
    );
    let raw = python(
        "import base64,sys; print(base64.b64decode(''.join(open(sys.argv[1]).read().split('\\n')[1:-2]))[-32:].hex())",
        &[&format!("{}.pub", env.key.display())],
    );
    let fingerprint = common::sha256_hex(&hex::decode(raw.trim()).unwrap());
    assert!(
        citation.contains(&format!("key ID {id}, SHA-256 fingerprint {fingerprint}")),
        "{citation}"
    );
    // The command works as given, from anywhere, once the key is where it says.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::copy(&a, cwd.path().join("BUNDLE.zip")).unwrap();
    std::fs::copy(
        format!("{}.pub", env.key.display()),
        cwd.path().join(format!("{id}.pub")),
    )
    .unwrap();
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let out = Command::new(common::bin())
        .args(&args)
        .current_dir(cwd.path())
        .env("EXHIBIT_ARCHIVE", cwd.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Bundles in the first format, as exhibit wrote them before (with verify.py and raw keys),
/// keep verifying, and tampering with them is still caught.
#[test]
fn version_1_bundles_still_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundle-v1");
    let bundle = dir.join("bundle.zip");
    let key = dir.join("signing.key.pub");
    let key = key.to_str().unwrap();
    let (code, out) = verify_elsewhere(&bundle, &["--trusted-key", key]);
    assert_eq!(code, 0, "{out}");
    let (code, json) = verify_elsewhere(&bundle, &["--trusted-key", key, "--json"]);
    assert_eq!(code, 0);
    assert!(json.contains("\"format\":\"exhibit-bundle/1\""), "{json}");
    assert_eq!(verify_elsewhere(&bundle, &[]).0, 9);
    let tmp = tempfile::tempdir().unwrap();
    for member in ["exhibit-bundle.json", "verify.py", "CITATION.txt"] {
        let forged = tmp.path().join("forged.zip");
        python(
            REWRITE,
            &[
                bundle.to_str().unwrap(),
                forged.to_str().unwrap(),
                member,
                "200",
            ],
        );
        let (code, out) = verify_elsewhere(&forged, &["--trusted-key", key]);
        assert_eq!(code, 1, "{member}: {out}");
    }
}

/// Bundles in the second format, as exhibit wrote them before key records travelled in
/// bundles (no keylog/, the procedure of FORMAT.md 13.12 as VERIFY.txt), keep verifying with
/// exhibit and with the published verifier; tampering with them is still caught.
#[test]
fn version_2_bundles_still_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundle-v2");
    let bundle = dir.join("bundle.zip");
    let key = dir.join("signing.key.pub");
    let key = key.to_str().unwrap();
    let (code, out) = verify_elsewhere(&bundle, &["--trusted-key", key]);
    assert_eq!(code, 0, "{out}");
    let (code, json) = verify_elsewhere(&bundle, &["--trusted-key", key, "--json"]);
    assert_eq!(code, 0);
    assert!(json.contains("\"format\":\"exhibit-bundle/2\""), "{json}");
    let published = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify-bundle.py");
    let py = std::process::Command::new("python3")
        .arg(&published)
        .arg(&bundle)
        .arg(key)
        .output()
        .unwrap();
    assert!(py.status.success(), "{py:?}");
    let tmp = tempfile::tempdir().unwrap();
    for member in ["exhibit-bundle.json", "VERIFY.txt", "checkpoint.txt"] {
        let forged = tmp.path().join("forged.zip");
        python(
            REWRITE,
            &[
                bundle.to_str().unwrap(),
                forged.to_str().unwrap(),
                member,
                "20",
            ],
        );
        let (code, out) = verify_elsewhere(&forged, &["--trusted-key", key]);
        assert_eq!(code, 1, "{member}: {out}");
        let py = std::process::Command::new("python3")
            .arg(&published)
            .arg(&forged)
            .arg(key)
            .output()
            .unwrap();
        assert_eq!(py.status.code(), Some(1), "{member}: {py:?}");
    }
}

/// Rewrite member `name` of the zip at `src` with one byte flipped at `pos`, as a careful forger
/// would (valid zip, correct CRC), into `dst`.
const REWRITE: &str = r#"
import sys, zipfile
src, dst, name, pos = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
zin = zipfile.ZipFile(src)
with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
    for info in zin.infolist():
        data = bytearray(zin.read(info))
        if info.filename == name and data:
            data[min(pos, len(data) - 1)] ^= 1
        zout.writestr(info, bytes(data))
"#;

#[test]
fn any_altered_member_fails_verification() {
    let (env, ids) = archive_with_records();
    let bundle = export(&env, &ids, "bundle.zip");
    let names = python(
        "import zipfile,sys; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        &[bundle.to_str().unwrap()],
    );
    let sizes = python(
        "import zipfile,sys; print('\\n'.join(str(i.file_size) for i in zipfile.ZipFile(sys.argv[1]).infolist()))",
        &[bundle.to_str().unwrap()],
    );
    let mut tried = 0;
    for (name, size) in names.lines().zip(sizes.lines()) {
        let size: usize = size.parse().unwrap();
        for pos in [0, size / 2, size.saturating_sub(1)] {
            let forged = env.dir.path().join("forged.zip");
            python(
                REWRITE,
                &[
                    bundle.to_str().unwrap(),
                    forged.to_str().unwrap(),
                    name,
                    &pos.to_string(),
                ],
            );
            let (code, out) = verify_elsewhere(&forged, &[]);
            assert_eq!(code, 1, "altered byte {pos} of {name} passed:\n{out}");
            tried += 1;
        }
    }
    assert!(tried >= 3 * 15, "{tried}");
    // A flipped byte in the zip file itself (CRC no longer matches) fails too.
    let mut raw = std::fs::read(&bundle).unwrap();
    let at = raw.windows(10).position(|w| w == b"Be nice.</").unwrap();
    raw[at] ^= 1;
    let flipped = env.dir.path().join("flipped.zip");
    std::fs::write(&flipped, raw).unwrap();
    let (code, out) = verify_elsewhere(&flipped, &[]);
    assert_eq!(code, 1, "{out}");
}

const HOSTILE: &str = r#"
import sys, zipfile, struct, zlib
kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
zin = zipfile.ZipFile(src)
members = [(i, zin.read(i)) for i in zin.infolist()]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
    for info, data in members:
        z.writestr(info, data)
    if kind == "slip":
        z.writestr("../../evil.txt", b"owned")
    elif kind == "absolute":
        z.writestr("/tmp/evil.txt", b"owned")
    elif kind == "duplicate":
        import warnings; warnings.simplefilter("ignore")
        z.writestr(members[0][0].filename, b"second copy")
    elif kind == "bomb":
        z.writestr(zipfile.ZipInfo("records/bomb/proof.json"), b"\0" * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
    elif kind == "huge":
        z.writestr(zipfile.ZipInfo("exhibit-extra.json"), b"\0" * (65 << 20), compress_type=zipfile.ZIP_DEFLATED)
if kind == "bomb":
    # Make the bomb lie: declare 100 bytes in both headers.
    raw = bytearray(open(dst, "rb").read())
    name = b"records/bomb/proof.json"
    i = 0
    while True:
        i = raw.find(name, i)
        if i < 0: break
        if raw[i - 30:i - 26] == b"PK\x03\x04":
            struct.pack_into("<I", raw, i - 30 + 22, 100)
        elif raw[i - 46:i - 42] == b"PK\x01\x02":
            struct.pack_into("<I", raw, i - 46 + 24, 100)
        i += 1
    open(dst, "wb").write(raw)
if kind == "truncated":
    raw = open(src, "rb").read()
    open(dst, "wb").write(raw[: len(raw) * 2 // 3])
"#;

#[test]
fn hostile_bundles_get_a_clear_error_and_write_nothing() {
    let (env, ids) = archive_with_records();
    let bundle = export(&env, &ids, "bundle.zip");
    for (kind, needle) in [
        ("slip", "unsafe member name"),
        ("absolute", "unsafe member name"),
        ("duplicate", "appears twice"),
        ("bomb", "declared"),
        ("huge", "more than the limit"),
        ("truncated", "truncated"),
    ] {
        let bad = env.dir.path().join(format!("{kind}.zip"));
        python(
            HOSTILE,
            &[kind, bundle.to_str().unwrap(), bad.to_str().unwrap()],
        );
        let (code, out) = verify_elsewhere(&bad, &[]);
        assert_eq!(code, 1, "{kind}: {out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{kind}: no error line: {out}"));
        assert!(
            line.contains(needle) && line.contains("(hint: "),
            "{kind}: {line}"
        );
    }
    assert!(!Path::new("/tmp/evil.txt").exists());
}

#[test]
fn verify_file_says_whether_a_file_is_the_cited_one() {
    let (env, _) = archive_with_records();
    let f = env.dir.path().join("terms.html");
    let sha = common::sha256_hex(&std::fs::read(&f).unwrap());
    let out = env.ok(&["verify", "--file", f.to_str().unwrap(), &sha[..16]]);
    assert!(out.contains("matches") && out.contains("EX-"), "{out}");
    let other = env.dir.path().join("notes.txt");
    let r = env.fails(&["verify", "--file", other.to_str().unwrap(), &sha], 1);
    assert!(r.stdout.contains("does NOT match"), "{}", r.stdout);
}

/// A bundle unzipped and zipped again by a person (with directory entries, deflated, another
/// member order) still verifies: the checks are on member contents, not on how the zip was made.
#[test]
fn a_rezipped_bundle_still_verifies() {
    let (env, ids) = archive_with_records();
    let bundle = export(&env, &ids, "bundle.zip");
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
        &[bundle.to_str().unwrap(), rezipped.to_str().unwrap()],
    );
    let public = format!("{}.pub", env.key.display());
    let (code, out) = verify_elsewhere(&rezipped, &["--trusted-key", &public]);
    assert_eq!(code, 0, "{out}");
}
