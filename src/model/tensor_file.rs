//! Memory-mapped safetensors reading: one file, or the shards a `model.safetensors.index.json`
//! lists; tensors located by role under any naming convention, with shape, dtype and
//! finiteness checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensors};

use super::float::{FloatFormat, to_f32};
use super::names::TensorRole;
use super::tensor::{StoredTensor, Tensor};
use crate::error::{Error, Result};

/// The index file of a model stored in several safetensors files.
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// One mapped safetensors file.
struct Shard {
    path: PathBuf,
    map: Arc<memmap2::Mmap>,
    /// Byte offset of the data section.
    data_start: usize,
}

/// An open model: one safetensors file or several shards. The mappings live as long as this
/// value (and as long as any `Tensor` or `F16Data` taken from it).
pub struct TensorFile {
    /// The file named when opening: the safetensors file or the shard index.
    path: PathBuf,
    shards: Vec<Shard>,
    /// Name -> (shard, header entry).
    tensors: HashMap<String, (usize, TensorInfo)>,
}

/// A located tensor: its name, the shard it is in, its format and bytes.
struct Located<'a> {
    name: &'a str,
    shard: &'a Shard,
    format: FloatFormat,
    bytes: &'a [u8],
}

impl TensorFile {
    /// Map a safetensors file, or the shards of a `model.safetensors.index.json`, and validate
    /// each header once (offsets within the file, no overlaps, sizes matching shapes and
    /// dtypes: the safetensors crate checks all of it).
    pub fn open(path: &Path) -> Result<Self> {
        if path.file_name().is_some_and(|n| n == SHARD_INDEX) {
            return Self::open_index(path);
        }
        let (shard, header) = map_shard(path)?;
        let tensors = header
            .into_iter()
            .map(|(name, info)| (name, (0, info)))
            .collect();
        Ok(TensorFile {
            path: path.to_path_buf(),
            shards: vec![shard],
            tensors,
        })
    }

    /// The shards listed in an index's `weight_map`, each a plain file name beside the index.
    fn open_index(index: &Path) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: std::collections::BTreeMap<String, String>,
        }
        let text = std::fs::read_to_string(index).map_err(|source| Error::ReadInput {
            path: index.to_path_buf(),
            source,
        })?;
        let parsed: Index = serde_json::from_str(&text)
            .map_err(|e| Error::model(index, format!("not a safetensors shard index: {e}")))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut files: Vec<&String> = parsed.weight_map.values().collect();
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(Error::model(index, "the shard index lists no tensors"));
        }
        let mut shards = Vec::new();
        let mut tensors = HashMap::new();
        for file in files {
            let plain = Path::new(file)
                .file_name()
                .is_some_and(|n| n == file.as_str());
            if !plain || !file.ends_with(".safetensors") {
                return Err(Error::model(
                    index,
                    format!("shard `{file}` is not a .safetensors file name beside the index"),
                ));
            }
            let (shard, header) = map_shard(&dir.join(file))?;
            for (name, info) in header {
                if tensors.contains_key(&name) {
                    return Err(Error::model(
                        &shard.path,
                        format!("tensor `{name}` is stored in two shards"),
                    ));
                }
                tensors.insert(name, (shards.len(), info));
            }
            shards.push(shard);
        }
        if let Some((name, file)) =
            parsed
                .weight_map
                .iter()
                .find(|(name, file)| match tensors.get(*name) {
                    Some((i, _)) => shards[*i].path.file_name() != Some(file.as_ref()),
                    None => true,
                })
        {
            return Err(Error::model(
                index,
                format!("tensor `{name}` is not in its shard `{file}`"),
            ));
        }
        Ok(TensorFile {
            path: index.to_path_buf(),
            shards,
            tensors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all tensors in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The name under which `role` is stored, if any.
    pub fn find(&self, role: TensorRole) -> Option<String> {
        role.candidates()
            .into_iter()
            .find(|c| self.tensors.contains_key(c))
    }

    /// Shape of `role`'s tensor, if present.
    pub fn shape(&self, role: TensorRole) -> Option<&[usize]> {
        self.find(role).and_then(|name| self.shape_of(&name))
    }

    /// Shape of the tensor called `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors
            .get(name)
            .map(|(_, info)| info.shape.as_slice())
    }

    /// `role`'s tensor where it lies in the file, checked to have exactly `expected` shape and
    /// a float dtype (its values are checked when they are read).
    pub fn tensor(&self, role: TensorRole, expected: &[usize]) -> Result<Tensor> {
        let candidates = role.candidates();
        let found = self.locate(&candidates, expected)?;
        Ok(Tensor::Stored(StoredTensor {
            name: found.name.to_string(),
            path: found.shard.path.clone(),
            map: Arc::clone(&found.shard.map),
            start: offset_in(&found.shard.map, found.bytes),
            len: found.bytes.len() / found.format.bytes(),
            format: found.format,
        }))
    }

    /// Load the first of `names` present (the same tensor under each naming convention, the
    /// preferred first) as f32, checking its shape and finite values.
    pub fn load_any(&self, names: &[String], expected: &[usize]) -> Result<Vec<f32>> {
        let found = self.locate(names, expected)?;
        let values = to_f32(found.bytes, found.format);
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::model(
                &found.shard.path,
                format!(
                    "tensor `{}`: element {i} is {} (not finite)",
                    found.name, values[i]
                ),
            ));
        }
        Ok(values)
    }

    /// Like `load_any`, as f16 bit patterns: an F16 tensor is used where it lies in the mapped
    /// file (exact, no copy: the decoder's ~100 MB of f16 weights cost no load time), F32/BF16
    /// ones are rounded into memory of their own.
    pub fn load_any_f16(&self, names: &[String], expected: &[usize]) -> Result<F16Data> {
        let found = self.locate(names, expected)?;
        let (map, bytes) = (&found.shard.map, found.bytes);
        let data = match found.format {
            FloatFormat::F16 => F16Data::mapped(map, offset_in(map, bytes), bytes.len() / 2)
                .unwrap_or_else(|| {
                    F16Data::Owned(
                        bytes
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect(),
                    )
                }),
            format => F16Data::Owned(
                to_f32(bytes, format)
                    .into_iter()
                    .map(|v| half::f16::from_f32(v).to_bits())
                    .collect(),
            ),
        };
        // Exponent all ones: infinity or NaN (in the file, or out of f16's range once rounded).
        // Whole chunks are tested without an early exit (that vectorises: this reads ~100 MB at
        // every start); the position is only looked for in a file that has one.
        let not_finite = |b: &u16| b & 0x7C00 == 0x7C00;
        let any_bad = data
            .chunks(4096)
            .any(|chunk| chunk.iter().fold(false, |bad, b| bad | not_finite(b)));
        if let Some(i) = any_bad.then(|| data.iter().position(not_finite)).flatten() {
            return Err(Error::model(
                &found.shard.path,
                format!("tensor `{}`: element {i} is not finite in f16", found.name),
            ));
        }
        Ok(data)
    }

    /// The first of `names` present, checked to have `expected` shape and a float dtype.
    fn locate<'a>(&'a self, names: &'a [String], expected: &[usize]) -> Result<Located<'a>> {
        let Some(name) = names.iter().find(|n| self.tensors.contains_key(*n)) else {
            let also = names
                .last()
                .filter(|_| names.len() > 1)
                .map(|n| format!(" (or `{n}`)"))
                .unwrap_or_default();
            return Err(Error::model(
                &self.path,
                format!(
                    "missing tensor `{}`{also}, expected shape {expected:?}",
                    names[0]
                ),
            ));
        };
        let (shard_index, info) = &self.tensors[name];
        let shard = &self.shards[*shard_index];
        if info.shape != expected {
            return Err(Error::model(
                &shard.path,
                format!(
                    "tensor `{name}`: expected shape {expected:?}, found {:?}",
                    info.shape
                ),
            ));
        }
        let (begin, end) = info.data_offsets;
        let bytes = &shard.map[shard.data_start + begin..shard.data_start + end];
        let format = match info.dtype {
            Dtype::F32 => FloatFormat::F32,
            Dtype::F16 => FloatFormat::F16,
            Dtype::BF16 => FloatFormat::BF16,
            other => {
                return Err(Error::model(
                    &shard.path,
                    format!("tensor `{name}`: dtype {other:?}, expected F32, F16 or BF16"),
                ));
            }
        };
        Ok(Located {
            name,
            shard,
            format,
            bytes,
        })
    }
}

/// Where `bytes` (a slice of `map`) starts in it.
fn offset_in(map: &memmap2::Mmap, bytes: &[u8]) -> usize {
    bytes.as_ptr() as usize - map.as_ptr() as usize
}

/// Map one safetensors file read-only; its header's tensors.
fn map_shard(path: &Path) -> Result<(Shard, Vec<(String, TensorInfo)>)> {
    let read_error = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(Error::model(
            path,
            "is a directory, expected a safetensors file",
        ));
    }
    // SAFETY: the mapping is read-only; the file is a model we opened and do not write. A file
    // truncated by another process while mapped would fault, as it would for every mmap user.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
    let (header_len, metadata) = SafeTensors::read_metadata(&map)
        .map_err(|e| Error::model(path, format!("not a valid safetensors file: {e}")))?;
    let header = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    let shard = Shard {
        path: path.to_path_buf(),
        map: Arc::new(map),
        data_start: 8 + header_len,
    };
    Ok((shard, header))
}

/// f16 bit patterns, in memory of their own or where they lie in a mapped model file (kept
/// mapped as long as this value lives).
#[derive(Debug, Clone)]
pub enum F16Data {
    Owned(Vec<u16>),
    Mapped {
        map: Arc<memmap2::Mmap>,
        /// Byte offset in the mapping (even).
        start: usize,
        /// Values.
        len: usize,
    },
}

impl F16Data {
    /// `len` values at byte `start` of `map`, if they can be read in place: 2-byte aligned,
    /// little-endian like the file.
    fn mapped(map: &Arc<memmap2::Mmap>, start: usize, len: usize) -> Option<Self> {
        let aligned = (map.as_ptr() as usize + start).is_multiple_of(2);
        (cfg!(target_endian = "little") && aligned && start + 2 * len <= map.len()).then(|| {
            F16Data::Mapped {
                map: Arc::clone(map),
                start,
                len,
            }
        })
    }

    /// Done with these values (they were copied elsewhere): let the kernel drop the mapped
    /// file's pages that hold only them from this process' resident memory, so a copy does not
    /// double the footprint. The mapping is read-only, so a later read would fault the same
    /// bytes back in from the file.
    pub fn release(self) {
        if let F16Data::Mapped { map, start, len } = self {
            let page = page_size();
            let first = start.next_multiple_of(page);
            let last = (start + 2 * len) / page * page;
            if first < last {
                // SAFETY: DontNeed on a read-only private file mapping only discards cached
                // pages of it; no slice into them outlives this call (self is consumed, and
                // other holders of the mapping re-read any dropped page from the file).
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        first,
                        last - first,
                    )
                };
            }
        }
    }
}

/// The virtual-memory page size (4 KiB where it cannot be asked).
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

impl From<Vec<u16>> for F16Data {
    fn from(bits: Vec<u16>) -> Self {
        F16Data::Owned(bits)
    }
}

impl std::ops::Deref for F16Data {
    type Target = [u16];

    fn deref(&self) -> &[u16] {
        match self {
            F16Data::Owned(bits) => bits,
            // SAFETY: `mapped` checked that the 2 * len bytes at `start` lie inside the mapping
            // and are 2-byte aligned; any bit pattern is a valid u16, and the mapping (held by
            // the Arc) outlives the borrow of self.
            F16Data::Mapped { map, start, len } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(*start) as *const u16, *len)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    /// A file holding `tensors` (name, dtype, shape, little-endian bytes).
    fn file_of(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> (tempfile::TempDir, TensorFile) {
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        let file = TensorFile::open(&path).unwrap();
        (dir, file)
    }

    fn f16_bytes(values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect()
    }

    #[test]
    fn f16_tensors_are_read_in_place_others_rounded_and_non_finite_values_named() {
        let n = 10_000; // past the first 4096-value chunk of the finiteness scan
        let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut bad = f16_bytes(&values);
        bad[2 * 5000..2 * 5001].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
        let as_f32: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (_dir, file) = file_of(&[
            ("good", Dtype::F16, vec![n], f16_bytes(&values)),
            ("bad", Dtype::F16, vec![n], bad),
            ("wide", Dtype::F32, vec![n], as_f32),
        ]);
        let want: Vec<u16> = values
            .iter()
            .map(|&v| half::f16::from_f32(v).to_bits())
            .collect();
        let good = file.load_any_f16(&["good".into()], &[n]).unwrap();
        assert!(matches!(good, F16Data::Mapped { .. }));
        assert_eq!(&good[..], &want[..]);
        let wide = file.load_any_f16(&["wide".into()], &[n]).unwrap();
        assert!(matches!(wide, F16Data::Owned(_)));
        assert_eq!(&wide[..], &want[..]);
        let error = file.load_any_f16(&["bad".into()], &[n]).unwrap_err();
        assert!(
            error.to_string().contains("element 5000 is not finite"),
            "{error}"
        );
    }
}
