use std::io::Read;

use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};

use super::eniro::{decode_segment, eniro_phone, eniro_street, script_json};
use super::faults::{BOMB_MIB, gzip_zeros};
use super::*;

fn anna() -> SimListing {
    SimListing {
        name: "Anna Bøgh Åkesson".into(),
        phones: vec!["33123456".into(), "+45 20 11 22 33".into()],
        street_line: Some("Ågade 14B, 2. th".into()),
        post_line: Some("8000 Aarhus C".into()),
    }
}

fn person(name: &str, phone: &str, post: &str) -> SimListing {
    SimListing {
        name: name.into(),
        phones: vec![phone.into()],
        street_line: Some("Vestergade 1".into()),
        post_line: Some(post.into()),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(sim: &SimDirectory, pq: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client()
        .get(format!("{}{pq}", sim.base_url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn reverse_lookup_renders_118_markup() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(person("Bo Jensen", "44556677", "2100 København Ø"));
    sim.add(anna());
    for what in ["33123456", "33+12+34+56", "%2B4533123456", "20112233"] {
        let (status, headers, body) = get(&sim, &format!("/search/go?what={what}")).await;
        assert_eq!(status, 200, "{what}");
        assert!(
            headers
                .get(SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("JSESSIONID=")),
            "{what}"
        );
        assert_eq!(body.matches("class=\"result-block\"").count(), 1, "{what}");
        assert!(body.contains("id=\"listing0\""));
        assert!(body.contains("<h3><a href=\"/person/2/anna-boegh-aakesson\">"));
        // id 2 is even: æ/ø stay UTF-8, å is always an entity.
        assert!(body.contains("Anna Bøgh &Aring;kesson</a></h3>"));
        assert!(body.contains(
            "<div class=\"description-block\">\n<address>&Aring;gade 14B, 2. th<br>8000 Aarhus C</address>"
        ));
        assert!(body.contains("<p><a href=\"tel:+4533123456\">33 12 34 56</a></p>"));
        assert!(body.contains("<p><a href=\"tel:+4520112233\">20 11 22 33</a></p>"));
        assert!(body.contains("se kort</a>"));
        assert!(!body.contains("no-results"));
        assert!(body.contains("<form class=\"search-form\""));
        assert!(body.contains("<footer"));
    }
    assert_eq!(sim.request_count(), 4);
}

#[tokio::test]
async fn odd_ids_use_entities_for_ae_and_oe() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(person("Søren Æbelø", "44556677", "2100 København Ø"));
    let (_, _, body) = get(&sim, "/search/go?what=44556677").await;
    assert!(body.contains("S&oslash;ren &AElig;bel&oslash;"), "{body}");
}

#[tokio::test]
async fn text_search_where_and_pagination() {
    let sim = SimDirectory::start().await.unwrap();
    for i in 0..30 {
        sim.add(person(
            &format!("Hansen {i}"),
            &format!("{}", 30000000 + i),
            "8000 Aarhus C",
        ));
    }
    sim.add(person("Jens Hansen", "40000000", "5000 Odense C"));
    let (_, _, p1) = get(&sim, "/search/go?what=HANSEN&where=aarhus").await;
    assert_eq!(p1.matches("class=\"result-block\"").count(), 25);
    assert!(p1.contains("30 resultater"));
    assert!(p1.contains("rel=\"next\""));
    assert!(p1.contains("id=\"listing24\""));
    let (_, _, p2) = get(
        &sim,
        "/search/go?what=hansen&where=aarhus&pageSize=25&page=2",
    )
    .await;
    assert_eq!(p2.matches("class=\"result-block\"").count(), 5);
    assert!(p2.contains("id=\"listing0\"") && !p2.contains("id=\"listing5\""));
    assert!(!p2.contains("rel=\"next\""));
    let (_, _, all) = get(&sim, "/search/go?what=hansen&pageSize=100").await;
    assert_eq!(all.matches("class=\"result-block\"").count(), 31);
    let (_, _, past) = get(&sim, "/search/go?what=hansen&page=9").await;
    assert!(past.contains("<div class=\"no-results\"><h2>Ingen resultater</h2>"));
}

#[tokio::test]
async fn no_results_remove_and_clear() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(anna());
    sim.add(person("Bo", "33123456", "2100 København Ø"));
    sim.add(person("Eva", "55555555", "2100 København Ø"));
    assert_eq!(sim.remove_number("33 12 34 56"), 2);
    assert_eq!(sim.remove_number("33123456"), 0);
    let (status, _, body) = get(&sim, "/search/go?what=33123456&pageSize=25&page=1").await;
    assert_eq!(status, 200);
    assert!(body.contains("<div class=\"no-results\"><h2>Ingen resultater</h2><p>"));
    assert!(!body.contains("result-block"));
    sim.clear();
    let (_, _, body) = get(&sim, "/search/go?what=55555555").await;
    assert!(body.contains("no-results"));
}

#[tokio::test]
async fn faults_shape_responses() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(anna());
    sim.set_fault(Fault::Status(403));
    let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
    assert_eq!(s, 403);
    assert!(body.contains("challenges.cloudflare.com") && body.contains("cf-turnstile"));
    // robots.txt is exempt from faults.
    let (s, _, body) = get(&sim, "/robots.txt").await;
    assert_eq!((s, body.as_str()), (200, "User-agent: *\nAllow: /\n"));

    sim.set_fault(Fault::Status(500));
    let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
    assert_eq!(s, 500);
    assert!(!body.contains("<html"));

    sim.set_fault(Fault::RetryAfter {
        status: 429,
        seconds: 7,
    });
    let (s, h, _) = get(&sim, "/search/go?what=33123456").await;
    assert_eq!(s, 429);
    assert_eq!(h.get(RETRY_AFTER).unwrap(), "7");

    sim.set_fault(Fault::Garbage);
    let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
    assert_eq!(s, 200);
    assert!(!body.contains("result-block") && !body.contains("no-results"));

    sim.set_fault(Fault::Drift);
    let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
    assert_eq!(s, 200);
    assert!(!body.contains("result-block") && !body.contains("description-block"));
    assert!(body.contains("search-hit") && body.contains("33 12 34 56"));
    let (_, _, body) = get(&sim, "/search/go?what=99999999").await;
    assert!(!body.contains("no-results") && body.contains("Ingen resultater"));

    sim.set_fault(Fault::FailFirst(2));
    for expect in [503, 503, 200, 200] {
        let (s, _, _) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, expect);
    }

    sim.set_fault(Fault::Redirect("/robots.txt".into()));
    let (s, h, _) = get(&sim, "/search/go?what=1").await;
    assert_eq!(s, 302);
    assert_eq!(h.get(LOCATION).unwrap(), "/robots.txt");
}

#[tokio::test]
async fn odd_requests_do_not_break_the_server() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(anna());
    for pq in [
        "/search/go?what=%FF%FE&where=%00",
        "/search/go?pageSize=-1&page=-5",
        "/search/go?pageSize=99999999999999999999999&page=18446744073709551615",
        "/search/go?what&where&&==&page",
        "/search/go?what=%",
        "/person/abc/def",
        "/person/99999999999999999999999/x",
        "/nowhere",
        "/",
    ] {
        let (s, _, _) = get(&sim, pq).await;
        assert!(s == 200 || s == 404, "{pq}: {s}");
    }
    let (s, _, body) = get(&sim, "/person/1/anna").await;
    assert_eq!(s, 200);
    assert!(body.contains("33 12 34 56"));
    let r = client()
        .post(format!("{}/search/go", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // Everything was logged, in order.
    let log = sim.requests();
    assert_eq!(log.len(), 11);
    assert_eq!(log[0].1, "/search/go?what=%FF%FE&where=%00");
    assert!(log.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[tokio::test]
async fn hang_is_released_by_shutdown() {
    let sim = SimDirectory::start().await.unwrap();
    sim.set_fault(Fault::Hang);
    let url = format!("{}/search/go?what=1", sim.base_url());
    let pending = tokio::spawn(async move { client().get(url).send().await });
    while sim.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = Instant::now();
    sim.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2));
    let r = tokio::time::timeout(Duration::from_secs(2), pending).await;
    assert!(r.is_ok(), "the hanging request was not released");
}

#[tokio::test]
async fn huge_streams_exactly_the_size() {
    let sim = SimDirectory::start().await.unwrap();
    sim.set_fault(Fault::Huge { bytes: 300_000 });
    let (s, h, body) = get(&sim, "/search/go?what=1").await;
    assert_eq!(s, 200);
    assert!(h.get(reqwest::header::CONTENT_LENGTH).is_none());
    assert_eq!(body.len(), 300_000);
}

#[test]
fn gzip_zeros_is_valid_gzip_and_small() {
    let small = gzip_zeros(3).unwrap();
    let mut out = Vec::new();
    // GzDecoder checks CRC and ISIZE, so this validates the hand-built trailer.
    flate2::read::GzDecoder::new(&small[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out.len(), 64 * 1024 + 3 * (1 << 20));
    assert!(out.iter().all(|&b| b == 0));

    let bomb = gzip_zeros(BOMB_MIB).unwrap();
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
    let mut head = vec![0u8; 4 << 20];
    flate2::read::GzDecoder::new(&bomb[..])
        .read_exact(&mut head)
        .unwrap();
    assert!(head.iter().all(|&b| b == 0));
}

fn mette() -> SimListing {
    SimListing {
        name: "Mette Lykke Kjærgaard".into(),
        phones: vec!["13572468".into(), "+45 19 57 24 68".into()],
        street_line: Some("Ågade 14B, 2. th".into()),
        post_line: Some("8000 Aarhus C".into()),
    }
}

fn eniro() -> crate::sites::eniro::Eniro {
    crate::sites::eniro::Eniro::new("da").unwrap()
}

fn number(n: &str) -> crate::sites::Query {
    crate::sites::Query::Number(crate::domain::E164::parse_dk(n).unwrap())
}

fn hits(
    p: Result<crate::sites::Page, crate::sites::Unparseable>,
) -> (Vec<crate::domain::Listing>, bool) {
    match p {
        Ok(crate::sites::Page::Hits { listings, more }) => (listings, more),
        other => panic!("hits expected, got {other:?}"),
    }
}

#[tokio::test]
async fn eniro_html_route_reads_with_the_eniro_adapter() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(mette());
    sim.add(person("Bo Jensen", "94556677", "2100 København Ø"));
    let a = eniro();
    let q = number("13572468");
    let (status, _, body) = get(&sim, &a.html_path(&q)).await;
    assert_eq!(status, 200);
    assert!(body.contains("<script id=\"__NEXT_DATA__\" type=\"application/json\">"));
    assert!(body.contains("<a href=\"/mette-lykke-kjaergaard/1/person\">"));
    assert!(body.contains("\"streetNumber\":\"14B, 2. th\""));
    let (build, page) = a.parse_html(&body).unwrap();
    assert_eq!(build.as_deref(), Some(DEFAULT_BUILD_ID));
    let (ls, more) = hits(Ok(page));
    assert!(!more);
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0].name.as_deref(), Some("Mette Lykke Kjærgaard"));
    // Id 1 is odd: numbers in +45 form.
    assert_eq!(ls[0].phones, ["+4513572468", "+4519572468"]);
    let addr = ls[0].address.clone().unwrap();
    assert_eq!(addr.text, "Ågade 14B, 2. th, 8000 Aarhus C");
    assert_eq!(
        (addr.floor.as_deref(), addr.door.as_deref()),
        (Some("2"), Some("th"))
    );
    // The second number and a name search find the same person.
    let (_, _, body) = get(&sim, "/%2B4519572468/personer").await;
    assert_eq!(hits(a.parse_html(&body).map(|(_, p)| p)).0.len(), 1);
    let name = crate::sites::Query::NameAt {
        name: "Mette Kjærgaard".into(),
        place: "8000 Aarhus C".into(),
    };
    let (_, _, body) = get(&sim, &a.html_path(&name)).await;
    assert_eq!(hits(a.parse_html(&body).map(|(_, p)| p)).0.len(), 1);
    // No hits: a conclusive empty page.
    let (status, _, body) = get(&sim, &a.html_path(&number("13999999"))).await;
    assert_eq!(status, 200);
    assert_eq!(a.parse_html(&body).unwrap().1, crate::sites::Page::NoHits);
    // The person page the cards link to.
    let (status, _, body) = get(&sim, "/mette-lykke-kjaergaard/1/person").await;
    assert_eq!(status, 200);
    assert!(body.contains("13 57 24 68"));
    let (status, _, _) = get(&sim, "/x/99/person").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&sim, "/13572468/personer/0").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn eniro_data_route_and_deploys() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(mette());
    let a = eniro();
    let q = number("13572468");
    let (status, headers, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get(CONTENT_TYPE).unwrap(), "application/json");
    let (ls, more) = hits(a.parse_json(&body, 1));
    assert_eq!((ls.len(), more), (1, false));
    let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &number("13999999"), 1)).await;
    assert!(!body.contains("initialState"));
    assert_eq!(a.parse_json(&body, 1), Ok(crate::sites::Page::NoHits));

    sim.set_build_id("sim-build-2");
    assert_eq!(sim.build_id(), "sim-build-2");
    let (status, _, _) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
    assert!(crate::sites::eniro::stale_build(status));
    let (_, _, body) = get(&sim, &a.html_path(&q)).await;
    let build = a.parse_html(&body).unwrap().0.unwrap();
    assert_eq!(build, "sim-build-2");
    let (status, _, body) = get(&sim, &a.json_path(&build, &q, 1)).await;
    assert_eq!(status, 200);
    assert_eq!(hits(a.parse_json(&body, 1)).0.len(), 1);
    for pq in [
        "/_next/data/sim-build-2/nb/search/13572468/persons/1.json",
        "/_next/data/sim-build-2/da/search/13572468/persons/0.json",
        "/_next/data/sim-build-2/da/search/13572468/persons/x.json",
        "/_next/data/sim-build-2/da/search/13572468/companies/1.json",
        "/_next/data/sim-build-2",
    ] {
        let (status, _, _) = get(&sim, pq).await;
        assert_eq!(status, 404, "{pq}");
    }
}

#[tokio::test]
async fn a_deploy_lands_between_two_pages_of_a_search() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(mette());
    for i in 0..30 {
        sim.add(person(
            &format!("Jens Holm {i}"),
            &format!("950000{i:02}"),
            "7100 Vejle",
        ));
    }
    let a = eniro();
    let one = number("13572468");
    let many = crate::sites::Query::NameAt {
        name: "Jens Holm".into(),
        place: "Vejle".into(),
    };
    sim.deploy_after_next_page("sim-build-3");
    // A single page: no deploy yet.
    let (_, _, body) = get(&sim, &a.html_path(&one)).await;
    assert_eq!(
        a.parse_html(&body).unwrap().0.as_deref(),
        Some(DEFAULT_BUILD_ID)
    );
    assert_eq!(sim.build_id(), DEFAULT_BUILD_ID);
    // Page 1 of two still shows the old id; the deploy lands after it.
    let (_, _, body) = get(&sim, &a.html_path(&many)).await;
    assert_eq!(
        a.parse_html(&body).unwrap().0.as_deref(),
        Some(DEFAULT_BUILD_ID)
    );
    assert_eq!(sim.build_id(), "sim-build-3");
    let (status, _, _) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &many, 2)).await;
    assert_eq!(status, 404);
    let (_, _, body) = get(&sim, &a.html_page_path(&many, 2)).await;
    assert_eq!(
        a.parse_html_page(&body, 2).unwrap().0.as_deref(),
        Some("sim-build-3")
    );
    let (status, _, _) = get(&sim, &a.json_path("sim-build-3", &many, 2)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn eniro_pagination_through_the_adapter_enum() {
    let sim = SimDirectory::start().await.unwrap();
    for i in 0..30 {
        sim.add(person(
            &format!("Hans Hansen{i}"),
            &format!("{}", 19300000 + i),
            "8000 Aarhus C",
        ));
    }
    sim.add(person("Hans Hansen", "19400000", "5000 Odense C"));
    let adapter = crate::sites::Adapter::Eniro(eniro());
    let q = crate::sites::Query::NameAt {
        name: "Hans Hansen".into(),
        place: "8000".into(),
    };
    let (_, _, p1) = get(&sim, &adapter.request_path(&q, 1)).await;
    let (ls, more) = hits(adapter.parse(&p1, 1));
    assert_eq!((ls.len(), more), (25, true));
    assert!(p1.contains("rel=\"next\" href=\"/Hans%20Hansen%208000/personer/2\""));
    let path2 = adapter.request_path(&q, 2);
    assert_eq!(path2, "/Hans%20Hansen%208000/personer/2");
    let (_, _, p2) = get(&sim, &path2).await;
    let (ls, more) = hits(adapter.parse(&p2, 2));
    assert_eq!((ls.len(), more), (5, false));
    // The data route pages the same way.
    let a = eniro();
    let (_, _, j2) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 2)).await;
    assert_eq!(hits(a.parse_json(&j2, 2)), (ls, false));
}

#[tokio::test]
async fn eniro_faults() {
    use crate::sites::eniro::reason;
    let sim = SimDirectory::start().await.unwrap();
    sim.add(mette());
    let a = eniro();
    let q = number("13572468");
    let reason_of = |r: Result<crate::sites::Page, crate::sites::Unparseable>| match r {
        Err(crate::sites::Unparseable(r)) => r,
        Ok(p) => panic!("unparseable expected, got {p:?}"),
    };
    sim.set_fault(Fault::Status(403));
    let (status, _, body) = get(&sim, &a.html_path(&q)).await;
    assert_eq!(status, 403);
    assert_eq!(
        reason_of(a.parse_html(&body).map(|(_, p)| p)),
        reason::CHALLENGE
    );
    let (status, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
    assert_eq!(status, 403);
    assert_eq!(reason_of(a.parse_json(&body, 1)), reason::CHALLENGE);

    sim.set_fault(Fault::Drift);
    let (_, _, body) = get(&sim, &a.html_path(&q)).await;
    assert!(body.contains("13 57 24 68"));
    assert_eq!(
        reason_of(a.parse_html(&body).map(|(_, p)| p)),
        reason::NO_NEXT_DATA
    );
    let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
    assert_eq!(reason_of(a.parse_json(&body, 1)), reason::STRAY_PERSONS);

    sim.set_fault(Fault::Garbage);
    let (status, _, body) = get(&sim, &a.html_path(&q)).await;
    assert_eq!(status, 200);
    assert_eq!(
        reason_of(a.parse_html(&body).map(|(_, p)| p)),
        reason::NO_NEXT_DATA
    );
    let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
    assert_eq!(reason_of(a.parse_json(&body, 1)), reason::BAD_JSON);
}

fn hitta_adapter() -> crate::sites::Adapter {
    use crate::sites::declarative::{Declarative, DeclarativeSpec};
    let spec = DeclarativeSpec {
        search: "/sok?vad={number_national}&sida={page}".into(),
        search_name: Some("/sok?vad={name}&var={place}&sida={page}".into()),
        item: "[data-test=person-item]".into(),
        name: Some("[data-test=search-result-title]".into()),
        phone: Some("[data-test=phone-link]".into()),
        address: Some("address".into()),
        no_results: Some("[data-test=no-hits]".into()),
        next_page: Some("[data-test=next]".into()),
        ..DeclarativeSpec::default()
    };
    crate::sites::Adapter::Declarative(Declarative::new(&spec).unwrap())
}

#[tokio::test]
async fn hitta_route_reads_with_a_declarative_spec() {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(mette());
    let a = hitta_adapter();
    let q = number("19572468");
    let (status, _, body) = get(&sim, &a.request_path(&q, 1)).await;
    assert_eq!(status, 200);
    let (ls, more) = hits(a.parse(&body, 1));
    assert!(!more);
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0].name.as_deref(), Some("Mette Lykke Kjærgaard"));
    assert_eq!(ls[0].phones, ["13 57 24 68", "19 57 24 68"]);
    assert_eq!(
        ls[0].address.as_ref().map(|a| a.text.as_str()),
        Some("Ågade 14B, 2. th, 8000 Aarhus C")
    );
    // The Swedish spelling of the path works too.
    let (status, _, body2) = get(&sim, "/s%C3%B6k?vad=19572468").await;
    assert_eq!((status, body2), (200, body));
    let (_, _, body) = get(&sim, &a.request_path(&number("13999999"), 1)).await;
    assert!(body.contains("data-test=\"no-hits\""));
    assert_eq!(a.parse(&body, 1), Ok(crate::sites::Page::NoHits));

    sim.set_fault(Fault::Drift);
    let (_, _, body) = get(&sim, &a.request_path(&q, 1)).await;
    assert!(a.parse(&body, 1).is_err());
    let (_, _, body) = get(&sim, &a.request_path(&number("13999999"), 1)).await;
    assert!(a.parse(&body, 1).is_err());
    sim.set_fault(Fault::Status(403));
    let (status, _, body) = get(&sim, &a.request_path(&q, 1)).await;
    assert_eq!(status, 403);
    assert!(a.parse(&body, 1).is_err());
}

#[tokio::test]
async fn hitta_name_search_and_pagination() {
    let sim = SimDirectory::start().await.unwrap();
    for i in 0..27 {
        sim.add(person(
            &format!("Ida Bøgh {i}"),
            &format!("{}", 94000000 + i),
            "8000 Aarhus C",
        ));
    }
    sim.add(person("Ida Bøgh", "94100000", "5000 Odense C"));
    let a = hitta_adapter();
    let q = crate::sites::Query::NameAt {
        name: "Ida Bøgh".into(),
        place: "8000 Aarhus C".into(),
    };
    let (_, _, p1) = get(&sim, &a.request_path(&q, 1)).await;
    let (ls, more) = hits(a.parse(&p1, 1));
    assert_eq!((ls.len(), more), (25, true));
    let (_, _, p2) = get(&sim, &a.request_path(&q, 2)).await;
    let (ls, more) = hits(a.parse(&p2, 2));
    assert_eq!((ls.len(), more), (2, false));
}

#[test]
fn eniro_helpers() {
    assert_eq!(
        decode_segment("S%C3%B8ren+%C3%86rb%C3%B8l%202100"),
        "Søren Ærbøl 2100"
    );
    assert_eq!(decode_segment("%2B4513572468"), "+4513572468");
    assert_eq!(decode_segment("100%"), "100%");
    assert_eq!(decode_segment("%4"), "%4");
    assert_eq!(decode_segment("%zz%FF"), "%zz\u{FFFD}");
    for (line, want) in [
        ("Ågade 14B, 2. th", ("Ågade", "14B, 2. th")),
        ("Strandvejen 123A, st. tv", ("Strandvejen", "123A, st. tv")),
        ("Vestergade 1", ("Vestergade", "1")),
        ("Ågade 14, th", ("Ågade", "14, th")),
        ("Bygaden", ("Bygaden", "")),
    ] {
        let (s, n) = eniro_street(line);
        assert_eq!((s.as_str(), n.as_str()), want, "{line}");
    }
    assert_eq!(eniro_phone(1, "13572468"), "+4513572468");
    assert_eq!(eniro_phone(2, "+45 13572468"), "13 57 24 68");
    let j = script_json(&serde_json::json!({ "n": "</script><b>&" }));
    assert!(!j.contains('<') && !j.contains('>') && !j.contains('&'));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&j).unwrap()["n"],
        "</script><b>&"
    );
}

#[test]
fn helpers() {
    assert_eq!(
        national_digits("+45 33 12 34 56").as_deref(),
        Some("33123456")
    );
    assert_eq!(national_digits("004533123456").as_deref(), Some("33123456"));
    assert_eq!(national_digits("3312345"), None);
    assert_eq!(national_digits("Hansen"), None);
    assert_eq!(grouped("33123456"), "33 12 34 56");
    assert_eq!(slug("Anna Bøgh-Åkesson, ApS"), "anna-boegh-aakesson-aps");
    assert_eq!(
        escape("<a href=\"x\">&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
    );
}
