//! epurse host library.
