//! v2xd I/O and shared machinery.
//!
//! * Platform I/O: [`link`] (AF_PACKET raw socket, recvmmsg/sendmmsg),
//!   [`tun`] (TUN device), [`sys`] (the libc calls).
//! * Send path: [`dispatch`] (`handle_messages_batched`), [`expedite`]
//!   (small packets ahead of bulk).
//! * The loop: [`dataplane`], driving a [`role::Role`] state machine.
//! * Shared routing pieces: [`neighbor`], [`seqwin`], [`ratelimit`].
//! * Operations: [`config`], [`logging`], [`api`], [`daemon`].

pub use protocol::{
    broadcast, downstream, expedite, inbound, neighbor, ratelimit, role, security, seqwin,
};

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod dispatch;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod realtime;
pub mod show;
pub mod stats_json;
pub mod sys;
pub mod tun;
pub mod tun_backlog;
