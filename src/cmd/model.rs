//! `npu-whisper model fetch|list|rm`: the model caches, through the library's `hub`.

use serde_json::json;

use super::SCHEMA_VERSION;
use crate::cli::{GlobalArgs, ModelAction, ModelArgs};
use crate::error::Result;
use crate::hub::progress::{for_stderr, human_bytes};
use crate::hub::{self, CachedModel, ModelRef, Needs, Settings};

pub fn run(args: &ModelArgs, global: &GlobalArgs) -> Result<()> {
    let settings = Settings::from_env(global.offline);
    let progress = for_stderr(global.quiet || global.json);
    match &args.action {
        ModelAction::Fetch(fetch) => {
            let mut fetched = Vec::new();
            for name in &fetch.names {
                let model = ModelRef::parse(name)?;
                // Everything the repository has is fetched; a model without a tokenizer can
                // still encode (the fetch says so).
                let needs = Needs::Encoder;
                let (path, already) =
                    match hub::locate_from(&settings, &model, needs, fetch.source.into()) {
                        Some(path) => (path, true),
                        None => (
                            hub::fetch(
                                &settings,
                                &model,
                                needs,
                                fetch.source.into(),
                                progress.as_ref(),
                            )?,
                            false,
                        ),
                    };
                fetched.push((model.display_name(), path, already));
            }
            if global.json {
                let items: Vec<_> = fetched
                    .iter()
                    .map(|(name, path, already)| {
                        json!({"name": name, "path": path, "already_cached": already})
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"schema_version": SCHEMA_VERSION, "fetched": items})
                );
            } else if !global.quiet {
                for (name, path, already) in fetched {
                    let state = if already { "cached" } else { "fetched" };
                    println!("{state:8} {name} -> {}", path.display());
                }
            }
        }
        ModelAction::List => print_models(&hub::list(&settings), global),
        ModelAction::Rm(rm) => {
            let mut removed = Vec::new();
            for name in &rm.names {
                removed.extend(hub::remove(
                    &settings,
                    &ModelRef::parse_cached(name)?,
                    progress.as_ref(),
                )?);
            }
            if global.json {
                println!(
                    "{}",
                    json!({"schema_version": SCHEMA_VERSION, "removed": removed})
                );
            } else if !global.quiet {
                for m in removed {
                    println!(
                        "removed  {} ({}, {}) {}",
                        m.name,
                        m.source,
                        human_bytes(m.bytes),
                        m.path.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// The `model list` table (or JSON).
fn print_models(models: &[CachedModel], global: &GlobalArgs) {
    if global.json {
        println!(
            "{}",
            json!({"schema_version": SCHEMA_VERSION, "models": models})
        );
        return;
    }
    if models.is_empty() {
        println!("no cached models (fetch one with `npu-whisper model fetch base`)");
        return;
    }
    let rows: Vec<[String; 6]> = models
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                match &m.repo {
                    Some(repo) if *repo != m.name => format!("{} {repo}", m.source),
                    _ => m.source.clone(),
                },
                m.revision.clone(),
                human_bytes(m.bytes),
                m.dims.clone().unwrap_or_else(|| "-".into()),
                m.path.display().to_string(),
            ]
        })
        .collect();
    let header = ["name", "source", "revision", "size", "dims", "where"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 5 {
                    cell.clone()
                } else {
                    format!("{cell:w$}")
                }
            })
            .collect();
        println!("{}", line.join("  "));
    }
}
