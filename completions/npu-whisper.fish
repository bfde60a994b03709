# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_npu_whisper_global_optspecs
    string join \n v/verbose q/quiet threads= json offline h/help V/version
end

function __fish_npu_whisper_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_npu_whisper_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_npu_whisper_using_subcommand
    set -l cmd (__fish_npu_whisper_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "encode" -d 'Encode audio to Whisper encoder embeddings (log-mel -> encoder), with per-op timings'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "transcribe" -d 'Transcribe speech to text with segment timestamps (encoder on any device, decoder on the CPU); the transcript alone goes to stdout, timings to stderr'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "mel" -d 'Compute OpenAI-exact log-mel features of audio and write them as float32 .npy'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "bench" -d 'Benchmark the encoder (runs with no model: base dimensions, synthetic weights)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "doctor" -d 'Check the machine for the NPU path: device, driver, firmware, memlock, XRT, kernels'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "convert" -d 'Import a CTranslate2 (faster-whisper) Whisper model into the Hugging Face layout, or Silero VAD\'s ONNX file into safetensors'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "model" -d 'Fetch, list and remove cached models (Hugging Face Hub, or PyPI for base, tiny.en and silero-vad)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "serve" -d 'Keep models loaded and answer HTTP (OpenAI-compatible transcriptions and translations, embeddings, /health, /metrics) and, with --wyoming-port, the Wyoming protocol'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "completions" -d 'Print a shell completion script: `npu-whisper completions bash > ~/.local/share/bash-completion/completions/npu-whisper`'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "validate-kernels" -d 'Run every NPU kernel against the simulator, bit for bit, one JSON document on stdout (used by scripts/npu-validate; exit 4 when there is no usable NPU)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "emulate-window" -d 'Encode one window with every op on the dataflow emulator and compare it with the simulator, bit for bit (used by scripts/emulate-npu)'
complete -c npu-whisper -n "__fish_npu_whisper_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l shard -d 'Encode only shard I of N (0-based) of the sorted inputs: input k is in shard k mod N. Lets N machines or jobs split a corpus with no coordination' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l format -d 'Output format when `-o` is a directory' -r -f -a "npy\t''
safetensors\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l model -d 'Model: a short name (base, large-v3, turbo, ...; fetched when not cached), a Hub id org/name[@revision], a directory (Hugging Face layout) or a .safetensors file [default: $NPU_WHISPER_MODEL, else base]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l device -d 'Where to run the encoder: `auto` uses the NPU when device, runtime and kernels are all usable and otherwise the CPU (saying why); `npu-sim` runs our NPU kernels\' arithmetic in software' -r -f -a "auto\t''
cpu\t''
npu\t''
npu-sim\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l cpu-ops -d 'Op kinds to keep on the CPU whatever the device, comma-separated: conv, matmul, attention, layernorm, gelu, add' -r -f -a "conv\t'conv1/conv2 (as im2col GEMMs)'
matmul\t'QKV, out-projection, fc1, fc2'
attention\t'scaled dot-product attention, all heads'
layernorm\t''
gelu\t''
add\t'residual and positional adds'"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l precision -d 'Arithmetic of the CPU path\'s GEMMs: f32, or bf16 operands with f32 accumulation (CPUs with AVX512_BF16 only; attention in bf16 too; about 1.7x faster here, cosine >= 0.9995 to f32)' -r -f -a "f32\t''
bf16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s o -l output -d 'Write the embeddings: `.npy` (float32) or `.safetensors` (float32, with provenance metadata); `-` writes .npy to standard output; a directory (existing, or ending in `/`) gets one `<input name>.npy` (or `.safetensors`, see `--format`) per input. Written window by window into a temporary file renamed into place when complete' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l layers -d 'Run only the first N encoder layers (the final LayerNorm still applies)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-threshold -d 'With --vad: a 32 ms chunk whose speech probability is at least this is speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-neg-threshold -d 'With --vad: below this probability always silence; between it and --vad-threshold, speech only if the chunk before was [default: --vad-threshold - 0.15, at least 0.01]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-min-speech-duration-ms -d 'With --vad: speech shorter than this is dropped' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-max-speech-duration-s -d 'With --vad: longer speech is split (at a pause of more than 98 ms where there is one)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-min-silence-duration-ms -d 'With --vad: silence this long ends a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-speech-pad-ms -d 'With --vad: padding kept on each side of a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad-model -d 'With --vad: the VAD weights (a .safetensors file `convert` wrote, or the .onnx file) instead of the cached silero-vad' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l max-audio-s -d 'Refuse (exit 3) an input longer than S seconds: from its header where the format says its length, else as soon as decoding passes S, so no more than S seconds are ever decoded [default: no limit]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s r -l recursive -d 'Descend into subdirectories of directory inputs (their tree is mirrored under `-o DIR/`)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l overwrite -d 'Replace outputs that already exist (otherwise inputs whose output exists are skipped)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l require-npu -d 'Fail (exit 4) instead of using the CPU when the NPU is unavailable or an NPU op fails'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l verify -d 'Also run every NPU op on the CPU and report per-op max abs error and cosine; with `--precision bf16`, also run the f32 CPU encoder on the same log-mel and report the bf16 output\'s max abs error and cosine against it'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l trim -d 'Cut the padding: write `(frames, d_model)`, the windows joined in time and cut to the audio length (one frame per 20 ms), instead of `(windows, 1500, d_model)`'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l split -d 'One `.npy` per 30 s window instead of one per input: `OUT.npy` becomes `OUT.00000.npy`, `OUT.00001.npy`, ... each `(1500, d_model)` (the last cut to the audio with `--trim`), each complete on disk as soon as its window is encoded'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l vad -d 'Find speech with Silero VAD v6 first (fetched on first use as `silero-vad`) and work on speech only; times stay those of the recording. Whisper\'s words on silence and noise ("you", "Thank you.") go away'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand encode" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l model -d 'Model: a short name (fetched when not cached), a Hub id org/name[@revision], or a directory holding tokenizer.json and generation_config.json beside the weights [default: $NPU_WHISPER_MODEL, else base]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l device -d 'Where to run the encoder (the decoder always runs on the CPU); as for `encode`' -r -f -a "auto\t''
cpu\t''
npu\t''
npu-sim\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l precision -d 'The encoder\'s arithmetic on the CPU: `auto` is bf16 on CPUs with AVX512_BF16 (with f16 cross-attention K/V in the decoder; the same word error rate as f32 on every test set, about 1.4x faster on a 30 s clip) and f32 elsewhere; `f32` is the exact path (f32 encoder and K/V); `bf16` as for `encode`' -r -f -a "auto\t''
f32\t''
bf16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l kv-storage -d 'How each window\'s cross-attention keys and values are kept (every decoding step reads all of them): `auto` follows --precision (f32 K/V with f32, the exact path; f16 otherwise: 11 significant bits, ~15% less time per token here, no test transcript changed)' -r -f -a "auto\t''
f32\t''
f16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l language -d 'Spoken language as a code (en, de, fr, ...); detected from the first 30 s when absent' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l task -d '`transcribe` keeps the spoken language; `translate` writes English (multilingual models)' -r -f -a "transcribe\t''
translate\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s f -l format -d 'Transcript format on stdout (or in `-o`): plain text (one segment per line), SubRip, WebVTT, or JSON with segments, timings and placement' -r -f -a "txt\t''
srt\t''
vtt\t''
json\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s o -l output -d 'Write the transcript to this file instead of stdout; a directory (existing, or ending in `/`) gets one `<input name>.<format>` per input' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l beam-size -d 'Beam search width at temperature 0 (1 decodes greedily)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l best-of -d 'Samples drawn at each temperature above 0; the likeliest is kept' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l patience -d 'The beam search ends once beam-size x patience hypotheses have finished' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l length-penalty -d 'Hypotheses rank by sum of log-probabilities / length^F (0: no normalisation)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l compression-ratio-threshold -d 'A decode whose text compresses better than this (gzip ratio) is a repetition loop and is retried at the next temperature (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l log-prob-threshold -d 'A decode whose mean log-probability is below this is retried at the next temperature (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l no-speech-threshold -d 'A window whose no-speech probability is above this, and whose decode is improbable, is skipped as silence (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l prompt-reset-on-temperature -d 'With --condition-on-previous-text: forget the previous text after a window decoded above this temperature' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l initial-prompt -d 'Text before the first window: names, spellings and style the transcript should follow' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l hotwords -d 'Words or phrases to prefer, put in every window\'s prompt' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l suppress-tokens -d 'Token ids never decoded, comma-separated; -1 stands for the model\'s non-speech symbols' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l max-initial-timestamp -d 'A window\'s first timestamp is at most this many seconds' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l prepend-punctuations -d 'With --word-timestamps: these marks join the following word' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l append-punctuations -d 'With --word-timestamps: these marks join the preceding word' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l max-line-width -d 'srt/vtt with --word-timestamps: characters per line before a line break' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l max-line-count -d 'srt/vtt with --word-timestamps and --max-line-width: lines per cue (cues then no longer follow segments)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l max-words-per-line -d 'srt/vtt with --word-timestamps, without --max-line-width: words per line' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-threshold -d 'With --vad: a 32 ms chunk whose speech probability is at least this is speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-neg-threshold -d 'With --vad: below this probability always silence; between it and --vad-threshold, speech only if the chunk before was [default: --vad-threshold - 0.15, at least 0.01]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-min-speech-duration-ms -d 'With --vad: speech shorter than this is dropped' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-max-speech-duration-s -d 'With --vad: longer speech is split (at a pause of more than 98 ms where there is one)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-min-silence-duration-ms -d 'With --vad: silence this long ends a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-speech-pad-ms -d 'With --vad: padding kept on each side of a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad-model -d 'With --vad: the VAD weights (a .safetensors file `convert` wrote, or the .onnx file) instead of the cached silero-vad' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l max-audio-s -d 'Refuse (exit 3) an input longer than S seconds: from its header where the format says its length, else as soon as decoding passes S, so no more than S seconds are ever decoded [default: no limit]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l require-npu -d 'Fail (exit 4) instead of using the CPU when the NPU is unavailable or an NPU op fails'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l no-fallback -d 'Decode at temperature 0 only: no retries at higher temperatures when a decode repeats itself or is improbable'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l condition-on-previous-text -d 'Prompt each window with the text decoded so far (faster-whisper\'s default). Off by default here, as in WhisperX: one bad window can then derail the next, and on this project\'s long test recording it made faster-whisper drop two windows'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l without-timestamps -d 'Decode text only, without timestamp tokens: one segment per 30 s window'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l word-timestamps -d 'Time every word (from the cross-attention of the model\'s alignment heads, as OpenAI and faster-whisper do): `-f json` gives each segment a `words` list, and segment bounds follow their words'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l highlight-words -d 'srt/vtt with --word-timestamps: one cue per word, the word underlined (karaoke style)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l vad -d 'Find speech with Silero VAD v6 first (fetched on first use as `silero-vad`) and work on speech only; times stay those of the recording. Whisper\'s words on silence and noise ("you", "Thank you.") go away'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand transcribe" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -s o -l output -d 'Output .npy file of shape (windows, n_mels, 3000); `-` writes it to standard output' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -l n-mels -d 'Mel bins: 80 (tiny ... large-v2) or 128 (large-v3)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -l max-audio-s -d 'Refuse (exit 3) an input longer than S seconds: from its header where the format says its length, else as soon as decoding passes S, so no more than S seconds are ever decoded [default: no limit]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand mel" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l model -d 'Model to benchmark (as `encode --model`; fetched when not cached) [default: none: synthetic weights of `--size`\'s dimensions, so bench runs with nothing fetched]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l size -d 'Dimensions of the synthetic model: any catalogue size (tiny ... large-v3, large-v3-turbo, distil-large-v3, ...) [default: base]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l layers -d 'Encoder layers to run (default: all of the model)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l device -d 'Where to run the encoder (see `encode --device`)' -r -f -a "auto\t''
cpu\t''
npu\t''
npu-sim\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l precision -d 'Arithmetic of the CPU path\'s GEMMs (see `encode --precision`)' -r -f -a "f32\t''
bf16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l iterations -d 'Timed runs of one 30 s window' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l warmup -d 'Untimed runs first' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand bench" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -s o -l output -d 'Output directory (Hugging Face hub layout: config.json, generation_config.json, tokenizer.json, model.safetensors); for the VAD, a `.safetensors` file (or a directory to hold silero_vad_v6.safetensors)' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -l dtype -d 'Precision of the written weights' -r -f -a "f16\t''
f32\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand convert" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -f -a "fetch" -d 'Download models into the cache (resumable, verified, safe to run twice at once). NAME is a short name (tiny, tiny.en, base, base.en, small, small.en, medium, medium.en, large-v1, large-v2, large-v3, large-v3-turbo or turbo, distil-small.en, distil-medium.en, distil-large-v2, distil-large-v3, distil-large-v3.5, silero-vad) or a Hub id org/name[@revision]'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -f -a "list" -d 'List cached models: name, source, revision, size on disk, dimensions, where'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -f -a "rm" -d 'Remove cached models (a short name: its PyPI import and its Hub copy; org/name@REV: that revision only)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and not __fish_seen_subcommand_from fetch list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -l source -d 'Where from: `auto` is the Hugging Face Hub (HF_ENDPOINT), or PyPI for the names that have a PyPI route when the Hub cannot be reached' -r -f -a "auto\t''
hub\t''
pypi\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from fetch" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "fetch" -d 'Download models into the cache (resumable, verified, safe to run twice at once). NAME is a short name (tiny, tiny.en, base, base.en, small, small.en, medium, medium.en, large-v1, large-v2, large-v3, large-v3-turbo or turbo, distil-small.en, distil-medium.en, distil-large-v2, distil-large-v3, distil-large-v3.5, silero-vad) or a Hub id org/name[@revision]'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "list" -d 'List cached models: name, source, revision, size on disk, dimensions, where'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove cached models (a short name: its PyPI import and its Hub copy; org/name@REV: that revision only)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l host -d 'Address to listen on; the default answers this machine only (put a reverse proxy or 0.0.0.0 with --api-key-file in front of anything wider)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l port -d 'HTTP port (OpenAI-compatible API, embeddings, /health, /metrics); 0 picks a free port (printed on stderr)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l model -d 'Model to keep loaded; repeat for several (requests name one in `model`; the first also answers OpenAI\'s `whisper-1`) [default: $NPU_WHISPER_MODEL, else base]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l device -d 'Where to run the encoder; as for `encode`' -r -f -a "auto\t''
cpu\t''
npu\t''
npu-sim\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l precision -d 'The encoder\'s arithmetic; as for `transcribe`' -r -f -a "auto\t''
f32\t''
bf16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l kv-storage -d 'Cross-attention key/value storage; as for `transcribe`' -r -f -a "auto\t''
f32\t''
f16\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l api-key-file -d 'A file holding the API key clients must send as `Authorization: Bearer KEY` (surrounding whitespace ignored); /health and /metrics need none. Without it, no key is asked for' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l max-concurrency -d 'Requests transcribed or encoded at once; each uses the whole CPU pool for its matrix products, so 1 (the default) keeps every request fastest. More can help on many cores (measure with `cargo bench --bench serve_load`, docs/service.md)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l queue -d 'Requests waiting for a turn beyond those running; more are refused with 429 and Retry-After. A request takes its place only once its upload has arrived whole' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l max-connections -d 'Open connections (HTTP and Wyoming together); a connection over it is answered 503 (a Wyoming `error` event) and closed. Each may hold one upload in memory while it arrives, so this times --max-upload-mb bounds what uploads in progress can cost; the default leaves room for a full queue plus as many uploads arriving' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l max-upload-mb -d 'Largest upload in MB (decimal, as OpenAI\'s 25 MB limit); larger bodies get 413 as soon as the limit is crossed, without reading the rest' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l max-audio-s -d 'Longest recording in seconds, after decoding; longer ones get 400' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l client-timeout-s -d 'Seconds a client may take to send its request headers, and to send its whole upload (408 past it: a 25 MB upload needs about 7 Mbit/s at the default); a Wyoming client may be silent no longer than this, and its audio may fall behind real time by no more' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l wyoming-port -d 'Also serve the Wyoming protocol (Home Assistant\'s speech-to-text) on this TCP port, on the same address. Wyoming has no authentication: with --api-key-file on an address beyond loopback it needs --wyoming-unauthenticated' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l grace-s -d 'On SIGTERM or Ctrl-C: seconds to finish the requests already accepted (new ones get 503); those still running then are cancelled and the service exits 1' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l beam-size -d 'Beam search width at temperature 0 (1 decodes greedily)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l best-of -d 'Samples drawn at each temperature above 0; the likeliest is kept' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l patience -d 'The beam search ends once beam-size x patience hypotheses have finished' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l length-penalty -d 'Hypotheses rank by sum of log-probabilities / length^F (0: no normalisation)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l compression-ratio-threshold -d 'A decode whose text compresses better than this (gzip ratio) is a repetition loop and is retried at the next temperature (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l log-prob-threshold -d 'A decode whose mean log-probability is below this is retried at the next temperature (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l no-speech-threshold -d 'A window whose no-speech probability is above this, and whose decode is improbable, is skipped as silence (`off` disables)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l prompt-reset-on-temperature -d 'With --condition-on-previous-text: forget the previous text after a window decoded above this temperature' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l initial-prompt -d 'Text before the first window: names, spellings and style the transcript should follow' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l hotwords -d 'Words or phrases to prefer, put in every window\'s prompt' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l suppress-tokens -d 'Token ids never decoded, comma-separated; -1 stands for the model\'s non-speech symbols' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l max-initial-timestamp -d 'A window\'s first timestamp is at most this many seconds' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-threshold -d 'With --vad: a 32 ms chunk whose speech probability is at least this is speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-neg-threshold -d 'With --vad: below this probability always silence; between it and --vad-threshold, speech only if the chunk before was [default: --vad-threshold - 0.15, at least 0.01]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-min-speech-duration-ms -d 'With --vad: speech shorter than this is dropped' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-max-speech-duration-s -d 'With --vad: longer speech is split (at a pause of more than 98 ms where there is one)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-min-silence-duration-ms -d 'With --vad: silence this long ends a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-speech-pad-ms -d 'With --vad: padding kept on each side of a stretch of speech' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad-model -d 'With --vad: the VAD weights (a .safetensors file `convert` wrote, or the .onnx file) instead of the cached silero-vad' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l require-npu -d 'Refuse to start (exit 4) instead of using the CPU when the NPU is unavailable'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l wyoming-unauthenticated -d 'Serve Wyoming beyond loopback although --api-key-file protects the HTTP API (anyone who reaches the Wyoming port can transcribe without the key)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l no-fallback -d 'Decode at temperature 0 only: no retries at higher temperatures when a decode repeats itself or is improbable'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l condition-on-previous-text -d 'Prompt each window with the text decoded so far (faster-whisper\'s default). Off by default here, as in WhisperX: one bad window can then derail the next, and on this project\'s long test recording it made faster-whisper drop two windows'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l without-timestamps -d 'Decode text only, without timestamp tokens: one segment per 30 s window'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l vad -d 'Find speech with Silero VAD v6 first (fetched on first use as `silero-vad`) and work on speech only; times stay those of the recording. Whisper\'s words on silence and noise ("you", "Thank you.") go away'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand serve" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand completions" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l sizes -d 'Model sizes whose encoder shapes to check (catalogue names)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l native -d 'Run the kernels compiled for this machine from this shared library (scripts/test-kernels-native builds it) instead of on the NPU' -r -F
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l inputs -d 'Input values: finite, or special (NaN, infinities, denormals, huge magnitudes mixed in)' -r -f -a "finite\t''
special\t''"
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l sets -d 'Input sets per call (different seeds)' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l simulate -d 'Validate the simulator against itself (a dry run of the path, no NPU needed)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand validate-kernels" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -l size -d 'Model size (catalogue name) whose dimensions the synthetic model has' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -l layers -d 'Encoder layers' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -l threads -d 'Worker threads for the CPU path [default: all available cores]' -r
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -s q -l quiet -d 'Print nothing but errors (and the product itself)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -l json -d 'Print one JSON document (with a schema_version) instead of the human summary'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -l offline -d 'Never download: a model that is not cached is an error naming `model fetch` (as HF_HUB_OFFLINE=1)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -s h -l help -d 'Print help'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand emulate-window" -s V -l version -d 'Print version'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "encode" -d 'Encode audio to Whisper encoder embeddings (log-mel -> encoder), with per-op timings'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "transcribe" -d 'Transcribe speech to text with segment timestamps (encoder on any device, decoder on the CPU); the transcript alone goes to stdout, timings to stderr'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "mel" -d 'Compute OpenAI-exact log-mel features of audio and write them as float32 .npy'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "bench" -d 'Benchmark the encoder (runs with no model: base dimensions, synthetic weights)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "doctor" -d 'Check the machine for the NPU path: device, driver, firmware, memlock, XRT, kernels'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "convert" -d 'Import a CTranslate2 (faster-whisper) Whisper model into the Hugging Face layout, or Silero VAD\'s ONNX file into safetensors'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "model" -d 'Fetch, list and remove cached models (Hugging Face Hub, or PyPI for base, tiny.en and silero-vad)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "serve" -d 'Keep models loaded and answer HTTP (OpenAI-compatible transcriptions and translations, embeddings, /health, /metrics) and, with --wyoming-port, the Wyoming protocol'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "completions" -d 'Print a shell completion script: `npu-whisper completions bash > ~/.local/share/bash-completion/completions/npu-whisper`'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "validate-kernels" -d 'Run every NPU kernel against the simulator, bit for bit, one JSON document on stdout (used by scripts/npu-validate; exit 4 when there is no usable NPU)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "emulate-window" -d 'Encode one window with every op on the dataflow emulator and compare it with the simulator, bit for bit (used by scripts/emulate-npu)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and not __fish_seen_subcommand_from encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "fetch" -d 'Download models into the cache (resumable, verified, safe to run twice at once). NAME is a short name (tiny, tiny.en, base, base.en, small, small.en, medium, medium.en, large-v1, large-v2, large-v3, large-v3-turbo or turbo, distil-small.en, distil-medium.en, distil-large-v2, distil-large-v3, distil-large-v3.5, silero-vad) or a Hub id org/name[@revision]'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "list" -d 'List cached models: name, source, revision, size on disk, dimensions, where'
complete -c npu-whisper -n "__fish_npu_whisper_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "rm" -d 'Remove cached models (a short name: its PyPI import and its Hub copy; org/name@REV: that revision only)'
