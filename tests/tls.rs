//! TLS facts of a capture, through the real binary against `openssl s_server` on loopback with
//! a local PKI (root -> intermediate -> leaf): the chain the server sent is recorded leaf first,
//! byte for byte what `openssl s_client -showcerts` shows, each certificate stored as a part of
//! the record and checked by verify and audit; an untrusted certificate is refused with one
//! clear line and nothing is stored.

mod common;

use common::pki::{der_sha256, pki, s_server, sh};
use common::Env;

#[test]
fn the_chain_the_server_sent_is_recorded_and_verified() {
    let env = Env::new();
    let pki_dir = env.dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    pki(&pki_dir);
    let server = s_server(&pki_dir);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let root = pki_dir.join("root.pem");

    // Untrusted: one clear line, nothing stored.
    let before = env.counts();
    let r = env.fails(&["capture", &url], 5);
    common::assert_one_line_error(&r.stderr, "the server's certificate did not verify");
    // The hint names the option that trusts a private authority.
    common::assert_one_line_error(&r.stderr, "with --ca-cert FILE)");
    assert_eq!(env.counts(), before, "nothing was stored");

    // A --ca-cert that is not a certificate file: a usage error, before anything is fetched.
    let junk = pki_dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let r = env.fails(&["capture", &url, "--ca-cert", junk.to_str().unwrap()], 2);
    common::assert_one_line_error(&r.stderr, "no CERTIFICATE block");
    let r = env.fails(&["capture", &url, "--ca-cert", "/nonexistent/root.pem"], 2);
    common::assert_one_line_error(&r.stderr, "cannot read it");

    // Trusted through --ca-cert.
    let out = env.ok(&[
        "capture",
        &url,
        "--ca-cert",
        root.to_str().unwrap(),
        "--json",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let id = line["record_id"].as_str().unwrap().to_string();
    let m: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    assert_eq!(m["format"], "exhibit-manifest/5", "{m:#}");
    let tls = &m["http"]["tls"][0];
    assert_eq!(tls["url"], url.as_str());
    assert!(
        tls["version"] == "TLSv1.3" || tls["version"] == "TLSv1.2",
        "{tls}"
    );
    let chain: Vec<String> = tls["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        chain,
        vec![
            der_sha256(&pki_dir, "leaf.pem"),
            der_sha256(&pki_dir, "inter.pem")
        ],
        "leaf first, as sent (the root is not sent)"
    );
    // What openssl's own client sees.
    let shown = sh(
        &pki_dir,
        &format!(
            "openssl s_client -connect 127.0.0.1:{} -showcerts </dev/null 2>/dev/null \
             | awk '/BEGIN CERTIFICATE/,/END CERTIFICATE/' > shown.pem
             csplit -s -z -f cert- shown.pem '/BEGIN CERTIFICATE/' '{{*}}'
             for c in cert-*; do openssl x509 -in $c -outform DER | sha256sum | cut -c1-64; done",
            server.port
        ),
    );
    assert_eq!(shown.lines().collect::<Vec<_>>(), chain);
    // Each certificate is a part of the record: cat writes its DER bytes.
    let leaf = env
        .command(&["cat", &id, "--part", &format!("tls:{url}#0")])
        .output()
        .unwrap();
    assert!(
        leaf.status.success(),
        "{}",
        String::from_utf8_lossy(&leaf.stderr)
    );
    assert_eq!(common::sha256_hex(&leaf.stdout), chain[0]);
    env.ok(&["verify", &id]);
    env.assert_audit_clean();
    // Exports carry the chain too: a WARC (certificates as resource records) verifies with
    // every part, and so does a bundle (parts/ in the record's directory).
    let warc = env.dir.path().join("tls.warc.gz");
    env.ok(&[
        "export",
        &id,
        "--format",
        "warc",
        "--out",
        warc.to_str().unwrap(),
    ]);
    let pinned = format!("{}.pub", env.key.display());
    env.ok(&["verify", warc.to_str().unwrap(), "--trusted-key", &pinned]);
    let zip = env.dir.path().join("tls.zip");
    env.ok(&["export", &id, "--out", zip.to_str().unwrap()]);
    env.ok(&["verify", zip.to_str().unwrap(), "--trusted-key", &pinned]);

    // A flipped byte in the stored leaf certificate fails verify and audit, naming the part.
    let blob = env
        .archive
        .join("documents")
        .join(&chain[0][..2])
        .join(format!("{}.zst", chain[0]));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let r = env.fails(&["verify", &id], 1);
    assert!(r.stdout.contains("tls:"), "{}", r.stdout);
    let (code, _) = env.audit(&[]);
    assert_eq!(code, 1);
}

/// A browser capture over https: exhibit is the page's network, so each https exchange records
/// its connection too, and the certificates are parts of the record.
#[test]
fn a_browser_capture_records_the_chain_of_each_https_exchange() {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, browser TLS was NOT tested !!!\n");
        return;
    }
    let env = Env::new();
    let pki_dir = env.dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    pki(&pki_dir);
    let server = s_server(&pki_dir);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let root = pki_dir.join("root.pem");
    let out = env.ok(&[
        "capture",
        "--browser",
        &url,
        "--ca-cert",
        root.to_str().unwrap(),
        "--timeout",
        "8",
        "--json",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let id = line["record_id"].as_str().unwrap().to_string();
    let m: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    let first = m["browser"]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == url.as_str())
        .unwrap_or_else(|| panic!("no exchange for {url}: {m:#}"));
    let chain: Vec<&str> = first["response"]["tls"]["chain"]
        .as_array()
        .unwrap_or_else(|| panic!("{first:#}"))
        .iter()
        .map(|c| c["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        vec![
            der_sha256(&pki_dir, "leaf.pem"),
            der_sha256(&pki_dir, "inter.pem")
        ]
    );
    env.ok(&["verify", &id]);
    env.assert_audit_clean();
    let warc = env.dir.path().join("b.warc.gz");
    env.ok(&[
        "export",
        &id,
        "--format",
        "warc",
        "--out",
        warc.to_str().unwrap(),
    ]);
    let pinned = format!("{}.pub", env.key.display());
    env.ok(&["verify", warc.to_str().unwrap(), "--trusted-key", &pinned]);
}

/// A response names its TLS connection only by its leaf certificate. When one leaf comes with
/// different chains or versions in one run (here two servers share it, one over TLS 1.2 with the
/// true chain, one over TLS 1.3 adding an unrelated certificate), exhibit cannot tell which
/// connection a response came over, so it refuses that capture rather than sign another
/// connection's facts; what it could tell stays right.
#[test]
fn a_leaf_seen_with_two_chains_is_not_guessed() {
    let env = Env::new();
    let pki_dir = env.dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    pki(&pki_dir);
    sh(
        &pki_dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout junk.key \
         -out junk.pem -days 2 -subj '/CN=unrelated' 2>/dev/null && cat inter.pem junk.pem > both.pem",
    );
    let a = common::pki::s_server_with(&pki_dir, &["-cert_chain", "inter.pem", "-tls1_2"]);
    let b = common::pki::s_server_with(&pki_dir, &["-cert_chain", "both.pem", "-tls1_3"]);
    let root = pki_dir.join("root.pem");
    let list = env.dir.path().join("urls.txt");
    let urls = [
        format!("https://127.0.0.1:{}/one", a.port),
        format!("https://127.0.0.1:{}/", b.port),
        format!("https://127.0.0.1:{}/two", a.port),
    ];
    std::fs::write(&list, urls.join("\n")).unwrap();
    let r = env.run(&[
        "capture",
        "--from",
        list.to_str().unwrap(),
        "--jobs",
        "1",
        "--ordered",
        "--ca-cert",
        root.to_str().unwrap(),
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (leaf, inter) = (
        der_sha256(&pki_dir, "leaf.pem"),
        der_sha256(&pki_dir, "inter.pem"),
    );
    for l in &lines {
        let Some(id) = l["record_id"].as_str() else {
            continue;
        };
        // Whatever was recorded is the truth of its connection.
        let m: serde_json::Value = serde_json::from_str(&env.ok(&["show", id, "--json"])).unwrap();
        let tls = &m["http"]["tls"][0];
        let chain: Vec<&str> = tls["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sha256"].as_str().unwrap())
            .collect();
        if tls["url"]
            .as_str()
            .unwrap()
            .contains(&format!(":{}/", a.port))
        {
            assert_eq!(tls["version"], "TLSv1.2", "{m:#}");
            assert_eq!(chain, vec![leaf.as_str(), inter.as_str()], "{m:#}");
        } else {
            assert_eq!(tls["version"], "TLSv1.3", "{m:#}");
            assert_eq!(chain.len(), 3, "{m:#}");
        }
    }
    // The ambiguous ones are refused, each with its reason.
    assert!(
        r.stderr.contains("cannot tell which certificate chain"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}
