//! Generator of the realistic fixture pages (`tests/fixtures/*/realistic_*`):
//! the result markup of `sites.md` §9 wrapped in the chrome real directory
//! pages carry (a mega menu of hundreds of links, inline configuration
//! scripts, JSON-LD, inline SVG icons, a cookie banner, ad slots, a long
//! footer), 50–300 KB per page, so a parser that only works on 2 KB pages
//! is caught. The chrome mentions the result and no-results class names in
//! scripts, a client-side template and a comment, as real front ends do:
//! none of those may count as a marker or a hit.
//!
//! Content is synthetic: numbers from spare series (13…, 19…, 94…, 95…),
//! invented names. The output is deterministic (a fixed-seed generator), and
//! `realistic_fixtures_are_generated` checks the committed files against it;
//! `UNLISTD_WRITE_FIXTURES=1 cargo test --lib realistic_fixtures` rewrites
//! them.

use std::fmt::Write as _;

/// The number the no-results pages were asked for. The throughput bench
/// serves `realistic_no_results.html` with it replaced by the queried one.
pub(crate) const NO_HIT_NUMBER: &str = "19283746";
/// The number the hit pages were asked for (shown by their first listing).
pub(crate) const HIT_NUMBER: &str = "13572468";

/// A small deterministic generator (SplitMix64), so the pages never change
/// with a dependency's version.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TRADES: &[&str] = &[
    "Advokater",
    "Tømrere",
    "Murere",
    "Elektrikere",
    "VVS-installatører",
    "Malere",
    "Frisører",
    "Tandlæger",
    "Læger",
    "Dyrlæger",
    "Revisorer",
    "Ejendomsmæglere",
    "Autoværksteder",
    "Låsesmede",
    "Blomsterhandlere",
    "Bagere",
    "Slagtere",
    "Restauranter",
    "Pizzeriaer",
    "Caféer",
    "Hoteller",
    "Apoteker",
    "Optikere",
    "Fysioterapeuter",
    "Kiropraktorer",
    "Psykologer",
    "Køreskoler",
    "Vognmænd",
    "Flyttefirmaer",
    "Rengøringsfirmaer",
    "Anlægsgartnere",
    "Tagdækkere",
    "Glarmestre",
    "Skorstensfejere",
    "Kloakmestre",
    "Snedkere",
    "Smede",
    "Entreprenører",
    "Arkitekter",
    "Ingeniører",
];

const CITIES: &[&str] = &[
    "København",
    "Aarhus",
    "Odense",
    "Aalborg",
    "Esbjerg",
    "Randers",
    "Kolding",
    "Horsens",
    "Vejle",
    "Roskilde",
    "Herning",
    "Hørsholm",
    "Helsingør",
    "Silkeborg",
    "Næstved",
    "Fredericia",
    "Viborg",
    "Køge",
    "Holstebro",
    "Slagelse",
    "Hillerød",
    "Sønderborg",
    "Svendborg",
    "Hjørring",
    "Holbæk",
    "Frederikshavn",
    "Ringsted",
    "Haderslev",
    "Ølstykke",
    "Skive",
    "Nyborg",
    "Ærøskøbing",
];

const MENU_HEADINGS: &[&str] = &[
    "Håndværkere",
    "Sundhed",
    "Bil og transport",
    "Bolig og have",
    "Mad og drikke",
    "Rådgivning",
    "Skønhed og velvære",
    "Fritid",
    "Børn og familie",
    "Erhverv",
    "Offentlige myndigheder",
    "Rejser",
];

const FOOTER_LINKS: &[&str] = &[
    "Om 118.dk",
    "Hjælp",
    "Cookies",
    "Persondatameddelelse",
    "Ret dine oplysninger",
    "Hemmeligt nummer",
    "Annoncér",
    "Presse",
    "Job",
    "Kontakt",
    "Tilgængelighedserklæring",
    "Vilkår",
];

/// A listing shown on a result page (all fields already display strings).
pub(crate) struct Person<'a> {
    pub id: &'a str,
    pub first: &'a str,
    pub middle: Option<&'a str>,
    pub last: &'a str,
    /// Shown as "13 57 24 68", dialled as `tel:+4513572468`.
    pub phones: &'a [&'a str],
    pub street: &'a str,
    /// As printed: "14B, 2. th".
    pub number: &'a str,
    pub postcode: &'a str,
    pub city: &'a str,
}

impl Person<'_> {
    pub(crate) fn name(&self) -> String {
        match self.middle {
            Some(m) => format!("{} {m} {}", self.first, self.last),
            None => format!("{} {}", self.first, self.last),
        }
    }
}

/// The people on the hit pages. The first is the one asked for.
pub(crate) const HIT_PEOPLE: &[Person<'static>] = &[
    Person {
        id: "P7F3K2",
        first: "Mette",
        middle: Some("Lykke"),
        last: "Kjærgaard",
        phones: &["13572468"],
        street: "Ågade",
        number: "14B, 2. th",
        postcode: "8000",
        city: "Aarhus C",
    },
    Person {
        id: "P7F3K3",
        first: "Mette",
        middle: Some("Lykke"),
        last: "Kjærgaard",
        phones: &["19572468"],
        street: "Ågade",
        number: "14B, 2. th",
        postcode: "8000",
        city: "Aarhus C",
    },
    Person {
        id: "Q2L9W4",
        first: "Søren",
        middle: Some("Ærbøl"),
        last: "Ståhlkjær",
        phones: &["95554433", "19554433"],
        street: "Strålerup Allé",
        number: "5, 4. tv",
        postcode: "2100",
        city: "København Ø",
    },
];

/// "13 57 24 68".
pub(crate) fn spaced(n: &str) -> String {
    let b = n.as_bytes();
    if b.len() != 8 {
        return n.to_owned();
    }
    format!("{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8])
}

/// "Tømrere i Aarhus" → "toemrere-i-aarhus".
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        match c {
            'æ' => out.push_str("ae"),
            'ø' => out.push_str("oe"),
            'å' => out.push_str("aa"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    out.trim_matches('-').to_owned()
}

/// A pseudo-random token of `len` hex digits (build ids, hashes, session ids).
fn hex(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len);
    while s.len() < len {
        let _ = write!(s, "{:016x}", rng.next());
    }
    s.truncate(len);
    s
}

const ICON_PATHS: &[&str] = &[
    "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-6h2v6zm0-8h-2V7h2v2z",
    "M3 6h18v2H3V6zm0 5h18v2H3v-2zm0 5h18v2H3v-2z",
    "M15.5 14h-.79l-.28-.27A6.47 6.47 0 0 0 16 9.5 6.5 6.5 0 1 0 9.5 16c1.61 0 3.09-.59 4.23-1.57l.27.28v.79l5 4.99L20.49 19l-4.99-5z",
    "M6.62 10.79a15.05 15.05 0 0 0 6.59 6.59l2.2-2.2c.27-.27.67-.36 1.02-.24 1.12.37 2.33.57 3.57.57.55 0 1 .45 1 1V20c0 .55-.45 1-1 1A17 17 0 0 1 3 4c0-.55.45-1 1-1h3.5c.55 0 1 .45 1 1 0 1.25.2 2.45.57 3.57.11.35.03.74-.25 1.02l-2.2 2.2z",
];

fn icon(rng: &mut Rng, class: &str) -> String {
    format!(
        "<svg class=\"icon {class}\" viewBox=\"0 0 24 24\" width=\"20\" height=\"20\" aria-hidden=\"true\" focusable=\"false\"><g fill=\"currentColor\"><path d=\"{}\"/></g></svg>",
        rng.pick(ICON_PATHS)
    )
}

/// The 118.dk mega menu: `columns` columns of `links` branch-in-city links.
fn dk118_mega_menu(rng: &mut Rng, session: &str, columns: usize, links: usize) -> String {
    let mut out = String::from(
        "<nav class=\"mega-menu\" id=\"mega-menu\" aria-label=\"Find virksomheder\" data-component='MegaMenu'>\n",
    );
    for c in 0..columns {
        let heading = MENU_HEADINGS[c % MENU_HEADINGS.len()];
        let _ = writeln!(
            out,
            "<div class=\"mega-menu__column\" data-column=\"{c}\">\n<h4 class=\"mega-menu__heading\">{}{heading}</h4>\n<ul class=\"mega-menu__list\">",
            icon(rng, "mega-menu__icon")
        );
        for _ in 0..links {
            let trade = rng.pick(TRADES);
            let city = rng.pick(CITIES);
            let label = format!("{trade} i {city}");
            let _ = writeln!(
                out,
                "<li class=\"mega-menu__item\"><a class=\"mega-menu__link\" href=\"/search/go;jsessionid={session}?what={}&amp;where={}&amp;listingType=business\" data-track=\"menu:{}\" title=\"{label}\">{label}</a></li>",
                slug(trade),
                slug(city),
                slug(&label)
            );
        }
        out.push_str("</ul>\n</div>\n");
    }
    out.push_str("</nav>\n");
    out
}

/// The site configuration script 118.dk-like front ends inline: feature
/// flags, texts and the search state (the queried number echoed).
fn dk118_config_script(rng: &mut Rng, number: &str) -> String {
    let mut flags = String::new();
    for i in 0..60 {
        let _ = write!(
            flags,
            "{}\"feature{i:02}_{}\":{}",
            if i == 0 { "" } else { "," },
            hex(rng, 6),
            rng.below(2) == 0
        );
    }
    let mut texts = String::new();
    for (i, t) in TRADES.iter().enumerate() {
        let _ = write!(
            texts,
            "{}\"trade.{}\":\"{t}\"",
            if i == 0 { "" } else { "," },
            slug(t)
        );
    }
    format!(
        "<script>\nwindow.T118 = window.T118 || {{}};\nwindow.T118.config = {{\"env\":\"prod\",\"node\":\"node2\",\"release\":\"{}\",\"search\":{{\"what\":\"{number}\",\"where\":\"\",\"pageSize\":25,\"page\":1,\"listingType\":\"\"}},\"flags\":{{{flags}}},\"texts\":{{{texts},\"search.none\":\"Ingen resultater\",\"search.hits\":\"{{n}} resultater\"}},\"selectors\":{{\"result\":\".result-block\",\"empty\":\".no-results\",\"description\":\".description-block\"}}}};\n</script>\n",
        hex(rng, 12)
    )
}

/// Analytics and tag-manager boilerplate, with the query in the data layer.
fn dk118_analytics(number: &str) -> String {
    format!(
        "<script>\nwindow.dataLayer = window.dataLayer || [];\nwindow.dataLayer.push({{\"event\":\"search\",\"searchTerm\":\"{number}\",\"searchType\":\"phone\",\"resultCount\":document.querySelectorAll('div.result-block').length,\"noResults\":!!document.querySelector('div.no-results')}});\n(function(w,d,s,l,i){{w[l]=w[l]||[];w[l].push({{'gtm.start':new Date().getTime(),event:'gtm.js'}});var f=d.getElementsByTagName(s)[0],j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src='https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);}})(window,document,'script','dataLayer','GTM-T118XX');\nif (1 < 2 && \"</div>\".length > 0) {{ /* markup in strings must not end anything */ }}\n</script>\n"
    )
}

fn dk118_head(rng: &mut Rng, title: &str, number: &str, session: &str) -> String {
    let mut css = String::new();
    for i in 0..50 {
        let _ = write!(
            css,
            ".u-{i}{{margin:{}px {}px;padding:{}px}}",
            rng.below(24),
            rng.below(24),
            rng.below(16)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"da\" class=\"no-js\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title} - 118.dk</title>\n<meta name=\"description\" content=\"Søg efter personer og virksomheder i Danmark. Find telefonnumre, adresser og kort på 118.dk.\">\n<meta name=\"robots\" content=\"noindex, follow\">\n<meta property=\"og:title\" content=\"{title} - 118.dk\">\n<link rel=\"canonical\" href=\"https://www.118.dk/search/go?what={number}\">\n<link rel=\"preconnect\" href=\"https://cdn.118.dk\" crossorigin>\n<link rel=\"preload\" href=\"/static/fonts/nuuday-sans.woff2\" as=\"font\" type=\"font/woff2\" crossorigin>\n<link rel=\"stylesheet\" href=\"/static/css/main.css;jsessionid={session}\">\n<link rel=\"icon\" href=\"/static/img/favicon.ico\">\n<style>{css}</style>\n{}{}<script type=\"application/ld+json\">{{\"@context\":\"https://schema.org\",\"@type\":\"WebSite\",\"url\":\"https://www.118.dk/\",\"potentialAction\":{{\"@type\":\"SearchAction\",\"target\":\"https://www.118.dk/search/go?what={{search_term_string}}\",\"query-input\":\"required name=search_term_string\"}}}}</script>\n<script src=\"/static/js/jquery.min.js;jsessionid={session}\"></script>\n</head>\n",
        dk118_config_script(rng, number),
        dk118_analytics(number),
    )
}

/// Everything above the results: banners, header, mega menu, search form.
fn dk118_top(rng: &mut Rng, number: &str, session: &str) -> String {
    format!(
        "<body class=\"search-page\" data-page='search'>\n<!-- Google Tag Manager (noscript) -->\n<noscript><iframe src=\"https://www.googletagmanager.com/ns.html?id=GTM-T118XX\" height=\"0\" width=\"0\" style=\"display:none;visibility:hidden\"></iframe><div class=\"no-results\">JavaScript er slået fra</div></noscript>\n<div id=\"cookie-consent\" class=\"cookie-banner\" role=\"dialog\" aria-live=\"polite\" hidden>\n<p>Vi bruger cookies til at forbedre din oplevelse og til statistik. Læs mere i vores <a href=\"/info/show/FOOTER3\">cookiepolitik</a>.</p>\n<button type=\"button\" class=\"btn btn-primary\" data-consent=\"all\">Accepter alle</button>\n<button type=\"button\" class=\"btn\" data-consent=\"necessary\">Kun nødvendige</button>\n</div>\n<header id=\"top\" class=\"site-header\">\n<div class=\"container\">\n<a class=\"logo\" href=\"/;jsessionid={session}\"><img src=\"/static/img/118-logo.svg\" alt=\"118.dk\" width=\"96\" height=\"40\"></a>\n<button class=\"menu-toggle\" type=\"button\" aria-controls=\"mega-menu\" aria-expanded=\"false\">{}<span class=\"sr-only\">Menu</span></button>\n<nav class=\"main-nav\">\n<ul>\n<li><a href=\"/search/go;jsessionid={session}?listingType=residential\">Personer</a></li>\n<li><a href=\"/search/go;jsessionid={session}?listingType=business\">Virksomheder</a></li>\n<li><a href=\"/info/show/FOOTER2\">Hjælp</a></li>\n</ul>\n</nav>\n{}</div>\n</header>\n<section class=\"search-form\">\n<form id=\"searchForm\" action=\"/search/go;jsessionid={session}\" method=\"get\">\n<input type=\"hidden\" name=\"pageSize\" value=\"25\">\n<label for=\"what\">Hvem/hvad</label>\n<input type=\"text\" id=\"what\" name=\"what\" value=\"{number}\" placeholder=\"Navn, telefonnummer, firma\" autocomplete=\"off\">\n<label for=\"where\">Hvor</label>\n<input type=\"text\" id=\"where\" name=\"where\" value=\"\" placeholder=\"Adresse, postnr. eller by\">\n<button type=\"submit\" class=\"btn-search\">{}Søg</button>\n</form>\n</section>\n",
        icon(rng, "menu-toggle__icon"),
        dk118_mega_menu(rng, session, 12, 18),
        icon(rng, "btn-search__icon"),
    )
}

/// Everything below the results: ads, footer, templates, scripts.
fn dk118_bottom(rng: &mut Rng, session: &str) -> String {
    let mut footer = String::new();
    for (i, l) in FOOTER_LINKS.iter().enumerate() {
        let _ = writeln!(
            footer,
            "<li><a href=\"/info/show/FOOTER{}\">{l}</a></li>",
            i + 1
        );
    }
    let mut cities = String::new();
    for c in CITIES {
        let _ = write!(
            cities,
            "<a href=\"/search/go;jsessionid={session}?where={}\">{c}</a> &middot; ",
            slug(c)
        );
    }
    format!(
        "<aside class=\"ads\">\n<div class=\"ad-slot\" id=\"ad-right\" data-ad-unit=\"/2118/118dk/search/right\" data-sizes='[[300,250],[300,600]]'></div>\n</aside>\n</main>\n<footer class=\"site-footer\">\n<div class=\"container\">\n<ul class=\"footer-links\">\n{footer}</ul>\n<p class=\"footer-cities\">{cities}</p>\n<p class=\"copyright\">&copy; Nuuday A/S &middot; Teglholmgade 1 &middot; 0900 K&oslash;benhavn C &middot; CVR 40075291</p>\n</div>\n</footer>\n<!-- <div class=\"no-results\"> was the old empty-state wrapper; kept for the A/B test -->\n<script type=\"text/template\" id=\"tpl-result\">\n<div class=\"result-block\" id=\"listing{{{{i}}}}\"><h3><a href=\"{{{{url}}}}\">{{{{name}}}}</a></h3><div class=\"description-block\"><address>{{{{address}}}}</address><p><a href=\"tel:{{{{tel}}}}\">{{{{phone}}}}</a></p></div></div>\n</script>\n<script>\n(function () {{\n  var empty = '<div class=\"no-results\"><h2>Ingen resultater</h2></div>';\n  var blocks = document.querySelectorAll('.result-block');\n  if (!blocks.length && !document.querySelector('.no-results')) {{ document.body.insertAdjacentHTML('beforeend', empty); }}\n}})();\n</script>\n<script src=\"/static/js/search.js;jsessionid={session}\" defer></script>\n<script src=\"/static/js/vendor.{}.js\" defer></script>\n</body>\n</html>\n",
        hex(rng, 10)
    )
}

/// One `div.result-block` as `sites.md` §9 describes it.
fn dk118_block(i: usize, p: &Person<'_>, session: &str) -> String {
    let mut phones = String::new();
    for n in p.phones {
        let _ = write!(
            phones,
            "\n<p class=\"phone\"><a href=\"tel:+45{n}\" class=\"phone-link\" data-track=\"call\">{}</a></p>",
            spaced(n)
        );
    }
    format!(
        "<div class=\"result-block\" id=\"listing{i}\" data-listing-type=\"residential\">\n<div class=\"result-header\">\n<h3><a href=\"/person/show/{};jsessionid={session}\">{}</a></h3>\n</div>\n<div class=\"description-block\">\n<address>{} {}<br>\n{} {}</address>{phones}\n<a class=\"map-link\" href=\"/kort/show/{}\">se kort</a>\n</div>\n</div>\n",
        p.id,
        p.name(),
        p.street,
        p.number,
        p.postcode,
        p.city,
        p.id
    )
}

/// The 118.dk page for `number`: the no-results marker when `people` is
/// empty, else one result block per person.
pub(crate) fn dk118_page(number: &str, people: &[Person<'_>]) -> String {
    let mut rng = Rng::new(118);
    let session = hex(&mut rng, 32).to_uppercase() + ".node2";
    let mut out = dk118_head(&mut rng, &spaced(number), number, &session);
    out.push_str(&dk118_top(&mut rng, number, &session));
    out.push_str("<main id=\"content\" class=\"container\">\n<div class=\"search-result\">\n");
    if people.is_empty() {
        let _ = write!(
            out,
            "<div class=\"no-results\">\n<h2>Ingen resultater</h2>\n<p>Vi fandt ingen resultater for <strong>{}</strong>. Kontrollér stavningen, eller prøv en bredere søgning.</p>\n</div>\n",
            spaced(number)
        );
    } else {
        let _ = writeln!(
            out,
            "<h1 class=\"result-count\">{} resultater</h1>",
            people.len()
        );
        for (i, p) in people.iter().enumerate() {
            out.push_str(&dk118_block(i, p, &session));
        }
    }
    out.push_str("</div>\n");
    out.push_str(&dk118_bottom(&mut rng, &session));
    out
}

/// A JSON string literal the way Next.js writes one (non-ASCII escaped).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn eniro_person_json(p: &Person<'_>) -> String {
    let phones: Vec<String> = p
        .phones
        .iter()
        .map(|n| format!("{{\"number\":\"+45{n}\",\"type\":\"mobile\",\"reservation\":false}}"))
        .collect();
    format!(
        "{{\"eniroId\":\"{}\",\"name\":{{\"firstName\":{},\"middleName\":{},\"lastName\":{}}},\"nameLegal\":null,\"birthDate\":null,\"proff\":null,\"phones\":[{}],\"addresses\":[{{\"streetName\":{},\"streetNumber\":{},\"postalCode\":\"{}\",\"postalArea\":{},\"coordinates\":[{{\"lat\":56.1572,\"lon\":10.2107}}]}}],\"links\":{{\"profile\":\"/{}/{}/person\"}}}}",
        p.id,
        json_str(p.first),
        p.middle.map_or("null".to_owned(), json_str),
        json_str(p.last),
        phones.join(","),
        json_str(p.street),
        json_str(p.number),
        p.postcode,
        json_str(p.city),
        slug(&p.name()),
        p.id
    )
}

/// The rest of a Next.js page's state: translations, feature flags, ad
/// and tracking config. Large, and without a `persons` key anywhere.
fn eniro_app_state(rng: &mut Rng) -> String {
    let mut messages = String::new();
    for (i, t) in TRADES.iter().chain(CITIES).chain(MENU_HEADINGS).enumerate() {
        for variant in ["title", "description", "cta"] {
            let _ = write!(
                messages,
                "{}\"{}.{variant}\":{}",
                if i == 0 && variant == "title" {
                    ""
                } else {
                    ","
                },
                slug(t),
                json_str(&format!("{t}: {variant} {}", hex(rng, 8)))
            );
        }
    }
    let mut flags = String::new();
    for i in 0..80 {
        let _ = write!(
            flags,
            "{}\"flag_{}\":{{\"enabled\":{},\"variant\":\"{}\"}}",
            if i == 0 { "" } else { "," },
            hex(rng, 8),
            rng.below(2) == 0,
            hex(rng, 4)
        );
    }
    format!(
        "\"messages\":{{{messages}}},\"featureFlags\":{{{flags}}},\"ads\":{{\"network\":\"/2118/krak\",\"slots\":[\"top\",\"right\",\"bottom\"],\"lazy\":true}},\"tracking\":{{\"gtm\":\"GTM-KRAKXX\",\"consentVersion\":7}}"
    )
}

fn eniro_next_data(rng: &mut Rng, number: &str, people: &[Person<'_>], build: &str) -> String {
    let persons: Vec<String> = people.iter().map(eniro_person_json).collect();
    format!(
        "{{\"props\":{{\"pageProps\":{{\"initialState\":{{\"hits\":{{\"persons\":{},\"companies\":0}},\"persons\":[{}],\"companies\":[],\"searchPage\":{{\"query\":\"{number}\",\"page\":1,\"limit\":25,\"sortOrder\":\"default\"}},\"filters\":{{\"geo\":null,\"categories\":[]}}}},\"profile\":\"krak\",{}}},\"__N_SSP\":true}},\"page\":\"/search/[...slug]\",\"query\":{{\"slug\":[\"{number}\",\"persons\",\"1\"]}},\"buildId\":\"{build}\",\"isFallback\":false,\"gssp\":true,\"locale\":\"da\",\"locales\":[\"da\"],\"defaultLocale\":\"da\",\"scriptLoader\":[]}}",
        people.len(),
        persons.join(","),
        eniro_app_state(rng)
    )
}

fn eniro_card(p: &Person<'_>) -> String {
    let mut phones = String::new();
    for n in p.phones {
        let _ = write!(
            phones,
            "<a class=\"result-phone\" href=\"tel:+45{n}\">{}</a>",
            spaced(n)
        );
    }
    format!(
        "<li class=\"result-item\"><article class=\"card\"><h2><a href=\"/{}/{}/person\">{}</a></h2><p class=\"result-address\">{} {}, {} {}</p>{phones}</article></li>\n",
        slug(&p.name()),
        p.id,
        p.name(),
        p.street,
        p.number,
        p.postcode,
        p.city
    )
}

/// The krak.dk HTML route (`/<number>/personer`): Next.js chrome, visible
/// cards and `script#__NEXT_DATA__` (zero hits when `people` is empty).
pub(crate) fn eniro_page(number: &str, people: &[Person<'_>]) -> String {
    let mut rng = Rng::new(2024);
    let build = format!("k3Rk-{}", hex(&mut rng, 16));
    let mut head = String::new();
    for i in 0..24 {
        let _ = write!(
            head,
            "<script src=\"/_next/static/chunks/{}-{}.js\" defer=\"\"></script>",
            i * 37 + 101,
            hex(&mut rng, 16)
        );
    }
    let mut nav = String::new();
    for _ in 0..420 {
        let trade = rng.pick(TRADES);
        let city = rng.pick(CITIES);
        let _ = write!(
            nav,
            "<li class=\"SiteNav_item__{0}\"><a class=\"SiteNav_link__{0}\" href=\"/{1}+{2}/firmaer\">{3} i {4}</a></li>",
            hex(&mut rng, 5),
            slug(trade),
            slug(city),
            trade,
            city
        );
    }
    let heading = if people.is_empty() {
        format!("Ingen resultater for &quot;{number}&quot;")
    } else {
        format!("{} personer", people.len())
    };
    let cards: String = people.iter().map(eniro_card).collect();
    format!(
        "<!DOCTYPE html><html lang=\"da\"><head><meta charSet=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width\"/><title>{number} - personer | Krak</title><meta name=\"robots\" content=\"noindex\"/><link rel=\"preload\" href=\"/_next/static/css/{css}.css\" as=\"style\"/><link rel=\"stylesheet\" href=\"/_next/static/css/{css}.css\" data-n-g=\"\"/>{head}<script src=\"/_next/static/{build}/_buildManifest.js\" defer=\"\"></script><script src=\"/_next/static/{build}/_ssgManifest.js\" defer=\"\"></script></head>\n<body><div id=\"__next\"><header class=\"Header_header__x1\"><a class=\"logo\" href=\"/\">{logo}Krak</a>\n<form class=\"search\" action=\"/search\" method=\"get\"><input type=\"search\" name=\"searchQuery\" value=\"{number}\" placeholder=\"Søg efter personer, firmaer, adresser\"/><button type=\"submit\">{search}Søg</button></form>\n<nav class=\"SiteNav_nav__q1\"><ul>{nav}</ul></nav></header>\n<main><h1 class=\"result-heading\">{heading}</h1>\n<ul class=\"result-list\">\n{cards}</ul></main>\n<footer class=\"footer\"><a href=\"/om-krak\">Om Krak</a> · <a href=\"/privatlivspolitik\">Privatlivspolitik</a></footer></div>\n<script id=\"__NEXT_DATA__\" type=\"application/json\">{data}</script></body></html>\n",
        css = hex(&mut rng, 10),
        logo = icon(&mut rng, "logo__icon"),
        search = icon(&mut rng, "search__icon"),
        data = eniro_next_data(&mut rng, number, people, &build),
    )
}

fn hitta_item(p: &Person<'_>) -> String {
    let mut phones = String::new();
    for n in p.phones {
        let _ = writeln!(
            phones,
            "<a class=\"phone\" data-test=\"phone-link\" href=\"tel:+45{n}\">{}</a>",
            spaced(n)
        );
    }
    format!(
        "<li class=\"result-row\" data-test=\"person-item\">\n<a class=\"result-link\" href=\"/{}/{}/person/{}\">\n<h2 class=\"title\" data-test=\"search-result-title\">{}</h2>\n</a>\n<address class=\"result-address\">{} {}<br>{} {}</address>\n<div class=\"actions\">\n{phones}<button class=\"save\" data-test=\"save-button\" type=\"button\">Spara</button>\n</div>\n</li>\n",
        slug(&p.name()),
        slug(p.city),
        p.id,
        p.name(),
        p.street,
        p.number,
        p.postcode,
        p.city
    )
}

/// A hitta.se-shaped page (`sites.md` §5) with chrome, for the declarative
/// adapter: a `[data-test="no-hits"]` box when `people` is empty.
pub(crate) fn hitta_page(number: &str, people: &[Person<'_>]) -> String {
    let mut rng = Rng::new(46);
    let mut menu = String::new();
    for _ in 0..400 {
        let trade = rng.pick(TRADES);
        let city = rng.pick(CITIES);
        let _ = writeln!(
            menu,
            "<li class=\"menu-item\"><a href=\"/f%C3%B6retag/{}/{}\" data-test=\"menu-link\" data-track-id=\"{}\">{trade} i {city}</a></li>",
            slug(trade),
            slug(city),
            hex(&mut rng, 8)
        );
    }
    let body = if people.is_empty() {
        format!(
            "<div class=\"empty\" data-test=\"no-hits\">\n<h1>Inga träffar på &quot;{number}&quot;</h1>\n<p>Kontrollera stavningen eller sök på något annat.</p>\n</div>\n"
        )
    } else {
        let items: String = people.iter().map(hitta_item).collect();
        format!(
            "<h1 data-test=\"search-heading\">{} träffar på personer</h1>\n<ol class=\"result-list\" data-test=\"person-list\">\n{items}</ol>\n",
            people.len()
        )
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{number} - Personer | hitta.se</title>\n<link rel=\"stylesheet\" href=\"/static/css/app.{css}.css\">\n<script>window.__HITTA__ = {{\"query\":\"{number}\",\"selectors\":{{\"item\":\"[data-test=person-item]\",\"empty\":\"[data-test=no-hits]\"}},\"release\":\"{release}\"}};</script>\n</head>\n<body>\n<header class=\"site-header\">\n<a class=\"logo\" href=\"/\" aria-label=\"hitta.se\">{logo}hitta.se</a>\n<form class=\"search\" action=\"/s%C3%B6k\" method=\"get\" role=\"search\">\n<input type=\"search\" name=\"vad\" value=\"{number}\" data-test=\"search-input\">\n<button type=\"submit\" data-test=\"search-button\">Sök</button>\n</form>\n<nav class=\"menu\"><ul>\n{menu}</ul></nav>\n</header>\n<main>\n{body}</main>\n<script type=\"text/x-template\" id=\"tpl-item\"><li data-test=\"person-item\"><h2 data-test=\"search-result-title\"></h2></li></script>\n<footer class=\"site-footer\"><a href=\"/om-hitta\">Om hitta.se</a></footer>\n</body>\n</html>\n",
        css = hex(&mut rng, 6),
        release = hex(&mut rng, 8),
        logo = icon(&mut rng, "logo__icon"),
    )
}

/// Every realistic fixture: (path under `tests/fixtures/`, content).
pub(crate) fn realistic_fixtures() -> Vec<(&'static str, String)> {
    let hits = HIT_PEOPLE;
    vec![
        (
            "118/realistic_no_results.html",
            dk118_page(NO_HIT_NUMBER, &[]),
        ),
        ("118/realistic_hits.html", dk118_page(HIT_NUMBER, hits)),
        (
            "eniro/realistic_no_hits.html",
            eniro_page(NO_HIT_NUMBER, &[]),
        ),
        ("eniro/realistic_hits.html", eniro_page(HIT_NUMBER, hits)),
        (
            "declarative/realistic_hitta_no_hits.html",
            hitta_page(NO_HIT_NUMBER, &[]),
        ),
        (
            "declarative/realistic_hitta_hits.html",
            hitta_page(HIT_NUMBER, hits),
        ),
    ]
}

#[test]
fn realistic_fixtures_are_generated() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let write = std::env::var_os("UNLISTD_WRITE_FIXTURES").is_some();
    for (path, content) in realistic_fixtures() {
        assert!(
            (50_000..=300_000).contains(&content.len()),
            "{path}: {} bytes",
            content.len()
        );
        let file = root.join(path);
        if write {
            std::fs::write(&file, &content).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == content,
            "{path} differs from the generator (UNLISTD_WRITE_FIXTURES=1 rewrites it)"
        );
    }
}
