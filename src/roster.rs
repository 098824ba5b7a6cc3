//! The roster CSV (contract: "Roster CSV").
//!
//! [`RosterReader`] streams the file row by row, so a roster of a million
//! entries never sits in memory; the store stages rows and decides
//! all-or-nothing. Each row becomes a [`RosterRow`]: valid, or one item per
//! problem with its line and field. Header problems stop the read at once.
//!
//! Real exports are rarely the canonical form: a Danish CRM or spreadsheet
//! writes semicolons, Windows-1252 and `ja`/`nej`. The delimiter is read off
//! the header line, the input is decoded to UTF-8 on the fly (the encoding
//! is the caller's, `--encoding`, unless a byte-order mark says otherwise),
//! and the flags take the common spellings.
//!
//! The roster is secret, so no message built here quotes a cell: a column
//! is named by its position or by the known name it matched, a value by its
//! shape.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

use crate::domain::phone::PhoneError;
use crate::domain::{Address, E164, Entry};
use crate::store::RosterRow;

const REQUIRED: [&str; 4] = ["ref", "phone", "hide_number", "hide_address"];
const OPTIONAL: [&str; 8] = [
    "name",
    "street",
    "house_number",
    "floor",
    "door",
    "postcode",
    "city",
    "cohort",
];

/// How far the header sniffing reads ahead looking for the end of line 1.
const HEADER_PEEK: usize = 64 * 1024;
/// Raw bytes decoded per step when the file is not UTF-8.
const DECODE_CHUNK: usize = 8 * 1024;
/// What the error for a non-UTF-8 file suggests.
const ENCODING_HINT: &str = "if the file comes from Excel or another Windows program, \
                             import it with --encoding windows-1252";

/// The character encoding of a roster file (`unlistd import --encoding`).
///
/// A byte-order mark overrides it: a UTF-8 BOM means UTF-8, a UTF-16 BOM
/// (Excel's "Unicode Text") means UTF-16.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// The default.
    #[default]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// Files saved by Excel and other Windows programs.
    #[value(name = "windows-1252", alias = "cp1252")]
    Windows1252,
    /// Latin-1, read as its superset Windows-1252.
    // As browsers and the WHATWG Encoding Standard do: the two differ only
    // in 0x80–0x9F, printable text in Windows-1252 and never text in
    // ISO-8859-1, so nothing a real Latin-1 file holds is read differently.
    #[value(name = "iso-8859-1", alias = "latin1", alias = "latin-1")]
    Latin1,
}

/// One problem with the file as a whole or with its header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderProblem {
    /// 1 for the header row; 0 when the file could not be read at all.
    pub line: u64,
    /// A known column name, `column N`, `(header)` or `(file)`.
    pub field: String,
    pub message: String,
}

/// Why a file cannot be read as a roster: every problem its header has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.lines().collect::<Vec<_>>().join("\n"))]
pub struct HeaderError {
    pub file: String,
    /// At least one.
    pub problems: Vec<HeaderProblem>,
}

impl HeaderError {
    fn one(file: &str, line: u64, field: &str, message: impl Into<String>) -> HeaderError {
        HeaderError {
            file: file.to_string(),
            problems: vec![HeaderProblem {
                line,
                field: field.to_string(),
                message: message.into(),
            }],
        }
    }

    /// One `FILE:LINE: FIELD: message` line per problem (the contract's
    /// import error format, the same as for row problems).
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.problems
            .iter()
            .map(|p| format!("{}:{}: {}: {}", self.file, p.line, p.field, p.message))
    }
}

/// The reader stack under the csv parser: what the sniffing read ahead,
/// then the rest of the file, decoded to UTF-8, with lines counted.
type Input<R> = LineCounter<Decode<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>>;

/// Streams validated rows; read `warnings` once the iterator is exhausted.
pub struct RosterReader<R: Read> {
    csv: csv::Reader<Input<R>>,
    cols: Columns,
    width: usize,
    record: csv::ByteRecord,
    pending: VecDeque<RosterRow>,
    done: bool,
    /// Rows whose number lies outside the ranges the numbering plan has
    /// assigned (accepted, counted).
    pub warnings: u64,
    /// Data rows read.
    pub rows: u64,
}

impl<R: Read> std::fmt::Debug for RosterReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosterReader")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    idx: [Option<usize>; 12],
    /// The file was decoded from Windows-1252: watch for UTF-8 misread.
    from_cp1252: bool,
}

impl Columns {
    fn get<'r>(&self, rec: &'r csv::ByteRecord, name: &str) -> Option<&'r [u8]> {
        let pos = known_column(name)?;
        self.idx[pos].and_then(|i| rec.get(i))
    }
}

fn known_column(name: &str) -> Option<usize> {
    REQUIRED
        .iter()
        .chain(OPTIONAL.iter())
        .position(|c| *c == name)
}

/// Opens a roster file and checks its header.
pub fn open(path: &Path, encoding: Encoding) -> Result<RosterReader<std::fs::File>, HeaderError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| HeaderError::one(&name, 0, "(file)", format!("cannot read: {e}")))?;
    reader_with(file, &name, encoding)
}

/// [`open`], adding every byte read from the file to `read` (a progress
/// display polls it against the file's size).
pub fn open_counted(
    path: &Path,
    encoding: Encoding,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<RosterReader<Counted<std::fs::File>>, HeaderError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| HeaderError::one(&name, 0, "(file)", format!("cannot read: {e}")))?;
    reader_with(Counted { inner: file, read }, &name, encoding)
}

/// A reader that counts the bytes read through it.
#[derive(Debug)]
pub struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Wraps any UTF-8 reader (`file` names it in errors).
pub fn reader<R: Read>(input: R, file: &str) -> Result<RosterReader<R>, HeaderError> {
    reader_with(input, file, Encoding::Utf8)
}

/// Wraps any reader in the given encoding (`file` names it in errors).
pub fn reader_with<R: Read>(
    mut input: R,
    file: &str,
    encoding: Encoding,
) -> Result<RosterReader<R>, HeaderError> {
    let herr = |field: &str, message: String| HeaderError::one(file, 1, field, message);
    let read_err = |e: std::io::Error| herr("(file)", format!("cannot read: {e}"));

    // A byte-order mark is the file's own word on its encoding.
    let mut head = [0u8; 3];
    let got = read_full(&mut input, &mut head).map_err(read_err)?;
    let (decoder, skip) = match &head[..got] {
        [0xEF, 0xBB, 0xBF] => (None, 3),
        [0xFF, 0xFE, ..] => (Some(encoding_rs::UTF_16LE), 2),
        [0xFE, 0xFF, ..] => (Some(encoding_rs::UTF_16BE), 2),
        _ => match encoding {
            Encoding::Utf8 => (None, 0),
            Encoding::Windows1252 | Encoding::Latin1 => (Some(encoding_rs::WINDOWS_1252), 0),
        },
    };
    let raw = std::io::Cursor::new(head[skip..got].to_vec()).chain(input);
    let decoded = match decoder {
        None => Decode::Utf8(raw),
        Some(enc) => Decode::Other(Decoding::new(raw, enc)),
    };
    let mut counted = LineCounter::new(decoded);
    counted.peek_line().map_err(read_err)?;
    let delimiter = sniff_delimiter(&counted.head);

    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(counted);
    let headers = csv
        .byte_headers()
        .map_err(|e| {
            herr(
                "(header)",
                format!("cannot read the header row: {}", csv_error(&e)),
            )
        })?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers.get(0).is_some_and(is_blank)) {
        return Err(herr(
            "(header)",
            "the file is empty; a header row is required".into(),
        ));
    }
    let idx = header_columns(&headers, file)?;
    Ok(RosterReader {
        csv,
        cols: Columns {
            idx,
            from_cp1252: decoder == Some(encoding_rs::WINDOWS_1252),
        },
        width: headers.len(),
        record: csv::ByteRecord::new(),
        pending: VecDeque::new(),
        done: false,
        warnings: 0,
        rows: 0,
    })
}

/// Maps the header's cells to known columns, or lists every problem.
///
/// Cells are never quoted back: a file without a header row has a data row
/// in line 1, so its "column names" are a subscriber's number and name.
fn header_columns(
    headers: &csv::ByteRecord,
    file: &str,
) -> Result<[Option<usize>; 12], HeaderError> {
    let mut idx: [Option<usize>; 12] = [None; 12];
    let mut problems = Vec::new();
    let mut problem = |col: usize, message: String| {
        problems.push(HeaderProblem {
            line: 1,
            field: format!("column {}", col + 1),
            message,
        });
    };
    let names: Vec<Option<String>> = headers
        .iter()
        .map(|h| {
            std::str::from_utf8(h)
                .ok()
                .map(|s| s.trim().to_ascii_lowercase())
        })
        .collect();
    if !names
        .iter()
        .any(|n| n.as_deref().and_then(known_column).is_some())
    {
        // Not a header at all: most likely the first data row.
        return Err(HeaderError::one(
            file,
            1,
            "column 1",
            format!(
                "unknown column (the file must start with a header row: {},…)",
                REQUIRED.join(",")
            ),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let Some(name) = name else {
            problem(i, format!("is not valid UTF-8; {ENCODING_HINT}"));
            continue;
        };
        if name.is_empty() {
            problem(
                i,
                "the header cell is empty; every column needs a name".into(),
            );
            continue;
        }
        let Some(pos) = known_column(name) else {
            let hint = match near_miss(name) {
                Some(known) => format!(" (did you mean {known}?)"),
                None => String::new(),
            };
            problem(
                i,
                format!(
                    "unknown column{hint}; allowed: {}",
                    REQUIRED
                        .iter()
                        .chain(OPTIONAL.iter())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        match idx[pos] {
            Some(first) => problem(
                i,
                format!(
                    "{} appears twice (first in column {})",
                    known_name(pos),
                    first + 1
                ),
            ),
            None => idx[pos] = Some(i),
        }
    }
    for (pos, name) in REQUIRED.iter().enumerate() {
        if idx[pos].is_none() {
            problems.push(HeaderProblem {
                line: 1,
                field: (*name).to_string(),
                message: "required column is missing".into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(idx)
    } else {
        Err(HeaderError {
            file: file.to_string(),
            problems,
        })
    }
}

fn known_name(pos: usize) -> &'static str {
    REQUIRED
        .iter()
        .chain(OPTIONAL.iter())
        .nth(pos)
        .copied()
        .unwrap_or("?")
}

/// The known column a misspelt header cell most likely meant: within two
/// edits, for names long enough that two edits leave them recognisable.
fn near_miss(name: &str) -> Option<&'static str> {
    let name: Vec<char> = name.chars().collect();
    if name.len() > 40 {
        return None;
    }
    REQUIRED
        .iter()
        .chain(OPTIONAL.iter())
        .copied()
        .filter(|known| known.len() >= 4)
        .map(|known| (edit_distance(&name, known), known))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

fn edit_distance(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn is_blank(f: &[u8]) -> bool {
    f.trim_ascii().is_empty()
}

/// The header line's delimiter: whichever of comma, semicolon and tab
/// occurs most outside quotes (a comma when none does). Column names never
/// contain any of them, so a valid header has only the one.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    Reading,
    /// The input ended; what is left in `out` is the last of it.
    Finished,
    /// The input is malformed here; the error follows what was decoded.
    Malformed,
}

/// UTF-8 passes through untouched (its validity is checked per field, so a
/// bad byte is reported at its line); any other encoding is decoded a chunk
/// at a time.
enum Decode<R> {
    Utf8(R),
    Other(Decoding<R>),
}

struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    state: DecodeState,
}

impl<R: Read> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Decoding {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0; DECODE_CHUNK],
            out: Vec::new(),
            pos: 0,
            state: DecodeState::Reading,
        }
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decode::Utf8(r) => r.read(buf),
            Decode::Other(d) => d.read(buf),
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = (self.out.len() - self.pos).min(buf.len());
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.state {
                DecodeState::Finished => return Ok(0),
                DecodeState::Malformed => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the file is not valid {}", self.decoder.encoding().name()),
                    ));
                }
                DecodeState::Reading => {}
            }
            let n = loop {
                match self.inner.read(&mut self.raw) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            let last = n == 0;
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(n)
                .ok_or_else(|| std::io::Error::other("decode buffer size overflow"))?;
            self.out.clear();
            self.out.resize(room, 0);
            // With room for the worst case the decoder consumes all of
            // `raw[..n]` unless it meets a malformed sequence.
            let (result, _read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[..n],
                &mut self.out,
                last,
            );
            self.out.truncate(written);
            self.pos = 0;
            self.state = match result {
                encoding_rs::DecoderResult::InputEmpty if last => DecodeState::Finished,
                encoding_rs::DecoderResult::InputEmpty => DecodeState::Reading,
                encoding_rs::DecoderResult::Malformed(..)
                | encoding_rs::DecoderResult::OutputFull => DecodeState::Malformed,
            };
        }
    }
}

/// Replays the header line read ahead for sniffing, and counts physical
/// lines.
///
/// The csv crate's own line numbers drift with CRLF files, and the contract
/// promises exact line numbers, so we count `\n` ourselves: the offsets of
/// newlines the csv reader has buffered but not yet consumed are kept (a
/// buffer's worth at most) and retired as records pass them.
struct LineCounter<R> {
    head: Vec<u8>,
    pos: usize,
    rest: R,
    delivered: u64,
    newlines: VecDeque<u64>,
    lines_before: u64,
}

impl<R: Read> LineCounter<R> {
    fn new(rest: R) -> Self {
        LineCounter {
            head: Vec::new(),
            pos: 0,
            rest,
            delivered: 0,
            newlines: VecDeque::new(),
            lines_before: 0,
        }
    }

    /// Reads ahead to the end of line 1 (at most [`HEADER_PEEK`] bytes) so
    /// the delimiter can be sniffed before the csv reader starts.
    fn peek_line(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        while self.head.len() < HEADER_PEEK && !self.head.contains(&b'\n') {
            match self.rest.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.head.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R> LineCounter<R> {
    /// The 1-based line on which a record starting at `offset` sits (with
    /// CRLF the csv reader may start a record on the `\n` of the previous
    /// line ending, hence `<=`). Offsets must not go backwards between
    /// calls.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&n| n <= offset) {
            self.newlines.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }

    /// The line of the last byte handed out (where a read error struck).
    fn line_at_end(&self) -> u64 {
        self.lines_before + self.newlines.len() as u64 + 1
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            n
        } else {
            self.rest.read(buf)?
        };
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                self.newlines.push_back(self.delivered + i as u64);
            }
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

fn csv_error(e: &csv::Error) -> String {
    // csv errors can quote record content; describe the kind only.
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        csv::ErrorKind::Utf8 { .. } => format!("invalid UTF-8; {ENCODING_HINT}"),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        _ => "malformed CSV".into(),
    }
}

impl<R: Read> Iterator for RosterReader<R> {
    type Item = RosterRow;

    fn next(&mut self) -> Option<RosterRow> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(r);
            }
            if self.done {
                return None;
            }
            match self.csv.read_byte_record(&mut self.record) {
                Ok(false) => {
                    self.done = true;
                }
                Ok(true) => {
                    let byte = self.record.position().map(|p| p.byte()).unwrap_or(0);
                    let line = self.csv.get_mut().line_at(byte);
                    if self.record.len() == 1 && self.record.get(0).is_some_and(is_blank) {
                        continue; // blank line
                    }
                    self.rows += 1;
                    let (row, warn) = validate(&self.cols, &self.record, line, self.width);
                    if warn {
                        self.warnings += 1;
                    }
                    self.pending.extend(row);
                }
                Err(e) => {
                    let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                    let line = match e.position() {
                        Some(p) if !io => self.csv.get_mut().line_at(p.byte()),
                        _ => self.csv.get_ref().line_at_end(),
                    };
                    self.pending.push_back(RosterRow::Invalid {
                        line,
                        field: "(row)".into(),
                        message: csv_error(&e),
                    });
                    // The csv reader resumes after a malformed record, except on IO errors.
                    if io {
                        self.done = true;
                    }
                }
            }
        }
    }
}

fn validate(
    cols: &Columns,
    rec: &csv::ByteRecord,
    line: u64,
    width: usize,
) -> (Vec<RosterRow>, bool) {
    let mut problems: Problems = Vec::new();
    if rec.len() != width {
        return (
            vec![RosterRow::Invalid {
                line,
                field: "(row)".into(),
                message: format!("expected {width} fields, found {}", rec.len()),
            }],
            false,
        );
    }
    let text = |name: &str, problems: &mut Problems| cell(cols, rec, name, problems);
    let entry_ref = text("ref", &mut problems);
    let phone_raw = text("phone", &mut problems);
    let name = text("name", &mut problems);
    let street = text("street", &mut problems);
    let house_number = text("house_number", &mut problems);
    let floor = text("floor", &mut problems);
    let door = text("door", &mut problems);
    let postcode = text("postcode", &mut problems);
    let city = text("city", &mut problems);
    let cohort = text("cohort", &mut problems);
    let hide_number = text("hide_number", &mut problems);
    let hide_address = text("hide_address", &mut problems);

    let has_problem = |f: &str, p: &Problems| p.iter().any(|(k, _)| k == f);
    match &entry_ref {
        None if has_problem("ref", &problems) => {}
        None => problems.push(("ref".into(), "is required".into())),
        Some(r) if r.chars().count() > 200 => {
            problems.push(("ref".into(), "longer than 200 characters".into()));
        }
        _ => {}
    }
    let phone = match phone_raw.as_deref().map(E164::parse_dk) {
        None if has_problem("phone", &problems) => None,
        None => {
            problems.push(("phone".into(), "is required".into()));
            None
        }
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            problems.push(("phone".into(), phone_problem(&e)));
            None
        }
    };
    let hide_number = flag("hide_number", hide_number.as_deref(), &mut problems);
    let hide_address = flag("hide_address", hide_address.as_deref(), &mut problems);
    if let Some(pc) = &postcode
        && !(pc.len() == 4 && pc.bytes().all(|b| b.is_ascii_digit()))
    {
        problems.push(("postcode".into(), "must be 4 digits".into()));
    }
    let address = Address {
        street,
        house_number,
        floor,
        door,
        postcode,
        city,
    };
    if !hide_number
        && !hide_address
        && !has_problem("hide_number", &problems)
        && !has_problem("hide_address", &problems)
    {
        problems.push((
            "hide_number".into(),
            "neither hide_number nor hide_address is true: nothing to protect".into(),
        ));
    }
    if hide_address && let Some(message) = missing_address(&address) {
        problems.push(("hide_address".into(), message));
    }

    if !problems.is_empty() {
        return (
            problems
                .into_iter()
                .map(|(field, message)| RosterRow::Invalid {
                    line,
                    field,
                    message,
                })
                .collect(),
            false,
        );
    }
    let (Some(entry_ref), Some(phone)) = (entry_ref, phone) else {
        unreachable!("missing ref or phone was recorded as a problem above")
    };
    let warn = !phone.is_assigned_range();
    let entry = Entry {
        entry_ref,
        phone,
        name,
        address: (!address.is_empty()).then_some(address),
        hide_number,
        hide_address,
        cohort,
    };
    (vec![RosterRow::Valid { line, entry }], warn)
}

/// A row's problems so far: (field, message).
type Problems = Vec<(String, String)>;

/// One cell as trimmed text (`None` when empty or absent), or a problem.
fn cell(
    cols: &Columns,
    rec: &csv::ByteRecord,
    name: &str,
    problems: &mut Problems,
) -> Option<String> {
    let raw = cols.get(rec, name)?;
    let Ok(s) = std::str::from_utf8(raw) else {
        problems.push((name.into(), format!("is not valid UTF-8; {ENCODING_HINT}")));
        return None;
    };
    let t = s.trim();
    if t.chars().any(|c| c.is_control()) {
        problems.push((name.into(), "contains control characters".into()));
        None
    } else if cols.from_cp1252 && looks_like_misread_utf8(t) {
        problems.push((
            name.into(),
            "looks like UTF-8 read as Windows-1252 (\"Ã¦\" where \"æ\" was meant); \
             import the file without --encoding"
                .into(),
        ));
        None
    } else if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// A required flag cell (`false` after recording a problem).
fn flag(name: &str, v: Option<&str>, problems: &mut Problems) -> bool {
    match v.map(parse_flag) {
        Some(Some(b)) => b,
        None => {
            problems.push((name.into(), format!("is required ({FLAG_SPELLINGS})")));
            false
        }
        Some(None) => {
            problems.push((name.into(), format!("must be {FLAG_SPELLINGS}")));
            false
        }
    }
}

/// What a protected address lacks to be searched for, if anything.
fn missing_address(address: &Address) -> Option<String> {
    let missing: Vec<&str> = [
        ("street", address.street.is_none()),
        ("house_number", address.house_number.is_none()),
        (
            "postcode (or city)",
            address.postcode.is_none() && address.city.is_none(),
        ),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(f, _)| *f)
    .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "hide_address=true needs an address; missing {}",
            missing.join(", ")
        )
    })
}

/// Whether `s` is UTF-8 that was decoded as Windows-1252: a UTF-8 lead
/// byte shown as `Â`–`ß` followed by one continuation byte, or `à`–`ï`
/// followed by two (0x80–0xBF, as Windows-1252 shows them). That is how
/// `æ` becomes `Ã¦`. Danish text has no such pairs, and a misread name
/// would never match a listing: a silent blind spot, so it is an error.
fn looks_like_misread_utf8(s: &str) -> bool {
    if s.is_ascii() {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        let follow = |n: usize| (1..=n).all(|k| chars.get(i + k).is_some_and(|&f| continuation(f)));
        match c {
            '\u{C2}'..='\u{DF}' => follow(1),
            '\u{E0}'..='\u{EF}' => follow(2),
            _ => false,
        }
    })
}

/// Whether `c` is what Windows-1252 shows for a byte in 0x80–0xBF.
fn continuation(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let mut utf8 = [0u8; 4];
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut utf8));
    !unmappable && bytes.len() == 1 && (0x80..=0xBF).contains(&bytes[0])
}

/// How the error messages spell the accepted flag values.
const FLAG_SPELLINGS: &str = "true or false; also yes/no, ja/nej, 1/0, in any case";

/// A flag as spreadsheets and Danish CRMs write it.
fn parse_flag(v: &str) -> Option<bool> {
    match v.to_lowercase().as_str() {
        "true" | "yes" | "ja" | "1" => Some(true),
        "false" | "no" | "nej" | "0" => Some(false),
        _ => None,
    }
}

/// The phone parser's complaint, minus the offending character: a cell of
/// one character would otherwise be quoted whole.
fn phone_problem(e: &PhoneError) -> String {
    match e {
        PhoneError::BadChar(c) if c.is_alphabetic() => {
            "contains a letter; only digits, spaces, + - . / ( ) are allowed".into()
        }
        PhoneError::BadChar(_) => {
            "contains a character other than digits, spaces, + - . / ( )".into()
        }
        PhoneError::Empty | PhoneError::WrongLength(_) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<RosterRow> {
        reader(text.as_bytes(), "r.csv").unwrap().collect()
    }

    fn rows_in(bytes: &[u8], encoding: Encoding) -> Vec<RosterRow> {
        reader_with(bytes, "r.csv", encoding).unwrap().collect()
    }

    fn problems(text: &str) -> Vec<(u64, String)> {
        lines_and_fields(&rows(text))
    }

    fn lines_and_fields(rows: &[RosterRow]) -> Vec<(u64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                RosterRow::Invalid { line, field, .. } => Some((*line, field.clone())),
                RosterRow::Valid { .. } => None,
            })
            .collect()
    }

    fn entries(rows: &[RosterRow]) -> Vec<(u64, &Entry)> {
        rows.iter()
            .map(|r| match r {
                RosterRow::Valid { line, entry } => (*line, entry),
                RosterRow::Invalid { .. } => panic!("unexpected problem: {rows:?}"),
            })
            .collect()
    }

    fn header_err(text: &[u8]) -> HeaderError {
        reader(text, "r.csv").unwrap_err()
    }

    fn cp1252(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
        assert!(!unmappable, "the fixture must be encodable");
        bytes.into_owned()
    }

    #[test]
    fn bom_crlf_quotes_and_any_column_order() {
        let text = "\u{feff}hide_address,phone,ref,hide_number,name,street,house_number,postcode,city\r\n\
                    true,\"+45 13 12 34 56\",A-1,false,\"Hansen, Jens\",Ågade,14B,8000,Aarhus C\r\n\
                    false,0045 94 00 00 01,A-2,true,,,,,\r\n";
        let r = rows(text);
        let e = entries(&r);
        assert_eq!(e.len(), 2);
        let (line, entry) = e[0];
        assert_eq!(line, 2);
        assert_eq!(entry.entry_ref, "A-1");
        assert_eq!(entry.phone.as_str(), "+4513123456");
        assert_eq!(entry.name.as_deref(), Some("Hansen, Jens"));
        assert!(entry.hide_address && !entry.hide_number);
        assert_eq!(
            entry.address.as_ref().unwrap().street.as_deref(),
            Some("Ågade")
        );
        let (line, entry) = e[1];
        assert_eq!(line, 3);
        assert!(entry.address.is_none());
    }

    #[test]
    fn semicolons_are_detected_from_the_header() {
        // Quoted cells may hold the other delimiters and a line break.
        let text = "ref;phone;name;hide_number;hide_address\r\n\
                    S-1;13 50 00 01;\"Hansen, Jens; senior\";true;false\r\n\
                    S-2;13 50 00 02;\"Ida\r\nMøller\";true;false\r\n\
                    S-3;1350000;Bo;true;false\r\n";
        let r = rows(text);
        // A line break inside a name is a control character: rejected, at
        // the line where its row starts; the next row is on line 5.
        assert_eq!(
            lines_and_fields(&r),
            vec![(3, "name".into()), (5, "phone".into())]
        );
        let e = entries(&r[..1]);
        assert_eq!((e[0].0, e[0].1.entry_ref.as_str()), (2, "S-1"));
        assert_eq!(e[0].1.name.as_deref(), Some("Hansen, Jens; senior"));
        assert_eq!(e[0].1.phone.as_str(), "+4513500001");
    }

    #[test]
    fn tabs_are_detected_from_the_header() {
        let text = "ref\tphone\tname\tcity\thide_number\thide_address\n\
                    T-1\t+45 19 50 00 01\tLund, Ib\tKøge\ttrue\tfalse\n\
                    T-2\t19500002\t\t\ttrue\tfalse\n";
        let r = rows(text);
        let e = entries(&r);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].1.name.as_deref(), Some("Lund, Ib"));
        assert_eq!(
            e[0].1.address.as_ref().unwrap().city.as_deref(),
            Some("Køge")
        );
        assert_eq!((e[1].0, e[1].1.phone.as_str()), (3, "+4519500002"));
    }

    #[test]
    fn a_comma_header_stays_comma_even_with_semicolons_in_rows() {
        let text = "ref,phone,name,hide_number,hide_address\nC-1,13500001,Bo; Ib; Ea,true,false\n";
        let r = rows(text);
        assert_eq!(entries(&r)[0].1.name.as_deref(), Some("Bo; Ib; Ea"));
    }

    #[test]
    fn windows_1252_names_with_danish_letters() {
        // A Danish Excel export: semicolons, CRLF, Windows-1252, ja/nej, a
        // curly apostrophe (0x92, only Windows-1252 has it), and a quoted
        // cell.
        let text = "ref;phone;name;street;house_number;postcode;city;hide_number;hide_address\r\n\
                    W-1;13 50 00 01;Søren Æbelø;Ågade;14B;8000;Århus C;ja;nej\r\n\
                    W-2;13 50 00 02;\"Åse O’Bække; Hjørnholm\";;;;;Ja;NEJ\r\n\
                    W-3;13 50 00 03;Øjvind Kjær;Bøgevej;7;5000;Odense C;nej;ja\r\n";
        let bytes = cp1252(text);
        assert!(std::str::from_utf8(&bytes).is_err(), "fixture is not UTF-8");
        let r = rows_in(&bytes, Encoding::Windows1252);
        let e = entries(&r);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].1.name.as_deref(), Some("Søren Æbelø"));
        assert_eq!(
            e[0].1.address.as_ref().unwrap().city.as_deref(),
            Some("Århus C")
        );
        assert!(e[0].1.hide_number && !e[0].1.hide_address);
        assert_eq!(e[1].1.name.as_deref(), Some("Åse O’Bække; Hjørnholm"));
        assert_eq!(e.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(!e[2].1.hide_number && e[2].1.hide_address);
        assert_eq!(
            e[2].1.address.as_ref().unwrap().street.as_deref(),
            Some("Bøgevej")
        );
    }

    #[test]
    fn iso_8859_1_names_with_danish_letters() {
        // Latin-1 bytes for æøåÆØÅé: the same in Windows-1252.
        let bytes = b"ref,phone,name,hide_number,hide_address\n\
                      L-1,94500001,\xc6se \xd8stergaard-\xc5berg,1,0\n\
                      L-2,94500002,Ren\xe9 Kr\xe6mmer L\xf8vb\xe5d,1,0\n";
        let r = rows_in(bytes, Encoding::Latin1);
        let e = entries(&r);
        assert_eq!(e[0].1.name.as_deref(), Some("Æse Østergaard-Åberg"));
        assert_eq!(e[1].1.name.as_deref(), Some("René Kræmmer Løvbåd"));
        assert_eq!(e[1].0, 3);
    }

    #[test]
    fn not_utf8_names_the_line_and_suggests_the_encoding() {
        let bytes = cp1252(
            "ref;phone;name;hide_number;hide_address\r\n\
             A;13500001;Bo;ja;nej\r\n\
             B;13500002;Søren;ja;nej\r\n",
        );
        let r = rows_in(&bytes, Encoding::Utf8);
        let bad: Vec<_> = r
            .iter()
            .filter_map(|r| match r {
                RosterRow::Invalid {
                    line,
                    field,
                    message,
                } => Some((*line, field.as_str(), message.as_str())),
                RosterRow::Valid { .. } => None,
            })
            .collect();
        assert_eq!(bad.len(), 1, "{r:?}");
        assert_eq!((bad[0].0, bad[0].1), (3, "name"));
        assert!(bad[0].2.contains("--encoding windows-1252"), "{}", bad[0].2);
        assert!(!bad[0].2.contains("S"), "no part of the name: {}", bad[0].2);
        // A header cell that is not UTF-8 gets the same hint.
        let e = reader(
            &cp1252("ref,phone,hide_number,hide_address,bemærkning\n")[..],
            "r.csv",
        )
        .unwrap_err();
        assert_eq!(e.problems[0].field, "column 5");
        assert!(e.to_string().contains("--encoding windows-1252"), "{e}");
    }

    #[test]
    fn utf8_declared_as_windows_1252_is_caught_not_misread() {
        let text = "ref;phone;name;street;house_number;city;hide_number;hide_address\n\
                    M-1;13500001;Bo Lund;Vej;1;Køge;ja;nej\n\
                    M-2;13500002;Ida Kjær;;;;ja;nej\n\
                    M-3;13500003;Ib O’Hara;;;;ja;nej\n\
                    M-4;13500004;Ea Holm;;;;ja;nej\n";
        let r = rows_in(text.as_bytes(), Encoding::Windows1252);
        assert_eq!(
            lines_and_fields(&r),
            vec![(2, "city".into()), (3, "name".into()), (4, "name".into())]
        );
        let RosterRow::Invalid { message, .. } = &r[0] else {
            panic!("{r:?}")
        };
        assert!(message.contains("without --encoding"), "{message}");
        // Genuine Windows-1252 with every Danish letter, capitals next to
        // each other and a curly apostrophe is not mistaken for it.
        let genuine = cp1252(
            "ref;phone;name;hide_number;hide_address\n\
             G-1;13500001;ÆØÅ æøå ÅØÆ Øjvind O’Brien Ærøskøbing «Åse»;ja;nej\n",
        );
        let r = rows_in(&genuine, Encoding::Windows1252);
        assert_eq!(entries(&r).len(), 1);
    }

    #[test]
    fn a_byte_order_mark_overrides_the_encoding_flag() {
        let text =
            "\u{feff}ref,phone,name,hide_number,hide_address\nB-1,13500001,Søren,true,false\n";
        let r = rows_in(text.as_bytes(), Encoding::Windows1252);
        assert_eq!(entries(&r)[0].1.name.as_deref(), Some("Søren"));
        assert_eq!(entries(&r)[0].1.entry_ref, "B-1");
    }

    #[test]
    fn utf16_with_a_bom_is_excels_unicode_text() {
        // Excel's "Unicode Text" export: UTF-16LE with a BOM, tab-separated.
        let text = "ref\tphone\tname\thide_number\thide_address\r\nU-1\t13500001\tÆbelø\tTRUE\tFALSE\r\nU-2\t1350\t\tTRUE\tFALSE\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let r = rows_in(&bytes, Encoding::Utf8);
        assert_eq!(lines_and_fields(&r), vec![(3, "phone".into())]);
        assert_eq!(entries(&r[..1])[0].1.name.as_deref(), Some("Æbelø"));

        // A lone surrogate: the read stops with a problem at its line.
        let mut bytes = vec![0xFF, 0xFE];
        let bad = "ref\tphone\thide_number\thide_address\nA\t13500001\t1\t0\nB\t13500002\t1\t0\n";
        let units: Vec<u16> = bad.encode_utf16().collect();
        let at = bad.find('B').unwrap();
        for (i, u) in units.iter().enumerate() {
            let u = if i == at { 0xD800 } else { *u };
            bytes.extend(u.to_le_bytes());
        }
        let r = rows_in(&bytes, Encoding::Utf8);
        assert_eq!(lines_and_fields(&r), vec![(3, "(row)".into())], "{r:?}");
        assert!(matches!(r[0], RosterRow::Valid { line: 2, .. }));
    }

    #[test]
    fn flags_take_the_common_spellings_in_any_case() {
        let text = "ref,phone,hide_number,hide_address,street,house_number,city\n\
                    a,13500001,ja,nej,,,\n\
                    b,13500002,Ja,NEJ,,,\n\
                    c,13500003,1,0,,,\n\
                    d,13500004,TRUE,False,,,\n\
                    e,13500005,yes,No,,,\n\
                    f,13500006,YES,no,,,\n\
                    g,13500007,nej,JA,Vej,1,Køge\n\
                    h,13500008,0,1,Vej,2,Køge\n\
                    i,13500009, Ja ,nEj,,,\n";
        let r = rows(text);
        let flags: Vec<(bool, bool)> = entries(&r)
            .iter()
            .map(|(_, e)| (e.hide_number, e.hide_address))
            .collect();
        let mut want = vec![(true, false); 6];
        want.extend([(false, true), (false, true), (true, false)]);
        assert_eq!(flags, want);

        let r = rows("ref,phone,hide_number,hide_address\nx,13500001,j,false\n");
        let RosterRow::Invalid { field, message, .. } = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(field, "hide_number");
        assert!(
            message.contains("ja/nej") && message.contains("1/0"),
            "{message}"
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_line_and_field() {
        let text = "ref,phone,hide_number,hide_address,street,house_number,postcode\n\
                    ok,13000001,true,false,,,\n\
                    bad-phone,1300001,true,false,,,\n\
                    ,13000003,true,false,,,\n\
                    noflags,13000004,false,false,,,\n\
                    noaddr,13000005,false,true,Ågade,,\n\
                    badbool,13000006,maybe,false,,,\n\
                    badpc,13000007,true,false,Vej,1,80000\n";
        assert_eq!(
            problems(text),
            vec![
                (3, "phone".into()),
                (4, "ref".into()),
                (5, "hide_number".into()),
                (6, "hide_address".into()),
                (7, "hide_number".into()),
                (8, "postcode".into()),
            ]
        );
    }

    #[test]
    fn line_numbers_stay_exact_through_decoding_and_long_files() {
        // Enough rows to cross many read and decode chunks, with CRLF,
        // multi-byte letters, and quoted line breaks every seventh row
        // (a name with a line break is a problem, reported where its row
        // starts).
        let mut text = String::from("ref;phone;name;hide_number;hide_address\r\n");
        let mut line = 2u64;
        let mut want = Vec::new();
        for i in 0..3000u32 {
            let bad = i % 409 == 0;
            let phone = if bad {
                "1350".to_string()
            } else {
                format!("1350{i:04}")
            };
            if i % 7 == 0 {
                want.push((line, "name".to_string()));
            }
            if bad {
                want.push((line, "phone".to_string()));
            }
            if i % 7 == 0 {
                text.push_str(&format!(
                    "R{i};{phone};\"Åse\r\nØstergård\r\nÆbelø\";ja;nej\r\n"
                ));
                line += 3;
            } else {
                text.push_str(&format!("R{i};{phone};Søren Kjær;ja;nej\r\n"));
                line += 1;
            }
        }
        for encoding in [Encoding::Utf8, Encoding::Windows1252] {
            let bytes = match encoding {
                Encoding::Utf8 => text.clone().into_bytes(),
                _ => cp1252(&text),
            };
            let mut rd = reader_with(&bytes[..], "r.csv", encoding).unwrap();
            let r: Vec<RosterRow> = rd.by_ref().collect();
            assert_eq!(lines_and_fields(&r), want, "{encoding:?}");
            assert_eq!(rd.rows, 3000);
        }
    }

    /// A header and then rows forever: the reader must hand out rows
    /// without reading the whole input first.
    struct Endless {
        pending: Vec<u8>,
        next: u64,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            while self.pending.len() < buf.len() {
                let row = format!("E{0};1350{0:04};Bøje Ærø;ja;nej\r\n", self.next % 10_000);
                self.pending.extend_from_slice(&cp1252(&row));
                self.next += 1;
            }
            buf.copy_from_slice(&self.pending[..buf.len()]);
            self.pending.drain(..buf.len());
            Ok(buf.len())
        }
    }

    #[test]
    fn an_endless_file_streams() {
        let input = Endless {
            pending: b"ref;phone;name;hide_number;hide_address\r\n".to_vec(),
            next: 0,
        };
        let rd = reader_with(input, "r.csv", Encoding::Windows1252).unwrap();
        let first: Vec<RosterRow> = rd.take(20_000).collect();
        let e = entries(&first);
        assert_eq!(e.len(), 20_000);
        assert_eq!(e[19_999].0, 20_001);
        assert_eq!(e[19_999].1.name.as_deref(), Some("Bøje Ærø"));
    }

    #[test]
    fn header_problems_stop_the_read_and_are_all_listed() {
        let e = header_err(b"ref,phone,hide_number,hide_address,colour\n");
        assert_eq!(e.problems.len(), 1);
        assert_eq!(
            (e.problems[0].line, e.problems[0].field.as_str()),
            (1, "column 5")
        );
        assert!(!e.to_string().contains("colour"), "{e}");

        let e = header_err(b"ref,phone,hide_number\n");
        assert_eq!(e.problems.len(), 1);
        assert_eq!(
            e.to_string(),
            "r.csv:1: hide_address: required column is missing"
        );

        let e = header_err(b"ref;phone;hide_number;hide_adress;PHONE;\n");
        assert_eq!(
            e.lines().collect::<Vec<_>>(),
            vec![
                "r.csv:1: column 4: unknown column (did you mean hide_address?); allowed: \
                 ref, phone, hide_number, hide_address, name, street, house_number, floor, \
                 door, postcode, city, cohort",
                "r.csv:1: column 5: phone appears twice (first in column 2)",
                "r.csv:1: column 6: the header cell is empty; every column needs a name",
                "r.csv:1: hide_address: required column is missing",
            ]
        );

        let e = header_err(b"");
        assert_eq!(e.problems[0].field, "(header)");
        assert!(e.to_string().starts_with("r.csv:1: (header):"));
    }

    #[test]
    fn a_file_without_a_header_row_is_named_by_position_only() {
        let text =
            "K-77441,+45 13 57 24 68,Gunnhild Vesterbæk,Tranebærstien,41,8830,Tjele,ja,nej\n";
        let e = header_err(text.as_bytes());
        assert_eq!(
            e.to_string(),
            "r.csv:1: column 1: unknown column (the file must start with a header row: \
             ref,phone,hide_number,hide_address,…)"
        );
    }

    #[test]
    fn wrong_field_count_and_bad_utf8_are_row_problems() {
        let mut text =
            b"ref,phone,hide_number,hide_address\nx,13000001,true\ny,1300\xff0002,true,false\n"
                .to_vec();
        text.extend_from_slice(b"z,13000003,true,false\n");
        let r: Vec<RosterRow> = reader(&text[..], "r.csv").unwrap().collect();
        assert_eq!(
            lines_and_fields(&r),
            vec![(2, "(row)".into()), (3, "phone".into())]
        );
        assert!(matches!(r.last(), Some(RosterRow::Valid { line: 4, .. })));
    }

    /// Every message this module writes, for cells that are distinctive
    /// and wrong in every way a column can be wrong: none quotes a cell.
    #[test]
    fn no_message_repeats_a_cell() {
        let secrets = [
            "Zq",
            "Xylofonvej",
            "Q9Q9Q",
            "Vibekke Zørnholt",
            "K-77441",
            "Zebraø",
            "1357",
            "13572",
            "4513572468",
            "Qualm",
            "Mørkhøj",
        ];
        let bad = [
            // Headerless: the first row is data.
            "K-77441;+45 13 57 24 68;Vibekke Zørnholt;Xylofonvej;ja;nej\n".to_string(),
            // A header with a secret-looking column name.
            "ref,phone,hide_number,hide_address,Vibekke Zørnholt\n".into(),
            // A header, then rows wrong in every column.
            "ref,phone,name,street,house_number,postcode,city,hide_number,hide_address\n\
             K-77441,Zq,Vibekke Zørnholt,Xylofonvej,,Q9Q9Q,Mørkhøj,Zebraø,Qualm\n\
             K-77441,Z,Vibekke Zørnholt,Xylofonvej,,Q9Q9Q,,nej,ja\n\
             K-77441,1357,\"Vibekke\u{7}Zørnholt\",Xylofonvej,1,Q9Q9Q,,nej,nej\n\
             K-77441,+4513572468,Vibekke Zørnholt\n\
             ,4513572468 13572,Vibekke Zørnholt,Xylofonvej,1,8830,Mørkhøj,ja,nej\n"
                .into(),
        ];
        let mut messages = Vec::new();
        for text in &bad {
            match reader(text.as_bytes(), "r.csv") {
                Err(e) => messages.extend(e.lines()),
                Ok(rd) => {
                    for r in rd {
                        if let RosterRow::Invalid {
                            line,
                            field,
                            message,
                        } = r
                        {
                            messages.push(format!("r.csv:{line}: {field}: {message}"));
                        }
                    }
                }
            }
        }
        assert!(messages.len() >= 12, "{messages:#?}");
        for m in &messages {
            for s in secrets {
                assert!(!m.contains(s), "{m:?} repeats {s:?}");
            }
            // A one-letter cell ("Z") must not come back either.
            assert!(!m.contains("'Z'") && !m.contains("\"Z\""), "{m:?}");
        }
    }

    #[test]
    fn spare_series_numbers_are_accepted_with_a_warning() {
        let text =
            "ref,phone,hide_number,hide_address\na,13123456,true,false\nb,33123456,true,false\n";
        let mut rd = reader(text.as_bytes(), "r.csv").unwrap();
        let n = rd
            .by_ref()
            .filter(|r| matches!(r, RosterRow::Valid { .. }))
            .count();
        assert_eq!(n, 2);
        assert_eq!(rd.warnings, 1);
    }
}
