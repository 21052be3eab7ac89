//! epurse host library: the card client over the APDU contract, the teller/POS/settlement
//! workflows and the `epurse` command line.
//!
//! - [`cli`]: one module per subcommand group of the `epurse` binary (`epurse crypto ...`).

pub mod cli;
