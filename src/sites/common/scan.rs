//! A conservative pre-scan of HTML pages, so the adapters can answer most
//! pages without building the whole DOM (html5ever spends ~1 ms on the
//! 82 KB 118.dk page, mostly on a mega menu nobody reads).
//!
//! The scan is a tokenizer that follows the HTML tokenizer's rules where
//! they decide *which start tags create elements*: comments (including
//! `<!-->`), bogus comments, the raw text of `script`, `style`, `textarea`,
//! `title`, `noscript` and friends, quoted and unquoted attribute values,
//! duplicate attributes (the first wins), character references in
//! attribute values (html5ever's algorithm and table), CR normalisation.
//! Beside it runs a strict model of tree construction that only follows
//! well-formed pages (every end tag closes the current element, no
//! implied closes, a known set of elements); on such a page an element's
//! subtree is exactly the markup between its start and end tag, so that
//! slice alone can be parsed to the same subtree.
//!
//! Architecture invariant: the scan never decides on its own where it is
//! unsure. Anything outside what it models (`<template>`, `<select>`,
//! `<math>`, `<frameset>`, `<plaintext>`, foreign content other than plain
//! SVG icons, a NUL byte, `<!--` followed by `<script` inside a script,
//! markup cut off mid-tag) returns [`Unsure`], and the adapter parses the
//! page fully, as before. So a fast answer is always the full parse's
//! answer; the property tests in the adapters check exactly that.

use std::borrow::Cow;
use std::ops::Range;

/// The scan cannot vouch for this page: parse it fully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsure;

fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

/// Element flags of the strict tree model.
const VOID: u16 = 1;
/// Does not close an open `p` when it starts.
const PHRASING: u16 = 1 << 1;
/// Allowed in `body` by the strict model.
const BODY: u16 = 1 << 2;
/// Allowed in `head` by the strict model.
const HEAD: u16 = 1 << 3;
/// May be an ancestor of an element whose markup is parsed on its own
/// (no selector of ours can reach through it, no parsing rule looks at it).
const SAFE_ANCESTOR: u16 = 1 << 4;
/// Its start tag always creates an element, in every insertion mode the
/// scan lets through.
const CREATES: u16 = 1 << 5;
const HEADING: u16 = 1 << 6;

/// Lower-cased element names the model knows, with their flags.
fn element(name: &[u8]) -> Option<(&'static str, u16)> {
    let mut buf = [0u8; 12];
    let lower = buf.get_mut(..name.len())?;
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    const B: u16 = BODY | CREATES;
    const P: u16 = BODY | CREATES | PHRASING;
    const PV: u16 = P | VOID;
    const BLOCK: u16 = B | SAFE_ANCESTOR;
    Some(match &*lower {
        b"div" => ("div", BLOCK),
        b"section" => ("section", BLOCK),
        b"article" => ("article", BLOCK),
        b"main" => ("main", BLOCK),
        b"aside" => ("aside", BLOCK),
        b"header" => ("header", BLOCK),
        b"footer" => ("footer", BLOCK),
        b"nav" => ("nav", BLOCK),
        b"ul" => ("ul", BLOCK),
        b"ol" => ("ol", BLOCK),
        b"li" => ("li", BLOCK),
        b"body" => ("body", SAFE_ANCESTOR),
        b"p" => ("p", B),
        b"h1" => ("h1", B | HEADING),
        b"h2" => ("h2", B | HEADING),
        b"h3" => ("h3", B | HEADING),
        b"h4" => ("h4", B | HEADING),
        b"h5" => ("h5", B | HEADING),
        b"h6" => ("h6", B | HEADING),
        b"dl" => ("dl", B),
        b"dt" => ("dt", B),
        b"dd" => ("dd", B),
        b"address" => ("address", B),
        b"figure" => ("figure", B),
        b"figcaption" => ("figcaption", B),
        b"blockquote" => ("blockquote", B),
        b"details" => ("details", B),
        b"summary" => ("summary", B),
        b"fieldset" => ("fieldset", B),
        b"form" => ("form", BODY),
        b"hr" => ("hr", B | VOID),
        b"a" => ("a", P),
        b"span" => ("span", P),
        b"strong" => ("strong", P),
        b"em" => ("em", P),
        b"b" => ("b", P),
        b"i" => ("i", P),
        b"small" => ("small", P),
        b"code" => ("code", P),
        b"abbr" => ("abbr", P),
        b"cite" => ("cite", P),
        b"mark" => ("mark", P),
        b"q" => ("q", P),
        b"sub" => ("sub", P),
        b"sup" => ("sup", P),
        b"time" => ("time", P),
        b"label" => ("label", P),
        b"button" => ("button", P),
        b"picture" => ("picture", P),
        b"output" => ("output", P),
        b"data" => ("data", P),
        b"var" => ("var", P),
        b"kbd" => ("kbd", P),
        b"samp" => ("samp", P),
        b"dfn" => ("dfn", P),
        b"svg" => ("svg", BODY | PHRASING),
        b"textarea" => ("textarea", P),
        b"iframe" => ("iframe", P),
        b"br" => ("br", PV),
        b"img" => ("img", PV),
        b"input" => ("input", PV),
        b"wbr" => ("wbr", PV),
        b"source" => ("source", PV),
        b"meta" => ("meta", PV | HEAD),
        b"link" => ("link", PV | HEAD),
        b"base" => ("base", VOID | HEAD | CREATES),
        b"script" => ("script", P | HEAD),
        b"style" => ("style", P | HEAD),
        b"noscript" => ("noscript", P | HEAD),
        b"title" => ("title", HEAD | CREATES),
        b"head" => ("head", 0),
        b"html" => ("html", 0),
        _ => return None,
    })
}

/// Raw-text elements: the tokenizer reads their content as text up to the
/// matching end tag (`script` with its comment-escape rules; `noscript`
/// because html5ever parses with scripting enabled, as scraper does).
fn raw_text_name(name: &[u8]) -> Option<&'static str> {
    [
        "script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "title", "textarea",
    ]
    .into_iter()
    .find(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// Start tags whose handling the scan does not model.
fn unmodelled(name: &[u8]) -> bool {
    [
        &b"template"[..],
        b"select",
        b"math",
        b"frameset",
        b"frame",
        b"plaintext",
        b"isindex",
        b"image",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// SVG elements an inline icon uses; anything else inside `<svg>` (an
/// HTML break-out tag, `foreignObject`, `style`, `script`, CDATA) is
/// unmodelled.
fn svg_child(name: &[u8]) -> bool {
    [
        &b"svg"[..],
        b"g",
        b"path",
        b"circle",
        b"ellipse",
        b"line",
        b"polyline",
        b"polygon",
        b"rect",
        b"use",
        b"symbol",
        b"defs",
        b"lineargradient",
        b"radialgradient",
        b"stop",
        b"clippath",
        b"mask",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

#[derive(Debug, Clone)]
struct Attr {
    name: Range<usize>,
    value: Range<usize>,
}

/// A tag as the tokenizer read it.
#[derive(Debug, Clone)]
struct TagToken {
    name: Range<usize>,
    span: Range<usize>,
    /// Inside inline SVG (the SVG namespace).
    foreign: bool,
}

#[derive(Debug, Clone)]
enum Token {
    Start(TagToken),
    End(TagToken),
    /// Character data (raw text of `script` and friends included).
    Text(Range<usize>),
    Eof,
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    /// The last start tag's attributes, in source order (duplicates kept:
    /// lookups take the first, as the tokenizer does).
    attrs: Vec<Attr>,
    /// Open SVG elements (their names' ranges).
    svg: Vec<Range<usize>>,
    /// Name of the raw-text element whose content comes next.
    raw: Option<&'static str>,
}

/// The value of an attribute whose name ends before `i` (`=` and blanks may
/// follow): its raw range (empty when there is none) and where reading
/// goes on.
fn attr_value(b: &[u8], mut i: usize) -> Result<(Range<usize>, usize), Unsure> {
    if b.get(i) != Some(&b'=') {
        return Ok((i..i, i));
    }
    i += 1;
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    match b.get(i) {
        None => Err(Unsure),
        Some(&q @ (b'"' | b'\'')) => {
            let close = memchr::memchr(q, &b[i + 1..]).ok_or(Unsure)? + i + 1;
            Ok((i + 1..close, close + 1))
        }
        Some(b'>') => Ok((i..i, i)),
        Some(_) => {
            let s = i;
            while i < b.len() && !(is_ws(b[i]) || b[i] == b'>') {
                i += 1;
            }
            Ok((s..i, i))
        }
    }
}

impl<'a> Tokenizer<'a> {
    fn new(src: &'a str) -> Result<Tokenizer<'a>, Unsure> {
        if memchr::memchr(0, src.as_bytes()).is_some() {
            return Err(Unsure);
        }
        Ok(Tokenizer {
            src,
            pos: 0,
            attrs: Vec::with_capacity(8),
            svg: Vec::new(),
            raw: None,
        })
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn next(&mut self) -> Result<Token, Unsure> {
        if let Some(name) = self.raw.take() {
            return self.raw_text(name);
        }
        let b = self.bytes();
        loop {
            let start = self.pos;
            if start >= b.len() {
                return Ok(Token::Eof);
            }
            let Some(lt) = memchr::memchr(b'<', &b[start..]).map(|i| start + i) else {
                self.pos = b.len();
                return Ok(Token::Text(start..b.len()));
            };
            if lt > start {
                self.pos = lt;
                return Ok(Token::Text(start..lt));
            }
            match b.get(lt + 1) {
                Some(c) if c.is_ascii_alphabetic() => return self.tag(lt, false),
                Some(b'/') => match b.get(lt + 2) {
                    Some(c) if c.is_ascii_alphabetic() => return self.tag(lt, true),
                    // `</>` is dropped.
                    Some(b'>') => self.pos = lt + 3,
                    Some(_) => self.pos = self.to_gt(lt + 2)?,
                    None => return Err(Unsure),
                },
                Some(b'!') if b[lt..].starts_with(b"<!--") => self.pos = self.comment(lt)?,
                // DOCTYPE, or a bogus comment (CDATA outside SVG is one).
                Some(b'!') if self.svg.is_empty() => self.pos = self.to_gt(lt + 2)?,
                Some(b'!') => return Err(Unsure),
                Some(b'?') => self.pos = self.to_gt(lt + 1)?,
                // A lone `<` is text.
                _ => {
                    self.pos = lt + 1;
                    return Ok(Token::Text(lt..lt + 1));
                }
            }
        }
    }

    /// Just past the next `>` (bogus comments and doctypes end there).
    fn to_gt(&self, from: usize) -> Result<usize, Unsure> {
        let b = self.bytes();
        memchr::memchr(b'>', b.get(from..).ok_or(Unsure)?)
            .map(|i| from + i + 1)
            .ok_or(Unsure)
    }

    /// Just past the comment starting at `lt` (`<!--`): `<!-->` and
    /// `<!--->` end at once, otherwise the first `-->` or `--!>`.
    fn comment(&self, lt: usize) -> Result<usize, Unsure> {
        let b = self.bytes();
        let body = lt + 4;
        if b.get(body) == Some(&b'>') {
            return Ok(body + 1);
        }
        if b.get(body..body + 2) == Some(b"->") {
            return Ok(body + 2);
        }
        let rest = &b[body..];
        let a = memchr::memmem::find(rest, b"-->").map(|i| body + i + 3);
        let c = memchr::memmem::find(rest, b"--!>").map(|i| body + i + 4);
        match (a, c) {
            (Some(a), Some(c)) => Ok(a.min(c)),
            (a, c) => a.or(c).ok_or(Unsure),
        }
    }

    /// Content of a raw-text element up to its end tag (left for `next`).
    fn raw_text(&mut self, name: &'static str) -> Result<Token, Unsure> {
        let b = self.bytes();
        let start = self.pos;
        let mut from = start;
        loop {
            let lt = memchr::memmem::find(&b[from..], b"</").ok_or(Unsure)? + from;
            let n = lt + 2;
            let after = n + name.len();
            let named = b
                .get(n..after)
                .is_some_and(|s| s.eq_ignore_ascii_case(name.as_bytes()));
            if named
                && b.get(after)
                    .is_some_and(|&c| is_ws(c) || c == b'/' || c == b'>')
            {
                if name == "script" && script_escapes(&b[start..lt]) {
                    return Err(Unsure);
                }
                self.pos = lt;
                return Ok(Token::Text(start..lt));
            }
            if named && after >= b.len() {
                return Err(Unsure);
            }
            from = n;
        }
    }

    /// Reads the tag whose `<` is at `lt`. Attribute values are kept raw;
    /// [`Tokenizer::attr`] decodes them.
    fn tag(&mut self, lt: usize, end: bool) -> Result<Token, Unsure> {
        let b = self.bytes();
        let name_start = lt + 1 + usize::from(end);
        let mut i = name_start;
        while i < b.len() && !(is_ws(b[i]) || b[i] == b'/' || b[i] == b'>') {
            i += 1;
        }
        let name = name_start..i;
        self.attrs.clear();
        let mut self_closing = false;
        loop {
            while i < b.len() && is_ws(b[i]) {
                i += 1;
            }
            match b.get(i) {
                None => return Err(Unsure),
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') => {
                    if b.get(i + 1) == Some(&b'>') {
                        self_closing = true;
                        i += 2;
                        break;
                    }
                    i += 1;
                    continue;
                }
                Some(_) => {}
            }
            let attr_start = i;
            if b[i] == b'=' {
                i += 1;
            }
            while i < b.len() && !(is_ws(b[i]) || matches!(b[i], b'/' | b'>' | b'=')) {
                i += 1;
            }
            let attr_name = attr_start..i;
            while i < b.len() && is_ws(b[i]) {
                i += 1;
            }
            let value;
            (value, i) = attr_value(b, i)?;
            if !end {
                self.attrs.push(Attr {
                    name: attr_name,
                    value,
                });
            }
        }
        self.pos = i;
        let t = TagToken {
            name: name.clone(),
            span: lt..i,
            foreign: !self.svg.is_empty(),
        };
        let n = &b[name];
        if end {
            if t.foreign {
                // The end tag closes the innermost open SVG element of
                // that name; any other end tag there leaves foreign content
                // by rules not modelled here.
                let at = self
                    .svg
                    .iter()
                    .rposition(|r| b[r.clone()].eq_ignore_ascii_case(n))
                    .ok_or(Unsure)?;
                self.svg.truncate(at);
            }
            return Ok(Token::End(t));
        }
        if t.foreign {
            if !svg_child(n) {
                return Err(Unsure);
            }
            if !self_closing {
                self.svg.push(t.name.clone());
            }
        } else if unmodelled(n) {
            return Err(Unsure);
        } else if n.eq_ignore_ascii_case(b"svg") {
            if !self_closing {
                self.svg.push(t.name.clone());
            }
        } else if let Some(name) = raw_text_name(n) {
            // Self-closing is ignored on these: the raw text starts anyway.
            self.raw = Some(name);
        }
        Ok(Token::Start(t))
    }

    /// The decoded value of the current start tag's first attribute named
    /// `name` (lower case), `""` for an attribute without a value.
    fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        let b = self.bytes();
        let a = self
            .attrs
            .iter()
            .find(|a| b[a.name.clone()].eq_ignore_ascii_case(name.as_bytes()))?;
        Some(decode_attr(self.src.get(a.value.clone())?))
    }
}

/// A script whose content holds `<!--` and then `<script`: the tokenizer's
/// double-escaped state would not end it at the first `</script>`.
fn script_escapes(content: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find(content, b"<!--") else {
        return false;
    };
    content[at..]
        .windows(7)
        .any(|w| w.eq_ignore_ascii_case(b"<script"))
}

/// An attribute value as the tokenizer delivers it: CR and CRLF become LF,
/// character references are decoded the way html5ever decodes them inside
/// attributes (a legacy reference without `;` followed by `=` or an
/// alphanumeric stays as written).
pub(crate) fn decode_attr(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|c| c == b'&' || c == b'\r') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' => {
                out.push('\n');
                i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            }
            b'&' => i = char_ref(raw, i, &mut out),
            _ => {
                let next = raw[i..].find(['&', '\r']).map_or(raw.len(), |n| i + n);
                out.push_str(&raw[i..next]);
                i = next;
            }
        }
    }
    Cow::Owned(out)
}

/// Decodes the reference at `amp` (an `&`) into `out`; returns where to go
/// on. Mirrors html5ever's `CharRefTokenizer` in attribute mode.
fn char_ref(raw: &str, amp: usize, out: &mut String) -> usize {
    let b = raw.as_bytes();
    let literal = |out: &mut String| {
        out.push('&');
        amp + 1
    };
    match b.get(amp + 1) {
        Some(c) if c.is_ascii_alphanumeric() => {}
        Some(b'#') => return numeric_ref(raw, amp, out).unwrap_or_else(|| literal(out)),
        _ => return literal(out),
    }
    // The references pages are made of (`&amp;` in every link's query):
    // whole names ending in `;`, which no longer name extends, so the
    // table would answer the same.
    for (name, ch) in [
        ("amp;", '&'),
        ("quot;", '"'),
        ("lt;", '<'),
        ("gt;", '>'),
        ("nbsp;", '\u{a0}'),
    ] {
        if raw[amp + 1..].starts_with(name) {
            out.push(ch);
            return amp + 1 + name.len();
        }
    }
    // Longest name in the table (which also holds every prefix of every
    // name, with (0, 0)), one character at a time.
    let data = &markup5ever::data::NAMED_ENTITIES;
    let mut matched: Option<(usize, (u32, u32))> = None;
    for (off, c) in raw[amp + 1..].char_indices() {
        let next = amp + 1 + off + c.len_utf8();
        match data.get(&raw[amp + 1..next]) {
            Some(&m) if m.0 != 0 => matched = Some((next, m)),
            Some(_) => {}
            None => break,
        }
    }
    let Some((m_end, (c1, c2))) = matched else {
        return literal(out);
    };
    let last = b[m_end - 1];
    let next = b.get(m_end).copied();
    if last != b';' && next.is_some_and(|c| c == b'=' || c.is_ascii_alphanumeric()) {
        return literal(out);
    }
    for c in [c1, c2] {
        if c != 0
            && let Some(ch) = char::from_u32(c)
        {
            out.push(ch);
        }
    }
    m_end
}

/// `&#…;` / `&#x…;`; `None` when no digit follows (the text stays).
fn numeric_ref(raw: &str, amp: usize, out: &mut String) -> Option<usize> {
    let b = raw.as_bytes();
    let mut i = amp + 2;
    let base = match b.get(i) {
        Some(b'x' | b'X') => {
            i += 1;
            16
        }
        _ => 10,
    };
    let digits_start = i;
    let mut n: u32 = 0;
    let mut too_big = false;
    while let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        n = n.wrapping_mul(base);
        if n > 0x10_FFFF {
            too_big = true;
        }
        n = n.wrapping_add(d);
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    if b.get(i) == Some(&b';') {
        i += 1;
    }
    let c = match n {
        _ if too_big || n > 0x10_FFFF => '\u{FFFD}',
        0 | 0xD800..=0xDFFF => '\u{FFFD}',
        0x80..=0x9F => markup5ever::data::C1_REPLACEMENTS[(n - 0x80) as usize]
            .or_else(|| char::from_u32(n))
            .unwrap_or('\u{FFFD}'),
        _ => char::from_u32(n).unwrap_or('\u{FFFD}'),
    };
    out.push(c);
    Some(i)
}

/// A start tag as a visitor of [`walk`] sees it.
pub(crate) struct Tag<'t, 'a> {
    tok: &'t Tokenizer<'a>,
    token: &'t TagToken,
}

impl Tag<'_, '_> {
    /// The tag name, as written.
    fn raw_name(&self) -> &[u8] {
        &self.tok.bytes()[self.token.name.clone()]
    }

    /// Whether the element is `name` (lower case; ASCII case-insensitive).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.raw_name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// Inside inline SVG.
    pub(crate) fn foreign(&self) -> bool {
        self.token.foreign
    }

    pub(crate) fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.tok.attr(name)
    }

    pub(crate) fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|v| v.split_ascii_whitespace().any(|c| c == class))
    }

    /// The start tag certainly creates an HTML element carrying exactly its
    /// attributes (not merged into another, not dropped by the tree
    /// builder in some insertion mode).
    pub(crate) fn creates_element(&self) -> bool {
        !self.token.foreign && element(self.raw_name()).is_some_and(|(_, f)| f & CREATES != 0)
    }
}

/// What a visitor wants kept of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    Skip,
    /// Record where the element's markup starts and ends.
    Keep,
}

/// An element a visitor kept.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    /// Its markup, start tag to end tag, when the strict model saw it close.
    pub span: Option<Range<usize>>,
    /// Inside another kept element.
    pub nested: bool,
    /// Every ancestor is one through which no selector of ours reaches and
    /// no parsing rule looks.
    pub safe_ancestors: bool,
}

/// The result of [`walk`].
#[derive(Debug, Clone)]
pub(crate) struct Outline {
    /// The whole page is well formed in the strict model's sense: each
    /// kept element's markup parses alone to the same subtree.
    pub strict: bool,
    pub kept: Vec<Kept>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Initial,
    BeforeHead,
    InHead,
    AfterHead,
    InBody,
    AfterBody,
    AfterHtml,
    /// The page left what the strict model follows.
    Lost,
}

/// The strict tree model (see the module docs).
struct Tree {
    mode: Mode,
    /// Open elements below `body` (or in `head`), with the kept index.
    stack: Vec<(&'static str, u16, Option<usize>)>,
}

impl Tree {
    fn has(&self, name: &str) -> bool {
        self.stack.iter().any(|(n, _, _)| *n == name)
    }

    fn top(&self) -> Option<&'static str> {
        self.stack.last().map(|(n, _, _)| *n)
    }

    fn top_flags(&self) -> u16 {
        self.stack.last().map_or(0, |(_, f, _)| *f)
    }

    fn lose(&mut self) {
        self.mode = Mode::Lost;
        self.stack.clear();
    }

    fn text(&mut self, text: &[u8]) {
        let blank = text.iter().all(|&c| is_ws(c));
        match self.mode {
            Mode::InBody | Mode::Lost => {}
            Mode::InHead
                if matches!(self.top(), Some("title" | "style" | "script" | "noscript")) => {}
            _ if blank => {}
            _ => self.lose(),
        }
    }

    /// A start tag in HTML content; returns the element to push when it
    /// opens in `body` (it stays open until its end tag).
    fn start(&mut self, name: &[u8]) -> Option<(&'static str, u16)> {
        let known = element(name);
        match (self.mode, known) {
            (Mode::Initial, Some(("html", _))) => self.mode = Mode::BeforeHead,
            (Mode::BeforeHead, Some(("head", _))) => self.mode = Mode::InHead,
            (Mode::AfterHead, Some(("body", _))) => self.mode = Mode::InBody,
            (Mode::InHead, Some((n, f))) if f & HEAD != 0 && self.stack.is_empty() => {
                if f & VOID == 0 {
                    self.stack.push((n, f, None));
                }
            }
            (Mode::InBody, Some((n, f))) if f & BODY != 0 => return self.body_start(n, f),
            (Mode::Lost, _) => {}
            _ => self.lose(),
        }
        None
    }

    fn body_start(&mut self, n: &'static str, f: u16) -> Option<(&'static str, u16)> {
        let top = self.top();
        // Each of these would make the tree builder close elements the
        // markup did not close (or, for `a`, run the adoption agency).
        let implied_close = (f & PHRASING == 0 && self.has("p"))
            || (matches!(n, "a" | "button" | "form") && self.has(n))
            || (n == "li" && !matches!(top, Some("ul" | "ol")))
            || (matches!(n, "dd" | "dt") && top != Some("dl"))
            || (f & HEADING != 0 && self.top_flags() & HEADING != 0);
        if implied_close {
            self.lose();
            return None;
        }
        // The SVG subtree is the tokenizer's; void elements never open.
        if n == "svg" || f & VOID != 0 {
            return None;
        }
        Some((n, f))
    }

    fn end(&mut self, name: &[u8]) -> Option<Option<usize>> {
        match self.mode {
            Mode::InHead => match self.top() {
                Some(t) if name.eq_ignore_ascii_case(t.as_bytes()) => {
                    self.stack.pop();
                }
                None if name.eq_ignore_ascii_case(b"head") => self.mode = Mode::AfterHead,
                _ => self.lose(),
            },
            Mode::InBody => match self.top() {
                Some(t) if name.eq_ignore_ascii_case(t.as_bytes()) => {
                    return self.stack.pop().map(|(_, _, k)| k);
                }
                None if name.eq_ignore_ascii_case(b"body") => self.mode = Mode::AfterBody,
                _ => self.lose(),
            },
            Mode::AfterBody if name.eq_ignore_ascii_case(b"html") => self.mode = Mode::AfterHtml,
            Mode::Lost => {}
            _ => self.lose(),
        }
        None
    }
}

/// Scans the whole page, calling `visit` for every start tag, and models
/// its tree where the page is well formed. `Err` when anything on the page
/// is outside what the scan models: the caller must parse fully.
pub(crate) fn walk(
    body: &str,
    mut visit: impl FnMut(&Tag<'_, '_>) -> Visit,
) -> Result<Outline, Unsure> {
    let mut tok = Tokenizer::new(body)?;
    let mut tree = Tree {
        mode: Mode::Initial,
        stack: Vec::with_capacity(32),
    };
    let mut kept: Vec<Kept> = Vec::new();
    let b = body.as_bytes();
    loop {
        match tok.next()? {
            Token::Eof => break,
            Token::Text(r) => tree.text(&b[r]),
            Token::Start(t) => {
                let pushed = if t.foreign {
                    None
                } else {
                    tree.start(&b[t.name.clone()])
                };
                let keep = visit(&Tag {
                    tok: &tok,
                    token: &t,
                }) == Visit::Keep;
                let k = keep.then(|| {
                    kept.push(Kept {
                        // Closed (given its end) by the matching end tag.
                        span: pushed.map(|_| t.span.start..t.span.start),
                        nested: tree.stack.iter().any(|e| e.2.is_some()),
                        safe_ancestors: pushed.is_some()
                            && tree.stack.iter().all(|e| e.1 & SAFE_ANCESTOR != 0),
                    });
                    kept.len() - 1
                });
                if let Some((n, f)) = pushed {
                    tree.stack.push((n, f, k));
                }
            }
            Token::End(t) if !t.foreign => {
                if let Some(Some(k)) = tree.end(&b[t.name.clone()])
                    && let Some(s) = &mut kept[k].span
                {
                    s.end = t.span.end;
                }
            }
            Token::End(_) => {}
        }
    }
    let strict = matches!(tree.mode, Mode::AfterBody | Mode::AfterHtml);
    for k in &mut kept {
        // A span that never closed is no span.
        if k.span.as_ref().is_some_and(|s| s.is_empty()) || !strict {
            k.span = None;
        }
    }
    Ok(Outline { strict, kept })
}

/// The text of the only `script` element whose `id` is `id`: `Ok(None)`
/// when the page certainly has none, `Err` when unsure (or when there are
/// several, where document order would need the tree).
pub(crate) fn only_script_text<'a>(
    body: &'a str,
    id: &str,
) -> Result<Option<Cow<'a, str>>, Unsure> {
    let mut tok = Tokenizer::new(body)?;
    let mut found: Option<Range<usize>> = None;
    loop {
        match tok.next()? {
            Token::Eof => break,
            Token::Start(t)
                if !t.foreign
                    && body.as_bytes()[t.name.clone()].eq_ignore_ascii_case(b"script")
                    && tok.attr("id").as_deref() == Some(id) =>
            {
                if found.is_some() {
                    return Err(Unsure);
                }
                // The raw text follows at once (possibly empty).
                let Token::Text(r) = tok.next()? else {
                    return Err(Unsure);
                };
                found = Some(r);
            }
            _ => {}
        }
    }
    Ok(found.map(|r| {
        let text = &body[r];
        if text.contains('\r') {
            Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
        } else {
            Cow::Borrowed(text)
        }
    }))
}

/// One compound selector of the simple kind the scan can evaluate on a
/// start tag alone: `div.no-results`, `#x`, `[data-test="no-hits"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Compound {
    tag: Option<String>,
    ids: Vec<String>,
    classes: Vec<String>,
    /// Attribute name (lower case) and, for `[a=v]`, the exact value.
    attrs: Vec<(String, Option<String>)>,
}

/// A list of simple compound selectors (`a.b, #c`), or `None` from
/// [`Simple::parse`] when the CSS uses anything else (combinators,
/// pseudo-classes, escapes, non-ASCII, case-insensitive attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Simple(Vec<Compound>);

fn ident(s: &[u8], i: &mut usize) -> Option<String> {
    let start = *i;
    let first_ok = |c: u8| c.is_ascii_alphabetic() || c == b'_';
    match s.get(*i) {
        Some(&c) if first_ok(c) => {}
        Some(b'-') if s.get(*i + 1).is_some_and(|&c| first_ok(c) || c == b'-') => {}
        _ => return None,
    }
    while s
        .get(*i)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        *i += 1;
    }
    String::from_utf8(s[start..*i].to_vec()).ok()
}

impl Simple {
    pub(crate) fn parse(css: &str) -> Option<Simple> {
        let s = css.as_bytes();
        let mut i = 0;
        let mut list = Vec::new();
        let skip_ws = |i: &mut usize| {
            while s.get(*i).is_some_and(|&c| is_ws(c)) {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            let mut c = Compound {
                tag: None,
                ids: Vec::new(),
                classes: Vec::new(),
                attrs: Vec::new(),
            };
            if s.get(i).is_some_and(|&b| b.is_ascii_alphabetic()) {
                c.tag = Some(ident(s, &mut i)?.to_ascii_lowercase());
            }
            loop {
                match s.get(i) {
                    Some(b'.') => {
                        i += 1;
                        c.classes.push(ident(s, &mut i)?);
                    }
                    Some(b'#') => {
                        i += 1;
                        c.ids.push(ident(s, &mut i)?);
                    }
                    Some(b'[') => {
                        i += 1;
                        skip_ws(&mut i);
                        let name = ident(s, &mut i)?;
                        if name.bytes().any(|b| b.is_ascii_uppercase())
                            || case_insensitive_attr(&name)
                        {
                            return None;
                        }
                        skip_ws(&mut i);
                        let value = if s.get(i) == Some(&b'=') {
                            i += 1;
                            skip_ws(&mut i);
                            let v = match s.get(i) {
                                Some(&q @ (b'"' | b'\'')) => {
                                    let end = s[i + 1..].iter().position(|&b| b == q)? + i + 1;
                                    let v = &css[i + 1..end];
                                    if v.bytes().any(|b| b == b'\\' || b == b'\n' || !b.is_ascii())
                                    {
                                        return None;
                                    }
                                    i = end + 1;
                                    v.to_owned()
                                }
                                _ => ident(s, &mut i)?,
                            };
                            skip_ws(&mut i);
                            Some(v)
                        } else {
                            None
                        };
                        if s.get(i) != Some(&b']') {
                            return None;
                        }
                        i += 1;
                        c.attrs.push((name, value));
                    }
                    _ => break,
                }
            }
            if c.tag.is_none() && c.ids.is_empty() && c.classes.is_empty() && c.attrs.is_empty() {
                return None;
            }
            list.push(c);
            skip_ws(&mut i);
            match s.get(i) {
                None => return Some(Simple(list)),
                Some(b',') => i += 1,
                Some(_) => return None,
            }
        }
    }

    /// Every compound asks for an id, a class or an attribute, so elements
    /// the tree builder creates without a start tag (`html`, `head`,
    /// `body`, `tbody`, and a `p` for a stray `</p>`) can never match.
    pub(crate) fn needs_attributes(&self) -> bool {
        self.0
            .iter()
            .all(|c| !(c.ids.is_empty() && c.classes.is_empty() && c.attrs.is_empty()))
    }

    /// Whether the element the start tag creates would match, judged from
    /// the tag alone (for a `foreign` or merging tag this over-approximates:
    /// callers only trust a match on a tag that [`Tag::creates_element`]).
    pub(crate) fn matches(&self, tag: &Tag<'_, '_>) -> bool {
        self.0.iter().any(|c| {
            c.tag.as_deref().is_none_or(|t| tag.is(t))
                && c.ids
                    .iter()
                    .all(|id| tag.attr("id").is_some_and(|v| v == id.as_str()))
                && c.classes.iter().all(|cl| tag.has_class(cl))
                && c.attrs.iter().all(|(n, v)| match (tag.attr(n), v) {
                    (Some(_), None) => true,
                    (Some(got), Some(want)) => got == want.as_str(),
                    (None, _) => false,
                })
        })
    }
}

/// Attributes whose values selectors compare without case in HTML.
fn case_insensitive_attr(name: &str) -> bool {
    matches!(
        name,
        "accept"
            | "accept-charset"
            | "align"
            | "alink"
            | "axis"
            | "bgcolor"
            | "charset"
            | "checked"
            | "clear"
            | "codetype"
            | "color"
            | "compact"
            | "declare"
            | "defer"
            | "dir"
            | "direction"
            | "disabled"
            | "enctype"
            | "face"
            | "frame"
            | "hreflang"
            | "http-equiv"
            | "lang"
            | "language"
            | "link"
            | "media"
            | "method"
            | "multiple"
            | "nohref"
            | "noresize"
            | "noshade"
            | "nowrap"
            | "readonly"
            | "rel"
            | "rev"
            | "rules"
            | "scope"
            | "scrolling"
            | "selected"
            | "shape"
            | "target"
            | "text"
            | "type"
            | "valign"
            | "valuetype"
            | "vlink"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scraper::{Html, Selector};

    #[test]
    fn attribute_values_decode_like_html5ever() {
        for (raw, want) in [
            ("a&amp;b", "a&b"),
            ("?a=1&page=2", "?a=1&page=2"),
            ("&amp=x", "&amp=x"),
            ("&ampx", "&ampx"),
            ("&amp x", "& x"),
            ("&notit;", "&notit;"),
            ("&notin;", "∉"),
            ("&#45;&#x2D;&#X2d", "---"),
            ("&#;&#x;", "&#;&#x;"),
            ("&#128;", "€"),
            ("&#0;&#xD800;&#1114112;", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ("a\r\nb\rc", "a\nb\nc"),
            ("ø&oslash;", "øø"),
            ("?a=1&amp;b=2&quot;&lt;&gt;&nbsp;", "?a=1&b=2\"<>\u{a0}"),
            ("&amp;amp;&ampamp;", "&amp;&ampamp;"),
        ] {
            assert_eq!(decode_attr(raw), want, "{raw}");
        }
    }

    #[test]
    fn simple_selectors() {
        for ok in [
            "div.no-results",
            "#ingen-hits",
            "section#x.a.b",
            r#"[data-test="no-hits"]"#,
            "[data-test='no-hits'], .no-hits",
            "li[data-x]",
            " .a ",
        ] {
            assert!(Simple::parse(ok).is_some(), "{ok}");
        }
        for no in [
            "div .x",
            "div > .x",
            "a:first-child",
            "*",
            "[rel=next]",
            "[type=text]",
            r#"[data-x="a" i]"#,
            "[data-x^=a]",
            "[Data-X]",
            ".søg",
            r#"[data-x="a\"b"]"#,
            ".a,",
            "",
            "div.1x",
        ] {
            assert!(Simple::parse(no).is_none(), "{no}");
        }
    }

    /// Start tags matching `sel`: (one certainly makes a matching
    /// element, one might).
    fn scan_matches(body: &str, sel: &Simple) -> Result<(bool, bool), Unsure> {
        let (mut certain, mut any) = (false, false);
        walk(body, |tag| {
            if sel.matches(tag) {
                any = true;
                certain = certain || tag.creates_element();
            }
            Visit::Skip
        })?;
        Ok((certain, any))
    }

    const SELECTORS: &[&str] = &[
        "div.x",
        ".x",
        "#z",
        r#"[data-t="y"]"#,
        "div.result-block",
        "span.x.y",
    ];

    /// Pieces of markup, tricky ones included, to build documents from.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<div class=x>".to_owned()),
            Just("<DIV CLASS='x y'>".to_owned()),
            Just("<span class=\"y x\" id=z>".to_owned()),
            Just("<p data-t=y>".to_owned()),
            Just("<div class=\"result-block\">".to_owned()),
            Just("<div class=\"&#120;\">".to_owned()),
            Just("<div class=a class=x>".to_owned()),
            Just("<a title='<div class=x>' href=\"?page=2\">".to_owned()),
            Just("<a data-x=<div class=x>".to_owned()),
            Just("</div>".to_owned()),
            Just("</p>".to_owned()),
            Just("</span>".to_owned()),
            Just("</a>".to_owned()),
            Just("<p>".to_owned()),
            Just("<li>".to_owned()),
            Just("<ul>".to_owned()),
            Just("</ul>".to_owned()),
            Just("<table><tr><td class=x>".to_owned()),
            Just("</table>".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("<!-->".to_owned()),
            Just("--!>".to_owned()),
            Just("<script>".to_owned()),
            Just("</script>".to_owned()),
            Just("<script>var s='<div class=x>';</script>".to_owned()),
            Just("<script><!--<script>".to_owned()),
            Just("<textarea>".to_owned()),
            Just("</textarea>".to_owned()),
            Just("<noscript><div class=x></noscript>".to_owned()),
            Just("<title><p data-t=y></title>".to_owned()),
            Just("<style>".to_owned()),
            Just("</style >".to_owned()),
            Just("<svg viewBox='0 0 1 1'><g><path d='M0'/></g>".to_owned()),
            Just("<svg><circle class=x /></svg>".to_owned()),
            Just("</svg>".to_owned()),
            Just("<svg><foreignObject><div class=x>".to_owned()),
            Just("<template><div class=x></template>".to_owned()),
            Just("<select><div class=x>".to_owned()),
            Just("<math><mi class=x>".to_owned()),
            Just("<body class=x>".to_owned()),
            Just("<html id=z>".to_owned()),
            Just("<td class=x>".to_owned()),
            Just("<![CDATA[<div class=x>]]>".to_owned()),
            Just("<?xml <div class=x> ?>".to_owned()),
            Just("</ x>".to_owned()),
            Just("<br/>".to_owned()),
            Just("<div/>".to_owned()),
            Just("<".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just(">".to_owned()),
            Just("\r\n".to_owned()),
            Just("&amp;".to_owned()),
            "[a-z ]{0,8}",
        ]
    }

    fn soup() -> impl Strategy<Value = String> {
        proptest::collection::vec(piece(), 0..30).prop_map(|p| p.concat())
    }

    /// A well-formed element tree, so the strict model has work to do.
    fn tree() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z ]{0,6}",
            Just("<br>".to_owned()),
            Just("<img src=x alt='&lt;'>".to_owned()),
            Just("<!-- <div class=x> -->".to_owned()),
            Just("<script>document.write('<div class=\"result-block\">')</script>".to_owned()),
            Just("<svg class=x><path d='M0'/></svg>".to_owned()),
            Just("<a href=\"tel:+4513000000\">13 00 00 00</a>".to_owned()),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            (
                prop_oneof![
                    4 => Just("div"),
                    1 => Just("span"),
                    1 => Just("p"),
                    1 => Just("ul"),
                    1 => Just("section"),
                    1 => Just("h3"),
                    1 => Just("address"),
                    1 => Just("b"),
                    1 => Just("a"),
                ],
                prop_oneof![
                    2 => Just(""),
                    1 => Just(" class=x"),
                    3 => Just(" class=\"result-block\""),
                    1 => Just(" id=z data-t=y"),
                    1 => Just(" CLASS='x y'"),
                ],
                proptest::collection::vec(inner, 0..5),
            )
                .prop_map(|(t, a, kids)| {
                    let kids = if t == "ul" {
                        kids.iter().map(|k| format!("<li>{k}</li>")).collect()
                    } else {
                        kids.concat()
                    };
                    format!("<{t}{a}>{kids}</{t}>")
                })
        })
    }

    fn doc() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(tree(), 0..5),
            soup(),
            any::<bool>(),
        )
            .prop_map(|(trees, noise, clean)| {
                let noise = if clean { String::new() } else { noise };
                format!(
                    "<!DOCTYPE html>\n<html><head><title>t</title><script>var a='</div>';</script></head>\n<body>{}{noise}</body></html>\n",
                    trees.concat()
                )
            })
    }

    fn check_existence(body: &str) -> Result<(), TestCaseError> {
        let dom = Html::parse_document(body);
        for css in SELECTORS {
            let simple = Simple::parse(css).expect("simple");
            let Ok((certain, any)) = scan_matches(body, &simple) else {
                continue;
            };
            let sel = Selector::parse(css).expect("css");
            let in_dom = dom.select(&sel).next().is_some();
            if certain {
                prop_assert!(in_dom, "{css}: scan says certain, DOM has none");
            }
            if !any && simple.needs_attributes() {
                prop_assert!(!in_dom, "{css}: scan saw no tag, DOM has one");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Soundness of the existence claims against html5ever's DOM.
        #[test]
        fn existence_agrees_with_the_dom(body in prop_oneof![soup(), doc()]) {
            check_existence(&body)?;
        }

        /// On a page the strict model follows, each kept element's markup
        /// parses alone to the subtree the whole page has.
        #[test]
        fn kept_markup_parses_to_the_same_subtree(body in doc()) {
            let sel = Selector::parse("div.result-block").expect("css");
            let Ok(outline) = walk(&body, |t| {
                if !t.foreign() && t.is("div") && t.has_class("result-block") {
                    Visit::Keep
                } else {
                    Visit::Skip
                }
            }) else {
                return Ok(());
            };
            let dom = Html::parse_document(&body);
            let whole: Vec<String> = dom.select(&sel).map(|e| e.html()).collect();
            prop_assert_eq!(whole.len(), outline.kept.len());
            if !outline.strict {
                return Ok(());
            }
            for (k, want) in outline.kept.iter().zip(&whole) {
                let Some(span) = k.span.clone() else {
                    prop_assert!(false, "strict page without a span");
                    return Ok(());
                };
                let frag = Html::parse_fragment(&body[span]);
                let got = frag.select(&sel).next().map(|e| e.html());
                prop_assert_eq!(got.as_deref(), Some(want.as_str()));
            }
        }

        #[test]
        fn attribute_decoding_agrees_with_the_dom(raw in "([a-zA-Z0-9;=#&\r\n ]|&amp|&amp;|&quot;|&quot|&gt;|&nbsp;|&nbsp|&lt;|&not|&notin;|&#x|&#|&#12|ø){0,12}") {
            let body = format!("<div title=\"{raw}\"></div>");
            let dom = Html::parse_fragment(&body);
            let sel = Selector::parse("div").expect("css");
            let want = dom.select(&sel).next().and_then(|e| e.attr("title")).map(str::to_owned);
            prop_assert_eq!(Some(decode_attr(&raw).into_owned()), want);
        }

        #[test]
        fn scan_never_panics(body in any::<String>()) {
            let _ = walk(&body, |_| Visit::Skip);
            let _ = only_script_text(&body, "__NEXT_DATA__");
        }
    }

    #[test]
    fn the_strict_model_follows_the_realistic_pages() {
        for page in [
            include_str!("../../../tests/fixtures/118/realistic_hits.html"),
            include_str!("../../../tests/fixtures/118/realistic_no_results.html"),
            include_str!("../../../tests/fixtures/declarative/realistic_hitta_hits.html"),
        ] {
            let o = walk(page, |_| Visit::Skip).expect("scan vouches for the page");
            assert!(o.strict);
        }
    }
}
