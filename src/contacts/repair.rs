//! A one-time repair for contacts stored before phone numbers had one
//! canonical form: a Mexican, Brazilian or Argentine number kept in
//! WhatsApp's form (`+521…`, a mobile without its ninth digit, `+54` without
//! the 9) is re-keyed to the canonical number, joined into the contact
//! already kept under it when there is one. Runs once per database; the
//! desk says how many it re-keyed.

use sqlx::Row;

use super::{identity, phone};
use crate::clock::Millis;
use crate::store::{Db, StoreResult};

const DONE: &str = "contacts_canonical_phones";

/// Re-keys every stored number that is not canonical; returns how many.
pub async fn canonical_phones(db: &Db, now: Millis) -> StoreResult<u64> {
    let done: Option<String> = sqlx::query_scalar("SELECT id FROM maintenance_log WHERE id = $1")
        .bind(DONE)
        .fetch_optional(db.reader())
        .await?;
    if done.is_some() {
        return Ok(0);
    }
    // Only these three countries have a WhatsApp form that differs.
    let rows = sqlx::query(
        "SELECT id, phone FROM contacts WHERE phone LIKE '+52%' OR phone LIKE '+54%' OR phone LIKE '+55%'",
    )
    .fetch_all(db.reader())
    .await?;
    let mut rekeyed = 0;
    for r in rows {
        let (old_id, old_phone): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let Ok(canonical) = phone::parse(&old_phone) else {
            continue;
        };
        if canonical == old_phone {
            continue;
        }
        let mut tx = db.writer().begin().await?;
        let new_id = identity::id_for_phone(&canonical);
        // A contact already kept under the canonical number stays as it is
        // and takes in the old one.
        sqlx::query(
            "INSERT INTO contacts (id, phone, wa_id, created_at, updated_at) \
             SELECT $1, $2, $3, created_at, $4 FROM contacts WHERE id = $5 ON CONFLICT (id) DO NOTHING",
        )
        .bind(&new_id)
        .bind(&canonical)
        .bind(old_phone.trim_start_matches('+'))
        .bind(now)
        .bind(&old_id)
        .execute(&mut *tx)
        .await?;
        identity::join(&mut tx, &old_id, &new_id, now).await?;
        tx.commit().await?;
        rekeyed += 1;
    }
    sqlx::query(
        "INSERT INTO maintenance_log (id, at, count, note) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(DONE)
    .bind(now)
    .bind(i64::try_from(rekeyed).unwrap_or(i64::MAX))
    .bind("contacts stored under WhatsApp's form of a Mexican, Brazilian or Argentine number re-keyed to the canonical E.164")
    .execute(db.writer())
    .await?;
    Ok(rekeyed)
}
