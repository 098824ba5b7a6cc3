//! Every directory the data reaches: the Eniro shape (krak.dk,
//! degulesider.dk) and a site added purely in TOML.

use unlistd::sim::SimDirectory;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_leak_only_on_the_eniro_shape_is_detected_and_alerted() {
    let krak = SimDirectory::start().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: format!(
            "[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\nbase_url = \"{}\"\nrate = \"50/s\"\ntimeout = \"2s\"\n",
            krak.base_url()
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    // Public people on both; the leak only on krak.dk, with floor and door
    // folded into Eniro's streetNumber.
    let public = listing(
        "Poul Østergaard Lund",
        "95990001",
        "Ågade 14B, 1. tv",
        "8000 Aarhus C",
    );
    env.sim.add(public.clone());
    krak.add(public);
    krak.add(listing(
        "Mette Kjærsgaard",
        "19500004",
        "Vestergade 21, 1. mf",
        "7100 Vejle",
    ));
    // R-01 hides its address: listed on krak.dk under another number.
    krak.add(listing(
        "Birthe Lund",
        "95990002",
        "Ågade 14B, 2. th",
        "8000 Aarhus C",
    ));

    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["probes"].as_u64(), Some(12), "6 entries × 2 sites: {j}");
    assert_eq!(j["exposed"].as_u64(), Some(2), "{j}");
    assert_eq!(j["inconclusive"].as_u64(), Some(0), "{j}");
    let inc = json(&env.cmd(&["--json", "incidents"]));
    let mut got: Vec<(String, String, String)> = inc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["site"].as_str().unwrap().into(),
                i["entry_ref"].as_str().unwrap().into(),
                i["exposed"][0].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("krak.dk".into(), "R-01".into(), "address".into()),
            ("krak.dk".into(), "R-04".into(), "number".into())
        ]
    );
    let hooks = env.receiver.accepted();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].json["site"], "krak.dk");
    assert_eq!(hooks[0].json["count"], 2);
    // Requests went to the Eniro routes.
    assert!(
        krak.requests()
            .iter()
            .any(|(_, p)| p.ends_with("/personer"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_configured_purely_in_toml_finds_a_leak() {
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: format!(
            r#"[[sites]]
name = "hitta.example"
adapter = "declarative"
base_url = "{}"
rate = "50/s"
[sites.declarative]
format = "html"
search = "/sok?vad={{number_national}}&sida={{page}}"
search_name = "/sok?vad={{name}}&var={{place}}&sida={{page}}"
item = '[data-test="person-item"]'
name = '[data-test="search-result-title"]'
phone = '[data-test="phone-link"]'
address = "address"
no_results = '[data-test="no-hits"]'
next_page = '[data-test="next"]'
"#,
            env.sim.base_url()
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["clean"].as_u64(), Some(12));
    env.sim.add(listing(
        "Lars Bækgaard",
        "19500005",
        "Møllevej 3",
        "4000 Roskilde",
    ));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3));
    let inc = json(&env.cmd(&["--json", "incidents"]));
    let sites: Vec<&str> = inc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["site"].as_str().unwrap())
        .collect();
    assert_eq!(
        sites.len(),
        2,
        "both the 118.dk and the declarative site see it: {inc}"
    );
    assert!(sites.contains(&"hitta.example"));
    // A bad selector in TOML is a startup error naming the key.
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        cfg.replace(r#"item = '[data-test="person-item"]'"#, "item = '[[['"),
    )
    .unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("sites[1].declarative.item"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eniro_later_pages_come_by_the_data_route_across_a_deploy() {
    let krak = SimDirectory::start().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: format!(
            "[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\nbase_url = \"{}\"\nrate = \"50/s\"\ntimeout = \"2s\"\n",
            krak.base_url()
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    // R-01 hides its address. Her name is common in her town: 25 others
    // fill page 1, and she is listed on page 2 under another number.
    for i in 0..25 {
        krak.add(listing(
            "Birthe Lund",
            &format!("950002{i:02}"),
            &format!("Vestergade {}", i + 1),
            "8000 Aarhus C",
        ));
    }
    krak.add(listing(
        "Birthe Lund",
        "95990002",
        "Ågade 14B, 2. th",
        "8000 Aarhus C",
    ));
    let data_route = |build: &str| {
        format!("/_next/data/{build}/da/search/Birthe%20Lund%208000%20Aarhus%20C/persons/2.json")
    };

    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (j["exposed"].as_u64(), j["inconclusive"].as_u64()),
        (Some(1), Some(0)),
        "{j}"
    );
    let inc = json(&env.cmd(&["--json", "incidents"]));
    assert_eq!(inc["incidents"][0]["site"], "krak.dk");
    assert_eq!(inc["incidents"][0]["entry_ref"], "R-01");
    let seen: Vec<String> = krak.requests().into_iter().map(|(_, p)| p).collect();
    assert!(seen.contains(&data_route("sim-build-1")), "{seen:?}");
    assert!(
        !seen.iter().any(|p| p.ends_with("/personer/2")),
        "page 2 came by the data route only: {seen:?}"
    );

    // A deploy lands between page 1 and page 2: the stale build id gets
    // 404, page 2 is read from the HTML route, and the leak is still seen.
    krak.deploy_after_next_page("sim-build-2");
    let before = krak.request_count();
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (j["exposed"].as_u64(), j["inconclusive"].as_u64()),
        (Some(1), Some(0)),
        "{j}"
    );
    let seen: Vec<String> = krak.requests()[before..]
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    let stale = seen.iter().position(|p| *p == data_route("sim-build-1"));
    let html = seen
        .iter()
        .position(|p| p.ends_with("/Birthe%20Lund%208000%20Aarhus%20C/personer/2"));
    assert!(
        matches!((stale, html), (Some(s), Some(h)) if h == s + 1),
        "{seen:?}"
    );
    assert_eq!(krak.build_id(), "sim-build-2");
}
