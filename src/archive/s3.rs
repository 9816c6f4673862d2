//! The [`Backend`] on S3-compatible object storage (AWS S3, SeaweedFS, Ceph RGW, R2, MinIO),
//! through the object_store crate.
//!
//! Configuration is an `s3://BUCKET/PREFIX` location plus the standard `AWS_*` variables that
//! object_store reads (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for stores other than AWS). Plain
//! http is refused unless `AWS_ALLOW_HTTP=true`: a request signature does not hide the data.
//!
//! Conditional writes are S3's own: `Create` sends `If-None-Match: *`, `Update` sends
//! `If-Match: ETAG`; the store decides, so writers on many machines get one answer. Throttling
//! (503 SlowDown), 5xx and dropped connections are retried with jittered exponential backoff
//! by object_store (see `retry_config`: about 40 s, at most 2 minutes). A conditional write
//! whose response was lost and that is then retried may report `Exists` or `Conflict` for a
//! write that took effect, and one that timed out is not retried and returns an error although
//! it may have taken effect: after `Conflict`, `Exists` or an error from `put` the outcome is
//! unknown, and the caller re-reads and recognises its own bytes, as after any lost race. A
//! `Create` refused while no object of that name exists (AWS's 409 to racing conditional
//! writes) is tried again, so `Exists` means the object was there.
//!
//! Sync over async: the trait is blocking and object_store is async, so each backend owns a
//! small tokio runtime and every call spawns its future there and waits on a channel. Calling
//! `Runtime::block_on` instead would panic on a thread that is already inside a runtime (serve
//! runs on tokio); waiting on a channel never does. It does block the calling thread, so async
//! code must call a backend from `spawn_blocking`, as it would any file I/O.
//!
//! Secrets: the credentials live only inside object_store's client. Nothing here derives
//! `Debug` over them, and every error text passes through [`S3Backend::scrub`], which blanks the
//! values of the credential variables should a server or library ever echo one.

use crate::archive::backend::{check_name, Backend, ObjectMeta, PutMode, PutOutcome};
use crate::archive::location::S3Location;
use crate::error::{Error, Result};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutOptions, PutPayload, UpdateVersion};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// S3's limit for one PUT; larger objects need a multipart upload, which cannot be conditional.
const SINGLE_PUT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// The variables whose values are secret (the key ID is not, but it names the account and is
/// no help in a message).
const SECRET_VARS: [&str; 3] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
];

pub struct S3Backend {
    location: S3Location,
    store: Arc<AmazonS3>,
    /// `Some` until drop; taken there to shut it down without blocking (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    secrets: Vec<String>,
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl Drop for S3Backend {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which panics inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl S3Backend {
    /// Configured from the process's `AWS_*` environment variables.
    pub fn from_env(location: &S3Location) -> Result<S3Backend> {
        let vars: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect();
        S3Backend::with_settings(location, &vars)
    }

    /// Configured from `AWS_*` settings given explicitly (the same names as the environment
    /// variables), so that tests and embedders need not change the process environment.
    pub fn with_settings(
        location: &S3Location,
        settings: &[(String, String)],
    ) -> Result<S3Backend> {
        let secrets: Vec<String> = settings
            .iter()
            .filter(|(k, v)| SECRET_VARS.contains(&k.as_str()) && v.len() >= 4)
            .map(|(_, v)| v.clone())
            .collect();
        let get = |name: &str| {
            settings
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let allow_http = get("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_ENDPOINT_URL_S3"] {
            let Some(e) = get(var) else { continue };
            if e.to_ascii_lowercase().starts_with("http://") && !allow_http {
                return Err(Error::usage(format!(
                    "{var} {} is plain http, which would send the archive unencrypted",
                    crate::terminal::shown(&crate::archive::location::without_userinfo(e))
                ))
                .hint("use https, or set AWS_ALLOW_HTTP=true if the store is on a network you trust (e.g. loopback)"));
            }
        }
        let mut builder = AmazonS3Builder::new();
        for (k, v) in settings {
            // object_store knows every AWS_* name it supports; others (AWS_PROFILE, ...) are
            // for other tools and are left alone, as the AWS CLI leaves ours.
            if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, v);
            }
        }
        let store = builder
            .with_bucket_name(&location.bucket)
            .with_retry(retry_config())
            .build()
            .map_err(|e| {
                Error::usage(format!(
                    "cannot configure object storage for {location}: {}",
                    scrub_with(&secrets, &e.to_string())
                        .split_whitespace()
                        .map(crate::archive::location::without_userinfo)
                        .collect::<Vec<_>>()
                        .join(" ")
                ))
                .hint("check the AWS_* environment variables (AWS_REGION, AWS_ENDPOINT_URL, ...)")
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("exhibit-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::archive(format!("cannot start the object-store client: {e}")))?;
        Ok(S3Backend {
            location: location.clone(),
            store: Arc::new(store),
            runtime: Some(runtime),
            secrets,
        })
    }

    pub fn location(&self) -> &S3Location {
        &self.location
    }

    /// Run a future on this backend's runtime and wait for it from any thread (see the module
    /// comment for why not `block_on`).
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("until drop")
            .spawn(async move {
                let _ = tx.send(fut.await);
            });
        rx.recv().map_err(|_| {
            Error::archive(format!(
                "the object-store client for {} stopped during a request",
                self.location
            ))
            .hint("this is a bug in exhibit; please report it")
        })
    }

    fn key(&self, name: &str) -> Result<StorePath> {
        check_name(name)?;
        let full = if self.location.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.location.prefix)
        };
        StorePath::parse(&full).map_err(|e| {
            Error::archive(format!("{name:?} is not an object name: {e}"))
                .hint("this is a bug in exhibit; please report it")
        })
    }

    fn shown(&self, name: &str) -> String {
        format!("{}/{name}", self.location)
    }

    /// Blank every credential value in a message from the server or the library.
    pub fn scrub(&self, text: &str) -> String {
        scrub_with(&self.secrets, text)
    }

    fn error(&self, action: &str, name: &str, e: object_store::Error) -> Error {
        use object_store::Error as E;
        let hint = match &e {
            _ if no_bucket(&e) => {
                "no such bucket: check the bucket name in the s3:// location, or create the bucket"
            }
            E::Unauthenticated { .. } | E::PermissionDenied { .. } => {
                "the store refused the credentials: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the bucket's policy"
            }
            E::NotFound { .. } => "check the bucket name in the s3:// location and that the bucket exists",
            _ => "check AWS_ENDPOINT_URL, AWS_REGION, the network and that the bucket exists; throttling and server errors were already retried",
        };
        let text = self.scrub(&said(&e.to_string()));
        Error::archive(format!("cannot {action} {}: {text}", self.shown(name))).hint(hint)
    }

    fn put_payload(&self, name: &str, payload: PutPayload, mode: PutMode) -> Result<PutOutcome> {
        let key = self.key(name)?;
        // The refusal this mode expects: object_store reports a failed precondition as
        // AlreadyExists (409, or 412 to If-None-Match) or Precondition (412) depending on the
        // store, and S3 answers concurrent If-Match writes with 409 once retries run out.
        let (os_mode, refused) = match mode {
            PutMode::Overwrite => (object_store::PutMode::Overwrite, None),
            PutMode::Create => (object_store::PutMode::Create, Some(PutOutcome::Exists)),
            PutMode::Update(etag) => (
                object_store::PutMode::Update(UpdateVersion {
                    e_tag: Some(etag),
                    version: None,
                }),
                Some(PutOutcome::Conflict),
            ),
        };
        let create = matches!(os_mode, object_store::PutMode::Create);
        let mut pause = std::time::Duration::from_millis(100);
        for attempt in 0.. {
            let opts = PutOptions::from(os_mode.clone());
            let (store, key, payload) = (self.store.clone(), key.clone(), payload.clone());
            let e = match self.run(async move { store.put_opts(&key, payload, opts).await })? {
                Ok(r) => {
                    return Ok(PutOutcome::Written {
                        etag: r.e_tag.unwrap_or_default(),
                    })
                }
                Err(
                    e @ (object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }),
                ) => e,
                Err(e) => return Err(self.error("write", name, e)),
            };
            // AWS answers a Create that races another write of the same name with 409
            // ConditionalRequestConflict, which object_store reports as AlreadyExists: the other
            // write may still fail. Only an object that is there makes the answer `Exists`.
            if create && attempt < CREATE_CONFLICT_RETRIES && self.head(name)?.is_none() {
                std::thread::sleep(pause);
                pause *= 2;
                continue;
            }
            return refused.ok_or_else(|| self.error("write", name, e));
        }
        unreachable!("the loop returns")
    }
}

/// How often a refused Create whose object is not there is tried again (with doubling pauses
/// from 100 ms, about 6 s in all) before it is reported as `Exists`.
const CREATE_CONFLICT_RETRIES: u32 = 6;

/// object_store's default (10 retries from 100 ms, jittered so that it grows slowly) gives up
/// after about 2 s, less than a store's restart takes (SeaweedFS: ~15 s). These settings wait
/// about 40 s on average over 12 retries (each draw between 200 ms and 3x the last, capped at
/// 10 s), and never longer than 2 minutes, before a write is reported as failed.
fn retry_config() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(10),
            base: 3.0,
        },
        max_retries: 12,
        retry_timeout: std::time::Duration::from_secs(120),
    }
}

/// The store's own words when it sent an S3 error document (`<Code>` and `<Message>`, plus the
/// HTTP status object_store names), instead of the whole request and XML.
fn said(text: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some(&text[start..start + len])
    };
    let status = text
        .find("status code: ")
        .map(|i| &text[i + "status code: ".len()..])
        .and_then(|t| t.split(':').next());
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(msg)) => match status {
            Some(st) => format!("the store answered {st}, {code}: {msg}"),
            None => format!("the store answered {code}: {msg}"),
        },
        _ => text.to_string(),
    }
}

/// S3 answers 404 both for a missing object and a missing bucket; only the latter is an error
/// (a mistyped bucket must not read as an empty archive). HEAD has no body to tell them apart.
fn no_bucket(e: &object_store::Error) -> bool {
    e.to_string().contains("NoSuchBucket")
}

fn scrub_with(secrets: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[redacted]");
        }
    }
    out
}

fn meta_of(name: String, m: &object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name,
        size: m.size,
        etag: m.e_tag.clone().unwrap_or_default(),
        modified: Some(m.last_modified.timestamp()),
    }
}

impl S3Backend {
    /// Every object under `prefix`, sorted, only those after `after` when given (S3's
    /// start-after: the store skips the rest).
    fn list_from(&self, prefix: &str, after: Option<&str>) -> Result<Vec<ObjectMeta>> {
        let root = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let full = format!("{root}{prefix}");
        // object_store lists whole folders, so list the folder the prefix ends in and keep the
        // names that start with it.
        let folder = match full.rfind('/') {
            Some(i) => StorePath::parse(&full[..i]).map_err(|e| {
                Error::usage(format!("{prefix:?} is not a listing prefix: {e}"))
                    .hint("this is a bug in exhibit; please report it")
            })?,
            None => StorePath::default(),
        };
        let offset = match after {
            Some(a) => Some(StorePath::parse(format!("{root}{a}")).map_err(|e| {
                Error::usage(format!("{a:?} is not an object name: {e}"))
                    .hint("this is a bug in exhibit; please report it")
            })?),
            None => None,
        };
        let store = self.store.clone();
        let listed = self.run(async move {
            let mut out = Vec::new();
            let mut s = match &offset {
                Some(o) => store.list_with_offset(Some(&folder), o),
                None => store.list(Some(&folder)),
            };
            while let Some(m) = s.next().await {
                out.push(m?);
            }
            Ok::<_, object_store::Error>(out)
        })?;
        let listed = listed.map_err(|e| self.error("list", prefix, e))?;
        let mut out: Vec<ObjectMeta> = listed
            .iter()
            .filter_map(|m| {
                let name = m.location.as_ref().strip_prefix(root.as_str())?;
                name.starts_with(prefix)
                    .then(|| meta_of(name.to_string(), m))
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.location.to_string()
    }

    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>> {
        let key = self.key(name)?;
        let store = self.store.clone();
        let got = self.run(async move {
            let r = store.get(&key).await?;
            let etag = r.meta.e_tag.clone().unwrap_or_default();
            Ok((r.bytes().await?, etag))
        })?;
        match got {
            Ok((bytes, etag)) => Ok(Some((bytes.to_vec(), etag))),
            Err(e @ object_store::Error::NotFound { .. }) if !no_bucket(&e) => Ok(None),
            Err(e) => Err(self.error("read", name, e)),
        }
    }

    fn get_range(&self, name: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let missing = || {
            Error::archive(format!("{} is missing", self.shown(name))).hint("run `exhibit audit`")
        };
        if len == 0 {
            // An empty range is no HTTP range at all; only existence is left to check.
            return self.head(name)?.map(|_| Vec::new()).ok_or_else(missing);
        }
        let key = self.key(name)?;
        let store = self.store.clone();
        let range = start..start.saturating_add(len);
        match self.run(async move { store.get_range(&key, range).await })? {
            Ok(b) => Ok(b.to_vec()),
            Err(e) if no_bucket(&e) => Err(self.error("read", name, e)),
            Err(object_store::Error::NotFound { .. }) => Err(missing()),
            // A range that starts at or past the end is refused (416), and some stores refuse
            // one that ends far past it: the trait's answer is what a file read there gives,
            // the empty tail or the bytes up to the end.
            Err(e) => match self.head(name)? {
                None => Err(missing()),
                Some(m) if start >= m.size => Ok(Vec::new()),
                Some(m) if start.saturating_add(len) > m.size => {
                    let key = self.key(name)?;
                    let store = self.store.clone();
                    let range = start..m.size;
                    self.run(async move { store.get_range(&key, range).await })?
                        .map(|b| b.to_vec())
                        .map_err(|e| self.error("read", name, e))
                }
                Some(_) => Err(self.error("read", name, e)),
            },
        }
    }

    fn head(&self, name: &str) -> Result<Option<ObjectMeta>> {
        let key = self.key(name)?;
        let store = self.store.clone();
        match self.run(async move { store.head(&key).await })? {
            Ok(m) => Ok(Some(meta_of(name.to_string(), &m))),
            Err(e @ object_store::Error::NotFound { .. }) if !no_bucket(&e) => Ok(None),
            Err(e) => Err(self.error("inspect", name, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.list_from(prefix, None)
    }

    fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>> {
        self.list_from(prefix, Some(after))
    }

    fn put(&self, name: &str, bytes: &[u8], mode: PutMode) -> Result<PutOutcome> {
        self.put_payload(name, PutPayload::from(bytes.to_vec()), mode)
    }

    /// One PUT of the file's mapped pages: conditional like any put, and the file is read by
    /// the kernel as the request goes out instead of being copied into memory first.
    fn put_file(&self, name: &str, file: &Path, mode: PutMode) -> Result<PutOutcome> {
        let f = std::fs::File::open(file).map_err(|e| Error::io("open", file, e))?;
        let size = f
            .metadata()
            .map_err(|e| Error::io("inspect", file, e))?
            .len();
        if size > SINGLE_PUT_LIMIT {
            return Err(Error::archive(format!(
                "{} is {size} bytes, more than the 5 GiB one S3 request can write",
                file.display()
            ))
            .hint("lower --max-size; objects this large are not supported on object storage yet"));
        }
        let payload = if size == 0 {
            PutPayload::new()
        } else {
            // SAFETY: the file is one the caller staged and owns (a document in its scratch
            // directory) and nothing truncates it while the request runs; the mapping is
            // read-only and dropped with the payload.
            let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| Error::io("map", file, e))?;
            PutPayload::from(bytes::Bytes::from_owner(map))
        };
        self.put_payload(name, payload, mode)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name)?;
        let store = self.store.clone();
        match self.run(async move { store.delete(&key).await })? {
            Ok(()) => Ok(()),
            Err(e @ object_store::Error::NotFound { .. }) if !no_bucket(&e) => Ok(()),
            Err(e) => Err(self.error("remove", name, e)),
        }
    }

    /// A successful S3 write is durable when it returns: nothing is left to flush.
    fn barrier(&self) -> Result<()> {
        Ok(())
    }

    fn is_object_store(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> S3Location {
        S3Location {
            bucket: "bucket".into(),
            prefix: "a/b".into(),
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_http_only_when_asked() {
        let http = settings(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]);
        let e = S3Backend::with_settings(&loc(), &http).unwrap_err();
        assert!(e.to_string().contains("AWS_ALLOW_HTTP=true"), "{e}");
        let mut allowed = http.clone();
        allowed.push(("AWS_ALLOW_HTTP".into(), "true".into()));
        assert!(S3Backend::with_settings(&loc(), &allowed).is_ok());
    }

    #[test]
    fn debug_shows_no_secret() {
        let b = S3Backend::with_settings(
            &loc(),
            &settings(&[
                ("AWS_ACCESS_KEY_ID", "AKIDVISIBLE"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
                ("AWS_REGION", "eu-west-1"),
            ]),
        )
        .unwrap();
        let d = format!("{b:?}");
        assert!(
            !d.contains("very-secret-value") && !d.contains("AKIDVISIBLE"),
            "{d}"
        );
        assert_eq!(
            b.scrub("x very-secret-value y"),
            "x [redacted] y",
            "scrubbing"
        );
        assert!(b.key("../x").is_err());
        assert_eq!(
            said("Error performing GET http://h/b/k in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message><Key>k</Key></Error>"),
            "the store answered 403 Forbidden, AccessDenied: Access Denied."
        );
        assert_eq!(b.key("log/0").unwrap().as_ref(), "a/b/log/0");
    }

    #[test]
    fn dropping_inside_a_runtime_does_not_panic() {
        let b = S3Backend::with_settings(&loc(), &[]).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move { drop(b) });
    }
}
