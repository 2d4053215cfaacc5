//! Protected mode: with no password for the default user, only loopback peers connect.

use std::net::IpAddr;

/// Returns true if and only if protected mode refuses a connection from `peer`: it is on, the
/// default user has no password (`nopass`, with `--requirepass` and `--aclfile` alike), and
/// `peer` is not a loopback address (an IPv4 address mapped into IPv6 counts as the IPv4 one).
pub fn protected_mode_refuses(protected_mode: bool, default_nopass: bool, peer: IpAddr) -> bool {
    protected_mode && default_nopass && !peer.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::registry::Acl;

    #[test]
    fn protected_mode_refuses_only_outsiders_while_there_is_no_password() {
        let outside: IpAddr = "192.0.2.7".parse().unwrap();
        let v6_outside: IpAddr = "2001:db8::1".parse().unwrap();
        for inside in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(!protected_mode_refuses(true, true, inside.parse().unwrap()), "{inside}");
        }
        assert!(protected_mode_refuses(true, true, outside));
        assert!(protected_mode_refuses(true, true, v6_outside));
        assert!(protected_mode_refuses(true, true, "::ffff:192.0.2.7".parse().unwrap()));
        assert!(!protected_mode_refuses(false, true, outside), "--protected-mode no");
        assert!(!protected_mode_refuses(true, false, outside), "a password is set");
        assert!(Acl::new(None, None).default_nopass());
        assert!(!Acl::new(Some(b"pw"), None).default_nopass());
    }
}
