//! Where a request may go. The API answer and the CDN's redirects come from
//! servers we do not control, so the links they hand us are checked before
//! any byte is sent:
//! - only `http` and `https`;
//! - never a link-local address (`169.254.0.0/16`, `fe80::/10`) nor a cloud
//!   metadata service (`169.254.169.254`, `fd00:ec2::254`,
//!   `100.100.100.200`, Azure's host `168.63.129.16`,
//!   `metadata.google.internal`): on a cloud machine those hand out the
//!   machine's own credentials;
//! - the machine itself (`127.0.0.0/8`, `::1`, `localhost`, `0.0.0.0/8`,
//!   `::`) only when the API base is on the machine too (tests, a local
//!   gateway): a remote API has no business sending us to our own services;
//! - a redirect never goes from `https` down to `http`.
//!
//! An IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`,
//! compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged as that IPv4
//! address. [`HostRules::refusal`] reads the link's host as written;
//! [`HostRules::address_refusal`] judges each address a name resolves to,
//! in the client's resolver (`net.rs`), so a name that `/etc/hosts` or DNS
//! maps to this machine or a metadata service is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;
use reqwest::redirect::Policy;
use url::Host;

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// What the rules allow: decided once per client, from its API base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostRules {
    /// True when the API base itself is on this machine.
    pub loopback_allowed: bool,
}

impl HostRules {
    /// The rules for a client whose API is at `base`.
    pub(crate) fn for_api_base(base: &Url) -> HostRules {
        HostRules {
            loopback_allowed: base.host().is_some_and(|host| is_loopback(&host)),
        }
    }

    /// Why `url` may not be fetched, if it may not.
    pub(crate) fn refusal(&self, url: &Url) -> Option<String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Some(format!(
                "the link's scheme is '{}'; only http and https links are followed",
                url.scheme()
            ));
        }
        let host = url.host()?;
        if is_metadata(&host) {
            return Some(format!(
                "the link points at {host}, a cloud metadata service; such links are never followed"
            ));
        }
        if is_link_local(&host) {
            return Some(format!(
                "the link points at {host}, a link-local address; such links are never followed"
            ));
        }
        if is_loopback(&host) && !self.loopback_allowed {
            return Some(format!(
                "the link points at {host}, this machine itself, while the API is elsewhere; such links are not followed"
            ));
        }
        None
    }

    /// Why an address a link's name resolved to may not be reached, if it
    /// may not: the same classes as [`HostRules::refusal`], judged on the
    /// address.
    pub(crate) fn address_refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = canonical(ip);
        if is_metadata_ip(ip) {
            Some("a cloud metadata service")
        } else if is_link_local_ip(ip) {
            Some("a link-local address")
        } else if is_loopback_ip(ip) && !self.loopback_allowed {
            Some("this machine itself, while the API is elsewhere")
        } else {
            None
        }
    }

    /// The redirect policy of the HTTP client: at most five hops, each
    /// checked by [`HostRules::refusal`], never from https down to http.
    pub(crate) fn redirect_policy(self) -> Policy {
        Policy::custom(move |attempt| {
            let from = attempt.previous().last().cloned();
            match redirect_refusal(self, from.as_ref(), attempt.url(), attempt.previous().len()) {
                Some(why) => attempt.error(why),
                None => attempt.follow(),
            }
        })
    }
}

/// Why the redirect from `from` to `to` (the `hops`-th) is refused, if it is.
fn redirect_refusal(rules: HostRules, from: Option<&Url>, to: &Url, hops: usize) -> Option<String> {
    if hops >= MAX_REDIRECTS {
        return Some("too many redirects".into());
    }
    if let Some(refusal) = rules.refusal(to) {
        return Some(format!(
            "a redirect to a link that is not allowed: {refusal}"
        ));
    }
    if from.is_some_and(|from| from.scheme() == "https") && to.scheme() == "http" {
        return Some("a redirect from https down to plain http".into());
    }
    None
}

/// The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`,
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), else itself. `::`
/// and `::1` stay as they are.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let carried = Ipv4Addr::from(((u32::from(s[6])) << 16) | u32::from(s[7]));
    let compatible = s[..6] == [0; 6] && !v6.is_unspecified() && !v6.is_loopback();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 {
        IpAddr::V4(carried)
    } else {
        ip
    }
}

fn ip_of(host: &Host<&str>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(v4) => Some(canonical(IpAddr::V4(*v4))),
        Host::Ipv6(v6) => Some(canonical(IpAddr::V6(*v6))),
        Host::Domain(_) => None,
    }
}

/// This machine: loopback, unspecified, or `0.0.0.0/8` (which Linux
/// connects to this machine).
fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
    }
}

fn is_link_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_metadata_ip(ip: IpAddr) -> bool {
    const AWS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    const ALIBABA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
    const AZURE_HOST: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);
    const COMMON: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
    match ip {
        IpAddr::V4(v4) => [COMMON, ALIBABA, AZURE_HOST].contains(&v4),
        IpAddr::V6(v6) => v6 == AWS_V6,
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match ip_of(host) {
        Some(ip) => is_loopback_ip(ip),
        None => {
            let name = domain(host);
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

fn is_link_local(host: &Host<&str>) -> bool {
    ip_of(host).is_some_and(is_link_local_ip)
}

fn is_metadata(host: &Host<&str>) -> bool {
    match ip_of(host) {
        Some(ip) => is_metadata_ip(ip),
        None => matches!(
            domain(host).as_str(),
            "metadata.google.internal" | "metadata.goog" | "metadata"
        ),
    }
}

/// A domain as compared: lower case, without a trailing dot.
fn domain(host: &Host<&str>) -> String {
    match host {
        Host::Domain(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a test link")
    }

    const REMOTE_API: HostRules = HostRules {
        loopback_allowed: false,
    };
    const LOCAL_API: HostRules = HostRules {
        loopback_allowed: true,
    };

    #[test]
    fn metadata_and_link_local_links_are_refused_whatever_the_api() {
        for link in [
            "http://169.254.169.254/latest/meta-data/model.glb",
            "http://169.254.170.2/v2/credentials",
            "http://169.254.0.1/x.glb",
            "http://[fe80::1]/x.glb",
            "http://[febf::1]/x.glb",
            "http://[fd00:ec2::254]/latest",
            "http://[::ffff:169.254.169.254]/latest",
            "http://100.100.100.200/latest/meta-data",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./x",
            "https://0xa9.0xfe.0xa9.0xfe/x",
            "http://2852039166/x",
            "http://[::a9fe:a9fe]/latest",
            "http://[::169.254.169.254]/latest",
            "http://[64:ff9b::a9fe:a9fe]/latest",
            "http://[64:ff9b::169.254.1.1]/x",
            "http://168.63.129.16/machine",
            "http://[::ffff:168.63.129.16]/machine",
        ] {
            for rules in [REMOTE_API, LOCAL_API] {
                assert!(rules.refusal(&url(link)).is_some(), "{link} {rules:?}");
            }
        }
    }

    #[test]
    fn loopback_links_only_when_the_api_is_on_this_machine_too() {
        for link in [
            "http://127.0.0.1:8080/x.glb",
            "http://127.0.0.2/x.glb",
            "http://[::1]/x.glb",
            "http://[::ffff:127.0.0.1]/x.glb",
            "http://localhost/x.glb",
            "http://a.localhost/x.glb",
            "http://0.0.0.0/x.glb",
            "http://0.1.2.3/x.glb",
            "http://[::]/x.glb",
            "http://[::127.0.0.1]/x.glb",
            "http://[64:ff9b::7f00:1]/x.glb",
            "http://[::ffff:0.0.0.1]/x.glb",
        ] {
            assert!(REMOTE_API.refusal(&url(link)).is_some(), "{link}");
            assert!(LOCAL_API.refusal(&url(link)).is_none(), "{link}");
        }
        assert!(HostRules::for_api_base(&url("http://127.0.0.1:9/v2/openapi")).loopback_allowed);
        assert!(HostRules::for_api_base(&url("http://localhost:9")).loopback_allowed);
        assert!(!HostRules::for_api_base(&url("https://openapi.tripo3d.ai")).loopback_allowed);
    }

    #[test]
    fn ordinary_links_are_allowed() {
        for link in [
            "https://tripo-data.rg1.data.tripo3d.com/tcli_x/model.glb?Expires=1",
            "http://10.0.0.5/x.glb",
            "https://169.255.0.1/x.glb",
            "https://[2001:db8::1]/x.glb",
            "https://[64:ff9b::808:808]/x.glb",
            "https://[::808:808]/x.glb",
            "https://168.63.129.17/x.glb",
        ] {
            assert!(REMOTE_API.refusal(&url(link)).is_none(), "{link}");
        }
    }

    #[test]
    fn redirects_never_go_down_to_http_nor_on_for_ever() {
        let https = url("https://cdn.example/a.glb");
        let http = url("http://cdn.example/a.glb");
        assert!(redirect_refusal(REMOTE_API, Some(&https), &http, 0).is_some());
        assert!(redirect_refusal(REMOTE_API, Some(&http), &https, 0).is_none());
        assert!(redirect_refusal(REMOTE_API, Some(&https), &https, 0).is_none());
        assert!(redirect_refusal(REMOTE_API, Some(&http), &http, 0).is_none());
        assert!(redirect_refusal(REMOTE_API, Some(&http), &http, MAX_REDIRECTS).is_some());
        let metadata = url("http://169.254.169.254/latest");
        assert!(redirect_refusal(LOCAL_API, Some(&http), &metadata, 0).is_some());
        let file = url("file:///etc/passwd");
        assert!(redirect_refusal(LOCAL_API, Some(&http), &file, 0).is_some());
    }

    /// Every address a name may resolve to, in its class: what the
    /// resolver refuses, whatever name led there.
    #[test]
    fn resolved_addresses_are_judged_by_their_class() {
        let ip = |text: &str| -> IpAddr { text.parse().expect("an address") };
        let table: [(&str, Option<&str>, Option<&str>); 14] = [
            // address, refused with a remote API, with a local one
            ("127.0.1.1", Some("this machine"), None),
            ("127.0.0.1", Some("this machine"), None),
            ("::1", Some("this machine"), None),
            ("0.0.0.0", Some("this machine"), None),
            ("0.255.0.1", Some("this machine"), None),
            ("::7f00:1", Some("this machine"), None),
            ("64:ff9b::7f00:1", Some("this machine"), None),
            ("169.254.169.254", Some("metadata"), Some("metadata")),
            ("::a9fe:a9fe", Some("metadata"), Some("metadata")),
            ("64:ff9b::a9fe:a9fe", Some("metadata"), Some("metadata")),
            ("168.63.129.16", Some("metadata"), Some("metadata")),
            ("fe80::1", Some("link-local"), Some("link-local")),
            ("93.184.215.14", None, None),
            ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None, None),
        ];
        for (address, remote, local) in table {
            let judged = |rules: HostRules| rules.address_refusal(ip(address));
            for (rules, expected) in [(REMOTE_API, remote), (LOCAL_API, local)] {
                match (judged(rules), expected) {
                    (None, None) => {}
                    (Some(why), Some(words)) => assert!(why.contains(words), "{address}: {why}"),
                    (got, _) => panic!("{address} {rules:?}: {got:?}, expected {expected:?}"),
                }
            }
        }
    }
}
