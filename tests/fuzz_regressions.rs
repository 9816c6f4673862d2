//! Every input under fuzz/corpus/<target>/ and fuzz/regressions/<target>/ re-checked in the
//! ordinary test run, through the very checks the fuzz targets run (fuzz/src/lib.rs, included
//! here by path), without libFuzzer or nightly. A crash the fuzzer once found stays fixed because
//! its input sits in fuzz/regressions/ and runs here on every `cargo test`.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Input files of one target under `fuzz/<kind>/<target>/`, sorted; hidden files (libFuzzer's
/// scratch files) are skipped.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("list a fuzz input directory").path())
        .filter(|p| p.is_file())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(64).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 64 {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

fn check_target(target: &str) {
    let check = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, f)| f)
        .expect("a known target");
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ has no inputs: the seeds are part of the repository"
    );
    let mut failed = Vec::new();
    for path in corpus.into_iter().chain(inputs("regressions", target)) {
        let data = std::fs::read(&path).expect("read a fuzz input");
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(format!("{} = {}", path.display(), hex_prefix(&data)));
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} input(s) failed the fuzz checks (panics above):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn manifest_inputs() {
    check_target("manifest");
}

#[test]
fn record_id_inputs() {
    check_target("record_id");
}

#[test]
fn note_inputs() {
    check_target("note");
}

#[test]
fn leaf_line_inputs() {
    check_target("leaf_line");
}

#[test]
fn proofs_inputs() {
    check_target("proofs");
}

#[test]
fn blob_inputs() {
    check_target("blob");
}

#[test]
fn citation_inputs() {
    check_target("citation");
}

#[test]
fn html_title_inputs() {
    check_target("html_title");
}

#[test]
fn html_text_inputs() {
    check_target("html_text");
}

#[test]
fn zip_inputs() {
    check_target("zip");
}

#[test]
fn cdp_message_inputs() {
    check_target("cdp_message");
}

#[test]
fn key_statement_inputs() {
    check_target("key_statement");
}

#[test]
fn warc_inputs() {
    check_target("warc");
}

#[test]
fn body_decode_inputs() {
    check_target("body_decode");
}

/// Each directory of inputs belongs to a target this test runs, and each target has a binary
/// in fuzz/Cargo.toml, so a new target cannot be left out of either.
#[test]
fn every_target_is_wired() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (name, _) in checks::TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "fuzz/Cargo.toml has no binary for {name}"
        );
        assert!(
            fuzz_dir().join(format!("fuzz_targets/{name}.rs")).is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
    for kind in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz_dir().join(kind)).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_dir() {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                checks::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name}/ belongs to no target that tests/fuzz_regressions.rs checks"
            );
        }
    }
}

#[test]
fn serve_request_inputs() {
    check_target("serve_request");
}

#[test]
fn object_name_inputs() {
    check_target("object_name");
}

#[test]
fn pack_inputs() {
    check_target("pack");
}

#[test]
fn segment_inputs() {
    check_target("segment");
}
