//! Each peer's setup: its keys, configuration files and daemons on both
//! sides of the link, and the tunnel interfaces addressed.

use super::tunnel::*;
use super::{cpus, Peer, READY};
use benches::Error;
use std::path::PathBuf;
use std::time::Duration;

/// wireguard-go or boringtun on both sides, configured through their
/// control sockets with `wg`.
pub(super) fn setup_wireguard(peer: Peer, t: &mut Tunnel) -> Result<(), Error> {
    let prefix = if peer == Peer::WireguardGo {
        "wg"
    } else {
        "bt"
    };
    let mut keys = Vec::new();
    for side in [&SERVER, &CLIENT] {
        let private = piped(&["wg", "genkey"], "")?;
        let public = piped(&["wg", "pubkey"], &private)?;
        let file = t.file(&format!("wg{}.key", side.tag));
        write(&file, &private)?;
        keys.push((file, public));
    }
    let threads = cpus().to_string();
    for (i, side) in [&SERVER, &CLIENT].into_iter().enumerate() {
        let iface = t.iface(prefix, side);
        let socket = PathBuf::from(format!("/var/run/wireguard/{iface}.sock"));
        t.sockets.push(socket.clone());
        if peer == Peer::WireguardGo {
            t.spawn(side, &["wireguard-go", "-f", &iface])?;
        } else {
            t.spawn(
                side,
                &[
                    "boringtun-cli",
                    "--foreground",
                    "--disable-drop-privileges",
                    "--threads",
                    &threads,
                    &iface,
                ],
            )?;
        }
        t.wait_for("control socket", Duration::from_secs(10), |_| {
            socket.exists()
        })?;
        let (far, far_side) = (&keys[1 - i].1, if i == 0 { &CLIENT } else { &SERVER });
        let ns = t.ns(side);
        run_ok(
            &ns,
            &[
                "wg",
                "set",
                &iface,
                "private-key",
                &path_str(&keys[i].0),
                "listen-port",
                "51820",
                "peer",
                far,
                "allowed-ips",
                &format!("{}/32", far_side.tunnel),
                "endpoint",
                &format!("{}:51820", far_side.radio),
            ],
        )?;
        t.address(side, &iface, peer.mtu())?;
    }
    Ok(())
}

/// fastd in TUN mode, one peer each.
pub(super) fn setup_fastd(peer: Peer, t: &mut Tunnel) -> Result<(), Error> {
    let method = if peer == Peer::FastdNull {
        "null"
    } else {
        "salsa2012+umac"
    };
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = piped(&["fastd", "--generate-key"], "")?;
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .ok_or_else(|| Error::Output {
                    cmd: "fastd --generate-key".into(),
                    why: format!("no {k} in its output"),
                })
        };
        keys.push((get("Secret:")?, get("Public:")?));
    }
    for (i, side) in [&SERVER, &CLIENT].into_iter().enumerate() {
        let iface = t.iface("fd", side);
        let far = if i == 0 { &CLIENT } else { &SERVER };
        let conf = format!(
            "log level warn;\nmode tun;\ninterface \"{iface}\";\nmethod \"{method}\";\nbind {}:10000;\nsecret \"{}\";\nmtu {};\npeer \"far\" {{\n  key \"{}\";\n  remote {}:10000;\n}}\n",
            side.radio, keys[i].0, peer.mtu(), keys[1 - i].1, far.radio
        );
        let file = t.file(&format!("fastd{}.conf", side.tag));
        write(&file, &conf)?;
        t.spawn(side, &["fastd", "-c", &path_str(&file)])?;
        t.address(side, &iface, peer.mtu())?;
    }
    Ok(())
}

/// tinc 1.0 in router mode, the client connecting to the server.
pub(super) fn setup_tinc(peer: Peer, t: &mut Tunnel) -> Result<(), Error> {
    let crypto = if peer == Peer::TincNone {
        "Cipher = none\nDigest = none\n"
    } else {
        ""
    };
    let dirs: Vec<PathBuf> = [&SERVER, &CLIENT]
        .iter()
        .map(|s| t.file(&format!("tinc{}", s.tag)))
        .collect();
    let mut hosts = Vec::new();
    for (i, side) in [&SERVER, &CLIENT].into_iter().enumerate() {
        let d = &dirs[i];
        std::fs::create_dir_all(d.join("hosts")).map_err(Error::io(d.display().to_string()))?;
        let connect = if i == 1 { "ConnectTo = s\n" } else { "" };
        // Told its MTU like the other peers (the interface's), not probing
        // for it: while tinc 1.0 probes, it sends packets above the MTU
        // found so far over its TCP connection, and the run would measure
        // TCP in TCP for a while.
        let conf = format!(
            "Name = {}\nMode = router\nDeviceType = tun\nInterface = {}\nAddressFamily = ipv4\nBindToAddress = {}\nPMTUDiscovery = no\n{connect}",
            side.tag, t.iface("tc", side), side.radio
        );
        write(&d.join("tinc.conf"), &conf)?;
        let host = d.join("hosts").join(side.tag.to_string());
        write(
            &host,
            &format!(
                "Address = {}\nSubnet = {}/32\n{crypto}",
                side.radio, side.tunnel
            ),
        )?;
        // -K asks where to put each key; the answers are the defaults.
        piped(&["tincd", "-c", &path_str(d), "-K"], "\n\n\n")?;
        hosts.push(std::fs::read_to_string(&host).map_err(Error::io(host.display().to_string()))?);
    }
    for (i, side) in [&SERVER, &CLIENT].into_iter().enumerate() {
        let far = if i == 0 { &CLIENT } else { &SERVER };
        write(
            &dirs[i].join("hosts").join(far.tag.to_string()),
            &hosts[1 - i],
        )?;
        let pid = path_str(&dirs[i].join("tinc.pid"));
        // -d1 logs the meta connection, which the first packet must not
        // precede (its key request would be lost and retried only after
        // 10 s).
        t.spawn(
            side,
            &[
                "tincd",
                "-c",
                &path_str(&dirs[i]),
                "-D",
                "-d1",
                "--pidfile",
                &pid,
            ],
        )?;
        let iface = t.iface("tc", side);
        t.address(side, &iface, peer.mtu())?;
    }
    let log = t.logs[t.logs.len() - 1].clone();
    t.wait_for("tinc's meta connection", READY, |_| {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("activated"))
    })?;
    Ok(())
}

/// A throwaway CA and a certificate each for the openvpn server and client.
pub(super) fn make_certs(t: &Tunnel) -> Result<(), Error> {
    let p = |n: &str| path_str(&t.file(n));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["openssl", "req", "-x509"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (p("ca.key"), p("ca.crt"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_crt,
        "-days",
        "2",
        "-subj",
        "/CN=bench-ca",
    ]);
    piped(&ca, "")?;
    for n in ["s", "c"] {
        let (key, csr, crt) = (
            p(&format!("{n}.key")),
            p(&format!("{n}.csr")),
            p(&format!("{n}.crt")),
        );
        let subj = format!("/CN=bench-{n}");
        let mut req = vec!["openssl", "req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        piped(&req, "")?;
        piped(
            &[
                "openssl",
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
            ],
            "",
        )?;
    }
    Ok(())
}

/// openvpn point-to-point over UDP with TLS; it sets its interfaces'
/// addresses and MTU itself.
pub(super) fn setup_openvpn(peer: Peer, t: &mut Tunnel) -> Result<(), Error> {
    make_certs(t)?;
    let (ciphers, auth) = if peer == Peer::OpenvpnNone {
        ("none", " --auth none")
    } else {
        ("AES-256-GCM", "")
    };
    let mtu = peer.mtu();
    let dir = path_str(&t.net.tb.dir);
    for (i, side) in [&SERVER, &CLIENT].into_iter().enumerate() {
        let (far, role) = if i == 0 {
            (&CLIENT, "tls-server")
        } else {
            (&SERVER, "tls-client")
        };
        let iface = t.iface("ov", side);
        let n = side.tag;
        // The testbed's directory has no spaces: the words split cleanly.
        let args = format!(
            "openvpn --dev {iface} --dev-type tun --proto udp --local {} --lport 1194 \
             --remote {} 1194 --ifconfig {} {} --{role} --dh none --ca {dir}/ca.crt \
             --cert {dir}/{n}.crt --key {dir}/{n}.key --data-ciphers {ciphers}{auth} \
             --allow-compression no --disable-dco --tun-mtu {mtu} --mssfix 0 \
             --reneg-bytes 0 --verb 3",
            side.radio, far.radio, side.tunnel, far.tunnel
        );
        let args: Vec<&str> = args.split_whitespace().collect();
        t.spawn(side, &args)?;
        t.ifaces.push(iface);
    }
    Ok(())
}
