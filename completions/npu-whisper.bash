_npu__whisper() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="npu__whisper"
                ;;
            npu__whisper,bench)
                cmd="npu__whisper__subcmd__bench"
                ;;
            npu__whisper,completions)
                cmd="npu__whisper__subcmd__completions"
                ;;
            npu__whisper,convert)
                cmd="npu__whisper__subcmd__convert"
                ;;
            npu__whisper,doctor)
                cmd="npu__whisper__subcmd__doctor"
                ;;
            npu__whisper,emulate-window)
                cmd="npu__whisper__subcmd__emulate__subcmd__window"
                ;;
            npu__whisper,encode)
                cmd="npu__whisper__subcmd__encode"
                ;;
            npu__whisper,help)
                cmd="npu__whisper__subcmd__help"
                ;;
            npu__whisper,mel)
                cmd="npu__whisper__subcmd__mel"
                ;;
            npu__whisper,model)
                cmd="npu__whisper__subcmd__model"
                ;;
            npu__whisper,serve)
                cmd="npu__whisper__subcmd__serve"
                ;;
            npu__whisper,transcribe)
                cmd="npu__whisper__subcmd__transcribe"
                ;;
            npu__whisper,validate-kernels)
                cmd="npu__whisper__subcmd__validate__subcmd__kernels"
                ;;
            npu__whisper__subcmd__help,bench)
                cmd="npu__whisper__subcmd__help__subcmd__bench"
                ;;
            npu__whisper__subcmd__help,completions)
                cmd="npu__whisper__subcmd__help__subcmd__completions"
                ;;
            npu__whisper__subcmd__help,convert)
                cmd="npu__whisper__subcmd__help__subcmd__convert"
                ;;
            npu__whisper__subcmd__help,doctor)
                cmd="npu__whisper__subcmd__help__subcmd__doctor"
                ;;
            npu__whisper__subcmd__help,emulate-window)
                cmd="npu__whisper__subcmd__help__subcmd__emulate__subcmd__window"
                ;;
            npu__whisper__subcmd__help,encode)
                cmd="npu__whisper__subcmd__help__subcmd__encode"
                ;;
            npu__whisper__subcmd__help,help)
                cmd="npu__whisper__subcmd__help__subcmd__help"
                ;;
            npu__whisper__subcmd__help,mel)
                cmd="npu__whisper__subcmd__help__subcmd__mel"
                ;;
            npu__whisper__subcmd__help,model)
                cmd="npu__whisper__subcmd__help__subcmd__model"
                ;;
            npu__whisper__subcmd__help,serve)
                cmd="npu__whisper__subcmd__help__subcmd__serve"
                ;;
            npu__whisper__subcmd__help,transcribe)
                cmd="npu__whisper__subcmd__help__subcmd__transcribe"
                ;;
            npu__whisper__subcmd__help,validate-kernels)
                cmd="npu__whisper__subcmd__help__subcmd__validate__subcmd__kernels"
                ;;
            npu__whisper__subcmd__help__subcmd__model,fetch)
                cmd="npu__whisper__subcmd__help__subcmd__model__subcmd__fetch"
                ;;
            npu__whisper__subcmd__help__subcmd__model,list)
                cmd="npu__whisper__subcmd__help__subcmd__model__subcmd__list"
                ;;
            npu__whisper__subcmd__help__subcmd__model,rm)
                cmd="npu__whisper__subcmd__help__subcmd__model__subcmd__rm"
                ;;
            npu__whisper__subcmd__model,fetch)
                cmd="npu__whisper__subcmd__model__subcmd__fetch"
                ;;
            npu__whisper__subcmd__model,help)
                cmd="npu__whisper__subcmd__model__subcmd__help"
                ;;
            npu__whisper__subcmd__model,list)
                cmd="npu__whisper__subcmd__model__subcmd__list"
                ;;
            npu__whisper__subcmd__model,rm)
                cmd="npu__whisper__subcmd__model__subcmd__rm"
                ;;
            npu__whisper__subcmd__model__subcmd__help,fetch)
                cmd="npu__whisper__subcmd__model__subcmd__help__subcmd__fetch"
                ;;
            npu__whisper__subcmd__model__subcmd__help,help)
                cmd="npu__whisper__subcmd__model__subcmd__help__subcmd__help"
                ;;
            npu__whisper__subcmd__model__subcmd__help,list)
                cmd="npu__whisper__subcmd__model__subcmd__help__subcmd__list"
                ;;
            npu__whisper__subcmd__model__subcmd__help,rm)
                cmd="npu__whisper__subcmd__model__subcmd__help__subcmd__rm"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        npu__whisper)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__bench)
            opts="-v -q -h -V --model --size --layers --device --precision --iterations --warmup --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --layers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --device)
                    COMPREPLY=($(compgen -W "auto cpu npu npu-sim" -- "${cur}"))
                    return 0
                    ;;
                --precision)
                    COMPREPLY=($(compgen -W "f32 bf16" -- "${cur}"))
                    return 0
                    ;;
                --iterations)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --warmup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__completions)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version bash elvish fish powershell zsh"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__convert)
            opts="-o -v -q -h -V --output --dtype --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dtype)
                    COMPREPLY=($(compgen -W "f16 f32" -- "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__doctor)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__emulate__subcmd__window)
            opts="-v -q -h -V --size --layers --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --layers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__encode)
            opts="-r -o -v -q -h -V --recursive --overwrite --shard --format --model --device --cpu-ops --require-npu --verify --precision --output --layers --trim --split --vad --vad-threshold --vad-neg-threshold --vad-min-speech-duration-ms --vad-max-speech-duration-s --vad-min-silence-duration-ms --vad-speech-pad-ms --vad-model --max-audio-s --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --shard)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "npy safetensors" -- "${cur}"))
                    return 0
                    ;;
                --model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --device)
                    COMPREPLY=($(compgen -W "auto cpu npu npu-sim" -- "${cur}"))
                    return 0
                    ;;
                --cpu-ops)
                    COMPREPLY=($(compgen -W "conv matmul attention layernorm gelu add" -- "${cur}"))
                    return 0
                    ;;
                --precision)
                    COMPREPLY=($(compgen -W "f32 bf16" -- "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --layers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-neg-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-speech-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-max-speech-duration-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-silence-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-speech-pad-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-audio-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help)
            opts="encode transcribe mel bench doctor convert model serve completions validate-kernels emulate-window help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__bench)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__completions)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__convert)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__doctor)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__emulate__subcmd__window)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__encode)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__mel)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__model)
            opts="fetch list rm"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__model__subcmd__fetch)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__model__subcmd__list)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__model__subcmd__rm)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__serve)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__transcribe)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__help__subcmd__validate__subcmd__kernels)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__mel)
            opts="-o -v -q -h -V --output --n-mels --max-audio-s --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --n-mels)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-audio-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version fetch list rm help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__fetch)
            opts="-v -q -h -V --source --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --source)
                    COMPREPLY=($(compgen -W "auto hub pypi" -- "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__help)
            opts="fetch list rm help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__help__subcmd__fetch)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__help__subcmd__list)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__help__subcmd__rm)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__list)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__model__subcmd__rm)
            opts="-v -q -h -V --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__serve)
            opts="-v -q -h -V --host --port --model --device --require-npu --precision --kv-storage --api-key-file --max-concurrency --queue --max-connections --max-upload-mb --max-audio-s --client-timeout-s --wyoming-port --wyoming-unauthenticated --grace-s --beam-size --best-of --patience --length-penalty --no-fallback --compression-ratio-threshold --log-prob-threshold --no-speech-threshold --condition-on-previous-text --prompt-reset-on-temperature --initial-prompt --hotwords --suppress-tokens --without-timestamps --max-initial-timestamp --vad --vad-threshold --vad-neg-threshold --vad-min-speech-duration-ms --vad-max-speech-duration-s --vad-min-silence-duration-ms --vad-speech-pad-ms --vad-model --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --device)
                    COMPREPLY=($(compgen -W "auto cpu npu npu-sim" -- "${cur}"))
                    return 0
                    ;;
                --precision)
                    COMPREPLY=($(compgen -W "auto f32 bf16" -- "${cur}"))
                    return 0
                    ;;
                --kv-storage)
                    COMPREPLY=($(compgen -W "auto f32 f16" -- "${cur}"))
                    return 0
                    ;;
                --api-key-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrency)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --queue)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-upload-mb)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-audio-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --client-timeout-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wyoming-port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --grace-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --beam-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --best-of)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --patience)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --length-penalty)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --compression-ratio-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-prob-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --no-speech-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prompt-reset-on-temperature)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --initial-prompt)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hotwords)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suppress-tokens)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-initial-timestamp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-neg-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-speech-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-max-speech-duration-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-silence-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-speech-pad-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__transcribe)
            opts="-f -o -v -q -h -V --model --device --require-npu --precision --kv-storage --language --task --format --output --beam-size --best-of --patience --length-penalty --no-fallback --compression-ratio-threshold --log-prob-threshold --no-speech-threshold --condition-on-previous-text --prompt-reset-on-temperature --initial-prompt --hotwords --suppress-tokens --without-timestamps --max-initial-timestamp --word-timestamps --prepend-punctuations --append-punctuations --max-line-width --max-line-count --max-words-per-line --highlight-words --vad --vad-threshold --vad-neg-threshold --vad-min-speech-duration-ms --vad-max-speech-duration-s --vad-min-silence-duration-ms --vad-speech-pad-ms --vad-model --max-audio-s --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --device)
                    COMPREPLY=($(compgen -W "auto cpu npu npu-sim" -- "${cur}"))
                    return 0
                    ;;
                --precision)
                    COMPREPLY=($(compgen -W "auto f32 bf16" -- "${cur}"))
                    return 0
                    ;;
                --kv-storage)
                    COMPREPLY=($(compgen -W "auto f32 f16" -- "${cur}"))
                    return 0
                    ;;
                --language)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --task)
                    COMPREPLY=($(compgen -W "transcribe translate" -- "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "txt srt vtt json" -- "${cur}"))
                    return 0
                    ;;
                -f)
                    COMPREPLY=($(compgen -W "txt srt vtt json" -- "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --beam-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --best-of)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --patience)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --length-penalty)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --compression-ratio-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-prob-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --no-speech-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prompt-reset-on-temperature)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --initial-prompt)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hotwords)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --suppress-tokens)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-initial-timestamp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prepend-punctuations)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --append-punctuations)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-line-width)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-line-count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-words-per-line)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-neg-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-speech-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-max-speech-duration-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-min-silence-duration-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-speech-pad-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vad-model)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-audio-s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        npu__subcmd__whisper__subcmd__validate__subcmd__kernels)
            opts="-v -q -h -V --sizes --simulate --native --inputs --sets --verbose --quiet --threads --json --offline --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --sizes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --native)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --inputs)
                    COMPREPLY=($(compgen -W "finite special" -- "${cur}"))
                    return 0
                    ;;
                --sets)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _npu__whisper -o nosort -o bashdefault -o default npu-whisper
else
    complete -F _npu__whisper -o bashdefault -o default npu-whisper
fi
