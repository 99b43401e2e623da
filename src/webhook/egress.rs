//! Where webhooks may go. A `callback_url` is the merchant's to choose, and
//! arsgate posts to it from inside the operator's network: left open, any
//! merchant (a sandbox key reaches the same network as a live one) could
//! make arsgate send requests to its own loopback services, the database,
//! the cloud's metadata endpoint. So the addresses webhooks may reach are
//! the public ones, unless the operator lists a network in
//! `webhooks.allow_networks`. A sandbox or a test server can close public
//! addresses too (`webhooks.allow_public: false`) so that nothing a client
//! sends makes it post outside the networks it lists.
//!
//! The rule is applied where it cannot be dodged: on the address the
//! worker connects to. A host name is resolved by [`Egress`] itself (it is
//! the worker's DNS resolver) and only the permitted addresses are handed
//! to the connection, so a name that resolves to loopback today, or
//! changes between two deliveries (DNS rebinding), reaches nothing
//! internal. An IP-literal URL is resolved by no one and is checked before
//! the request; the API also refuses it (and `localhost` names) when the
//! verification is created, so the merchant learns of it at once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A kind of address webhooks may not reach unless allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, and IPv6 site-local `fec0::/10`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// A cloud's instance metadata or platform endpoint (`169.254.169.254`,
    /// `100.100.100.200`, `168.63.129.16`, `fd00:ec2::254`).
    Metadata,
    /// Another special-purpose range no merchant's server lives in
    /// (carrier-grade NAT `100.64/10`, benchmarking, documentation,
    /// `240/4` and broadcast, IETF protocol assignments, Teredo, discard).
    Reserved,
}

impl fmt::Display for Restricted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restricted::Loopback => "loopback",
            Restricted::Private => "private",
            Restricted::LinkLocal => "link-local",
            Restricted::UniqueLocal => "unique-local",
            Restricted::Unspecified => "unspecified",
            Restricted::Multicast => "multicast",
            Restricted::Metadata => "cloud metadata",
            Restricted::Reserved => "reserved",
        })
    }
}

/// The cloud endpoints that hand out credentials or platform secrets.
const METADATA: [IpAddr; 4] = [
    // AWS, GCP, Azure, Oracle, DigitalOcean...
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    // Alibaba Cloud.
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    // Azure's WireServer: a public-looking address inside every VNet.
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    // AWS's IMDS over IPv6.
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// What kind of restricted address `ip` is, if it is one.
pub fn restricted(ip: IpAddr) -> Option<Restricted> {
    let ip = ip.to_canonical();
    if METADATA.contains(&ip) {
        return Some(Restricted::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => Restricted::Unspecified,
        (127, ..) => Restricted::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Restricted::Private,
        (169, 254, _) => Restricted::LinkLocal,
        (224..=239, ..) => Restricted::Multicast,
        (100, 64..=127, _)
        | (192, 0, 0 | 2)
        | (198, 18..=19, _)
        | (198, 51, 100)
        | (203, 0, 113)
        | (240..=255, ..) => Restricted::Reserved,
        _ => return None,
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<Restricted> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(Restricted::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Restricted::Loopback);
    }
    // Forms that carry an IPv4 address reach that address (through a
    // translator or a tunnel): judged by it.
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[..6] == [0; 6] {
        // IPv4-compatible (`::a.b.c.d`, deprecated).
        return restricted_v4(embedded(s[6], s[7])).or(Some(Restricted::Reserved));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64's well-known prefix.
        return restricted_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4.
        return restricted_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => Restricted::UniqueLocal,
        0xfe80..=0xfebf => Restricted::LinkLocal,
        0xfec0..=0xfeff => Restricted::Private,
        0xff00..=0xffff => Restricted::Multicast,
        // Local-use NAT64 (64:ff9b:1::/48), discard-only (100::/64),
        // Teredo (2001::/32), documentation (2001:db8::/32).
        0x64 if s[1] == 0xff9b && s[2] == 1 => Restricted::Reserved,
        0x100 if s[1..4] == [0, 0, 0] => Restricted::Reserved,
        0x2001 if s[1] == 0 || s[1] == 0xdb8 => Restricted::Reserved,
        _ => return None,
    })
}

/// Why a webhook may not go where its URL says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The URL names a restricted address.
    #[error(
        "{ip} is a {kind} address; webhooks go to public addresses only \
         (an operator can allow a network with `webhooks.allow_networks`)"
    )]
    Address {
        /// The address.
        ip: IpAddr,
        /// Its kind.
        kind: Restricted,
    },
    /// The URL's host is a `localhost` name, which is loopback by
    /// definition (RFC 6761).
    #[error(
        "`localhost` names are loopback; webhooks go to public addresses only \
         (an operator can allow a network with `webhooks.allow_networks`)"
    )]
    Localhost,
    /// The URL names a public address and the operator closed them.
    #[error(
        "{ip} is a public address and this server posts webhooks only to the \
         networks in `webhooks.allow_networks` (`webhooks.allow_public` is off)"
    )]
    Public {
        /// The address.
        ip: IpAddr,
    },
    /// Every address the host name resolved to is restricted.
    #[error("the host resolves only to addresses webhooks may not reach (internal networks)")]
    Resolved,
    /// A host name while public addresses are closed: it is not looked up
    /// at all, so that no query leaves the machine for it.
    #[error(
        "host names are not resolved while `webhooks.allow_public` is off; \
         give an address within `webhooks.allow_networks`"
    )]
    Name,
}

/// Whether `host` is a `localhost` name (loopback by definition, RFC 6761).
fn is_localhost(host: &str) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The rule of where webhooks may go: public addresses unless closed, and
/// the networks the operator allows (cheap to clone).
#[derive(Debug, Clone)]
pub struct Egress {
    allow: Arc<[IpNet]>,
    public: bool,
}

impl Default for Egress {
    fn default() -> Egress {
        Egress::new(Vec::new())
    }
}

impl Egress {
    /// Public addresses and `allow`.
    pub fn new(allow: Vec<IpNet>) -> Egress {
        Egress {
            allow: allow.into(),
            public: true,
        }
    }

    /// `allow` alone: no public address.
    pub fn only(allow: Vec<IpNet>) -> Egress {
        Egress {
            allow: allow.into(),
            public: false,
        }
    }

    /// Whether a webhook may connect to `ip`; `Err` says why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match restricted(ip) {
            Some(kind) => Err(Refused::Address { ip, kind }),
            None if self.public => Ok(()),
            None => Err(Refused::Public { ip }),
        }
    }

    /// Checks what can be judged from a URL's host (`Url::host_str`)
    /// alone: an IP literal, or a `localhost` name. Other names are judged
    /// by their addresses when a webhook is posted.
    pub fn check_host(&self, host: &str) -> Result<(), Refused> {
        if let Some(ip) = literal(host) {
            return self.check(ip);
        }
        if is_localhost(host) {
            let loopback = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
            if !loopback.into_iter().any(|ip| self.check(ip).is_ok()) {
                return Err(Refused::Localhost);
            }
        } else if !self.public {
            return Err(Refused::Name);
        }
        Ok(())
    }
}

/// The address a URL's host (`Url::host_str`) names literally, if it does
/// (IPv6 in brackets).
pub fn literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

impl Resolve for Egress {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if !egress.public && !is_localhost(&host) {
                return Err(Box::new(Refused::Name) as Box<dyn std::error::Error + Send + Sync>);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| egress.check(addr.ip()).is_ok())
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused::Resolved) as Box<dyn std::error::Error + Send + Sync>);
            }
            if permitted.len() < found.len() {
                tracing::warn!(
                    refused = found.len() - permitted.len(),
                    "a webhook host resolves to internal addresses too; only its public ones are used"
                );
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_told_apart_from_public_ones() {
        for (text, kind) in [
            ("127.0.0.1", Restricted::Loopback),
            ("127.255.0.9", Restricted::Loopback),
            ("::1", Restricted::Loopback),
            ("10.1.2.3", Restricted::Private),
            ("172.16.0.1", Restricted::Private),
            ("172.31.255.255", Restricted::Private),
            ("192.168.1.1", Restricted::Private),
            ("169.254.1.1", Restricted::LinkLocal),
            ("fe80::1", Restricted::LinkLocal),
            ("fc00::1", Restricted::UniqueLocal),
            ("fd12:3456::1", Restricted::UniqueLocal),
            ("0.0.0.0", Restricted::Unspecified),
            ("::", Restricted::Unspecified),
            ("224.0.0.1", Restricted::Multicast),
            ("ff02::1", Restricted::Multicast),
            ("169.254.169.254", Restricted::Metadata),
            ("100.100.100.200", Restricted::Metadata),
            ("168.63.129.16", Restricted::Metadata),
            ("fd00:ec2::254", Restricted::Metadata),
            ("100.64.0.1", Restricted::Reserved),
            ("255.255.255.255", Restricted::Reserved),
            ("198.18.0.1", Restricted::Reserved),
            // IPv4 inside IPv6: mapped, compatible, NAT64, 6to4.
            ("::ffff:127.0.0.1", Restricted::Loopback),
            ("::ffff:169.254.169.254", Restricted::Metadata),
            ("::10.0.0.1", Restricted::Private),
            ("64:ff9b::7f00:1", Restricted::Loopback),
            ("2002:c0a8:0101::1", Restricted::Private),
        ] {
            assert_eq!(restricted(ip(text)), Some(kind), "{text}");
        }
        for text in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert_eq!(restricted(ip(text)), None, "{text}");
        }
    }

    #[test]
    fn the_allowlist_lets_its_networks_through() {
        let closed = Egress::default();
        assert_eq!(
            closed.check(ip("127.0.0.1")),
            Err(Refused::Address {
                ip: ip("127.0.0.1"),
                kind: Restricted::Loopback
            })
        );
        assert_eq!(closed.check(ip("93.184.215.14")), Ok(()));
        let open = Egress::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.20.0.0/16".parse().unwrap(),
        ]);
        assert_eq!(open.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(open.check(ip("::ffff:127.0.0.1")), Ok(()), "mapped");
        assert_eq!(open.check(ip("10.20.3.4")), Ok(()));
        assert!(open.check(ip("10.21.0.1")).is_err(), "only what is listed");
        let sealed = Egress::only(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(sealed.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(
            sealed.check(ip("93.184.215.14")),
            Err(Refused::Public {
                ip: ip("93.184.215.14")
            })
        );
        assert!(
            sealed.check_host("93.184.215.14").is_err(),
            "at creation too"
        );
        // A name would have to be looked up: refused, not resolved.
        assert_eq!(sealed.check_host("example.com"), Err(Refused::Name));
        assert_eq!(sealed.check_host("localhost"), Ok(()));
        assert_eq!(open.check_host("example.com"), Ok(()));
        assert!(sealed.check(ip("10.20.3.4")).is_err());
        assert!(
            open.check(ip("::1")).is_err(),
            "IPv6 loopback is not listed"
        );
    }

    #[test]
    fn hosts_are_judged_by_what_they_say() {
        let closed = Egress::default();
        for host in [
            "127.0.0.1",
            "[::1]",
            "[::ffff:7f00:1]",
            "169.254.169.254",
            "localhost",
            "LocalHost.",
            "api.localhost",
        ] {
            assert!(closed.check_host(host).is_err(), "{host}");
        }
        for host in [
            "merchant.example",
            "93.184.215.14",
            "[2606:4700::1]",
            "localhost.example",
        ] {
            assert_eq!(closed.check_host(host), Ok(()), "{host}");
        }
        let loopback = Egress::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(loopback.check_host("localhost"), Ok(()));
    }

    #[tokio::test]
    async fn resolution_keeps_only_permitted_addresses() {
        let closed = Egress::default();
        let refused = closed
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves to loopback only");
        assert_eq!(refused.downcast_ref::<Refused>(), Some(&Refused::Resolved));
        let loopback = Egress::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let addrs: Vec<SocketAddr> = loopback
            .resolve("localhost".parse().unwrap())
            .await
            .expect("allowed")
            .collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()),
            "{addrs:?}"
        );
    }
}
