//! The library's layers (docs/ARCHITECTURE.md): every `crate::` path in a layer's non-test code
//! must lead to the same layer or one below it, so no arrow runs up a floor and no two layers
//! import each other. This is the crate's import-cycle check, run with every `cargo test`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first.
const LAYERS: [&str; 12] = [
    "error", "terminal", "core", "log", "trust", "archive", "text", "capture", "verify", "formats",
    "ops", "serve",
];

/// The flat paths lib.rs still re-exports, and the layer each belongs to.
const ALIASES: [(&str, &str); 15] = [
    ("store", "archive"),
    ("manifest", "core"),
    ("keys", "core"),
    ("note", "core"),
    ("record_id", "core"),
    ("b64", "core"),
    ("fsutil", "core"),
    ("netpolicy", "capture"),
    ("bundle", "formats"),
    ("cite", "formats"),
    ("zipread", "formats"),
    ("history", "ops"),
    ("diff", "text"),
    ("audit", "verify"),
    ("Error", "error"),
];

fn layer_of(name: &str) -> Option<usize> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, l)| l);
    LAYERS.iter().position(|l| *l == name)
}

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            rust_files(&e.path(), out);
        }
    } else if p.is_file() && p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The code of a file without its test module (tests may reach anywhere).
fn non_test_code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

#[test]
fn no_layer_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = BTreeSet::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(layer);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            rust_files(&src.join(format!("{layer}.rs")), &mut files);
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = non_test_code(&text);
            for (pos, _) in code.match_indices("crate::") {
                let rest = &code[pos + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match layer_of(&name) {
                    Some(j) if j > i => {
                        violations.insert(format!(
                            "{}: {layer} imports {name} ({}), a layer above it",
                            f.strip_prefix(&src).unwrap().display(),
                            LAYERS[j]
                        ));
                    }
                    Some(_) => {}
                    None => {
                        violations.insert(format!(
                            "{}: crate::{name} is not a known layer (add it to tests/layers.rs)",
                            f.strip_prefix(&src).unwrap().display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that run up a floor:\n{}",
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_module_of_lib_rs_is_a_known_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            assert!(layer_of(m).is_some(), "lib.rs declares {m}, not in LAYERS");
        }
    }
}

/// The pure layers (docs/ARCHITECTURE.md) touch no file: the tree and proofs (`log/`), the
/// trust rules (`trust/`), the text rules (`text/`) and the record formats (`core/`) take bytes
/// and give verdicts. The three files allowed to reach the file system are named here, with why.
#[test]
fn pure_layers_do_no_file_io() {
    const ALLOWED: [(&str, &str); 3] = [
        (
            "src/core/fsutil.rs",
            "the durable-write and positioned-read helpers themselves",
        ),
        (
            "src/core/interrupt.rs",
            "removes the scratch files registered with it when the process is interrupted",
        ),
        (
            "src/core/keys.rs",
            "signing-key files, written 0600 and read by path",
        ),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for layer in ["core", "log", "trust", "text"] {
        rust_files(&root.join("src").join(layer), &mut files);
    }
    let mut offenders = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|(a, _)| *a == rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = non_test_code(&text);
        for needle in ["std::fs", "File::", "OpenOptions", "read_dir("] {
            if code.contains(needle) {
                offenders.push(format!("{rel}: {needle}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "file I/O in a pure layer: {offenders:?}"
    );
}
