//! Why a request got no answer, told apart so a message can say where and
//! what to do: the host's name does not resolve, nothing listens there, the
//! TLS handshake failed, the host did not answer in time, the network is
//! unreachable, or an open connection broke. reqwest reports all of these as
//! one "error sending request"; the cause chain says which.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::hint::{Hint, Setting};
use crate::hosts::HostRules;
use crate::text::{Causes, cause_chain};

/// What kept a request from getting an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetFault {
    /// The host's name does not resolve (a typo, or no DNS).
    NameNotResolved,
    /// Nothing listens at that host and port.
    Refused,
    /// The TLS handshake failed (plain HTTP spoken to a TLS port or the
    /// reverse, or a certificate not trusted).
    Tls,
    /// The host did not answer in time.
    TimedOut,
    /// No route to the host: the network is down or a firewall drops it.
    Unreachable,
    /// An open connection was reset or closed mid-answer.
    Broken,
}

impl NetFault {
    /// Reads the cause chain of a failed request.
    pub(crate) fn of(error: &reqwest::Error) -> NetFault {
        if error.is_timeout() {
            return NetFault::TimedOut;
        }
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(fault) = NetFault::named_by(current) {
                return fault;
            }
            // An `io::Error`'s `source` skips the error it wraps (where TLS
            // failures hide): go through it instead.
            cause = match current
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
            {
                Some(inner) => Some(inner),
                None => current.source(),
            };
        }
        NetFault::Broken
    }

    /// The fault one link of a cause chain names, if it names one.
    fn named_by(error: &(dyn StdError + 'static)) -> Option<NetFault> {
        if error.is::<Unresolvable>() || error.to_string() == "dns error" {
            return Some(NetFault::NameNotResolved);
        }
        if error.is::<rustls::Error>() {
            return Some(NetFault::Tls);
        }
        match error.downcast_ref::<io::Error>()?.kind() {
            io::ErrorKind::ConnectionRefused => Some(NetFault::Refused),
            io::ErrorKind::TimedOut => Some(NetFault::TimedOut),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                Some(NetFault::Unreachable)
            }
            _ => None,
        }
    }

    /// What happened, in a few words.
    pub fn words(self) -> &'static str {
        match self {
            NetFault::NameNotResolved => "its name does not resolve",
            NetFault::Refused => "the connection was refused",
            NetFault::Tls => "the TLS handshake failed",
            NetFault::TimedOut => "it did not answer in time",
            NetFault::Unreachable => "the network cannot reach it",
            NetFault::Broken => "the connection broke",
        }
    }

    /// What to do about it, for the API host.
    pub fn advice(self) -> String {
        let base = Setting::ApiBase;
        match self {
            NetFault::NameNotResolved => format!(
                "check {base} or TRIPO_API_BASE for a typo; if it is right, check the network's DNS or the proxy settings"
            ),
            NetFault::Refused => format!(
                "nothing listens there; check the host and port in {base} or TRIPO_API_BASE; if they are right, the service is down"
            ),
            NetFault::Tls => format!(
                "check that {base} or TRIPO_API_BASE starts with https:// only for a TLS server; a proxy that intercepts TLS needs its certificate trusted"
            ),
            NetFault::TimedOut | NetFault::Unreachable => {
                "check the network connection and the proxy settings (HTTPS_PROXY); if they are fine, the service is down: try again later".to_owned()
            }
            NetFault::Broken => Hint::TryLater.to_string(),
        }
    }
}

/// A failed request's fault in words, and for TLS and broken connections the
/// innermost cause too, which names the certificate or protocol problem.
/// Callers pass the error without its URL: a link carries its signature.
pub(crate) fn describe(error: &reqwest::Error, fault: NetFault) -> String {
    match fault {
        NetFault::Tls | NetFault::Broken => format!(
            "{} ({})",
            fault.words(),
            cause_chain(error, Causes::Innermost)
        ),
        _ => fault.words().to_owned(),
    }
}

/// `host` or `host:port` (when the URL names a port), without user info.
pub(crate) fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The name resolver of the default HTTP client: the system's (as reqwest's
/// own), except that names under `.invalid` fail at once, as RFC 6761 asks
/// of resolvers, without asking a DNS server that may be slow or absent;
/// and that every address found is judged by the client's [`HostRules`]
/// (`HostRules::address_refusal`): a link or redirect to a name that maps
/// to this machine (`127.0.1.1 <hostname>` in `/etc/hosts`), a link-local
/// address or a metadata service reaches none of them. The names the user
/// chose are resolved as they are: the API's host, and the proxies' (from
/// the environment) unless the client uses none. Its failures carry
/// [`Unresolvable`], so they are told apart by type.
#[derive(Debug)]
pub(crate) struct SystemResolver {
    rules: HostRules,
    /// Names (lower case, no trailing dot) resolved without the rules.
    chosen: Vec<String>,
}

/// A name that did not resolve, or only to addresses a link may not reach.
#[derive(Debug)]
struct Unresolvable {
    name: String,
    cause: Option<io::Error>,
    /// The address the name resolved to, and why no link may reach it.
    refused: Option<String>,
}

impl fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.refused, &self.cause) {
            (Some(why), _) => write!(
                f,
                "{} resolves to {why}; such links are not followed",
                self.name
            ),
            (None, Some(cause)) => write!(f, "{} does not resolve: {cause}", self.name),
            (None, None) => write!(f, "{} is a reserved name that never resolves", self.name),
        }
    }
}

impl StdError for Unresolvable {}

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let name = comparable(name.as_str());
        let rules = (!self.chosen.contains(&name)).then_some(self.rules);
        Box::pin(async move {
            let unresolvable = |cause| -> Box<dyn StdError + Send + Sync> {
                Box::new(Unresolvable {
                    name: name.clone(),
                    cause,
                    refused: None,
                })
            };
            if name == "invalid" || name.ends_with(".invalid") {
                return Err(unresolvable(None));
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| unresolvable(Some(e)))?
                .collect();
            if found.is_empty() {
                return Err(unresolvable(None));
            }
            let found = match rules {
                Some(rules) => reachable(rules, found).map_err(|why| {
                    Box::new(Unresolvable {
                        name: name.clone(),
                        cause: None,
                        refused: Some(why),
                    }) as Box<dyn StdError + Send + Sync>
                })?,
                None => found,
            };
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The addresses `rules` let a link reach; when there are none, what the
/// first one is, in words.
fn reachable(rules: HostRules, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let first = found
        .first()
        .map(|a| (a.ip(), rules.address_refusal(a.ip())));
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| rules.address_refusal(a.ip()).is_none())
        .collect();
    match (allowed.is_empty(), first) {
        (true, Some((ip, Some(why)))) => Err(format!("{ip}, {why}")),
        _ => Ok(allowed),
    }
}

/// A host name as compared: lower case, without a trailing dot.
fn comparable(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The proxy variables reqwest reads from the environment.
const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

impl SystemResolver {
    /// The resolver of a client whose API is at `api_base`, under `rules`;
    /// with `proxies`, the proxies in the environment are resolved as they
    /// are (a proxy on this machine is the usual case).
    pub(crate) fn shared(rules: HostRules, api_base: &Url, proxies: bool) -> Arc<SystemResolver> {
        let mut chosen: Vec<String> = api_base.host_str().map(comparable).into_iter().collect();
        if proxies {
            for variable in PROXY_VARIABLES {
                let Ok(value) = std::env::var(variable) else {
                    continue;
                };
                // `host:port` without a scheme is read as http, as reqwest does.
                let url = Url::parse(&value).or_else(|_| Url::parse(&format!("http://{value}")));
                if let Some(host) = url.ok().as_ref().and_then(Url::host_str) {
                    chosen.push(comparable(host));
                }
            }
        }
        Arc::new(SystemResolver { rules, chosen })
    }
}

#[cfg(test)]
mod resolver_tests {
    use super::*;

    fn rules(loopback_allowed: bool) -> HostRules {
        HostRules { loopback_allowed }
    }

    async fn resolve(resolver: &SystemResolver, name: &str) -> Result<Vec<SocketAddr>, String> {
        let name: Name = name.parse().expect("a name");
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `localhost` stands for any name `/etc/hosts` maps to this machine
    /// (`127.0.1.1 <hostname>` on Debian): the one such name every machine
    /// resolves the same, so the test needs no change to the system.
    #[tokio::test]
    async fn a_name_that_resolves_to_this_machine_is_refused_while_the_api_is_elsewhere() {
        let api = Url::parse("https://api.example").expect("a URL");
        let remote = SystemResolver::shared(rules(false), &api, false);
        let refused = resolve(&remote, "localhost").await.expect_err("refused");
        assert!(refused.contains("this machine itself"), "{refused}");

        let local = SystemResolver::shared(rules(true), &api, false);
        let found = resolve(&local, "localhost").await.expect("resolves");
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
    }

    /// The names the user chose resolve as they are: an API base, or a
    /// proxy, that is a name for this machine keeps working.
    #[tokio::test]
    async fn the_api_host_and_the_proxies_resolve_as_they_are() {
        let api = Url::parse("http://LocalHost.:8080/v2/openapi").expect("a URL");
        let resolver = SystemResolver::shared(rules(false), &api, false);
        assert!(resolve(&resolver, "localhost").await.is_ok());

        // As `shared` makes it when a proxy variable names `localhost:3128`.
        let proxied = SystemResolver {
            rules: rules(false),
            chosen: vec![comparable("localhost")],
        };
        assert!(resolve(&proxied, "localhost").await.is_ok());
    }

    #[test]
    fn only_the_allowed_addresses_are_kept_and_none_is_a_refusal() {
        let at = |ip: &str| SocketAddr::new(ip.parse().expect("an address"), 0);
        let remote = rules(false);
        assert_eq!(
            reachable(remote, vec![at("127.0.1.1"), at("93.184.215.14")]),
            Ok(vec![at("93.184.215.14")])
        );
        let why = reachable(remote, vec![at("127.0.1.1")]).expect_err("refused");
        assert!(why.starts_with("127.0.1.1, this machine"), "{why}");
        let why = reachable(rules(true), vec![at("::a9fe:a9fe")]).expect_err("refused");
        assert!(why.contains("metadata"), "{why}");
    }
}
