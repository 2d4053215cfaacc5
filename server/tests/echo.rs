//! The raw echo protocol.

use crate::util::TestServer;
use server::Protocol;

backend_tests! {
    fn echo_returns_every_byte(backend) {
        let server = TestServer::with(backend, |c| c.protocol = Protocol::Echo);
        let mut c = server.connect();
        let all: Vec<u8> = (0..=255u8).collect();
        c.send(&all);
        c.expect(&all);
        c.send(b"PING\r\n");
        c.expect(b"PING\r\n");
        // A large write the server must echo while we are still sending: write from a second
        // handle so neither side waits on the other.
        let big: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        let mut writer = c.stream.try_clone().unwrap();
        let sent = big.clone();
        let t = std::thread::spawn(move || std::io::Write::write_all(&mut writer, &sent).unwrap());
        c.expect(&big);
        t.join().unwrap();
    }
}
