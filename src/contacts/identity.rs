//! Who a contact is. Every boundary names a person by one of three keys: a
//! phone number (canonical E.164, see [`super::phone`]), Meta's
//! business-scoped user id (`US.1234…`), or an email address. A key maps to
//! a contact id without asking the database for phone numbers (so
//! concurrent writers agree) and with one indexed lookup for a user id that
//! a phone contact already carries.
//!
//! When the provider reveals that a user id and a phone number are one
//! person (a webhook carrying both), the record known only by the user id
//! is joined into the phone contact: its messages, ledger, conversations and
//! everything else move, so the person has one contact and one ledger.

use sqlx::{Any, AnyConnection, Row, Transaction};

use super::phone;
use crate::clock::Millis;
use crate::store::{StoreResult, placeholders};

/// How a person is named at a boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactKey {
    /// Canonical E.164.
    Phone(String),
    /// Meta's business-scoped user id.
    UserId(String),
    Email(String),
}

impl ContactKey {
    /// Reads a contact as every API field and search box takes it: an email
    /// address, a business-scoped user id, or a phone number in
    /// international form. The error says what was expected.
    pub fn parse(input: &str) -> Result<ContactKey, String> {
        let input = input.trim();
        if input.contains('@') {
            return crate::auth::users::normalize_email(input)
                .map(ContactKey::Email)
                .map_err(|e| e.to_string());
        }
        if looks_like_user_id(input) {
            return Ok(ContactKey::UserId(input.to_string()));
        }
        phone::parse(input).map(ContactKey::Phone).map_err(|e| {
            format!("{e} (a contact is an E.164 number, a WhatsApp user id such as US.1234… or an email address)")
        })
    }

    /// Reads a contact that must be reachable on WhatsApp: a phone number
    /// or a user id.
    pub fn parse_whatsapp(input: &str) -> Result<ContactKey, String> {
        match ContactKey::parse(input)? {
            ContactKey::Email(_) => Err(format!(
                "{input:?} is an email address; give the WhatsApp number (+E164) or user id"
            )),
            key => Ok(key),
        }
    }

    /// The key as the desk writes it back.
    pub fn label(&self) -> &str {
        match self {
            ContactKey::Phone(s) | ContactKey::UserId(s) | ContactKey::Email(s) => s,
        }
    }
}

/// A Meta business-scoped user id: `CC.digits`, sometimes with more dotted parts.
pub fn looks_like_user_id(raw: &str) -> bool {
    let raw = raw.trim();
    raw.len() <= 128
        && raw.contains('.')
        && raw
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn id_for_phone(e164: &str) -> String {
    crate::ids::short_hash("c", &["phone", e164])
}

pub fn id_for_user(user_id: &str) -> String {
    crate::ids::short_hash("c", &["user", user_id])
}

pub fn id_for_email(email: &str) -> String {
    crate::ids::short_hash("c", &["email", email])
}

/// The contact id a key names, whether or not the contact exists yet: a
/// user id that a phone contact carries is that contact.
pub async fn lookup(conn: &mut AnyConnection, key: &ContactKey) -> StoreResult<String> {
    match key {
        ContactKey::Phone(p) => Ok(id_for_phone(p)),
        ContactKey::UserId(u) => Ok(phone_contact_of_user(conn, u)
            .await?
            .unwrap_or_else(|| id_for_user(u))),
        ContactKey::Email(e) => {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT id FROM contacts WHERE email = $1 ORDER BY phone IS NULL, id LIMIT 1",
            )
            .bind(e)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(found.unwrap_or_else(|| id_for_email(e)))
        }
    }
}

/// The contact id a key names, creating the contact when it is new.
pub async fn resolve(
    tx: &mut Transaction<'_, Any>,
    key: &ContactKey,
    now: Millis,
) -> StoreResult<String> {
    let id = lookup(tx, key).await?;
    let (phone, user, email) = match key {
        ContactKey::Phone(p) => (Some(p.as_str()), None, None),
        ContactKey::UserId(u) => (None, Some(u.as_str()), None),
        ContactKey::Email(e) => (None, None, Some(e.as_str())),
    };
    sqlx::query(
        "INSERT INTO contacts (id, phone, wa_user_id, email, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(phone)
    .bind(user)
    .bind(email)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The phone contact that carries a user id, if one does.
async fn phone_contact_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM contacts WHERE wa_user_id = $1 AND phone IS NOT NULL ORDER BY created_at, id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// For each user id that a phone contact carries, that contact's phone
/// number (one query; the oldest contact when several do).
pub async fn phones_of_users(
    conn: &mut AnyConnection,
    user_ids: &[&str],
) -> StoreResult<Vec<(String, String)>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT wa_user_id, phone FROM contacts WHERE phone IS NOT NULL AND wa_user_id IN ({}) \
         ORDER BY created_at DESC, id DESC",
        placeholders(1, user_ids.len())
    );
    let mut q = sqlx::query(&sql);
    for u in user_ids {
        q = q.bind(*u);
    }
    // Oldest last, so collecting into a map keeps the oldest.
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Which of these contact ids are records known only by a user id.
pub async fn user_only_records(conn: &mut AnyConnection, ids: &[&str]) -> StoreResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id FROM contacts WHERE phone IS NULL AND id IN ({}) ORDER BY id",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query_scalar(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

/// Every contact id that is the same person: the contact and any record
/// sharing its WhatsApp user id (a record a join has not reached yet).
pub async fn same_person(conn: &mut AnyConnection, contact_id: &str) -> StoreResult<Vec<String>> {
    let mut ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE wa_user_id IS NOT NULL AND wa_user_id = \
         (SELECT wa_user_id FROM contacts WHERE id = $1) ORDER BY id",
    )
    .bind(contact_id)
    .fetch_all(&mut *conn)
    .await?;
    if !ids.iter().any(|i| i == contact_id) {
        ids.insert(0, contact_id.to_string());
    }
    Ok(ids)
}

/// Tables whose rows belong to one contact, by `contact_id`.
const OWNED: [&str; 8] = [
    "events",
    "preference_events",
    "outbound_messages",
    "conversions",
    "journey_exclusions",
    "reviews",
    "delivery_failures",
    "external_preferences",
];

/// What a join did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub rows_moved: u64,
    /// Open conversations of the joined record folded into the contact's own.
    pub conversations_folded: u64,
}

/// Joins the record `from` into the contact `into`: everything `from` owns
/// moves to `into`, an open conversation of `from` on a channel where
/// `into` has one too is folded into the older of the two, and `from` is
/// deleted. Runs inside the caller's transaction.
pub async fn join(
    tx: &mut Transaction<'_, Any>,
    from: &str,
    into: &str,
    now: Millis,
) -> StoreResult<Joined> {
    if from == into {
        return Ok(Joined::default());
    }
    let mut joined = Joined::default();
    // Rows first, conversations after: a PostgreSQL router holding some of
    // these events waits for nothing this transaction holds.
    for table in OWNED {
        let sql = format!("UPDATE {table} SET contact_id = $1 WHERE contact_id = $2");
        joined.rows_moved += sqlx::query(&sql)
            .bind(into)
            .bind(from)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    joined.conversations_folded = move_conversations(tx, from, into, now).await?;
    sqlx::query(
        "UPDATE contacts SET name = COALESCE(contacts.name, (SELECT f.name FROM contacts f WHERE f.id = $2)), \
           email = COALESCE(contacts.email, (SELECT f.email FROM contacts f WHERE f.id = $2)), \
           wa_user_id = COALESCE(contacts.wa_user_id, (SELECT f.wa_user_id FROM contacts f WHERE f.id = $2)), \
           wa_id = COALESCE(contacts.wa_id, (SELECT f.wa_id FROM contacts f WHERE f.id = $2)), \
           updated_at = $3 WHERE id = $1",
    )
    .bind(into)
    .bind(from)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(joined)
}

/// Moves `from`'s conversations to `into`, folding open ones that would
/// stand beside an open one of `into` on the same channel.
async fn move_conversations(
    tx: &mut Transaction<'_, Any>,
    from: &str,
    into: &str,
    now: Millis,
) -> StoreResult<u64> {
    let rows = sqlx::query(
        "SELECT f.id, i.id, f.opened_at, i.opened_at FROM conversations f JOIN conversations i \
           ON i.contact_id = $2 AND i.channel = f.channel AND i.status = 'open' \
         WHERE f.contact_id = $1 AND f.status = 'open'",
    )
    .bind(from)
    .bind(into)
    .fetch_all(&mut **tx)
    .await?;
    let mut folded = 0;
    for r in rows {
        let (theirs, ours): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let (their_open, our_open): (Millis, Millis) = (r.try_get(2)?, r.try_get(3)?);
        let (keep, fold) = if their_open < our_open {
            (theirs, ours)
        } else {
            (ours, theirs)
        };
        crate::conversations::merge::fold(tx, &fold, &keep, now).await?;
        folded += 1;
    }
    sqlx::query("UPDATE conversations SET contact_id = $1 WHERE contact_id = $2")
        .bind(into)
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_recognized() {
        assert!(looks_like_user_id("US.13491208655302741918"));
        assert!(looks_like_user_id("US.ENT.11815799212886844830"));
        assert!(!looks_like_user_id("foo_bar"));
        assert!(!looks_like_user_id("16315551234"));
    }

    #[test]
    fn every_key_is_read_from_one_field() {
        assert_eq!(
            ContactKey::parse("+52 1 55 1234 5678"),
            Ok(ContactKey::Phone("+525512345678".into()))
        );
        assert_eq!(
            ContactKey::parse("US.13491208655302741918"),
            Ok(ContactKey::UserId("US.13491208655302741918".into()))
        );
        assert_eq!(
            ContactKey::parse(" Ana@Example.com "),
            Ok(ContactKey::Email("ana@example.com".into()))
        );
        let error = ContactKey::parse("hello").unwrap_err();
        assert!(error.contains("E.164"), "{error}");
        assert!(ContactKey::parse_whatsapp("ana@example.com").is_err());
    }

    #[test]
    fn contact_ids_are_stable_and_opaque() {
        let id = id_for_phone("+16315551234");
        assert_eq!(id, id_for_phone("+16315551234"));
        assert!(!id.contains("6315551234"));
        assert_ne!(id, id_for_user("+16315551234"));
    }
}
