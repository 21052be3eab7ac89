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

/// An amount in minor units as `12.50` in the installation's default currency (two decimals,
/// INR): the edge formatting of DESIGN.md, for receipts, reports and messages. Everything below
/// the edge keeps integers in minor units.
pub fn format_amount(minor_units: impl Into<i128>) -> String {
    let currency = backoffice::money::Currency::default();
    match i64::try_from(minor_units.into()) {
        Ok(units) => currency.format(units),
        // Nothing on a card or in a SAM comes near i64; say so rather than print a wrong figure.
        Err(_) => "(amount out of range)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::format_amount;

    #[test]
    fn amounts_format_with_two_decimals_from_every_integer_width() {
        assert_eq!(format_amount(0u32), "0.00");
        assert_eq!(format_amount(1250u32), "12.50");
        assert_eq!(format_amount(7u64), "0.07");
        assert_eq!(format_amount(-5i64), "-0.05");
        assert_eq!(format_amount(0x7FFF_FFFFu32), "21474836.47");
        assert_eq!(format_amount(u64::MAX), "(amount out of range)");
    }
}
