//! Egress policy: which URLs a session may request, and which IP addresses
//! its connections may reach.
//!
//! Two checks, both enforced by the client itself:
//!
//! * **Allowed hosts**, checked on every request and on every redirect hop,
//!   against the URL: `scheme://host[:port]` patterns (see [`AllowedHost`]).
//! * **Special-purpose addresses** (the SSRF guard), checked by the
//!   connector on the address it connects to, after DNS: loopback, private,
//!   link-local (cloud metadata), CGNAT, unspecified, multicast, broadcast,
//!   reserved and documentation ranges, and their IPv4-mapped, -compatible,
//!   NAT64 and 6to4 IPv6 forms, are refused unless an
//!   [allowed network](IpNet) covers them. Public addresses need no grant.
//!   Since the address checked is the address connected to, a name that
//!   resolves (or re-resolves) to a private address gains nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use url::Url;

use crate::{ErrorKind, FetchError};

/// What a session may reach. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    hosts: Vec<AllowedHost>,
    networks: Vec<IpNet>,
}

impl Default for EgressPolicy {
    /// Nothing allowed.
    fn default() -> Self {
        Self::deny_all()
    }
}

impl EgressPolicy {
    /// Allows no URL at all.
    pub fn deny_all() -> Self {
        Self {
            hosts: Vec::new(),
            networks: Vec::new(),
        }
    }

    /// Allows every URL and every address, special-purpose ones included.
    /// For trusted code and tests only.
    pub fn unrestricted() -> Self {
        Self {
            hosts: vec![AllowedHost::any()],
            networks: vec![IpNet::ANY_V4, IpNet::ANY_V6],
        }
    }

    /// A policy allowing `hosts` (patterns like `https://*.example.com`)
    /// and the special-purpose `networks` (like `127.0.0.1/32`).
    pub fn new<H, N>(hosts: H, networks: N) -> Result<Self, PolicyError>
    where
        H: IntoIterator,
        H::Item: AsRef<str>,
        N: IntoIterator,
        N::Item: AsRef<str>,
    {
        Ok(Self {
            hosts: hosts
                .into_iter()
                .map(|h| h.as_ref().parse())
                .collect::<Result<_, _>>()?,
            networks: networks
                .into_iter()
                .map(|n| n.as_ref().parse())
                .collect::<Result<_, _>>()?,
        })
    }

    /// The allowed host patterns.
    pub fn hosts(&self) -> &[AllowedHost] {
        &self.hosts
    }

    /// The allowed special-purpose networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// Whether `url` matches an allowed host pattern; a `denied` error that
    /// says how to grant it otherwise.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        let scheme = url.scheme();
        let host = host_of(url);
        let port = url.port_or_known_default().unwrap_or(0);
        if self.hosts.iter().any(|h| h.matches(scheme, &host, port)) {
            return Ok(());
        }
        let grant = format!("{scheme}://{}:{port}", url.host_str().unwrap_or_default());
        Err(FetchError::new(
            ErrorKind::Denied,
            format!(
                "{url} is not in the plugin's allowed hosts; grant it with `--allow-host {grant}` \
                 or `allowed_hosts = [\"{grant}\"]` in crawlbox.toml"
            ),
        ))
    }

    /// Whether a connection to `ip` is allowed: public addresses always are,
    /// special-purpose ones only inside an allowed network.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = canonical(ip);
        match special_purpose(ip) {
            None => Ok(()),
            Some(_) if self.networks.iter().any(|n| n.contains(ip)) => Ok(()),
            Some(kind) => Err(kind),
        }
    }
}

/// The host of `url`, lower-case, without brackets or a trailing dot.
fn host_of(url: &Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// A bad policy entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A host pattern that does not parse.
    #[error(
        "invalid allowed host {0:?}: expected `scheme://host[:port]`, e.g. `https://example.com`, \
         `https://*.example.com`, `http://127.0.0.1:8080` or `*://*:*` ({1})"
    )]
    Host(String, &'static str),
    /// A network that does not parse.
    #[error(
        "invalid allowed network {0:?}: expected an IP address or CIDR, e.g. `127.0.0.1`, \
         `10.0.0.0/8` or `::1/128`"
    )]
    Network(String),
}

/// One `allowed_hosts` entry: `scheme://host[:port]`.
///
/// * `scheme` is `http`, `https` or `*` (either).
/// * `host` is a name or IP literal matched exactly (case-insensitive, IDNs
///   in punycode), `*.example.com` for any subdomain of `example.com` at any
///   depth (but not `example.com` itself), or `*` for any host.
/// * `port` is a number or `*`; when left out, the scheme's default port
///   (80 for http, 443 for https).
///
/// | pattern | matches | does not match |
/// |---|---|---|
/// | `https://example.com` | `https://example.com/a` | `http://example.com/`, `https://example.com:8443/`, `https://www.example.com/` |
/// | `https://*.example.com` | `https://www.example.com/`, `https://a.b.example.com/` | `https://example.com/` |
/// | `*://example.com:*` | `http://example.com:8080/`, `https://example.com/` | `https://api.example.com/` |
/// | `http://127.0.0.1:*` | `http://127.0.0.1:8080/` (if 127.0.0.1 is also an allowed network) | `https://127.0.0.1/` |
/// | `*://*:*` | any URL (special-purpose addresses still need an allowed network) | |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
    any_port: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `.example.com`: any name ending with it.
    Subdomains(String),
}

impl AllowedHost {
    fn any() -> Self {
        Self {
            scheme: None,
            host: HostPattern::Any,
            port: None,
            any_port: true,
        }
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let port_ok = self.any_port
            || match self.port {
                Some(p) => p == port,
                None => port == default_port(scheme),
            };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        };
        port_ok && host_ok
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl FromStr for AllowedHost {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, PolicyError> {
        let err = |why| PolicyError::Host(text.to_owned(), why);
        let (scheme, rest) = text.trim().split_once("://").ok_or(err("no `://`"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            s @ ("http" | "https") => Some(s.to_owned()),
            _ => return Err(err("the scheme must be http, https or *")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(err("no path, query or credentials allowed"));
        }
        // Split the port off, minding IPv6 literals like [::1]:8080.
        let (host, port) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let (port, any_port) = match port {
            None => (None, false),
            Some("*") => (None, true),
            Some(p) => (
                Some(
                    p.parse()
                        .map_err(|_| err("the port must be a number or *"))?,
                ),
                false,
            ),
        };
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomains(format!(
                ".{}",
                normalize_host(domain).ok_or(err("bad domain"))?
            ))
        } else if host.contains('*') {
            return Err(err("`*` may only be the whole host or a leading `*.`"));
        } else {
            HostPattern::Exact(normalize_host(host).ok_or(err("bad host"))?)
        };
        Ok(Self {
            scheme,
            host,
            port,
            any_port,
        })
    }
}

/// Normalises a host the way request URLs are (lower case, punycode,
/// canonical IP literals), so patterns and URLs compare equal.
fn normalize_host(host: &str) -> Option<String> {
    let url = Url::parse(&format!("http://{host}/")).ok()?;
    Some(host_of(&url)).filter(|h| !h.is_empty())
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_deref().unwrap_or("*");
        let host = match &self.host {
            HostPattern::Any => "*".to_owned(),
            HostPattern::Exact(h) if h.contains(':') => format!("[{h}]"),
            HostPattern::Exact(h) => h.clone(),
            HostPattern::Subdomains(s) => format!("*{s}"),
        };
        write!(f, "{scheme}://{host}")?;
        match (self.any_port, self.port) {
            (true, _) => write!(f, ":*"),
            (false, Some(p)) => write!(f, ":{p}"),
            (false, None) => Ok(()),
        }
    }
}

/// An `allowed_networks` entry: an IP network in CIDR notation (a bare
/// address is a single-address network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    const ANY_V4: IpNet = IpNet {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix: 0,
    };
    const ANY_V6: IpNet = IpNet {
        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        prefix: 0,
    };

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses match
    /// IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    a[..full] == b[..full]
        && (rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            a[full] & mask == b[full] & mask
        })
}

impl FromStr for IpNet {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, PolicyError> {
        let err = || PolicyError::Network(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match prefix {
            Some(p) => p.parse().ok().filter(|&p| p <= max).ok_or_else(err)?,
            None => max,
        };
        Ok(Self {
            addr: canonical(addr),
            prefix: if canonical(addr).is_ipv4() && !addr.is_ipv4() {
                prefix.saturating_sub(96)
            } else {
                prefix
            },
        })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are IPv4 addresses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why `ip` needs an explicit grant, or `None` for a public address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "an unspecified (0.0.0.0/8) address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private (RFC 1918) address",
        _ if ip.is_link_local() => "a link-local address (cloud metadata lives here)",
        (100, 64..=127, _) => "a carrier-grade NAT (100.64.0.0/10) address",
        _ if ip.is_broadcast() => "the broadcast address",
        _ if ip.is_multicast() => "a multicast address",
        (240..=255, _, _) => "a reserved (240.0.0.0/4) address",
        (192, 0, 0) => "an IETF protocol (192.0.0.0/24) address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15) address",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // Forms that embed an IPv4 address are judged by that address.
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    Some(match seg {
        _ if ip.is_unspecified() => "the unspecified address (::)",
        _ if ip.is_loopback() => "a loopback address",
        // IPv4-compatible ::a.b.c.d (deprecated).
        [0, 0, 0, 0, 0, 0, hi, lo] => {
            return special_v4(embedded(hi, lo)).or(Some("an IPv4-compatible address"));
        }
        // NAT64 64:ff9b::/96.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return special_v4(embedded(hi, lo)),
        // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
        [0x2002, hi, lo, ..] => return special_v4(embedded(hi, lo)),
        [s, ..] if s & 0xffc0 == 0xfe80 => "a link-local (fe80::/10) address",
        [s, ..] if s & 0xffc0 == 0xfec0 => "a site-local (fec0::/10) address",
        [s, ..] if s & 0xfe00 == 0xfc00 => "a unique local (fc00::/7) address",
        [s, ..] if s & 0xff00 == 0xff00 => "a multicast address",
        [0x2001, 0xdb8, ..] => "a documentation (2001:db8::/32) address",
        [0x2001, 0, ..] => "a Teredo tunnel (2001::/32) address",
        [0x100, 0, 0, 0, ..] => "a discard-only (100::/64) address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(pattern: &str, url: &str) -> bool {
        let policy = EgressPolicy::new([pattern], [] as [&str; 0]).unwrap();
        policy.check_url(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn host_patterns_match_as_documented() {
        assert!(allowed("https://example.com", "https://example.com/a"));
        assert!(allowed("https://example.com", "https://EXAMPLE.com./a"));
        assert!(!allowed("https://example.com", "http://example.com/"));
        assert!(!allowed("https://example.com", "https://example.com:8443/"));
        assert!(!allowed("https://example.com", "https://www.example.com/"));
        assert!(allowed("https://*.example.com", "https://www.example.com/"));
        assert!(allowed("https://*.example.com", "https://a.b.example.com/"));
        assert!(!allowed("https://*.example.com", "https://example.com/"));
        assert!(!allowed("https://*.example.com", "https://badexample.com/"));
        assert!(allowed("*://example.com:*", "http://example.com:8080/"));
        assert!(allowed("*://example.com:*", "https://example.com/"));
        assert!(!allowed("*://example.com:*", "https://api.example.com/"));
        assert!(allowed("http://127.0.0.1:*", "http://127.0.0.1:8080/"));
        assert!(!allowed("http://127.0.0.1:*", "https://127.0.0.1/"));
        assert!(allowed("*://*:*", "https://anything.example:1234/"));
        assert!(allowed("http://[::1]:8080", "http://[::1]:8080/"));
        assert!(allowed("https://bücher.de", "https://xn--bcher-kva.de/"));
        // The WHATWG parser reads 2130706433 as 127.0.0.1, in URLs and patterns alike.
        assert!(allowed("http://127.0.0.1", "http://2130706433/"));
    }

    #[test]
    fn bad_patterns_are_refused_with_examples() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://ex*ample.com",
            "https://example.com:http",
            "https://user@example.com",
        ] {
            let err = bad.parse::<AllowedHost>().unwrap_err();
            assert!(err.to_string().contains("scheme://host"), "{err}");
        }
    }

    #[test]
    fn patterns_display_as_written() {
        for p in [
            "https://*.example.com",
            "*://*:*",
            "http://127.0.0.1:8080",
            "http://[::1]:80",
        ] {
            assert_eq!(p.parse::<AllowedHost>().unwrap().to_string(), p);
        }
    }

    #[test]
    fn special_purpose_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(
                special_purpose(ip.parse().unwrap()).is_some(),
                "{ip} passed"
            );
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(special_purpose(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn allowed_networks_grant_special_addresses() {
        let policy = EgressPolicy::new([] as [&str; 0], ["127.0.0.1", "10.0.0.0/8"]).unwrap();
        assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check_ip("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check_ip("127.0.0.2".parse().unwrap()).is_err());
        assert!(policy.check_ip("10.200.0.1".parse().unwrap()).is_ok());
        assert!(
            policy.check_ip("11.0.0.1".parse().unwrap()).is_ok(),
            "public"
        );
        assert!(policy.check_ip("192.168.0.1".parse().unwrap()).is_err());
        assert!(policy.check_ip("::1".parse().unwrap()).is_err());
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("localhost".parse::<IpNet>().is_err());
    }

    #[test]
    fn denied_urls_say_how_to_grant_them() {
        let err = EgressPolicy::deny_all()
            .check_url(&Url::parse("http://127.0.0.1:8080/x").unwrap())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(
            err.message.contains("--allow-host http://127.0.0.1:8080"),
            "{err}"
        );
    }
}
