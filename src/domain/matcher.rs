//! Listing × entry → outcome.
