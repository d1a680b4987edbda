//! The templates each channel may send outside the window, as the provider
//! lists them: synced into the database (at start, on a schedule, on
//! demand), offered to agents only when approved, filled in with the
//! agent's parameters for the preview and for the provider.

use serde::Serialize;
use sqlx::Row;

use super::senders::{Sender, Senders};
use crate::clock::Millis;
use crate::providers::ListedTemplate;
use crate::store::{Db, StoreError, StoreResult};

/// A template as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub channel: String,
    pub provider_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub body: String,
}

impl Template {
    /// How many `{{n}}` parameters the body takes.
    pub fn parameter_count(&self) -> usize {
        (1..=20)
            .take_while(|n| self.body.contains(&format!("{{{{{n}}}}}")))
            .count()
    }

    /// The body with `{{1}}`, `{{2}}`, … filled in.
    pub fn render(&self, parameters: &[String]) -> String {
        let mut out = self.body.clone();
        for (i, p) in parameters.iter().enumerate() {
            out = out.replace(&format!("{{{{{}}}}}", i + 1), p);
        }
        out
    }
}

/// What a sync did, per channel.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    pub channel: String,
    pub templates: usize,
    pub approved: usize,
    /// Why the channel could not be synced, when it could not.
    pub error: Option<String>,
}

/// Asks each channel's provider for its templates and stores them; a
/// channel that fails keeps what it had.
pub async fn sync(db: &Db, senders: &Senders, now: Millis) -> StoreResult<Vec<Synced>> {
    let mut out = Vec::new();
    for (channel, sender) in senders.iter() {
        let listed = match sender {
            Sender::Meta(c) => c.templates().await,
            Sender::Twilio(c) => c.templates().await,
        };
        match listed {
            Ok(list) => {
                store(db, channel, &list, now).await?;
                out.push(Synced {
                    channel: channel.to_string(),
                    templates: list.len(),
                    approved: list.iter().filter(|t| t.status == "approved").count(),
                    error: None,
                });
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "templates not synced; the last synced list stays");
                out.push(Synced {
                    channel: channel.to_string(),
                    templates: 0,
                    approved: 0,
                    error: Some(e.to_string()),
                });
            }
        }
    }
    Ok(out)
}

async fn store(db: &Db, channel: &str, list: &[ListedTemplate], now: Millis) -> StoreResult<()> {
    let mut tx = db.writer().begin().await?;
    sqlx::query("DELETE FROM templates WHERE channel = $1")
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    for t in list {
        sqlx::query(
            "INSERT INTO templates (channel, provider_id, name, language, category, status, body, synced_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, provider_id) DO NOTHING",
        )
        .bind(channel)
        .bind(&t.provider_id)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&t.category)
        .bind(&t.status)
        .bind(&t.body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Template, sqlx::Error> {
    Ok(Template {
        channel: r.try_get("channel")?,
        provider_id: r.try_get("provider_id")?,
        name: r.try_get("name")?,
        language: r.try_get("language")?,
        category: r.try_get("category")?,
        status: r.try_get("status")?,
        body: r.try_get("body")?,
    })
}

const COLUMNS: &str = "channel, provider_id, name, language, category, status, body";

/// The approved templates of a channel (all channels with `None`).
pub async fn approved(db: &Db, channel: Option<&str>) -> StoreResult<Vec<Template>> {
    let filter = if channel.is_some() {
        "AND channel = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM templates WHERE status = 'approved' {filter} ORDER BY channel, name, language"
    );
    let mut q = sqlx::query(&sql);
    if let Some(c) = channel {
        q = q.bind(c);
    }
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// Every synced template, approved or not (for the settings page).
pub async fn all(db: &Db) -> StoreResult<Vec<Template>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates ORDER BY channel, name, language"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// One approved template by channel, name and language.
pub async fn find(
    db: &Db,
    channel: &str,
    name: &str,
    language: &str,
) -> StoreResult<Option<Template>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE channel = $1 AND name = $2 AND language = $3 AND status = 'approved'"
    ))
    .bind(channel)
    .bind(name)
    .bind(language)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map_err(StoreError::from)
}

/// How often the template lists are synced while the desk runs.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Syncs on start and then every hour, until `stop`.
pub async fn keep_synced(
    db: Db,
    senders: std::sync::Arc<Senders>,
    clock: crate::clock::SharedClock,
    stop: tokio_util::sync::CancellationToken,
) {
    if senders.iter().next().is_none() {
        return;
    }
    loop {
        match sync(&db, &senders, clock.now_ms()).await {
            Ok(done) => {
                for s in done.iter().filter(|s| s.error.is_none()) {
                    tracing::info!(channel = %s.channel, templates = s.templates, approved = s.approved, "templates synced");
                }
            }
            Err(error) => {
                tracing::error!(%error, "templates could not be stored; the last synced lists stay")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SYNC_EVERY) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_counts_and_fills_its_parameters() {
        let t = Template {
            channel: "main".into(),
            provider_id: "1".into(),
            name: "order_update".into(),
            language: "en".into(),
            category: "utility".into(),
            status: "approved".into(),
            body: "Hi {{1}}, your order {{2}} is on its way.".into(),
        };
        assert_eq!(t.parameter_count(), 2);
        assert_eq!(
            t.render(&["Ana".into(), "A-17".into()]),
            "Hi Ana, your order A-17 is on its way."
        );
    }
}
