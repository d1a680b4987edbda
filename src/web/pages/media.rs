//! Customers' files and agents' attachments, served only to people who may
//! see their conversation, with the type the desk detected from the bytes.
//! Anything that is not a plain image, audio or video is a download; SVG
//! and HTML are never shown in the page.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::media::{self, Served};
use crate::web::session::CurrentUser;
use crate::web::{AppState, WebError};

/// A customer's file, full size.
pub async fn file(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let served = media::open_for(&state.db, &state.media_files, &current.user, &id, false).await?;
    Ok(respond(served.ok_or(WebError::NotFound("file"))?))
}

/// Its thumbnail, made when it arrived.
pub async fn thumbnail(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let served = media::open_for(&state.db, &state.media_files, &current.user, &id, true).await?;
    Ok(respond(served.ok_or(WebError::NotFound("thumbnail"))?))
}

#[derive(Deserialize)]
pub struct Link {
    expires: i64,
    sig: String,
}

/// An agent's attachment, for Twilio to fetch through an expiring signed link.
pub async fn outbound(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(link): Query<Link>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let served = media::outbound_file(
        &state.db,
        &state.media_files,
        &id,
        link.expires,
        &link.sig,
        now,
    )
    .await?;
    Ok(respond(served.ok_or(WebError::NotFound("file"))?))
}

fn respond(s: Served) -> Response {
    let disposition = if s.inline {
        "inline".to_string()
    } else {
        attachment(&s.filename)
    };
    let mut response = s.bytes.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&s.mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A file never changes under its id; only the person's browser keeps it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    response
}

/// `attachment; filename="…"; filename*=UTF-8''…`: a plain ASCII name for
/// old browsers and the customer's own name for the rest.
fn attachment(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_cannot_break_out_of_its_header() {
        let d = attachment("factura \"mayo\".pdf\r\nX: y");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(
            d.starts_with("attachment; filename=\"factura _mayo_.pdf__X: y\""),
            "{d}"
        );
        assert!(
            d.contains("filename*=UTF-8''factura%20%22mayo%22.pdf%0D%0AX%3A%20y"),
            "{d}"
        );
    }
}
