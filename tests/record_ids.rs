//! Record IDs as people type and paste them, through the real binary: a valid record ID is
//! always that record (never a hash prefix that names another), IDs without hyphens and IDs
//! pasted from a word processor are accepted by every command that takes an ID, and a mistyped
//! ID is rejected, never resolved to another record.

mod common;

use common::{assert_one_line_error, Env};
use exhibit::record_id::RecordId;

/// Import `body` as a document; returns (record ID, SHA-256).
fn import(env: &Env, name: &str, body: &[u8], url: &str) -> (String, String) {
    let f = env.dir.path().join(name);
    std::fs::write(&f, body).unwrap();
    let out = env.ok(&["import", "--json", f.to_str().unwrap(), "--url", url]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["record_id"].as_str().unwrap().to_string(),
        v["sha256"].as_str().unwrap().to_string(),
    )
}

/// A document whose SHA-256 starts with 12 hex digits that are themselves a valid record ID:
/// the input "0be9e4add991"-style that is both a record ID and a hash prefix.
fn document_whose_hash_prefix_is_an_id() -> (Vec<u8>, String) {
    (0u64..)
        .map(|i| format!("<p>document {i}</p>").into_bytes())
        .find_map(|body| {
            let sha = common::sha256_hex(&body);
            sha[..12].parse::<RecordId>().ok().map(|_| (body, sha))
        })
        .unwrap()
}

/// The reproduction: an all-hex record ID typed without hyphens resolved, through a hash
/// prefix, to a different record. A valid ID is now always a record ID; `sha256:` asks for the
/// prefix explicitly.
#[test]
fn a_valid_record_id_never_resolves_to_another_record_through_a_hash_prefix() {
    let env = Env::new();
    let (body, sha) = document_whose_hash_prefix_is_an_id();
    let (id, _) = import(&env, "doc.html", &body, "https://example.org/doc");
    let typed = &sha[..12];
    let as_id = typed.parse::<RecordId>().unwrap().to_string();
    assert_ne!(as_id, id);
    for cmd in ["verify", "show", "cite", "cat", "prove", "history"] {
        let r = env.fails(&[cmd, typed], 3);
        assert!(
            !r.stdout.contains(&id),
            "{cmd}: resolved to {id}: {}",
            r.stdout
        );
        assert_one_line_error(&r.stderr, &format!("no record {as_id}"));
        assert!(
            r.stderr.contains(&format!("sha256:{typed}")),
            "{cmd}: {}",
            r.stderr
        );
    }
    // Asked for as a hash prefix, it is one.
    let out = env.ok(&["verify", &format!("sha256:{typed}")]);
    assert!(out.contains(&id), "{out}");
    assert_eq!(
        env.command(&["cat", &format!("sha256:{typed}")])
            .output()
            .unwrap()
            .stdout,
        body
    );
}

/// IDs are case-insensitive and hyphens are optional (README), also when the ID has letters:
/// every command that takes a record ID takes every such spelling.
#[test]
fn ids_without_hyphens_or_pasted_from_a_word_processor_work_everywhere() {
    let env = Env::new();
    let (id, sha) = import(
        &env,
        "a.html",
        b"<p>first version</p>",
        "https://example.org/p",
    );
    let (id2, _) = import(
        &env,
        "b.html",
        b"<p>second version</p>",
        "https://example.org/p",
    );
    let compact = id.replace('-', "");
    let bare = compact.strip_prefix("EX").unwrap().to_lowercase();
    let spellings = [
        compact.clone(),
        bare.clone(),
        // From Word: curly quotes, en dashes, the period that ends the sentence.
        format!("\u{201C}{}.\u{201D}", id.replace('-', "\u{2013}")),
        format!("{}.", id.replace('-', "\u{2014}")),
        id.replace('-', "\u{00A0}"),
        format!("({})", id.replace('-', "\u{2011}")),
        format!(" '{}', ", id.to_lowercase()),
    ];
    for s in &spellings {
        let out = env.ok(&["verify", s]);
        assert!(out.contains(&format!("{id} verified")), "{s:?}: {out}");
        assert!(
            env.ok(&["show", s])
                .contains(&format!("Record ID:    {id}")),
            "{s:?}"
        );
        assert!(
            env.ok(&["cite", s]).contains(&format!("Record ID: {id}")),
            "{s:?}"
        );
        assert_eq!(
            env.command(&["cat", s]).output().unwrap().stdout,
            b"<p>first version</p>",
            "{s:?}"
        );
        assert!(
            env.ok(&["prove", s])
                .contains(&format!("record {id} is leaf")),
            "{s:?}"
        );
        assert!(
            env.ok(&["history", s]).contains("https://example.org/p"),
            "{s:?}"
        );
        let diff = env.ok(&["diff", s, &id2]);
        assert!(diff.starts_with(&format!("--- {id} ")), "{s:?}: {diff}");
        let file = env.dir.path().join("a.html");
        let out = env.ok(&["verify", "--file", file.to_str().unwrap(), s]);
        assert!(out.contains("matches the cited SHA-256"), "{s:?}: {out}");
        let zip = env.dir.path().join("x.zip");
        env.ok(&["export", s, "--out", zip.to_str().unwrap()]);
    }
    // A hash pasted the same way is a hash.
    let out = env.ok(&[
        "verify",
        &format!("\u{201C}{}\u{2026}\u{201D}.", &sha[..16]),
    ]);
    assert!(out.contains(&format!("{id} verified")), "{out}");
}

/// One wrong symbol is rejected as mistyped in every spelling, pasted or compact, never looked
/// up as anything else; twelve hex digits whose check symbol fails are not read as a hash
/// prefix either, even when a document's hash starts with them.
#[test]
fn a_mistyped_id_is_rejected_in_every_spelling() {
    let env = Env::new();
    let (id, _) = import(&env, "a.html", b"<p>text</p>", "https://example.org/a");
    let mut symbols: Vec<char> = id.chars().collect();
    let pos = 8;
    symbols[pos] = if symbols[pos] == '7' { '8' } else { '7' };
    let typo: String = symbols.into_iter().collect();
    for s in [
        typo.clone(),
        typo.replace('-', ""),
        typo.replace('-', "")
            .strip_prefix("EX")
            .unwrap()
            .to_string(),
        format!("\u{201C}{}.\u{201D}", typo.replace('-', "\u{2013}")),
    ] {
        for cmd in ["verify", "show", "cite", "cat", "history"] {
            let r = env.fails(&[cmd, &s], 2);
            assert_one_line_error(&r.stderr, "mistyped");
            assert!(r.stdout.is_empty(), "{cmd} {s:?}: {}", r.stdout);
        }
    }

    // A document whose hash starts with 12 hex digits that fail the ID check.
    let (body, sha) = (0u64..)
        .map(|i| format!("<p>other {i}</p>").into_bytes())
        .map(|b| {
            let sha = common::sha256_hex(&b);
            (b, sha)
        })
        .find(|(_, sha)| sha[..12].parse::<RecordId>().is_err())
        .unwrap();
    let (other, _) = import(&env, "o.html", &body, "https://example.org/o");
    let r = env.fails(&["verify", &sha[..12]], 2);
    assert_one_line_error(&r.stderr, "mistyped");
    assert!(
        r.stderr.contains(&format!("sha256:{}", &sha[..12])),
        "{}",
        r.stderr
    );
    assert!(env
        .ok(&["verify", &format!("sha256:{}", &sha[..12])])
        .contains(&other));
    // More digits than an ID has are a prefix as before.
    assert!(env.ok(&["verify", &sha[..13]]).contains(&other));
}
