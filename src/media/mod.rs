//! Media in conversations: the photos, voice notes, videos, documents and
//! stickers customers send, and the files agents attach.
//!
//! A customer's file becomes a `media` row in the same transaction that
//! stores its webhook; a worker fetches it afterwards under a lease, so
//! ingest never waits on a download. The type the desk serves is the one it
//! detected from the bytes, never the provider's claim; thumbnails are made
//! once, when the file arrives. The bytes live in the database (which every
//! instance shares) or in a shared directory.
//!
//! Owns the `media`, `media_files` and `desk_keys` tables.

mod detect;
mod fetch;
mod inbound;
pub mod links;
mod store;
mod thumb;
mod views;

pub use detect::{Detected, detect};
pub use fetch::Fetcher;
pub use inbound::record_inbound;
pub use store::{FileStore, Kept};
pub use thumb::make as thumbnail;
pub use views::{
    Card, MediaView, Place, Served, cards, for_events, latest_for_conversations, open_for,
    outbound_file, place,
};

use crate::model::{MessageKind, Provider};

/// The most WhatsApp takes for a kind of file (Meta's "Supported media
/// types"; Twilio caps every WhatsApp file at 16 MB).
pub fn max_bytes(provider: Provider, kind: MessageKind, animated: bool) -> u64 {
    const MB: u64 = 1024 * 1024;
    let meta = match kind {
        MessageKind::Image => 5 * MB,
        MessageKind::Audio | MessageKind::Video => 16 * MB,
        MessageKind::Sticker if animated => 500 * 1024,
        MessageKind::Sticker => 100 * 1024,
        _ => 100 * MB,
    };
    match provider {
        Provider::Meta => meta,
        Provider::Twilio => meta.min(16 * MB),
    }
}

/// `12 KB`, `3.4 MB`: a size people read.
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{:.1} MB", b / KB / KB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_documented_maxima_per_kind() {
        assert_eq!(
            max_bytes(Provider::Meta, MessageKind::Image, false),
            5 * 1024 * 1024
        );
        assert_eq!(
            max_bytes(Provider::Meta, MessageKind::Document, false),
            100 * 1024 * 1024
        );
        assert_eq!(
            max_bytes(Provider::Meta, MessageKind::Sticker, false),
            100 * 1024
        );
        assert_eq!(
            max_bytes(Provider::Meta, MessageKind::Sticker, true),
            500 * 1024
        );
        assert_eq!(
            max_bytes(Provider::Twilio, MessageKind::Document, false),
            16 * 1024 * 1024
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(12 * 1024), "12 KB");
        assert_eq!(human_size(3_565_158), "3.4 MB");
    }
}
