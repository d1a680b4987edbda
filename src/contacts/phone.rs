//! Phone numbers: one parser for every boundary. What a webhook carries
//! (`wa_id`, `whatsapp:+…`), what a person types (`+44 7700 900123`) and
//! what another system posts to the API all become one canonical E.164, the
//! desk's key for the number.
//!
//! A number is accepted when it is *possible*: a country calling code the
//! numbering plan has, and a national number of a length that code uses
//! (libphonenumber's metadata, through the `phonenumber` crate). It need not
//! be *valid* today: Meta's test numbers (`+1 555 …`) and ranges kept for
//! fiction are possible but not valid, and the desk must answer for every
//! number a provider sent it.
//!
//! WhatsApp writes the mobiles of three countries differently from the
//! E.164 a CRM holds; both forms become one canonical number (the README's
//! "Phone numbers" section gives the sources):
//! - Mexico: `52 1` + 10 digits, the mobile prefix Mexico retired in 2019,
//!   is `+52` + the 10 digits.
//! - Brazil: `55` + area code + 8 digits beginning 6–9 is a mobile written
//!   without the ninth digit every Brazilian mobile has had since 2016; it is
//!   `+55` + area code + `9` + the 8 digits. Landlines (8 digits beginning
//!   2–5) are left alone.
//! - Argentina: a mobile is `+54 9` + 10 digits from abroad, and many
//!   systems keep it as `+54` + the 10 digits; both are `+54 9` + 10 digits.
//!   Argentina never gives the same 10 digits to a landline and a mobile,
//!   so joining them cannot merge two people.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Why a text is not a phone number, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("{0:?} has no country code; write it in international form, e.g. +447700900123")]
    NoCountryCode(String),
    #[error("{0:?} is not a phone number: {1}")]
    NotANumber(String, String),
    #[error("{0:?} has no country code the numbering plan knows (+{1}…)")]
    UnknownCountry(String, String),
    #[error("{input:?} has {got} digits after +{code}; numbers there have {expected}")]
    Length {
        input: String,
        code: u16,
        got: usize,
        expected: String,
    },
}

/// A number as WhatsApp gave it: the desk's canonical E.164 and the
/// `wa_id` the provider used, which is what a reply is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaNumber {
    pub e164: String,
    pub wa_id: String,
}

/// Parses a number typed by a person or sent by another system, in
/// international form (`+44 7911 123456`, `+1 (415) 555-0100`,
/// `whatsapp:+5215512345678`), into the canonical E.164. Numbers without a
/// country code are refused: the desk serves many countries and will not
/// guess.
pub fn parse(input: &str) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    let bare = trimmed.strip_prefix("whatsapp:").unwrap_or(trimmed).trim();
    if !bare.starts_with('+') {
        return Err(PhoneError::NoCountryCode(trimmed.to_string()));
    }
    // The crate reads the text a person wrote (spaces, brackets, a national
    // prefix in brackets) and splits off the country code.
    let number = phonenumber::parse(None, bare)
        .map_err(|e| PhoneError::NotANumber(trimmed.to_string(), e.to_string()))?;
    let code = number.code().value();
    canonical(trimmed, code, &number.national().to_string())
}

/// Reads a WhatsApp id as the providers send it (`16315551234`,
/// `+16315551234`): already international digits. `None` when it is not a
/// possible phone number (a business-scoped user id, a placeholder).
pub fn from_wa_id(raw: &str) -> Option<WaNumber> {
    let raw = raw.trim();
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (code, national) = split_country_code(digits)?;
    let e164 = canonical(raw, code, national).ok()?;
    Some(WaNumber {
        e164,
        wa_id: digits.to_string(),
    })
}

/// Parses the first time, so the crate's metadata is loaded before a request needs it.
pub fn warm_up() {
    let _ = parse("+14155550100");
    LazyLock::force(&LENGTHS);
}

/// For each country calling code, the lengths its national numbers have.
static LENGTHS: LazyLock<HashMap<u16, Vec<u16>>> = LazyLock::new(|| {
    let mut lengths: HashMap<u16, Vec<u16>> = HashMap::new();
    for meta in phonenumber::metadata::DATABASE.iter() {
        let entry = lengths.entry(meta.country_code()).or_default();
        // The metadata lists lengths per type of number (the general
        // description has none of its own): a number is possible when it
        // has the length of any type a person could hold.
        let d = meta.descriptors();
        let kinds = [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        for kind in kinds.into_iter().flatten() {
            entry.extend(kind.possible_length());
        }
        entry.extend(d.general().possible_length());
    }
    for list in lengths.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    lengths
});

/// Country calling codes are prefix-free: at most one of the first one,
/// two or three digits is a code.
fn split_country_code(digits: &str) -> Option<(u16, &str)> {
    (1..=3.min(digits.len())).find_map(|n| {
        let code: u16 = digits[..n].parse().ok()?;
        LENGTHS.contains_key(&code).then(|| (code, &digits[n..]))
    })
}

/// The canonical E.164 of a country code and national number, when the
/// number is possible.
fn canonical(input: &str, code: u16, national: &str) -> Result<String, PhoneError> {
    let Some(lengths) = LENGTHS.get(&code) else {
        return Err(PhoneError::UnknownCountry(
            input.to_string(),
            code.to_string(),
        ));
    };
    let national = whatsapp_form_to_e164(code, national);
    let got = national.len();
    let possible = u16::try_from(got).is_ok_and(|n| lengths.contains(&n));
    // E.164 caps the whole number at 15 digits.
    if !possible || code.to_string().len() + got > 15 {
        let expected = lengths
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(PhoneError::Length {
            input: input.to_string(),
            code,
            got,
            expected,
        });
    }
    Ok(format!("+{code}{national}"))
}

/// Rewrites the national number of the WhatsApp forms in the module's
/// notes to the mobile's E.164 form; anything else is returned as it is.
fn whatsapp_form_to_e164(code: u16, national: &str) -> String {
    let b = national.as_bytes();
    match code {
        52 if b.len() == 11 && b[0] == b'1' => national[1..].to_string(),
        55 if b.len() == 10 && b[0] != b'0' && (b'6'..=b'9').contains(&b[2]) => {
            format!("{}9{}", &national[..2], &national[2..])
        }
        54 if b.len() == 10 && b[0] != b'9' && b[0] != b'0' => format!("9{national}"),
        _ => national.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_e164() {
        assert_eq!(parse("+44 7911 123456").unwrap(), "+447911123456");
        assert_eq!(parse("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(parse("whatsapp:+31612345678").unwrap(), "+31612345678");
        assert!(matches!(
            parse("07700 900123"),
            Err(PhoneError::NoCountryCode(_))
        ));
        assert!(matches!(parse("+1 555"), Err(PhoneError::Length { .. })));
        assert!(parse("call me").is_err());
    }

    #[test]
    fn possible_numbers_are_accepted_though_not_valid_today() {
        // Meta's test numbers and the North American range kept for fiction.
        assert_eq!(parse("+15551230000").unwrap(), "+15551230000");
        assert_eq!(
            from_wa_id("15551230000").map(|w| w.e164).as_deref(),
            Some("+15551230000")
        );
        // UK drama numbers (Ofcom's 07700 900xxx).
        assert_eq!(parse("+44 7700 900123").unwrap(), "+447700900123");
    }

    #[test]
    fn wa_ids_are_read_and_kept_as_sent() {
        assert_eq!(
            from_wa_id("16315551234"),
            Some(WaNumber {
                e164: "+16315551234".into(),
                wa_id: "16315551234".into()
            })
        );
        assert_eq!(
            from_wa_id("+31612345678").map(|w| w.e164).as_deref(),
            Some("+31612345678")
        );
        for not_a_number in [
            "3170",
            "WHATSAPP_ID",
            "US.1234",
            "",
            "5678",
            "0031612345678",
        ] {
            assert_eq!(from_wa_id(not_a_number), None, "{not_a_number:?}");
        }
    }

    /// (WhatsApp's form, the E.164 a CRM holds): each pair is one number.
    const WHATSAPP_FORMS: [(&str, &str); 6] = [
        ("5215512345678", "+52 55 1234 5678"),
        ("5218112345678", "+52 81 1234 5678"),
        ("551187654321", "+55 11 98765 4321"),
        ("552199887766", "+55 21 99988 7766"),
        ("5491123456789", "+54 11 2345 6789"),
        ("5493514567890", "+54 351 456 7890"),
    ];

    #[test]
    fn whatsapp_forms_and_crm_forms_are_one_number() {
        for (wa, crm) in WHATSAPP_FORMS {
            let from_webhook = from_wa_id(wa).unwrap_or_else(|| panic!("{wa} is a number"));
            assert_eq!(from_webhook.wa_id, wa, "the provider's form is kept");
            assert_eq!(from_webhook.e164, parse(crm).unwrap(), "{wa} and {crm}");
            // Either form, typed, is the same number too.
            assert_eq!(parse(&format!("+{wa}")).unwrap(), from_webhook.e164, "{wa}");
        }
    }

    #[test]
    fn the_canonical_form_is_the_mobile_in_e164_today() {
        assert_eq!(parse("+52 1 55 1234 5678").unwrap(), "+525512345678");
        assert_eq!(parse("+55 11 8765 4321").unwrap(), "+5511987654321");
        assert_eq!(parse("+54 11 2345 6789").unwrap(), "+5491123456789");
        // Brazilian landlines and Mexico's ten-digit numbers stay as they are.
        assert_eq!(parse("+55 11 3456 7890").unwrap(), "+551134567890");
        assert_eq!(parse("+52 55 1234 5678").unwrap(), "+525512345678");
        assert_eq!(parse("+55 11 98765 4321").unwrap(), "+5511987654321");
    }
}
