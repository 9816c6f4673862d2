//! Where an archive lives, as the user wrote it (`--archive`, `EXHIBIT_ARCHIVE`).
//!
//! A location is parsed, not taken as a path: `s3://bucket/x` must not quietly become a local
//! directory named `s3:`. A local directory is a plain path or a `file://` URL; `s3://BUCKET/PREFIX`
//! names S3-compatible object storage (archive/s3.rs); any other scheme is refused with one line
//! saying so, so a script fails loudly instead of writing somewhere unexpected.

use std::fmt;
use std::path::PathBuf;

/// Where an archive lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Location),
}

/// A bucket and a key prefix: every object name is stored under `PREFIX/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Plain components joined by `/`, without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3(s) => s.fmt(f),
        }
    }
}

/// Why a location is not one exhibit can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("archive location {0:?} is empty")]
    Empty(String),
    #[error(
        "archive location {location:?} is a {scheme}:// URL; exhibit keeps archives in a local directory or on S3-compatible storage (give a path, file:///path or s3://BUCKET/PREFIX)"
    )]
    Unsupported { location: String, scheme: String },
    #[error(
        "archive location {0:?}: a file:// URL must name an absolute local path (file:///path)"
    )]
    BadFileUrl(String),
    #[error(
        "archive location {0:?}: an s3:// URL is s3://BUCKET or s3://BUCKET/PREFIX, with a bucket name of 3 to 63 lowercase letters, digits, '.' or '-' and a prefix of plain path components"
    )]
    BadS3Url(String),
}

/// Parse an archive location.
pub fn parse(s: &str) -> Result<Location, LocationError> {
    if s.is_empty() {
        return Err(LocationError::Empty(s.into()));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Ok(Location::Local(PathBuf::from(s)));
    };
    // Only something shaped like a URL scheme counts: "./a://b" or "my dir://x" stay paths.
    let is_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Ok(Location::Local(PathBuf::from(s)));
    }
    if scheme.eq_ignore_ascii_case("file") {
        // file:///abs/path, or file://localhost/abs/path (RFC 8089); nothing else.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') || path.contains('%') {
            return Err(LocationError::BadFileUrl(s.into()));
        }
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if scheme.eq_ignore_ascii_case("s3") {
        return parse_s3(rest).ok_or_else(|| LocationError::BadS3Url(without_userinfo(s)));
    }
    Err(LocationError::Unsupported {
        location: without_userinfo(s),
        scheme: scheme.to_ascii_lowercase(),
    })
}

/// A URL as it may be shown: `user:password@` in its authority is never repeated back (a
/// refused `s3://KEY:SECRET@bucket` must not print the secret).
pub fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://[credentials removed]@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The bucket rules are S3's (3-63 characters of lowercase letters, digits, '.' and '-'). The
/// prefix is held to the object-name rules of archive/backend.rs, so `a//b`, `..` or a query
/// string cannot make two spellings of one archive, or one that escapes its prefix.
fn parse_s3(rest: &str) -> Option<Location> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_empty()
        || prefix.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && !p
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '?' | '#' | '%' | '\\'))
        });
    (bucket_ok && prefix_ok).then(|| {
        Location::S3(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_urls_never_repeat_credentials() {
        for url in [
            "s3://AKID:s3cr3t@bucket/x",
            "https://u:s3cr3t@host/a",
            "s3://:s3cr3t@b",
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(!e.contains("s3cr3t"), "{e}");
            assert!(e.contains("[credentials removed]"), "{e}");
        }
        assert_eq!(without_userinfo("s3://bucket/a@b"), "s3://bucket/a@b");
    }

    #[test]
    fn paths_stay_paths() {
        for p in [
            "archive",
            "./a",
            "/srv/exhibit",
            "my dir://x",
            "./s3://b",
            "C:\\a",
        ] {
            assert_eq!(parse(p).unwrap(), Location::Local(PathBuf::from(p)), "{p}");
        }
    }

    #[test]
    fn file_urls_name_local_directories() {
        let local = |p: &str| Location::Local(PathBuf::from(p));
        assert_eq!(parse("file:///srv/a").unwrap(), local("/srv/a"));
        assert_eq!(parse("file://localhost/srv/a").unwrap(), local("/srv/a"));
        assert!(matches!(
            parse("file://host/srv/a"),
            Err(LocationError::BadFileUrl(_))
        ));
        assert!(matches!(
            parse("file:///srv/a%20b"),
            Err(LocationError::BadFileUrl(_))
        ));
    }

    #[test]
    fn s3_urls_name_a_bucket_and_prefix() {
        let s3 = |b: &str, p: &str| {
            Location::S3(S3Location {
                bucket: b.into(),
                prefix: p.into(),
            })
        };
        assert_eq!(parse("s3://bucket/a/b").unwrap(), s3("bucket", "a/b"));
        assert_eq!(parse("S3://bucket/a/").unwrap(), s3("bucket", "a"));
        assert_eq!(parse("s3://my.bucket-1").unwrap(), s3("my.bucket-1", ""));
        assert_eq!(parse("s3://bucket/").unwrap(), s3("bucket", ""));
        assert_eq!(
            parse("s3://bucket/a/b").unwrap().to_string(),
            "s3://bucket/a/b"
        );
        for bad in [
            "s3://",
            "s3://b",
            "s3://Bucket/x",
            "s3://bucket//x",
            "s3://bucket/../x",
            "s3://bucket/a/./b",
            "s3://bucket/a?x=1",
            "s3://-bucket/x",
            "s3://bu_cket/x",
        ] {
            assert!(
                matches!(parse(bad), Err(LocationError::BadS3Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_not_made_into_directories() {
        for s in ["gs://b/x", "https://example.org/a"] {
            let e = parse(s).unwrap_err();
            assert!(matches!(e, LocationError::Unsupported { .. }), "{s}");
            assert!(e.to_string().contains("local directory"), "{e}");
        }
        assert!(parse("").is_err());
    }
}
