//! Which network addresses exhibit may fetch from: the address policy against server-side
//! request forgery (SSRF).
//!
//! A page being captured chooses where its redirects lead, and its host name chooses (through
//! DNS) which address the connection goes to. Without a policy, `exhibit capture` of a hostile
//! page archives, signs and hands out whatever answers on this machine's loopback, on the local
//! network or at a cloud metadata address (169.254.169.254). So by default exhibit fetches only
//! from globally reachable unicast addresses; `--allow-private` lifts that.
//!
//! This module is pure: it classifies addresses and URL hosts and says why one is refused. The
//! I/O that enforces it is in capture.rs: a DNS resolver that resolves, filters with
//! [`filter_resolved`] and hands the HTTP library only the addresses it checked (so a second,
//! different DNS answer cannot slip in between check and connect), and a check of IP-literal
//! hosts ([`check_host`]), which the HTTP library connects to without resolving. A browser
//! capture is meant to apply the same functions to every request it makes.
//!
//! The ranges follow the IANA IPv4 and IPv6 Special-Purpose Address Registries: everything
//! those mark as not globally reachable is refused, and so are multicast, broadcast and the
//! transition forms that embed an IPv4 address of a refused range.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What kind of address an IP address is, as far as fetching from it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Globally reachable unicast: the only class fetched from by default.
    Public,
    /// 0.0.0.0/8 and `::`: "this host on this network"; connecting to 0.0.0.0 reaches this
    /// machine on common systems.
    Unspecified,
    /// 127.0.0.0/8 and `::1`.
    Loopback,
    /// RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 100.64.0.0/10, shared address space (carrier-grade NAT, RFC 6598).
    SharedCgnat,
    /// 169.254.0.0/16 (cloud metadata services live here) and fe80::/10.
    LinkLocal,
    /// fc00::/7 (RFC 4193).
    UniqueLocal,
    /// fec0::/10, deprecated site-local IPv6 (RFC 3879).
    SiteLocal,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15 and 2001:2::/48 (RFC 2544, RFC 5180).
    Benchmarking,
    /// 6to4 (2002::/16) and Teredo (2001::/32): tunnels that embed an IPv4 address exhibit
    /// cannot check where it leads.
    Tunnel,
    /// Everything else the registries mark as not globally reachable: 240.0.0.0/4,
    /// 192.0.0.0/24, 192.88.99.0/24, 100::/64, 64:ff9b:1::/48, 5f00::/16, the rest of
    /// 2001::/23, and IPv4-compatible IPv6 (::a.b.c.d, deprecated).
    Reserved,
}

impl Class {
    pub fn is_public(self) -> bool {
        self == Class::Public
    }

    /// "a loopback address", for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Class::Public => "a public address",
            Class::Unspecified => "an unspecified (this-host) address",
            Class::Loopback => "a loopback address",
            Class::Private => "a private (RFC 1918) address",
            Class::SharedCgnat => "a shared carrier-grade-NAT address (100.64.0.0/10)",
            Class::LinkLocal => "a link-local address",
            Class::UniqueLocal => "a unique-local IPv6 address (fc00::/7)",
            Class::SiteLocal => "a site-local IPv6 address (fec0::/10)",
            Class::Multicast => "a multicast address",
            Class::Broadcast => "the broadcast address",
            Class::Documentation => "a documentation address",
            Class::Benchmarking => "a benchmarking address",
            Class::Tunnel => "a 6to4 or Teredo tunnel address",
            Class::Reserved => "a reserved address",
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The class of an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> Class {
    const TABLE: &[([u8; 4], u32, Class)] = &[
        ([0, 0, 0, 0], 8, Class::Unspecified),
        ([10, 0, 0, 0], 8, Class::Private),
        ([100, 64, 0, 0], 10, Class::SharedCgnat),
        ([127, 0, 0, 0], 8, Class::Loopback),
        ([169, 254, 0, 0], 16, Class::LinkLocal),
        ([172, 16, 0, 0], 12, Class::Private),
        ([192, 0, 0, 0], 24, Class::Reserved),
        ([192, 0, 2, 0], 24, Class::Documentation),
        ([192, 88, 99, 0], 24, Class::Reserved),
        ([192, 168, 0, 0], 16, Class::Private),
        ([198, 18, 0, 0], 15, Class::Benchmarking),
        ([198, 51, 100, 0], 24, Class::Documentation),
        ([203, 0, 113, 0], 24, Class::Documentation),
        ([224, 0, 0, 0], 4, Class::Multicast),
        ([255, 255, 255, 255], 32, Class::Broadcast),
        ([240, 0, 0, 0], 4, Class::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map_or(Class::Public, |(_, _, class)| *class)
}

/// The class of an IPv6 address. Forms that embed an IPv4 address (IPv4-mapped, NAT64) take
/// the class of the embedded address: `::ffff:127.0.0.1` reaches loopback like 127.0.0.1 does.
pub fn classify_v6(ip: Ipv6Addr) -> Class {
    let seg = ip.segments();
    let embedded = Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32);
    if ip == Ipv6Addr::UNSPECIFIED {
        return Class::Unspecified;
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Class::Loopback;
    }
    // ::ffff:a.b.c.d, IPv4-mapped: the system connects to a.b.c.d over IPv4.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return classify_v4(embedded);
    }
    // ::a.b.c.d, IPv4-compatible (deprecated): refused in any case, named by what it embeds.
    if in_v6(ip, [0; 8], 96) {
        return match classify_v4(embedded) {
            Class::Public => Class::Reserved,
            inner => inner,
        };
    }
    // 64:ff9b::/96, the well-known NAT64 prefix: a gateway connects to the embedded address.
    // On IPv6-only networks with DNS64 every IPv4-only site resolves to this form, so a public
    // embedded address is public.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return classify_v4(embedded);
    }
    const TABLE: &[([u16; 8], u32, Class)] = &[
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Class::Reserved),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Class::Reserved),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, Class::Tunnel),
        ([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, Class::Benchmarking),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Class::Documentation),
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, Class::Tunnel),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Class::Documentation),
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, Class::Reserved),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Class::UniqueLocal),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, Class::LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Class::SiteLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Class::Multicast),
    ];
    if let Some((_, _, class)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return *class;
    }
    // 2001::/23 is IETF protocol assignments: not globally reachable, except these.
    if in_v6(ip, [0x2001, 0, 0, 0, 0, 0, 0, 0], 23) {
        let global = ip == Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1)
            || ip == Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2)
            || ip == Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3)
            || in_v6(ip, [0x2001, 3, 0, 0, 0, 0, 0, 0], 32)
            || in_v6(ip, [0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48)
            || in_v6(ip, [0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28)
            || in_v6(ip, [0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28);
        return if global {
            Class::Public
        } else {
            Class::Reserved
        };
    }
    // Only 2000::/3 is allocated for global unicast; the rest of the space is unassigned.
    if seg[0] & 0xe000 != 0x2000 {
        return Class::Reserved;
    }
    Class::Public
}

/// The class of an IP address.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether exhibit may connect to `ip`.
pub fn allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || classify(ip).is_public()
}

/// Why a host was refused. Travels through the HTTP library's error chain (it is what the DNS
/// resolver fails with), so it is an ordinary error type that capture.rs finds again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The host as written in the URL.
    pub host: String,
    /// The refused address; `None` for a name refused without resolving it (`localhost`).
    pub addr: Option<IpAddr>,
    pub class: Class,
    /// How many addresses the name resolved to (all refused); 0 for IP literals and names
    /// refused without resolving.
    pub resolved: usize,
}

/// The IPv4 address an IPv4-mapped, IPv4-compatible or NAT64 IPv6 address embeds.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let embeds = in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || (in_v6(ip, [0; 8], 96) && ip != Ipv6Addr::UNSPECIFIED && ip != Ipv6Addr::LOCALHOST)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
    embeds.then(|| Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32))
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = self.class.describe();
        match self.addr {
            Some(addr) if self.host == addr.to_string() || self.resolved == 0 => {
                write!(f, "{addr} is {class}")?
            }
            Some(addr) if self.resolved == 1 => {
                write!(f, "{} resolves to {addr}, {class}", self.host)?
            }
            Some(addr) => write!(
                f,
                "{} resolves only to refused addresses ({addr}, {class}, and {} more)",
                self.host,
                self.resolved - 1
            )?,
            None => return write!(f, "{} names {class}", self.host),
        }
        // `::7f00:1` does not look like loopback; say what it stands for.
        if let Some(IpAddr::V6(v6)) = self.addr {
            if let Some(v4) =
                embedded_ipv4(v6).filter(|v4| !v6.to_string().contains(&v4.to_string()))
            {
                write!(f, " (it embeds the IPv4 address {v4})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// `localhost` and names under `.localhost` mean loopback (RFC 6761 section 6.3), whatever a
/// resolver or proxy makes of them.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Check a URL's host before connecting. IP literals are checked here, because the HTTP
/// library connects to them without asking the resolver. Names are checked by the resolver on
/// the addresses they resolve to; `via_proxy` says that a proxy resolves them instead, in which
/// case exhibit cannot see the address and refuses only the names that mean loopback.
pub fn check_host(
    host: &url::Host<&str>,
    allow_private: bool,
    via_proxy: bool,
) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    let ip = match host {
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
        url::Host::Domain(name) => {
            if via_proxy && is_localhost_name(name) {
                return Err(Refused {
                    host: name.to_string(),
                    addr: None,
                    class: Class::Loopback,
                    resolved: 0,
                });
            }
            return Ok(());
        }
    };
    let class = classify(ip);
    if class.is_public() {
        Ok(())
    } else {
        Err(Refused {
            host: ip.to_string(),
            addr: Some(ip),
            class,
            resolved: 0,
        })
    }
}

/// The addresses a name resolved to that exhibit may connect to, in the resolver's order. Only
/// these are handed to the HTTP library, so the connection goes to an address that was
/// checked. When none is left, the refusal names the first refused address.
pub fn filter_resolved(
    host: &str,
    addrs: &[SocketAddr],
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let kept: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| allowed(a.ip(), allow_private))
        .collect();
    match (kept.is_empty(), addrs.first()) {
        (true, Some(first)) => Err(Refused {
            host: host.to_string(),
            addr: Some(first.ip()),
            class: classify(first.ip()),
            resolved: addrs.len(),
        }),
        _ => Ok(kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> Class {
        classify(s.parse().unwrap())
    }

    #[test]
    fn known_addresses() {
        let cases = [
            ("0.0.0.0", Class::Unspecified),
            ("0.1.2.3", Class::Unspecified),
            ("127.0.0.1", Class::Loopback),
            ("127.255.255.254", Class::Loopback),
            ("10.0.0.1", Class::Private),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("172.32.0.1", Class::Public),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::SharedCgnat),
            ("100.127.255.255", Class::SharedCgnat),
            ("100.128.0.0", Class::Public),
            ("169.254.169.254", Class::LinkLocal),
            ("192.0.0.8", Class::Reserved),
            ("192.0.2.10", Class::Documentation),
            ("192.88.99.1", Class::Reserved),
            ("198.18.0.1", Class::Benchmarking),
            ("198.19.255.255", Class::Benchmarking),
            ("198.20.0.1", Class::Public),
            ("198.51.100.7", Class::Documentation),
            ("203.0.113.9", Class::Documentation),
            ("224.0.0.1", Class::Multicast),
            ("239.255.255.250", Class::Multicast),
            ("240.0.0.1", Class::Reserved),
            ("255.255.255.255", Class::Broadcast),
            ("1.1.1.1", Class::Public),
            ("8.8.8.8", Class::Public),
            ("93.184.215.14", Class::Public),
            ("::", Class::Unspecified),
            ("::1", Class::Loopback),
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:10.1.2.3", Class::Private),
            ("::ffff:169.254.169.254", Class::LinkLocal),
            ("::ffff:8.8.8.8", Class::Public),
            ("::127.0.0.1", Class::Loopback),
            ("::8.8.8.8", Class::Reserved),
            ("64:ff9b::7f00:1", Class::Loopback),
            ("64:ff9b::808:808", Class::Public),
            ("64:ff9b:1::1", Class::Reserved),
            ("100::1", Class::Reserved),
            ("2001::1", Class::Tunnel),
            ("2001:2::1", Class::Benchmarking),
            ("2001:10::1", Class::Reserved),
            ("2001:1::1", Class::Public),
            ("2001:4:112::1", Class::Public),
            ("2001:db8::1", Class::Documentation),
            ("2002:7f00:1::1", Class::Tunnel),
            ("3fff::1", Class::Documentation),
            ("5f00::1", Class::Reserved),
            ("fc00::1", Class::UniqueLocal),
            ("fd12:3456::1", Class::UniqueLocal),
            ("fe80::1", Class::LinkLocal),
            ("febf::1", Class::LinkLocal),
            ("fec0::1", Class::SiteLocal),
            ("ff02::1", Class::Multicast),
            ("2606:4700:4700::1111", Class::Public),
            ("2a00:1450:4001:82a::200e", Class::Public),
            ("4000::1", Class::Reserved),
        ];
        for (addr, class) in cases {
            assert_eq!(v4(addr), class, "{addr}");
        }
    }

    #[test]
    fn url_hosts() {
        let host = |s: &str| url::Url::parse(s).unwrap();
        for u in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let u = host(u);
            let r = check_host(&u.host().unwrap(), false, false);
            assert!(r.is_err(), "{u} was allowed");
            assert!(check_host(&u.host().unwrap(), true, false).is_ok());
        }
        for u in [
            "http://8.8.8.8/",
            "http://example.org/",
            "http://localhost/",
        ] {
            let u = host(u);
            assert!(check_host(&u.host().unwrap(), false, false).is_ok(), "{u}");
        }
        // Through a proxy, names are not resolved here: loopback names are refused by name.
        for u in [
            "http://localhost/",
            "http://a.localhost./",
            "http://LOCALHOST/",
        ] {
            let u = host(u);
            let e = check_host(&u.host().unwrap(), false, true).unwrap_err();
            assert_eq!(e.class, Class::Loopback);
            assert!(e.to_string().contains("loopback"), "{e}");
        }
        assert!(check_host(&host("http://example.org/").host().unwrap(), false, true).is_ok());
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let mixed = [a("127.0.0.1:80"), a("93.184.215.14:80"), a("[::1]:80")];
        assert_eq!(
            filter_resolved("h", &mixed, false).unwrap(),
            vec![a("93.184.215.14:80")]
        );
        assert_eq!(filter_resolved("h", &mixed, true).unwrap(), mixed.to_vec());
        let e =
            filter_resolved("localhost", &[a("[::1]:80"), a("127.0.0.1:80")], false).unwrap_err();
        assert_eq!(e.addr, Some("::1".parse().unwrap()));
        assert_eq!(
            e.to_string(),
            "localhost resolves only to refused addresses (::1, a loopback address, and 1 more)"
        );
        let e = filter_resolved("intranet", &[a("10.0.0.5:443")], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "intranet resolves to 10.0.0.5, a private (RFC 1918) address"
        );
        let e = check_host(
            &url::Host::Ipv6("64:ff9b::7f00:1".parse().unwrap()),
            false,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "64:ff9b::7f00:1 is a loopback address (it embeds the IPv4 address 127.0.0.1)"
        );
        // Nothing resolved is not a refusal; the caller reports the failed lookup.
        assert_eq!(filter_resolved("h", &[], false).unwrap(), vec![]);
    }

    fn mapped(v: Ipv4Addr) -> Ipv6Addr {
        v.to_ipv6_mapped()
    }

    fn nat64(v: Ipv4Addr) -> Ipv6Addr {
        let [a, b, c, d] = v.octets();
        Ipv6Addr::new(
            0x64,
            0xff9b,
            0,
            0,
            0,
            0,
            u16::from_be_bytes([a, b]),
            u16::from_be_bytes([c, d]),
        )
    }

    proptest! {
        #[test]
        fn ipv4_mapped_and_nat64_take_the_embedded_class(raw in any::<u32>()) {
            let ip = Ipv4Addr::from(raw);
            prop_assert_eq!(classify_v6(mapped(ip)), classify_v4(ip));
            prop_assert_eq!(classify_v6(nat64(ip)), classify_v4(ip));
        }

        #[test]
        fn ipv4_compatible_is_never_public(raw in any::<u32>()) {
            let ip = Ipv6Addr::from(raw as u128);
            prop_assert!(!classify_v6(ip).is_public());
        }

        #[test]
        fn private_ranges_are_never_public(host in any::<u32>()) {
            for (net, prefix) in [
                ([10, 0, 0, 0], 8),
                ([127, 0, 0, 0], 8),
                ([172, 16, 0, 0], 12),
                ([192, 168, 0, 0], 16),
                ([169, 254, 0, 0], 16),
                ([100, 64, 0, 0], 10),
                ([0, 0, 0, 0], 8),
                ([224, 0, 0, 0], 3),
            ] {
                let base = u32::from(Ipv4Addr::from(net));
                let ip = Ipv4Addr::from(base | (host >> prefix));
                prop_assert!(!classify_v4(ip).is_public(), "{}", ip);
                prop_assert!(!allowed(IpAddr::V4(ip), false));
                prop_assert!(allowed(IpAddr::V4(ip), true));
            }
        }

        #[test]
        fn local_ipv6_ranges_are_never_public(host in any::<u128>()) {
            for (net, prefix) in [(0xfc00u128 << 112, 7), (0xfe80u128 << 112, 10), (0xff00u128 << 112, 8)] {
                let ip = Ipv6Addr::from(net | (host >> prefix));
                prop_assert!(!classify_v6(ip).is_public(), "{}", ip);
            }
        }

        /// The classification agrees with the standard library's own predicates where they
        /// exist, for every address.
        #[test]
        fn agrees_with_std(raw in any::<u32>(), raw6 in any::<u128>()) {
            let ip = Ipv4Addr::from(raw);
            if ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_multicast()
                || ip.is_broadcast() || ip.is_documentation() || ip.is_unspecified() {
                prop_assert!(!classify_v4(ip).is_public(), "{}", ip);
            }
            let ip6 = Ipv6Addr::from(raw6);
            if ip6.is_loopback() || ip6.is_unspecified() || ip6.is_multicast()
                || ip6.is_unique_local() || ip6.is_unicast_link_local() {
                prop_assert!(!classify_v6(ip6).is_public(), "{}", ip6);
            }
        }

        /// A refusal always names an address of the input and its class; anything kept was
        /// allowed.
        #[test]
        fn filter_keeps_only_allowed(addrs in proptest::collection::vec(any::<(u32, u16)>(), 0..6)) {
            let addrs: Vec<SocketAddr> = addrs
                .into_iter()
                .map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port)))
                .collect();
            match filter_resolved("h", &addrs, false) {
                Ok(kept) => {
                    prop_assert!(kept.iter().all(|a| classify(a.ip()).is_public()));
                    prop_assert_eq!(
                        kept.len(),
                        addrs.iter().filter(|a| classify(a.ip()).is_public()).count()
                    );
                }
                Err(r) => {
                    prop_assert!(addrs.iter().all(|a| !classify(a.ip()).is_public()));
                    prop_assert_eq!(r.addr, Some(addrs[0].ip()));
                    prop_assert_eq!(r.class, classify(addrs[0].ip()));
                }
            }
        }
    }
}
