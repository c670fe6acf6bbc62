//! `v2xd-man DIR [DATE]`: writes the man pages of `obu` and `rsu` into DIR,
//! generated from their command-line definitions (node_lib::cli): one page
//! in section 8 per command and subcommand (obu.8, obu-show.8, obu-keygen.8,
//! rsu.8, …), dated DATE (YYYY-MM-DD). scripts/package.sh runs it for the
//! Debian package, with the date of the last commit.

use clap_mangen::Man;
use node_lib::config::RoleKind;
use std::io::Write;
use std::path::Path;

const SECTION: &str = "8";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, date) = match args.as_slice() {
        [dir] => (Path::new(dir), ""),
        [dir, date] => (Path::new(dir), date.as_str()),
        _ => {
            eprintln!("usage: v2xd-man DIR [DATE]");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| write_all(dir, date)) {
        eprintln!("error: {}: {e}", dir.display());
        std::process::exit(1);
    }
}

/// Writes every page and prints its path.
fn write_all(dir: &Path, date: &str) -> std::io::Result<()> {
    for kind in [RoleKind::Obu, RoleKind::Rsu] {
        for (name, text) in render(kind, date)? {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// The role's pages, as (file name, contents).
fn render(kind: RoleKind, date: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let role = kind.as_str();
    let mut cmd = node_lib::cli::command(kind)
        .about(summary(kind))
        .long_about(description(kind))
        .disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    let man = page(cmd.clone(), date);
    let mut text = Vec::new();
    man.render_title(&mut text)?;
    man.render_name_section(&mut text)?;
    man.render_synopsis_section(&mut text)?;
    man.render_description_section(&mut text)?;
    man.render_options_section(&mut text)?;
    man.render_subcommands_section(&mut text)?;
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let names: Vec<&str> = subs.iter().map(|s| s.get_name()).collect();
    text.write_all(root_sections(kind, &names).as_bytes())?;
    man.render_version_section(&mut text)?;
    out.push((man.get_filename(), text));
    for sub in &subs {
        let man = page((*sub).clone(), date);
        let mut text = Vec::new();
        man.render(&mut text)?;
        // SEE ALSO: the main page and the other subcommands' pages.
        let mut see = vec![format!(".BR {role} (8)")];
        see.extend(
            subs.iter()
                .filter(|s| s.get_name() != sub.get_name())
                .map(|s| format!(".BR {role}\\-{} (8)", s.get_name())),
        );
        write!(text, ".SH \"SEE ALSO\"\n{}\n", see.join(",\n"))?;
        out.push((man.get_filename(), text));
    }
    Ok(out)
}

fn page(cmd: clap::Command, date: &str) -> Man {
    Man::new(cmd)
        .section(SECTION)
        .date(date)
        .manual("v2xd")
        .source(format!("v2xd {}", env!("CARGO_PKG_VERSION")))
}

/// The NAME line's text.
fn summary(kind: RoleKind) -> &'static str {
    match kind {
        RoleKind::Obu => {
            "v2xd on-board unit (vehicle) daemon: IP over a multi-hop V2X radio network"
        }
        RoleKind::Rsu => {
            "v2xd roadside unit (gateway) daemon: IP over a multi-hop V2X radio network"
        }
    }
}

/// The DESCRIPTION section's text.
fn description(kind: RoleKind) -> String {
    let what = match kind {
        RoleKind::Obu => {
            "obu is the on-board unit (vehicle) daemon of v2xd. It finds the best \
             roadside unit (RSU), directly or through relaying OBUs, attaches to it \
             and routes the vehicle's IP traffic there."
        }
        RoleKind::Rsu => {
            "rsu is the roadside unit (gateway) daemon of v2xd. It beacons on the \
             radio, accepts the OBUs that attach to it, directly or through relaying \
             OBUs, and joins their traffic to the host's routing; with [backbone] \
             export_routes it exports a kernel route per attached vehicle for BIRD."
        }
    };
    format!(
        "{what}\n\n\
         It moves IP packets between a TUN device and a raw socket on the radio \
         interface (802.11p/OCB, or any Ethernet-like interface). It runs in the \
         foreground, logs to stderr and reads /etc/v2xd/{role}.toml unless \
         --config is given. With [security] mode = \"encrypted\" (the shipped \
         configuration) it needs a key file: make it first, with {role} keygen \
         /etc/v2xd/{role}.key.",
        role = kind.as_str()
    )
}

/// EXIT STATUS, SIGNALS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO of the
/// role's main page, in roff.
fn root_sections(kind: RoleKind, subcommands: &[&str]) -> String {
    let role = kind.as_str();
    let see: String = subcommands
        .iter()
        .map(|s| format!(".BR {role}\\-{s} (8),\n"))
        .collect();
    let other = match kind {
        RoleKind::Obu => "rsu",
        RoleKind::Rsu => "obu",
    };
    let bird = match kind {
        RoleKind::Obu => "",
        RoleKind::Rsu => {
            ".TP\n.I /usr/share/doc/v2xd/examples/bird/\n\
             Example BIRD 2 configurations for several RSUs joined by an IP backbone.\n"
        }
    };
    format!(
        ".SH \"EXIT STATUS\"\n\
         .TP\n.B 0\n\
         Stopped cleanly by SIGTERM or SIGINT; \\-\\-check\\-config found the file valid; \
         a subcommand succeeded.\n\
         .TP\n.B 1\n\
         Internal failure, such as a failed data plane (systemd restarts the unit), \
         or \\fBkeygen\\fR could not write the key.\n\
         .TP\n.B 69\n\
         A device or address could not be used: the radio interface is missing or \
         cannot be opened, the TUN device cannot be created, the API address cannot \
         be bound, or \\fBshow\\fR cannot reach the daemon.\n\
         .TP\n.B 78\n\
         A configuration error, with the key named: the file is unreadable, not valid \
         TOML, has an unknown or missing key or a value out of range, or the key file \
         is missing, unreadable or readable by others.\n\
         .SH SIGNALS\n\
         .TP\n.BR SIGTERM \", \" SIGINT\n\
         Clean stop; the TUN device is removed.\n\
         .TP\n.B SIGHUP\n\
         Re\\-read the configuration file (\\fBsystemctl reload {role}\\fR). Changes that \
         need a restart are logged and not applied; an invalid file is rejected and \
         the running configuration kept.\n\
         .SH ENVIRONMENT\n\
         .TP\n.B V2XD_DISABLE_BATCHING=1\n\
         One system call per packet everywhere, as batching.enabled = false.\n\
         .SH FILES\n\
         .TP\n.I /etc/v2xd/{role}.toml\n\
         The configuration; every key is documented in OPERATIONS.md.\n\
         .TP\n.IR /etc/v2xd/{role}.key \", \" /etc/v2xd/{role}.key.pub\n\
         This node's identity (security.key_file), made by \\fB{role} keygen\\fR.\n\
         .TP\n.I /usr/lib/systemd/system/{role}.service\n\
         The systemd unit (installed disabled).\n\
         {bird}\
         .TP\n.I /usr/share/doc/v2xd/\n\
         OPERATIONS.md (configuration, API, troubleshooting), SECURITY.md, PROTOCOL.md.\n\
         .SH EXAMPLES\n\
         .nf\n\
         {role} keygen /etc/v2xd/{role}.key\n\
         {role} \\-\\-check\\-config\n\
         systemctl enable \\-\\-now {role}\n\
         {role} show routes\n\
         .fi\n\
         .SH \"SEE ALSO\"\n\
         {see}\
         .BR {other} (8),\n\
         .BR systemctl (1)\n"
    )
}
