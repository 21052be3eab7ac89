//! Commands both applets answer the same way (SPEC.md 2.3, 2.5, 2.13, 3.2): SELECT, GET STATUS
//! (the response differs per applet), GET CHALLENGE, and the GET CHALLENGE response.

use crate::apdu::{Command, ContractCommand, Expect, Ins};
use crate::error::Result;
use crate::values::Applet;

/// SELECT by AID: `00 A4 04 00 08 AID 00` → FCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Select {
    /// The applet to select.
    pub applet: Applet,
}

impl ContractCommand for Select {
    const INS: Ins = Ins::Select;

    fn to_command(&self) -> Command {
        Command::new(Self::INS)
            .p1(0x04)
            .fixed_data(self.applet.aid())
            .le(0)
    }

    fn from_command(command: &Command) -> Result<Self> {
        let e = Expect::new(command, Self::INS)?
            .p1p2(0x04, 0x00)?
            .le(Some(0))?;
        let aid: [u8; 8] = e.data(8)?.array()?;
        Ok(Self {
            applet: Applet::from_aid(&aid)?,
        })
    }
}

/// GET STATUS: `80 5E 00 00 00` → [`crate::PurseStatus`] (81 bytes) or
/// [`crate::TransferStatus`] (14 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetStatus;

impl ContractCommand for GetStatus {
    const INS: Ins = Ins::GetStatus;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).le(0)
    }

    fn from_command(command: &Command) -> Result<Self> {
        Expect::le_only(command, Self::INS, 0)?;
        Ok(Self)
    }
}

/// GET CHALLENGE: `00 84 00 00 04` → [`Challenge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetChallenge;

impl ContractCommand for GetChallenge {
    const INS: Ins = Ins::GetChallenge;

    fn to_command(&self) -> Command {
        Command::new(Self::INS).le(Challenge::LEN as u8)
    }

    /// Le `04` (the SPEC's form); the card also accepts `00`, which is refused here so that
    /// parse and build stay inverses.
    fn from_command(command: &Command) -> Result<Self> {
        Expect::le_only(command, Self::INS, Challenge::LEN as u8)?;
        Ok(Self)
    }
}

/// The GET CHALLENGE response: the card's 4-byte random, consumed by the next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge(pub [u8; 4]);

impl Challenge {
    /// Wire size.
    pub const LEN: usize = 4;

    /// From the 4 response bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Ok(Self(
            crate::bytes::Reader::exact(bytes, Self::LEN, "GET CHALLENGE response")?.array()?,
        ))
    }

    /// The 4 wire bytes.
    pub fn to_bytes(&self) -> [u8; 4] {
        self.0
    }
}

/// Defines a PERSONALIZE command type, `84 60 00 00 Lc C MAC_P` (SPEC 1.10): the purse and the
/// transfer applet differ only in the size of the cryptogram `C` (`$c` bytes).
macro_rules! personalize_command {
    ($(#[$meta:meta])* $name:ident, cryptogram: $c:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            /// `C = CBC_ENC(SK_PERSO_ENC, pad_m2(PD))`.
            pub cryptogram: [u8; $c],
            /// `MAC_P = MAC(SK_PERSO_MAC, 84 60 00 00 || C)`.
            pub mac_p: [u8; 8],
        }

        impl $crate::apdu::ContractCommand for $name {
            const INS: $crate::apdu::Ins = $crate::apdu::Ins::Personalize;

            fn to_command(&self) -> $crate::apdu::Command {
                $crate::apdu::Command::new(Self::INS).fixed_data($crate::bytes::fill::<{ $c + 8 }>(
                    &[&self.cryptogram, &self.mac_p],
                ))
            }

            fn from_command(command: &$crate::apdu::Command) -> $crate::error::Result<Self> {
                let mut r = $crate::apdu::Expect::data_only(command, Self::INS, $c + 8)?;
                Ok(Self {
                    cryptogram: r.array()?,
                    mac_p: r.array()?,
                })
            }
        }
    };
}
pub(crate) use personalize_command;

/// Defines `$name`, any command of one applet recognised by its `(CLA, INS)`: the enum with one
/// variant per command type, `from_command`, `parse` and `to_command`. Each listed type's
/// [`ContractCommand::INS`] selects its variant; any other instruction is
/// [`SpecError::UnknownCommand`] for `$applet`.
///
/// [`SpecError::UnknownCommand`]: crate::SpecError::UnknownCommand
macro_rules! applet_commands {
    ($(#[$meta:meta])* $name:ident, $applet:literal, { $($variant:ident($ty:ty),)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum $name {
            $($variant($ty),)+
        }

        impl $name {
            #[doc = concat!("The typed command of a ", $applet, " APDU.")]
            pub fn from_command(
                command: &$crate::apdu::Command,
            ) -> $crate::error::Result<Self> {
                use $crate::apdu::ContractCommand;
                let unknown = || $crate::error::SpecError::UnknownCommand {
                    applet: $applet,
                    cla: command.cla_byte(),
                    ins: command.ins_byte(),
                };
                let ins = command.instruction().ok_or_else(unknown)?;
                $(
                    if ins == <$ty>::INS {
                        return Ok(Self::$variant(<$ty>::from_command(command)?));
                    }
                )+
                Err(unknown())
            }

            /// Parses APDU bytes.
            pub fn parse(bytes: &[u8]) -> $crate::error::Result<Self> {
                Self::from_command(&$crate::apdu::Command::parse(bytes)?)
            }

            /// The APDU.
            pub fn to_command(&self) -> $crate::apdu::Command {
                use $crate::apdu::ContractCommand;
                match self {
                    $(Self::$variant(c) => c.to_command(),)+
                }
            }
        }
    };
}
pub(crate) use applet_commands;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SpecError;

    #[test]
    fn select_bytes() {
        let purse = Select {
            applet: Applet::Purse,
        };
        let bytes = [
            0x00, 0xA4, 0x04, 0x00, 0x08, 0xF0, 0x45, 0x50, 0x55, 0x52, 0x53, 0x45, 0x01, 0x00,
        ];
        assert_eq!(purse.to_bytes(), bytes);
        assert_eq!(Select::parse(&bytes).unwrap(), purse);
        let transfer = Select {
            applet: Applet::Transfer,
        };
        assert_eq!(transfer.to_bytes()[12], 0x02);
        assert_eq!(Select::parse(&transfer.to_bytes()).unwrap(), transfer);
        let mut unknown = bytes;
        unknown[12] = 0x03;
        assert!(matches!(
            Select::parse(&unknown),
            Err(SpecError::UnknownAid(_))
        ));
        assert!(matches!(
            Select::parse(&bytes[..13]),
            Err(SpecError::BadLe { .. })
        ));
        let mut p2 = bytes;
        p2[3] = 0x0C;
        assert!(matches!(Select::parse(&p2), Err(SpecError::BadP1P2 { .. })));
    }

    #[test]
    fn get_status_and_challenge_bytes() {
        assert_eq!(GetStatus.to_bytes(), [0x80, 0x5E, 0x00, 0x00, 0x00]);
        assert_eq!(GetStatus::parse(&[0x80, 0x5E, 0, 0, 0]).unwrap(), GetStatus);
        assert!(matches!(
            GetStatus::parse(&[0x80, 0x5E, 0, 0]),
            Err(SpecError::BadLe { got: None, .. })
        ));
        assert!(matches!(
            GetStatus::parse(&[0x80, 0x5C, 0, 0, 0]),
            Err(SpecError::WrongCommand { .. })
        ));
        assert!(matches!(
            GetStatus::parse(&[0x80, 0x5E, 0, 0, 1, 0xAA, 0]),
            Err(SpecError::BadLength { .. })
        ));
        assert_eq!(GetChallenge.to_bytes(), [0x00, 0x84, 0x00, 0x00, 0x04]);
        assert_eq!(
            GetChallenge::parse(&[0x00, 0x84, 0, 0, 4]).unwrap(),
            GetChallenge
        );
        assert!(GetChallenge::parse(&[0x00, 0x84, 0, 1, 4]).is_err());
        assert_eq!(
            Challenge::parse(&[1, 2, 3, 4]).unwrap().to_bytes(),
            [1, 2, 3, 4]
        );
        assert!(Challenge::parse(&[1, 2, 3]).is_err());
        assert!(Challenge::parse(&[1, 2, 3, 4, 5]).is_err());
    }
}
