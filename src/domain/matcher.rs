//! Listing × entry → outcome.
use super::{E164, Entry, Listing, Outcome};
pub fn assess(entry: &Entry, listings: &[Listing]) -> Outcome {
    let _ = (entry, listings);
    todo!("helper")
}
pub fn number_shown(number: &E164, listings: &[Listing]) -> bool {
    let _ = (number, listings);
    todo!("helper")
}
