//! The type of a file, from its bytes. What the provider (or a browser
//! uploading an attachment) claims is never trusted: a "photo" that is an
//! HTML page or an SVG with a script is served as a download, not shown.

/// What the bytes are, and whether a browser may show them in the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub mime: String,
    /// A plain image, audio or video: shown inline. Everything else
    /// (documents, SVG, HTML, unknown bytes) is served as an attachment.
    pub inline: bool,
}

/// Types a browser shows without running anything.
const INLINE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/ogg",
    "audio/opus",
    "audio/m4a",
    "audio/mpeg",
    "audio/mp4",
    "audio/x-m4a",
    "audio/aac",
    "audio/amr",
    "audio/x-wav",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "video/webm",
];

/// Whether a detected type is shown in the page.
pub fn is_inline(mime: &str) -> bool {
    INLINE.contains(&mime)
}

pub fn detect(bytes: &[u8]) -> Detected {
    // infer's text matchers (HTML, XML, scripts) are looked at again here:
    // an SVG begins as XML.
    let mime = match infer::get(bytes) {
        Some(t) if t.matcher_type() != infer::MatcherType::Text => t.mime_type().to_string(),
        _ => textual(bytes),
    };
    Detected {
        inline: is_inline(&mime),
        mime,
    }
}

/// Bytes no magic number names: markup, plain text, or unknown.
fn textual(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "application/octet-stream".into();
    };
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.contains("<svg") {
        "image/svg+xml".into()
    } else if head.starts_with('<') {
        "text/html".into()
    } else {
        "text/plain".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide_not_the_name() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        assert_eq!(
            detect(&png),
            Detected {
                mime: "image/png".into(),
                inline: true
            }
        );
        let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
        assert_eq!(detect(pdf).mime, "application/pdf");
        assert!(!detect(pdf).inline);
    }

    #[test]
    fn markup_is_never_shown_inline() {
        let svg = detect(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>");
        assert_eq!(svg.mime, "image/svg+xml");
        assert!(!svg.inline);
        let html = detect(b"  <html><script>alert(1)</script></html>");
        assert_eq!(html.mime, "text/html");
        assert!(!html.inline);
        assert_eq!(detect(b"order A-17, thanks").mime, "text/plain");
        assert_eq!(
            detect(&[0xff, 0x00, 0xfe, 0x01]).mime,
            "application/octet-stream"
        );
    }
}
