//! The inputs of a batch `encode`: files and directories expanded to audio files in a stable
//! order, an optional shard of them, and the output path of each under `-o DIR/`.

use std::path::{Path, PathBuf};

use crate::audio::AudioSource;
use crate::{Error, Result};

/// File extensions taken from directories (any file named explicitly is tried whatever its name).
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "mp3", "flac", "ogg", "oga"];

/// One input and the name of its output relative to the output directory, without extension.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub source: AudioSource,
    pub output_stem: PathBuf,
}

/// Expand the command-line inputs: files as given (in order), directories as their audio files
/// sorted by path (with `recursive`, the whole tree; its structure is kept in `output_stem`).
pub fn expand(args: &[PathBuf], recursive: bool) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == Path::new("-") {
            inputs.push(Input {
                source: AudioSource::Stdin,
                output_stem: PathBuf::from("stdin"),
            });
        } else if arg.is_dir() {
            let mut found = Vec::new();
            walk(arg, recursive, &mut found)?;
            found.sort();
            for path in found {
                let relative = path.strip_prefix(arg).unwrap_or(&path).with_extension("");
                inputs.push(Input {
                    source: AudioSource::File(path),
                    output_stem: relative,
                });
            }
        } else {
            let stem = arg.file_stem().map(PathBuf::from).unwrap_or_default();
            inputs.push(Input {
                source: AudioSource::File(arg.clone()),
                output_stem: stem,
            });
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, recursive: bool, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadInput {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::ReadInput {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            if recursive {
                walk(&path, recursive, found)?;
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Shard `i` of `n`: the inputs whose position in path order is `i` mod `n`. Sorting first makes
/// the split the same on every machine whatever order the arguments came in.
pub fn shard(mut inputs: Vec<Input>, shard: Option<(usize, usize)>) -> Vec<Input> {
    let Some((i, n)) = shard else {
        return inputs;
    };
    inputs.sort_by(|a, b| {
        a.source
            .display_path()
            .cmp(&b.source.display_path())
            .then_with(|| a.output_stem.cmp(&b.output_stem))
    });
    inputs
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k % n == i)
        .map(|(_, input)| input)
        .collect()
}

/// `-o` when it names a directory (an existing one, or a path ending in `/`): one output per
/// input goes there.
pub fn output_dir(output: Option<&Path>) -> Option<&Path> {
    output.filter(|o| o.is_dir() || o.as_os_str().to_string_lossy().ends_with('/'))
}

/// The output path of every input under `dir`; two inputs mapping to one output is a usage
/// error found before any work starts.
pub fn output_paths(inputs: &[Input], dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let mut seen = std::collections::HashMap::new();
    let mut paths = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut name = input.output_stem.clone().into_os_string();
        name.push(".");
        name.push(extension);
        let path = dir.join(name);
        if let Some(other) = seen.insert(path.clone(), input.source.display_path()) {
            return Err(Error::Usage(format!(
                "{} and {} would both be written to {}; encode them into different directories",
                other.display(),
                input.source.display_path().display(),
                path.display()
            )));
        }
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Input {
        Input {
            source: AudioSource::File(PathBuf::from(name)),
            output_stem: PathBuf::from(Path::new(name).file_stem().unwrap()),
        }
    }

    #[test]
    fn shards_partition_the_inputs_whatever_their_order() {
        let names: Vec<String> = (0..10).map(|i| format!("f{i}.wav")).collect();
        let forward: Vec<Input> = names.iter().map(|n| file(n)).collect();
        let backward: Vec<Input> = names.iter().rev().map(|n| file(n)).collect();
        let mut all = Vec::new();
        for i in 0..3 {
            let a = shard(forward.clone(), Some((i, 3)));
            assert_eq!(a, shard(backward.clone(), Some((i, 3))));
            all.extend(a);
        }
        all.sort_by_key(|x| x.source.display_path());
        let mut want = forward.clone();
        want.sort_by_key(|x| x.source.display_path());
        assert_eq!(all, want);
    }

    #[test]
    fn directories_expand_to_sorted_audio_files_and_mirror_their_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.wav", "a.MP3", "notes.txt", "sub/c.flac"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let flat = expand(&[dir.path().to_path_buf()], false).unwrap();
        let stems: Vec<_> = flat.iter().map(|i| i.output_stem.clone()).collect();
        assert_eq!(stems, [PathBuf::from("a"), PathBuf::from("b")]);
        let deep = expand(&[dir.path().to_path_buf()], true).unwrap();
        assert_eq!(deep.len(), 3);
        assert_eq!(deep[2].output_stem, PathBuf::from("sub/c"));
        let out = output_paths(&deep, Path::new("out"), "npy").unwrap();
        assert_eq!(out[2], PathBuf::from("out/sub/c.npy"));
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused() {
        let err = output_paths(&[file("x/a.wav"), file("y/a.mp3")], Path::new("o"), "npy")
            .unwrap_err()
            .to_string();
        assert!(err.contains("would both be written to o/a.npy"), "{err}");
    }
}
