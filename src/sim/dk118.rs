//! The 118.dk shape (`sites.md` §9): `GET /search/go?what=&where=` result
//! pages, `/person/<id>/<slug>` detail pages, the front page, and the
//! 404 page every unknown path gets.

use axum::http::StatusCode;
use axum::response::Response;

use super::{Shared, SimListing, escape, escape_danish, grouped, html, national_digits, slug};

/// `/search/go`, `/person/<id>/…` and `/`; `None` for any other path (or
/// an unknown person).
pub(super) fn route(s: &Shared, path: &str, query: &str, drift: bool) -> Option<Response> {
    let mut what = String::new();
    let mut where_ = String::new();
    let mut page_size: usize = 25;
    let mut page: usize = 1;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "what" => what = v.into_owned(),
            "where" => where_ = v.into_owned(),
            "pageSize" => page_size = v.trim().parse().unwrap_or(25).clamp(1, 100),
            "page" => page = v.trim().parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let style = drifted!(drift, &NORMAL, &DRIFT);

    if path == "/search/go" {
        let hits = s.search(&what, &where_);
        let start = (page - 1).saturating_mul(page_size);
        let shown: Vec<_> = hits.iter().skip(start).take(page_size).collect();
        let main = if shown.is_empty() {
            no_results(style, &what)
        } else {
            let mut m = format!(
                "<p class=\"result-count\">{} {}</p>\n",
                hits.len(),
                if hits.len() == 1 {
                    "resultat"
                } else {
                    "resultater"
                }
            );
            for (i, (id, l)) in shown.iter().enumerate() {
                m.push_str(&result_block(style, i, *id, l));
            }
            m.push_str(&pagination(&what, &where_, page_size, page, hits.len()));
            m
        };
        return Some(html(
            StatusCode::OK,
            chrome("Søgeresultater", &what, &where_, &main),
        ));
    }
    if let Some(rest) = path.strip_prefix("/person/") {
        let id = rest.split('/').next().and_then(|i| i.parse::<u64>().ok());
        if let Some(l) = id.and_then(|id| s.by_id(id).map(|l| (id, l))) {
            let main = result_block(style, 0, l.0, &l.1);
            return Some(html(StatusCode::OK, chrome(&l.1.name, "", "", &main)));
        }
    }
    if path == "/" {
        return Some(html(
            StatusCode::OK,
            chrome("Find telefonnumre", "", "", ""),
        ));
    }
    None
}

/// What any path no shape knows gets.
pub(super) fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        chrome("Siden findes ikke", "", "", "<h1>Siden findes ikke</h1>\n"),
    )
}

/// Class and id names; `DRIFT` renames them all, as a site redesign would.
struct Style {
    block: &'static str,
    id_prefix: &'static str,
    description: &'static str,
    no_results: &'static str,
}

const NORMAL: Style = Style {
    block: "result-block",
    id_prefix: "listing",
    description: "description-block",
    no_results: "no-results",
};

#[cfg(any(test, feature = "testing"))]
const DRIFT: Style = Style {
    block: "search-hit",
    id_prefix: "hit",
    description: "hit-details",
    no_results: "empty-state",
};

pub(super) fn chrome(title: &str, what: &str, where_: &str, main: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<title>{title} | 118.dk</title>
</head>
<body>
<header class="site-header">
<a class="logo" href="/">118.dk</a>
<form class="search-form" action="/search/go" method="get">
<input type="text" name="what" value="{what}" placeholder="Navn, firma eller telefonnummer">
<input type="text" name="where" value="{where_}" placeholder="Adresse, postnummer eller by">
<input type="hidden" name="pageSize" value="25">
<button type="submit">S&oslash;g</button>
</form>
</header>
<main id="content">
{main}</main>
<footer class="site-footer">
<a href="/info/show/FOOTER4">Persondatameddelelse</a>
<a href="/info/show/FOOTER1">Om 118.dk</a>
<span>&copy; Nuuday A/S</span>
</footer>
</body>
</html>
"#,
        title = escape(title),
        what = escape(what),
        where_ = escape(where_),
    )
}

fn result_block(st: &Style, i: usize, id: u64, l: &SimListing) -> String {
    let entities = id % 2 == 1;
    let text = |s: &str| escape_danish(s, entities);
    let mut b = format!(
        "<div class=\"{}\" id=\"{}{i}\">\n<h3><a href=\"/person/{id}/{}\">{}</a></h3>\n<div class=\"{}\">\n",
        st.block,
        st.id_prefix,
        slug(&l.name),
        text(&l.name),
        st.description,
    );
    let lines: Vec<String> = [&l.street_line, &l.post_line]
        .into_iter()
        .flatten()
        .map(|s| text(s))
        .collect();
    if !lines.is_empty() {
        b.push_str(&format!("<address>{}</address>\n", lines.join("<br>")));
    }
    for p in &l.phones {
        let (tel, shown) = match national_digits(p) {
            Some(n) => (format!("+45{n}"), grouped(&n)),
            None => (p.chars().filter(char::is_ascii_digit).collect(), p.clone()),
        };
        b.push_str(&format!(
            "<p><a href=\"tel:{}\">{}</a></p>\n",
            escape(&tel),
            escape(&shown)
        ));
    }
    b.push_str(&format!(
        "</div>\n<a class=\"map-link\" href=\"/kort?id={id}\">se kort</a>\n</div>\n"
    ));
    b
}

fn no_results(st: &Style, what: &str) -> String {
    format!(
        "<div class=\"{}\"><h2>Ingen resultater</h2><p>Vi fandt ingen resultater for &quot;{}&quot;. Pr&oslash;v at s&oslash;ge bredere.</p></div>\n",
        st.no_results,
        escape(what)
    )
}

fn pagination(what: &str, where_: &str, size: usize, page: usize, total: usize) -> String {
    let link = |p: usize| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("what", what)
            .append_pair("where", where_)
            .append_pair("pageSize", &size.to_string())
            .append_pair("page", &p.to_string())
            .finish()
    };
    let mut nav = String::from("<nav class=\"pagination\">\n");
    if page > 1 {
        nav.push_str(&format!(
            "<a class=\"prev\" rel=\"prev\" href=\"/search/go?{}\">Forrige</a>\n",
            escape(&link(page - 1))
        ));
    }
    if page.saturating_mul(size) < total {
        nav.push_str(&format!(
            "<a class=\"next\" rel=\"next\" href=\"/search/go?{}\">N&aelig;ste</a>\n",
            escape(&link(page + 1))
        ));
    }
    nav.push_str("</nav>\n");
    nav
}
