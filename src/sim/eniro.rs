//! The Eniro shape (krak.dk / degulesider.dk, `sites.md` §2 and §9): the
//! HTML route `/<q>/personer[/<page>]` with its `__NEXT_DATA__` script,
//! person pages `/<slug>/<id>/person`, and the Next.js data route
//! `/_next/data/<buildId>/da/search/<q>/persons/<page>.json`.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::{Shared, SimListing, escape, grouped, html, lock, national_digits, plain, slug};
use crate::domain::address::{split_post_line, split_street_line};

/// `/<q>/personer`, `/<q>/personer/<page>` and `/<slug>/<id>/person`;
/// `None` for any other path (or an unknown person).
pub(super) fn route(s: &Shared, path: &str, drift: bool) -> Option<Response> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [q, "personer"] => Some(eniro_search(s, &decode_segment(q), Some(1), drift)),
        [q, "personer", p] => {
            let page = p.parse::<usize>().ok().filter(|p| *p >= 1);
            Some(eniro_search(s, &decode_segment(q), page, drift))
        }
        [_, id, "person"] => {
            let (id, l) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.by_id(id).map(|l| (id, l)))?;
            let card = eniro_card(id, &l);
            Some(html(
                StatusCode::OK,
                eniro_chrome(
                    &l.name,
                    "",
                    &format!("<ul class=\"result-list\">\n{card}</ul>\n"),
                    "",
                ),
            ))
        }
        _ => None,
    }
}

/// The Eniro-shaped routes' build id (until a test simulates a deploy).
pub const DEFAULT_BUILD_ID: &str = "sim-build-1";

/// Persons per Eniro result page, and cards per hitta page.
pub(super) const ENIRO_PAGE_SIZE: usize = 25;

/// Percent-decodes one path segment (`+` is a space, as Eniro writes
/// queries); invalid UTF-8 is replaced, never an error.
pub(super) fn decode_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes JSON for an inline `<script>`: `<`, `>` and `&` can only occur
/// inside JSON strings, where `\uXXXX` means the same.
pub(super) fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `"Ågade 14B, 2. th"` → `("Ågade", "14B, 2. th")`: floor and door folded
/// into `streetNumber`, one of the encodings Eniro may use.
pub(super) fn eniro_street(line: &str) -> (String, String) {
    match split_street_line(line) {
        (Some(street), Some(house), floor, door) => {
            let mut fd: Vec<String> = Vec::new();
            if let Some(f) = floor {
                fd.push(if f.ends_with('.') { f } else { format!("{f}.") });
            }
            fd.extend(door);
            let number = if fd.is_empty() {
                house
            } else {
                format!("{house}, {}", fd.join(" "))
            };
            (street, number)
        }
        _ => (line.trim().to_string(), String::new()),
    }
}

/// A number as the Eniro data shows it: `+45…` on odd ids, grouped on
/// even ones (both forms occur).
pub(super) fn eniro_phone(id: u64, p: &str) -> String {
    match national_digits(p) {
        Some(n) if id % 2 == 1 => format!("+45{n}"),
        Some(n) => grouped(&n),
        None => p.to_string(),
    }
}

fn eniro_person(id: u64, l: &SimListing) -> serde_json::Value {
    use serde_json::json;
    let words: Vec<&str> = l.name.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    let last = (words.len() > 1).then(|| words[words.len() - 1]);
    let middle = (words.len() > 2).then(|| words[1..words.len() - 1].join(" "));
    let phones: Vec<serde_json::Value> = l
        .phones
        .iter()
        .map(|p| json!({ "number": eniro_phone(id, p), "type": "phone" }))
        .collect();
    let mut addresses = Vec::new();
    if l.street_line.is_some() || l.post_line.is_some() {
        let (street, number) = l
            .street_line
            .as_deref()
            .map(eniro_street)
            .unwrap_or_default();
        let (postcode, area) = match l.post_line.as_deref().map(split_post_line) {
            Some((Some(p), c)) => (p, c.unwrap_or_default()),
            _ => (String::new(), l.post_line.clone().unwrap_or_default()),
        };
        addresses.push(json!({
            "streetName": street,
            "streetNumber": number,
            "postalCode": postcode,
            "postalArea": area,
            "coordinates": [{ "lat": 56.1572, "lon": 10.2107 }],
        }));
    }
    json!({
        "eniroId": id.to_string(),
        "name": { "firstName": first, "middleName": middle, "lastName": last },
        "nameLegal": null,
        "birthDate": null,
        "phones": phones,
        "addresses": addresses,
    })
}

/// `initialState` for one page of Eniro results.
fn eniro_state(
    q: &str,
    page: usize,
    total: usize,
    shown: &[&(u64, SimListing)],
) -> serde_json::Value {
    serde_json::json!({
        "hits": { "persons": total, "companies": 0 },
        "persons": shown.iter().map(|(id, l)| eniro_person(*id, l)).collect::<Vec<_>>(),
        "companies": [],
        "searchPage": { "query": q, "page": page, "limit": ENIRO_PAGE_SIZE, "sortOrder": "default" },
    })
}

fn eniro_card(id: u64, l: &SimListing) -> String {
    let mut c = format!(
        "<li class=\"result-item\"><article>\n<h2><a href=\"/{}/{id}/person\">{}</a></h2>\n",
        slug(&l.name),
        escape(&l.name)
    );
    let lines: Vec<&str> = [&l.street_line, &l.post_line]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !lines.is_empty() {
        c.push_str(&format!(
            "<p class=\"result-address\">{}</p>\n",
            escape(&lines.join(", "))
        ));
    }
    for p in &l.phones {
        if let Some(n) = national_digits(p) {
            c.push_str(&format!(
                "<a class=\"result-phone\" href=\"tel:+45{n}\">{}</a>\n",
                grouped(&n)
            ));
        }
    }
    c.push_str("</article></li>\n");
    c
}

fn eniro_chrome(title: &str, q: &str, main: &str, script: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="da"><head><meta charSet="utf-8"/><title>{title} | Krak</title><script src="/_next/static/chunks/main.js" defer=""></script></head>
<body><div id="__next"><header class="header"><a class="logo" href="/">Krak</a>
<form class="search" action="/search" method="get"><input type="search" name="searchQuery" value="{q}"/><button type="submit">S&oslash;g</button></form></header>
<main>
{main}</main>
<footer class="footer"><a href="/om-krak">Om Krak</a></footer></div>
{script}</body></html>
"#,
        title = escape(title),
        q = escape(q),
    )
}

/// `GET /<q>/personer[/<page>]`.
fn eniro_search(s: &Shared, q: &str, page: Option<usize>, drift: bool) -> Response {
    let Some(page) = page else {
        return html(
            StatusCode::NOT_FOUND,
            eniro_chrome("Siden findes ikke", "", "<h1>Siden findes ikke</h1>\n", ""),
        );
    };
    let hits = s.search_words(q);
    let start = (page - 1).saturating_mul(ENIRO_PAGE_SIZE);
    let shown: Vec<&(u64, SimListing)> = hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
    let build = s.page_build_id(page.saturating_mul(ENIRO_PAGE_SIZE) < hits.len());
    let data = serde_json::json!({
        "props": {
            "pageProps": { "initialState": eniro_state(q, page, hits.len(), &shown), "profile": "krak" },
            "__N_SSP": true,
        },
        "page": "/search/[...slug]",
        "query": { "slug": [q, "persons", page.to_string()] },
        "buildId": build,
        "isFallback": false,
        "gssp": true,
        "locale": "da",
    });
    let script = format!(
        "<script id=\"{}\" type=\"application/json\">{}</script>",
        drifted!(drift, "__NEXT_DATA__", "__APP_DATA__"),
        script_json(&data)
    );
    let mut main = if hits.is_empty() {
        format!(
            "<h1 class=\"result-heading\">Ingen resultater for &quot;{}&quot;</h1>\n",
            escape(q)
        )
    } else {
        format!(
            "<h1 class=\"result-heading\">{} {}</h1>\n",
            hits.len(),
            if hits.len() == 1 {
                "person"
            } else {
                "personer"
            }
        )
    };
    main.push_str("<ul class=\"result-list\">\n");
    for (id, l) in &shown {
        main.push_str(&eniro_card(*id, l));
    }
    main.push_str("</ul>\n");
    if page.saturating_mul(ENIRO_PAGE_SIZE) < hits.len() {
        main.push_str(&format!(
            "<nav class=\"pagination\"><a rel=\"next\" href=\"/{}/personer/{}\">N&aelig;ste</a></nav>\n",
            crate::sites::common::encode_component(q),
            page + 1
        ));
    }
    html(StatusCode::OK, eniro_chrome(q, q, &main, &script))
}

/// `GET /_next/data/<buildId>/da/search/<q>/persons/<page>.json`; `rest`
/// is the part after `/_next/data/`.
pub(super) fn eniro_data(s: &Shared, rest: &str, drift: bool) -> Response {
    let segs: Vec<&str> = rest.split('/').collect();
    let [build, "da", "search", q, "persons", file] = segs.as_slice() else {
        return plain(StatusCode::NOT_FOUND);
    };
    let page = file
        .strip_suffix(".json")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1);
    let current = lock(&s.build_id).clone();
    let (Some(page), true) = (page, *build == current) else {
        return plain(StatusCode::NOT_FOUND);
    };
    let q = decode_segment(q);
    let hits = s.search_words(&q);
    let body = if hits.is_empty() {
        serde_json::json!({ "pageProps": { "searchQuery": q, "profile": "krak" }, "__N_SSP": true })
    } else {
        let start = (page - 1).saturating_mul(ENIRO_PAGE_SIZE);
        let shown: Vec<&(u64, SimListing)> =
            hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
        let key = drifted!(drift, "initialState", "searchState");
        let mut props = serde_json::Map::new();
        props.insert(key.into(), eniro_state(&q, page, hits.len(), &shown));
        props.insert("profile".into(), "krak".into());
        serde_json::json!({ "pageProps": props, "__N_SSP": true })
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
