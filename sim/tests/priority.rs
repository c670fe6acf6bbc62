//! Priority classes on a full channel: the data path sends the higher
//! classes first, and it keeps the radio's queue (the kernel's, a FIFO)
//! short through the bounded bulk lane, so that the order it chose holds
//! on the air. The RSU's radio here carries 1 500 bytes a millisecond
//! (12 Mbit/s) from a queue both lanes share, as a real radio's does.

use common::counters::DropReason;
use common::priority::Class;
use sim::devices::Radio;
use sim::{addr, ipv4_packet, Sim};
use std::time::Duration;

const RSU: usize = 0;
const OBU: usize = 1;
/// 12 Mbit/s.
const BYTES_PER_MS: usize = 1_500;
/// The daemons' default `[link] bulk_queue_bytes`.
const BULK_LIMIT: usize = 4_608;

/// A UDP packet from the RSU to the OBU with DSCP `dscp`, marked `marker`
/// in its first payload byte.
fn packet(dscp: u8, marker: u8, extra: usize) -> Vec<u8> {
    let mut p = ipv4_packet(addr(RSU), addr(OBU), marker, extra);
    p[1] = dscp << 2;
    p
}

/// An attached pair whose RSU radio has the channel's rate and `limit`
/// bytes of bulk lane (`usize::MAX`: unbounded, one FIFO for all).
fn pair_on_channel(limit: usize) -> Sim {
    let mut s = Sim::attached_pair(None);
    s.nodes[RSU].engine.link.radio = Some(Radio::new(BYTES_PER_MS, limit));
    s
}

/// Milliseconds until the OBU's TUN got a packet marked with each of
/// `markers` (`None`: not within `limit_ms`).
fn delivery_ms<const N: usize>(s: &mut Sim, markers: [u8; N], limit_ms: u64) -> [Option<u64>; N] {
    let mut at = [None; N];
    for ms in 0..=limit_ms {
        for (k, m) in markers.iter().enumerate() {
            let seen = s.nodes[OBU]
                .tun_out
                .iter()
                .any(|p| p.len() > 20 && p[20] == *m);
            if at[k].is_none() && seen {
                at[k] = Some(ms);
            }
        }
        if at.iter().all(Option::is_some) {
            break;
        }
        s.run_for(Duration::from_millis(1));
    }
    at
}

/// Bulk (best effort) far beyond the channel's rate, then a safety
/// message (EF, 1 000 bytes: too big to pass as a small packet) and a
/// ping-sized EF packet. With the bulk lane bounded both arrive within a
/// few milliseconds, bulk beyond the queue is shed and counted (none is
/// lost silently), and the radio's queue stays near the bound; with one
/// unbounded FIFO they wait behind everything queued before them.
#[test]
fn voice_passes_a_full_channel_of_bulk_only_with_the_bulk_lane_bounded() {
    for (limit, bounded) in [(BULK_LIMIT, true), (usize::MAX, false)] {
        let mut s = pair_on_channel(limit);
        let bulk: Vec<Vec<u8>> = (0..200).map(|_| packet(0, 1, 1_380)).collect();
        s.send_ips(RSU, &bulk);
        s.run_for(Duration::from_millis(20));
        s.send_ips(RSU, &[packet(46, 0xee, 1_000), packet(46, 0xef, 180)]);
        let [big, small] = delivery_ms(&mut s, [0xee, 0xef], 400);
        s.run_for(Duration::from_millis(400));
        let delivered = s.nodes[OBU].tun_out.iter().filter(|p| p[20] == 1).count();
        let counters = &s.nodes[RSU].counters;
        let shed = counters.drops(DropReason::Shed) as usize;
        let peak = s.nodes[RSU].engine.link.radio.as_ref().unwrap().peak_queued;
        if bounded {
            assert!(big.is_some_and(|ms| ms <= 5), "voice after {big:?} ms");
            assert!(small.is_some_and(|ms| ms <= 5), "ping after {small:?} ms");
            assert!(shed > 0, "bulk beyond the queue is shed");
            assert_eq!(
                delivered + shed,
                200,
                "every bulk packet delivered or counted"
            );
            // The bound, plus one frame that started below it, plus voice.
            assert!(
                peak <= BULK_LIMIT + 2 * 1_500 + 1_100,
                "radio queue peaked at {peak}"
            );
            let voice = counters.class_tx_packets[Class::Voice.index()]
                .load(std::sync::atomic::Ordering::Relaxed);
            assert!(voice >= 2, "voice counted: {voice}");
        } else {
            // Everything read before the voice packets is ahead of them in
            // the radio's one queue: at least the 64 packets the data
            // path holds, 60 ms of channel.
            assert!(big.is_none_or(|ms| ms > 50), "voice after {big:?} ms");
            assert!(small.is_none_or(|ms| ms > 50), "ping after {small:?} ms");
            assert_eq!(shed, 0);
            assert!(peak > 50 * 1_400, "radio queue peaked at {peak}");
        }
    }
}

/// Bulk of three classes read together leaves by class: video, then best
/// effort, then background, each in its own order; bulk still fills the
/// channel (the radio never idles while bulk waits).
#[test]
fn bulk_leaves_by_class_and_still_fills_the_channel() {
    let mut s = pair_on_channel(BULK_LIMIT);
    let mut packets = Vec::new();
    for k in 0..10u8 {
        packets.push(packet(8, 30 + k, 1_380)); // background (CS1)
        packets.push(packet(0, 10 + k, 1_380)); // best effort
        packets.push(packet(34, 50 + k, 1_380)); // video (AF41)
    }
    s.send_ips(RSU, &packets);
    let start = s.nodes[OBU].tun_out.len();
    let took = s.run_until(Duration::from_millis(200), |s| {
        s.nodes[OBU].tun_out.len() >= start + 30
    });
    let markers: Vec<u8> = s.nodes[OBU].tun_out[start..]
        .iter()
        .map(|p| p[20])
        .collect();
    let want: Vec<u8> = (50..60).chain(10..20).chain(30..40).collect();
    assert_eq!(markers, want, "video, best effort, background");
    // 30 frames of about 1 430 bytes at 1 500 a millisecond: 29 ms if the
    // radio never waits; a few more for the air's own millisecond.
    let took = took.expect("all delivered").as_millis();
    assert!(took <= 35, "the channel idled: {took} ms for 30 frames");
}
