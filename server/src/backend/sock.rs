//! The system calls every backend makes on a connection's socket, between the socket and the
//! connection's [`Driver`]: read once and feed the driver, write until the driver has nothing
//! left or the socket would block. `poll(2)` for the blocking backends is
//! [`crate::system::sock`]'s, named here too.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::driver::Driver;

pub(crate) use crate::system::sock::{poll_until, pollfd};

/// Bytes read from a socket at a time by the backends that give each connection a turn.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// What one [`read_into`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// Fed this many bytes to the driver (the socket may hold more if it filled the buffer).
    Fed(usize),
    /// The socket had nothing to read now.
    Empty,
    /// The peer closed its side; the driver was told.
    Closed,
}

/// Reads once from `stream` into `buf` and hands what came to `driver`.
pub(crate) fn read_into(
    stream: &mut TcpStream,
    buf: &mut [u8],
    driver: &mut Driver,
) -> io::Result<Input> {
    loop {
        return match stream.read(buf) {
            Ok(0) => {
                driver.handle_eof();
                Ok(Input::Closed)
            }
            Ok(n) => {
                driver.handle_read(&buf[..n], Instant::now());
                Ok(Input::Fed(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Input::Empty),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// Writes the driver's output until it has none left or the socket would block (the driver
/// may add more, such as mail it held back, as its backlog shrinks). Returns true if and only
/// if output is left because the socket would block.
pub(crate) fn flush(stream: &mut TcpStream, driver: &mut Driver) -> io::Result<bool> {
    loop {
        let out = driver.poll_output();
        if out.is_empty() {
            return Ok(false);
        }
        let len = out.len();
        let n = write_some(stream, out)?;
        driver.handle_written(n);
        if n < len {
            return Ok(true);
        }
    }
}

/// Writes as much of `buf` as the socket takes without blocking; returns how much it took.
fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
