//! Where an archive lives, as the user wrote it (`--archive`, `EXHIBIT_ARCHIVE`).
//!
//! A location is parsed, not taken as a path: `s3://bucket/x` must not quietly become a local
//! directory named `s3:`. Today the only backend is a local directory (a plain path or a
//! `file://` URL); any other scheme is refused with one line saying so, so a script written for
//! object storage fails loudly instead of writing somewhere unexpected.

use std::path::PathBuf;

/// Why a location is not one exhibit can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("archive location {0:?} is empty")]
    Empty(String),
    #[error(
        "archive location {location:?} is a {scheme}:// URL; this exhibit keeps archives in a local directory only (give a path, or file:///path)"
    )]
    Unsupported { location: String, scheme: String },
    #[error(
        "archive location {0:?}: a file:// URL must name an absolute local path (file:///path)"
    )]
    BadFileUrl(String),
}

/// Parse an archive location into the local directory it names.
pub fn parse(s: &str) -> Result<PathBuf, LocationError> {
    if s.is_empty() {
        return Err(LocationError::Empty(s.into()));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Ok(PathBuf::from(s));
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
        return Ok(PathBuf::from(s));
    }
    if scheme.eq_ignore_ascii_case("file") {
        // file:///abs/path, or file://localhost/abs/path (RFC 8089); nothing else.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') || path.contains('%') {
            return Err(LocationError::BadFileUrl(s.into()));
        }
        return Ok(PathBuf::from(path));
    }
    Err(LocationError::Unsupported {
        location: s.into(),
        scheme: scheme.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(parse(p).unwrap(), PathBuf::from(p), "{p}");
        }
    }

    #[test]
    fn file_urls_name_local_directories() {
        assert_eq!(parse("file:///srv/a").unwrap(), PathBuf::from("/srv/a"));
        assert_eq!(
            parse("file://localhost/srv/a").unwrap(),
            PathBuf::from("/srv/a")
        );
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
    fn other_schemes_are_refused_not_made_into_directories() {
        for s in [
            "s3://bucket/prefix",
            "S3://b",
            "gs://b/x",
            "https://example.org/a",
        ] {
            let e = parse(s).unwrap_err();
            assert!(matches!(e, LocationError::Unsupported { .. }), "{s}");
            assert!(e.to_string().contains("local directory"), "{e}");
        }
        assert!(parse("").is_err());
    }
}
