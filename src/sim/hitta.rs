//! The hitta.se shape (`sites.md` §5), for declarative-site tests:
//! `GET /sok?vad=<q>&var=<place>&sida=<page>` (also `/s%C3%B6k`).

use axum::http::StatusCode;
use axum::response::Response;

use super::eniro::ENIRO_PAGE_SIZE;
use super::{Shared, escape, grouped, html, national_digits, slug};

/// `data-test` names of the hitta-shaped page; drift renames them.
struct HittaStyle {
    item: &'static str,
    title: &'static str,
    phone: &'static str,
    next: &'static str,
    no_hits: &'static str,
}

const HITTA: HittaStyle = HittaStyle {
    item: "person-item",
    title: "search-result-title",
    phone: "phone-link",
    next: "next",
    no_hits: "no-hits",
};

#[cfg(any(test, feature = "testing"))]
const HITTA_DRIFT: HittaStyle = HittaStyle {
    item: "person-card",
    title: "card-title",
    phone: "call",
    next: "forward",
    no_hits: "empty-result",
};

/// `GET /sok?vad=<q>&var=<place>&sida=<page>`.
pub(super) fn hitta_search(s: &Shared, query: &str, drift: bool) -> Response {
    let mut vad = String::new();
    let mut var = String::new();
    let mut sida: usize = 1;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "vad" => vad = v.into_owned(),
            "var" => var = v.into_owned(),
            "sida" => sida = v.trim().parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let st = drifted!(drift, &HITTA, &HITTA_DRIFT);
    let hits = s.search(&vad, &var);
    let start = (sida - 1).saturating_mul(ENIRO_PAGE_SIZE);
    let shown: Vec<_> = hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
    let mut main = String::new();
    if shown.is_empty() {
        main.push_str(&format!(
            "<div class=\"empty\" data-test=\"{}\"><h1>Inga tr&auml;ffar p&aring; &quot;{}&quot;</h1></div>\n",
            st.no_hits,
            escape(&vad)
        ));
    } else {
        main.push_str(&format!(
            "<h1 data-test=\"search-heading\">{} tr&auml;ffar p&aring; personer</h1>\n<ol class=\"result-list\">\n",
            hits.len()
        ));
        for (id, l) in &shown {
            main.push_str(&format!(
                "<li class=\"result-row\" data-test=\"{}\">\n<a class=\"result-link\" href=\"/{}/person/{id}\"><h2 data-test=\"{}\">{}</h2></a>\n",
                st.item,
                slug(&l.name),
                st.title,
                escape(&l.name)
            ));
            let lines: Vec<String> = [&l.street_line, &l.post_line]
                .into_iter()
                .flatten()
                .map(|s| escape(s))
                .collect();
            if !lines.is_empty() {
                main.push_str(&format!("<address>{}</address>\n", lines.join("<br>")));
            }
            for p in &l.phones {
                if let Some(n) = national_digits(p) {
                    main.push_str(&format!(
                        "<a data-test=\"{}\" href=\"tel:+45{n}\">{}</a>\n",
                        st.phone,
                        grouped(&n)
                    ));
                }
            }
            main.push_str("</li>\n");
        }
        main.push_str("</ol>\n");
        if sida.saturating_mul(ENIRO_PAGE_SIZE) < hits.len() {
            let next = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("vad", &vad)
                .append_pair("var", &var)
                .append_pair("sida", &(sida + 1).to_string())
                .finish();
            main.push_str(&format!(
                "<nav class=\"pagination\"><a data-test=\"{}\" href=\"/sok?{}\">N&auml;sta</a></nav>\n",
                st.next,
                escape(&next)
            ));
        }
    }
    html(
        StatusCode::OK,
        format!(
            r#"<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<title>{title} | hitta.se</title>
</head>
<body>
<header class="site-header"><a class="logo" href="/">hitta.se</a>
<form class="search" action="/sok" method="get" role="search"><input type="search" name="vad" value="{title}"><button type="submit">S&ouml;k</button></form>
</header>
<main>
{main}</main>
<footer class="site-footer"><a href="/om-hitta">Om hitta.se</a></footer>
</body>
</html>
"#,
            title = escape(&vad),
        ),
    )
}
