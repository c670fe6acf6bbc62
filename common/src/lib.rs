//! Shared, I/O-free building blocks of v2xd.
//!
//! * [`wire`]: the v1 wire format as checked zero-copy views plus parsed
//!   representations (`parse` / `emit`), in the style of smoltcp.
//! * [`batch`]: preallocated receive and send batches used by the I/O layer.
//! * [`action`]: what the sans-IO role state machines ask the I/O layer to do.
//! * [`airtime`]: how long a frame holds an 802.11p channel (estimate).
//! * [`node_id`], [`time`], [`ip`]: small value types.
//! * [`priority`]: the four priority classes and the DSCP map.
//! * [`keyed_error`]: the error of a settings file, naming the setting.

pub mod action;
pub mod airtime;
pub mod batch;
pub mod counters;
pub mod ip;
pub mod keyed_error;
pub mod node_id;
pub mod offload;
pub mod priority;
pub mod time;
pub mod wire;

pub use node_id::NodeId;
pub use time::Time;
