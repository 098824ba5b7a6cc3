//! Small helpers shared by the adapters ([`super::dk118`], [`super::eniro`],
//! [`super::declarative`]). Everything here is total: any input gives a
//! result, never a panic.

#[cfg(test)]
pub(crate) mod pages;
pub(crate) mod scan;

use scraper::{ElementRef, Node};

use crate::domain::address::{split_address_text, split_post_line, split_street_line};
use crate::domain::{E164, ListedAddress};

/// [`super::looks_like_challenge`] without copying the page char by char:
/// the same markers, ASCII case-insensitively, in the same first 64 Ki
/// characters. It runs on every page, so it must cost little next to the
/// pre-scan (the shared one takes ~0.1 ms on an 82 KB page).
pub(crate) fn looks_like_challenge(body: &str) -> bool {
    const CHARS: usize = 64 * 1024;
    let b = body.as_bytes();
    // Byte length of the first CHARS characters: count character starts
    // (non-continuation bytes) a chunk at a time, then finish by hand.
    let mut end = 0;
    let mut seen = 0;
    while end < b.len() {
        let chunk = &b[end..b.len().min(end + 4096)];
        let starts = chunk.iter().filter(|&&c| (c as i8) >= -0x40).count();
        if seen + starts > CHARS {
            break;
        }
        seen += starts;
        end += chunk.len();
    }
    while end < b.len() {
        if (b[end] as i8) >= -0x40 {
            if seen == CHARS {
                break;
            }
            seen += 1;
        }
        end += 1;
    }
    let head = b[..end].to_ascii_lowercase();
    // Three passes instead of one per marker: "turnstile" is in
    // "cf-turnstile", and the other three markers all hold "challenge",
    // which pages rarely do, so each of its places is checked for them.
    static FIND: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::LazyLock::new(|| {
            ["turnstile", "captcha", "challenge"].map(memchr::memmem::Finder::new)
        });
    let [turnstile, captcha, challenge] = &*FIND;
    turnstile.find(&head).is_some()
        || captcha.find(&head).is_some()
        || challenge.find_iter(&head).any(|at| {
            let (before, from) = head.split_at(at);
            before.ends_with(b"cf-")
                || from.starts_with(b"challenges.cloudflare.com")
                || (before.ends_with(b"/cdn-cgi/") && from.starts_with(b"challenge-platform"))
        })
}

/// Trims and collapses runs of whitespace (including no-break spaces).
pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so the
/// result is safe as a path segment and as a query value alike (a space
/// becomes `%20`, `+` becomes `%2B`).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// How a request's values are written: to send (the real values,
/// percent-encoded), or to store (redacted). An adapter builds both forms
/// of every request from the same parts, so the stored one cannot drift
/// from what was sent, and nothing but the redacted form is ever kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Sent,
    Stored,
}

/// What a value in a request is, for its stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// The adapter's own words, page numbers, a site's build id: as sent.
    Fixed,
    /// The protected number, in any written form: every digit as `•`.
    Number,
    /// A name, street, postcode or city, or a search text made of them:
    /// [`REDACTED`].
    Private,
}

/// A private value in a stored request.
pub(crate) const REDACTED: &str = "•••";

/// `value` as a path segment or query value of a request in `form`. An
/// empty private value stays empty (nothing was sent).
pub(crate) fn write_value(held: Held, value: &str, form: Form) -> String {
    match (form, held) {
        (Form::Sent, _) | (Form::Stored, Held::Fixed) => encode_component(value),
        (Form::Stored, Held::Number) => value
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    "•".to_string()
                } else {
                    encode_component(c.encode_utf8(&mut [0; 4]))
                }
            })
            .collect(),
        (Form::Stored, Held::Private) if value.trim().is_empty() => String::new(),
        (Form::Stored, Held::Private) => REDACTED.to_string(),
    }
}

/// The digits of a string, in order.
pub(crate) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether two shown numbers are the same number: equal as Danish E.164
/// where both parse, else equal digit strings.
pub(crate) fn same_number(a: &str, b: &str) -> bool {
    match (E164::parse_dk(a), E164::parse_dk(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => digits(a) == digits(b),
    }
}

/// Adds `p` to `phones` unless it is empty or the same number as one
/// already there.
pub(crate) fn push_phone(phones: &mut Vec<String>, p: &str) {
    let p = collapse(p);
    if p.is_empty() || phones.iter().any(|q| *q == p || same_number(q, &p)) {
        return;
    }
    phones.push(p);
}

/// Phones from one element: its visible text, plus its `tel:` target when
/// that is a different number (a page could show one number and dial
/// another) or the text is empty.
pub(crate) fn element_phones(el: ElementRef<'_>, phones: &mut Vec<String>) {
    let text = collapse(&el.text().collect::<String>());
    let href = el.attr("href").map(str::trim).unwrap_or("");
    let target = href
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tel:"))
        .and_then(|_| href.get(4..))
        .map(str::trim)
        .unwrap_or("");
    if !text.is_empty() {
        push_phone(phones, &text);
    }
    if !target.is_empty() && (text.is_empty() || !same_number(&text, target)) {
        // Keep the `tel:` prefix so analysts see where the number came from.
        let before = phones.len();
        push_phone(phones, href);
        if phones.len() == before && text.is_empty() {
            push_phone(phones, target);
        }
    }
}

/// Block-level elements: their edges end a line of text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "li"
            | "ul"
            | "ol"
            | "address"
            | "section"
            | "article"
            | "tr"
            | "td"
            | "dd"
            | "dt"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
    )
}

/// Text lines of an element, split at `<br>` and block elements; script
/// and style content is skipped. Walks with an explicit stack so deeply
/// nested markup cannot overflow the call stack.
pub(crate) fn element_lines(el: ElementRef<'_>) -> Vec<String> {
    enum Step<'a> {
        Enter(ElementRef<'a>),
        Text(&'a str),
        Break,
    }
    fn flush(current: &mut String, lines: &mut Vec<String>) {
        let line = collapse(current);
        current.clear();
        if !line.is_empty() {
            lines.push(line);
        }
    }
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut stack = vec![Step::Enter(el)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(t) => current.push_str(t),
            Step::Break => flush(&mut current, &mut lines),
            Step::Enter(e) => {
                let name = e.value().name();
                if name == "br" {
                    flush(&mut current, &mut lines);
                    continue;
                }
                if matches!(name, "script" | "style" | "template" | "noscript") {
                    continue;
                }
                let block = is_block(name);
                if block {
                    flush(&mut current, &mut lines);
                    stack.push(Step::Break);
                }
                for child in e.children().rev() {
                    if let Some(ce) = ElementRef::wrap(child) {
                        stack.push(Step::Enter(ce));
                    } else if let Node::Text(t) = child.value() {
                        stack.push(Step::Text(t));
                    }
                }
            }
        }
    }
    flush(&mut current, &mut lines);
    lines
}

/// Joins address lines into one text and splits out the parts where the
/// layout makes them reliable: the street line directly above a
/// "postcode city" line. Otherwise the whole text is split.
pub(crate) fn listed_address(lines: &[String]) -> Option<ListedAddress> {
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim().trim_end_matches(',').trim())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let text = lines.join(", ");
    let post_at = lines
        .iter()
        .position(|l| split_post_line(l).0.is_some())
        .filter(|&p| p > 0);
    let (street, house_number, floor, door, postcode, city) = match post_at {
        Some(p) => {
            let (s, h, f, d) = split_street_line(lines[p - 1]);
            let (pc, c) = split_post_line(lines[p]);
            (s, h, f, d, pc, c)
        }
        None => {
            let a = split_address_text(&text);
            (
                a.street,
                a.house_number,
                a.floor,
                a.door,
                a.postcode,
                a.city,
            )
        }
    };
    Some(ListedAddress {
        text,
        street,
        house_number,
        floor,
        door,
        postcode,
        city,
    })
}

/// One-line rendering of address parts in the official style:
/// `"Ågade 14B, 2. th, 8000 Aarhus C"`. Empty parts are left out.
pub(crate) fn render_address(
    street: Option<&str>,
    house: Option<&str>,
    floor: Option<&str>,
    door: Option<&str>,
    postcode: Option<&str>,
    city: Option<&str>,
) -> String {
    let ne = |s: Option<&str>| s.map(collapse).filter(|s| !s.is_empty());
    let mut parts: Vec<String> = Vec::new();
    let street_line = [ne(street), ne(house)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !street_line.is_empty() {
        parts.push(street_line);
    }
    let floor = ne(floor).map(|f| {
        if f.ends_with('.') || !(f.bytes().all(|b| b.is_ascii_digit()) || f == "st" || f == "kl") {
            f
        } else {
            format!("{f}.")
        }
    });
    let fd = [floor, ne(door)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !fd.is_empty() {
        parts.push(fd);
    }
    let post = [ne(postcode), ne(city)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !post.is_empty() {
        parts.push(post);
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    #[test]
    fn encode() {
        assert_eq!(encode_component("13572468"), "13572468");
        assert_eq!(encode_component("+4513572468"), "%2B4513572468");
        assert_eq!(
            encode_component("Søren Ærbøl 2100 København Ø"),
            "S%C3%B8ren%20%C3%86rb%C3%B8l%202100%20K%C3%B8benhavn%20%C3%98"
        );
        assert_eq!(encode_component("a/b?c=d&e#f"), "a%2Fb%3Fc%3Dd%26e%23f");
    }

    #[test]
    fn lines_split_at_br_and_blocks() {
        let doc = Html::parse_fragment(
            "<div id=x>Ågade 14B, 2. th<br>8000 <b>Aarhus</b> C<script>var a = 1;</script><p>Tlf</p></div>",
        );
        let sel = Selector::parse("#x").unwrap_or_else(|_| unreachable!());
        let el = doc.select(&sel).next().unwrap_or_else(|| unreachable!());
        assert_eq!(
            element_lines(el),
            ["Ågade 14B, 2. th", "8000 Aarhus C", "Tlf"]
        );
    }

    #[test]
    fn render() {
        assert_eq!(
            render_address(
                Some("Ågade"),
                Some("14B"),
                Some("2"),
                Some("th"),
                Some("8000"),
                Some("Aarhus C")
            ),
            "Ågade 14B, 2. th, 8000 Aarhus C"
        );
        assert_eq!(
            render_address(Some("Ågade"), Some("1"), Some("st"), None, None, None),
            "Ågade 1, st."
        );
        assert_eq!(
            render_address(None, None, None, None, Some("8000"), None),
            "8000"
        );
    }

    proptest::proptest! {
        #[test]
        fn challenge_check_agrees_with_the_shared_one(
            pad in "[a-zø€𝄞 ]{0,70000}",
            marker in proptest::sample::select(vec![
                "", "CAPTCHA", "cf-Turnstile", "challenges.cloudflare.com", "CF-Challenge",
                "/cdn-cgi/Challenge-platform", "challenge", "/cdn-cgi/challenge",
                "cf-challeng", "challenges.cloudflare.co",
            ]),
            at in 0usize..70_000,
        ) {
            let at = pad.char_indices().map(|(i, _)| i).nth(at).unwrap_or(pad.len());
            let body = format!("{}{marker}{}", &pad[..at], &pad[at..]);
            proptest::prop_assert_eq!(
                looks_like_challenge(&body),
                crate::sites::looks_like_challenge(&body)
            );
        }
    }

    #[test]
    fn challenge_check_cuts_at_the_same_character() {
        for (pad, ch) in [("a", 1), ("ø", 2), ("€", 3), ("𝄞", 4)] {
            let _ = ch;
            for shift in [0usize, 1, 2] {
                let n = 64 * 1024 - shift;
                let body = format!("{}captcha", pad.repeat(n));
                assert_eq!(
                    looks_like_challenge(&body),
                    crate::sites::looks_like_challenge(&body),
                    "{pad} {shift}"
                );
            }
        }
    }

    #[test]
    fn phones_dedupe() {
        let mut p = Vec::new();
        push_phone(&mut p, "13 57 24 68");
        push_phone(&mut p, "+4513572468");
        push_phone(&mut p, " ");
        push_phone(&mut p, "19 00 00 00");
        assert_eq!(p, ["13 57 24 68", "19 00 00 00"]);
    }
}
