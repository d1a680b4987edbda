//! Email through the durable outbox. An email is queued as an outbox row of
//! kind `email` (payload: [`Email`] as JSON) in the caller's transaction, and
//! the outbox worker hands due rows to a [`Deliver`] from here:
//! [`SmtpDelivery`] sends over SMTP with lettre; without SMTP configured,
//! [`FileDelivery`] writes each email as an `.eml` file under
//! `data/outbox/`, so nothing is lost and an admin can still read them.
//!
//! This module owns the SMTP settings, the payload and the message format.
//! Retries, backoff, leases and "never twice" are the outbox's; what an
//! escalation email says is the SLA code's.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Millis;
use crate::config::parse_duration_ms;
use crate::outbox::{Claimed, Deliver, NewDelivery, enqueue_in};
use crate::store::{StoreError, redact};

/// The outbox kind of email rows.
pub const KIND: &str = "email";
/// How long one SMTP delivery may take when the config does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The outbox leases a row for two minutes; a delivery must end well within
/// that, or another instance could take the row and send it again.
const MAX_TIMEOUT_MS: i64 = 60_000;
/// The sender of `.eml` files written when no SMTP server is configured.
const FILE_SENDER: &str = "replydesk@localhost";

/// What can go wrong configuring or queuing email.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("config {key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// Checked when queued, so an email that could never be sent is not
    /// retried forever.
    #[error("email cannot be queued: {0}")]
    Unsendable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(key: &'static str, message: impl Into<String>) -> EmailError {
    EmailError::Invalid {
        key,
        message: message.into(),
    }
}

/// The `[smtp]` table:
///
/// ```toml
/// [smtp]
/// url = "smtp://mail.example.com:587?tls=required"  # or smtps://host:465, or smtp://host:25
/// from = "replydesk@example.com"
/// username = "desk"          # optional; may also be in the URL
/// password = "…"             # optional; may also be in the URL
/// timeout = "10s"            # optional
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// lettre's connection URL: `smtp://` (plain), `smtp://…?tls=required`
    /// (STARTTLS), `smtps://` (TLS from the first byte).
    pub url: String,
    /// The sender address, optionally with a name: `Desk <desk@example.com>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Longest one delivery may take ("10s"), at most a minute.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Debug output ends up in logs: never show the password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &redact(&self.url))
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A checked `[smtp]` table, ready to build a transport from.
struct Settings {
    builder: AsyncSmtpTransportBuilder,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpConfig {
    /// Checks every key; the error names the one that is wrong.
    pub fn validate(&self) -> Result<(), EmailError> {
        self.settings().map(|_| ())
    }

    fn settings(&self) -> Result<Settings, EmailError> {
        let from = self.from.parse::<Mailbox>().map_err(|e| {
            invalid(
                "smtp.from",
                format!("{:?} is not an email address ({e})", self.from),
            )
        })?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url).map_err(|e| {
            invalid(
                "smtp.url",
                format!(
                    "{} is not an SMTP URL such as smtp://host:587?tls=required, \
                     smtps://host:465 or smtp://127.0.0.1:25 ({e})",
                    redact(&self.url)
                ),
            )
        })?;
        let builder = self.with_credentials(builder)?;
        let timeout = self.timeout()?;
        Ok(Settings {
            builder: builder.timeout(Some(timeout)),
            from,
            timeout,
        })
    }

    fn with_credentials(
        &self,
        builder: AsyncSmtpTransportBuilder,
    ) -> Result<AsyncSmtpTransportBuilder, EmailError> {
        match (&self.username, &self.password) {
            (None, None) => Ok(builder),
            (Some(_), None) => Err(invalid(
                "smtp.password",
                "smtp.username is set but the password is missing",
            )),
            (None, Some(_)) => Err(invalid(
                "smtp.username",
                "smtp.password is set but the username is missing",
            )),
            (Some(_), Some(_)) if url_has_credentials(&self.url) => Err(invalid(
                "smtp.username",
                "credentials are given both in smtp.url and in smtp.username/smtp.password; keep one",
            )),
            (Some(user), Some(password)) => {
                Ok(builder.credentials(Credentials::new(user.clone(), password.clone())))
            }
        }
    }

    fn timeout(&self) -> Result<Duration, EmailError> {
        let Some(text) = &self.timeout else {
            return Ok(DEFAULT_TIMEOUT);
        };
        let ms = parse_duration_ms(text).map_err(|e| invalid("smtp.timeout", e))?;
        if ms == 0 || ms > MAX_TIMEOUT_MS {
            return Err(invalid(
                "smtp.timeout",
                format!("{text:?} must be more than 0s and at most 60s"),
            ));
        }
        Ok(Duration::from_millis(ms.unsigned_abs()))
    }
}

/// Whether the URL's authority carries `user:password@`.
fn url_has_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

/// The URL without `user:password@`, fit for logs.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{tail}")
}

/// One email, as stored in the outbox row's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient addresses, optionally with names: `Ana <ana@example.com>`.
    pub to: Vec<String>,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body; the caller escapes what it interpolates.
    pub html: String,
}

impl Email {
    pub fn new(
        to: impl IntoIterator<Item = impl Into<String>>,
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Email {
        Email {
            to: to.into_iter().map(Into::into).collect(),
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }

    /// The RFC 5322 message: multipart/alternative, plain text then HTML.
    fn to_message(&self, from: &Mailbox, message_id: String) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(from.clone())
            .subject(&self.subject)
            .message_id(Some(message_id));
        for to in self.recipients()? {
            builder = builder.to(to);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    fn recipients(&self) -> Result<Vec<Mailbox>, String> {
        if self.to.is_empty() {
            return Err("it has no recipients".into());
        }
        self.to
            .iter()
            .map(|to| {
                to.parse::<Mailbox>()
                    .map_err(|e| format!("{to:?} is not an email address ({e})"))
            })
            .collect()
    }
}

/// Queues `email` in the caller's transaction. The same `idempotency_key`
/// (e.g. conversation and escalation level) queued twice is one email.
/// Recipients are checked now, so an email that could never be sent is
/// refused here instead of being retried forever.
pub async fn queue_email_in(
    tx: &mut Transaction<'static, Any>,
    idempotency_key: &str,
    email: &Email,
    now: Millis,
) -> Result<(), EmailError> {
    email.recipients().map_err(EmailError::Unsendable)?;
    let payload =
        serde_json::to_string(email).map_err(|e| EmailError::Unsendable(e.to_string()))?;
    let delivery = NewDelivery {
        kind: KIND,
        idempotency_key: idempotency_key.to_string(),
        target: email.to.join(", "),
        subject: Some(email.subject.clone()),
        payload,
    };
    enqueue_in(tx, delivery, now).await?;
    Ok(())
}

/// The message for an outbox row. Its Message-ID is the row id, so in the
/// rare case a row is delivered twice (a lease lost mid-send) mail clients
/// can tell the copies are one message.
fn message_for(row: &Claimed, from: &Mailbox) -> Result<Message, String> {
    let email: Email = serde_json::from_str(&row.payload)
        .map_err(|e| format!("the payload is not an email ({e}); it cannot be sent"))?;
    let domain = from.email.domain();
    email.to_message(from, format!("<{}@{domain}>", row.id))
}

/// Sends email over SMTP.
pub struct SmtpDelivery {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    /// The server for logs and errors: no user name, no password.
    server: String,
}

impl fmt::Debug for SmtpDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpDelivery")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpDelivery {
    /// Builds the transport. Call it inside the tokio runtime: lettre's
    /// connection pool starts a cleanup task.
    pub fn new(config: &SmtpConfig) -> Result<SmtpDelivery, EmailError> {
        let settings = config.settings()?;
        Ok(SmtpDelivery {
            transport: settings.builder.build(),
            from: settings.from,
            timeout: settings.timeout,
            server: without_userinfo(&config.url),
        })
    }
}

impl Deliver for SmtpDelivery {
    fn deliver<'a>(
        &'a self,
        row: &'a Claimed,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let message = message_for(row, &self.from)?;
            // lettre's timeout bounds each network step; this bounds the whole send.
            match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("SMTP server {} failed: {e}", self.server)),
                Err(_) => Err(format!(
                    "SMTP server {} did not finish within {} s",
                    self.server,
                    self.timeout.as_secs()
                )),
            }
        })
    }
}

/// Writes each email as an `.eml` file named by its outbox row id, for a
/// desk without SMTP. A re-delivery overwrites the same file.
#[derive(Debug)]
pub struct FileDelivery {
    dir: PathBuf,
    from: Mailbox,
}

impl FileDelivery {
    pub fn new(dir: PathBuf) -> FileDelivery {
        let from = FILE_SENDER
            .parse()
            .unwrap_or_else(|_| unreachable!("{FILE_SENDER} is a valid address"));
        FileDelivery { dir, from }
    }

    /// The file an outbox row is written to.
    pub fn path_for(&self, row_id: &str) -> PathBuf {
        // Row ids are UUIDs; keep the name a plain file name whatever they hold.
        let name: String = row_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.eml"))
    }
}

impl Deliver for FileDelivery {
    fn deliver<'a>(
        &'a self,
        row: &'a Claimed,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let bytes = message_for(row, &self.from)?.formatted();
            let path = self.path_for(&row.id);
            let target = path.clone();
            tokio::task::spawn_blocking(move || write_atomically(&target, &bytes))
                .await
                .map_err(|e| format!("writing {} stopped: {e}", path.display()))?
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        })
    }
}

/// Writes a temporary file, syncs it and renames it over `path`, so a crash
/// leaves either the whole old file, the whole new one, or none.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    // A unique temporary name: two workers writing the same row never share one.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    if let Err(e) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    // Persist the rename itself.
    std::fs::File::open(dir)?.sync_all()
}

/// The directory `.eml` files go to when no SMTP server is configured.
pub fn outbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("outbox")
}

/// The deliverer for email rows: SMTP when configured, else `.eml` files
/// under `data_dir/outbox/`. Call it inside the tokio runtime.
pub fn email_deliverer(
    smtp: Option<&SmtpConfig>,
    data_dir: &Path,
) -> Result<Arc<dyn Deliver>, EmailError> {
    match smtp {
        Some(config) => {
            let delivery = SmtpDelivery::new(config)?;
            tracing::info!(server = %delivery.server, "email is sent through SMTP");
            Ok(Arc::new(delivery))
        }
        None => {
            let dir = outbox_dir(data_dir);
            tracing::warn!(
                dir = %dir.display(),
                "no [smtp] configured: emails are written as .eml files and NOT delivered; \
                 add an [smtp] table to the config to send them"
            );
            Ok(Arc::new(FileDelivery::new(dir)))
        }
    }
}

/// Whether email reaches people; false shows admins the "email is not being
/// delivered" banner.
pub fn email_is_delivered(smtp: Option<&SmtpConfig>) -> bool {
    smtp.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> SmtpConfig {
        SmtpConfig {
            url: url.into(),
            from: "Desk <replydesk@example.com>".into(),
            username: None,
            password: None,
            timeout: None,
        }
    }

    fn error_of(config: &SmtpConfig) -> (String, String) {
        match config.validate() {
            Err(EmailError::Invalid { key, message }) => (key.to_string(), message),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn plain_starttls_and_tls_urls_are_accepted() {
        // The TLS forms build a rustls client config, which needs a crypto provider.
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com:587?tls=required",
            "smtps://user:pa%40ss@mail.example.com:465",
        ] {
            assert!(config(url).validate().is_ok(), "{url} should be accepted");
        }
    }

    #[test]
    fn bad_settings_name_the_key_and_never_show_the_password() {
        let cases = [
            (
                "bad tls",
                config("smtp://desk:s3cret@mail.example.com?tls=sometimes"),
                "smtp.url",
            ),
            ("not a url", config("mail.example.com"), "smtp.url"),
            (
                "bad from",
                SmtpConfig {
                    from: "not an address".into(),
                    ..config("smtp://127.0.0.1:25")
                },
                "smtp.from",
            ),
            (
                "user without password",
                SmtpConfig {
                    username: Some("desk".into()),
                    ..config("smtp://127.0.0.1:25")
                },
                "smtp.password",
            ),
            (
                "credentials twice",
                SmtpConfig {
                    username: Some("desk".into()),
                    password: Some("s3cret".into()),
                    ..config("smtps://desk:s3cret@mail.example.com")
                },
                "smtp.username",
            ),
            (
                "timeout not a duration",
                SmtpConfig {
                    timeout: Some("soon".into()),
                    ..config("smtp://127.0.0.1:25")
                },
                "smtp.timeout",
            ),
            (
                "timeout longer than the lease allows",
                SmtpConfig {
                    timeout: Some("5m".into()),
                    ..config("smtp://127.0.0.1:25")
                },
                "smtp.timeout",
            ),
        ];
        for (name, config, key) in cases {
            let (got, message) = error_of(&config);
            assert_eq!(got, key, "{name}: {message}");
            assert!(!message.contains("s3cret"), "{name} shows the password");
        }
    }

    #[test]
    fn the_server_is_named_without_user_or_password() {
        assert_eq!(
            without_userinfo("smtps://desk:s3cret@mail.example.com:465?x=1"),
            "smtps://mail.example.com:465?x=1"
        );
        assert_eq!(
            without_userinfo("smtp://127.0.0.1:25"),
            "smtp://127.0.0.1:25"
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = SmtpConfig {
            username: Some("desk".into()),
            password: Some("hunter2".into()),
            ..config("smtps://desk:s3cret@mail.example.com")
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_smtp_keys_are_refused() {
        let parsed = toml::from_str::<SmtpConfig>(
            "url = \"smtp://127.0.0.1:25\"\nfrom = \"a@example.com\"\nstarttls = true",
        );
        assert!(parsed.unwrap_err().to_string().contains("starttls"));
    }

    #[test]
    fn an_email_becomes_a_multipart_alternative_message_with_its_row_id() {
        let email = Email::new(
            ["Lead <lead@example.com>", "second@example.com"],
            "Waiting 2h: interest reply",
            "Plain body",
            "<p>HTML body</p>",
        );
        let row = Claimed {
            id: "0190-abc".into(),
            kind: KIND.into(),
            target: email.to.join(", "),
            subject: Some(email.subject.clone()),
            payload: serde_json::to_string(&email).unwrap(),
            attempts: 0,
        };
        let from: Mailbox = "replydesk@example.com".parse().unwrap();
        let text = String::from_utf8(message_for(&row, &from).unwrap().formatted()).unwrap();
        for part in [
            "Message-ID: <0190-abc@example.com>",
            "To: Lead <lead@example.com>, second@example.com",
            "Subject: Waiting 2h: interest reply",
            "multipart/alternative",
            "Plain body",
            "<p>HTML body</p>",
        ] {
            assert!(text.contains(part), "message lacks {part:?}:\n{text}");
        }
    }

    #[test]
    fn a_payload_that_is_not_an_email_is_a_delivery_error() {
        let row = Claimed {
            id: "x".into(),
            kind: KIND.into(),
            target: String::new(),
            subject: None,
            payload: "{}".into(),
            attempts: 0,
        };
        let error = message_for(&row, &FileDelivery::new(PathBuf::new()).from).unwrap_err();
        assert!(error.contains("not an email"), "{error}");
    }

    #[test]
    fn file_names_stay_inside_the_directory() {
        let files = FileDelivery::new(PathBuf::from("/data/outbox"));
        assert_eq!(
            files.path_for("../../etc/passwd"),
            PathBuf::from("/data/outbox/______etc_passwd.eml")
        );
    }
}
