//! The `network` step of `init-network` (not a cloud-init module: it runs whatever the
//! config's module lists say, per boot): [`crate::net`] over the boot's datasource, the
//! image's system config and the seed's `network-config`. Files are written under the
//! root; the renderer's reload commands run on a real boot only. The report goes to
//! `/run/strap/net.json` for `strap net show`. The MACs present at an instance's first
//! boot are kept in its folder (`net-launch-macs`), so that ENIs attached later can be
//! told apart (and left to a container network plugin).

use crate::boot::context::Boot;
use crate::net::{self, config, Action};

use super::{ModuleError, Outcome};

/// The file, in the instance folder, listing the MACs of the instance's first boot.
pub const LAUNCH_MACS: &str = "net-launch-macs";

/// Configure the network from the metadata.
pub fn network(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let shown = if boot.system.files.is_empty() {
        "the system config".to_string()
    } else {
        boot.system
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let invalid = |e: net::NetError| ModuleError::Invalid {
        key: "network".into(),
        message: e.to_string(),
    };
    if !boot.opts.network {
        return Ok(Outcome::Skipped(
            "a --local boot on this machine's own root does not configure its network (the embedded service's interfaces are not this machine's); add --root DIR to see the files".into(),
        ));
    }
    if boot.ctx.var("STRAP_NETWORK").as_deref() == Some("off") {
        return Ok(Outcome::Skipped("STRAP_NETWORK=off".into()));
    }
    let settings =
        config::settings(boot.system.node.as_ref(), &shown).map_err(|e| invalid(e.into()))?;
    if !settings.enabled {
        return Ok(Outcome::Skipped(
            "network configuration is disabled (network: {config: disabled} in the system config)"
                .into(),
        ));
    }
    let seed_doc = boot.source.network_config();
    let user = match &seed_doc {
        Some(bytes) => {
            let node =
                crate::cloudconfig::yaml::load_bytes(bytes).map_err(|e| ModuleError::Invalid {
                    key: "network".into(),
                    message: format!("the seed's network-config: line {}: {e}", e.mark().line),
                })?;
            config::user_config(Some(&node), "the seed's network-config")
                .map_err(|e| invalid(e.into()))?
        }
        None => None,
    };
    let user = match user {
        Some(u) => Some(u),
        None => config::user_config(
            boot.system.node.as_ref().and_then(|n| n.get("network")),
            &shown,
        )
        .map_err(|e| invalid(e.into()))?,
    };
    let source = boot.source;
    let fetch = |paths: &[String]| -> Vec<Result<Option<Vec<u8>>, String>> {
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        source
            .fetch(&refs)
            .into_iter()
            .map(|r| r.map_err(|e| crate::boot::records::error_chain(&e)))
            .collect()
    };
    let (enis, tagged) = if user.is_some() {
        (Vec::new(), Vec::new())
    } else {
        net::fetch_enis(
            &fetch,
            settings.unmanaged_tag.as_deref(),
            net::Depth::Boot {
                interface_id: settings.selects_by_interface_id(),
            },
        )
        .map_err(invalid)?
    };
    let launch_file = boot.instance_dir.join(LAUNCH_MACS);
    let launch: Option<Vec<String>> = std::fs::read_to_string(&launch_file).ok().map(|t| {
        t.lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    });
    if launch.is_none() && !enis.is_empty() {
        let macs: String = enis.iter().map(|(m, _)| format!("{m}\n")).collect();
        if let Err(e) = crate::boot::durable::write(
            &boot.paths.root,
            &launch_file,
            macs.as_bytes(),
            Some(0o644),
        ) {
            boot.warn(&format!(
                "network: cannot record the launch interfaces in {}: {e}",
                launch_file.display()
            ));
        }
    }
    let opts = net::Options {
        settings: &settings,
        user: user.as_ref(),
        launch_macs: launch.as_deref(),
        only: None,
        write: true,
    };
    let mut report = net::render_all(boot.ctx, enis, tagged, &opts).map_err(invalid)?;
    let mut tail = Vec::new();
    let mut failures = Vec::new();
    for cmd in report.commands.clone() {
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        match super::system::run_or_record(boot, "network", &argv, None) {
            Ok(Some(line)) => tail.push(line),
            Ok(None) => tail.push(format!("ran `{cmd}`")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    report.applied = boot.on_real_root() && failures.is_empty();
    report.problems.extend(failures.iter().cloned());
    for d in &report.interfaces {
        let line = format!(
            "{} {}: {:?}: {}",
            d.name.as_deref().unwrap_or("-"),
            d.mac.as_deref().unwrap_or("-"),
            d.action,
            d.reason
        );
        boot.log.line(
            if d.action == Action::Error {
                "WARNING"
            } else {
                "INFO"
            },
            &format!("network: {line}"),
        );
        tail.push(line);
    }
    for f in &report.files {
        tail.push(format!("{} {}", f.change, f.path));
    }
    save_report(boot, &report);
    let errors: Vec<String> = report
        .interfaces
        .iter()
        .filter(|d| d.action == Action::Error)
        .map(|d| d.reason.clone())
        .chain(failures)
        .collect();
    if !errors.is_empty() {
        return Err(ModuleError::Entries {
            attempted: report.interfaces.len() + report.commands.len(),
            failures: errors,
        });
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

fn save_report(boot: &mut Boot<'_>, report: &net::NetReport) {
    let path = boot.paths.run.join("net.json");
    let bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    if let Err(e) = crate::boot::durable::write(&boot.paths.root, &path, &bytes, Some(0o644)) {
        boot.warn(&format!("network: cannot write {}: {e}", path.display()));
    }
}
