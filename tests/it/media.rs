//! Media in conversations, against the stand-in provider: every kind of
//! file fetched (Meta's two steps, Twilio's Basic auth and redirect) and
//! shown; a wrong hash, an oversized file and an expired link; files served
//! only to those who may see the conversation, with the detected type; and
//! an agent's attachment sent through both providers.

use crate::each_database;
use crate::helpers::*;
use crate::stand_in::{StandIn, StoredMedia};
use serde_json::{Value, json};
use std::io::Cursor;

const WA: &str = "16315558044";

async fn desk(backend: Backend) -> (TestApp, StandIn) {
    desk_with(backend, "").await
}

/// A desk whose links point at `https://desk.example.com`, with `extra` config.
async fn desk_with(backend: Backend, extra: &str) -> (TestApp, StandIn) {
    let provider = StandIn::start().await;
    let p = provider.clone();
    let extra = format!("public_url = \"https://desk.example.com\"\n{extra}");
    let app = TestApp::spawn_configured(backend, &extra, move |c| p.channel_settings(c)).await;
    (app, provider)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, 160])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn webp() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(96, 96, |x, y| {
        image::Rgba([
            200,
            (x % 256) as u8,
            (y % 256) as u8,
            if x < 48 { 255 } else { 0 },
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::WebP).unwrap();
    out.into_inner()
}

/// The first bytes of an Ogg Opus voice note (an `OpusHead` page).
pub fn ogg_opus() -> Vec<u8> {
    let mut b = b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13".to_vec();
    b.extend_from_slice(b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    b.resize(2048, 0);
    b
}

fn mp4() -> Vec<u8> {
    let mut b = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41".to_vec();
    b.resize(4096, 0);
    b
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

fn held(bytes: Vec<u8>, mime: &str) -> StoredMedia {
    StoredMedia {
        bytes,
        mime: mime.into(),
        ..StoredMedia::default()
    }
}

/// A Meta media message of `kind` whose file is media id `media_id`.
async fn meta_file(app: &TestApp, id: &str, kind: &str, part: Value) -> u16 {
    let body = meta_message(
        WA,
        json!({ "id": id, "timestamp": (T0 / 1000).to_string(), "type": kind, kind: part }),
    );
    app.post_meta(&body).await.status().as_u16()
}

async fn fetch_now(app: &TestApp) -> usize {
    app.state.media_fetcher.run_once().await.unwrap()
}

async fn media_row(
    app: &TestApp,
    event_provider_id: &str,
) -> (String, String, Option<String>, Option<String>) {
    use sqlx::Row;
    let r = sqlx::query(
        "SELECT m.id, m.state, m.error, m.detected_type FROM media m JOIN events e ON e.dedupe_key = m.event_key \
         WHERE e.provider_id = $1 ORDER BY m.position",
    )
    .bind(event_provider_id)
    .fetch_one(app.db().reader())
    .await
    .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

async fn rule_of(app: &TestApp, provider_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT rule_id FROM events WHERE provider_id = $1")
        .bind(provider_id)
        .fetch_one(app.db().reader())
        .await
        .unwrap()
}

async fn conversation_of(app: &TestApp, provider_id: &str) -> String {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT conversation_id FROM events WHERE provider_id = $1",
    )
    .bind(provider_id)
    .fetch_one(app.db().reader())
    .await
    .unwrap()
    .expect("routed")
}

each_database! {
    async fn every_kind_of_file_is_fetched_and_shown_on_the_conversation(backend: Backend) {
        let (app, provider) = desk(backend).await;
        let photo = png(1200, 900);
        provider.put_media("9001", held(photo.clone(), "image/png"));
        provider.put_media("9002", held(ogg_opus(), "audio/ogg; codecs=opus"));
        provider.put_media("9003", held(mp4(), "video/mp4"));
        provider.put_media("9004", held(pdf(), "application/pdf"));
        provider.put_media("9005", held(webp(), "image/webp"));
        assert_eq!(meta_file(&app, "wamid.VOICE", "audio", json!({"id": "9002", "mime_type": "audio/ogg; codecs=opus", "voice": true})).await, 200);
        assert_eq!(meta_file(&app, "wamid.IMG", "image", json!({"id": "9001", "mime_type": "image/png", "caption": "the box arrived like this"})).await, 200);
        assert_eq!(meta_file(&app, "wamid.VID", "video", json!({"id": "9003", "mime_type": "video/mp4"})).await, 200);
        assert_eq!(meta_file(&app, "wamid.DOC", "document", json!({"id": "9004", "mime_type": "application/pdf", "filename": "invoice-May.pdf"})).await, 200);
        assert_eq!(meta_file(&app, "wamid.STK", "sticker", json!({"id": "9005", "mime_type": "image/webp", "animated": false})).await, 200);
        assert_eq!(meta_file(&app, "wamid.LOC", "location", json!({"latitude": 52.370216, "longitude": 4.895168, "name": "Dam Square", "address": "Dam, Amsterdam"})).await, 200);
        assert_eq!(meta_file(&app, "wamid.CARD", "contacts", json!([{"name": {"formatted_name": "Piet de Vries", "first_name": "Piet"}, "phones": [{"phone": "+31 6 1234 5678", "wa_id": "31612345678", "type": "CELL"}]}])).await, 200);
        let (_, state, _, _) = media_row(&app, "wamid.IMG").await;
        assert_eq!(state, "pending", "the webhook was answered before any download");
        app.route_now().await;
        assert_eq!(fetch_now(&app).await, 5);
        for (id, mime) in [("wamid.IMG", "image/png"), ("wamid.VOICE", "audio/opus"), ("wamid.VID", "video/mp4"), ("wamid.DOC", "application/pdf"), ("wamid.STK", "image/webp")] {
            let (_, state, error, detected) = media_row(&app, id).await;
            assert_eq!(state, "stored", "{id}: {error:?}");
            assert_eq!(detected.as_deref(), Some(mime), "{id}");
        }
        assert_eq!(fetch_now(&app).await, 0, "nothing is fetched twice");
        assert_eq!(rule_of(&app, "wamid.VOICE").await.as_deref(), Some("media-without-caption"), "a file without words is classified by rules/90-media.toml");
        assert_ne!(rule_of(&app, "wamid.IMG").await.as_deref(), Some("media-without-caption"), "a caption is classified by its words");
        let conversation = conversation_of(&app, "wamid.IMG").await;
        let svc = app.sign_in_as("svc@example.com", "agent").await;
        let page = svc.get(&format!("/conversations/{conversation}")).await.text().await.unwrap();
        let (img, ..) = media_row(&app, "wamid.IMG").await;
        let (voice, ..) = media_row(&app, "wamid.VOICE").await;
        let (video, ..) = media_row(&app, "wamid.VID").await;
        let (doc, ..) = media_row(&app, "wamid.DOC").await;
        let (sticker, ..) = media_row(&app, "wamid.STK").await;
        assert!(page.contains(&format!("<a href=\"/media/{img}\" target=\"_blank\" rel=\"noopener\" title=\"Open full size\"><img src=\"/media/{img}/thumb\"")), "a photo is a thumbnail that opens full size: {page}");
        assert!(page.contains("the box arrived like this"), "the caption is beside it");
        assert!(page.contains(&format!("<audio controls preload=\"metadata\" src=\"/media/{voice}\"")), "a voice note has a player");
        assert!(page.contains(&format!("<video controls preload=\"metadata\" src=\"/media/{video}\"")), "a video has a player");
        assert!(page.contains(&format!("href=\"/media/{doc}\" download=\"invoice-May.pdf\"")), "a document is a download with its name");
        assert!(page.contains("application/pdf"), "and its type");
        assert!(page.contains(&format!("<img src=\"/media/{sticker}/thumb\"")), "a sticker is shown");
        let place = page.find("class=\"place\"").map(|i| &page[i..(i + 400).min(page.len())]).unwrap_or("(none)");
        assert!(page.contains("52.370216, 4.895168") && page.contains("https://www.openstreetmap.org/?mlat=52.370216&#38;mlon=4.895168"), "a location has its coordinates and a map link: {place}");
        assert!(page.contains("Piet de Vries") && page.contains("+31 6 1234 5678"), "a contact card has its name and number");
        // The thumbnail was made once, small, and is what the page loads.
        let thumb = svc.get(&format!("/media/{img}/thumb")).await;
        assert_eq!(thumb.status(), 200);
        assert_eq!(thumb.headers()["content-type"], "image/jpeg");
        let small = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
        assert_eq!((small.width(), small.height()), (320, 240));
        let full = svc.get(&format!("/media/{img}")).await;
        assert_eq!(full.headers()["content-type"], "image/png");
        assert_eq!(full.bytes().await.unwrap().to_vec(), photo, "full size is the customer's own file");
        // The queue preview shows the file too.
        let queue = svc.get("/queue").await.text().await.unwrap();
        assert!(queue.contains("class=\"thumb-mini\"") || queue.contains("class=\"media-tag\""), "{queue}");
        assert_eq!(provider.refused_auth(), 0);
    }
}

each_database! {
    async fn a_twilio_file_is_read_with_basic_auth_through_its_redirect_and_kept_in_a_directory(backend: Backend) {
        let files = tempfile::tempdir().unwrap();
        let (app, provider) = desk_with(backend, &format!("[media]\ndirectory = \"{}\"", files.path().display())).await;
        provider.put_media("ME0001", held(png(640, 480), "image/png"));
        provider.put_media("ME0002", held(pdf(), "application/pdf"));
        let form = params(&[
            ("MessageSid", "SM00000000000000000000000000000077"), ("AccountSid", crate::stand_in::TWILIO_SID),
            ("From", "whatsapp:+31612345679"), ("To", "whatsapp:+14155238886"), ("Body", "my invoice and the label"),
            ("NumMedia", "2"), ("MediaUrl0", &provider.twilio_media_url("ME0001")), ("MediaContentType0", "image/png"),
            ("MediaUrl1", &provider.twilio_media_url("ME0002")), ("MediaContentType1", "application/pdf"),
            ("ProfileName", "Jan"), ("WaId", "31612345679"),
        ]);
        assert_eq!(app.post_twilio(&form).await.status(), 200);
        app.route_now().await;
        assert_eq!(fetch_now(&app).await, 2);
        let states: Vec<(String, Option<String>)> = sqlx::query_as("SELECT state, detected_type FROM media ORDER BY position")
            .fetch_all(app.db().reader()).await.unwrap();
        assert_eq!(states, vec![("stored".to_string(), Some("image/png".to_string())), ("stored".to_string(), Some("application/pdf".to_string()))],
            "both files fetched; the CDN refuses any request that still carries the credentials");
        let (photo, ..) = media_row(&app, "SM00000000000000000000000000000077").await;
        assert!(files.path().join(&photo).is_file() && files.path().join(format!("{photo}.thumb")).is_file(), "kept in the directory");
        assert_eq!(app.count("SELECT COUNT(*) FROM media_files").await, 0, "and not in the database");
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let r = admin.get(&format!("/media/{photo}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), std::fs::metadata(files.path().join(&photo)).unwrap().len() as usize);
        // A MediaUrl that is not Twilio's API never gets the credentials.
        let form = params(&[
            ("MessageSid", "SM00000000000000000000000000000078"), ("AccountSid", crate::stand_in::TWILIO_SID),
            ("From", "whatsapp:+31612345679"), ("To", "whatsapp:+14155238886"),
            ("NumMedia", "1"), ("MediaUrl0", "http://attacker.example/x.png"), ("MediaContentType0", "image/png"),
        ]);
        assert_eq!(app.post_twilio(&form).await.status(), 200);
        fetch_now(&app).await;
        let error: Option<String> = sqlx::query_scalar("SELECT error FROM media WHERE source = 'http://attacker.example/x.png'")
            .fetch_one(app.db().reader()).await.unwrap();
        assert!(error.unwrap().contains("not an address of Twilio's API"));
    }
}

each_database! {
    async fn a_wrong_hash_or_an_oversized_file_is_refused_and_an_expired_link_is_asked_again(backend: Backend) {
        let (app, provider) = desk(backend).await;
        provider.put_media("9101", StoredMedia { sha256: Some("bm90IHRoZSBoYXNoIG9mIHRoaXMgZmlsZQ==".into()), ..held(png(10, 10), "image/png") });
        provider.put_media("9102", StoredMedia { file_size: Some(6 * 1024 * 1024), ..held(png(10, 10), "image/png") });
        provider.put_media("9103", StoredMedia { expire_links_before: 1, ..held(png(30, 20), "image/png") });
        provider.put_media("9104", StoredMedia { fail_lookups: 1, ..held(pdf(), "application/pdf") });
        let mut big = webp();
        big.resize(600 * 1024, 0);
        provider.put_media("9105", held(big, "image/webp"));
        meta_file(&app, "wamid.H", "image", json!({"id": "9101", "mime_type": "image/png"})).await;
        meta_file(&app, "wamid.S", "image", json!({"id": "9102", "mime_type": "image/png"})).await;
        meta_file(&app, "wamid.E", "image", json!({"id": "9103", "mime_type": "image/png"})).await;
        meta_file(&app, "wamid.T", "document", json!({"id": "9104", "mime_type": "application/pdf", "filename": "a.pdf"})).await;
        meta_file(&app, "wamid.B", "sticker", json!({"id": "9105", "mime_type": "image/webp", "animated": true})).await;
        app.route_now().await;
        fetch_now(&app).await;
        let (_, state, error, _) = media_row(&app, "wamid.H").await;
        assert_eq!(state, "failed");
        assert!(error.as_deref().unwrap().contains("SHA-256 does not match"), "{error:?}");
        let (_, state, error, _) = media_row(&app, "wamid.S").await;
        assert_eq!(state, "failed");
        assert!(error.as_deref().unwrap().contains("larger than WhatsApp allows") && error.as_deref().unwrap().contains("5.0 MB"), "{error:?}");
        let (_, state, error, _) = media_row(&app, "wamid.B").await;
        assert_eq!(state, "failed", "a sticker over 500 KB is refused while it downloads");
        assert!(error.as_deref().unwrap().contains("larger than WhatsApp allows"), "{error:?}");
        let (_, state, _, _) = media_row(&app, "wamid.E").await;
        assert_eq!(state, "stored", "an expired link is asked for again");
        assert_eq!(provider.lookups("9103"), 2);
        let (_, state, error, _) = media_row(&app, "wamid.T").await;
        assert_eq!(state, "pending", "a temporary error waits and tries again");
        assert!(error.as_deref().unwrap().contains("trying again"), "{error:?}");
        app.clock.advance(5_000);
        fetch_now(&app).await;
        assert_eq!(media_row(&app, "wamid.T").await.1, "stored");
        // The agent sees why a file is missing.
        let conversation = conversation_of(&app, "wamid.H").await;
        let svc = app.sign_in_as("svc@example.com", "agent").await;
        let page = svc.get(&format!("/conversations/{conversation}")).await.text().await.unwrap();
        assert!(page.contains("could not be fetched") && page.contains("SHA-256 does not match"), "{page}");
    }
}

each_database! {
    async fn a_file_is_served_only_to_those_who_may_see_its_conversation_with_the_type_of_its_bytes(backend: Backend) {
        let (app, provider) = desk(backend).await;
        provider.put_media("9201", held(png(50, 50), "image/png"));
        // Claimed a JPEG photo, but the bytes are a web page with a script.
        provider.put_media("9202", held(b"<html><body><script>alert(document.cookie)</script></body></html>".to_vec(), "image/jpeg"));
        provider.put_media("9203", held(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(), "image/svg+xml"));
        meta_file(&app, "wamid.OK", "image", json!({"id": "9201", "mime_type": "image/png"})).await;
        meta_file(&app, "wamid.HTML", "image", json!({"id": "9202", "mime_type": "image/jpeg"})).await;
        meta_file(&app, "wamid.SVG", "document", json!({"id": "9203", "mime_type": "image/svg+xml", "filename": "logo.svg"})).await;
        app.route_now().await;
        fetch_now(&app).await;
        let (ok, ..) = media_row(&app, "wamid.OK").await;
        let (html, ..) = media_row(&app, "wamid.HTML").await;
        let (svg, ..) = media_row(&app, "wamid.SVG").await;
        let owner = app.sign_in_as("svc@example.com", "agent").await;
        let other_team = app.sign_in_as("agent@example.com", "agent").await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let r = owner.get(&format!("/media/{ok}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["content-disposition"], "inline");
        assert_eq!(admin.get(&format!("/media/{ok}")).await.status(), 200, "administrators see every conversation");
        assert_eq!(other_team.get(&format!("/media/{ok}")).await.status(), 404, "another team's agent does not learn the file exists");
        assert_eq!(other_team.get(&format!("/media/{ok}/thumb")).await.status(), 404);
        let anonymous = app.client.get(app.url(&format!("/media/{ok}"))).send().await.unwrap();
        assert!(anonymous.url().path() == "/login" || anonymous.status() == 401 || anonymous.status() == 303, "signed out: {}", anonymous.status());
        let r = owner.get(&format!("/media/{html}")).await;
        assert_eq!(r.headers()["content-type"], "text/html", "the type of the bytes, not the provider's claim");
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"), "HTML is never shown inline");
        assert_eq!(owner.get(&format!("/media/{html}/thumb")).await.status(), 404, "no thumbnail is made of what is not an image");
        let r = owner.get(&format!("/media/{svg}")).await;
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"logo.svg\"; filename*=UTF-8''logo.svg");
        let conversation = conversation_of(&app, "wamid.HTML").await;
        let page = owner.get(&format!("/conversations/{conversation}")).await.text().await.unwrap();
        assert!(!page.contains(&format!("<img src=\"/media/{html}")), "a fake photo is not put in an img");
    }
}

each_database! {
    async fn an_agent_attaches_an_image_through_meta_and_a_document_through_twilio(backend: Backend) {
        let (app, provider) = desk(backend).await;
        let id = app.conversation_for(WA, "wamid.ASKF", "How much does it cost?").await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        assert!(page.contains("id=\"attach-form\""), "the window is open: files may be attached");
        let key = hidden_field(&page, "idempotency_key");
        let photo = png(800, 600);
        let attach = |bytes: Vec<u8>, name: &'static str, key: String| {
            let form = reqwest::multipart::Form::new()
                .text("idempotency_key", key)
                .text("caption", "This is the model you asked about")
                .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str("application/octet-stream").unwrap());
            agent.client.post(format!("{}/conversations/{id}/attachment", agent.base))
                .header("hx-request", "true").header("x-csrf-token", &agent.csrf).multipart(form).send()
        };
        // Refused next to the field: a page pretending to be a photo, a photo over 5 MB.
        let r = attach(b"<html>hi</html>".to_vec(), "photo.jpg", format!("{key}-x")).await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"attach-file-error\"") && html.contains("WhatsApp takes images (JPEG, PNG) and documents"), "{html}");
        let mut huge = photo.clone();
        huge.resize(5 * 1024 * 1024 + 10, 0);
        let html = attach(huge, "big.png", format!("{key}-y")).await.unwrap().text().await.unwrap();
        assert!(html.contains("at most 5.0 MB"), "{html}");
        // Without the CSRF token, nothing is taken.
        let bare = reqwest::multipart::Form::new().text("idempotency_key", "z").part("file", reqwest::multipart::Part::bytes(photo.clone()).file_name("p.png"));
        let r = agent.client.post(format!("{}/conversations/{id}/attachment", agent.base)).multipart(bare).send().await.unwrap();
        assert_eq!(r.status(), 403);
        for _ in 0..2 {
            assert_eq!(attach(photo.clone(), "model.png", format!("{key}-a")).await.unwrap().status(), 200);
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM replies").await, 1, "the same form twice queues one message");
        app.state.reply_worker.run_once().await.unwrap();
        let uploads = provider.uploads();
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].phone_number_id, "106540352242922");
        assert_eq!(uploads[0].mime, "image/png", "the detected type, not the browser's");
        assert_eq!(uploads[0].bytes, photo);
        let sent = provider.received();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body["type"], "image");
        assert_eq!(sent[0].body["image"]["id"], "UPLOADED000001");
        assert_eq!(sent[0].body["image"]["caption"], "This is the model you asked about");
        assert_eq!(sent[0].body["to"], WA);
        let key_api = app.api_key().await;
        let list: Value = app.client.get(app.url(&format!("/api/v1/conversations/{id}/messages"))).bearer_auth(&key_api).send().await.unwrap().json().await.unwrap();
        let out = list["messages"].as_array().unwrap().iter().find(|m| m["direction"] == "out").unwrap().clone();
        assert_eq!(out["status"], "sent");
        let wamid = out["provider_message_id"].as_str().unwrap().to_string();
        app.post_meta(&meta_status(WA, &wamid, "read", T0 / 1000 + 9, None)).await;
        let reply_state: String = sqlx::query_scalar("SELECT state FROM replies").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(reply_state, "read", "tracked to read like any reply");

        // Twilio: the file goes as a MediaUrl under the desk's public_url, signed and expiring.
        let form = params(&[
            ("MessageSid", "SM00000000000000000000000000000091"), ("AccountSid", crate::stand_in::TWILIO_SID),
            ("From", "whatsapp:+31612345670"), ("To", "whatsapp:+14155238886"), ("Body", "Can you send me the invoice?"),
            ("NumMedia", "0"), ("ProfileName", "Jan"), ("WaId", "31612345670"),
        ]);
        assert_eq!(app.post_twilio(&form).await.status(), 200);
        app.route_now().await;
        let tw = conversation_of(&app, "SM00000000000000000000000000000091").await;
        let lead = app.sign_in_as("admin@example.com", "admin").await;
        let page = lead.get(&format!("/conversations/{tw}")).await.text().await.unwrap();
        let key = hidden_field(&page, "idempotency_key");
        let form = reqwest::multipart::Form::new()
            .text("idempotency_key", format!("{key}-a"))
            .text("caption", "Your invoice")
            .part("file", reqwest::multipart::Part::bytes(pdf()).file_name("invoice.pdf"));
        // A plain form (no htmx): the token rides in the action's query.
        let r = lead.client.post(format!("{}/conversations/{tw}/attachment?_csrf={}", lead.base, lead.csrf)).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), 303);
        app.state.reply_worker.run_once().await.unwrap();
        let sent = provider.received();
        let last = &sent.last().unwrap().body;
        assert_eq!(last["Body"], "Your invoice");
        let link = last["MediaUrl"].as_str().unwrap().to_string();
        assert!(link.starts_with("https://desk.example.com/media/out/"), "{link}");
        let path = link.trim_start_matches("https://desk.example.com");
        let fetched = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(fetched.status(), 200, "Twilio fetches it without a session");
        assert_eq!(fetched.headers()["content-type"], "application/pdf");
        assert_eq!(fetched.bytes().await.unwrap().to_vec(), pdf());
        let tampered = path.replace("sig=", "sig=00");
        assert_eq!(app.client.get(app.url(&tampered)).send().await.unwrap().status(), 404);
        app.clock.advance(3 * 3600 * 1000);
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 404, "the link expires");
        assert_eq!(provider.refused_auth(), 0);
    }
}
