//! `ACL` and its subcommands: users, their rules, the log of refusals.

use bytes::Bytes;

use super::args::{parse_integer, words, Args, NAME_MAX};
use super::error::CommandError;
use super::family::Family;
use super::table::Row;

/// The `ACL` subcommands.
///
/// ```text
/// ACL WHOAMI | ACL LIST | ACL USERS | ACL CAT [category] | ACL SETUSER name [rule ...] |
/// ACL DELUSER name [name ...] | ACL GETUSER name | ACL DRYRUN name command [arg ...] |
/// ACL LOG [count | RESET] | ACL LOAD | ACL SAVE | ACL GENPASS [bits] | ACL HELP
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclCommand {
    /// `ACL WHOAMI`: the connection's user name.
    WhoAmI,
    /// `ACL LIST`: every user's rules.
    List,
    /// `ACL USERS`: every user's name.
    Users,
    /// `ACL CAT [category]`: the categories, or the commands of one.
    Cat(Option<Bytes>),
    /// `ACL SETUSER name [rule ...]`: create or change a user.
    SetUser {
        /// The user.
        name: Bytes,
        /// Its rules, applied in order.
        rules: Vec<Bytes>,
    },
    /// `ACL DELUSER name [name ...]`: delete users.
    DelUser(Vec<Bytes>),
    /// `ACL GETUSER name`: a user's rules, field by field.
    GetUser(Bytes),
    /// `ACL DRYRUN name command [arg ...]`: whether the user may run the command.
    DryRun {
        /// The user.
        name: Bytes,
        /// The command and its arguments, as they would be sent.
        args: Vec<Bytes>,
    },
    /// `ACL LOAD`: replace every user with the ACL file's.
    Load,
    /// `ACL SAVE`: write every user to the ACL file.
    Save,
    /// `ACL GENPASS [bits]`: a random password of `bits` bits (256 unless given, 1 to 4096),
    /// in hexadecimal.
    GenPass(u32),
    /// `ACL LOG [count | RESET]`: the latest refusals, or forget them; the argument as sent
    /// (Redis reads the count when the command runs).
    Log(Option<Bytes>),
    /// `ACL HELP`.
    Help,
}

use AclCommand as A;

impl Family for AclCommand {
    const TABLE: &'static [Row] = &[
        Row::new("acl", -2, "", "slow")
            .doc("6.0.0", "server", "Container of the access control subcommands.", "Per subcommand."),
        Row::new("acl|whoami", 2, "noscript loading stale", "slow")
            .doc("6.0.0", "server", "Names the user this connection is authenticated as.", "O(1)"),
        Row::new("acl|cat", -2, "noscript loading stale", "slow")
            .doc("6.0.0", "server", "Lists the command categories, or the commands of one category.", "O(1): the categories and commands are fixed.")
            .args("categoryname:string~o"),
        Row::new("acl|help", 2, "loading stale", "slow")
            .doc("6.0.0", "server", "Describes the ACL subcommands.", "O(1)"),
        Row::new("acl|genpass", -2, "noscript loading stale", "slow")
            .doc("6.0.0", "server", "Makes a random password from the system's secure generator.", "O(1)")
            .args("bits:integer~o"),
        Row::new("acl|users", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Lists the names of every user.", "O(N), N users."),
        Row::new("acl|list", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Lists every user's rules in ACL file form.", "O(N), N users."),
        Row::new("acl|setuser", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Creates a user or changes its rules.", "O(N), N rules given.")
            .args("username:string rule:string~om"),
        Row::new("acl|deluser", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Deletes users and ends their connections.", "O(1) per user, amortized.")
            .args("username:string~m"),
        Row::new("acl|getuser", 3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Shows one user's rules.", "O(N), N rules of the user.")
            .args("username:string"),
        Row::new("acl|dryrun", -4, "admin noscript loading stale", "admin slow dangerous")
            .doc("7.0.0", "server", "Tells whether a user may run a command, without running it.", "O(1)")
            .args("username:string command:string arg:string~om"),
        Row::new("acl|load", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Reloads the users from the ACL file.", "O(N), N users."),
        Row::new("acl|save", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Writes the users to the ACL file.", "O(N), N users."),
        Row::new("acl|log", -2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "server", "Shows or clears the log of refused commands and logins.", "O(N), N entries shown.")
            .args("operation:oneof~o{count:integer reset:pure-token=RESET}"),
    ];

    fn parse(name: &[u8], args: &mut Args) -> Option<Result<Self, CommandError>> {
        (name == b"acl").then(|| parse_acl(args))
    }

    fn full_name(&self) -> &'static str {
        match self {
            A::WhoAmI => "acl|whoami",
            A::List => "acl|list",
            A::Users => "acl|users",
            A::Cat(_) => "acl|cat",
            A::SetUser { .. } => "acl|setuser",
            A::DelUser(_) => "acl|deluser",
            A::GetUser(_) => "acl|getuser",
            A::DryRun { .. } => "acl|dryrun",
            A::Load => "acl|load",
            A::Save => "acl|save",
            A::GenPass(_) => "acl|genpass",
            A::Log(_) => "acl|log",
            A::Help => "acl|help",
        }
    }

    fn to_args(&self) -> Vec<Bytes> {
        let then = |mut head: Vec<Bytes>, rest: &[Bytes]| {
            head.extend(rest.iter().cloned());
            head
        };
        match self {
            A::WhoAmI => words(&["ACL", "WHOAMI"], &[]),
            A::List => words(&["ACL", "LIST"], &[]),
            A::Users => words(&["ACL", "USERS"], &[]),
            A::Cat(cat) => words(&["ACL", "CAT"], cat.as_slice()),
            A::SetUser { name, rules } => {
                then(words(&["ACL", "SETUSER"], std::slice::from_ref(name)), rules)
            }
            A::DelUser(names) => words(&["ACL", "DELUSER"], names),
            A::GetUser(name) => words(&["ACL", "GETUSER"], std::slice::from_ref(name)),
            A::DryRun { name, args } => {
                then(words(&["ACL", "DRYRUN"], std::slice::from_ref(name)), args)
            }
            A::Load => words(&["ACL", "LOAD"], &[]),
            A::Save => words(&["ACL", "SAVE"], &[]),
            A::GenPass(bits) => words(&["ACL", "GENPASS"], &[Bytes::from(bits.to_string())]),
            A::Log(arg) => words(&["ACL", "LOG"], arg.as_slice()),
            A::Help => words(&["ACL", "HELP"], &[]),
        }
    }
}

/// `ACL subcommand [arg ...]`.
fn parse_acl(args: &mut Args) -> Result<AclCommand, CommandError> {
    let mut buf = [0; NAME_MAX];
    let (sub, lower) = args.subcommand("acl", &mut buf)?;
    let argc = args.len();
    // The subcommands that check their own argument count, worded as Redis 7 does.
    let at_most_one = |args: &mut Args, sub: Bytes| match argc {
        0 | 1 => Ok(args.next()),
        _ => Err(CommandError::SubcommandSyntax { command: "ACL", sub }),
    };
    Ok(match lower {
        b"whoami" => args.need(argc == 0, "acl|whoami").map(|()| A::WhoAmI)?,
        b"list" => args.need(argc == 0, "acl|list").map(|()| A::List)?,
        b"users" => args.need(argc == 0, "acl|users").map(|()| A::Users)?,
        b"cat" => A::Cat(at_most_one(args, sub)?),
        b"setuser" => {
            args.need(argc >= 1, "acl|setuser")?;
            A::SetUser { name: args.take(), rules: args.rest() }
        }
        b"deluser" => args.need(argc >= 1, "acl|deluser").map(|()| A::DelUser(args.rest()))?,
        b"getuser" => args.need(argc == 1, "acl|getuser").map(|()| A::GetUser(args.take()))?,
        b"dryrun" => {
            args.need(argc >= 2, "acl|dryrun")?;
            A::DryRun { name: args.take(), args: args.rest() }
        }
        b"load" => args.need(argc == 0, "acl|load").map(|()| A::Load)?,
        b"log" => A::Log(at_most_one(args, sub)?),
        b"save" => args.need(argc == 0, "acl|save").map(|()| A::Save)?,
        b"genpass" => A::GenPass(match at_most_one(args, sub)? {
            None => 256,
            Some(arg) => {
                let n = parse_integer(&arg).ok_or(CommandError::NotAnInteger)?;
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or(CommandError::GenPassBits)?
            }
        }),
        b"help" => args.need(argc == 0, "acl|help").map(|()| A::Help)?,
        _ => return Err(CommandError::UnknownSubcommand { command: "ACL", sub }),
    })
}
