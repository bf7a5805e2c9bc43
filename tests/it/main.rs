//! The workspace integration tests, in one binary.
