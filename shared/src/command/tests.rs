//! The command table as a whole: every command parses back from its arguments and has its
//! categories, and errors read as Redis's.

use super::*;

/// Parses `words` as a request (the families' unit tests share it).
pub(super) fn parse(words: &[&str]) -> Result<Command, CommandError> {
    Command::parse(words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect())
}

fn err(words: &[&str]) -> String {
    parse(words).unwrap_err().to_string()
}

#[test]
fn commands_round_trip_through_their_arguments() {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let all = [
        Command::Connection(ConnectionCommand::Ping(None)),
        Command::Connection(ConnectionCommand::Ping(Some(b("x")))),
        Command::Connection(ConnectionCommand::Echo(b(""))),
        Command::Connection(ConnectionCommand::Quit),
        Command::Connection(ConnectionCommand::Reset),
        Command::Pubsub(PubsubCommand::Subscribe(vec![b("a"), b("b")])),
        Command::Pubsub(PubsubCommand::Unsubscribe(vec![])),
        Command::Pubsub(PubsubCommand::PSubscribe(vec![b("n*")])),
        Command::Pubsub(PubsubCommand::PUnsubscribe(vec![b("n*")])),
        Command::Pubsub(PubsubCommand::Publish { channel: b("c"), message: b("m") }),
        Command::Pubsub(PubsubCommand::Channels(None)),
        Command::Pubsub(PubsubCommand::Channels(Some(b("*")))),
        Command::Pubsub(PubsubCommand::Numsub(vec![b("a")])),
        Command::Pubsub(PubsubCommand::Numpat),
        Command::Pubsub(PubsubCommand::ShardChannels(Some(b("s*")))),
        Command::Pubsub(PubsubCommand::ShardNumsub(vec![b("s")])),
        Command::Pubsub(PubsubCommand::SSubscribe(vec![b("s")])),
        Command::Pubsub(PubsubCommand::SUnsubscribe(vec![])),
        Command::Pubsub(PubsubCommand::SPublish { channel: b("s"), message: b("m") }),
        Command::Client(ClientCommand::SetInfo { lib_name: true, value: b("x") }),
        Command::Client(ClientCommand::SetInfo { lib_name: false, value: b("1") }),
        Command::Client(ClientCommand::Info),
        Command::Client(ClientCommand::List(vec![b("TYPE"), b("pubsub")])),
        Command::Client(ClientCommand::Kill(vec![b("ID"), b("3")])),
        Command::Client(ClientCommand::NoEvict(true)),
        Command::Client(ClientCommand::NoTouch(false)),
        Command::Client(ClientCommand::Reply(ReplyMode::Skip)),
        Command::Client(ClientCommand::Help),
        Command::Config(ConfigCommand::Help),
        Command::Pubsub(PubsubCommand::Help),
        Command::Connection(ConnectionCommand::Hello {
            version: Some(3),
            name: Some(b("me")),
            auth: None,
        }),
        Command::Connection(ConnectionCommand::Hello {
            version: Some(3),
            name: None,
            auth: Some((b("u"), b("p"))),
        }),
        Command::Connection(ConnectionCommand::Hello { version: None, name: None, auth: None }),
        Command::Connection(ConnectionCommand::Auth { user: None, password: b("p") }),
        Command::Connection(ConnectionCommand::Auth { user: Some(b("u")), password: b("p") }),
        Command::Acl(AclCommand::WhoAmI),
        Command::Acl(AclCommand::List),
        Command::Acl(AclCommand::Users),
        Command::Acl(AclCommand::Cat(None)),
        Command::Acl(AclCommand::Cat(Some(b("pubsub")))),
        Command::Acl(AclCommand::SetUser { name: b("u"), rules: vec![b("on"), b("&a*")] }),
        Command::Acl(AclCommand::Load),
        Command::Acl(AclCommand::DelUser(vec![b("a"), b("b")])),
        Command::Acl(AclCommand::GetUser(b("a"))),
        Command::Acl(AclCommand::DryRun { name: b("a"), args: vec![b("PUBLISH"), b("c")] }),
        Command::Acl(AclCommand::Save),
        Command::Acl(AclCommand::Log(None)),
        Command::Acl(AclCommand::Log(Some(b("RESET")))),
        Command::Acl(AclCommand::Help),
        Command::Acl(AclCommand::GenPass(5)),
        Command::Client(ClientCommand::SetName(b("n"))),
        Command::Client(ClientCommand::GetName),
        Command::Client(ClientCommand::Id),
        Command::Config(ConfigCommand::Get(vec![b("save")])),
        Command::Config(ConfigCommand::Set(vec![
            (b("timeout"), b("5")),
            (b("maxclients"), b("9")),
        ])),
        Command::Config(ConfigCommand::ResetStat),
        Command::Client(ClientCommand::Tracking(vec![b("on"), b("BCAST")])),
        Command::Client(ClientCommand::TrackingInfo),
        Command::Client(ClientCommand::GetRedir),
        Command::Client(ClientCommand::Caching(b("yes"))),
        Command::Introspection(IntrospectionCommand::All),
        Command::Introspection(IntrospectionCommand::Count),
        Command::Introspection(IntrospectionCommand::Info(vec![b("publish")])),
        Command::Introspection(IntrospectionCommand::Docs(vec![])),
        Command::Introspection(IntrospectionCommand::List(None)),
        Command::Introspection(IntrospectionCommand::List(Some(
            introspection::ListFilter::AclCat(b("pubsub")),
        ))),
        Command::Introspection(IntrospectionCommand::GetKeys {
            command: vec![b("watch"), b("k")],
            flags: true,
        }),
        Command::Introspection(IntrospectionCommand::Help),
        Command::Server(ServerCommand::Info(vec![])),
        Command::Connection(ConnectionCommand::Select(b("1"))),
        Command::Server(ServerCommand::DbSize),
        Command::Server(ServerCommand::Time),
        Command::Server(ServerCommand::LastSave),
        Command::Transaction(TransactionCommand::Multi),
        Command::Transaction(TransactionCommand::Exec),
        Command::Transaction(TransactionCommand::Discard),
        Command::Transaction(TransactionCommand::Watch(vec![b("k")])),
        Command::Transaction(TransactionCommand::Unwatch),
    ];
    for cmd in all {
        let name = cmd.full_name();
        assert!(command_row(name).is_some(), "{name} has no row");
        assert_eq!(Command::parse(cmd.to_args()).unwrap(), cmd);
    }
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(parse(&["pInG"]).unwrap(), Command::Connection(ConnectionCommand::Ping(None)));
    assert_eq!(parse(&["pubsub", "NumPat"]).unwrap(), Command::Pubsub(PubsubCommand::Numpat));
}

#[test]
fn errors_use_redis_texts() {
    assert_eq!(err(&["foo"]), "ERR unknown command 'foo', with args beginning with: ");
    assert_eq!(
        err(&["foo", "a", "b\r\nc"]),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b  c' "
    );
    assert_eq!(err(&["ping", "a", "b"]), "ERR wrong number of arguments for 'ping' command");
    assert_eq!(err(&["echo"]), "ERR wrong number of arguments for 'echo' command");
    assert_eq!(err(&["subscribe"]), "ERR wrong number of arguments for 'subscribe' command");
    assert_eq!(err(&["publish", "a"]), "ERR wrong number of arguments for 'publish' command");
    assert_eq!(err(&["pubsub"]), "ERR wrong number of arguments for 'pubsub' command");
    assert_eq!(
        err(&["pubsub", "channels", "a", "b"]),
        "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."
    );
    assert_eq!(err(&["pubsub", "x"]), "ERR unknown subcommand 'x'. Try PUBSUB HELP.");
    assert_eq!(err(&["hello", "4"]), "NOPROTO unsupported protocol version");
    assert_eq!(err(&["hello", "x"]), "ERR Protocol version is not an integer or out of range");
    assert_eq!(err(&["hello", "3", "setname"]), "ERR Syntax error in HELLO option 'setname'");
    assert_eq!(err(&["auth"]), "ERR wrong number of arguments for 'auth' command");
    assert_eq!(err(&["auth", "a", "b", "c"]), "ERR syntax error");
    assert_eq!(err(&["acl"]), "ERR wrong number of arguments for 'acl' command");
    assert_eq!(err(&["acl", "foo"]), "ERR unknown subcommand 'foo'. Try ACL HELP.");
    assert_eq!(
        err(&["acl", "whoami", "x"]),
        "ERR wrong number of arguments for 'acl|whoami' command"
    );
    assert_eq!(err(&["acl", "setuser"]), "ERR wrong number of arguments for 'acl|setuser' command");
    assert_eq!(
        subscribed_context_error("publish"),
        "ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    );
}

#[test]
fn quoted_names_are_their_bytes_cut_at_nul() {
    let parse_raw = |words: &[&[u8]]| {
        Command::parse(words.iter().map(|w| Bytes::copy_from_slice(w)).collect()).unwrap_err()
    };
    // Each as redis-server 7.0.15 answers it.
    assert_eq!(
        parse_raw(&[b"PI\0NG", b"a\0b"]).to_bytes(),
        b"ERR unknown command 'PI', with args beginning with: 'a' "
    );
    assert_eq!(
        parse_raw(&[b"\xff\xfeX"]).to_bytes(),
        b"ERR unknown command '\xff\xfeX', with args beginning with: "
    );
    assert_eq!(
        parse_raw(&[b"FOO", b"\xff", b"a\r\nb"]).to_bytes(),
        b"ERR unknown command 'FOO', with args beginning with: '\xff' 'a  b' "
    );
    assert_eq!(
        parse_raw(&[b"PUBSUB", b"CHAN\0NELS", b"a"]).to_bytes(),
        b"ERR unknown subcommand 'CHAN'. Try PUBSUB HELP."
    );
}

#[test]
fn every_command_has_its_categories() {
    for row in COMMAND_TABLE {
        assert!(row.categories.split(' ').all(is_category), "{}: {}", row.name, row.categories);
        assert!(!row.since.is_empty() && !row.group.is_empty() && !row.summary.is_empty());
    }
    // A container's row comes before its subcommands', each full name once.
    for (i, row) in COMMAND_TABLE.iter().enumerate() {
        assert!(COMMAND_TABLE[i + 1..].iter().all(|r| r.name != row.name), "{}", row.name);
        if let Some((parent, _)) = row.name.split_once('|') {
            assert!(COMMAND_TABLE[..i].iter().any(|r| r.name == parent), "{}", row.name);
        }
    }
    assert!(in_category("publish", "pubsub") && in_category("publish", "fast"));
    assert!(!in_category("subscribe", "fast"));
    // A container's category covers its subcommands: `config` is @slow.
    assert!(in_category("config|set", "slow") && in_category("config|set", "admin"));
    assert!(!in_category("config|help", "admin"));
    assert_eq!(category_commands("transaction").count(), 5);
}

#[test]
fn long_unknown_commands_are_clipped() {
    let long = "x".repeat(300);
    let text = err(&[&long, &long, &long]);
    assert!(text.len() < 128 + 128 + 80, "{}", text.len());
}

#[test]
fn the_table_gives_keys_as_redis_extracts_them() {
    let watch = command_row("watch").unwrap();
    assert_eq!(watch.key_range(), (1, -1, 1));
    assert_eq!(watch.key_positions(3), 1..3);
    assert!(watch.has_keys());
    let spublish = command_row("spublish").unwrap();
    assert_eq!(spublish.key_range(), (1, 1, 1));
    // A shard channel is routed like a key but is not one.
    assert!(!spublish.has_keys() && spublish.key_positions(3).is_empty());
    assert!(!command_row("publish").unwrap().has_keys());
    assert!(command_row("publish").unwrap().arity_fits(3));
    assert!(!command_row("publish").unwrap().arity_fits(2));
    assert!(command_row("subscribe").unwrap().arity_fits(5));
    assert_eq!(subcommand_rows("command").count(), 7);
}

#[test]
fn arguments_are_read_from_their_compact_form() {
    let args = command_row("client|tracking").unwrap().arguments();
    assert_eq!(args.len(), 7);
    assert_eq!((args[0].name, args[0].kind, args[0].arguments.len()), ("status", "oneof", 2));
    assert_eq!(args[0].arguments[1].token, Some("OFF"));
    assert_eq!(
        (args[1].name, args[1].token, args[1].optional),
        ("client-id", Some("REDIRECT"), true)
    );
    assert!(args[2].optional && args[2].multiple && args[2].multiple_token);
    let kill = command_row("client|kill").unwrap().arguments();
    let filter = &kill[0].arguments;
    // Names may hold ':' and '/'.
    assert_eq!(
        (filter[0].name, filter[0].kind, filter[0].deprecated_since),
        ("ip:port", "string", Some("2.8.12"))
    );
    let new_format = &filter[1].arguments;
    assert_eq!(new_format[1].arguments[1].since, Some("3.2.0"));
    assert_eq!((new_format[5].name, new_format[5].token), ("yes/no", Some("SKIPME")));
    assert_eq!(command_row("watch").unwrap().arguments()[0].key_spec_index, Some(0));
    for row in COMMAND_TABLE {
        let _ = row.arguments(); // every row's form reads to its end (a debug assertion)
    }
    // A token may begin with a mark.
    let xadd = Row::new("x", -2, "", "").args(
        "operator:oneof~o{equal:pure-token== approx:pure-token=~} id:oneof{auto:pure-token=*}",
    );
    let args = xadd.arguments();
    assert_eq!(args[0].arguments[0].token, Some("="));
    assert_eq!(args[0].arguments[1].token, Some("~"));
    assert!(args[0].optional);
    assert_eq!(args[1].arguments[0].token, Some("*"));
}
