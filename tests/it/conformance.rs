//! Every real provider body in `../shared/conformance/webhooks` is accepted:
//! stored as events or kept as a dead letter, none refused, none lost.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::Value;
use std::path::Path;

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

on_both_databases! {
    needs [SHARED]
    async fn every_real_provider_payload_is_accepted_and_none_is_lost(app: TestApp) {
        let root = shared().join("conformance/webhooks");
        let mut posted = 0;
        let mut dead = Vec::new();
        for path in files(&root.join("meta"), "json") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.contains("signature_vector") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let sig = replydesk::providers::meta::sign(META_SECRET, &body);
            let r = app.post_meta_to("main", &body, Some(&sig)).await;
            assert_eq!(r.status(), 200, "{name} was not accepted");
            let v: Value = r.json().await.unwrap();
            if v["dead_letter"] == true {
                dead.push(name.clone());
            }
            posted += 1;
        }
        for path in files(&root.join("twilio"), "form") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let body = std::fs::read(&path).unwrap();
            let pairs = replydesk::providers::twilio::parse_form(&body);
            let sig = replydesk::providers::twilio::sign(TWILIO_TOKEN, TWILIO_URL, &pairs);
            let r = app.post_twilio_raw(body, Some(&sig)).await;
            assert_eq!(r.status(), 200, "{name} was not accepted");
            posted += 1;
        }
        eprintln!("conformance: {posted} bodies posted, {} kept as dead letters: {dead:?}", dead.len());
        assert!(posted >= 170, "expected the whole conformance set, posted {posted}");
        // None lost: every distinct body is a stored payload row.
        let distinct = app.count("SELECT COUNT(*) FROM webhook_payloads").await;
        assert!(distinct >= posted - 10, "only {distinct} payload rows for {posted} posts (identical bodies share a row)");
        // Every payload either produced events or is a dead letter with a reason.
        let silent = app.count(
            "SELECT COUNT(*) FROM webhook_payloads p WHERE p.problem IS NULL AND p.event_count = 0 \
             AND p.body NOT LIKE '%\"entry\":[]%' AND p.body NOT LIKE '%\"entry\": []%'"
        ).await;
        assert_eq!(silent, 0, "payloads that produced nothing and were not dead-lettered");
        // The reference set has real messages of each kind; check a few landed.
        for kind in ["message", "status", "echo", "preference", "notice"] {
            let n = app.count(&format!("SELECT COUNT(*) FROM events WHERE kind = '{kind}'")).await;
            assert!(n > 0, "no {kind} events from the conformance set");
        }
    }
}

crate::each_database! {
    needs [SHARED]
    async fn a_body_signed_by_meta_itself_verifies_byte_for_byte(backend: Backend) {
        let dir = shared().join("conformance/webhooks/meta");
        let vector: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("pywa__signed__signature_vector.json")).unwrap(),
        )
        .unwrap();
        let body = std::fs::read(dir.join(vector["body_file"].as_str().unwrap())).unwrap();
        let secret = vector["app_secret"].as_str().unwrap();
        let extra = format!(
            "[[channel]]\nname = \"pywa\"\nprovider = \"meta\"\napp_secret = \"{secret}\"\nverify_token = \"x\"\n"
        );
        let app = TestApp::spawn_with(backend, &extra).await;
        let header = vector["x_hub_signature_256"].as_str().unwrap();
        let r = app.post_meta_to("pywa", &body, Some(header)).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["stored"], 1);
        // Any re-serialization breaks the signature.
        let mut altered = body.clone();
        altered.push(b'\n');
        assert_eq!(
            app.post_meta_to("pywa", &altered, Some(header))
                .await
                .status(),
            401
        );
    }
}
