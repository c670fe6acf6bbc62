//! v2xd I/O and shared machinery.
//!
//! * Platform I/O: [`link`] (AF_PACKET raw socket, recvmmsg/sendmmsg),
//!   [`tun`] (TUN device), [`sys`] (the libc calls).
//! * Send path: [`dispatch`] (`handle_messages_batched`), [`expedite`]
//!   (small packets ahead of bulk).
//! * The loop: [`dataplane`], driving a [`role::Role`] state machine.
//! * Shared routing pieces: [`neighbor`], [`seqwin`], [`ratelimit`].
//! * Operations: [`config`], [`logging`], [`api`], [`daemon`].

pub mod api;
pub mod broadcast;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod dispatch;
pub mod downstream;
pub mod expedite;
pub mod inbound;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod neighbor;
pub mod notify;
pub mod ratelimit;
pub mod realtime;
pub mod role;
pub mod security;
pub mod seqwin;
pub mod show;
pub mod stats_json;
pub mod sys;
pub mod tun;
pub mod tun_backlog;
