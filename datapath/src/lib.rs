//! The data path between a link and a TUN device, without I/O of its own
//! (like smoltcp's `phy::Device`): the devices are two small traits
//! ([`device::LinkDevice`], [`device::TunDevice`]), implemented by the
//! daemon's raw socket and TUN device (`node_lib`) and by the simulator's
//! in-memory air (`sim`). [`engine::Engine`] is one turn's work on them:
//! frames in through the role, packets read through the [`tun_backlog`]
//! (small packets first), the role's actions planned
//! (`protocol::plan`) and flushed ([`dispatch`]): link frames in one
//! send, TUN deliveries as planned writes (GRO). The daemon adds what only
//! a real node has around it (poll, the watchdog, scheduling, the API's
//! snapshot); the simulator adds its clock and its air.

pub mod device;
pub mod dispatch;
pub mod engine;
pub mod tun_backlog;

pub use device::{LinkDevice, TunDevice, TunRead};
pub use engine::{Backlog, Engine, EngineConfig};
