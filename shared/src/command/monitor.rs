//! MONITOR: every command the server runs, streamed to the connection as it runs.

use bytes::Bytes;

use super::args::{words, Args};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// ```text
/// MONITOR
/// ```
/// From its `+OK` on, the connection receives one status line per command any connection
/// runs, in Redis's format (`+<unix time> [<db> <address>] "<arg>" ...`), until RESET or
/// QUIT. Refused in subscribed mode (RESP2) and inside EXEC, as by Redis; a second MONITOR
/// is not answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorCommand;

impl Family for MonitorCommand {
    const TABLE: &'static [Row] = &[Row::new("monitor", 1, "admin noscript loading stale", "admin slow dangerous")
        .doc("1.0.0", "server", "Streams every command the server runs, as it runs them.", "")];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        if name != b"monitor" {
            return None;
        }
        Some(args.need(args.is_empty(), "monitor").map(|()| MonitorCommand))
    }

    fn full_name(&self) -> &'static str {
        "monitor"
    }

    fn to_args(&self) -> Vec<Bytes> {
        words(&["MONITOR"], &[])
    }
}

#[cfg(test)]
mod tests {
    use super::super::{command_row, Command};
    use super::*;

    #[test]
    fn monitor_parses_back_takes_no_argument_and_has_its_row() {
        let cmd = Command::from(MonitorCommand);
        assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd);
        let extra = vec![Bytes::from_static(b"MONITOR"), Bytes::from_static(b"x")];
        assert_eq!(
            Command::parse(extra).unwrap_err().to_bytes(),
            &b"ERR wrong number of arguments for 'monitor' command"[..]
        );
        assert_eq!(command_row("monitor").unwrap().categories, "admin slow dangerous");
    }
}
