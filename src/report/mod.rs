//! Compliance reports (placeholder).
