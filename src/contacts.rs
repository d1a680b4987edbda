//! Contacts as people and machines name them: phone numbers typed by humans
//! or sent by other systems, normalized to E.164 with the `phonenumber` crate.

use crate::clock::Millis;
use crate::ingest::event::contact_id_for_phone;
use crate::store::StoreError;

/// Parses a phone number given in international form (`+44 7700 900123`,
/// `+1 (415) 555-0100`) into E.164. Numbers without a country code are
/// refused: the desk serves many countries and will not guess.
pub fn parse_phone(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if !trimmed.starts_with('+') {
        return Err(format!(
            "{trimmed:?} has no country code; write it in international form, e.g. +447700900123"
        ));
    }
    let number = phonenumber::parse(None, trimmed)
        .map_err(|e| format!("{trimmed:?} is not a phone number: {e}"))?;
    if !phonenumber::is_valid(&number) {
        return Err(format!("{trimmed:?} is not a valid phone number"));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Parses the first time, so the crate's metadata is loaded before a request needs it.
pub fn warm_up() {
    let _ = parse_phone("+14155550100");
}

/// Makes sure a contact row exists for an E.164 number; returns its id.
pub async fn ensure<'c, E>(executor: E, phone: &str, now: Millis) -> Result<String, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let id = contact_id_for_phone(phone);
    sqlx::query(
        "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(phone)
    .bind(now)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_e164() {
        assert_eq!(parse_phone("+44 7911 123456").unwrap(), "+447911123456");
        assert_eq!(parse_phone("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert!(
            parse_phone("07700 900123")
                .unwrap_err()
                .contains("country code")
        );
        assert!(parse_phone("+1 555").is_err());
    }
}
