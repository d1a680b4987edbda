//! How times, clocks and contacts read on pages. One place, so every page
//! says "overdue by 2h 5m" the same way.

use crate::clock::Millis;

/// `2026-11-26 14:05 UTC`.
pub fn when(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| "-".into(),
        |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// RFC 3339, for `<time datetime>`.
pub fn iso(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// A duration as people say it: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The SLA clock: its words and a class (`ok`, `risk`, `overdue`). A clock
/// is at risk from its policy's at-risk instant on.
pub fn sla(due: Option<Millis>, at_risk: Option<Millis>, now: Millis) -> (String, &'static str) {
    match due {
        None => ("no clock".into(), "ok"),
        Some(d) if d <= now => (format!("overdue by {}", span(now - d)), "overdue"),
        Some(d) if at_risk.is_some_and(|r| r <= now) => {
            (format!("due in {}", span(d - now)), "risk")
        }
        Some(d) => (format!("due in {}", span(d - now)), "ok"),
    }
}

/// `+44 79•• •••456`: enough to recognise, not enough to copy from a shoulder.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return phone.to_string();
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i >= 5 && i < chars.len() - 3 {
                '•'
            } else {
                *c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_like_people_talk() {
        assert_eq!(
            sla(Some(10_000), None, 10_000 + 3_900_000),
            ("overdue by 1h 5m".into(), "overdue")
        );
        assert_eq!(
            sla(Some(10_000 + 600_000), Some(5_000), 10_000),
            ("due in 10m".into(), "risk")
        );
        assert_eq!(
            sla(Some(2 * 86_400_000 + 3_600_000), Some(86_400_000), 0).1,
            "ok"
        );
        assert_eq!(span(2 * 86_400_000 + 3_600_000), "2d 1h");
    }

    #[test]
    fn phones_are_masked_in_lists() {
        assert_eq!(mask_phone("+447911123456"), "+4479•••••456");
    }
}
