//! End-to-end test support for epurse.
