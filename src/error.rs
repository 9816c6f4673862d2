//! One error type for the library. Every message is one line that names the cause and the
//! fix ("what went wrong (hint: what to do)"), and every error maps to a documented exit code,
//! so scripts can tell a failed verification from a typo from a network failure.

use std::fmt;
use std::io;
use std::path::Path;

/// What kind of failure this is. The CLI turns it into the exit code documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A check ran and the claim is false: altered, missing or extra bytes, bad signature.
    Verification,
    /// The command line or an input value is wrong (bad URL, mistyped record ID, bad file).
    Usage,
    /// Nothing in the archive matches the given record ID or hash.
    NotFound,
    /// A hash prefix matches more than one document.
    Ambiguous,
    /// Fetching a URL failed: connection, timeout, truncation, size limit, HTTP status.
    Fetch,
    /// The signing key is missing, unreadable, too widely readable or not trusted.
    Key,
    /// The archive is missing, unreadable or structurally broken, or an I/O operation failed.
    Archive,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Verification => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Ambiguous => 4,
            Kind::Fetch => 5,
            Kind::Key => 6,
            Kind::Archive => 7,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub struct Error {
    pub kind: Kind,
    pub what: String,
    pub hint: Option<String>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, what: impl Into<String>) -> Self {
        Error {
            kind,
            what: single_line(what.into()),
            hint: None,
            source: None,
        }
    }

    /// A copy without the underlying source (which is not `Clone`).
    pub fn clone_error(&self) -> Self {
        Error {
            kind: self.kind,
            what: self.what.clone(),
            hint: self.hint.clone(),
            source: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(single_line(hint.into()));
        self
    }

    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(Kind::Usage, what)
    }
    pub fn verification(what: impl Into<String>) -> Self {
        Self::new(Kind::Verification, what)
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, what)
    }
    pub fn fetch(what: impl Into<String>) -> Self {
        Self::new(Kind::Fetch, what)
    }
    pub fn key(what: impl Into<String>) -> Self {
        Self::new(Kind::Key, what)
    }
    pub fn archive(what: impl Into<String>) -> Self {
        Self::new(Kind::Archive, what)
    }

    /// An I/O failure on `path`. The hint covers the usual causes; callers with a better one
    /// replace it.
    pub fn io(action: &str, path: &Path, err: io::Error) -> Self {
        let hint = match err.kind() {
            io::ErrorKind::PermissionDenied => "check the file's owner and permissions",
            io::ErrorKind::NotFound => "check the path",
            _ if err.raw_os_error() == Some(28) => "free some disk space and run the command again",
            _ => "check the path, permissions and free disk space",
        };
        let what = format!("cannot {action} {}: {err}", path.display());
        Error {
            kind: Kind::Archive,
            what: single_line(what),
            hint: Some(hint.into()),
            source: Some(Box::new(err)),
        }
    }
}

/// Errors reach terminals, JSON and log files as one line; embedded newlines from a server's
/// error text or a file name must not break that.
fn single_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ")
    } else {
        s
    }
}

/// Attach a path and action to an io::Result.
pub trait IoContext<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}
