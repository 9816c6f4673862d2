//! The packed layout (exhibit-archive/2, `init --layout packed`), through the real binary
//! against a loopback server: one pack per commit, a record found from its ID, small documents
//! in the pack and large ones as blob files of their own, every record verifiable with the
//! standard tools from the pack's footer, and a changed byte of a pack caught.

mod common;

use common::server::{Route, TestServer};
use common::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn packed_env() -> Env {
    let env = Env::bare();
    env.ok(&["init", "--layout", "packed"]);
    env
}

fn packs(archive: &Path) -> Vec<PathBuf> {
    common::files_under(&archive.join("packs"))
}

/// Bytes zstd cannot shrink, so their blob stays a file of its own (over 64 KiB stored).
fn incompressible(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn pages(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("/page/{i}"),
                format!("<html><title>Page {i}</title><p>Text of page {i}.</p></html>")
                    .into_bytes(),
            )
        })
        .collect()
}

fn serve(pages: &[(String, Vec<u8>)], big: &[u8]) -> TestServer {
    let mut routes: Vec<(&str, Route)> = pages
        .iter()
        .map(|(p, b)| (p.as_str(), Route::html(b.clone())))
        .collect();
    routes.push(("/big.bin", Route::text(big.to_vec())));
    TestServer::start(routes)
}

#[test]
fn a_packed_archive_stores_a_commit_group_in_one_pack_and_every_record_verifies() {
    let env = packed_env();
    let pages = pages(20);
    let big = incompressible(200 * 1024);
    let server = serve(&pages, &big);
    let config = std::fs::read_to_string(env.archive.join("exhibit.json")).unwrap();
    assert!(config.contains("exhibit-archive/2"), "{config}");
    assert!(!env.archive.join("records").exists());

    // One batch: twenty pages, committed in groups, each group one pack.
    let urls: Vec<String> = pages.iter().map(|(p, _)| server.url(p)).collect();
    let child = env.spawn_capture("urls.txt", &urls);
    let ids = common::printed_ids(child);
    assert_eq!(ids.len(), 20);
    let big_record = env.capture(&server.url("/big.bin"), &[]);
    let big_id = big_record["record_id"].as_str().unwrap().to_string();

    let packs_now = packs(&env.archive);
    // The founding key record, the batch (in as many groups as capture made) and the large
    // capture: far fewer files than records, and no record files at all.
    assert!(packs_now.len() < 12, "{} packs", packs_now.len());
    let loose: Vec<PathBuf> = common::files_under(&env.archive.join("documents"));
    assert_eq!(
        loose.len(),
        1,
        "only the large document is a file: {loose:?}"
    );
    assert!(loose[0]
        .to_string_lossy()
        .contains(&common::sha256_hex(&big)));

    // Captures finish in any order; every page comes back exactly once.
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        env.ok(&["verify", id]);
        let cat = env.command(&["cat", id]).output().unwrap();
        assert!(cat.status.success());
        assert!(pages.iter().any(|(_, b)| *b == cat.stdout), "{id}");
        assert!(seen.insert(cat.stdout), "{id} repeats a page");
    }
    env.ok(&["verify", &big_id]);
    let cat = env.command(&["cat", &big_id]).output().unwrap();
    assert_eq!(cat.stdout, big);
    let shown = env.ok(&["show", &ids[3]]);
    assert!(shown.contains("/page/"), "{shown}");
}

/// FORMAT's by-hand procedure for a packed record: find the record's lines in its pack's
/// footer, cut out the manifest and the signature with `tail -c` and `head -c`, check the
/// signature with `openssl pkeyutl`, and the document with `zstd -dc | sha256sum`.
#[test]
fn a_packed_record_verifies_with_tail_head_openssl_and_zstd() {
    let env = packed_env();
    let pages = pages(3);
    let server = serve(&pages, b"");
    let rec = env.capture(&server.url("/page/1"), &[]);
    let id = rec["record_id"].as_str().unwrap();
    let sha = common::sha256_hex(&pages[1].1);
    let key = std::fs::read_dir(env.archive.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let script = r#"
set -eu
A=$1 ID=$2 SHA=$3 KEY=$4 W=$5
# The record's log index is in its manifest; here we find its pack the way a reader without
# exhibit would: the leaf line that names the record, and the place line of the same number.
N=$(grep -n "^$ID " "$A/log/leaves" | cut -d: -f1)
PACK=$(sed -n "${N}p" "$A/log/places")
P=$A/packs/$(printf %s "$PACK" | cut -c1-2)/$PACK.pack
[ "$(sha256sum < "$P" | cut -d' ' -f1)" = "$PACK" ]
T=$(tail -c 43 "$P")
COUNT=$(printf %s "$T" | cut -d' ' -f2) F=$(printf %s "$T" | cut -d' ' -f3)
COUNT=$((10#$COUNT)) F=$((10#$F))
tail -c +$((F + 1)) "$P" | head -c $((COUNT * 93)) > "$W/footer"
entry() { # kind key -> "offset length"
    grep "^$1 $2 " "$W/footer" | awk '{ print $3 + 0, $4 + 0 }'
}
read -r O L <<EOF
$(entry m "$ID")
EOF
tail -c +$((O + 1)) "$P" | head -c "$L" > "$W/manifest.json"
read -r O L <<EOF
$(entry s "$ID")
EOF
tail -c +$((O + 1)) "$P" | head -c "$L" > "$W/manifest.sig"
openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in "$W/manifest.json" -sigfile "$W/manifest.sig"
grep -q "\"sha256\":\"$SHA\"" "$W/manifest.json"
read -r O L <<EOF
$(entry d "$SHA")
EOF
[ "$(tail -c +$((O + 1)) "$P" | head -c "$L" | zstd -dc | sha256sum | cut -d' ' -f1)" = "$SHA" ]
echo ALL CHECKS PASSED
"#;
    let work = tempfile::tempdir().unwrap();
    let run = |archive: &Path| {
        Command::new("bash")
            .args(["-c", script, "check"])
            .arg(archive)
            .args([id, &sha])
            .arg(&key)
            .arg(work.path())
            .output()
            .unwrap()
    };
    let out = run(&env.archive);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL CHECKS PASSED"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The same steps on a pack with one byte of the manifest changed: the pack's name no
    // longer matches, and without that check the signature fails.
    let forged = tempfile::tempdir().unwrap();
    common::copy_dir(&env.archive, forged.path());
    let manifest = std::fs::read(work.path().join("manifest.json")).unwrap();
    let pack = packs(forged.path())
        .into_iter()
        .find(|p| {
            let b = std::fs::read(p).unwrap();
            b.windows(manifest.len()).any(|w| w == manifest)
        })
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes
        .windows(manifest.len())
        .position(|w| w == manifest)
        .unwrap()
        + manifest.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&pack, &bytes).unwrap();
    let out = run(forged.path());
    assert!(!out.status.success());
    let r = Env {
        dir: tempfile::tempdir().unwrap(),
        archive: forged.path().to_path_buf(),
        key: env.key.clone(),
    }
    .run(&["verify", id]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
}
