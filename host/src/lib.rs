//! epurse host library: the reader stack, the card client over the APDU contract, the
//! teller/POS/settlement/field workflows and the `epurse` command line.
//!
//! Layers, bottom up (each knows only the one below):
//!
//! - [`transport`]: raw APDU bytes to a card — the [`transport::Transport`] trait, its PC/SC
//!   implementation and a scripted mock; typed errors for no service / reader / card, removal
//!   and reset.
//! - [`exchange`]: `61xx` GET RESPONSE chaining and `6Cxx` resend below every command, reselect
//!   after a reset for reads only, never a silent retry of a value-changing command; the APDU
//!   trace ([`trace`]) with PINs, keys and MACs redacted.
//! - [`card`]: card client (identify purse / transfer card, GET STATUS, READ LOG; the load,
//!   proof, personalisation and issuer commands for the teller workflows).
//! - [`atr`]: ISO/IEC 7816-3 ATR decoder. [`acs`]: ACS reader firmware, LEDs, buzzer.
//! - [`pos`]: merchant workflows — sale, recovery, transfer card, acknowledgement, settlement upload.
//! - [`teller`]: connected-mode teller workflows (issue, block/unblock, load, recovery) over
//!   the card client and the narrow back-office interface [`teller::Office`].
//! - [`config`]: the installation home and the paths in it (ledger, master keys, SAM files).
//! - [`cli`]: one module per subcommand group of the `epurse` binary.

pub mod acs;
pub mod atr;
pub mod card;
pub mod cli;
pub mod config;
pub mod exchange;
pub mod pos;
pub mod teller;
pub mod trace;
pub mod transport;
