//! Danish address normalisation and comparison.
