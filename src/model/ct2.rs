//! CTranslate2 Whisper import: reads `model.bin` (binary format version 6) and writes the Hugging
//! Face hub layout (`config.json`, `generation_config.json`, `tokenizer.json`, `model.safetensors`)
//! so faster-whisper models can be reused.
//!
//! The format, from CTranslate2's `ModelSpec._serialize`: u32 version, string spec name, u32
//! revision, u32 variable count, then per variable: string name, u8 rank, u32 dims, u8 dtype
//! (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 byte count, raw little-endian data; then u32
//! alias count and (alias, target) string pairs. Strings are a u16 length (including a trailing
//! NUL) and the bytes. Whisper's fused attention projections are split here: self-attention
//! `linear_0` stacks Q, K, V (the K bias is zero) and cross-attention `linear_1` stacks K, V.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::float::FloatFormat;
use crate::error::{Error, Result};
use crate::tools::export::{OutputTarget, write_atomically};

const SUPPORTED_VERSION: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Ct2Dtype::F32,
            1 => Ct2Dtype::I8,
            2 => Ct2Dtype::I16,
            3 => Ct2Dtype::I32,
            4 => Ct2Dtype::F16,
            5 => Ct2Dtype::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Ct2Dtype::I8 => 1,
            Ct2Dtype::I16 | Ct2Dtype::F16 | Ct2Dtype::BF16 => 2,
            Ct2Dtype::F32 | Ct2Dtype::I32 => 4,
        }
    }
}

/// One named variable: its shape, dtype and where its bytes sit in the file.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: Ct2Dtype,
    offset: usize,
    len: usize,
}

/// A parsed `model.bin`, memory-mapped.
pub struct Ct2Model {
    path: PathBuf,
    map: memmap2::Mmap,
    pub spec: String,
    pub revision: u32,
    pub variables: Vec<Ct2Variable>,
    // Parsed to step over the section; nothing reads it yet.
    #[allow(dead_code)]
    pub aliases: Vec<(String, String)>,
}

/// Bounds-checked little-endian reader that names what it was reading when the file ends.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::model(
                self.path,
                format!(
                    "truncated CTranslate2 model: the file ends at byte {} while reading {what}",
                    self.bytes.len()
                ),
            ));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u16(what)? as usize;
        let raw = self.take(len, what)?;
        let text = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(text.to_vec())
            .map_err(|_| Error::model(self.path, format!("{what} is not UTF-8")))
    }
}

impl Ct2Model {
    /// Kept whole: one pass over the file's header, variables and aliases in file order, each field
    /// bounds-checked where it is read.
    pub fn open(path: &Path) -> Result<Self> {
        let read_error = |source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        // SAFETY: read-only mapping of a file we do not modify.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
        let mut r = Reader {
            bytes: &map,
            at: 0,
            path,
        };
        let version = r.u32("the format version")?;
        if version != SUPPORTED_VERSION {
            return Err(Error::model(
                path,
                format!(
                    "CTranslate2 binary format version {version} is not supported (expected {SUPPORTED_VERSION}); is this a CTranslate2 model.bin?"
                ),
            ));
        }
        let spec = r.string("the model spec name")?;
        let revision = r.u32("the spec revision")?;
        let count = r.u32("the variable count")? as usize;
        let mut variables = Vec::with_capacity(count.min(4096));
        for index in 0..count {
            let what = format!("variable {index} of {count}");
            let name = r.string(&what)?;
            let rank = r.u8(&what)? as usize;
            if rank > 8 {
                return Err(Error::model(
                    path,
                    format!("variable `{name}` has rank {rank}"),
                ));
            }
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32(&what)? as usize);
            }
            let dtype_id = r.u8(&what)?;
            let dtype = Ct2Dtype::from_id(dtype_id).ok_or_else(|| {
                Error::model(
                    path,
                    format!("variable `{name}` has unknown dtype id {dtype_id}"),
                )
            })?;
            let len = r.u32(&what)? as usize;
            let expected = shape
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
            if expected != Some(len) {
                return Err(Error::model(
                    path,
                    format!(
                        "variable `{name}`: {len} bytes do not fit shape {shape:?} of {dtype:?}"
                    ),
                ));
            }
            let offset = r.at;
            r.take(len, &format!("the data of `{name}`"))?;
            variables.push(Ct2Variable {
                name,
                shape,
                dtype,
                offset,
                len,
            });
        }
        let alias_count = r.u32("the alias count")? as usize;
        let mut aliases = Vec::with_capacity(alias_count.min(4096));
        for _ in 0..alias_count {
            aliases.push((r.string("an alias")?, r.string("an alias target")?));
        }

        Ok(Ct2Model {
            path: path.to_path_buf(),
            map,
            spec,
            revision,
            variables,
            aliases,
        })
    }

    pub fn variable(&self, name: &str) -> Option<&Ct2Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    pub fn bytes(&self, variable: &Ct2Variable) -> &[u8] {
        &self.map[variable.offset..variable.offset + variable.len]
    }

    /// A scalar integer variable such as `encoder/num_heads`.
    fn scalar(&self, name: &str) -> Option<i64> {
        let v = self.variable(name)?;
        let b = self.bytes(v);
        match v.dtype {
            Ct2Dtype::I8 => Some(b[0] as i8 as i64),
            Ct2Dtype::I16 => Some(i16::from_le_bytes([b[0], b[1]]) as i64),
            Ct2Dtype::I32 => Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
            _ => None,
        }
    }

    fn require(&self, name: &str) -> Result<&Ct2Variable> {
        self.variable(name)
            .ok_or_else(|| Error::model(&self.path, format!("missing variable `{name}`")))
    }
}

/// Output precision of the imported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputDtype {
    /// float32.
    F32,
    /// float16: half the size, the same results within f16 rounding.
    F16,
}

/// A tensor ready for safetensors: dtype, shape and little-endian bytes.
struct OutTensor {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &OutTensor {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// What `convert` did, for the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConvertReport {
    /// The model directory written.
    pub output: PathBuf,
    /// Tensors written.
    pub tensors: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Width of the model.
    pub d_model: usize,
    /// Mel bins.
    pub n_mels: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// `f16` or `f32`.
    pub dtype: &'static str,
    /// Bytes of the weights file.
    pub bytes: u64,
}

/// Import the CTranslate2 Whisper model at `model_bin` into the hub layout under `out_dir`.
/// `tokenizer.json` and `config.json` are read from beside `model_bin`.
pub fn convert(model_bin: &Path, out_dir: &Path, dtype: OutputDtype) -> Result<ConvertReport> {
    let model = Ct2Model::open(model_bin)?;
    if model.spec != "WhisperSpec" {
        return Err(Error::model(
            model_bin,
            format!("a CTranslate2 `{}` model, not a Whisper model", model.spec),
        ));
    }
    let source_dir = model_bin.parent().unwrap_or(Path::new("."));
    let tokenizer_path = source_dir.join("tokenizer.json");
    let tokenizer_text =
        std::fs::read_to_string(&tokenizer_path).map_err(|source| Error::ReadInput {
            path: tokenizer_path.clone(),
            source,
        })?;
    let tokenizer: Value = serde_json::from_str(&tokenizer_text)
        .map_err(|e| Error::model(&tokenizer_path, format!("not JSON: {e}")))?;
    let ct2_config_path = source_dir.join("config.json");
    let ct2_config: Value = match std::fs::read_to_string(&ct2_config_path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::model(&ct2_config_path, format!("not JSON: {e}")))?,
        Err(_) => json!({}),
    };

    let tensors = import_tensors(&model, dtype)?;
    let dims = Dimensions::of(&model)?;
    let special = SpecialTokens::from_tokenizer(&tokenizer, &tokenizer_path)?;

    std::fs::create_dir_all(out_dir).map_err(|source| Error::WriteOutput {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let dtype_name = match dtype {
        OutputDtype::F32 => "float32",
        OutputDtype::F16 => "float16",
    };
    let config = hf_config(&dims, &special, &ct2_config, dtype_name);
    let generation = generation_config(&dims, &special, &ct2_config);
    write_json(&out_dir.join("config.json"), &config)?;
    write_json(&out_dir.join("generation_config.json"), &generation)?;
    let tokenizer_out = out_dir.join("tokenizer.json");
    write_atomically(&OutputTarget::File(tokenizer_out), |w| {
        w.write_all(tokenizer_text.as_bytes())
    })?;

    let weights_path = out_dir.join("model.safetensors");
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    metadata.insert(
        "converted_from".to_string(),
        format!("CTranslate2 {} revision {}", model.spec, model.revision),
    );
    let mut serialized =
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
            .map_err(|e| Error::Runtime(format!("cannot serialise safetensors: {e}")))?;
    sort_header_keys(&mut serialized);
    write_atomically(&OutputTarget::File(weights_path.clone()), |w| {
        w.write_all(&serialized)
    })?;
    Ok(ConvertReport {
        output: out_dir.to_path_buf(),
        tensors: tensors.len(),
        encoder_layers: dims.encoder_layers,
        decoder_layers: dims.decoder_layers,
        d_model: dims.d_model,
        n_mels: dims.n_mels,
        vocab_size: dims.vocab_size,
        dtype: dtype_name,
        bytes: serialized.len() as u64,
    })
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise") + "\n";
    write_atomically(&OutputTarget::File(path.to_path_buf()), |w| {
        w.write_all(text.as_bytes())
    })
}

struct Dimensions {
    d_model: usize,
    n_mels: usize,
    encoder_layers: usize,
    encoder_heads: usize,
    encoder_ffn: usize,
    decoder_layers: usize,
    decoder_heads: usize,
    decoder_ffn: usize,
    vocab_size: usize,
    max_target_positions: usize,
}

impl Dimensions {
    fn of(model: &Ct2Model) -> Result<Self> {
        let conv1 = &model.require("encoder/conv1/weight")?.shape;
        let [d_model, n_mels, 3] = conv1[..] else {
            return Err(Error::model(
                &model.path,
                format!(
                    "encoder/conv1/weight: expected shape [d_model, n_mels, 3], found {conv1:?}"
                ),
            ));
        };
        let count = |prefix: &str| {
            (0..)
                .take_while(|i| {
                    model
                        .variables
                        .iter()
                        .any(|v| v.name.starts_with(&format!("{prefix}/layer_{i}/")))
                })
                .count()
        };
        let heads = |name: &str| {
            model
                .scalar(name)
                .filter(|&h| h > 0)
                .map(|h| h as usize)
                .unwrap_or(d_model / crate::model::config::HEAD_DIM)
        };
        let rows = |name: &str| model.variable(name).and_then(|v| v.shape.first().copied());
        Ok(Dimensions {
            d_model,
            n_mels,
            encoder_layers: count("encoder"),
            encoder_heads: heads("encoder/num_heads"),
            encoder_ffn: rows("encoder/layer_0/ffn/linear_0/weight").unwrap_or(4 * d_model),
            decoder_layers: count("decoder"),
            decoder_heads: heads("decoder/num_heads"),
            decoder_ffn: rows("decoder/layer_0/ffn/linear_0/weight").unwrap_or(4 * d_model),
            vocab_size: rows("decoder/embeddings/weight").unwrap_or(0),
            max_target_positions: rows("decoder/position_encodings/encodings").unwrap_or(448),
        })
    }
}

/// Map every CTranslate2 variable to its Hugging Face name(s), splitting fused projections.
/// Rewrite a serialised safetensors file's JSON header with its keys sorted, in place (the
/// same keys and values, so the same length after the space padding the format allows): the
/// metadata map comes out of a HashMap in a different order each run, and the same model should
/// convert to the same bytes.
fn sort_header_keys(file: &mut [u8]) {
    let Some(len) = file
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
    else {
        return;
    };
    let Some(header) = file.get(8..8 + len) else {
        return;
    };
    // serde_json's map is ordered by key.
    let Ok(value) = serde_json::from_slice::<Value>(header) else {
        return;
    };
    let Ok(mut sorted) = serde_json::to_vec(&value) else {
        return;
    };
    if sorted.len() <= len {
        sorted.resize(len, b' ');
        file[8..8 + len].copy_from_slice(&sorted);
    }
}

fn import_tensors(model: &Ct2Model, dtype: OutputDtype) -> Result<BTreeMap<String, OutTensor>> {
    let mut out = BTreeMap::new();
    for variable in &model.variables {
        if variable.shape.is_empty() {
            continue; // scalars: num_heads, activation, flags; they go into config.json
        }
        if matches!(variable.dtype, Ct2Dtype::I8 | Ct2Dtype::I16 | Ct2Dtype::I32) {
            return Err(Error::model(
                &model.path,
                format!(
                    "variable `{}` is {:?}: quantized CTranslate2 models are not supported; convert the original with --quantization float16 or float32",
                    variable.name, variable.dtype
                ),
            ));
        }
        let Some(targets) = super::names::hf_names_of_ctranslate2(&variable.name) else {
            tracing::warn!(
                "{}: ignoring unknown variable `{}`",
                model.path.display(),
                variable.name
            );
            continue;
        };
        let values = to_f32(model.bytes(variable), variable.dtype);
        let parts = targets.len();
        let rows = variable.shape[0];
        if rows % parts != 0 {
            return Err(Error::model(
                &model.path,
                format!(
                    "variable `{}`: {rows} rows cannot split into {parts}",
                    variable.name
                ),
            ));
        }
        let per_part = values.len() / parts;
        for (index, target) in targets.into_iter().enumerate() {
            let Some(target) = target else {
                // The fused key bias: Whisper has none, CTranslate2 stores zeros. Refuse anything else.
                let slice = &values[index * per_part..(index + 1) * per_part];
                if slice.iter().any(|&v| v != 0.0) {
                    return Err(Error::model(
                        &model.path,
                        format!("variable `{}`: the key bias is not zero", variable.name),
                    ));
                }
                continue;
            };
            let mut shape = variable.shape.clone();
            shape[0] = rows / parts;
            let slice = &values[index * per_part..(index + 1) * per_part];
            out.insert(target, encode(slice, shape, dtype));
        }
    }
    Ok(out)
}

fn to_f32(bytes: &[u8], dtype: Ct2Dtype) -> Vec<f32> {
    let format = match dtype {
        Ct2Dtype::F32 => FloatFormat::F32,
        Ct2Dtype::F16 => FloatFormat::F16,
        Ct2Dtype::BF16 => FloatFormat::BF16,
        Ct2Dtype::I8 | Ct2Dtype::I16 | Ct2Dtype::I32 => {
            unreachable!("integer variables are refused before conversion")
        }
    };
    super::float::to_f32(bytes, format)
}

fn encode(values: &[f32], shape: Vec<usize>, dtype: OutputDtype) -> OutTensor {
    match dtype {
        OutputDtype::F32 => OutTensor {
            dtype: safetensors::Dtype::F32,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        },
        // f16 -> f32 -> f16 is exact, so an f16 source round-trips bit for bit.
        OutputDtype::F16 => OutTensor {
            dtype: safetensors::Dtype::F16,
            shape,
            data: values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        },
    }
}

/// Special token ids read from `tokenizer.json`'s added tokens.
struct SpecialTokens {
    by_content: BTreeMap<String, u64>,
}

impl SpecialTokens {
    fn from_tokenizer(tokenizer: &Value, path: &Path) -> Result<Self> {
        let added = tokenizer["added_tokens"].as_array().ok_or_else(|| {
            Error::model(path, "no `added_tokens` list: not a Whisper tokenizer.json")
        })?;
        let by_content = added
            .iter()
            .filter_map(|t| Some((t["content"].as_str()?.to_string(), t["id"].as_u64()?)))
            .collect();
        Ok(SpecialTokens { by_content })
    }

    fn id(&self, content: &str) -> Option<u64> {
        self.by_content.get(content).copied()
    }

    fn content(&self, id: u64) -> Option<&str> {
        self.by_content
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.as_str())
    }
}

fn hf_config(dims: &Dimensions, special: &SpecialTokens, ct2: &Value, dtype: &str) -> Value {
    let eot = special.id("<|endoftext|>");
    let sot = special.id("<|startoftranscript|>");
    json!({
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu",
        "num_mel_bins": dims.n_mels,
        "d_model": dims.d_model,
        "encoder_layers": dims.encoder_layers,
        "encoder_attention_heads": dims.encoder_heads,
        "encoder_ffn_dim": dims.encoder_ffn,
        "decoder_layers": dims.decoder_layers,
        "decoder_attention_heads": dims.decoder_heads,
        "decoder_ffn_dim": dims.decoder_ffn,
        "num_hidden_layers": dims.encoder_layers,
        "max_source_positions": crate::model::config::ENCODER_FRAMES,
        "max_target_positions": dims.max_target_positions,
        "vocab_size": dims.vocab_size,
        "scale_embedding": false,
        "torch_dtype": dtype,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "begin_suppress_tokens": ct2.get("suppress_ids_begin").cloned().unwrap_or(Value::Null),
        "suppress_tokens": ct2.get("suppress_ids").cloned().unwrap_or(Value::Null),
    })
}

fn generation_config(dims: &Dimensions, special: &SpecialTokens, ct2: &Value) -> Value {
    let lang_to_id: BTreeMap<&str, u64> = ct2["lang_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_u64())
                .filter_map(|id| Some((special.content(id)?, id)))
                .collect()
        })
        .unwrap_or_default();
    let task_to_id: BTreeMap<&str, u64> = [
        ("transcribe", "<|transcribe|>"),
        ("translate", "<|translate|>"),
    ]
    .into_iter()
    .filter_map(|(task, token)| Some((task, special.id(token)?)))
    .collect();
    let eot = special.id("<|endoftext|>");
    json!({
        "alignment_heads": ct2.get("alignment_heads").cloned().unwrap_or(Value::Null),
        "begin_suppress_tokens": ct2.get("suppress_ids_begin").cloned().unwrap_or(Value::Null),
        "suppress_tokens": ct2.get("suppress_ids").cloned().unwrap_or(Value::Null),
        "lang_to_id": lang_to_id,
        "task_to_id": task_to_id,
        "no_timestamps_token_id": special.id("<|notimestamps|>"),
        "decoder_start_token_id": special.id("<|startoftranscript|>"),
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        // Multilingual vocabularies have 51865 entries or more; the English-only ones 51864.
        "is_multilingual": dims.vocab_size >= 51865,
        "max_length": dims.max_target_positions,
    })
}
