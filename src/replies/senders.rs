//! The send client of each channel that has send credentials. A channel
//! without them still receives; its conversations say why they cannot be
//! answered.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{ChannelConfig, Config};
use crate::model::Provider;
use crate::providers::{self, Outgoing, Sent, meta, twilio};

#[derive(Debug, Clone)]
pub enum Sender {
    Meta(meta::send::Client),
    Twilio(twilio::send::Client),
}

impl Sender {
    pub async fn send(&self, m: &Outgoing) -> Sent {
        match self {
            Sender::Meta(c) => c.send(m).await,
            Sender::Twilio(c) => c.send(m).await,
        }
    }
}

/// Every channel's sender, or why it has none.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    ready: BTreeMap<String, Sender>,
    missing: BTreeMap<String, String>,
}

impl Senders {
    pub fn from_config(config: &Config) -> Senders {
        Senders::with_timeout(config, Duration::from_secs(config.sending.timeout_secs))
    }

    /// The same channels with another overall timeout (media downloads).
    pub fn with_timeout(config: &Config, timeout: Duration) -> Senders {
        let http = providers::http_client(timeout);
        let mut out = Senders::default();
        for c in &config.channels {
            match sender(c, http.clone()) {
                Ok(s) => {
                    out.ready.insert(c.name.clone(), s);
                }
                Err(why) => {
                    out.missing.insert(c.name.clone(), why);
                }
            }
        }
        out
    }

    pub fn get(&self, channel: &str) -> Result<&Sender, String> {
        self.ready.get(channel).ok_or_else(|| {
            self.missing.get(channel).cloned().unwrap_or_else(|| {
                format!("channel {channel:?} is not configured; replies cannot be sent")
            })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sender)> {
        self.ready.iter().map(|(k, v)| (k.as_str(), v))
    }
}

fn sender(c: &ChannelConfig, http: reqwest::Client) -> Result<Sender, String> {
    match c.provider {
        Provider::Meta => {
            let token = c.access_token.clone().filter(|t| !t.is_empty()).ok_or_else(|| {
                format!(
                    "channel {:?} has no access_token, so it receives but cannot send; add one (or REPLYDESK_CHANNEL_{}_ACCESS_TOKEN)",
                    c.name,
                    crate::config::env_name(&c.name)
                )
            })?;
            Ok(Sender::Meta(meta::send::Client {
                http,
                graph_url: c
                    .graph_url
                    .clone()
                    .unwrap_or_else(|| meta::send::DEFAULT_GRAPH_URL.into()),
                access_token: token,
                business_account_id: c.business_account_id.clone(),
            }))
        }
        Provider::Twilio => {
            let sid = c.account_sid.clone().filter(|s| !s.trim().is_empty());
            let token = c.auth_token.clone().filter(|t| !t.is_empty());
            let (Some(account_sid), Some(auth_token)) = (sid, token) else {
                return Err(format!(
                    "channel {:?} has no account_sid and auth_token, so it receives but cannot send",
                    c.name
                ));
            };
            Ok(Sender::Twilio(twilio::send::Client {
                http,
                api_url: c
                    .api_url
                    .clone()
                    .unwrap_or_else(|| twilio::send::DEFAULT_API_URL.into()),
                content_url: c
                    .content_url
                    .clone()
                    .unwrap_or_else(|| twilio::send::DEFAULT_CONTENT_URL.into()),
                account_sid,
                auth_token,
            }))
        }
    }
}
