//! Paging for the API's lists: `limit` (default 100, at most 1000), an
//! opaque `after` cursor, and RFC 8288 `Link: <…>; rel="next"` while there
//! is more. The body keeps the contract's shape.
//!
//! A cursor is the last item's sort key (a time in Unix milliseconds and a
//! tie-breaking id), base64url-encoded with the list's letter, so one
//! list's cursor is refused by another.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;

pub(super) const DEFAULT_LIMIT: usize = 100;
pub(super) const MAX_LIMIT: usize = 1000;

/// A position in a list: after the item with this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    list: &'static str,
    pub time: i64,
    pub key: String,
}

impl Cursor {
    pub(super) fn new(list: &'static str, time: i64, key: &str) -> Cursor {
        Cursor {
            list,
            time,
            key: key.to_string(),
        }
    }

    pub(super) fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}1:{}:{}", self.list, self.time, self.key))
    }

    fn decode(list: &'static str, s: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let rest = text.strip_prefix(list)?.strip_prefix("1:")?;
        let (time, key) = rest.split_once(':')?;
        Some(Cursor {
            list,
            time: time.parse().ok()?,
            key: key.to_string(),
        })
    }
}

/// `limit` and `after` of one request.
#[derive(Debug)]
pub(super) struct PageQuery {
    pub limit: usize,
    pub after: Option<Cursor>,
}

impl PageQuery {
    /// Checks `limit` and decodes `after` for list `list`; the error names
    /// the parameter.
    pub(super) fn parse(
        limit: Option<&str>,
        after: Option<&str>,
        list: &'static str,
    ) -> Result<PageQuery, String> {
        let limit = parse_limit(limit)?;
        let after = match after.filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(
                Cursor::decode(list, a)
                    .ok_or_else(|| "after: not a cursor of this list".to_string())?,
            ),
        };
        Ok(PageQuery { limit, after })
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] without it.
pub(super) fn parse_limit(limit: Option<&str>) -> Result<usize, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(format!(
                "limit: must be a whole number from 1 to {MAX_LIMIT}"
            )),
        },
    }
}

/// Adds `Link: <next>; rel="next"` when there is a next page.
pub(super) fn with_next(mut r: Response, next: Option<String>) -> Response {
    if let Some(n) = next
        && let Ok(v) = HeaderValue::from_str(&format!("<{n}>; rel=\"next\""))
    {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

/// Percent-encodes all but RFC 3986 unreserved characters (a path segment
/// or a query value).
pub(super) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_in_their_list() {
        let c = Cursor::new("i", 1_795_815_600_000, "inc_00ab:cd");
        let s = c.encode();
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode("i", &s), Some(c));
        assert_eq!(Cursor::decode("h", &s), None);
        assert_eq!(Cursor::decode("i", "not base64!"), None);
        assert!(PageQuery::parse(None, Some(&s), "h").is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None), Ok(100));
        assert_eq!(parse_limit(Some("1")), Ok(1));
        assert_eq!(parse_limit(Some("1000")), Ok(1000));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
