//! `unlistd demo`: the whole story on a simulated directory, with no config
//! and no network: import a synthetic roster, leak part of it, detect,
//! alert (a signed webhook to a loopback receiver), remove the leak, prove
//! resolution, exit 0.
//!
//! It runs the real pieces (config parser, roster reader, store, fetcher,
//! parser, matcher, daemon, outbox, webhook), only the directory and the
//! receiver are simulated.

use std::time::{Duration, Instant};

use super::{EXIT_FAILURE, EXIT_OK, Failure};
use crate::alert::receiver::{Received, Receiver};
use crate::app::App;
use crate::sim::{SimDirectory, SimListing};
use crate::store::ImportOutcome;
use crate::store::blocking;

/// The synthetic roster: spare-series numbers and invented people only.
pub(super) const DEMO_ROSTER: &str = "\
ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort
DK-0001,13 10 00 01,Birthe Østergaard Lund,Ågade,14B,2,th,8000,Aarhus C,true,true,migration-2026-11
DK-0002,13 10 00 02,Kasper Nørgaard,Strandvejen,123A,st,tv,2900,Hellerup,true,false,migration-2026-11
DK-0003,13 10 00 03,Søren Aagaard Friis,Bøgevej,7,,,5000,Odense C,true,true,migration-2026-11
DK-0004,13 10 00 04,Mette Kjærsgaard,Vestergade,21,1,mf,7100,Vejle,true,false,migration-2026-11
DK-0005,19 20 00 05,Lars Bækgaard,Møllevej,3,,,4000,Roskilde,false,true,migration-2026-11
DK-0006,19 20 00 06,Ida Hjørnholm,Kirkestræde,9,3,2,1100,København K,true,true,legacy
DK-0007,19 20 00 07,Jens Peter Dalsgård,Engvej,44,,,6000,Kolding,true,false,legacy
DK-0008,19 20 00 08,Anne-Marie Skovbjerg,Skolegade,2,st,th,9000,Aalborg,true,true,legacy
DK-0009,94 30 00 09,Rasmus Thøgersen,Havnegade,18,,,8700,Horsens,true,false,legacy
DK-0010,94 30 00 10,Line Sønderby,Parkallé,5,4,tv,8000,Aarhus C,true,false,legacy
DK-0011,94 30 00 11,Mikkel Åberg,Fjordvej,12,,,7400,Herning,true,false,legacy
DK-0012,95 40 00 12,Hanne Grønbæk,Lindevej,30,1,th,2800,Kongens Lyngby,true,true,legacy
";

/// Other people who are legitimately listed (the directory is never empty).
fn public_listings() -> Vec<SimListing> {
    let l = |name: &str, phone: &str, street: &str, post: &str| SimListing {
        name: name.into(),
        phones: vec![phone.into()],
        street_line: Some(street.into()),
        post_line: Some(post.into()),
    };
    vec![
        l(
            "Poul Østergaard Lund",
            "95900001",
            "Ågade 14B, 1. tv",
            "8000 Aarhus C",
        ),
        l(
            "Karin Nørgaard",
            "95900002",
            "Strandvejen 125",
            "2900 Hellerup",
        ),
        l("Bo Friis", "95900003", "Bøgevej 9", "5000 Odense C"),
        l(
            "Grethe Hjørnholm",
            "95900004",
            "Kirkestræde 9, 3. 1",
            "1100 København K",
        ),
    ]
}

/// The leak: two numbers, and one protected address listed under the
/// subscriber's name with a mobile number from another provider.
fn leaked() -> Vec<(&'static str, SimListing)> {
    vec![
        (
            "DK-0002",
            SimListing {
                name: "Kasper Nørgaard".into(),
                phones: vec!["13100002".into()],
                street_line: Some("Strandvejen 123A, st. tv".into()),
                post_line: Some("2900 Hellerup".into()),
            },
        ),
        (
            "DK-0009",
            SimListing {
                name: "Rasmus Thøgersen".into(),
                phones: vec!["94300009".into()],
                street_line: Some("Havnegade 18".into()),
                post_line: Some("8700 Horsens".into()),
            },
        ),
        (
            "DK-0001",
            SimListing {
                name: "Birthe Ø. Lund".into(),
                phones: vec!["95912345".into()],
                street_line: Some("Aagade 14 B, 2. th.".into()),
                post_line: Some("8000 Aarhus C".into()),
            },
        ),
    ]
}

struct Clock(Instant);

impl Clock {
    fn say(&self, msg: impl AsRef<str>) {
        println!(
            "[{:>5.1}s] {}",
            self.0.elapsed().as_secs_f64(),
            msg.as_ref()
        );
    }
}

fn describe(r: &Received) -> String {
    let incs = r.json["incidents"].as_array().cloned().unwrap_or_default();
    let mut s = format!(
        "webhook {} ({}, signature {}): {} on {}, {} incident(s)",
        r.event_type(),
        r.id,
        if r.signature_ok {
            "verified"
        } else {
            "INVALID"
        },
        r.event_type(),
        r.json["site"].as_str().unwrap_or("?"),
        incs.len()
    );
    for i in incs {
        s.push_str(&format!(
            "\n           {} {} exposed={} state={}",
            i["entry_ref"].as_str().unwrap_or("?"),
            i["number_masked"].as_str().unwrap_or("?"),
            i["exposed"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("+"))
                .unwrap_or_default(),
            i["state"].as_str().unwrap_or("?"),
        ));
    }
    s
}

fn fail(m: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_FAILURE,
        message: m.into(),
    }
}

/// The demo's script, step by step as it narrates; split up, it would read
/// as a scavenger hunt.
#[allow(clippy::too_many_lines)]
pub(super) async fn run(json: bool) -> Result<u8, Failure> {
    let clock = Clock(Instant::now());
    let dir = tempfile::Builder::new()
        .prefix("unlistd-demo-")
        .tempdir()
        .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
    let sim = SimDirectory::start()
        .await
        .map_err(|e| fail(format!("cannot start the simulated directory: {e}")))?;
    for l in public_listings() {
        sim.add(l);
    }
    // A secret as the Standard Webhooks libraries issue them.
    let secret = b"whsec_ZGVtby13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWJjZGVm";
    let receiver = Receiver::start(secret)
        .await
        .map_err(|e| fail(format!("cannot start the webhook receiver: {e}")))?;
    std::fs::write(dir.path().join("webhook-secret"), secret).map_err(|e| fail(e.to_string()))?;
    let config = format!(
        r#"
[store]
path = "unlistd.db"
[api]
listen = "127.0.0.1:0"
[scan]
max_staleness = "10s"
resolve_after_clean = 2
[[sites]]
name = "118.dk (simulated)"
adapter = "dk118"
base_url = "{}"
rate = "50/s"
concurrency = 4
[alerts]
group_wait = "2s"
max_backoff = "2s"
[[alerts.webhook]]
url = "{}"
secret_file = "webhook-secret"
"#,
        sim.base_url(),
        receiver.url()
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, &config).map_err(|e| fail(e.to_string()))?;
    let settings = crate::config::load(&cfg_path)?;
    clock.say(format!("simulated 118.dk directory on {}", sim.base_url()));
    clock.say(format!("webhook receiver on {}", receiver.url()));

    let app = {
        let s = settings.clone();
        tokio::task::spawn_blocking(move || App::open(s))
            .await
            .map_err(|e| fail(e.to_string()))??
    };
    let store = app.store().clone();
    let pseudo = app.engine.pseudo.clone();
    let counts = blocking(move || {
        let mut rows = crate::roster::reader(DEMO_ROSTER.as_bytes(), "demo-roster.csv")
            .map_err(|e| crate::store::StoreError::BadInput(e.to_string()))?;
        store.import_roster(&mut rows, &pseudo, time::OffsetDateTime::now_utc())
    })
    .await?;
    match counts {
        ImportOutcome::Applied(c) => clock.say(format!(
            "imported the roster: {} protected entries",
            c.added
        )),
        ImportOutcome::Rejected { total, .. } => {
            return Err(fail(format!("demo roster rejected ({total} problems)")));
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::daemon::run(app.clone(), None, async {
        let _ = stop_rx.await;
    }));
    clock.say(
        "daemon started: probing every entry at 50 requests/s, in a fresh random order each cycle",
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = crate::status::of(&app, false)?;
    clock.say(format!(
        "all clear so far: {} probes, {} open incidents",
        st.sites.iter().map(|s| s.probes_total).sum::<u64>(),
        st.incidents.open
    ));

    let leak = leaked();
    clock.say(format!(
        "LEAK: a migration drops the 'udeladt' flag; {} protected entries appear on the directory",
        leak.len()
    ));
    for (_, l) in &leak {
        sim.add(l.clone());
    }
    let refs: Vec<&str> = leak.iter().map(|(r, _)| *r).collect();
    let opened = receiver
        .wait_for(Duration::from_secs(30), |rs| {
            let got: Vec<String> = rs
                .iter()
                .filter(|r| r.event_type() == "exposure.opened")
                .flat_map(|r| r.entry_refs())
                .collect();
            refs.iter().all(|r| got.iter().any(|g| g == r))
        })
        .await;
    if !opened {
        let _ = stop_tx.send(());
        return Err(fail("the leak was not detected within 30 s"));
    }
    for r in receiver
        .accepted()
        .iter()
        .filter(|r| r.event_type() == "exposure.opened")
    {
        clock.say(describe(r));
    }

    clock.say("REMOVAL: the directory deletes the leaked entries");
    for (_, l) in &leak {
        for p in &l.phones {
            sim.remove_number(p);
        }
    }
    let resolved = receiver
        .wait_for(Duration::from_secs(30), |rs| {
            let got: Vec<String> = rs
                .iter()
                .filter(|r| r.event_type() == "exposure.resolved")
                .flat_map(|r| r.entry_refs())
                .collect();
            refs.iter().all(|r| got.iter().any(|g| g == r))
        })
        .await;
    if !resolved {
        let _ = stop_tx.send(());
        return Err(fail("the incidents did not resolve within 30 s"));
    }
    for r in receiver
        .accepted()
        .iter()
        .filter(|r| r.event_type() == "exposure.resolved")
    {
        clock.say(describe(r));
    }

    let _ = stop_tx.send(());
    let _ = daemon.await;
    let store = app.store().clone();
    let incidents = blocking(move || store.incidents(false)).await?;
    clock.say(format!(
        "done: {} incidents, all resolved after {} consecutive clean probes each; {} requests served by the directory",
        incidents.len(),
        settings.scan.resolve_after_clean,
        sim.request_count()
    ));
    for i in &incidents {
        println!(
            "           {} {} {} exposed={} first seen {} resolved {}",
            i.id,
            i.entry_ref,
            i.masked_number,
            i.exposed
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            crate::wire::rfc3339(i.first_seen),
            i.resolved_at
                .map(crate::wire::rfc3339)
                .unwrap_or_else(|| "-".into())
        );
    }
    if json {
        let v: Vec<_> = incidents.iter().map(crate::wire::Incident::from).collect();
        println!("{}", serde_json::json!({ "incidents": v }));
    }
    if incidents.iter().any(|i| i.resolved_at.is_none()) {
        return Err(fail("an incident is still open"));
    }
    Ok(EXIT_OK)
}
