//! `exhibit cite` through the real binary: the Citation Record block and its one-line legal
//! citation, BibTeX checked by a BibTeX parser that is not ours (Python's `bibtexparser`),
//! CSL-JSON validated against the official CSL-JSON schema (tests/fixtures/csl-data.json, see
//! csl-data.SOURCE) with Python's `jsonschema`, and the HTML certificate. Titles, labels and
//! URLs come from hostile pages in several tests: no output format may let them break out.
//!
//! A missing outside tool fails the test with what to install; it never skips. `.ci/test`
//! installs them.

mod common;

use common::server::{Route, TestServer};
use common::{sha256_hex, Env};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CAPTURED_AT: &str = "2026-05-21T05:07:28Z";

/// The title a hostile page announces: it tries to close the BibTeX field and open an entry of
/// its own, to inject HTML, and uses every BibTeX special character.
const HOSTILE_TITLE: &str =
    r"Evil } @misc{x, title={pwned <img src=x onerror=alert(1)> 100% & $5 #1 a_b ^ ~ \end";
/// The same title as the page's HTML source writes it.
const HOSTILE_PAGE: &str = r"<!doctype html><html><head><title>Evil } @misc{x, title={pwned &lt;img src=x onerror=alert(1)&gt; 100% &amp; $5 #1 a_b ^ ~ \end</title></head><body>gotcha</body></html>";
/// A URL with `%`, `_` and `#`, all of which mean something to LaTeX.
const TRICKY_URL: &str = "https://example.org/a_b/100%25_off?q=x_y&r=1#sec_2";

/// An imported record: (record ID, document SHA-256).
fn import(env: &Env, name: &str, body: &[u8], url: &str, extra: &[&str]) -> (String, String) {
    let file = env.dir.path().join(name);
    std::fs::write(&file, body).unwrap();
    let mut args = vec![
        "import",
        file.to_str().unwrap(),
        "--url",
        url,
        "--captured-at",
        CAPTURED_AT,
        "--content-type",
        "text/html; charset=utf-8",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = env.ok(&args);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let id = v["record_id"].as_str().unwrap().to_string();
    let sha = v["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, sha256_hex(body));
    (id, sha)
}

fn privacy_notice(env: &Env) -> (String, String) {
    import(
        env,
        "privacy.html",
        b"<html><head><title>Privacy</title></head><body>We care.</body></html>",
        "https://example.org/privacy",
        &["--entity", "Example Inc.", "--document", "Privacy Notice"],
    )
}

fn cite(env: &Env, id: &str, format: &str) -> String {
    env.ok(&["cite", id, "--format", format])
}

// ---------------------------------------------------------------------------------------------
// Outside tools

fn python_has(module_check: &str) -> bool {
    Command::new("python3")
        .args(["-c", module_check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require_python(module_check: &str, install: &str) {
    assert!(
        python_has(module_check),
        "this test needs python3 with {install} (python3 -m pip install {install}; \
         bash .ci/test installs it)"
    );
}

/// Run a Python script with `input` on stdin: (success, stdout, stderr).
fn python(script: &str, args: &[&Path], input: &str) -> (bool, String, String) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// text, oneline, markdown, json

#[test]
fn text_is_a_citation_record_block_ending_with_a_one_line_citation() {
    let env = Env::new();
    let (id, sha) = privacy_notice(&env);
    let out = cite(&env, &id, "text");
    let lines: Vec<&str> = out.lines().collect();
    // The seeds' "Citation Record" shape, in the seeds' order.
    assert_eq!(
        &lines[..7],
        &[
            "Citation Record",
            "Entity: Example Inc.",
            "Document: Privacy Notice",
            &format!("Record ID: {id}"),
            "Captured: 2026-05-21 05:07:28 UTC",
            &format!("SHA-256: {sha}"),
            "URL: https://example.org/privacy",
        ][..],
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("Verify: exhibit verify {id}"))),
        "{out}"
    );
    let oneline = format!(
        "Example Inc., \"Privacy Notice\" (captured May 21, 2026, 05:07:28 UTC; imported copy), \
         https://example.org/privacy, archived at exhibit record {id}, SHA-256 {sha}."
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("Cite as: {oneline}"),
        "{out}"
    );

    // The one-liner alone, and in the JSON and Markdown forms.
    assert_eq!(cite(&env, &id, "oneline"), format!("{oneline}\n"));
    let json: Value = serde_json::from_str(&cite(&env, &id, "json")).unwrap();
    assert_eq!(json["oneline"], oneline.as_str());
    for (k, v) in [
        ("entity", "Example Inc."),
        ("document", "Privacy Notice"),
        ("record_id", id.as_str()),
        ("captured", "2026-05-21 05:07:28 UTC"),
        ("captured_at", CAPTURED_AT),
        ("sha256", sha.as_str()),
        ("url", "https://example.org/privacy"),
        ("final_url", "https://example.org/privacy"),
        ("method", "import"),
    ] {
        assert_eq!(json[k], v, "json field {k}: {json:#}");
    }
    assert!(json["signer"].as_str().is_some_and(|s| s.len() == 16));
    assert!(json["verify"].as_str().unwrap().contains(&sha));
    let md = cite(&env, &id, "markdown");
    assert!(md.starts_with("**Citation Record**\n\n"), "{md}");
    assert!(md.contains(&format!("- **Record ID:** {id}\n")), "{md}");
    assert!(
        md.contains("- **Cite as:** Example Inc., \"Privacy Notice\""),
        "{md}"
    );
    assert!(md.contains(&sha), "{md}");

    // The record can be named by its document's hash too.
    assert_eq!(cite(&env, &sha[..16], "oneline"), format!("{oneline}\n"));
}

#[test]
fn the_page_title_names_the_document_when_there_is_no_label() {
    let env = Env::new();
    let (id, sha) = import(
        &env,
        "terms.html",
        b"<html><head><title>Terms &amp; Conditions</title></head></html>",
        "https://example.org/terms",
        &[],
    );
    let text = cite(&env, &id, "text");
    assert!(text.contains("\nDocument: Terms & Conditions\n"), "{text}");
    assert!(!text.contains("Entity:"), "{text}");
    assert_eq!(
        cite(&env, &id, "oneline"),
        format!(
            "\"Terms & Conditions\" (captured May 21, 2026, 05:07:28 UTC; imported copy), \
             https://example.org/terms, archived at exhibit record {id}, SHA-256 {sha}.\n"
        )
    );
    // Neither label nor title: the citation leads with the URL and does not repeat it.
    let (id, sha) = import(
        &env,
        "blob.bin",
        b"\x00\x01 not html",
        "https://example.org/blob",
        &[],
    );
    assert_eq!(
        cite(&env, &id, "oneline"),
        format!(
            "https://example.org/blob (captured May 21, 2026, 05:07:28 UTC; imported copy), \
             archived at exhibit record {id}, SHA-256 {sha}.\n"
        )
    );
}

#[test]
fn text_and_markdown_stay_intact_for_hostile_labels() {
    let env = Env::new();
    let (id, _) = import(
        &env,
        "evil.html",
        HOSTILE_PAGE.as_bytes(),
        TRICKY_URL,
        &[
            "--entity",
            "Evil\nSigned by: someone else [x](javascript:alert(1))",
        ],
    );
    let text = cite(&env, &id, "text");
    // A newline in a label cannot forge a line of the block.
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Signed by:")).count(),
        1,
        "{text}"
    );
    assert!(
        text.contains(&format!("Document: {HOSTILE_TITLE}\n")),
        "{text}"
    );
    let md = cite(&env, &id, "markdown");
    assert!(
        !md.contains("[x](javascript"),
        "markdown link injected: {md}"
    );
    assert!(md.contains("\\<img"), "{md}");
    assert!(
        !md.replace("\\<", "").contains("<img"),
        "raw HTML in markdown: {md}"
    );
    assert!(md.contains(&format!("- **URL:** <{TRICKY_URL}>\n")), "{md}");
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("- **Signed by:**"))
            .count(),
        1
    );
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let env = Env::new();
    let (id, _) = privacy_notice(&env);
    let r = env.fails(&["cite", &id, "--format", "ris"], 2);
    assert!(r.stderr.contains("csl-json"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// BibTeX

/// Parse BibTeX with Python's bibtexparser (2.x) and return what it saw.
fn bibtexparser(bib: &str) -> Value {
    require_python(
        "import bibtexparser; bibtexparser.parse_string",
        "bibtexparser",
    );
    const SCRIPT: &str = r#"
import json, sys, bibtexparser
lib = bibtexparser.parse_string(sys.stdin.read())
print(json.dumps({
    "blocks": len(lib.blocks),
    "failed": [type(b).__name__ + ": " + str(getattr(b, "error", "")) for b in lib.failed_blocks],
    "entries": [
        {"key": e.key, "type": e.entry_type, "fields": {f.key: f.value for f in e.fields}}
        for e in lib.entries
    ],
}))
"#;
    let (ok, out, err) = python(SCRIPT, &[], bib);
    assert!(ok, "bibtexparser failed: {err}\ninput:\n{bib}");
    serde_json::from_str(&out).unwrap()
}

/// The LaTeX our BibTeX writes for special characters, read back by the meaning LaTeX gives it.
fn unlatex(s: &str) -> String {
    const ESCAPES: [(&str, char); 13] = [
        ("\\textbraceleft{}", '{'),
        ("\\textbraceright{}", '}'),
        ("\\textbackslash{}", '\\'),
        ("\\textasciicircum{}", '^'),
        ("\\textasciitilde{}", '~'),
        ("\\textless{}", '<'),
        ("\\textgreater{}", '>'),
        ("\\textbar{}", '|'),
        ("\\%", '%'),
        ("\\&", '&'),
        ("\\$", '$'),
        ("\\#", '#'),
        ("\\_", '_'),
    ];
    let mut out = String::new();
    let mut rest = s;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '\\' {
            for (esc, ch) in ESCAPES {
                if let Some(r) = rest.strip_prefix(esc) {
                    out.push(ch);
                    rest = r;
                    continue 'outer;
                }
            }
            panic!("unexpected LaTeX at {rest:?} in {s:?}");
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `{…}` around a value, the brace protection of titles and corporate authors.
fn unprotect(v: &Value) -> &str {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    s.strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not brace-protected: {s:?}"))
}

#[test]
fn bibtex_parses_with_bibtexparser_even_for_hostile_titles_and_urls() {
    let env = Env::new();
    let (plain_id, plain_sha) = privacy_notice(&env);
    // The hostile title comes from the page itself (no --document label), as a capture would
    // take it; the entity label is hostile too.
    let (evil_id, evil_sha) = import(
        &env,
        "evil.html",
        HOSTILE_PAGE.as_bytes(),
        TRICKY_URL,
        &["--entity", "Evil & Co } 50% {"],
    );
    let evil_json: Value = serde_json::from_str(&cite(&env, &evil_id, "json")).unwrap();
    assert_eq!(
        evil_json["document"], HOSTILE_TITLE,
        "the page title as captured"
    );
    assert_eq!(evil_json["url"], TRICKY_URL, "the URL as recorded");

    let plain = cite(&env, &plain_id, "bibtex");
    let evil = cite(&env, &evil_id, "bibtex");
    assert!(plain.starts_with(&format!("@misc{{exhibit_{},\n", plain_id.replace('-', ""))));
    // Both entries in one file, as they would be in a real .bib: the hostile one must not
    // swallow, split or add entries.
    let parsed = bibtexparser(&format!("{plain}\n{evil}"));
    assert_eq!(
        parsed["failed"],
        serde_json::json!([]),
        "{parsed:#}\n{evil}"
    );
    assert_eq!(parsed["blocks"], 2, "{parsed:#}\n{evil}");
    let entries = parsed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{parsed:#}");

    let cases = [
        (
            &entries[0],
            &plain_id,
            &plain_sha,
            "Privacy Notice",
            "Example Inc.",
            "https://example.org/privacy",
        ),
        (
            &entries[1],
            &evil_id,
            &evil_sha,
            HOSTILE_TITLE,
            "Evil & Co } 50% {",
            TRICKY_URL,
        ),
    ];
    for (e, id, sha, title, entity, url) in cases {
        let key = format!("exhibit_{}", id.replace('-', ""));
        assert_eq!(e["key"], key.as_str(), "{e:#}");
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(e["type"], "misc");
        let f = &e["fields"];
        let mut names: Vec<&str> = f.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "author",
                "howpublished",
                "month",
                "note",
                "organization",
                "title",
                "url",
                "urldate",
                "year"
            ],
            "{e:#}"
        );
        assert_eq!(unlatex(unprotect(&f["title"])), title, "{e:#}");
        assert_eq!(unlatex(unprotect(&f["author"])), entity, "{e:#}");
        assert_eq!(unlatex(f["organization"].as_str().unwrap()), entity);
        // The url field is verbatim (biblatex reads it so, BibTeX styles wrap it in \url).
        assert_eq!(f["url"], url, "{e:#}");
        let how = f["howpublished"].as_str().unwrap();
        let inner = how
            .strip_prefix("\\url{")
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or_else(|| panic!("howpublished {how:?}"));
        // Inside another field's argument `%` and `#` must be escaped; \url prints them as is.
        assert_eq!(inner.replace("\\%", "%").replace("\\#", "#"), url);
        assert!(!inner.replace("\\%", "").contains('%'), "{inner}");
        assert_eq!(f["urldate"], "2026-05-21");
        assert_eq!(f["year"], "2026");
        assert_eq!(f["month"], "may");
        let note = unlatex(f["note"].as_str().unwrap());
        assert!(
            note.contains(id.as_str()) && note.contains(sha.as_str()),
            "{note}"
        );
    }
    // The injected entry did not come into being, and nothing was left raw.
    assert!(!entries.iter().any(|e| e["key"] == "x"));
    assert!(!evil.contains("@misc{x"), "{evil}");
    assert_eq!(
        evil.matches('@').count(),
        2,
        "only the entry's own @ and the title's: {evil}"
    );
}

// ---------------------------------------------------------------------------------------------
// CSL-JSON

fn csl_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/csl-data.json")
}

/// Validate JSON against the CSL-JSON schema with Python's jsonschema: the errors, one a line.
fn csl_errors(json: &str) -> Vec<String> {
    require_python(
        "import jsonschema; jsonschema.Draft7Validator",
        "jsonschema",
    );
    const SCRIPT: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
assert schema["$schema"] == "http://json-schema.org/draft-07/schema#", schema["$schema"]
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
for e in sorted(validator.iter_errors(json.load(sys.stdin)), key=str):
    print(list(e.absolute_path), e.message)
"#;
    let (ok, out, err) = python(SCRIPT, &[&csl_schema()], json);
    assert!(ok, "jsonschema failed to run: {err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn csl_json_validates_against_the_official_csl_schema() {
    let env = Env::new();
    let (id, sha) = privacy_notice(&env);
    let (evil_id, _) = import(&env, "evil.html", HOSTILE_PAGE.as_bytes(), TRICKY_URL, &[]);
    let (bare_id, _) = import(&env, "blob.bin", b"\x00\x01", "https://example.org/b", &[]);

    let out = cite(&env, &id, "csl-json");
    assert_eq!(csl_errors(&out), Vec::<String>::new(), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let items = v.as_array().expect("a CSL-JSON array");
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it["id"], id.as_str());
    assert_eq!(it["type"], "webpage");
    assert_eq!(it["title"], "Privacy Notice");
    assert_eq!(it["container-title"], "Example Inc.");
    assert_eq!(it["publisher"], "Example Inc.");
    assert_eq!(it["URL"], "https://example.org/privacy");
    assert_eq!(
        it["accessed"],
        serde_json::json!({"date-parts": [[2026, 5, 21]]})
    );
    assert!(
        it.get("issued").is_none(),
        "exhibit does not know a publication date: {it:#}"
    );
    let note = it["note"].as_str().unwrap();
    assert!(note.contains(&id) && note.contains(&sha), "{note}");
    assert_eq!(it["archive"], "exhibit");
    assert_eq!(it["archive_location"], id.as_str());

    // A hostile title is data, and a record without entity or title still validates.
    let evil = cite(&env, &evil_id, "csl-json");
    assert_eq!(csl_errors(&evil), Vec::<String>::new(), "{evil}");
    let ev: Value = serde_json::from_str(&evil).unwrap();
    assert_eq!(ev[0]["title"], HOSTILE_TITLE);
    assert_eq!(ev[0]["URL"], TRICKY_URL);
    assert!(ev[0].get("container-title").is_none());
    let bare = cite(&env, &bare_id, "csl-json");
    assert_eq!(csl_errors(&bare), Vec::<String>::new(), "{bare}");

    // The validator does bite: a property CSL does not define, or a malformed date, fails.
    let mut bad = v.clone();
    bad[0]["sha256"] = sha.as_str().into();
    bad[0]["accessed"] = serde_json::json!({"date-parts": [["2026", 5, 21, 7]]});
    let errors = csl_errors(&bad.to_string());
    assert!(errors.len() >= 2, "{errors:?}");
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Every URL-bearing attribute (`src=`, `href=`, ...) of every tag, and every `url(` or
/// `@import` in the style sheet. Text between tags is not markup, so it is not searched.
fn references(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let tag_end = rest[open..].find('>').map_or(rest.len(), |e| open + e);
        let tag = &rest[open..tag_end];
        let lower = tag.to_ascii_lowercase();
        for attr in [
            "src=",
            "href=",
            "action=",
            "srcset=",
            "poster=",
            "data=",
            "background=",
        ] {
            let mut from = 0;
            while let Some(i) = lower[from..].find(attr) {
                let start = from + i + attr.len();
                let v = &tag[start..];
                let value: String = match v.chars().next() {
                    Some(q @ ('"' | '\'')) => v[1..].chars().take_while(|&c| c != q).collect(),
                    _ => v.chars().take_while(|c| !c.is_whitespace()).collect(),
                };
                refs.push(format!("{attr}{value}"));
                from = start;
            }
        }
        rest = &rest[tag_end..];
    }
    let lower = html.to_ascii_lowercase();
    if let (Some(a), Some(b)) = (lower.find("<style"), lower.find("</style>")) {
        let css = &lower[a..b];
        for needle in ["url(", "@import"] {
            if css.contains(needle) {
                refs.push(format!("css {needle}"));
            }
        }
    }
    refs
}

#[test]
fn html_certificate_states_the_facts_and_how_to_verify() {
    let env = Env::new();
    let (id, sha) = privacy_notice(&env);
    let html = cite(&env, &id, "html");
    let json: Value = serde_json::from_str(&cite(&env, &id, "json")).unwrap();
    let signer = json["signer"].as_str().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("Certificate of capture"));
    for fact in [
        "Example Inc.",
        "Privacy Notice",
        "<a href=\"https://example.org/privacy\">https://example.org/privacy</a>",
        "2026-05-21 05:07:28 UTC",
        "import",
        "text/html; charset=utf-8",
        "bytes",
        &sha,
        signer,
        "Log index",
        &id,
        &format!("exhibit verify {id}"),
        "sha256sum",
        &format!("documents/{}/{sha}.zst", &sha[..2]),
        "| sha256sum",
        &format!("openssl pkeyutl -verify -pubin -inkey keys/{signer}.pem -rawin"),
        &format!("records/{}/{id}.json", &id[3..5]),
        "docs/FORMAT.md",
        "@media print",
    ] {
        assert!(html.contains(fact), "certificate lacks {fact:?}:\n{html}");
    }
    let size = std::fs::metadata(env.dir.path().join("privacy.html"))
        .unwrap()
        .len();
    assert!(
        html.contains(&format!("{size} bytes")),
        "size {size}:\n{html}"
    );
    // Self-contained: no scripts, no external resources; the only reference is the cited URL.
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<link"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("@import"), "{html}");
    assert_eq!(
        references(&html),
        ["href=https://example.org/privacy"],
        "{html}"
    );
}

#[test]
fn html_certificate_escapes_hostile_titles_and_urls() {
    let env = Env::new();
    let evil_url = "https://example.org/\"><script>alert(1)</script>?a=<b>&c='d'";
    let (id, _) = import(
        &env,
        "evil.html",
        HOSTILE_PAGE.as_bytes(),
        evil_url,
        &["--entity", "<b onmouseover=alert(1)>Evil</b> & \"Co\""],
    );
    let recorded: Value = serde_json::from_str(&cite(&env, &id, "json")).unwrap();
    let url = recorded["url"].as_str().unwrap().to_string();
    let html = cite(&env, &id, "html");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<img"), "raw <img from the title:\n{html}");
    assert!(!lower.contains("<script"), "{html}");
    assert!(!lower.contains("<b "), "raw tag from the entity:\n{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;b onmouseover=alert(1)&gt;Evil&lt;/b&gt; &amp; &quot;Co&quot;"));
    // Whatever the URL holds, it stays inside its attribute and is the only reference.
    let refs = references(&html);
    assert_eq!(refs.len(), 1, "{refs:?}\n{html}");
    assert!(refs[0].starts_with("href=https://example.org/"), "{refs:?}");
    assert!(!refs[0].contains('"') && !refs[0].contains('<'), "{refs:?}");
    let escaped_url = url
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    assert!(
        html.contains(&format!("<a href=\"{escaped_url}\">")),
        "{url}\n{html}"
    );
}

#[test]
fn html_certificate_of_a_capture_has_http_facts_and_payload_hash() {
    const PAGE: &[u8] =
        b"<!doctype html><html><head><title>Terms</title></head><body>Hello</body></html>";
    let srv = TestServer::start(vec![(
        "/terms",
        Route::Gzip {
            content_type: "text/html; charset=utf-8",
            body: PAGE.to_vec(),
            chunked: false,
        },
    )]);
    let env = Env::new();
    let url = srv.url("/terms");
    let c = env.capture(&url, &["--entity", "Example", "--document", "Terms"]);
    let id = c["record_id"].as_str().unwrap();
    let html = cite(&env, id, "html");
    assert!(html.contains("200 OK"), "{html}");
    assert!(
        html.contains("capture: fetched by exhibit over HTTP"),
        "{html}"
    );
    assert!(html.contains(&sha256_hex(PAGE)), "{html}");
    assert!(html.contains("Payload SHA-256"), "{html}");
    let payload = cite(&env, id, "json");
    assert!(
        !payload.contains("Payload"),
        "json keeps its fields: {payload}"
    );
    assert_eq!(references(&html), [format!("href={url}")], "{html}");
    // And the capture's one-liner says it was captured, not imported.
    let oneline = cite(&env, id, "oneline");
    assert!(
        oneline.starts_with("Example, \"Terms\" (captured ") && !oneline.contains("imported"),
        "{oneline}"
    );
}

/// The certificate's own shell steps, run as printed in the archive directory, print what the
/// certificate says they must print.
#[test]
fn html_certificate_verification_steps_work_as_printed() {
    for tool in ["zstd", "openssl"] {
        assert!(
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                || Command::new(tool)
                    .arg("version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
            "this test needs {tool} (apt-get install {tool}; bash .ci/test installs it)"
        );
    }
    // The loose layout's files, and a packed archive's byte ranges (FORMAT.md 3.3).
    for env in [Env::new(), Env::packed()] {
        certificate_steps_run(&env);
    }
}

fn certificate_steps_run(env: &Env) {
    let (id, sha) = privacy_notice(env);
    let html = cite(env, &id, "html");
    let unescape = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let mut ran = 0;
    for block in html.split("<pre>").skip(1) {
        let block = unescape(block.split("</pre>").next().unwrap());
        if !["zstd", "openssl", "head"]
            .iter()
            .any(|t| block.starts_with(t))
        {
            continue;
        }
        let (cmd, expect) = block
            .split_once("\n# must print")
            .unwrap_or_else(|| panic!("no expected output in {block:?}"));
        let expect = expect.trim_start_matches(':').trim();
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail\n{cmd}")])
            .current_dir(&env.archive)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(expect),
            "step {cmd:?} printed {stdout:?}, stderr {:?}; the certificate says {expect:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 3, "zstd, key ID and signature steps:\n{html}");
    assert!(html.contains(&format!("# must print {sha}")));
}

/// The members of a zip file by name.
fn zip_member(path: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut z.by_name(name).unwrap(), &mut s).unwrap();
    s
}

/// Review: a title ending in U+202E made the record ID and hash after it display reversed in a
/// bundle's CITATION.txt (and an HTML certificate only turned it into `&#x202E;`, which a
/// browser obeys the same), while `exhibit cite` showed `\u{202e}`. Every rendering of a
/// citation escapes such characters alike.
#[test]
fn bidi_and_escape_characters_are_escaped_alike_in_every_citation() {
    let env = Env::new();
    let (id, _) = import(
        &env,
        "terms.html",
        b"<html><head><title>T</title></head><body>Terms</body></html>",
        "https://example.org/terms",
        &[
            "--entity",
            "Coursera\u{1b}]0;x\u{7}",
            "--document",
            "Terms of use\u{202E}",
        ],
    );
    let unsafe_chars = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| matches!(c, '\u{202e}' | '\u{1b}' | '\u{7}'))
            .collect()
    };
    let text = cite(&env, &id, "text");
    assert!(text.contains("Terms of use\\u{202e}"), "{text}");
    let bundle = env.dir.path().join("b.zip");
    env.ok(&["export", &id, "--out", bundle.to_str().unwrap()]);
    let citation = zip_member(&bundle, "CITATION.txt");
    assert!(unsafe_chars(&citation).is_empty(), "{citation:?}");
    // The same lines as `exhibit cite` (only the Verify line says how to check the bundle).
    for line in text.lines().filter(|l| !l.starts_with("Verify:")) {
        assert!(
            citation.lines().any(|c| c == line),
            "CITATION.txt lacks {line:?}:\n{citation}"
        );
    }
    let html = cite(&env, &id, "html");
    assert!(unsafe_chars(&html).is_empty(), "{html}");
    assert!(!html.to_ascii_lowercase().contains("&#x202e;"), "{html}");
    assert!(html.contains("Terms of use\\u{202e}"), "{html}");
    for format in [
        "oneline", "bluebook", "markdown", "bibtex", "csl-json", "json",
    ] {
        let out = cite(&env, &id, format);
        assert!(unsafe_chars(&out).is_empty(), "{format}: {out}");
    }
    // JSON keeps the value, escaped as JSON.
    let v: Value = serde_json::from_str(&cite(&env, &id, "json")).unwrap();
    assert_eq!(v["document"], "Terms of use\u{202E}");
}

// ---------------------------------------------------------------------------------------------
// verify --citation: a citation checked as a whole

fn verify_citation(env: &Env, citation: &str, extra: &[&str]) -> common::Run {
    let mut args = vec!["verify", "--citation", "-"];
    args.extend_from_slice(extra);
    let mut child = env
        .command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(citation.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    common::Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Every format `cite` prints passes `verify --citation` for its record; a citation whose parts
/// belong to different records, or that states a hash, time or URL the record does not, fails
/// (exit 1) naming what differs, even though each part alone would verify.
#[test]
fn a_citation_is_verified_as_a_whole_not_part_by_part() {
    let env = Env::new();
    let srv = TestServer::start(vec![
        (
            "/old",
            Route::Redirect {
                status: 301,
                location: "/new".into(),
            },
        ),
        ("/new", Route::html("<title>New</title><p>moved here")),
    ]);
    let captured = env.capture(&srv.url("/old"), &["--allow-private"]);
    let cap_id = captured["record_id"].as_str().unwrap().to_string();
    let (id, sha) = import(&env, "tricky.html", b"<p>tricky", TRICKY_URL, &[]);
    let (other_id, other_sha) = privacy_notice(&env);
    for record in [&cap_id, &id] {
        for format in [
            "text", "markdown", "oneline", "bluebook", "bibtex", "csl-json", "json", "html",
        ] {
            let c = cite(&env, record, format);
            let r = verify_citation(&env, &c, &[]);
            assert_eq!(
                r.code, 0,
                "{record} {format}: {}{}\n{c}",
                r.stdout, r.stderr
            );
            assert!(
                r.stdout.contains("the citation matches record"),
                "{}",
                r.stdout
            );
        }
    }
    // Read from a file too.
    let file = env.dir.path().join("cited.txt");
    std::fs::write(&file, cite(&env, &id, "oneline")).unwrap();
    env.ok(&["verify", "--citation", file.to_str().unwrap()]);

    let oneline = cite(&env, &id, "oneline");
    // Each part verifies alone; together they are two records' facts.
    env.ok(&["verify", &other_id, &format!("sha256:{sha}")]);
    let mixed = oneline.replace(&id, &other_id);
    let r = verify_citation(&env, &mixed, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("does NOT match"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("it states SHA-256 {sha}")) && r.stdout.contains(&other_sha),
        "{}",
        r.stdout
    );
    let forged = [
        (oneline.replace(&sha[..8], "00000000"), "it states SHA-256"),
        (
            cite(&env, &id, "text").replace("05:07:28 UTC", "05:07:29 UTC"),
            "it states the time 2026-05-21 05:07:29 UTC",
        ),
        (
            oneline.replace("May 21, 2026", "May 20, 2026"),
            "it states the time 2026-05-20 05:07:28 UTC",
        ),
        (
            cite(&env, &cap_id, "bibtex").replace("/old", "/elsewhere"),
            "it names the URL",
        ),
    ];
    for (c, why) in &forged {
        let r = verify_citation(&env, c, &[]);
        assert_eq!(r.code, 1, "{c}\n{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(why), "{why}: {}", r.stdout);
    }
    let r = verify_citation(&env, &mixed, &["--json"]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["record"]["ok"], true);
    // The hash and the URL are the other record's; the time (both imported as CAPTURED_AT) is not.
    assert_eq!(v["disagreements"].as_array().unwrap().len(), 2, "{v:#}");

    // Input that names no single record is bad input.
    let last = id.chars().last().unwrap();
    let typo = format!(
        "{}{}",
        &id[..id.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for (c, why) in [
        (oneline.replace(&id, &typo), "check character fails"),
        (format!("SHA-256 {sha}"), "names no exhibit record ID"),
        (
            format!("{oneline}{}", cite(&env, &other_id, "oneline")),
            "names 2 records",
        ),
    ] {
        let r = verify_citation(&env, &c, &[]);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        common::assert_one_line_error(&r.stderr, why);
    }

    // A record that does not verify lends nothing to a citation.
    let blob = common::files_under(&env.archive)
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&sha) && p.to_string_lossy().ends_with(".zst"));
    if let Some(blob) = blob {
        let mut b = std::fs::read(&blob).unwrap();
        let n = b.len();
        b[n / 2] ^= 1;
        std::fs::write(&blob, b).unwrap();
        let r = verify_citation(&env, &oneline, &[]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("FAILED verification"), "{}", r.stdout);
    }
}

/// What a person reads as a fact of a citation is held to the record, in whatever shape it is
/// written, and words the page chose for its title are never facts of the record (review of
/// `verify --citation`).
#[test]
fn a_citation_cannot_hide_a_wrong_fact_from_the_check() {
    let env = Env::new();
    let (other_id, other_sha) = privacy_notice(&env);
    // A page whose title states another record's hash, a URL and a time.
    let title = format!(
        "Terms (mirror of https://evil.example/terms, SHA-256 {other_sha}, captured 2019-01-03 00:00:00 UTC, see EX-AAAA-BBBB-CCCC)"
    );
    let page = format!("<html><head><title>{title}</title></head><body>t</body></html>");
    let (id, sha) = import(
        &env,
        "terms.html",
        page.as_bytes(),
        "https://example.org/terms",
        &[],
    );
    for format in ["text", "oneline", "bibtex", "markdown", "csl-json", "json"] {
        let c = cite(&env, &id, format);
        let r = verify_citation(&env, &c, &[]);
        assert_eq!(r.code, 0, "{format}: {}{}\n{c}", r.stdout, r.stderr);
    }
    let (short_id, short_sha) = import(
        &env,
        "short.html",
        b"<html><head><title>http</title></head><body>s</body></html>",
        "https://example.org/short",
        &[],
    );
    let forged = cite(&env, &short_id, "oneline")
        .replace("https://example.org/short", "https://evil.example/forged");
    assert!(forged.contains(&short_sha));
    let r = verify_citation(&env, &forged, &[]);
    assert_eq!(
        r.code, 1,
        "a title of \"http\" masked the URL: {}{}",
        r.stdout, r.stderr
    );
    let genuine = format!("https://example.org/terms, captured May 21, 2026, 05:07:28 UTC, record {id}, SHA-256 {sha}");
    let r = verify_citation(&env, &genuine, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Copy-paste shapes of the genuine facts pass.
    for c in [
        format!(
            "“https://example.org/terms” {}, SHA-256 sha256:{}",
            id.to_lowercase(),
            &sha[..12]
        ),
        format!(
            "[https://example.org/terms](https://example.org/terms) {id} {}",
            sha.to_uppercase()
        ),
        format!(
            "{id} {} 2026-05-21T05:07:28Z (last visited May 21, 2026)",
            {
                let g: Vec<String> = sha
                    .as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8(c.to_vec()).unwrap())
                    .collect();
                g.join(" ")
            }
        ),
    ] {
        let r = verify_citation(&env, &c, &[]);
        assert_eq!(r.code, 0, "{c}\n{}{}", r.stdout, r.stderr);
    }
    // The title's facts, stated as the citation's, are the page's words: they fail.
    let wrong_in_title = format!(
        "\"Terms\" (captured January 3, 2019, 00:00:00 UTC), https://evil.example/terms, archived at exhibit record {id}, SHA-256 {other_sha}."
    );
    let other_prefix = &other_sha[..16];
    let grouped_other: Vec<String> = other_sha
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let cases = [
        (wrong_in_title, "it states SHA-256"),
        (
            format!("{id} sha256:{other_prefix}"),
            "it states the hash prefix",
        ),
        (
            format!("{id} SHA-256 {}", grouped_other.join(" ")),
            "it states SHA-256",
        ),
        (
            format!("{id} SHA-256 {}z {sha}", other_sha),
            "looks like a hash but is none",
        ),
        (
            format!("{id} https://example.org/terms"),
            "states no SHA-256 of the document",
        ),
        (
            format!("{id} {sha} 2019-01-03T00:00:00Z"),
            "it states the time 2019-01-03 00:00:00 UTC",
        ),
        (
            format!("{id} {sha} (last visited Jan. 3, 2019)"),
            "it states the date 2019-01-03",
        ),
        (
            format!("{id} {sha} HTTPS://evil.example/terms"),
            "it names the URL https://evil.example/terms",
        ),
        (
            format!("{id} {sha} www.evil.example/terms"),
            "it names the URL www.evil.example/terms",
        ),
        (
            format!("{id} {sha} https://example.org/terms{{x}}/other"),
            "it names the URL",
        ),
        (
            format!("{id} {sha} {}", other_id.to_lowercase()),
            "also names record",
        ),
    ];
    // Second review: a bidi override shows the hash reversed; a clock time without seconds is
    // read by a person but not by the check; an ID and a hash broken across lines are joined.
    let broken = format!(
        "record {}\n{}, SHA-256 {}\n{}",
        &id[..8],
        &id[8..],
        &sha[..4],
        &sha[4..]
    );
    let r = verify_citation(&env, &broken, &[]);
    assert_eq!(r.code, 0, "{broken}\n{}{}", r.stdout, r.stderr);
    let cases: Vec<(String, &str)> = cases
        .into_iter()
        .chain([
            (
                format!("{id} SHA-256 \u{202e}{sha}\u{202c}"),
                "U+202E, an invisible character",
            ),
            (
                format!("{id} {sha} captured 2026-05-21 23:59 UTC"),
                "time(s) this check cannot read",
            ),
        ])
        .collect();
    for (c, why) in &cases {
        let r = verify_citation(&env, c, &[]);
        // A second record ID anywhere in the text is refused before anything is compared.
        let want = if why.contains("also names") { 2 } else { 1 };
        assert_eq!(r.code, want, "{c}\n{}{}", r.stdout, r.stderr);
        if want == 1 {
            assert!(r.stdout.contains(why), "{why}: {}", r.stdout);
        }
    }
}
