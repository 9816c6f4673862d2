//! Key rotation through the real binary: retiring a key keeps its earlier records valid and stops
//! it signing; a compromised key's later signatures fail; the key records themselves are covered
//! by audit like any record.

mod common;

use common::Env;
use std::path::Path;

fn key_id(pub_pem: &Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-in"])
        .arg(pub_pem)
        .args(["-outform", "DER"])
        .output()
        .expect("openssl is needed");
    common::sha256_hex(&out.stdout[out.stdout.len() - 32..])[..16].to_string()
}

fn import(env: &Env, key: &Path, name: &str) -> String {
    let f = env.dir.path().join(name);
    std::fs::write(&f, format!("document {name}")).unwrap();
    let out = env.ok(&[
        "--key",
        key.to_str().unwrap(),
        "import",
        f.to_str().unwrap(),
        "--url",
        &format!("https://example.org/{name}"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["record_id"].as_str().unwrap().to_string()
}

/// `exhibit keygen` a key at `new` and have `by` add it to the archive.
fn add_key(env: &Env, by: &Path, new: &Path) {
    env.ok(&["--key", new.to_str().unwrap(), "keygen"]);
    env.ok(&[
        "--key",
        by.to_str().unwrap(),
        "keys",
        "add",
        new.with_extension("key.pub").to_str().unwrap(),
    ]);
}

#[test]
fn retire_and_compromise_keys() {
    let env = Env::bare();
    let dir = env.dir.path();
    let (a, b, c) = (dir.join("a.key"), dir.join("b.key"), dir.join("c.key"));
    env.ok(&["--key", a.to_str().unwrap(), "init"]);
    let r1 = import(&env, &a, "one");
    for k in [&b, &c] {
        add_key(&env, &a, k);
    }
    let (ida, idb) = (
        key_id(&a.with_extension("key.pub")),
        key_id(&b.with_extension("key.pub")),
    );

    // Retire A (signed by B): A signs nothing new, what it signed stays valid.
    env.ok(&[
        "--key",
        b.to_str().unwrap(),
        "keys",
        "retire",
        &ida,
        "--reason",
        "rotation",
    ]);
    let f = dir.join("late.txt");
    std::fs::write(&f, "late").unwrap();
    let r = env.fails(
        &[
            "--key",
            a.to_str().unwrap(),
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://e.org/late",
        ],
        6,
    );
    common::assert_one_line_error(&r.stderr, "retired");
    env.ok(&["verify", &r1]);
    let keys: Vec<serde_json::Value> = env
        .ok(&["keys", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        keys.iter().any(
            |k| k["id"] == ida.as_str() && k["status"].as_str().unwrap().starts_with("retired")
        ),
        "{keys:?}"
    );
    env.assert_audit_clean();

    // B signs before and after a compromise time; C marks B compromised from that time.
    let before = import(&env, &b, "before");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let after = import(&env, &b, "after");
    let r = env.fails(
        &[
            "--key",
            b.to_str().unwrap(),
            "keys",
            "compromised",
            &idb,
            "--since",
            &since,
        ],
        6,
    );
    common::assert_one_line_error(&r.stderr, "cannot mark itself compromised");
    env.ok(&[
        "--key",
        c.to_str().unwrap(),
        "keys",
        "compromised",
        &idb,
        "--since",
        &since,
    ]);
    env.ok(&["verify", &before, &r1]);
    let r = env.fails(&["verify", &after], 1);
    assert!(r.stdout.contains("compromised since"), "{}", r.stdout);
    // B can no longer add records, even backdated ones would be after the compromise record.
    env.fails(
        &[
            "--key",
            b.to_str().unwrap(),
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://e.org/x",
        ],
        6,
    );
    // Pinning A (the founding key, which added C) does not bring B's compromised signatures
    // back: the compromise was signed by a key A added.
    let r = env.fails(
        &[
            "verify",
            &after,
            "--trusted-key",
            a.with_extension("key.pub").to_str().unwrap(),
        ],
        1,
    );
    assert!(r.stdout.contains("compromised"), "{}", r.stdout);
    // Pinning only B: a compromise signed by a key B never vouched for does not count against
    // B's signature (else any key in the archive could disable the pinned one), but the verifier
    // is told about it. (The log still fails: C, not B, signed the checkpoint.)
    let r = env.run(&[
        "verify",
        &after,
        "--trusted-key",
        b.with_extension("key.pub").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ok   signature"), "{}", r.stdout);
    assert!(
        r.stderr.contains("compromised") && r.stderr.contains("you did not pin"),
        "{}",
        r.stderr
    );
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1);
    assert!(
        report.to_string().contains(&after) && report.to_string().contains("compromised"),
        "{report:#}"
    );
    // A compromise is for good: the key cannot be "retired" afterwards to soften it...
    env.fails(&["--key", c.to_str().unwrap(), "keys", "retire", &idb], 2);
    env.fails(&["verify", &after], 1);
    // ...and a bundle never carries a record that fails here, nor is sealed by such a key.
    let out = dir.join("bundle.zip");
    let r = env.fails(
        &[
            "--key",
            c.to_str().unwrap(),
            "export",
            &after,
            "--out",
            out.to_str().unwrap(),
        ],
        1,
    );
    common::assert_one_line_error(&r.stderr, "not exported");
    assert!(!out.exists());
    env.fails(
        &[
            "--key",
            b.to_str().unwrap(),
            "export",
            &before,
            "--out",
            out.to_str().unwrap(),
        ],
        6,
    );
    env.ok(&[
        "--key",
        c.to_str().unwrap(),
        "export",
        &before,
        &r1,
        "--out",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn key_records_are_covered_by_audit() {
    let env = Env::bare();
    let (a, b) = (env.dir.path().join("a.key"), env.dir.path().join("b.key"));
    env.ok(&["--key", a.to_str().unwrap(), "init"]);
    import(&env, &a, "one");
    add_key(&env, &a, &b);
    let ida = key_id(&a.with_extension("key.pub"));
    env.ok(&["--key", b.to_str().unwrap(), "keys", "retire", &ida]);
    import(&env, &b, "two");
    env.assert_audit_clean();
    let events = env.archive.join("log/keys");
    let original = std::fs::read(&events).unwrap();
    // Forgetting a retirement (removing the list, or its line) is caught...
    std::fs::remove_file(&events).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert!(report.to_string().contains("log/keys"), "{report:#}");
    // ...and so is an invented one.
    let mut forged = original.clone();
    forged.extend_from_slice(format!("0 {} {}\n", "EX-0000-0000-0000", ida).as_bytes());
    std::fs::write(&events, &forged).unwrap();
    assert_eq!(env.audit(&[]).0, 1);
    std::fs::write(&events, &original).unwrap();
    env.assert_audit_clean();
}
