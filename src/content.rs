//! Content checks: is what arrived the file its name says, or an error page
//! a CDN sent with `200`, or a file the service produced damaged? Length and
//! hash prove the bytes arrived as sent, not that they are the file
//! (DESIGN.md, "Content checks").
//!
//! Everything here is pure but [`check_file`], which reads the head of a
//! finished file (and, for glTF, parses the whole document as it streams,
//! in flat memory). The rules, in order:
//! 1. for any type but the textual ones ([`PAGE_TYPES`]), a body beginning
//!    (after whitespace) with `<!DOCTYPE html`, `<html`, `<head`, `<body`,
//!    an HTML comment `<!--` or `<?xml`, or served as `text/html` without
//!    the magic of its type, is an error page: a CDN fault, worth a fresh
//!    link (a real PNG a CDN mislabels as `text/html` is the PNG);
//! 2. the known types must begin with their magic ([`check_head`]); a GLB's
//!    header must also say version 2 and the file's true length;
//! 3. other types are not checked.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// How many leading bytes the checks look at.
pub(crate) const HEAD_LEN: usize = 1024;

/// Types an HTML or XML body may rightly be: the error-page rule skips them.
const PAGE_TYPES: [&str; 8] = ["html", "htm", "xml", "svg", "txt", "json", "gltf", "obj"];

/// The longest gist of an error page quoted in a message.
const GIST_LEN: usize = 80;

/// What a check found wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// An error page where the file should be: the CDN's fault, so a fresh
    /// link may bring the file.
    ErrorPage(Page),
    /// The bytes are not a sound file of their type: what failed, in words.
    Damaged(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::ErrorPage(page) => write!(f, "the CDN sent {page} instead of the file"),
            Finding::Damaged(check) => write!(f, "the file is damaged: {check}"),
        }
    }
}

/// An error page, as a message describes it: its kind and its gist (the
/// HTML title or heading, the XML error's code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    /// `"an HTML page"` or `"an XML document"`.
    pub kind: &'static str,
    /// What the page said, shortened, with any query string cut off.
    pub gist: Option<String>,
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.gist {
            Some(gist) => write!(f, "{} ({gist:?})", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

/// Checks a file from its first bytes (`head`, at most [`HEAD_LEN`]), its
/// size, its extension (lower case) and the `Content-Type` it was served as.
pub(crate) fn check_head(
    ext: &str,
    content_type: Option<&str>,
    head: &[u8],
    size: u64,
) -> Result<(), Finding> {
    // A body with its type's magic is that file, whatever label it came with.
    let labelled = if has_magic(ext, head) {
        None
    } else {
        content_type
    };
    if !PAGE_TYPES.contains(&ext)
        && let Some(page) = error_page(labelled, head)
    {
        return Err(Finding::ErrorPage(page));
    }
    let damaged = |what: String| Err(Finding::Damaged(what));
    let starts = |magic: &[u8]| head.starts_with(magic);
    match ext {
        "glb" => check_glb(head, size),
        "gltf" if trimmed(head).first() != Some(&b'{') => {
            damaged("a glTF file is a JSON object, and this does not begin with '{'".into())
        }
        "png" if !starts(b"\x89PNG\r\n\x1a\n") => damaged(magic_missing("PNG")),
        "jpg" | "jpeg" if !starts(b"\xff\xd8\xff") => damaged(magic_missing("JPEG")),
        "gif" if !starts(b"GIF87a") && !starts(b"GIF89a") => damaged(magic_missing("GIF")),
        "webp" if !(starts(b"RIFF") && head.get(8..12) == Some(b"WEBP")) => {
            damaged(magic_missing("WebP (RIFF…WEBP)"))
        }
        "mp4" | "mov" if head.get(4..8) != Some(b"ftyp") => {
            damaged("it does not begin with an `ftyp` box, as MP4 and QuickTime files do".into())
        }
        "fbx" if !starts(b"Kaydara FBX Binary  \0") && !is_ascii_fbx(head) => {
            damaged(magic_missing("FBX (binary or ASCII)"))
        }
        "zip" | "usdz" if !starts(b"PK\x03\x04") => damaged(magic_missing("ZIP (PK\\x03\\x04)")),
        _ => Ok(()),
    }
}

/// Checks a finished file (open for reading): its head, and for glTF the whole
/// document (streamed, so memory stays flat). An error reading the file is
/// returned as such, not as a finding.
pub(crate) fn check_file(
    mut file: File,
    ext: &str,
    content_type: Option<&str>,
) -> std::io::Result<Result<(), Finding>> {
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut file).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    if let Err(finding) = check_head(ext, content_type, &head, size) {
        return Ok(Err(finding));
    }
    if ext == "gltf" {
        file.seek(SeekFrom::Start(0))?;
        let reader = BufReader::new(file);
        let parsed: Result<serde::de::IgnoredAny, _> = serde_json::from_reader(reader);
        if let Err(e) = parsed {
            if e.is_io() {
                return Err(e.into());
            }
            return Ok(Err(Finding::Damaged(format!(
                "a glTF file is a JSON object, and this is not JSON ({e})"
            ))));
        }
    }
    Ok(Ok(()))
}

/// True when `head` begins with the magic of a binary type that has one
/// (the types [`check_head`] knows; the textual ones have none).
fn has_magic(ext: &str, head: &[u8]) -> bool {
    let starts = |magic: &[u8]| head.starts_with(magic);
    match ext {
        "glb" => starts(b"glTF"),
        "png" => starts(b"\x89PNG\r\n\x1a\n"),
        "jpg" | "jpeg" => starts(b"\xff\xd8\xff"),
        "gif" => starts(b"GIF87a") || starts(b"GIF89a"),
        "webp" => starts(b"RIFF") && head.get(8..12) == Some(b"WEBP"),
        "mp4" | "mov" => head.get(4..8) == Some(b"ftyp"),
        "fbx" => starts(b"Kaydara FBX Binary  \0"),
        "zip" | "usdz" => starts(b"PK\x03\x04"),
        _ => false,
    }
}

fn magic_missing(kind: &str) -> String {
    format!("it does not begin as a {kind} file does")
}

/// A GLB's 12-byte header: magic `glTF`, version 2, and the file's length.
fn check_glb(head: &[u8], size: u64) -> Result<(), Finding> {
    let word = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let damaged = |what: String| Err(Finding::Damaged(what));
    if !head.starts_with(b"glTF") {
        return damaged("it does not begin with the GLB magic `glTF`".into());
    }
    match (word(4), word(8)) {
        (None, _) | (_, None) => damaged(format!(
            "its GLB header is cut short ({size} bytes; a header is 12)"
        )),
        (Some(version), _) if version != 2 => {
            damaged(format!("its GLB header says version {version}, not 2"))
        }
        (_, Some(length)) if u64::from(length) != size => damaged(format!(
            "its GLB header says {length} bytes, but the file has {size}"
        )),
        _ => Ok(()),
    }
}

/// An ASCII FBX: text, beginning with a `;` comment (`; FBX 7.4.0 project
/// file`) or naming the header block FBX files open with.
fn is_ascii_fbx(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The head may end inside a character: only what comes before counts.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.contains('\0')
        && (text.trim_start().starts_with(';') || text.contains("FBXHeaderExtension"))
}

/// The page, when the body is an HTML or XML error page.
fn error_page(content_type: Option<&str>, head: &[u8]) -> Option<Page> {
    let body = trimmed(head);
    let begins = |prefix: &[u8]| {
        body.len() >= prefix.len() && body[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let served_as_html = content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/html"));
    let kind = if begins(b"<?xml") {
        "an XML document"
    } else if served_as_html
        || [
            &b"<!doctype html"[..],
            b"<html",
            b"<head",
            b"<body",
            b"<!--",
        ]
        .iter()
        .any(|tag| begins(tag))
    {
        "an HTML page"
    } else {
        return None;
    };
    let text = String::from_utf8_lossy(body);
    let gist = if kind == "an XML document" {
        let parts: Vec<String> = ["Code", "Message"]
            .iter()
            .filter_map(|tag| element(&text, tag))
            .collect();
        (!parts.is_empty()).then(|| parts.join(": "))
    } else {
        element(&text, "title").or_else(|| element(&text, "h1"))
    };
    Some(Page {
        kind,
        gist: gist.map(|g| shorten(&g)).filter(|g| !g.is_empty()),
    })
}

/// The text of the first `<tag>…</tag>` (tag names compared without case).
fn element(text: &str, tag: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = format!("<{}>", tag.to_ascii_lowercase());
    let close = format!("</{}>", tag.to_ascii_lowercase());
    let start = lower.find(&open)? + open.len();
    let end = start + lower.get(start..)?.find(&close)?;
    Some(text.get(start..end)?.trim().to_owned())
}

/// One line of plain text, at most [`GIST_LEN`] characters, with any query
/// string (which may carry a signature) cut off.
fn shorten(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|word| word.split('?').next().unwrap_or_default())
        .collect();
    let line: String = words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if line.chars().count() > GIST_LEN {
        let cut: String = line.chars().take(GIST_LEN - 1).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// The bytes after leading whitespace and a UTF-8 byte order mark.
fn trimmed(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glb(version: u32, length: u32, size: usize) -> Vec<u8> {
        let mut bytes = b"glTF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&length.to_le_bytes());
        bytes.resize(size, 7);
        bytes
    }

    fn check(ext: &str, content_type: Option<&str>, body: &[u8]) -> Result<(), Finding> {
        check_head(
            ext,
            content_type,
            &body[..body.len().min(HEAD_LEN)],
            body.len() as u64,
        )
    }

    fn damaged(result: Result<(), Finding>) -> String {
        match result {
            Err(Finding::Damaged(what)) => what,
            other => panic!("not damaged: {other:?}"),
        }
    }

    fn page(result: Result<(), Finding>) -> Page {
        match result {
            Err(Finding::ErrorPage(page)) => page,
            other => panic!("not an error page: {other:?}"),
        }
    }

    const HTML: &[u8] = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>busy</body></html>";
    const XML: &[u8] = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";

    #[test]
    fn sound_files_of_each_checked_type_pass() {
        let cases: [(&str, Vec<u8>); 13] = [
            ("glb", glb(2, 100, 100)),
            ("gltf", b"  {\"asset\":{\"version\":\"2.0\"}}".to_vec()),
            ("png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            ("jpg", b"\xff\xd8\xff\xe0\0\x10JFIF".to_vec()),
            ("jpeg", b"\xff\xd8\xff\xdb".to_vec()),
            ("webp", b"RIFF\x10\0\0\0WEBPVP8 ".to_vec()),
            ("gif", b"GIF87a..".to_vec()),
            ("mp4", b"\0\0\0\x20ftypisom".to_vec()),
            ("mov", b"\0\0\0\x14ftypqt  ".to_vec()),
            ("fbx", b"Kaydara FBX Binary  \0\x1a\0\xe8\x1c\0\0".to_vec()),
            (
                "fbx",
                b"; FBX 7.4.0 project file\n; ----\nFBXHeaderExtension:  {".to_vec(),
            ),
            ("usdz", b"PK\x03\x04\x14\0".to_vec()),
            ("zip", b"PK\x03\x04\x0a\0".to_vec()),
        ];
        for (ext, body) in cases {
            assert_eq!(check(ext, None, &body), Ok(()), "{ext}");
        }
    }

    #[test]
    fn unchecked_types_pass_whatever_they_hold() {
        for ext in ["obj", "stl", "3mf", "bin", "splat", "webm"] {
            assert_eq!(check(ext, None, b"\0\x01anything"), Ok(()), "{ext}");
        }
        assert_eq!(check("bin", None, b""), Ok(()));
    }

    #[test]
    fn a_damaged_glb_says_which_check_failed() {
        let lies = damaged(check("glb", None, &glb(2, 4196, 100)));
        assert_eq!(lies, "its GLB header says 4196 bytes, but the file has 100");
        assert_eq!(
            damaged(check("glb", None, &glb(1, 100, 100))),
            "its GLB header says version 1, not 2"
        );
        assert!(damaged(check("glb", None, b"glTF\x02\0")).contains("cut short"));
        assert!(damaged(check("glb", None, b"\0\0\0\0\x02\0\0\0")).contains("magic `glTF`"));
        assert!(damaged(check("glb", None, b"")).contains("magic"));
    }

    #[test]
    fn wrong_magic_is_damage_for_each_checked_type() {
        for ext in [
            "gltf", "png", "jpg", "jpeg", "gif", "webp", "mp4", "mov", "fbx", "zip", "usdz",
        ] {
            let what = damaged(check(
                ext,
                Some("application/octet-stream"),
                b"\0\0\0\0garbage bytes",
            ));
            assert!(!what.is_empty(), "{ext}");
        }
        assert!(damaged(check("webp", None, b"RIFF\0\0\0\0AVI ")).contains("WebP"));
        assert!(damaged(check("fbx", None, b"binary\0with nul")).contains("FBX"));
    }

    #[test]
    fn error_pages_are_found_by_type_or_by_their_first_bytes() {
        let html = page(check("glb", Some("text/html; charset=utf-8"), HTML));
        assert_eq!(html.kind, "an HTML page");
        assert_eq!(html.gist.as_deref(), Some("503 Service Unavailable"));
        // Labelled as the file, found by its body, case and whitespace aside.
        let bodies: [&[u8]; 3] = [
            HTML,
            b"\r\n  <HTML><body><h1>Bad gateway</h1></body></HTML>",
            b"\xef\xbb\xbf<!doctype HTML><p>x</p>",
        ];
        for body in bodies {
            assert_eq!(
                page(check("png", Some("image/png"), body)).kind,
                "an HTML page"
            );
        }
        let xml = page(check("webp", Some("application/octet-stream"), XML));
        assert_eq!(xml.kind, "an XML document");
        assert_eq!(
            xml.gist.as_deref(),
            Some("AccessDenied: Request has expired")
        );
        // Served as HTML whatever the body: an unchecked type too.
        assert_eq!(
            page(check("bin", Some("TEXT/HTML"), b"\0\x01")).to_string(),
            "an HTML page"
        );
        // An error page is a page even where the magic would also fail.
        assert!(matches!(
            check("glb", None, HTML),
            Err(Finding::ErrorPage(_))
        ));
    }

    /// Pages that open with a comment or a bare `<head>`/`<body>` are pages
    /// too; a real file of a type with magic is that file even when a CDN
    /// labels it `text/html`.
    #[test]
    fn pages_without_a_doctype_are_pages_and_mislabelled_files_are_files() {
        for body in [
            &b"<!-- generated by nginx --><html><title>404</title></html>"[..],
            b"  <head><title>Forbidden</title></head>",
            b"<BODY><h1>Bad gateway</h1></BODY>",
        ] {
            assert_eq!(page(check("bin", None, body)).kind, "an HTML page");
            assert_eq!(page(check("glb", None, body)).kind, "an HTML page");
        }
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(check("png", Some("text/html"), png), Ok(()));
        let glb = glb(2, 64, 64);
        assert_eq!(check("glb", Some("text/html; charset=utf-8"), &glb), Ok(()));
        // An unknown type has no magic to vouch for it: the label decides.
        assert_eq!(
            page(check("bin", Some("text/html"), png)).kind,
            "an HTML page"
        );
    }

    #[test]
    fn textual_types_may_be_html_or_xml() {
        for ext in PAGE_TYPES {
            let result = check(ext, Some("text/html"), b"<?xml version=\"1.0\"?><svg/>");
            assert!(!matches!(result, Err(Finding::ErrorPage(_))), "{ext}");
        }
        assert_eq!(check("svg", Some("image/svg+xml"), XML), Ok(()));
        assert!(matches!(
            check("gltf", None, HTML),
            Err(Finding::Damaged(_))
        ));
    }

    #[test]
    fn the_gist_is_short_one_line_and_without_queries() {
        let long = format!(
            "<html><title>Denied\n https://cdn.example/m.glb?Signature=secret {}</title></html>",
            "x".repeat(200)
        );
        let gist = page(check("glb", None, long.as_bytes()))
            .gist
            .expect("a gist");
        assert!(!gist.contains("secret") && !gist.contains('\n'), "{gist}");
        assert!(
            gist.starts_with("Denied https://cdn.example/m.glb "),
            "{gist}"
        );
        assert_eq!(gist.chars().count(), GIST_LEN);
        let bare = page(check(
            "png",
            Some("text/html"),
            b"<html><body>no title</body></html>",
        ));
        assert_eq!(bare.gist, None);
        assert_eq!(
            Finding::ErrorPage(page(check("glb", None, HTML))).to_string(),
            "the CDN sent an HTML page (\"503 Service Unavailable\") instead of the file"
        );
    }

    #[test]
    fn check_file_reads_the_head_and_parses_gltf_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, body: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).expect("write");
            File::open(path).expect("open")
        };
        let sound = write("m.glb", &glb(2, 5000, 5000));
        assert_eq!(check_file(sound, "glb", None).expect("read"), Ok(()));
        let lying = write("l.glb", &glb(2, 9096, 5000));
        assert!(matches!(
            check_file(lying, "glb", None).expect("read"),
            Err(Finding::Damaged(_))
        ));
        let mut long_json = b"{\"asset\":{\"version\":\"2.0\"},\"pad\":\"".to_vec();
        long_json.resize(10_000, b'a');
        let cut = write("cut.gltf", &long_json);
        let what = damaged(check_file(cut, "gltf", None).expect("read"));
        assert!(what.contains("not JSON"), "{what}");
        long_json.extend_from_slice(b"\"}\n");
        let whole = write("whole.gltf", &long_json);
        assert_eq!(check_file(whole, "gltf", None).expect("read"), Ok(()));
    }
}
