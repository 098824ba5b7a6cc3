//! Conversions between domain values and columns, shared by every query
//! module and both backends. Times are Unix milliseconds; flags are 0/1.

use super::sql::{Row, ValueRef, corrupt};
use super::{StoreError, Ts};
use crate::domain::incident::{EventType, IncidentState};
use crate::domain::{Address, E164, Entry, ExposedField, OutcomeKind};

pub(super) fn ms(t: Ts) -> i64 {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// `now - keep`, in milliseconds, saturating.
pub(super) fn ms_before(now: Ts, keep: std::time::Duration) -> i64 {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    ms(now).saturating_sub(keep_ms)
}

pub(super) fn ts_at(ms: i64, idx: usize) -> Result<Ts, StoreError> {
    Ts::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| corrupt(idx, "time"))
}

pub(super) fn ts(row: &dyn Row, idx: usize) -> Result<Ts, StoreError> {
    ts_at(row.i64(idx)?, idx)
}

pub(super) fn opt_ts(row: &dyn Row, idx: usize) -> Result<Option<Ts>, StoreError> {
    row.opt_i64(idx)?.map(|v| ts_at(v, idx)).transpose()
}

pub(super) fn u16_col(row: &dyn Row, idx: usize) -> Result<Option<u16>, StoreError> {
    row.opt_i64(idx)?
        .map(|v| u16::try_from(v).map_err(|_| corrupt(idx, "status")))
        .transpose()
}

pub(super) fn u32_col(row: &dyn Row, idx: usize) -> Result<u32, StoreError> {
    u32::try_from(row.i64(idx)?).map_err(|_| corrupt(idx, "count"))
}

pub(super) fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn count_col(row: &dyn Row, idx: usize) -> Result<u64, StoreError> {
    Ok(count(row.i64(idx)?))
}

pub(super) fn bool_col(row: &dyn Row, idx: usize) -> Result<bool, StoreError> {
    match row.i64(idx)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(idx, "flag")),
    }
}

pub(super) fn phone_col(row: &dyn Row, idx: usize) -> Result<E164, StoreError> {
    let s = row.text(idx).map_err(|_| corrupt(idx, "phone"))?;
    E164::from_e164(&s).ok_or_else(|| corrupt(idx, "phone"))
}

/// What stands for the number of an entry whose roster data was erased.
pub(super) const ERASED: &str = "(erased)";

/// The masked number; [`ERASED`] once the entry's data was erased.
pub(super) fn masked_col(row: &dyn Row, idx: usize) -> Result<String, StoreError> {
    match row.value(idx)? {
        ValueRef::Null => Ok(ERASED.to_string()),
        _ => Ok(phone_col(row, idx)?.masked()),
    }
}

pub(super) fn exposed_text(fields: &[ExposedField]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn exposed_col(row: &dyn Row, idx: usize) -> Result<Vec<ExposedField>, StoreError> {
    let s = row.text(idx)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| ExposedField::parse(p).ok_or_else(|| corrupt(idx, "exposed field")))
        .collect()
}

pub(super) fn state_col(row: &dyn Row, idx: usize) -> Result<IncidentState, StoreError> {
    IncidentState::parse(&row.text(idx)?).ok_or_else(|| corrupt(idx, "incident state"))
}

pub(super) fn outcome_col(row: &dyn Row, idx: usize) -> Result<OutcomeKind, StoreError> {
    OutcomeKind::parse(&row.text(idx)?).ok_or_else(|| corrupt(idx, "outcome"))
}

pub(super) fn event_type_col(row: &dyn Row, idx: usize) -> Result<EventType, StoreError> {
    EventType::parse(&row.text(idx)?).ok_or_else(|| corrupt(idx, "event type"))
}

/// The entry columns, in the order [`entry_at`] reads them.
pub(super) const ENTRY_COLS: &str = "e.ref, e.phone, e.name, e.street, e.house_number, e.floor, \
     e.door, e.postcode, e.city, e.hide_number, e.hide_address, e.cohort";

/// Reads an [`Entry`] from the [`ENTRY_COLS`] columns starting at `at`.
///
/// An address is stored as its six parts; `None` comes back when all six
/// are NULL (so `Some(Address::default())` reads back as `None`).
pub(super) fn entry_at(row: &dyn Row, at: usize) -> Result<Entry, StoreError> {
    let part = |i: usize| row.opt_text(at + i);
    let address = Address {
        street: part(3)?,
        house_number: part(4)?,
        floor: part(5)?,
        door: part(6)?,
        postcode: part(7)?,
        city: part(8)?,
    };
    let has_address = [
        &address.street,
        &address.house_number,
        &address.floor,
        &address.door,
        &address.postcode,
        &address.city,
    ]
    .iter()
    .any(|p| p.is_some());
    Ok(Entry {
        entry_ref: row.text(at)?,
        phone: phone_col(row, at + 1)?,
        name: part(2)?,
        address: has_address.then_some(address),
        hide_number: bool_col(row, at + 9)?,
        hide_address: bool_col(row, at + 10)?,
        cohort: row.opt_text(at + 11)?,
    })
}
