//! What a capture learns about each TLS connection: the certificate chain the server sent
//! (leaf first, exactly as sent) and the protocol version, recorded while rustls verifies them.
//!
//! reqwest exposes only the leaf certificate of a response (`TlsInfo`). So exhibit gives it a
//! rustls configuration whose certificate verifier wraps the standard WebPKI verifier: every
//! chain that verifies is recorded under its leaf's SHA-256, and the handshake's signature check
//! (`verify_tls12_signature` or `verify_tls13_signature`, called with the leaf) says which
//! protocol version was negotiated. A response's leaf then names its chain. Session resumption
//! is off, so every connection runs a full handshake and its chain is always seen. Certificate
//! verification stays on: exhibit never captures from a server it could not authenticate.
//! The cipher suite is not recorded: neither reqwest nor the verifier sees it.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The chain and version seen for one leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    /// DER certificates as the server sent them, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// `TLSv1.2` or `TLSv1.3`: the handshake whose signature was verified.
    pub version: &'static str,
}

/// Chains seen by the HTTP clients of one set of capture options, by the SHA-256 of their leaf.
///
/// A response names its connection only by its leaf, and connections are pooled and run
/// concurrently, so a leaf names a chain only when every connection that presented it this run
/// presented the same chain at the same version. Otherwise the facts are ambiguous and nothing
/// is recorded for that leaf: exhibit never signs another connection's chain.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    /// Chains that verified, by leaf, whose handshake signature is not checked yet.
    pending: HashMap<[u8; 32], Vec<Vec<Vec<u8>>>>,
    /// Completed handshakes, by leaf: every distinct (chain, version) seen.
    seen: HashMap<[u8; 32], std::collections::BTreeSet<Seen>>,
    /// Leaves for which concurrent handshakes left it unclear which chain went with which.
    ambiguous: std::collections::HashSet<[u8; 32]>,
}

impl Recorder {
    /// The chain and version of the connection this leaf certificate (DER) came over, or why
    /// that cannot be told.
    pub fn lookup(&self, leaf: &[u8]) -> std::result::Result<Seen, String> {
        let key: [u8; 32] = Sha256::digest(leaf).into();
        let book = self
            .inner
            .lock()
            .map_err(|_| "the TLS record is unusable".to_string())?;
        if book.ambiguous.contains(&key) {
            return Err(
                "its certificate was presented with different chains by concurrent connections"
                    .into(),
            );
        }
        match book.seen.get(&key).map(|s| s.iter().collect::<Vec<_>>()).as_deref() {
            Some([one]) => Ok((*one).clone()),
            Some([_, _, ..]) => Err(
                "its certificate was presented with different chains or TLS versions during this run".into(),
            ),
            _ => Err("no completed handshake presented its certificate".into()),
        }
    }

    fn chain(&self, end_entity: &CertificateDer, intermediates: &[CertificateDer]) {
        let key: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        if let Ok(mut b) = self.inner.lock() {
            b.pending.entry(key).or_default().push(chain);
        }
    }

    /// The handshake that presented `leaf` proved its key: its chain is now a fact.
    fn version(&self, leaf: &CertificateDer, version: &'static str) {
        let key: [u8; 32] = Sha256::digest(leaf.as_ref()).into();
        if let Ok(mut b) = self.inner.lock() {
            let Some(mut chains) = b.pending.remove(&key) else {
                return;
            };
            chains.sort();
            chains.dedup();
            match chains.as_slice() {
                [one] => {
                    let seen = Seen {
                        chain: one.clone(),
                        version,
                    };
                    b.seen.entry(key).or_default().insert(seen);
                }
                _ => {
                    b.ambiguous.insert(key);
                }
            }
        }
    }
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    recorder: Arc<Recorder>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let ok = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.recorder.chain(end_entity, intermediates);
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let ok = self.inner.verify_tls12_signature(message, cert, dss)?;
        self.recorder.version(cert, "TLSv1.2");
        Ok(ok)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let ok = self.inner.verify_tls13_signature(message, cert, dss)?;
        self.recorder.version(cert, "TLSv1.3");
        Ok(ok)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Read the certificates of a `--ca-cert` PEM file (one or more `CERTIFICATE` blocks), as DER.
pub fn read_ca_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bad = |why: String| {
        Error::usage(format!("--ca-cert {}: {why}", path.display())).hint(
            "give a PEM file holding one or more CERTIFICATE blocks, as `openssl x509` writes it",
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or_else(|| bad("a CERTIFICATE block has no end line".into()))?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("a CERTIFICATE block is not base64 ({e})")))?;
        out.push(der);
        rest = &body[end..];
    }
    if out.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    Ok(out)
}

/// A rustls client configuration trusting the public WebPKI roots plus `extra_roots` (DER),
/// that records every verified chain into `recorder`.
pub fn client_config(
    extra_roots: &[Vec<u8>],
    recorder: Arc<Recorder>,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        roots.add(CertificateDer::from(der.clone())).map_err(|e| {
            Error::usage(format!(
                "--ca-cert: a certificate cannot be a trust anchor: {e}"
            ))
            .hint("give the certificate of the certification authority (the root)")
        })?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::fetch(format!("cannot set up certificate verification: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::fetch(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier { inner, recorder }))
        .with_no_client_auth();
    // A resumed session carries no certificate: every connection must show its chain.
    config.resumption = rustls::client::Resumption::disabled();
    // exhibit speaks HTTP/1.x (reqwest is built without HTTP/2).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
