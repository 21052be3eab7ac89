//! apdu contract
