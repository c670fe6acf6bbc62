//! v2xd's I/O and the daemon around a role (the protocol itself, sans-IO,
//! is the `protocol` crate and the role crates).
//!
//! * Platform I/O: [`link`] (AF_PACKET raw socket, recvmmsg/sendmmsg),
//!   [`tun`] (TUN device, offload, planned writes), [`sys`] (the libc
//!   calls, each with its `SAFETY:` note).
//! * The loop: [`dataplane`] (the numbered pipeline driving a
//!   [`protocol::role::Role`] around `datapath::Engine`, which [`link::LinkPort`]
//!   and [`tun::TunPort`] serve as its devices), [`shared`] (what the loop
//!   shares with the control side), [`realtime`] (when the data plane runs
//!   under realtime scheduling).
//! * Operations: [`config`] (TOML, validated by section), [`daemon`]
//!   (start, signals, reload, shutdown), [`api`] (HTTP), [`stats_json`]
//!   and [`metrics`] (JSON and Prometheus views of the counters),
//!   [`show`] and [`cli`] (the operator CLI), [`logging`], [`notify`]
//!   (systemd).
//! * Kernel routes: [`kernel_routes`] (rtnetlink) and [`backbone`] (keeps
//!   an RSU's exported routes, an OBU's `[tun] routes` and the uplink
//!   state in step with the kernel).
//!
//! The protocol's state machines are the `protocol`, `obu_lib` and
//! `rsu_lib` crates'; this crate re-exports none of them.

pub mod api;
pub mod api_view;
pub mod backbone;
pub mod bulk_lane;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod diag;
pub mod kernel_routes;
pub mod key_file;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod mtu_frames;
pub mod notify;
pub mod radio_check;
pub mod realtime;
pub mod shared;
pub mod show;
pub mod stats_json;
pub mod sys;
pub mod topology;
pub mod tun;
