//! Danish phone numbers in E.164 form.
//!
//! The contract's rule is deliberately simple and independent of any range
//! table: strip separators and an optional `+45`/`0045` prefix; what is left
//! must be exactly 8 digits. Whether the number lies in a range the
//! numbering plan has assigned is a separate, advisory check
//! ([`E164::is_assigned_range`]) so a stale table never blocks an import.

use std::fmt;

/// A Danish subscriber number, always `+45` followed by 8 digits.
///
/// `Debug` prints the masked form; there is deliberately no `Display`, so the
/// full number only leaves through [`E164::as_str`] / [`E164::national`],
/// which are easy to audit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("unexpected character {0:?} in phone number")]
    BadChar(char),
    #[error("expected 8 digits after an optional +45/0045 prefix, found {0}")]
    WrongLength(usize),
}

impl E164 {
    /// Parses a Danish number in any common written form: `33123456`,
    /// `33 12 34 56`, `+45 33 12 34 56`, `+4533123456`, `004533123456`,
    /// `(+45) 33-12-34-56`, `tel:+4533123456`.
    pub fn parse_dk(input: &str) -> Result<E164, PhoneError> {
        let mut s = input.trim();
        if let Some(rest) = s
            .strip_prefix("tel:")
            .or_else(|| s.strip_prefix("TEL:"))
            .or_else(|| s.strip_prefix("callto:"))
        {
            s = rest.trim();
        }
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        let mut digits = String::with_capacity(12);
        let mut plus = false;
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '\u{a0}' | '\u{202f}' | '\t' | '-' | '.' | '/' => {}
                '(' | ')' if i < 8 => {}
                _ => return Err(PhoneError::BadChar(c)),
            }
        }
        let national = if plus {
            match digits.strip_prefix("45") {
                Some(rest) => rest,
                None => return Err(PhoneError::WrongLength(digits.len())),
            }
        } else if let Some(rest) = digits.strip_prefix("0045").filter(|r| r.len() == 8) {
            // Only a whole international form: "00450000" is 8 national
            // digits, not a prefix and four digits.
            rest
        } else if digits.len() == 10 && digits.starts_with("45") {
            // "45 33 12 34 56": the country code written without + or 00.
            &digits[2..]
        } else {
            &digits
        };
        if national.len() != 8 {
            return Err(PhoneError::WrongLength(national.len()));
        }
        Ok(E164(format!("+45{national}")))
    }

    /// Every Danish number a directory's phone field shows. Beyond what
    /// [`E164::parse_dk`] takes, it reads fields that carry a label
    /// (`Tlf. 13 12 34 56`, `Mobil: +4513123456`), a trailing note
    /// (`13 12 34 56 (privat)`) or several numbers (`13 12 34 56 / 19 12 34
    /// 56`, also split at `,` `;` `|` and the words `og`/`eller`). Only
    /// labels that mean "telephone" are stripped, so a registration number
    /// (`CVR 13123456`) is not read as a phone number. Total: any input gives
    /// a (possibly empty) list.
    pub fn numbers_in(text: &str) -> Vec<E164> {
        let mut found: Vec<E164> = Vec::new();
        let mut push = |n: E164| {
            if !found.contains(&n) {
                found.push(n);
            }
        };
        if let Some(n) = parse_labelled(text) {
            push(n);
            return found;
        }
        for part in split_numbers(text) {
            if let Some(n) = parse_labelled(part) {
                push(n);
            }
        }
        found
    }

    /// Rebuilds a number from its stored E.164 text; `None` if it is not one.
    pub fn from_e164(s: &str) -> Option<E164> {
        let national = s.strip_prefix("+45")?;
        (national.len() == 8 && national.bytes().all(|b| b.is_ascii_digit()))
            .then(|| E164(s.to_owned()))
    }

    /// `+45` followed by 8 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 8 national digits, as Danish sites expect them in a search.
    pub fn national(&self) -> &str {
        &self.0[3..]
    }

    /// `+45 13 12 •• ••`: enough for a person to recognise, too little to dial.
    pub fn masked(&self) -> String {
        let n = self.national();
        format!("+45 {} {} •• ••", &n[0..2], &n[2..4])
    }

    /// Whether the numbering plan (libphonenumber's table) knows this range.
    /// Advisory only: importing warns, never rejects, on `false`.
    pub fn is_assigned_range(&self) -> bool {
        match phonenumber::parse(Some(phonenumber::country::Id::DK), &self.0) {
            Ok(n) => phonenumber::is_valid(&n),
            Err(_) => false,
        }
    }
}

/// Words that label a phone field on Danish directories (compared
/// ASCII-case-insensitively, each optionally followed by `.` or `:`).
const PHONE_LABELS: &[&str] = &[
    "mobiltelefon",
    "mobiltlf",
    "telefonnummer",
    "telefon",
    "fastnet",
    "mobil",
    "phone",
    "privat",
    "arbejde",
    "direkte",
    "tlf",
    "tel",
    "mob",
    "fax",
    "nr",
];

/// `s` without a leading phone label (repeated: `Tlf. privat: …`).
fn strip_leading_labels(mut s: &str) -> &str {
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '.');
        let Some(label) = PHONE_LABELS.iter().find(|l| {
            s.get(..l.len()).is_some_and(|h| h.eq_ignore_ascii_case(l))
                && !s[l.len()..].starts_with(char::is_alphanumeric)
        }) else {
            return s;
        };
        s = &s[label.len()..];
    }
}

/// `s` without a trailing note: a parenthesised text with a letter in it
/// (`(privat)`, `(mobil)`) or a trailing phone label word.
fn strip_trailing_note(s: &str) -> &str {
    let mut s = s.trim_end();
    loop {
        let before = s;
        if s.ends_with(')')
            && let Some(open) = s.rfind('(')
            && s[open..].chars().any(char::is_alphabetic)
        {
            s = s[..open].trim_end();
        }
        let t = s.trim_end_matches(['.', ':']).trim_end();
        if let Some((head, last)) = t.rsplit_once(char::is_whitespace)
            && PHONE_LABELS.iter().any(|l| last.eq_ignore_ascii_case(l))
        {
            s = head.trim_end();
        }
        if s == before {
            return s;
        }
    }
}

/// [`E164::parse_dk`] after removing labels and notes.
fn parse_labelled(s: &str) -> Option<E164> {
    if let Ok(n) = E164::parse_dk(s) {
        return Some(n);
    }
    E164::parse_dk(strip_trailing_note(strip_leading_labels(s))).ok()
}

/// The parts of a field that lists several numbers.
fn split_numbers(s: &str) -> Vec<&str> {
    let mut parts = vec![s];
    for sep in [",", ";", "|", "/", " og ", " eller ", " or "] {
        parts = parts.into_iter().flat_map(|p| p.split(sep)).collect();
    }
    parts
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_forms_normalise_to_one_e164() {
        for s in [
            "13123456",
            "13 12 34 56",
            "1312 3456",
            "+45 13 12 34 56",
            "+4513123456",
            "004513123456",
            "0045 13 12 34 56",
            "(+45) 13-12-34-56",
            "45 13 12 34 56",
            "tel:+4513123456",
            " 13.12.34.56 ",
        ] {
            assert_eq!(E164::parse_dk(s).unwrap().as_str(), "+4513123456", "{s}");
        }
    }

    #[test]
    fn wrong_lengths_and_characters_are_rejected() {
        assert_eq!(E164::parse_dk("1312345"), Err(PhoneError::WrongLength(7)));
        assert_eq!(E164::parse_dk("131234567"), Err(PhoneError::WrongLength(9)));
        assert_eq!(
            E164::parse_dk("+46 13123456"),
            Err(PhoneError::WrongLength(10))
        );
        assert_eq!(E164::parse_dk("13a23456"), Err(PhoneError::BadChar('a')));
        assert_eq!(E164::parse_dk("  "), Err(PhoneError::Empty));
    }

    #[test]
    fn masked_and_debug_hide_the_last_four_digits() {
        let n = E164::parse_dk("94 12 34 56").unwrap();
        assert_eq!(n.masked(), "+45 94 12 •• ••");
        assert!(!format!("{n:?}").contains("3456"));
        assert_eq!(n.national(), "94123456");
        assert_eq!(E164::from_e164("+4594123456"), Some(n));
        assert_eq!(E164::from_e164("+459412345"), None);
    }

    #[test]
    fn numbers_in_labelled_and_shared_fields() {
        let want = E164::parse_dk("13123456").unwrap();
        let other = E164::parse_dk("94000001").unwrap();
        for s in [
            "13 12 34 56",
            "Tlf. 13 12 34 56",
            "tlf.: 13123456",
            "TLF 13 12 34 56",
            "Mobil: +45 13 12 34 56",
            "Telefon +4513123456",
            "13 12 34 56 (privat)",
            "13 12 34 56 mobil",
            "Tlf. privat: 13 12 34 56",
            "tel:+4513123456",
            "Fax 1312 3456",
        ] {
            assert_eq!(E164::numbers_in(s), std::slice::from_ref(&want), "{s:?}");
        }
        for s in [
            "94 00 00 01 / 13 12 34 56",
            "94000001, 13123456",
            "94 00 00 01 og 13 12 34 56",
            "Tlf. 94 00 00 01 | Mobil 13 12 34 56",
        ] {
            assert_eq!(E164::numbers_in(s), [other.clone(), want.clone()], "{s:?}");
        }
        // Not a phone label, not a number, or not this number.
        for s in [
            "CVR 13123456",
            "CVR-nr. 13123456",
            "13 12 34 5",
            "13 12 34 56 78",
            "+46 13 12 34 56",
            "Tlf.",
            "(privat)",
            "",
            "Telefonen 13123456",
        ] {
            assert!(!E164::numbers_in(s).contains(&want), "{s:?}");
        }
    }

    /// A Danish number written the way people and sites write them: an
    /// optional country prefix, then the 8 digits with any of the common
    /// separators (or none) between any two of them.
    fn written_form() -> impl Strategy<Value = (String, String)> {
        let national = "[1-9][0-9]{7}";
        let prefix = prop::sample::select(vec![
            "",
            "+45",
            "+45 ",
            "+45-",
            "0045",
            "0045 ",
            "45 ",
            "(+45) ",
            "(0045) ",
            "tel:",
            "tel:+45",
            "TEL: +45 ",
            " ",
        ]);
        let seps = prop::collection::vec(
            prop::sample::select(vec!["", "", " ", "-", ".", "/", "\u{a0}", "\u{202f}"]),
            7,
        );
        (national, prefix, seps).prop_map(|(n, prefix, seps)| {
            let mut s = prefix.to_owned();
            for (i, d) in n.chars().enumerate() {
                s.push(d);
                if let Some(sep) = seps.get(i) {
                    s.push_str(sep);
                }
            }
            (n, s)
        })
    }

    proptest! {
        #[test]
        fn any_written_form_normalises_to_one_e164((national, written) in written_form()) {
            let want = format!("+45{national}");
            let got = E164::parse_dk(&written);
            prop_assert_eq!(got.as_ref().map(E164::as_str), Ok(want.as_str()), "{:?}", written);
            prop_assert_eq!(E164::numbers_in(&written), vec![got.clone().unwrap()]);
            // With a label or a note around it, it is still read.
            for wrapped in [format!("Tlf. {written}"), format!("{written} (mobil)")] {
                prop_assert_eq!(E164::numbers_in(&wrapped), vec![got.clone().unwrap()], "{:?}", wrapped);
            }
        }

        #[test]
        fn normalisation_is_idempotent(n in "[0-9]{8}") {
            let e = E164::parse_dk(&n).expect("8 digits");
            prop_assert_eq!(E164::parse_dk(e.as_str()), Ok(e.clone()));
            prop_assert_eq!(E164::parse_dk(e.national()), Ok(e.clone()));
            prop_assert_eq!(E164::from_e164(e.as_str()), Some(e.clone()));
        }

        #[test]
        fn never_panics_and_only_ever_yields_e164(s in any::<String>()) {
            if let Ok(n) = E164::parse_dk(&s) {
                prop_assert_eq!(E164::parse_dk(n.as_str()), Ok(n.clone()));
                prop_assert!(E164::numbers_in(&s).contains(&n));
            }
            for n in E164::numbers_in(&s) {
                prop_assert!(E164::from_e164(n.as_str()).is_some());
            }
        }

        #[test]
        fn other_digit_counts_are_rejected(n in "[1-9][0-9]{0,6}|[1-9][0-9]{8,9}") {
            // 10 digits starting with 45 is the country code written bare.
            prop_assume!(!(n.len() == 10 && n.starts_with("45")));
            prop_assert!(E164::parse_dk(&n).is_err());
        }
    }

    #[test]
    fn range_check_is_advisory() {
        // 33 is an assigned landline range; 13 is a spare series.
        assert!(E164::parse_dk("33123456").unwrap().is_assigned_range());
        assert!(!E164::parse_dk("13123456").unwrap().is_assigned_range());
    }
}
