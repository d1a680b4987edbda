//! The shared vocabulary of the desk: providers, message kinds, categories,
//! preference channels and purposes. Plain enums with stable string forms,
//! because every one of them is stored in the database and shown to people.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Who posted a webhook.
    Provider { Meta => "meta", Twilio => "twilio" }
);

string_enum!(
    /// The kind of an inbound or outbound WhatsApp message, after normalization.
    MessageKind {
        Text => "text",
        Button => "button",
        Interactive => "interactive",
        Reaction => "reaction",
        Image => "image",
        Audio => "audio",
        Video => "video",
        Document => "document",
        Sticker => "sticker",
        Location => "location",
        Contacts => "contacts",
        Order => "order",
        System => "system",
        Unsupported => "unsupported",
        Unknown => "unknown",
    }
);

impl MessageKind {
    /// Media kinds: shown as links, classified by their caption when they have one.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            MessageKind::Image
                | MessageKind::Audio
                | MessageKind::Video
                | MessageKind::Document
                | MessageKind::Sticker
        )
    }
}

string_enum!(
    /// What a reply means for the business. Exactly one per inbound reply.
    Category {
        OptOut => "opt_out",
        Interest => "interest",
        Confusion => "confusion",
        Service => "service",
        Noise => "noise",
    }
);

impl Category {
    /// A human label for pages and emails.
    pub fn label(self) -> &'static str {
        match self {
            Category::OptOut => "Opt-out",
            Category::Interest => "Interest",
            Category::Confusion => "Confusion",
            Category::Service => "Service",
            Category::Noise => "Noise",
        }
    }
}

string_enum!(
    /// The channel a preference applies to.
    PrefChannel { Whatsapp => "whatsapp", Email => "email" }
);

string_enum!(
    /// The purpose a preference applies to: marketing only, or every message.
    Purpose { Marketing => "marketing", All => "all" }
);

string_enum!(
    /// Delivery status of an outbound message, as the providers report it.
    DeliveryStatus {
        Queued => "queued",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Played => "played",
        Failed => "failed",
        Deleted => "deleted",
        Unknown => "unknown",
    }
);
