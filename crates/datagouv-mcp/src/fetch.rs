//! The one client that fetches URLs the catalog supplies (a dataservice's
//! `machine_documentation_url`, …), guarded against server-side request
//! forgery.
//!
//! Anyone can publish on data.gouv.fr, and harvesters copy records from
//! other catalogs: a URL in a record may name the user's router, a cloud
//! metadata endpoint or a service on the machine the server runs on. udata
//! refuses literal private addresses when a record is written, but not a
//! public-looking name that resolves to one, nor a redirect to one. So the
//! check happens where the connection is made: this client resolves names
//! with a resolver of its own (`GuardedResolver`) that refuses a name when
//! any address it resolves to is not public, which covers DNS rebinding (the
//! addresses checked are the ones connected to) and every redirect hop (each
//! hop is resolved again). Literal addresses, which are connected to without
//! resolution, are checked on the URL and on each redirect's URL. Proxies
//! are not used (a proxy would resolve the name itself, out of reach).
//!
//! Besides: http and https only; at most [`MAX_REDIRECTS`] redirects; the
//! body read while streaming and dropped past [`Limits::max_bytes`] (the
//! connection is closed, nothing more is read); a short timeout; no API key
//! or any other credential (this client is built apart from the SDK's and
//! knows none). `--allow-private-urls` ([`Limits::allow_private`]) lifts the
//! address check for deployments inside an intranet, nothing else.

use std::{
    error::Error as StdError,
    fmt,
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// What the guarded client allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Reach loopback, private, link-local and other non-public addresses
    /// too (`--allow-private-urls`).
    pub allow_private: bool,
    /// Longest body read; the transfer is stopped past it.
    pub max_bytes: usize,
    /// Longest time for the whole fetch, redirects and body included.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            allow_private: false,
            // The OpenAPI documents of the catalog's dataservices weigh up
            // to a few hundred kilobytes; parsed, a document takes several
            // times its size in memory.
            max_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why a catalog URL was not fetched. Every message names the URL and says
/// what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an http or https URL, or not a URL at all.
    #[error(
        "the catalog's URL `{url}` is not an http(s) URL ({reason}); only http and https are fetched"
    )]
    Scheme {
        /// The URL as the catalog gave it.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL, a redirect, or a name's address is not a public address.
    #[error(
        "refused to fetch {url}: {host} is {what} ({ip}), not a public address; the server \
         fetches catalog URLs only from public hosts (start it with --allow-private-urls inside \
         an intranet)"
    )]
    Blocked {
        /// The URL refused (a redirect's target when a redirect led there).
        url: String,
        /// The host name or address.
        host: String,
        /// The address refused.
        ip: IpAddr,
        /// Its kind (`a loopback address`, …).
        what: &'static str,
    },
    /// More redirects than [`MAX_REDIRECTS`].
    #[error("{url} redirected more than {MAX_REDIRECTS} times; the document was not fetched")]
    TooManyRedirects {
        /// The URL asked for.
        url: String,
    },
    /// The body is larger than [`Limits::max_bytes`].
    #[error(
        "the document at {url} is larger than the {limit} limit; the transfer was stopped \
         (read it from its URL with another tool)"
    )]
    TooLarge {
        /// The URL asked for.
        url: String,
        /// The limit, readable.
        limit: String,
    },
    /// The host answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL asked for.
        url: String,
        /// The status.
        status: u16,
    },
    /// The connection failed or timed out.
    #[error("could not fetch {url}: {message}")]
    Transport {
        /// The URL asked for.
        url: String,
        /// What failed.
        message: String,
    },
}

/// A fetched document.
#[derive(Debug)]
pub struct Fetched {
    /// The URL the body came from, after redirects.
    pub url: Url,
    /// The body, at most [`Limits::max_bytes`].
    pub body: Vec<u8>,
}

/// How a name becomes addresses: the system's resolver, or (in tests) a
/// table of names.
type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The guarded client; cheap to clone.
#[derive(Clone)]
pub struct GuardedFetcher {
    client: reqwest::Client,
    limits: Limits,
    policy: Policy,
}

/// Which addresses may be reached.
#[derive(Clone)]
struct Policy {
    allow_private: bool,
    /// Addresses judged public whatever they are (tests only).
    public: Arc<[IpAddr]>,
}

impl Policy {
    /// `None` when `ip` may be reached, else its kind.
    fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_private || self.public.contains(&ip) {
            return None;
        }
        not_public(ip)
    }

    /// The scheme, and a literal address (connected to without resolution).
    fn url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme {
                url: url.to_string(),
                reason: format!("scheme `{}`", url.scheme()),
            });
        }
        let Some(host) = url.host_str() else {
            return Err(FetchError::Scheme {
                url: url.to_string(),
                reason: "no host".into(),
            });
        };
        // The URL parser writes literal addresses in their one canonical
        // form (`http://0x7f.1/` has the host `127.0.0.1`), IPv6 in brackets.
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return Ok(());
        };
        match self.refuses(ip) {
            Some(what) => Err(FetchError::Blocked {
                url: url.to_string(),
                host: ip.to_string(),
                ip,
                what,
            }),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for GuardedFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedFetcher")
            .field("limits", &self.limits)
            .finish()
    }
}

impl GuardedFetcher {
    /// A client resolving names with the system's resolver.
    pub fn new(limits: Limits) -> GuardedFetcher {
        let lookup: Lookup = Arc::new(|host: String| {
            Box::pin(async move {
                let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
                Ok(addrs.map(|addr| addr.ip()).collect())
            })
        });
        GuardedFetcher::with_lookup(limits, lookup, Arc::new([]))
    }

    /// (Tests only.) A client resolving the names of `table` to its addresses and every
    /// other name to nothing: what a test needs to make a public-looking
    /// name lead to this machine.
    ///
    /// `treat_as_public` lists addresses judged public although they are
    /// not (a test's loopback "public" host beside its "internal" one).
    #[cfg(test)]
    pub(crate) fn with_table(
        limits: Limits,
        table: std::collections::HashMap<String, Vec<IpAddr>>,
        treat_as_public: Vec<IpAddr>,
    ) -> GuardedFetcher {
        let table = Arc::new(table);
        let lookup: Lookup = Arc::new(move |host: String| {
            let found = table.get(&host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("unknown host {host}"),
                    )
                })
            })
        });
        GuardedFetcher::with_lookup(limits, lookup, treat_as_public.into())
    }

    fn with_lookup(limits: Limits, lookup: Lookup, public: Arc<[IpAddr]>) -> GuardedFetcher {
        let policy = Policy {
            allow_private: limits.allow_private,
            public,
        };
        let check = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                let first = attempt.previous()[0].to_string();
                return attempt.error(FetchError::TooManyRedirects { url: first });
            }
            // Names are checked when the hop connects; literal addresses
            // and schemes only here.
            match check.url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(error) => attempt.error(error),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(datagouv::USER_AGENT)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                lookup,
                policy: policy.clone(),
            }))
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(5).min(limits.timeout))
            .timeout(limits.timeout)
            .build()
            .expect("a client without custom TLS builds");
        GuardedFetcher {
            client,
            limits,
            policy,
        }
    }

    /// What this client allows.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// GET `url`: its body, or why it was refused or failed. Nothing is
    /// sent to a host that is not public (unless allowed), and no more than
    /// [`Limits::max_bytes`] is read.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::Scheme {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        self.policy.url(&parsed)?;
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| from_reqwest(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: response.url().to_string(),
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: crate::render::size(self.limits.max_bytes as u64),
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.limits.max_bytes as u64)
        {
            return Err(too_large());
        }
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| from_reqwest(url, &e))? {
            if body.len() + chunk.len() > self.limits.max_bytes {
                // Dropping the response closes the connection.
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: final_url,
            body,
        })
    }
}

/// The error a refusal or failure inside reqwest carries: ours when the
/// resolver or the redirect policy refused, else the transport's message.
fn from_reqwest(url: &str, error: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(ours) = current.downcast_ref::<FetchError>() {
            return match ours {
                // The redirect policy names the hop refused; the resolver
                // knows only the name, and reqwest the URL it was fetching.
                FetchError::Blocked {
                    url: blocked,
                    host,
                    ip,
                    what,
                } => FetchError::Blocked {
                    url: if blocked.is_empty() {
                        error.url().map_or_else(|| url.to_owned(), Url::to_string)
                    } else {
                        blocked.clone()
                    },
                    host: host.clone(),
                    ip: *ip,
                    what,
                },
                FetchError::Scheme { url, reason } => FetchError::Scheme {
                    url: url.clone(),
                    reason: reason.clone(),
                },
                FetchError::TooManyRedirects { url } => {
                    FetchError::TooManyRedirects { url: url.clone() }
                }
                other => FetchError::Transport {
                    url: url.to_owned(),
                    message: other.to_string(),
                },
            };
        }
        source = current.source();
    }
    let message = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        let mut text = error.to_string();
        let mut inner = error.source();
        while let Some(cause) = inner {
            text = format!("{text}: {cause}");
            inner = cause.source();
        }
        text
    };
    FetchError::Transport {
        url: url.to_owned(),
        message,
    }
}

/// Resolves names, then refuses a name when any of its addresses is not
/// public (unless allowed): the addresses returned are the ones connected
/// to, so what is checked is what is reached.
struct GuardedResolver {
    lookup: Lookup,
    policy: Policy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = Arc::clone(&self.lookup);
        let policy = self.policy.clone();
        Box::pin(async move {
            let ips = lookup(host.clone()).await?;
            for ip in &ips {
                if let Some(what) = policy.refuses(*ip) {
                    return Err(Box::new(FetchError::Blocked {
                        url: String::new(),
                        host,
                        ip: *ip,
                        what,
                    }) as Box<dyn StdError + Send + Sync>);
                }
            }
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// What kind of non-public address `ip` is, or `None` when it is public.
/// IPv6 addresses that carry an IPv4 one (mapped, compatible, NAT64, 6to4)
/// are judged by it.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_kind(ip),
        IpAddr::V6(ip) => v6_kind(ip),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified address",
        (0, _, _) => "a 'this network' address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (192, 168, _) => "a private address",
        (172, 16..=31, _) => "a private address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (169, 254, _) => "a link-local address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (192, 0, 0) | (192, 88, 99) => "a reserved address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d, IPv4-mapped: the IPv4 address is what is reached.
    if segments[..6] == [0, 0, 0, 0, 0, 0xffff] {
        return v4_kind(embedded(segments[6], segments[7]));
    }
    // ::a.b.c.d, IPv4-compatible (deprecated): never a public destination.
    if segments[..6] == [0; 6] {
        return Some(
            v4_kind(embedded(segments[6], segments[7])).unwrap_or("an IPv4-compatible address"),
        );
    }
    // 64:ff9b::/96, the well-known NAT64 prefix.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_kind(embedded(segments[6], segments[7]));
    }
    // 2002::/16, 6to4: the IPv4 address in the next 32 bits.
    if segments[0] == 0x2002 {
        return v4_kind(embedded(segments[1], segments[2]));
    }
    Some(match segments[0] {
        0xfc00..=0xfdff => "a unique-local address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        // 2001::/23: Teredo, benchmarking and other protocol assignments.
        0x2001 if segments[1] < 0x0200 => "a reserved address",
        0x3fff if segments[1] < 0x1000 => "a documentation address",
        // Only 2000::/3 is allocated for global unicast.
        0x2000..=0x3fff => return None,
        _ => "a reserved address",
    })
}

#[cfg(test)]
mod tests;
