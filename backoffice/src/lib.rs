//! epurse back office (filled in by the back-office issue).
