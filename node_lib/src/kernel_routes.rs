//! Kernel routes through rtnetlink: add, replace, remove and list the
//! routes of one protocol number in one table, all via one device (the
//! TUN). Used for an RSU's backbone export and an OBU's `[tun] routes`.
//! Nothing here decides which routes exist; see `backbone.rs`.

use common::ip::IpPrefix;
use futures_util::stream::TryStreamExt;
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};
use std::fmt;
use std::net::IpAddr;

/// A failed rtnetlink request, with what was asked.
#[derive(Debug)]
pub struct RouteError {
    pub what: String,
    pub error: rtnetlink::Error,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl std::error::Error for RouteError {}

/// One route as the kernel holds it (ours: our protocol, our table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelRoute {
    pub prefix: IpPrefix,
    pub metric: u32,
}

/// The metric the kernel stores for `metric` on `prefix`: IPv6 has no
/// metric 0 (a route added with it is stored with 1024, the kernel's
/// default), so comparing the asked 0 with the stored 1024 would find the
/// route missing and add it again and again (EEXIST).
pub fn kernel_metric(prefix: &IpPrefix, metric: u32) -> u32 {
    if metric == 0 && prefix.addr.is_ipv6() {
        IP6_DEFAULT_METRIC
    } else {
        metric
    }
}

/// The kernel's metric for an IPv6 route added without one.
pub const IP6_DEFAULT_METRIC: u32 = 1024;

/// Routes of protocol `protocol` in table `table` via device `ifindex`.
#[derive(Clone)]
pub struct KernelRoutes {
    handle: Handle,
    table: u32,
    protocol: u8,
    ifindex: u32,
}

fn wrap<T>(what: impl FnOnce() -> String, r: Result<T, rtnetlink::Error>) -> Result<T, RouteError> {
    r.map_err(|error| RouteError {
        what: what(),
        error,
    })
}

impl KernelRoutes {
    /// Opens a netlink socket (its task runs on the current tokio runtime)
    /// and finds device `dev`.
    pub async fn open(dev: &str, table: u32, protocol: u8) -> Result<KernelRoutes, String> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("cannot open rtnetlink: {e}"))?;
        tokio::spawn(conn);
        let link = handle
            .link()
            .get()
            .match_name(dev.to_string())
            .execute()
            .try_next()
            .await
            .map_err(|e| format!("device `{dev}`: {e}"))?
            .ok_or_else(|| format!("device `{dev}` not found"))?;
        Ok(KernelRoutes {
            handle,
            table,
            protocol,
            ifindex: link.header.index,
        })
    }

    fn message(&self, r: &KernelRoute) -> RouteMessage {
        let mut m = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(r.prefix.addr, r.prefix.len)
            .expect("family and length checked by IpPrefix")
            .output_interface(self.ifindex)
            .table_id(self.table)
            .protocol(RouteProtocol::from(self.protocol))
            .scope(match r.prefix.addr {
                IpAddr::V4(_) => RouteScope::Link,
                IpAddr::V6(_) => RouteScope::Universe,
            })
            .kind(RouteType::Unicast)
            .priority(r.metric)
            .build();
        // The builder leaves the family unset for an unspecified prefix
        // (a default route); the destination says which it is.
        m.header.address_family = family(&r.prefix.addr);
        m
    }

    /// Adds `r`; fails (EEXIST) if a route with the same prefix and metric
    /// exists already: we never replace a route someone else put there.
    pub async fn add(&self, r: &KernelRoute) -> Result<(), RouteError> {
        let req = self.handle.route().add(self.message(r));
        wrap(
            || {
                format!(
                    "add route {}/{} metric {}",
                    r.prefix.addr, r.prefix.len, r.metric
                )
            },
            req.execute().await,
        )
    }

    /// Removes `r`; a route already gone counts as removed.
    pub async fn remove(&self, r: &KernelRoute) -> Result<(), RouteError> {
        let res = self.handle.route().del(self.message(r)).execute().await;
        match res {
            Err(rtnetlink::Error::NetlinkError(e))
                if e.code.map(|c| c.get()) == Some(-libc::ESRCH) =>
            {
                Ok(())
            }
            other => wrap(
                || {
                    format!(
                        "remove route {}/{} metric {}",
                        r.prefix.addr, r.prefix.len, r.metric
                    )
                },
                other,
            ),
        }
    }

    /// All routes of `table` (any protocol and device), both families.
    async fn dump(&self) -> Result<Vec<RouteMessage>, RouteError> {
        let mut all = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            let mut s = self.handle.route().get(m).execute();
            while let Some(r) = wrap(|| "list routes".to_string(), s.try_next().await)? {
                if table_of(&r) == self.table {
                    all.push(r);
                }
            }
        }
        Ok(all)
    }

    /// Our routes in the table: our protocol number, any device (routes
    /// left by a crashed run may point at an old device).
    pub async fn ours(&self) -> Result<Vec<(KernelRoute, RouteMessage)>, RouteError> {
        let all = self.dump().await?;
        Ok(all
            .into_iter()
            .filter(|m| u8::from(m.header.protocol) == self.protocol)
            .filter_map(|m| {
                prefix_of(&m).map(|p| {
                    (
                        KernelRoute {
                            prefix: p,
                            metric: metric_of(&m),
                        },
                        m,
                    )
                })
            })
            .collect())
    }

    /// Removes every route of our protocol in the table (left by a run
    /// that crashed); returns how many went.
    pub async fn flush(&self) -> Result<usize, RouteError> {
        let mut n = 0;
        for (r, m) in self.ours().await? {
            let res = self.handle.route().del(m).execute().await;
            wrap(
                || format!("remove leftover route {}/{}", r.prefix.addr, r.prefix.len),
                res,
            )?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether the table holds a route for exactly `prefix` (any protocol).
    pub async fn has(&self, prefix: &IpPrefix) -> Result<bool, RouteError> {
        let all = self.dump().await?;
        Ok(all.iter().any(|m| prefix_of(m) == Some(*prefix)))
    }
}

fn family(a: &IpAddr) -> AddressFamily {
    match a {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(m.header.table as u32)
}

fn metric_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0)
}

fn prefix_of(m: &RouteMessage) -> Option<IpPrefix> {
    let h: &RouteHeader = &m.header;
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => Some(d),
        _ => None,
    });
    let addr = match dst {
        Some(rtnetlink::packet_route::route::RouteAddress::Inet(a)) => IpAddr::V4(*a),
        Some(rtnetlink::packet_route::route::RouteAddress::Inet6(a)) => IpAddr::V6(*a),
        Some(_) => return None,
        None if h.address_family == AddressFamily::Inet => IpAddr::V4(0.into()),
        None if h.address_family == AddressFamily::Inet6 => IpAddr::V6(0u128.into()),
        None => return None,
    };
    IpPrefix::new(addr, h.destination_prefix_length)
}

#[cfg(test)]
mod metric_tests {
    use super::*;

    #[test]
    fn an_ipv6_route_without_a_metric_is_stored_with_1024() {
        let p = |s: &str| {
            let (a, l) = s.split_once('/').unwrap();
            IpPrefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
        };
        assert_eq!(kernel_metric(&p("::/0"), 0), 1024);
        assert_eq!(kernel_metric(&p("::/0"), 7), 7);
        assert_eq!(kernel_metric(&p("0.0.0.0/0"), 0), 0);
    }
}
