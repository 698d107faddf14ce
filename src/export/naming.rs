//! What an export is called: its file name, its S3 object key, and the
//! content type and extension of its file type.

use time::OffsetDateTime;

use crate::auth::OrgId;
use crate::reply::CSV_CONTENT_TYPE;
use crate::request::FileType;

/// The content type and file extension of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// `Content-Type` of the file.
    pub content_type: &'static str,
    /// Extension of its name, without the dot.
    pub ext: &'static str,
}

impl FileKind {
    /// The kind of a file of `file_type`.
    pub fn of(file_type: FileType) -> Self {
        match file_type {
            FileType::Csv => FileKind {
                content_type: CSV_CONTENT_TYPE,
                ext: "csv",
            },
            FileType::Xlsx => FileKind {
                content_type: crate::xlsx::XLSX_CONTENT_TYPE,
                ext: "xlsx",
            },
        }
    }
}

/// `lance-prospects-YYYY-MM-DD.<ext>`, by the UTC date.
pub fn file_name(now: OffsetDateTime, ext: &str) -> String {
    let d = now.date();
    format!(
        "lance-prospects-{:04}-{:02}-{:02}.{ext}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// `exports/<org>/<yyyy>/<mm>/<dd>/<id>.<ext>`, where `<org>` is
/// [`org_key_part`]: distinct organizations never share a prefix.
pub fn object_key(org: &OrgId, now: OffsetDateTime, id: &str, ext: &str) -> String {
    let d = now.date();
    format!(
        "exports/{}/{:04}/{:02}/{:02}/{id}.{ext}",
        org_key_part(org),
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The organization's segment of an object key: base64url (no padding) of
/// the SHA-256 of its id. Injective in practice, 43 characters of
/// `[A-Za-z0-9_-]` whatever the id holds (`/`, `..`, unicode, 1 KiB).
pub fn org_key_part(org: &OrgId) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(org.as_str().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_utc_date() {
        let t = time::macros::datetime!(2026-01-05 23:59:59 UTC);
        assert_eq!(file_name(t, "csv"), "lance-prospects-2026-01-05.csv");
        let org = OrgId::new("org-1").unwrap();
        let key = object_key(&org, t, "u-1", "csv");
        assert_eq!(
            key,
            format!("exports/{}/2026/01/05/u-1.csv", org_key_part(&org))
        );
        assert_eq!(org_key_part(&org), EXPECTED_ORG_1);
    }

    /// base64url(SHA-256("org-1")), computed independently with
    /// `printf org-1 | openssl dgst -sha256 -binary | basenc --base64url`
    /// (less its `=` padding).
    const EXPECTED_ORG_1: &str = "wkeHp1yzY-S8M4cc_yOkB8LcDbYxiYw1tGBKgzv6tfg";

    #[test]
    fn object_keys_are_injective_safe_and_bounded() {
        let t = time::macros::datetime!(2026-01-05 00:00:00 UTC);
        let orgs = [
            "a/b".to_string(),
            "a_b".to_string(),
            "a b".to_string(),
            "A_B".to_string(),
            ".".to_string(),
            "..".to_string(),
            "../..".to_string(),
            "/".to_string(),
            "#".to_string(),
            "a#b".to_string(),
            "a?b".to_string(),
            "é".to_string(),
            "e\u{301}".to_string(),
            "組織".to_string(),
            "🦀".to_string(),
            "x".repeat(1000),
            "x".repeat(1001),
            "x".repeat(1024),
            "org-demo-a".to_string(),
            "org-demo-A".to_string(),
        ];
        let mut seen = std::collections::HashSet::new();
        for org in &orgs {
            let id = OrgId::new(org.clone()).unwrap();
            let key = object_key(&id, t, "0b7f1c52-3f1e-4a53-9d2e-2c8f7f0d9a11", "csv");
            assert!(seen.insert(key.clone()), "{org:?} shares {key}");
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-/.".contains(c)),
                "{org:?}: {key}"
            );
            let segments: Vec<&str> = key.split('/').collect();
            assert_eq!(segments.len(), 6, "{org:?}: {key}");
            assert_eq!(segments[1].len(), 43, "{org:?}: {key}");
            assert!(!segments
                .iter()
                .any(|s| s.is_empty() || *s == "." || *s == ".."));
            assert_eq!(key.len(), "exports//2026/01/05/.csv".len() + 43 + 36);
        }
    }
}
