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
        } else if let Some(rest) = digits.strip_prefix("0045") {
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

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn range_check_is_advisory() {
        // 33 is an assigned landline range; 13 is a spare series.
        assert!(E164::parse_dk("33123456").unwrap().is_assigned_range());
        assert!(!E164::parse_dk("13123456").unwrap().is_assigned_range());
    }
}
