//! What only the `queue` backend does: a full ready queue holds new connections back (they
//! wait in the kernel's backlog) instead of refusing them.

use std::net::TcpStream;

use crate::util::{info_field, Conn, TestServer};
use server::Backend;

#[test]
fn a_burst_of_connections_through_a_one_slot_queue_is_all_served() {
    let server = TestServer::with(Backend::Queue, |c| {
        c.workers = Some(1);
        c.queue_depth = 1;
    });
    // All connected (and their requests sent) before the server has answered any.
    let mut conns: Vec<Conn> =
        (0..200).map(|_| Conn::new(TcpStream::connect(server.addr()).unwrap())).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.cmd(&[b"ECHO", i.to_string().as_bytes()]);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let text = i.to_string();
        c.expect(format!("${}\r\n{text}\r\n", text.len()).as_bytes());
    }
    assert_eq!(info_field(&mut conns[0], "rejected_connections"), 0);
}
