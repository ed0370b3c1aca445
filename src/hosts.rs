//! Where a request may go. The API answer and the CDN's redirects come from
//! servers we do not control, so the links they hand us are checked before
//! any byte is sent:
//! - only `http` and `https`;
//! - never a link-local address (`169.254.0.0/16`, `fe80::/10`) nor a cloud
//!   metadata service (`169.254.169.254`, `fd00:ec2::254`,
//!   `100.100.100.200`, `metadata.google.internal`): on a cloud machine
//!   those hand out the machine's own credentials;
//! - the machine itself (`127.0.0.0/8`, `::1`, `localhost`, `0.0.0.0`) only
//!   when the API base is on the machine too (tests, a local gateway): a
//!   remote API has no business sending us to our own services;
//! - a redirect never goes from `https` down to `http`.
//!
//! The rules read the link's host as written; a name that resolves to such
//! an address is not looked up here.

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

/// The IPv4 address an IPv6 address stands for (`::ffff:a.b.c.d`), else itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn ip_of(host: &Host<&str>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(v4) => Some(canonical(IpAddr::V4(*v4))),
        Host::Ipv6(v6) => Some(canonical(IpAddr::V6(*v6))),
        Host::Domain(_) => None,
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match ip_of(host) {
        Some(ip) => ip.is_loopback() || ip.is_unspecified(),
        None => {
            let name = domain(host);
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

fn is_link_local(host: &Host<&str>) -> bool {
    match ip_of(host) {
        Some(IpAddr::V4(v4)) => v4.is_link_local(),
        Some(IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        None => false,
    }
}

fn is_metadata(host: &Host<&str>) -> bool {
    const AWS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    const ALIBABA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
    const COMMON: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
    match ip_of(host) {
        Some(IpAddr::V4(v4)) => v4 == COMMON || v4 == ALIBABA,
        Some(IpAddr::V6(v6)) => v6 == AWS_V6,
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
}
