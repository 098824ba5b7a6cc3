//! Protected addresses end to end: the real binary against the simulated
//! directory. A protected address listed under the subscriber's name with
//! another number is an exposure; neighbours, relatives and namesakes are
//! not. `history` says which parts matched.

use std::time::Duration;

use unlistd::sim::SimListing;

use crate::common::*;

/// Two entries that hide their address: one whose number may be listed,
/// one that hides both (its name written surname first, as some rosters
/// do). Spare-series numbers and invented names only.
const ROSTER: &str = r#"ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort
A-01,13 60 00 01,Birthe Østergaard Lund,Ågade,14B,2,th,8000,Aarhus C,false,true,addr
A-02,19 60 00 02,"Nørgaard, Kasper",Strandvejen,123A,,,2900,Hellerup,true,true,addr
"#;

fn knobs() -> Knobs {
    Knobs {
        rate: "100/s",
        ..Knobs::default()
    }
}

fn person(name: &str, phone: &str, street: &str, post: &str) -> SimListing {
    listing(name, phone, street, post)
}

/// Neighbours, relatives, namesakes and a number off by one. Several of
/// them are exactly what the name search returns, so the matcher, not the
/// search, has to turn them down.
fn bait() -> Vec<SimListing> {
    vec![
        // Same street, other house numbers.
        person(
            "Poul Jensen",
            "95600101",
            "Ågade 14, 2. th",
            "8000 Aarhus C",
        ),
        person(
            "Birthe Lund",
            "95600102",
            "Ågade 41B, 2. th",
            "8000 Aarhus C",
        ),
        person(
            "Birthe Lund",
            "95600103",
            "Ågade 14C, 2. th",
            "8000 Aarhus C",
        ),
        // Same house, other floor or door.
        person(
            "Birthe Lund",
            "95600104",
            "Ågade 14B, 2. tv",
            "8000 Aarhus C",
        ),
        person(
            "Birthe Ø. Lund",
            "95600105",
            "Ågade 14B, 3. th",
            "8000 Aarhus C",
        ),
        person(
            "Karen Holm",
            "95600106",
            "Ågade 14B, st. th",
            "8000 Aarhus C",
        ),
        // Same surname, other first name, at the very address.
        person(
            "Poul Østergaard Lund",
            "95600107",
            "Ågade 14B, 2. th",
            "8000 Aarhus C",
        ),
        person(
            "Karen Lund",
            "95600108",
            "Ågade 14B, 2. th",
            "8000 Aarhus C",
        ),
        // A longer surname at the very address (returned by the search).
        person(
            "Birthe Lundgaard",
            "95600109",
            "Ågade 14B, 2. th",
            "8000 Aarhus C",
        ),
        // Namesakes: same postcode other street, same street other town.
        person("Birthe Lund", "95600110", "Bredgade 3", "8000 Aarhus C"),
        person(
            "Birthe Lund",
            "95600111",
            "Ågade 14B, 2. th",
            "5000 Odense C",
        ),
        person("Kasper Nørgaard", "95600112", "Søvej 1", "9000 Aalborg"),
        person(
            "Kasper Nørgaard",
            "95600113",
            "Strandvejen 123",
            "2900 Hellerup",
        ),
        person(
            "Kasper Nørgaard",
            "95600114",
            "Strandvejen 123A",
            "2100 København Ø",
        ),
        // The entry's number off by one, under its own name at another
        // house of its street (returned by the name search).
        person(
            "Kasper Nørgaard",
            "19 60 00 03",
            "Strandvejen 132A",
            "2900 Hellerup",
        ),
        // A relative at the protected address with a number off by one.
        person(
            "Lone Nørgaard",
            "19 60 00 01",
            "Strandvejen 123A",
            "2900 Hellerup",
        ),
    ]
}

fn opened(env: &Env) -> Vec<unlistd::alert::receiver::Received> {
    env.receiver
        .accepted()
        .into_iter()
        .filter(|r| r.event_type() == "exposure.opened")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_address_under_the_subscribers_name_is_an_exposure() {
    let env = Env::new(knobs()).await;
    for b in bait() {
        env.sim.add(b);
    }
    // The leak: each subscriber listed at the protected address with a
    // mobile number the roster does not know, in the site's own spelling.
    env.sim.add(person(
        "Birthe Lund",
        "95 60 00 11",
        "Aagade 14 B, 2.th",
        "8000 Aarhus C",
    ));
    env.sim.add(person(
        "Kasper Nørgaard",
        "+45 95 60 00 12",
        "STRANDVEJEN 123A",
        "2900 HELLERUP",
    ));
    env.import(ROSTER);

    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["probes"].as_u64(),
            j["exposed"].as_u64(),
            j["incidents_opened"].as_u64()
        ),
        (Some(2), Some(2), Some(2)),
        "{j}"
    );

    let inc = json(&env.cmd(&["--json", "incidents"]));
    let mut got: Vec<(String, serde_json::Value)> = inc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["entry_ref"].as_str().unwrap().to_owned(),
                i["exposed"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("A-01".to_owned(), serde_json::json!(["address"])),
            ("A-02".to_owned(), serde_json::json!(["address"])),
        ]
    );

    // scan --once delivers before exiting; one signed message for both.
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(10), |_| !opened(&env).is_empty())
            .await
    );
    let events = opened(&env);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert!(ev.signature_ok);
    let mut refs = ev.entry_refs();
    refs.sort();
    assert_eq!(refs, ["A-01", "A-02"]);
    for i in ev.json["incidents"].as_array().unwrap() {
        assert_eq!(i["exposed"], serde_json::json!(["address"]));
    }
    // Names and addresses never travel in an alert.
    for word in [
        "Lund",
        "Nørgaard",
        "Ågade",
        "Aagade",
        "Strandvejen",
        "STRANDVEJEN",
    ] {
        assert!(!ev.body.contains(word), "webhook body carries {word:?}");
    }

    // The evidence of why: which parts of the listing matched, no values.
    let h = json(&env.cmd(&["--json", "history", "A-01"]));
    let p = &h["probes"][0];
    assert_eq!(p["outcome"], "exposed");
    assert_eq!(
        p["matched"],
        serde_json::json!([
            "name",
            "street",
            "house_number",
            "floor",
            "door",
            "postcode",
            "city"
        ])
    );
    let h2 = json(&env.cmd(&["--json", "history", "A-02"]));
    assert_eq!(
        h2["probes"][0]["matched"],
        serde_json::json!(["name", "street", "house_number", "postcode", "city"])
    );
    let text = stdout(&env.cmd(&["history", "A-01"]));
    assert!(
        text.contains("matched: name, street, house_number"),
        "{text}"
    );
    assert!(!text.contains("Lund") && !text.contains("gade"), "{text}");

    // Removing the leaks resolves both after resolve_after_clean passes.
    env.sim.remove_number("95600011");
    env.sim.remove_number("95600012");
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "one clean probe is not enough");
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["incidents_resolved"].as_u64(), Some(2));
    let h = json(&env.cmd(&["--json", "history", "A-01"]));
    let last = h["probes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "clean");
    assert_eq!(last["matched"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn neighbours_relatives_and_namesakes_raise_nothing() {
    let env = Env::new(knobs()).await;
    for b in bait() {
        env.sim.add(b);
    }
    env.import(ROSTER);

    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["probes"].as_u64(),
            j["clean"].as_u64(),
            j["exposed"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{j}"
    );
    // The name searches did return bait, so the matcher was exercised.
    let name_searches: Vec<String> = env
        .sim
        .requests()
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.contains("where="))
        .collect();
    assert_eq!(name_searches.len(), 2, "{name_searches:?}");

    let inc = json(&env.cmd(&["--json", "incidents"]));
    assert_eq!(inc["incidents"], serde_json::json!([]), "{inc}");
    assert!(opened(&env).is_empty());
    for r in ["A-01", "A-02"] {
        let h = json(&env.cmd(&["--json", "history", r]));
        let p = &h["probes"][0];
        assert_eq!(
            (p["outcome"].as_str(), p["matched"].clone()),
            (Some("clean"), serde_json::json!([]))
        );
    }
}
