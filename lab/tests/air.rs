//! The radio model in a real kernel: the lab's nftables table on a
//! testbed's air bridge, frames sent from one node's radio and counted on
//! another's. Needs root (SKIPPED without).

use lab::air::{change_script, AirRules, Radios};
use lab::radio::LinkChange;
use std::time::Duration;
use testbed::{Testbed, Topology};

/// `n` frames of our EtherType from node 0 to `dst`; how many node 1 saw.
fn delivered(tb: &Testbed, dst: &str, n: usize) -> usize {
    let mut frame = testbed::mac_bytes(dst).to_vec();
    frame.extend_from_slice(&testbed::mac_bytes(&tb.nodes[0].mac));
    frame.extend_from_slice(&[0x88, 0xb5]);
    frame.extend_from_slice(&[0u8; 60]);
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut f = frame.clone();
            f[20..24].copy_from_slice(&(i as u32).to_be_bytes());
            f
        })
        .collect();
    // Paced: a burst of a thousand would overflow the capturing socket
    // and count as loss that the radio did not cause.
    let cap = tb.capture(1, Duration::from_millis(200 + n as u64 + 500));
    std::thread::sleep(Duration::from_millis(200));
    for chunk in frames.chunks(50) {
        assert_eq!(tb.raw_send(0, chunk).unwrap(), chunk.len());
        std::thread::sleep(Duration::from_millis(20));
    }
    cap.join().unwrap().unwrap().len()
}

fn set(rules: &AirRules, ports: &Radios, was: Option<u8>, now: Option<u8>) {
    let s = change_script(
        &[LinkChange {
            a: 0,
            b: 1,
            was,
            now,
        }],
        ports,
    );
    rules.apply(&s).unwrap();
}

#[test]
fn pairs_hear_each_other_as_the_map_says_with_fewer_unicasts_lost() {
    testbed::require_testbed!();
    let mut topo = Topology::new();
    topo.node("a", testbed::Role::Obu);
    topo.node("b", testbed::Role::Obu);
    let tb = Testbed::new(&topo);
    tb.hub_mode();
    let ports = Radios {
        mac: tb.nodes.iter().map(|n| n.mac.clone()).collect(),
        port: tb.nodes.iter().map(|n| n.port.clone()).collect(),
        local: vec![true; 2],
    };
    let rules = AirRules::start(&tb.air).unwrap();
    let bcast = "ff:ff:ff:ff:ff:ff";
    let unicast = tb.nodes[1].mac.clone();
    // Not in the map: nobody hears anybody.
    assert_eq!(delivered(&tb, bcast, 200), 0);
    set(&rules, &ports, None, Some(0));
    assert_eq!(delivered(&tb, bcast, 200), 200);
    assert_eq!(delivered(&tb, &unicast, 1000), 1000);
    // 50 % on the ramp: half the broadcasts, 0.5^8 = 0.4 % of unicasts.
    set(&rules, &ports, Some(0), Some(50));
    let b = delivered(&tb, bcast, 1000);
    assert!(
        (380..=620).contains(&b),
        "broadcasts through at 50 %: {b} of 1000"
    );
    let u = delivered(&tb, &unicast, 1000);
    assert!(u >= 970, "unicasts through at 50 %: {u} of 1000");
    // 90 %: a tenth of broadcasts, 57 % of unicasts.
    set(&rules, &ports, Some(50), Some(90));
    let b = delivered(&tb, bcast, 1000);
    assert!(
        (50..=160).contains(&b),
        "broadcasts through at 90 %: {b} of 1000"
    );
    let u = delivered(&tb, &unicast, 1000);
    assert!(
        (470..=680).contains(&u),
        "unicasts through at 90 %: {u} of 1000"
    );
    // Out of range again.
    set(&rules, &ports, Some(90), None);
    assert_eq!(delivered(&tb, bcast, 200), 0);
    // A transaction that does not fit the map's state fails as a whole,
    // with nft's reason.
    let e = rules
        .apply(&change_script(
            &[LinkChange {
                a: 0,
                b: 1,
                was: Some(0),
                now: None,
            }],
            &ports,
        ))
        .unwrap_err();
    // Typed: the command that failed and what it said.
    assert!(
        matches!(&e, lab::Error::Command { cmd, stderr } if cmd.starts_with("nft") && !stderr.is_empty()),
        "{e}"
    );
}
