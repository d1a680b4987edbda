//! What the WhatsApp Cloud API's error codes mean, and whether the same
//! message may be tried again. From Meta's "Error codes" page for the Cloud
//! API: build error handling on `code`, not on HTTP status or subcodes.

/// Whether a code is worth trying again after a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A throughput limit or a temporary failure: back off and retry.
    Temporary,
    /// The request, the contact or the account must change first.
    Permanent,
}

/// The class and the meaning in words of a Cloud API error code.
pub fn meaning(code: i64) -> (Class, &'static str) {
    use Class::{Permanent as P, Temporary as T};
    match code {
        0 | 190 => (
            P,
            "the access token is invalid or expired; give the channel a new access_token",
        ),
        2 => (T, "the WhatsApp service is temporarily overloaded"),
        3 | 10 | 200..=299 => (
            P,
            "the app lacks the permission for this; check the token's WhatsApp permissions",
        ),
        4 => (T, "the app reached its API call rate limit"),
        100 => (P, "a parameter of the request is not supported or too long"),
        368 => (
            P,
            "the business account is temporarily blocked for policy violations",
        ),
        80007 => (T, "the WhatsApp Business Account reached its rate limit"),
        130429 => (T, "the number reached its message throughput limit"),
        130472 => (P, "Meta held this marketing message back for an experiment"),
        130497 => (
            P,
            "the business account may not message users in this country",
        ),
        131000 => (T, "Meta could not send the message for an unknown reason"),
        131005 => (P, "access denied: the token lacks the permission"),
        131008 => (P, "a required parameter is missing"),
        131009 => (P, "a parameter value is not valid"),
        131016 => (T, "a WhatsApp service is temporarily unavailable"),
        131021 => (P, "the sender and the recipient are the same number"),
        131026 => (
            P,
            "the message cannot be delivered: the number is not on WhatsApp, or its user must update WhatsApp or accept its terms",
        ),
        131031 => (P, "the business account is locked"),
        131037 => (P, "the number's display name is not approved yet"),
        131042 => (P, "the business account has a payment problem"),
        131045 => (P, "the business number's registration is not complete"),
        131047 => (
            P,
            "more than 24 hours passed since the customer last wrote; only an approved template can be sent",
        ),
        131048 => (
            P,
            "the number is limited for spam: too many of its messages were blocked or reported",
        ),
        131049 => (
            P,
            "Meta did not deliver this marketing message to keep engagement healthy; wait at least a day",
        ),
        131050 => (
            P,
            "the customer stopped marketing messages from this business",
        ),
        131051 => (P, "this message type is not supported"),
        131053 => (P, "the media could not be uploaded"),
        131056 => (T, "too many messages to this customer in a short time"),
        131057 => (T, "the business account is in maintenance"),
        131062 => (
            P,
            "this message cannot be sent to a business-scoped user id",
        ),
        131063 => (
            P,
            "marketing templates are disabled for this account on the Cloud API",
        ),
        132000 => (
            P,
            "the number of template parameters does not match the template",
        ),
        132001 => (
            P,
            "the template does not exist in this language or is not approved",
        ),
        132005 => (P, "the template's text is too long once filled in"),
        132007 => (P, "the template's content violates a WhatsApp policy"),
        132012 => (P, "a template parameter is formatted wrongly"),
        132015 => (P, "the template is paused for low quality"),
        132016 => (P, "the template is disabled"),
        133004 => (T, "the WhatsApp server is temporarily unavailable"),
        133010 => (
            P,
            "the business number is not registered on the WhatsApp Business Platform",
        ),
        _ => (P, "Meta refused the message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_limits_are_retried_and_the_window_is_not() {
        for code in [130429, 131056, 80007, 4, 131000, 131016, 133004] {
            assert_eq!(meaning(code).0, Class::Temporary, "{code}");
        }
        for code in [131047, 131026, 131050, 132001, 190, 12345] {
            assert_eq!(meaning(code).0, Class::Permanent, "{code}");
        }
    }
}
