//! The tool's floor: as little server as possible, in this process, to measure the latency the
//! tool itself adds at a given load.
//!
//! A [`Reflector`] is one thread over one `polling::Poller` on `127.0.0.1:0`: it parses requests
//! with `shared`'s parser and answers at once from the thread that read them. `PING`, `ECHO`,
//! `SUBSCRIBE` (confirmed like Redis), `PUBLISH` (the message written straight to every
//! subscriber's socket, then the receiver count), `INFO` (its delivery counters, named like the
//! server's) and anything else `+OK`; or, as an echo server, every byte straight back. No
//! mailbox, no exchange, no second thread: what a run measures against it is the tool, the
//! kernel's loopback and one `read`/`write` per hop. Output that the socket does not take at
//! once is kept and written when it becomes writable, so nothing is dropped.

use bytes::BytesMut;
use polling::{Event, Events, PollMode, Poller};
use shared::resp::{encode_bulk, encode_command, encode_header, encode_integer};
use shared::{Limits, RequestParser};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The listener's poller key; connections use their slot index.
const LISTENER: usize = usize::MAX - 1;

/// What the reflector speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaks {
    Resp,
    /// Raw bytes back, like `server --protocol echo`.
    Echo,
}

/// A running reflector; stopped when dropped.
pub struct Reflector {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The thread's id, for its CPU time (`/proc/self/task/TID/stat`).
    pub tid: u32,
    stop: Arc<AtomicBool>,
    poller: Arc<Poller>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Reflector {
    /// Starts a reflector on a free loopback port.
    pub fn start(speaks: Speaks) -> io::Result<Reflector> {
        Reflector::start_on(speaks, &[])
    }

    /// [`Reflector::start`] with its thread confined to `cpus` (none: wherever the caller runs).
    pub fn start_on(speaks: Speaks, cpus: &[usize]) -> io::Result<Reflector> {
        let set = (!cpus.is_empty()).then(|| crate::sys::cpu_set(cpus));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let poller = Arc::new(Poller::new()?);
        let stop = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicU32::new(0));
        let (p, s, t) = (poller.clone(), stop.clone(), tid.clone());
        let thread = std::thread::Builder::new().name("reflector".into()).spawn(move || {
            // SAFETY: gettid has no arguments and no memory effects.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
            // Pinned before its tid is published: what `start_on` returns runs where asked.
            let pinned = set.as_ref().map_or(Ok(()), crate::sys::pin);
            t.store(tid, Ordering::Release);
            let result = pinned.and_then(|()| serve(listener, &p, &s, speaks));
            if let Err(e) = &result {
                eprintln!("the floor's reflector stopped: {e}");
            }
            result
        })?;
        while tid.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        let tid = tid.load(Ordering::Acquire);
        Ok(Reflector { addr, tid, stop, poller, thread: Some(thread) })
    }

    /// CPU seconds its thread has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        crate::sys::thread_cpu_seconds(self.tid).unwrap_or(0.0)
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.poller.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One client.
struct Client {
    stream: TcpStream,
    parser: RequestParser,
    input: BytesMut,
    /// Output not written yet, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// Registered for writability as well.
    writing: bool,
}

/// Everything the loop owns.
struct State {
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    /// Channel -> subscriber slots.
    channels: HashMap<Vec<u8>, Vec<usize>>,
    delivered: AtomicU64,
}

fn interest(key: usize, writing: bool) -> Event {
    if writing {
        Event::all(key)
    } else {
        Event::readable(key)
    }
}

fn serve(
    listener: TcpListener,
    poller: &Poller,
    stop: &AtomicBool,
    speaks: Speaks,
) -> io::Result<()> {
    // SAFETY: the listener outlives its registration (deleted at the end of this function).
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level)? };
    let mut st = State {
        clients: Vec::new(),
        free: Vec::new(),
        channels: HashMap::new(),
        delivered: 0.into(),
    };
    let mut events = Events::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut touched: Vec<usize> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            if ev.key == LISTENER {
                accept_all(&listener, poller, &mut st)?;
                continue;
            }
            let key = ev.key;
            if ev.readable {
                let closed = read_client(key, &mut st, &mut scratch, speaks, &mut touched);
                if closed {
                    drop_client(key, poller, &mut st)?;
                }
            }
            if ev.writable {
                touched.push(key);
            }
            for k in touched.drain(..) {
                if flush(k, poller, &mut st).is_err() {
                    drop_client(k, poller, &mut st)?;
                }
            }
        }
    }
    for key in 0..st.clients.len() {
        drop_client(key, poller, &mut st)?;
    }
    poller.delete(&listener)
}

fn accept_all(listener: &TcpListener, poller: &Poller, st: &mut State) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors or a connection reset while queued: the client sees it.
            Err(_) => return Ok(()),
        };
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let key = st.free.pop().unwrap_or_else(|| {
            st.clients.push(None);
            st.clients.len() - 1
        });
        // SAFETY: the stream stays open while registered: drop_client deletes it first.
        unsafe { poller.add_with_mode(&stream, Event::readable(key), PollMode::Level)? };
        st.clients[key] = Some(Client {
            stream,
            parser: RequestParser::new(Limits::default()),
            input: BytesMut::new(),
            out: Vec::new(),
            written: 0,
            writing: false,
        });
    }
}

/// Reads what `key` sent and answers it; returns true if and only if the client is gone.
fn read_client(
    key: usize,
    st: &mut State,
    scratch: &mut [u8],
    speaks: Speaks,
    touched: &mut Vec<usize>,
) -> bool {
    let Some(c) = st.clients[key].as_mut() else { return false };
    loop {
        match c.stream.read(scratch) {
            Ok(0) => return true,
            Ok(n) => {
                match speaks {
                    Speaks::Echo => c.out.extend_from_slice(&scratch[..n]),
                    Speaks::Resp => c.input.extend_from_slice(&scratch[..n]),
                }
                if n < scratch.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    touched.push(key);
    if speaks == Speaks::Echo {
        return false;
    }
    loop {
        let c = st.clients[key].as_mut().expect("client being read");
        let args = match c.parser.next_request(&mut c.input) {
            Ok(Some(args)) => args,
            Ok(None) => return false,
            Err(_) => return true,
        };
        let name = args[0].to_ascii_uppercase();
        match (name.as_slice(), args.len()) {
            (b"PING", 1) => c.out.extend_from_slice(b"+PONG\r\n"),
            (b"ECHO", 2) => encode_bulk(&mut c.out, &args[1]),
            (b"SUBSCRIBE", n) if n >= 2 => {
                for (i, ch) in args[1..].iter().enumerate() {
                    encode_header(&mut c.out, b'*', 3);
                    encode_bulk(&mut c.out, b"subscribe");
                    encode_bulk(&mut c.out, ch);
                    encode_integer(&mut c.out, i as i64 + 1);
                }
                for ch in &args[1..] {
                    st.channels.entry(ch.to_vec()).or_default().push(key);
                }
            }
            (b"PUBLISH", 3) => {
                let mut frame = Vec::with_capacity(args[2].len() + args[1].len() + 32);
                encode_command(&mut frame, &[&b"message"[..], &args[1], &args[2]]);
                let subs = st.channels.get(&args[1][..]).cloned().unwrap_or_default();
                for &s in &subs {
                    if let Some(sub) = st.clients[s].as_mut() {
                        sub.out.extend_from_slice(&frame);
                        touched.push(s);
                    }
                }
                st.delivered.fetch_add(subs.len() as u64, Ordering::Relaxed);
                let c = st.clients[key].as_mut().expect("publisher");
                encode_integer(&mut c.out, subs.len() as i64);
            }
            (b"INFO", _) => {
                let text = format!(
                    "# Stats\r\npubsub_delivered:{}\r\npubsub_dropped:0\r\n",
                    st.delivered.load(Ordering::Relaxed)
                );
                encode_bulk(&mut c.out, text.as_bytes());
            }
            _ => c.out.extend_from_slice(b"+OK\r\n"),
        }
    }
}

/// Writes what `key` has waiting; registers for writability while some is left.
fn flush(key: usize, poller: &Poller, st: &mut State) -> io::Result<()> {
    let Some(c) = st.clients[key].as_mut() else { return Ok(()) };
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if c.written == c.out.len() {
        c.out.clear();
        c.written = 0;
    }
    let want = c.written < c.out.len() || !c.out.is_empty();
    if want != c.writing {
        c.writing = want;
        poller.modify_with_mode(&c.stream, interest(key, want), PollMode::Level)?;
    }
    Ok(())
}

fn drop_client(key: usize, poller: &Poller, st: &mut State) -> io::Result<()> {
    let Some(c) = st.clients[key].take() else { return Ok(()) };
    poller.delete(&c.stream)?;
    for subs in st.channels.values_mut() {
        subs.retain(|&s| s != key);
    }
    st.free.push(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::RespConn;
    use shared::Frame;

    #[test]
    fn it_answers_pings_and_reflects_publishes_to_subscribers() {
        let r = Reflector::start(Speaks::Resp).unwrap();
        let mut sub = RespConn::connect(&r.addr).unwrap();
        let confirm = sub.request(&["SUBSCRIBE", "news"]).unwrap();
        assert_eq!(
            confirm,
            Frame::Array(vec![Frame::bulk("subscribe"), Frame::bulk("news"), Frame::Integer(1)])
        );
        let mut publisher = RespConn::connect(&r.addr).unwrap();
        assert_eq!(publisher.request(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
        assert_eq!(publisher.request(&["PUBLISH", "news", "hi"]).unwrap(), Frame::Integer(1));
        assert_eq!(
            sub.read_frame().unwrap(),
            Frame::Array(vec![Frame::bulk("message"), Frame::bulk("news"), Frame::bulk("hi")])
        );
        let info = publisher.request(&["INFO", "stats"]).unwrap();
        assert!(matches!(info, Frame::Bulk(b) if b.starts_with(b"# Stats\r\npubsub_delivered:1")));
        assert!(r.tid > 0);
    }

    #[test]
    fn as_an_echo_server_it_returns_every_byte() {
        let r = Reflector::start(Speaks::Echo).unwrap();
        let mut s = TcpStream::connect(&r.addr).unwrap();
        s.write_all(b"hello\n").unwrap();
        let mut got = [0u8; 6];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\n");
    }
}
