//! `npu-whisper model fetch|list|rm`: the model caches, through the library's `ModelCache`.

use serde_json::json;

use super::SCHEMA_VERSION;
use crate::cli::{GlobalArgs, ModelAction, ModelArgs};
use crate::progress::stderr_progress;
use crate::tools::human_bytes;
use crate::{CachedModel, ModelCache, Result};

pub fn run(args: &ModelArgs, global: &GlobalArgs) -> Result<()> {
    let cache = ModelCache::from_env(global.offline);
    let progress = stderr_progress(global.quiet || global.json);
    match &args.action {
        ModelAction::Fetch(fetch) => {
            let mut fetched = Vec::new();
            for name in &fetch.names {
                let done = cache
                    .fetch(name, fetch.source.into(), progress.as_ref())
                    .map_err(|e| match e.kind() {
                        crate::ErrorKind::Usage if std::path::Path::new(name).exists() => {
                            crate::Error::Usage(format!(
                                "{name} is a path, not a model name: `model fetch` takes names \
                                 (base, large-v3-turbo, org/name); to use a model directory, \
                                 give it as --model PATH"
                            ))
                        }
                        _ => e,
                    })?;
                fetched.push((done.name, done.path, done.already_cached));
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
        ModelAction::List => print_models(&cache.list(), global),
        ModelAction::Rm(rm) => {
            let mut removed = Vec::new();
            for name in &rm.names {
                removed.extend(cache.remove(name, progress.as_ref())?);
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
