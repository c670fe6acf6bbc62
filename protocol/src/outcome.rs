//! What a handler did with a message, for the one place that counts it.

use common::counters::DropReason;

/// What a handler did with a message: `Ok` (handled, whatever it sent),
/// or the reason it was dropped, which the caller counts.
pub type Handled = Result<(), DropReason>;
