//! Media through Twilio: a customer's file is at the webhook's `MediaUrl{N}`,
//! read with HTTP Basic (account SID, auth token) when the account enforces
//! authentication on media; Twilio answers with a redirect to a short-lived
//! address elsewhere, which is followed without the credentials. An agent's
//! file is sent as `MediaUrl`: an address under the desk's `public_url`
//! that Twilio fetches.

use super::send::Client;
use crate::providers::{FetchError, read_limited};

impl Client {
    /// Reads the file at a webhook's `MediaUrl`, at most `max` bytes.
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .send()
            .await
            .map_err(|e| FetchError::transport("Twilio", e))?;
        let status = response.status();
        match status.as_u16() {
            200..=299 => read_limited("Twilio", response, max).await,
            401 | 403 => Err(FetchError::Permanent(format!(
                "Twilio refused the account SID and auth token for the file ({status}); check the channel's credentials"
            ))),
            404 | 410 => Err(FetchError::Permanent(format!(
                "Twilio no longer has the file ({status}); it may have been deleted"
            ))),
            429 | 500..=599 => Err(FetchError::Temporary(format!(
                "Twilio answered {status} for the file"
            ))),
            _ => Err(FetchError::Permanent(format!(
                "Twilio answered {status} for the file"
            ))),
        }
    }
}
