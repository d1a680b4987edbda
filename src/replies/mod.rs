//! Replies: answering the customer from the desk. A reply (free text inside
//! the window, or an approved template) passes the gate (window, ledger,
//! policy), is stored with an idempotency key before anyone is told it was
//! queued, and is sent by a worker that claims it under a lease: exactly
//! once, also with several instances on PostgreSQL. A send whose outcome is
//! unknown is marked `unconfirmed` for a person to decide, never re-sent on
//! its own. The provider's statuses move it to delivered, read or failed.
//!
//! Owns the `replies` and `templates` tables. The provider clients live in
//! `providers`; the ledger in `preferences`.

mod attachment;
pub mod auto;
pub mod canned;
mod files;
pub mod gate;
pub mod senders;
pub mod templates;
mod worker;

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::conversations::Conversation;
use crate::sla::clock::Calendars;
use crate::store::{Db, StoreError, StoreResult};
pub use attachment::Upload;
pub use files::ReplyFiles;
pub use gate::{Refusal, Window};
pub use senders::Senders;
pub use templates::Template;
pub use worker::{Worker, apply_statuses};

/// A problem in one of the replies' rules files (canned responses,
/// auto-replies), at its line.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct FileError {
    pub file: std::path::PathBuf,
    pub line: usize,
    pub reason: String,
}

/// The text of `name` in the rules directory; `None` when there is no such file.
fn read_rules_file(
    dir: &std::path::Path,
    name: &str,
) -> Result<Option<(String, std::path::PathBuf)>, FileError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((text, path))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError {
            file: path,
            line: 0,
            reason: format!("cannot read: {e}"),
        }),
    }
}

/// A TOML syntax error as a `FileError` at its line.
fn toml_error(text: &str, path: &std::path::Path, e: &toml::de::Error) -> FileError {
    FileError {
        file: path.to_path_buf(),
        line: e
            .span()
            .map_or(0, |s| crate::classify::line_of(text, s.start)),
        reason: e.message().to_string(),
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Text {
        body: String,
        /// The customer message this answers (provider id), if any.
        reply_to: Option<String>,
    },
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
    /// An image or a document, with an optional caption (inside the window).
    Attachment {
        upload: Upload,
        caption: String,
        reply_to: Option<String>,
    },
}

/// Who sends: a person, a machine or an auto-reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// `agent@example.com`, `api:crm`, `auto:help`.
    pub name: String,
    /// An auto-reply confirming an opt-out (the gate lets it through the opt-out).
    pub confirms_opt_out: bool,
}

/// Why a reply was not queued.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The gate said no: nothing was stored and nothing left.
    #[error("{}", .0.explanation)]
    Refused(Refusal),
    /// The channel cannot send (no credentials, no number to send from).
    #[error("{0}")]
    CannotSend(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReplyError {
    fn from(e: sqlx::Error) -> Self {
        ReplyError::Store(e.into())
    }
}

/// A stored reply as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub id: String,
    pub conversation_id: String,
    pub kind: String,
    pub body: String,
    pub template: Option<String>,
    /// The attached file (`/media/{id}`).
    pub media_id: Option<String>,
    pub state: String,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub author: String,
    pub attempts: i64,
    pub created_at: Millis,
    pub accepted_at: Option<Millis>,
    pub updated_at: Millis,
}

impl Reply {
    /// Whether more will happen to it without a person (the page keeps asking).
    pub fn in_flight(&self) -> bool {
        matches!(
            self.state.as_str(),
            "queued" | "sending" | "sent" | "delivered"
        )
    }
}

/// What queuing did.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub id: String,
    #[serde(rename = "status")]
    pub state: String,
    /// False when the idempotency key was used before: nothing changed.
    pub created: bool,
}

/// The reply service: the gate and the queue, and the worker that sends.
#[derive(Clone, Debug)]
pub struct Replies {
    db: Db,
    clock: SharedClock,
    senders: Arc<Senders>,
    /// Where attachments are kept.
    files: crate::media::FileStore,
    /// Wakes the workers of this instance when a reply is queued.
    wake: Arc<tokio::sync::Notify>,
}

/// Where a conversation's replies go and leave from.
struct Route {
    to_address: String,
    to_kind: &'static str,
    from_number: String,
}

const TEXT_MAX: usize = 4096;

impl Replies {
    pub fn new(
        db: Db,
        clock: SharedClock,
        senders: Arc<Senders>,
        files: crate::media::FileStore,
    ) -> Replies {
        Replies {
            db,
            clock,
            senders,
            files,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn senders(&self) -> &Senders {
        &self.senders
    }

    /// The worker that sends what is queued.
    pub fn worker(
        &self,
        config: Arc<Config>,
        calendars: Arc<Calendars>,
        instance: String,
    ) -> Worker {
        Worker::new(
            self.db.clone(),
            self.clock.clone(),
            self.senders.clone(),
            config,
            calendars,
            instance,
            self.wake.clone(),
        )
    }

    /// Why the conversation cannot be answered at all, if it cannot.
    pub async fn cannot_answer(&self, c: &Conversation) -> StoreResult<Option<String>> {
        if let Err(why) = self.senders.get(&c.channel) {
            return Ok(Some(why));
        }
        Ok(self.route(c).await?.err())
    }

    /// The window of a conversation, now.
    pub async fn window(&self, c: &Conversation) -> StoreResult<Window> {
        gate::window(&self.db, &c.contact_id, &c.channel, self.clock.now_ms()).await
    }

    /// Checks, stores and queues a reply; the worker sends it. The same
    /// `idempotency_key` again answers the first reply and changes nothing.
    pub async fn queue(
        &self,
        c: &Conversation,
        author: &Author,
        request: Request,
        idempotency_key: &str,
    ) -> Result<Queued, ReplyError> {
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > 200 {
            return Err(ReplyError::Invalid {
                field: "idempotency_key",
                message: "give each reply a key of your own (1 to 200 characters)".into(),
            });
        }
        let key = format!("{}:{key}", c.id);
        if let Some(done) = self.existing(&key).await? {
            return Ok(done);
        }
        let now = self.clock.now_ms();
        let (ask, body, template) = self.content(c, &request).await?;
        self.senders
            .get(&c.channel)
            .map_err(ReplyError::CannotSend)?;
        let route = self.route(c).await?.map_err(ReplyError::CannotSend)?;
        let window = gate::window(&self.db, &c.contact_id, &c.channel, now).await?;
        let ask = if author.confirms_opt_out {
            gate::Ask::OptOutConfirmation
        } else {
            ask
        };
        let label = c
            .contact_phone
            .clone()
            .or_else(|| c.wa_user_id.clone())
            .unwrap_or_default();
        let passed = gate::check(
            &self.db,
            &c.contact_id,
            &label,
            c.journey.as_deref(),
            window,
            ask,
        )
        .await?
        .map_err(ReplyError::Refused)?;
        let id = uuid::Uuid::now_v7().to_string();
        let (template_name, template_language, template_ref, parameters, reply_to) = match &request
        {
            Request::Text { reply_to, .. } | Request::Attachment { reply_to, .. } => {
                (None, None, None, None, reply_to.clone())
            }
            Request::Template { parameters, .. } => (
                template.as_ref().map(|t| t.name.clone()),
                template.as_ref().map(|t| t.language.clone()),
                template.as_ref().map(|t| t.provider_id.clone()),
                Some(serde_json::to_string(parameters).unwrap_or_default()),
                None,
            ),
        };
        let attached = match &request {
            Request::Attachment { upload, .. } => {
                let (media_kind, mime) = attachment::check(upload, self.provider(c)?)?;
                let (media_id, kept) = attachment::keep(&self.files, upload, &mime).await?;
                Some((media_id, media_kind, mime, kept))
            }
            _ => None,
        };
        let kind = if template.is_some() {
            "template"
        } else if attached.is_some() {
            "media"
        } else {
            "text"
        };
        let mut tx = self.db.writer().begin().await?;
        if let (Some((media_id, media_kind, mime, kept)), Request::Attachment { upload, .. }) =
            (&attached, &request)
        {
            attachment::record(
                &mut tx,
                media_id,
                self.provider(c)?,
                &c.channel,
                *media_kind,
                upload,
                mime,
                *kept,
                now,
            )
            .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO replies (id, idempotency_key, conversation_id, contact_id, channel, to_address, to_kind, \
               from_number, kind, body, template_name, template_language, template_ref, parameters, reply_to, \
               purpose, author, state, next_attempt_at, created_at, updated_at, media_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'queued', $18, $18, $18, $19) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&id)
        .bind(&key)
        .bind(&c.id)
        .bind(&c.contact_id)
        .bind(&c.channel)
        .bind(&route.to_address)
        .bind(route.to_kind)
        .bind(&route.from_number)
        .bind(kind)
        .bind(&body)
        .bind(&template_name)
        .bind(&template_language)
        .bind(&template_ref)
        .bind(&parameters)
        .bind(&reply_to)
        .bind(passed.as_str())
        .bind(&author.name)
        .bind(now)
        .bind(attached.as_ref().map(|a| a.0.clone()))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            if let Some((media_id, _, _, kept)) = &attached {
                self.files.delete(media_id, kept.place).await?;
            }
            return self
                .existing(&key)
                .await?
                .ok_or_else(|| ReplyError::Store(StoreError::NotFound));
        }
        sqlx::query("INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, 'reply_queued', $5)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&c.id)
            .bind(now)
            .bind(&author.name)
            .bind(json!({ "reply": id, "kind": kind, "template": template_name, "purpose": passed.as_str() }).to_string())
            .execute(&mut *tx)
            .await?;
        crate::admin::audit::record(
            &mut *tx,
            &author.name,
            "reply.queued",
            &c.id,
            None,
            Some(&json!({ "reply": id, "contact": c.contact_id, "kind": kind, "template": template_name, "body": body })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        metrics::counter!("replydesk_replies_queued_total", "kind" => kind).increment(1);
        Ok(Queued {
            id,
            state: "queued".into(),
            created: true,
        })
    }

    /// What the request sends, checked: the gate's question and the text.
    async fn content(
        &self,
        c: &Conversation,
        request: &Request,
    ) -> Result<(gate::Ask, String, Option<Template>), ReplyError> {
        match request {
            Request::Text { body, .. } => {
                let body = body.trim();
                if body.is_empty() {
                    return Err(ReplyError::Invalid {
                        field: "text",
                        message: "write something first".into(),
                    });
                }
                if body.chars().count() > TEXT_MAX {
                    return Err(ReplyError::Invalid {
                        field: "text",
                        message: format!("WhatsApp takes at most {TEXT_MAX} characters"),
                    });
                }
                Ok((gate::Ask::Text, body.to_string(), None))
            }
            Request::Attachment { caption, .. } => {
                let caption = caption.trim();
                if caption.chars().count() > attachment::CAPTION_MAX {
                    return Err(ReplyError::Invalid {
                        field: "caption",
                        message: format!(
                            "WhatsApp takes a caption of at most {} characters",
                            attachment::CAPTION_MAX
                        ),
                    });
                }
                Ok((gate::Ask::Text, caption.to_string(), None))
            }
            Request::Template {
                name,
                language,
                parameters,
            } => {
                let Some(t) = templates::find(&self.db, &c.channel, name, language).await? else {
                    return Err(ReplyError::Invalid {
                        field: "template",
                        message: format!(
                            "{name:?} in {language:?} is not an approved template of channel {:?}; sync the templates or choose another",
                            c.channel
                        ),
                    });
                };
                let want = t.parameter_count();
                if parameters.len() != want || parameters.iter().any(|p| p.trim().is_empty()) {
                    return Err(ReplyError::Invalid {
                        field: "parameters",
                        message: format!(
                            "template {name:?} takes {want} parameter(s), none of them empty"
                        ),
                    });
                }
                let category = gate::TemplateCategory::parse(&t.category);
                Ok((gate::Ask::Template(category), t.render(parameters), Some(t)))
            }
        }
    }

    /// The provider of the conversation's channel.
    fn provider(&self, c: &Conversation) -> Result<crate::model::Provider, ReplyError> {
        match self
            .senders
            .get(&c.channel)
            .map_err(ReplyError::CannotSend)?
        {
            senders::Sender::Meta(_) => Ok(crate::model::Provider::Meta),
            senders::Sender::Twilio(_) => Ok(crate::model::Provider::Twilio),
        }
    }

    /// Who the reply goes to and which number it leaves from: the WhatsApp
    /// id the provider last used for the contact (or their user id) and the
    /// number their latest message on this channel was sent to.
    async fn route(&self, c: &Conversation) -> StoreResult<Result<Route, String>> {
        let contact = sqlx::query("SELECT wa_id, phone, wa_user_id FROM contacts WHERE id = $1")
            .bind(&c.contact_id)
            .fetch_optional(self.db.reader())
            .await?;
        let (wa_id, phone, user): (Option<String>, Option<String>, Option<String>) = match &contact
        {
            Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
            None => (None, None, None),
        };
        let to = match (wa_id, phone, user) {
            (Some(wa), _, _) => (wa, "wa_id"),
            (None, Some(p), _) => (p.trim_start_matches('+').to_string(), "wa_id"),
            (None, None, Some(u)) => (u, "user_id"),
            _ => {
                return Ok(Err(
                    "the contact has neither a WhatsApp number nor a user id".into(),
                ));
            }
        };
        let from: Option<String> = sqlx::query_scalar(
            "SELECT business_number FROM events WHERE contact_id = $1 AND channel = $2 AND direction = 'in' \
             AND kind = 'message' AND business_number IS NOT NULL ORDER BY occurred_at DESC LIMIT 1",
        )
        .bind(&c.contact_id)
        .bind(&c.channel)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(from_number) = from else {
            return Ok(Err(
                "no message from this customer on this channel says which number they wrote to"
                    .into(),
            ));
        };
        Ok(Ok(Route {
            to_address: to.0,
            to_kind: to.1,
            from_number,
        }))
    }

    async fn existing(&self, key: &str) -> StoreResult<Option<Queued>> {
        let row = sqlx::query("SELECT id, state FROM replies WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(self.db.writer())
            .await?;
        Ok(match row {
            Some(r) => Some(Queued {
                id: r.try_get(0)?,
                state: r.try_get(1)?,
                created: false,
            }),
            None => None,
        })
    }

    /// A person decided that an unconfirmed reply should be sent again.
    pub async fn send_again(
        &self,
        c: &Conversation,
        reply_id: &str,
        who: &str,
    ) -> StoreResult<bool> {
        let now = self.clock.now_ms();
        let done = sqlx::query(
            "UPDATE replies SET state = 'queued', next_attempt_at = $1, error = NULL, error_code = NULL, updated_at = $1 \
             WHERE id = $2 AND conversation_id = $3 AND state = 'unconfirmed'",
        )
        .bind(now)
        .bind(reply_id)
        .bind(&c.id)
        .execute(self.db.writer())
        .await?
        .rows_affected()
            == 1;
        if done {
            crate::admin::audit::record(
                self.db.writer(),
                who,
                "reply.send_again",
                &c.id,
                None,
                Some(&json!({ "reply": reply_id })),
                now,
            )
            .await?;
        }
        Ok(done)
    }
}

const REPLY_COLUMNS: &str = "id, conversation_id, kind, body, template_name, state, provider_message_id, error, \
     error_code, author, attempts, created_at, accepted_at, updated_at, media_id";

fn reply_from_row(r: &sqlx::any::AnyRow) -> Result<Reply, sqlx::Error> {
    Ok(Reply {
        id: r.try_get("id")?,
        conversation_id: r.try_get("conversation_id")?,
        kind: r.try_get("kind")?,
        body: r.try_get("body")?,
        template: r.try_get("template_name")?,
        media_id: r.try_get("media_id")?,
        state: r.try_get("state")?,
        provider_message_id: r.try_get("provider_message_id")?,
        error: r.try_get("error")?,
        error_code: r.try_get("error_code")?,
        author: r.try_get("author")?,
        attempts: r.try_get("attempts")?,
        created_at: r.try_get("created_at")?,
        accepted_at: r.try_get("accepted_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The replies of a conversation, oldest first.
pub async fn for_conversation(db: &Db, conversation_id: &str) -> StoreResult<Vec<Reply>> {
    let rows = sqlx::query(&format!(
        "SELECT {REPLY_COLUMNS} FROM replies WHERE conversation_id = $1 ORDER BY created_at, id"
    ))
    .bind(conversation_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(reply_from_row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// One reply of a conversation.
pub async fn get(db: &Db, conversation_id: &str, id: &str) -> StoreResult<Option<Reply>> {
    let row = sqlx::query(&format!(
        "SELECT {REPLY_COLUMNS} FROM replies WHERE conversation_id = $1 AND id = $2"
    ))
    .bind(conversation_id)
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref()
        .map(reply_from_row)
        .transpose()
        .map_err(StoreError::from)
}

/// A message of a conversation in either direction, as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// `in` from the customer, `out` from the desk.
    pub direction: &'static str,
    /// The reply's id for `out`; the provider's id for `in`.
    pub id: String,
    pub at: Millis,
    pub text: Option<String>,
    /// For `out`: queued, sending, sent, delivered, read, failed, unconfirmed.
    pub status: Option<String>,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// For `out`: who sent it (an email, `api:<key>`, `auto:<kind>`).
    pub author: Option<String>,
}

/// The customer's messages and the desk's replies of a conversation, oldest first.
pub async fn messages(db: &Db, conversation_id: &str) -> StoreResult<Vec<Message>> {
    let rows = sqlx::query(
        "SELECT provider_id, occurred_at, body FROM events \
         WHERE conversation_id = $1 AND kind = 'message' AND direction = 'in' ORDER BY occurred_at, id",
    )
    .bind(conversation_id)
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let provider_id: Option<String> = r.try_get(0)?;
        out.push(Message {
            direction: "in",
            id: provider_id.clone().unwrap_or_default(),
            at: r.try_get(1)?,
            text: r.try_get(2)?,
            status: None,
            provider_message_id: provider_id,
            error: None,
            error_code: None,
            author: None,
        });
    }
    for r in for_conversation(db, conversation_id).await? {
        out.push(Message {
            direction: "out",
            id: r.id,
            at: r.created_at,
            text: Some(r.body),
            status: Some(r.state),
            provider_message_id: r.provider_message_id,
            error: r.error,
            error_code: r.error_code,
            author: Some(r.author),
        });
    }
    out.sort_by_key(|m| m.at);
    Ok(out)
}
