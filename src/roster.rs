//! The roster CSV (contract: "Roster CSV").
//!
//! [`RosterReader`] streams the file row by row, so a roster of a million
//! entries never sits in memory; the store stages rows and decides
//! all-or-nothing. Each row becomes a [`RosterRow`]: valid, or one item per
//! problem with its line and field. Header problems stop the read at once.

use std::io::Read;
use std::path::Path;

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

/// A problem with the file as a whole (unreadable, bad header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct HeaderError {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    idx: [Option<usize>; 12],
}

impl Columns {
    fn get<'r>(&self, rec: &'r csv::ByteRecord, name: &str) -> Option<&'r [u8]> {
        let pos = REQUIRED
            .iter()
            .chain(OPTIONAL.iter())
            .position(|c| *c == name)?;
        self.idx[pos].and_then(|i| rec.get(i))
    }
}

/// Streams validated rows; read `warnings` once the iterator is exhausted.
pub struct RosterReader<R: Read> {
    csv: csv::Reader<R>,
    cols: Columns,
    record: csv::ByteRecord,
    pending: std::collections::VecDeque<RosterRow>,
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

/// Opens a roster file and checks its header.
pub fn open(path: &Path) -> Result<RosterReader<BomSkip<Box<dyn Read>>>, HeaderError> {
    let file = std::fs::File::open(path).map_err(|e| HeaderError {
        file: path.display().to_string(),
        line: 0,
        field: "(file)".into(),
        message: format!("cannot read: {e}"),
    })?;
    reader(
        Box::new(std::io::BufReader::new(file)) as Box<dyn Read>,
        &path.display().to_string(),
    )
}

/// Wraps any reader (`file` names it in errors).
pub fn reader<R: Read>(mut input: R, file: &str) -> Result<RosterReader<BomSkip<R>>, HeaderError> {
    let herr = |field: &str, message: String| HeaderError {
        file: file.to_string(),
        line: 1,
        field: field.to_string(),
        message,
    };
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < 3 {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(herr("(file)", format!("cannot read: {e}"))),
        }
    }
    let keep = if got == 3 && head == [0xEF, 0xBB, 0xBF] {
        Vec::new()
    } else {
        head[..got].to_vec()
    };
    let input = BomSkip {
        head: keep,
        pos: 0,
        rest: input,
        delivered: 0,
        newlines: Default::default(),
        lines_before: 0,
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = csv
        .byte_headers()
        .map_err(|e| {
            herr(
                "(header)",
                format!("cannot read the header row: {}", csv_error(&e)),
            )
        })?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers.get(0) == Some(b"")) {
        return Err(herr(
            "(header)",
            "the file is empty; a header row is required".into(),
        ));
    }
    let mut idx = [None; 12];
    for (i, h) in headers.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|_| herr("(header)", format!("column {} is not UTF-8", i + 1)))?
            .trim()
            .to_ascii_lowercase();
        let Some(pos) = REQUIRED
            .iter()
            .chain(OPTIONAL.iter())
            .position(|c| *c == name)
        else {
            return Err(herr(
                &name,
                format!(
                    "unknown column {name:?}; allowed: {}",
                    REQUIRED
                        .iter()
                        .chain(OPTIONAL.iter())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if idx[pos].is_some() {
            return Err(herr(&name, "column appears twice".into()));
        }
        idx[pos] = Some(i);
    }
    for (pos, name) in REQUIRED.iter().enumerate() {
        if idx[pos].is_none() {
            return Err(herr(name, "required column is missing".into()));
        }
    }
    Ok(RosterReader {
        csv,
        cols: Columns { idx },
        record: csv::ByteRecord::new(),
        pending: Default::default(),
        done: false,
        warnings: 0,
        rows: 0,
    })
}

/// Drops a leading UTF-8 BOM and counts physical lines.
///
/// The csv crate's own line numbers drift with CRLF files, and the contract
/// promises exact line numbers, so we count `\n` ourselves: the offsets of
/// newlines the csv reader has buffered but not yet consumed are kept (a
/// buffer's worth at most) and retired as records pass them.
pub struct BomSkip<R> {
    head: Vec<u8>,
    pos: usize,
    rest: R,
    delivered: u64,
    newlines: std::collections::VecDeque<u64>,
    lines_before: u64,
}

impl<R> std::fmt::Debug for BomSkip<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BomSkip")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl<R> BomSkip<R> {
    /// The 1-based line on which a record starting at `offset` sits (with
    /// CRLF the csv reader may start a record on the `\n` of the previous
    /// line ending, hence `<=`). Offsets must
    /// not go backwards between calls.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&n| n <= offset) {
            self.newlines.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }
}

impl<R: Read> Read for BomSkip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
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
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        _ => "malformed CSV".into(),
    }
}

impl<R: Read> Iterator for RosterReader<BomSkip<R>> {
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
                    if self.record.len() == 1
                        && self
                            .record
                            .get(0)
                            .is_some_and(|f| f.trim_ascii().is_empty())
                    {
                        continue; // blank line
                    }
                    self.rows += 1;
                    let (row, warn) = validate(
                        &self.cols,
                        &self.record,
                        line,
                        self.csv.byte_headers().map(|h| h.len()).unwrap_or(0),
                    );
                    if warn {
                        self.warnings += 1;
                    }
                    self.pending.extend(row);
                }
                Err(e) => {
                    let byte = e.position().map(|p| p.byte()).unwrap_or(0);
                    let line = self.csv.get_mut().line_at(byte);
                    self.pending.push_back(RosterRow::Invalid {
                        line,
                        field: "(row)".into(),
                        message: csv_error(&e),
                    });
                    // The csv reader resumes after a malformed record, except on IO errors.
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        self.done = true;
                    }
                }
            }
        }
    }
}

/// One row's checks, in the order their problems are reported (the
/// contract promises every problem of a row, each naming its field), so
/// they stay together.
#[allow(clippy::too_many_lines)]
fn validate(
    cols: &Columns,
    rec: &csv::ByteRecord,
    line: u64,
    width: usize,
) -> (Vec<RosterRow>, bool) {
    let mut problems: Vec<(String, String)> = Vec::new();
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
    let text = |name: &str, problems: &mut Vec<(String, String)>| -> Option<String> {
        let raw = cols.get(rec, name)?;
        match std::str::from_utf8(raw) {
            Ok(s) => {
                let t = s.trim();
                if t.chars().any(|c| c.is_control()) {
                    problems.push((name.into(), "contains control characters".into()));
                    None
                } else if t.is_empty() {
                    None
                } else {
                    Some(t.to_string())
                }
            }
            Err(_) => {
                problems.push((name.into(), "is not valid UTF-8".into()));
                None
            }
        }
    };
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

    let has_problem = |f: &str, p: &Vec<(String, String)>| p.iter().any(|(k, _)| k == f);
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
        // The message describes the shape only, never the value.
        Some(Err(e)) => {
            problems.push(("phone".into(), e.to_string()));
            None
        }
    };
    let flag = |name: &str, v: &Option<String>, problems: &mut Vec<(String, String)>| -> bool {
        match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "1") => true,
            Some("false" | "no" | "0") => false,
            None => {
                problems.push((name.into(), "is required (true or false)".into()));
                false
            }
            Some(_) => {
                problems.push((name.into(), "must be true or false".into()));
                false
            }
        }
    };
    let hide_number = flag("hide_number", &hide_number, &mut problems);
    let hide_address = flag("hide_address", &hide_address, &mut problems);
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
    if hide_address {
        let missing: Vec<&str> = [
            ("street", address.street.is_none()),
            ("house_number", address.house_number.is_none()),
            (
                "postcode",
                address.postcode.is_none() && address.city.is_none(),
            ),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(f, _)| *f)
        .collect();
        if !missing.is_empty() {
            problems.push((
                "hide_address".into(),
                format!(
                    "hide_address=true needs an address; missing {}",
                    missing.join(", ").replace("postcode", "postcode (or city)")
                ),
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<RosterRow> {
        reader(text.as_bytes(), "r.csv").unwrap().collect()
    }

    fn problems(text: &str) -> Vec<(u64, String)> {
        rows(text)
            .into_iter()
            .filter_map(|r| match r {
                RosterRow::Invalid { line, field, .. } => Some((line, field)),
                RosterRow::Valid { .. } => None,
            })
            .collect()
    }

    #[test]
    fn bom_crlf_quotes_and_any_column_order() {
        let text = "\u{feff}hide_address,phone,ref,hide_number,name,street,house_number,postcode,city\r\n\
                    true,\"+45 13 12 34 56\",A-1,false,\"Hansen, Jens\",Ågade,14B,8000,Aarhus C\r\n\
                    false,0045 94 00 00 01,A-2,true,,,,,\r\n";
        let r = rows(text);
        assert_eq!(r.len(), 2, "{r:?}");
        let RosterRow::Valid { line, entry } = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(entry.entry_ref, "A-1");
        assert_eq!(entry.phone.as_str(), "+4513123456");
        assert_eq!(entry.name.as_deref(), Some("Hansen, Jens"));
        assert!(entry.hide_address && !entry.hide_number);
        assert_eq!(
            entry.address.as_ref().unwrap().street.as_deref(),
            Some("Ågade")
        );
        let RosterRow::Valid { line, entry } = &r[1] else {
            panic!("{r:?}")
        };
        assert_eq!(*line, 3);
        assert!(entry.address.is_none());
    }

    #[test]
    fn every_bad_row_is_reported_with_line_and_field() {
        let text = "ref,phone,hide_number,hide_address,street,house_number,postcode\n\
                    ok,13000001,true,false,,,\n\
                    bad-phone,1300001,true,false,,,\n\
                    ,13000003,true,false,,,\n\
                    noflags,13000004,false,false,,,\n\
                    noaddr,13000005,false,true,Ågade,,\n\
                    badbool,13000006,ja,false,,,\n\
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
    fn header_problems_stop_the_read() {
        let e = reader(
            "ref,phone,hide_number,hide_address,colour\n".as_bytes(),
            "r.csv",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "colour"));
        let e = reader("ref,phone,hide_number\n".as_bytes(), "r.csv").unwrap_err();
        assert_eq!(e.field, "hide_address");
        let e = reader("".as_bytes(), "r.csv").unwrap_err();
        assert_eq!(e.field, "(header)");
        assert!(e.to_string().starts_with("r.csv:1: (header):"));
    }

    #[test]
    fn wrong_field_count_and_bad_utf8_are_row_problems() {
        let mut text =
            b"ref,phone,hide_number,hide_address\nx,13000001,true\ny,1300\xff0002,true,false\n"
                .to_vec();
        text.extend_from_slice(b"z,13000003,true,false\n");
        let r: Vec<RosterRow> = reader(&text[..], "r.csv").unwrap().collect();
        let lines: Vec<(u64, String)> = r
            .iter()
            .filter_map(|r| match r {
                RosterRow::Invalid { line, field, .. } => Some((*line, field.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(lines, vec![(2, "(row)".into()), (3, "phone".into())]);
        assert!(matches!(r.last(), Some(RosterRow::Valid { line: 4, .. })));
    }

    #[test]
    fn error_messages_never_echo_the_number() {
        let text = "ref,phone,hide_number,hide_address\nx,13 12 34 5,true,false\n";
        for r in rows(text) {
            if let RosterRow::Invalid { message, .. } = r {
                assert!(!message.contains("131234"), "{message}");
            }
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
