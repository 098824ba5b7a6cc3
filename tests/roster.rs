//! Roster files as real exports write them, and the one error-line format,
//! through the real binary.

use crate::common::*;

/// The shared test roster as a Danish Excel export writes it: semicolons,
/// CRLF, Windows-1252, ja/nej.
fn danish_export() -> Vec<u8> {
    let mut out = String::new();
    for (i, line) in ROSTER.lines().enumerate() {
        let mut cells: Vec<&str> = line.split(',').collect();
        if i > 0 {
            for c in &mut cells[9..11] {
                *c = if *c == "true" { "ja" } else { "nej" };
            }
        }
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&out);
    assert!(!unmappable);
    bytes.into_owned()
}

fn write(env: &Env, name: &str, bytes: &[u8]) -> String {
    let p = env.path(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn roster_size(env: &Env) -> u64 {
    let out = env.cmd(&["--json", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)["roster"]["size"].as_u64().unwrap()
}

/// Splits stderr into problem lines and the summary, checking that every
/// line but the last is `FILE:LINE: FIELD: message` for `file` and the last
/// is the prefixed summary.
fn problem_lines(err: &str, file: &str) -> Vec<String> {
    let lines: Vec<&str> = err.lines().collect();
    let (summary, problems) = lines.split_last().expect("stderr is empty");
    let count = summary
        .strip_prefix(&format!("unlistd: {file}: import rejected ("))
        .and_then(|s| s.strip_suffix(" problems); the roster is unchanged"))
        .unwrap_or_else(|| panic!("not the summary: {summary:?}"));
    assert!(count.parse::<u64>().is_ok(), "{summary:?}");
    for l in problems {
        let rest = l
            .strip_prefix(&format!("{file}:"))
            .unwrap_or_else(|| panic!("{l:?} does not start with the file"));
        let (line, rest) = rest.split_once(": ").expect("FILE:LINE: ");
        assert!(line.parse::<u64>().is_ok(), "{l:?}: line is not a number");
        let (field, message) = rest.split_once(": ").expect("FIELD: message");
        assert!(!field.is_empty() && !message.is_empty(), "{l:?}");
    }
    problems.iter().map(|l| l.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_semicolon_windows_1252_ja_nej_export_imports() {
    let env = Env::new(Knobs::default()).await;
    let file = write(&env, "crm-export.csv", &danish_export());

    // Read as UTF-8 (the default) it is rejected at its first name with a
    // Danish letter, and the error says what to do.
    let out = env.cmd(&["import", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let problems = problem_lines(&stderr(&out), &file);
    assert_eq!(
        problems[0],
        format!(
            "{file}:2: name: is not valid UTF-8; if the file comes from Excel or another \
             Windows program, import it with --encoding windows-1252"
        )
    );
    assert_eq!(roster_size(&env), 0);

    let out = env.cmd(&["--json", "import", "--encoding", "windows-1252", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (j["added"].as_u64(), j["rows"].as_u64()),
        (Some(6), Some(6))
    );

    // The canonical UTF-8, comma, true/false form of the same roster
    // changes nothing: names, addresses and flags were read exactly.
    let out = env.cmd(&[
        "--json",
        "import",
        &write(&env, "canonical.csv", ROSTER.as_bytes()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["unchanged"].as_u64(),
            j["changed"].as_u64(),
            j["added"].as_u64()
        ),
        (Some(6), Some(0), Some(0)),
        "{j}"
    );

    let out = env.cmd(&["import", "--encoding", "ebcdic", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("windows-1252"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn header_problems_print_in_the_row_format() {
    let env = Env::new(Knobs::default()).await;
    let cases: [(&str, &[&str]); 3] = [
        (
            "ref,phone,hide_number,name\n",
            &["1: hide_address: required column is missing"],
        ),
        (
            "ref;phone;hide_number;hide_address;colour\n",
            &[
                "1: column 5: unknown column; allowed: ref, phone, hide_number, hide_address, \
               name, street, house_number, floor, door, postcode, city, cohort",
            ],
        ),
        (
            "ref\tphone\thide_number\thide_address\tname\tphone\n",
            &["1: column 6: phone appears twice (first in column 2)"],
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = write(&env, &format!("hdr{i}.csv"), text.as_bytes());
        let out = env.cmd(&["import", &file]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let got = problem_lines(&stderr(&out), &file);
        let want: Vec<String> = want.iter().map(|w| format!("{file}:{w}")).collect();
        assert_eq!(got, want);
    }
    assert!(
        !env.db().exists(),
        "a bad header must not even open the store"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn row_problems_print_one_line_each() {
    let env = Env::new(Knobs::default()).await;
    let text = "ref;phone;street;house_number;city;hide_number;hide_address\r\n\
                A;13500001;;;;ja;nej\r\n\
                B;1350000;;;;ja;nej\r\n\
                A;13500003;;;;ja;nej\r\n\
                C;13500004;;;;kanske;nej\r\n\
                D;13500005;;;;NEJ;Ja\r\n";
    let file = write(&env, "rows.csv", text.as_bytes());
    let out = env.cmd(&["import", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let mut got = problem_lines(&stderr(&out), &file);
    got.sort();
    let mut want = vec![
        format!("{file}:3: phone: expected 8 digits after an optional +45/0045 prefix, found 7"),
        format!("{file}:4: ref: duplicate of line 2"),
        format!(
            "{file}:5: hide_number: must be true or false; also yes/no, ja/nej, 1/0, in any case"
        ),
        format!(
            "{file}:6: hide_address: hide_address=true needs an address; missing street, \
             house_number, postcode (or city)"
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roster_without_a_header_row_echoes_none_of_its_values() {
    let env = Env::new(Knobs::default()).await;
    let values = [
        "K-88213",
        "+45 13 57 24 68",
        "13572468",
        "Gunnhild Vesterbæk",
        "Tranebærstien",
        "Tjele",
        "R-99120",
        "94 86 42 17",
        "94864217",
        "Ulrikke Skovsbøll",
    ];
    let text = format!(
        "{},{},{},{},41,8830,{},ja,nej\n{},{},{},,,,,ja,nej\n",
        values[0], values[1], values[3], values[4], values[5], values[6], values[7], values[9]
    );
    let file = write(&env, "headless.csv", text.as_bytes());
    let out = env.cmd(&["import", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        problem_lines(&err, &file),
        vec![format!(
            "{file}:1: column 1: unknown column (the file must start with a header row: \
             ref,phone,hide_number,hide_address,…)"
        )]
    );
    for v in values {
        assert!(!err.contains(v), "stderr repeats {v:?}: {err}");
    }
    assert!(stdout(&out).is_empty());
}
