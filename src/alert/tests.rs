//! The channels' body shapes.

use std::time::Duration;

use serde_json::Value;

use super::format::Context;
use super::{backoff, new_message_id};
use super::{pagerduty, slack, teams, webhook};
use crate::domain::ExposedField;
use crate::domain::incident::EventType;
use crate::domain::incident::IncidentState;
use crate::store::EventIncident;

fn inc(n: usize) -> Vec<EventIncident> {
    (0..n)
        .map(|i| EventIncident {
            id: format!("inc_{i}"),
            entry_ref: format!("R-{i}"),
            masked_number: "+45 13 50 •• ••".into(),
            exposed: vec![ExposedField::Number],
            state: IncidentState::Open,
            first_seen: time::OffsetDateTime::UNIX_EPOCH,
            last_seen: time::OffsetDateTime::UNIX_EPOCH,
            resolved_at: None,
            cohort: None,
            cohort_size: 0,
            exposed_in_cohort: 0,
        })
        .collect()
}

#[test]
fn slack_and_teams_name_the_count_and_the_first_refs() {
    let ctx = Context {
        dashboard_url: Some("https://unlistd.example.net/dashboard".into()),
        remaining_open: 0,
        details: None,
        takedown_contact: Some("fjernelse@118.example".into()),
    };
    let s: Value = serde_json::from_str(&slack::body(
        EventType::ExposureOpened,
        "118.dk",
        &inc(500),
        &ctx,
    ))
    .unwrap();
    assert_eq!(s["text"], "500 protected entries exposed on 118.dk");
    let text = s["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(text.contains("R-19") && !text.contains("R-20") && text.contains("480 more"));
    assert!(
        text.contains("Takedown contact: fjernelse@118.example"),
        "{text}"
    );
    assert_eq!(
        s["blocks"][2]["elements"][0]["url"],
        "https://unlistd.example.net/dashboard"
    );
    let t: Value = serde_json::from_str(&teams::body(
        EventType::ExposureOpened,
        "118.dk",
        &inc(3),
        &ctx,
    ))
    .unwrap();
    assert_eq!(
        t["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(t["attachments"][0]["content"]["type"], "AdaptiveCard");
}

#[test]
fn pagerduty_triggers_and_resolves_one_alert_per_site() {
    let ctx = Context::default();
    let open: Value = serde_json::from_str(&pagerduty::body(
        EventType::ExposureOpened,
        "118.dk",
        &inc(2),
        &ctx,
        "k",
    ))
    .unwrap();
    assert_eq!(open["event_action"], "trigger");
    assert_eq!(open["payload"]["severity"], "critical");
    let partial = Context {
        remaining_open: 1,
        ..Context::default()
    };
    let upd: Value = serde_json::from_str(&pagerduty::body(
        EventType::ExposureResolved,
        "118.dk",
        &inc(1),
        &partial,
        "k",
    ))
    .unwrap();
    assert_eq!(upd["event_action"], "trigger");
    assert_eq!(upd["dedup_key"], open["dedup_key"]);
    let res: Value = serde_json::from_str(&pagerduty::body(
        EventType::ExposureResolved,
        "118.dk",
        &inc(1),
        &ctx,
        "k",
    ))
    .unwrap();
    assert_eq!(res["event_action"], "resolve");
    assert_eq!(res["dedup_key"], open["dedup_key"]);
    assert!(res.get("payload").is_none());
}

#[test]
fn backoff_doubles_and_caps() {
    let max = Duration::from_secs(300);
    for (attempt, base) in [(1u32, 1.0f64), (2, 2.0), (3, 4.0), (5, 16.0)] {
        let b = backoff(attempt, max).as_secs_f64();
        assert!(
            b >= base * 0.8 - 1e-9 && b <= base * 1.2 + 1e-9,
            "{attempt}: {b}"
        );
    }
    assert!(backoff(30, max) <= max);
    assert!(backoff(30, max) >= max.mul_f64(0.8));
}

#[test]
fn message_ids_are_unique() {
    let a = new_message_id();
    assert!(a.starts_with("msg_") && a.len() == 30);
    assert_ne!(a, new_message_id());
}

/// 57 incidents of cohort migration-b2, 2 of another, 1 without a cohort.
fn mixed() -> Vec<EventIncident> {
    let mut v = inc(60);
    for (i, x) in v.iter_mut().enumerate() {
        (x.cohort, x.cohort_size, x.exposed_in_cohort) = match i {
            0..57 => (Some("migration-b2".to_string()), 120, 59),
            57 | 58 => (Some("crm-2019".to_string()), 4000, 2),
            _ => (None, 10_000, 1),
        };
    }
    v
}

#[test]
fn exposure_opened_names_its_cohorts_most_first() {
    let b: Value =
        serde_json::from_str(&webhook::body("exposure.opened", "118.dk", &mixed(), None)).unwrap();
    assert_eq!(
        b["cohorts"],
        serde_json::json!([
            {"cohort": "migration-b2", "count": 57, "cohort_size": 120, "exposed_in_cohort": 59},
            {"cohort": "crm-2019", "count": 2, "cohort_size": 4000, "exposed_in_cohort": 2},
            {"cohort": null, "count": 1, "cohort_size": 10000, "exposed_in_cohort": 1},
        ])
    );
    // Only the opening carries it.
    let b: Value = serde_json::from_str(&webhook::body(
        "exposure.resolved",
        "118.dk",
        &mixed(),
        None,
    ))
    .unwrap();
    assert!(b.get("cohorts").is_none(), "{b}");

    // The chat and mail headlines name the leading cohort when it holds
    // most of the message.
    let ctx = Context::default();
    let s: Value = serde_json::from_str(&slack::body(
        EventType::ExposureOpened,
        "118.dk",
        &mixed(),
        &ctx,
    ))
    .unwrap();
    assert_eq!(
        s["text"],
        "60 protected entries exposed on 118.dk — 57 of 60 in cohort migration-b2: likely one cause"
    );
    let t = teams::body(EventType::ExposureOpened, "118.dk", &mixed(), &ctx);
    assert!(
        t.contains("57 of 60 in cohort migration-b2: likely one cause"),
        "{t}"
    );
    // No majority, no hint.
    let split: Vec<EventIncident> = mixed().into_iter().skip(55).collect();
    let s: Value = serde_json::from_str(&slack::body(
        EventType::ExposureOpened,
        "118.dk",
        &split,
        &ctx,
    ))
    .unwrap();
    assert_eq!(s["text"], "5 protected entries exposed on 118.dk");
}

/// Two dispatchers of one receiver on one outbox (two store handles, as
/// two processes have), passing at once against a slow endpoint: every
/// message arrives once, in the order it was formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_on_one_outbox_deliver_each_message_once() {
    use super::Dispatcher;
    use super::receiver::Receiver;
    use crate::store::Store;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), b"s3cret").unwrap();
    let receiver = Receiver::start(b"s3cret").await.unwrap();
    receiver.set_delay(Duration::from_millis(150));
    let cfg = format!(
        "[store]\npath = \"unlistd.db\"\n[alerts]\ngroup_wait = \"1s\"\n\
         [[alerts.webhook]]\nurl = \"{}\"\nsecret_file = \"secret\"\n",
        receiver.url()
    );
    let settings = crate::config::parse(&cfg, &dir.path().join("config.toml")).unwrap();
    let db = dir.path().join("unlistd.db");
    let (a, b) = (Store::open(&db).unwrap(), Store::open(&db).unwrap());
    let routes = settings.alerts.routes();
    // Six messages: site events alternate, each type its own message.
    for i in 0..6 {
        let ty = if i % 2 == 0 {
            EventType::SiteDegraded
        } else {
            EventType::SiteRecovered
        };
        let site = format!("site-{i}");
        a.raise_site_event(&site, ty, time::OffsetDateTime::now_utc(), &routes)
            .unwrap();
    }
    let hook = settings.alerts.channels[0].clone();
    let da = Dispatcher::new(a.clone(), hook.clone(), &settings.alerts);
    let db_ = Dispatcher::new(b.clone(), hook, &settings.alerts);
    let run = |d: Dispatcher| async move {
        for _ in 0..40 {
            d.pass(true).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::join!(run(da), run(db_));
    let got = receiver.accepted();
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 6, "each message once: {ids:?}");
    assert_eq!(unique.len(), 6);
    let sites: Vec<&str> = got
        .iter()
        .map(|r| r.json["site"].as_str().unwrap())
        .collect();
    let mut sorted = sites.clone();
    sorted.sort_unstable();
    assert_eq!(sites, sorted, "in the order they were raised");
    assert_eq!(
        a.outbox_stats(&settings.alerts.channels[0].receiver)
            .unwrap()
            .pending_messages,
        0
    );
}
#[test]
fn chat_texts_escape_markup_in_refs_and_site_names() {
    let ctx = Context::default();
    let mut v = inc(1);
    v[0].entry_ref = "<!channel> & <https://evil.example|click>".into();
    let site = "<b>118</b>&co";
    let s: Value =
        serde_json::from_str(&slack::body(EventType::ExposureOpened, site, &v, &ctx)).unwrap();
    let t: Value =
        serde_json::from_str(&teams::body(EventType::ExposureOpened, site, &v, &ctx)).unwrap();
    let card = &t["attachments"][0]["content"]["body"];
    for text in [
        s["text"].as_str().unwrap(),
        s["blocks"][0]["text"]["text"].as_str().unwrap(),
        s["blocks"][1]["text"]["text"].as_str().unwrap(),
        card[0]["text"].as_str().unwrap(),
        card[1]["text"].as_str().unwrap(),
    ] {
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(!text.contains("& "), "{text}");
    }
    assert!(
        s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;")
    );
}

#[test]
fn withdrawn_incidents_are_not_called_resolved() {
    let ctx = Context::default();
    let mut v = inc(2);
    v[0].state = IncidentState::Withdrawn;
    v[1].state = IncidentState::Withdrawn;
    let s: Value = serde_json::from_str(&slack::body(
        EventType::ExposureResolved,
        "118.dk",
        &v,
        &ctx,
    ))
    .unwrap();
    let head = s["text"].as_str().unwrap();
    assert!(
        head.contains("withdrawn") && !head.contains("no longer shown"),
        "{head}"
    );
    assert!(
        s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("(withdrawn: entry erased)")
    );
    v[1].state = IncidentState::Resolved;
    let p: Value = serde_json::from_str(&pagerduty::body(
        EventType::ExposureResolved,
        "118.dk",
        &v,
        &Context {
            remaining_open: 1,
            ..Context::default()
        },
        "rk",
    ))
    .unwrap();
    assert_eq!(p["event_action"], "trigger");
}
