//! Files attached to messages: the limits, what a file is (read from its first bytes,
//! never taken from the client's word), the name it is kept under, and how it shows.
//!
//! A file is uploaded on its own first (to a sender, which keeps its bytes in the blob
//! store and answers its [`Attachment`]); a message then names the uploads it carries,
//! and they become part of it in the same write, so the chat log holds one event.

use serde::{Deserialize, Serialize};

use crate::ids::FileId;
use crate::validate::FieldError;

/// The largest file one may attach.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// The most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;
/// The longest name a file keeps (longer ones are shortened, keeping the extension).
pub const FILE_NAME_MAX: usize = 120;
/// Thumbnails fit in a square this many pixels wide.
pub const THUMBNAIL_EDGE: u32 = 480;

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Attachment {
    pub id: FileId,
    /// The name it was uploaded with, cleaned ([`clean_name`]).
    pub name: String,
    /// What its bytes are ([`sniff`]), not what the uploader said.
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    /// An image shown inline: its size in pixels (a thumbnail exists).
    pub width: Option<i32>,
    pub height: Option<i32>,
}

impl Attachment {
    /// Shown inline, as a thumbnail that opens the image.
    pub fn is_image(&self) -> bool {
        self.width.is_some() && self.height.is_some()
    }

    /// Where a receiver serves its bytes (to members of its chat only).
    pub fn path(&self) -> String {
        format!("/files/{}", self.id)
    }

    /// Where a receiver serves its thumbnail.
    pub fn thumbnail_path(&self) -> String {
        format!("/files/{}/thumbnail", self.id)
    }
}

/// Where a file's bytes are kept in the blob store.
pub fn blob_key(id: FileId) -> String {
    id.to_string()
}

/// Where an image's thumbnail is kept in the blob store.
pub fn thumbnail_key(id: FileId) -> String {
    format!("{id}.thumbnail")
}

/// What a file's first bytes say it is: images browsers show, a few common documents,
/// plain text, and otherwise opaque bytes.
pub fn sniff(head: &[u8]) -> &'static str {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(magic, _)| head.starts_with(magic)) {
        return kind;
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    if looks_like_text(head) {
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

/// UTF-8 without control characters other than whitespace (a multi-byte character
/// cut at the end of `head` is allowed).
fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// The name a file is kept under: its last path component, without control
/// characters or quotes, at most [`FILE_NAME_MAX`] characters (the extension kept).
pub fn clean_name(name: &str) -> Result<String, FieldError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{202e}' | '\u{202d}'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return Err(FieldError::new("name", "A file needs a name."));
    }
    if cleaned.chars().count() <= FILE_NAME_MAX {
        return Ok(cleaned.to_string());
    }
    let (stem, extension) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 10 => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let room = FILE_NAME_MAX - extension.map_or(0, |e| e.chars().count() + 1) - 1;
    let short: String = stem.chars().take(room).collect();
    Ok(match extension {
        Some(ext) => format!("{short}….{ext}"),
        None => format!("{short}…"),
    })
}

/// A size in words people read: "812 B", "14 KB", "2.4 MB".
pub fn human_size(bytes: i64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes.max(0) as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.0} KB", (b / KB).max(1.0))
    } else if b < 10.0 * KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else {
        format!("{:.0} MB", b / (KB * KB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_what_its_bytes_say() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0"), "image/gif");
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(
            sniff("notes: café\n".as_bytes()),
            "text/plain; charset=utf-8"
        );
        // A character cut by the end of what was read is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "application/octet-stream");
        assert_eq!(sniff(&"aé".as_bytes()[..2]), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\0\x01\x02binary"), "application/octet-stream");
        // HTML is not trusted as HTML: it is text, and served as such.
        assert_eq!(
            sniff(b"<html><script>alert(1)</script>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(b""), "application/octet-stream");
    }

    #[test]
    fn names_lose_paths_and_controls_and_stay_short() {
        assert_eq!(clean_name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(
            clean_name("C:\\Users\\ann\\photo.jpg").unwrap(),
            "photo.jpg"
        );
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name("a\"b\r\nc.txt").unwrap(), "abc.txt");
        assert_eq!(clean_name("evil\u{202e}gpj.exe").unwrap(), "evilgpj.exe");
        assert_eq!(clean_name(".hidden").unwrap(), "hidden");
        assert!(clean_name("  ").is_err());
        assert!(clean_name("dir/").is_err());
        let long = format!("{}.docx", "x".repeat(300));
        let short = clean_name(&long).unwrap();
        assert_eq!(short.chars().count(), FILE_NAME_MAX);
        assert!(short.ends_with("….docx"), "{short}");
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(14 * 1024 + 100), "14 KB");
        assert_eq!(human_size(2_516_582), "2.4 MB");
        assert_eq!(human_size(25 * 1024 * 1024), "25 MB");
    }
}
