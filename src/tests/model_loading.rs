//! Model files as users hand them in: every size loads (synthetic headers for the large ones),
//! and broken files give one-line errors naming the tensor or file, never a panic.

use super::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::model::EncoderModel;
use common::fixture;
use safetensors::{Dtype, SafeTensors};

/// Copy the tiny random model's tensors, letting `edit` change the list, into `path`.
fn rewrite(path: &Path, edit: impl FnOnce(&mut BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>)) {
    let bytes = std::fs::read(fixture("models/tiny-random-hf/model.safetensors")).unwrap();
    let parsed = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: BTreeMap<_, _> = parsed
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// The error of loading `path` and arranging its weights for the encoder (structure is checked
/// when the model is opened, values when the executor reads them).
fn load_error(path: &Path) -> String {
    let err = match EncoderModel::load(path, None) {
        Err(e) => e,
        Ok(model) => match crate::exec::Executor::cpu(&model) {
            Err(e) => e,
            Ok(_) => panic!("{} loaded and arranged without an error", path.display()),
        },
    };
    assert_eq!(err.exit_code(), 3, "{err}");
    let text = err.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

const Q: &str = "model.encoder.layers.1.self_attn.q_proj.weight";

#[test]
fn missing_misshapen_mistyped_and_nan_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");

    rewrite(&p, |t| {
        t.remove(Q);
    });
    let e = load_error(&p);
    assert!(
        e.contains("missing tensor") && e.contains("layers.1.self_attn.q_proj.weight"),
        "{e}"
    );

    rewrite(&p, |t| {
        let (d, _, b) = t.remove(Q).unwrap();
        t.insert(Q.into(), (d, vec![64, 256], b));
    });
    let e = load_error(&p);
    assert!(
        e.contains(Q) && e.contains("expected shape [128, 128], found [64, 256]"),
        "{e}"
    );

    rewrite(&p, |t| {
        let (_, s, b) = t.remove(Q).unwrap();
        let ints: Vec<u8> = b.iter().flat_map(|&x| [x, 0, 0, 0]).collect(); // same count as i32? no: 2x bytes
        t.insert(Q.into(), (Dtype::I32, s, ints[..b.len() * 2].to_vec()));
    });
    let e = load_error(&p);
    assert!(e.contains(Q) && e.contains("I32"), "{e}");

    rewrite(&p, |t| {
        let (d, s, mut b) = t.remove(Q).unwrap();
        b[10..12].copy_from_slice(&half::f16::NAN.to_le_bytes());
        t.insert(Q.into(), (d, s, b));
    });
    let e = load_error(&p);
    assert!(e.contains(Q) && e.contains("not finite"), "{e}");

    // Unknown extra tensors are ignored.
    rewrite(&p, |t| {
        t.insert(
            "model.decoder.something".into(),
            (Dtype::F32, vec![1], vec![0; 4]),
        );
    });
    assert!(EncoderModel::load(&p, None).is_ok());
}

#[test]
fn truncated_and_corrupt_files_never_panic() {
    let bytes = std::fs::read(fixture("models/tiny-random-hf/model.safetensors")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.safetensors");
    for cut in [0usize, 4, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = load_error(&p);
        assert!(e.contains("t.safetensors"), "{e}");
    }
    // Header length pointing past the end; oversized header length; garbage JSON.
    for header in [
        [u64::MAX.to_le_bytes().to_vec(), b"{}".to_vec()].concat(),
        [(1u64 << 40).to_le_bytes().to_vec(), b"{}".to_vec()].concat(),
        [8u64.to_le_bytes().to_vec(), b"not json".to_vec()].concat(),
    ] {
        std::fs::write(&p, &header).unwrap();
        let e = load_error(&p);
        assert!(e.contains("not a valid safetensors file"), "{e}");
    }
    // Overlapping data offsets.
    let json = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(&(json.len() as u64).to_le_bytes()).unwrap();
    f.write_all(json).unwrap();
    f.write_all(&[0u8; 12]).unwrap();
    drop(f);
    assert!(load_error(&p).contains("not a valid safetensors file"));
}

#[test]
fn absurd_config_dimensions_are_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("models/tiny-random-hf/model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"num_mel_bins": 80, "d_model": 1099511627776, "encoder_layers": 2, "encoder_attention_heads": 2}"#,
    )
    .unwrap();
    let e = load_error(dir.path());
    assert!(e.contains("d_model") && e.contains("out of range"), "{e}");
}

/// A safetensors file with the encoder tensors of a standard Whisper size, its data a sparse
/// run of zeros (no disk or memory is spent on it).
fn synthetic_encoder(path: &Path, n_mels: usize, d: usize, layers: usize) {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    let mut add = |name: String, shape: Vec<usize>| {
        let bytes = shape.iter().product::<usize>() * 2;
        header.insert(
            name,
            serde_json::json!({"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    };
    add("model.encoder.conv1.weight".into(), vec![d, n_mels, 3]);
    add("model.encoder.conv1.bias".into(), vec![d]);
    add("model.encoder.conv2.weight".into(), vec![d, d, 3]);
    add("model.encoder.conv2.bias".into(), vec![d]);
    add("model.encoder.embed_positions.weight".into(), vec![1500, d]);
    add("model.encoder.layer_norm.weight".into(), vec![d]);
    add("model.encoder.layer_norm.bias".into(), vec![d]);
    for i in 0..layers {
        let p = format!("model.encoder.layers.{i}.");
        for (n, s) in [
            ("self_attn_layer_norm.weight", vec![d]),
            ("self_attn_layer_norm.bias", vec![d]),
            ("self_attn.q_proj.weight", vec![d, d]),
            ("self_attn.q_proj.bias", vec![d]),
            ("self_attn.k_proj.weight", vec![d, d]),
            ("self_attn.v_proj.weight", vec![d, d]),
            ("self_attn.v_proj.bias", vec![d]),
            ("self_attn.out_proj.weight", vec![d, d]),
            ("self_attn.out_proj.bias", vec![d]),
            ("final_layer_norm.weight", vec![d]),
            ("final_layer_norm.bias", vec![d]),
            ("fc1.weight", vec![4 * d, d]),
            ("fc1.bias", vec![4 * d]),
            ("fc2.weight", vec![d, 4 * d]),
            ("fc2.bias", vec![d]),
        ] {
            add(format!("{p}{n}"), s);
        }
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&(json.len() as u64).to_le_bytes()).unwrap();
    f.write_all(&json).unwrap();
    f.set_len(8 + json.len() as u64 + offset as u64).unwrap();
}

#[test]
fn every_published_size_loads_from_shapes_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mels, d, layers) in [
        ("tiny", 80, 384, 4),
        ("base", 80, 512, 6),
        ("small", 80, 768, 12),
        ("medium", 80, 1024, 24),
        ("large-v1", 80, 1280, 32),
        ("large-v3", 128, 1280, 32),
    ] {
        let path = dir.path().join(format!("{name}.safetensors"));
        synthetic_encoder(&path, mels, d, layers);
        // Load only the first layer: the point is the dimensions, not gigabytes of zeros.
        let model = EncoderModel::load(&path, Some(1)).unwrap();
        assert_eq!(model.config.size_name(), name);
        assert_eq!(model.config.encoder_layers, layers);
        assert_eq!(model.config.encoder_attention_heads, d / 64);
        assert_eq!(model.encoder.layers.len(), 1);
        std::fs::remove_file(&path).unwrap();
    }
}

/// Write the tiny random model's tensors as two shards and an index into `dir`; `edit_index`
/// may change the index's weight map.
fn write_shards(dir: &Path, edit_index: impl FnOnce(&mut BTreeMap<String, String>)) {
    let bytes = std::fs::read(fixture("models/tiny-random-hf/model.safetensors")).unwrap();
    let parsed = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = parsed.names().into_iter().map(String::from).collect();
    names.sort();
    let mut weight_map = BTreeMap::new();
    for (i, half) in names.chunks(names.len().div_ceil(2)).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let views: Vec<_> = half
            .iter()
            .map(|n| (n.clone(), parsed.tensor(n).unwrap()))
            .collect();
        std::fs::write(
            dir.join(&file),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        for n in half {
            weight_map.insert(n.clone(), file.clone());
        }
    }
    edit_index(&mut weight_map);
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::copy(
        fixture("models/tiny-random-hf/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
}

#[test]
fn a_sharded_model_loads_and_encodes_as_the_single_file() {
    use crate::exec::Executor;
    let dir = tempfile::tempdir().unwrap();
    write_shards(dir.path(), |_| {});
    let sharded = EncoderModel::load(dir.path(), None).unwrap();
    assert!(
        sharded
            .weights_path
            .ends_with("model.safetensors.index.json")
    );
    let single = EncoderModel::load(&fixture("models/tiny-random-hf"), None).unwrap();
    let (_, mel) = common::read_npy_gz(&fixture("mel/speech_espeak_16k.n80.npy.gz"));
    let a = Executor::cpu(&sharded)
        .unwrap()
        .encode_window(&mel)
        .unwrap()
        .to_vec();
    let b = Executor::cpu(&single)
        .unwrap()
        .encode_window(&mel)
        .unwrap()
        .to_vec();
    assert_eq!(a, b);

    // A shard outside the directory, a tensor the index puts in the wrong shard, a missing
    // shard: each is a one-line model error.
    for (edit, expect) in [
        (
            Box::new(|m: &mut BTreeMap<String, String>| {
                let first = m.keys().next().unwrap().clone();
                m.insert(first, "../elsewhere.safetensors".into());
            }) as Box<dyn FnOnce(&mut BTreeMap<String, String>)>,
            "not a .safetensors file name beside the index",
        ),
        (
            Box::new(|m: &mut BTreeMap<String, String>| {
                let (name, file) = m
                    .iter()
                    .next()
                    .map(|(n, f)| (n.clone(), f.clone()))
                    .unwrap();
                let other = m.values().find(|f| **f != file).unwrap().clone();
                m.insert(name, other);
            }),
            "is not in its shard",
        ),
        (
            Box::new(|m: &mut BTreeMap<String, String>| {
                let first = m.keys().next().unwrap().clone();
                m.insert(first, "model-00003-of-00002.safetensors".into());
            }),
            "model-00003-of-00002.safetensors",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_shards(dir.path(), edit);
        let e = load_error(dir.path());
        assert!(e.contains(expect), "{e}");
    }
}
