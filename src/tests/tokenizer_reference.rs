//! The tokenizer against faster-whisper's (the committed transcript fixtures): decoding its
//! tokens gives its text, encoding prompts gives its ids. Needs the cached base and tiny.en
//! (scripts/test fetches them).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::common::fixture;
use crate::tokenizer::Tokenizer;

fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let text = std::fs::read_to_string(fixture("transcripts/manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

fn model_dir(name: &str) -> PathBuf {
    let dir = crate::model::cache_dir().join(name);
    assert!(
        dir.join("tokenizer.json").exists(),
        "{} is missing: run scripts/fetch-model {name} (scripts/test does)",
        dir.display()
    );
    dir
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn the_tokenizer_decodes_faster_whispers_tokens_to_its_text() {
    for model in ["base", "tiny.en"] {
        let tokenizer = Tokenizer::from_file(&model_dir(model).join("tokenizer.json")).unwrap();
        let mut checked = 0;
        for (clip, reference) in manifest()["reference"][model].as_object().unwrap() {
            for segment in reference["segments"].as_array().unwrap() {
                let tokens: Vec<u32> = segment["tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(
                    tokenizer.decode(&tokens),
                    segment["text"].as_str().unwrap(),
                    "{model} {clip}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10);
    }
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn the_tokenizer_encodes_prompts_to_the_ids_of_faster_whispers_tokenizer() {
    for model in ["base", "tiny.en"] {
        let tokenizer = Tokenizer::from_file(&model_dir(model).join("tokenizer.json")).unwrap();
        let cases = manifest()["encode"][model].as_array().unwrap();
        assert!(cases.len() >= 10, "{model}: {} cases", cases.len());
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(tokenizer.encode(text).unwrap(), want, "{model} {text:?}");
        }
    }
}
