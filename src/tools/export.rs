//! Output files: float32 `.npy` (NumPy format 1.0) and `.safetensors`, written atomically so
//! that an interrupted or failed run never leaves a partial file that looks complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where a product goes: a file, or standard output when the path is `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// A file, written beside itself and renamed into place when complete.
    File(PathBuf),
    /// Standard output.
    Stdout,
}

impl OutputTarget {
    /// `-` means standard output, anything else a file path.
    pub fn from_arg(arg: &Path) -> Self {
        if arg == Path::new("-") {
            OutputTarget::Stdout
        } else {
            OutputTarget::File(arg.to_path_buf())
        }
    }

    /// The name used in messages: the path, or `<stdout>`.
    pub fn display_path(&self) -> PathBuf {
        match self {
            OutputTarget::File(path) => path.clone(),
            OutputTarget::Stdout => PathBuf::from("<stdout>"),
        }
    }
}

/// The `.npy` header for a little-endian float32 C-order array of `shape`, padded so the data
/// starts on a 64-byte boundary as the format specification asks.
pub fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [single] => format!("({single},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = 6 + 2 + 2 + dict.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let mut header = Vec::with_capacity(unpadded + padding);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    header.extend_from_slice(&((dict.len() + padding + 1) as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

/// Write `data` as a float32 `.npy` of `shape`, atomically (temporary file, then rename).
pub fn write_npy(target: &OutputTarget, shape: &[usize], data: &[f32]) -> Result<()> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data length"
    );
    write_atomically(target, |out| {
        out.write_all(&npy_header(shape))?;
        write_f32(out, data)
    })
}

/// Run `write` against a temporary file beside the target and rename it into place only when it
/// succeeded; on stdout, write directly.
pub fn write_atomically(
    target: &OutputTarget,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = target.display_path();
    let write_error = |source| Error::WriteOutput {
        path: path.clone(),
        source,
    };
    match target {
        OutputTarget::Stdout => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)
                .and_then(|_| out.flush())
                .map_err(write_error)
        }
        OutputTarget::File(file_path) => {
            let dir = match file_path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let file_name = file_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temp = tempfile::Builder::new()
                .prefix(&format!(".{file_name}."))
                .suffix(".partial")
                .tempfile_in(&dir)
                .map_err(write_error)?;
            let mut out = std::io::BufWriter::new(temp);
            write(&mut out)
                .and_then(|_| out.flush())
                .map_err(write_error)?;
            let temp = out.into_inner().map_err(|e| write_error(e.into_error()))?;
            // tempfile creates 0600; outputs are ordinary files a user shares (umask-style 0644).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                temp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))
                    .map_err(write_error)?;
            }
            temp.as_file().sync_all().map_err(write_error)?;
            temp.persist(file_path).map_err(|e| write_error(e.error))?;
            Ok(())
        }
    }
}

/// The start of a safetensors file holding one float32 tensor `name` of `shape` with string
/// `metadata`: the 8-byte header length, then the JSON header padded with spaces to a multiple
/// of 8 (as the reference implementation writes it). The tensor's bytes follow; knowing the
/// shape up front is what lets `encode` stream windows into the file.
pub fn safetensors_header(
    name: &str,
    shape: &[usize],
    metadata: &std::collections::HashMap<String, String>,
) -> Vec<u8> {
    let bytes = 4 * shape.iter().product::<usize>();
    let mut header = serde_json::Map::new();
    let sorted: std::collections::BTreeMap<_, _> = metadata.iter().collect();
    header.insert("__metadata__".into(), serde_json::json!(sorted));
    header.insert(
        name.into(),
        serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [0, bytes]}),
    );
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

/// Write `data` as a float32 safetensors file holding one tensor `name` of `shape`, with
/// string `metadata` in the header (`__metadata__`), atomically.
pub fn write_safetensors(
    target: &OutputTarget,
    name: &str,
    shape: &[usize],
    data: &[f32],
    metadata: std::collections::HashMap<String, String>,
) -> Result<()> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data length"
    );
    write_atomically(target, |out| {
        out.write_all(&safetensors_header(name, shape, &metadata))?;
        write_f32(out, data)
    })
}

/// Little-endian float32 values, converted in blocks to bound the copy.
pub fn write_f32(out: &mut dyn Write, data: &[f32]) -> std::io::Result<()> {
    let mut block = Vec::with_capacity(64 * 1024);
    for chunk in data.chunks(16 * 1024) {
        block.clear();
        for v in chunk {
            block.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&block)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_byte_aligned_and_names_the_shape() {
        for shape in [vec![3usize], vec![2, 80, 3000], vec![1, 1500, 512]] {
            let header = npy_header(&shape);
            assert_eq!(header.len() % 64, 0);
            assert_eq!(&header[..6], b"\x93NUMPY");
            let text = String::from_utf8_lossy(&header[10..]);
            assert!(text.contains("'descr': '<f4'"));
            assert!(text.ends_with('\n'));
        }
        assert!(String::from_utf8_lossy(&npy_header(&[3])).contains("'shape': (3,)"));
        assert!(String::from_utf8_lossy(&npy_header(&[2, 80, 3000])).contains("(2, 80, 3000)"));
    }

    #[test]
    fn streamed_safetensors_parse_with_the_reference_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.safetensors");
        let data: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32 * 0.5).collect();
        let metadata = [("producer".to_string(), "test \"q\"".to_string())].into();
        write_safetensors(
            &OutputTarget::File(path.clone()),
            "embeddings",
            &[2, 3, 4],
            &data,
            metadata,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["producer"], "test \"q\"");
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("embeddings").unwrap();
        assert_eq!(t.shape(), [2, 3, 4]);
        let back: Vec<f32> = t
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(back, data);
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = OutputTarget::File(dir.path().join("out.npy"));
        let result = write_atomically(&target, |out| {
            out.write_all(b"half")?;
            Err(std::io::Error::other("interrupted"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
