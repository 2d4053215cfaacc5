//! Helpers the crate's unit tests share.

/// A result with its error as the reply text.
pub fn text<T>(result: Result<T, impl std::fmt::Display>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}

/// A waker for tests that drive connections by hand: nobody needs to be woken.
pub struct NoWake;

impl crate::mailbox::Wake for NoWake {
    fn wake(&self) {}
}
