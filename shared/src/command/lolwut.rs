//! LOLWUT: the server's version, as Redis 7 answers it.

use bytes::Bytes;

use super::args::{is, words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// ```text
/// LOLWUT [VERSION version]
/// ```
/// Redis 7 draws art only for versions 5 and 6; for its own version it answers
/// `Redis ver. <version>` and a newline, and ignores any other argument. The version asked
/// for is kept as sent: Redis reads it as an integer when the command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LolwutCommand {
    /// The argument after `VERSION`, if given.
    pub version: Option<Bytes>,
}

impl Family for LolwutCommand {
    const TABLE: &'static [Row] = &[
        Row::new("lolwut", -1, "readonly fast", "read fast")
            .doc("5.0.0", "server", "Draws a picture and tells the version.", "")
            .args("version:integer=VERSION~o"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        if name != b"lolwut" {
            return None;
        }
        let rest = args.rest();
        let version = match &rest[..] {
            [option, version, ..] if is(option, "version") => Some(version.clone()),
            _ => None,
        };
        Some(Ok(LolwutCommand { version }))
    }

    fn full_name(&self) -> &'static str {
        "lolwut"
    }

    fn to_args(&self) -> Vec<Bytes> {
        match &self.version {
            Some(version) => words(&["LOLWUT", "VERSION"], std::slice::from_ref(version)),
            None => words(&["LOLWUT"], &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{command_row, Command};
    use super::*;

    #[test]
    fn lolwut_parses_back_from_its_arguments_and_has_its_row() {
        let asked = |v: Option<&str>| {
            let version = v.map(|v| Bytes::copy_from_slice(v.as_bytes()));
            Command::from(LolwutCommand { version })
        };
        for cmd in [asked(None), asked(Some("5")), asked(Some("x"))] {
            assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd);
        }
        let parse = |words: &[&str]| {
            Command::parse(words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect())
        };
        assert_eq!(parse(&["lolwut", "version"]).unwrap(), asked(None));
        assert_eq!(parse(&["LOLWUT", "VeRsIoN", "6", "10"]).unwrap(), asked(Some("6")));
        assert_eq!(parse(&["lolwut", "10", "20"]).unwrap(), asked(None));
        assert_eq!(command_row("lolwut").unwrap().categories, "read fast");
    }
}
