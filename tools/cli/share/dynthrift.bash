# bash completion for dynthrift: commands, each command's options, .thrift
# files, and SERVICE / SERVICE.METHOD names read from the IDL already on the
# command line (through `dynthrift list`, so includes and DYNTHRIFT_PATH
# work as for the command itself).

_dynthrift_opts() {
    case "$1" in
    idl) echo "-I --include --format --synthesized --help" ;;
    list) echo "-I --include --help" ;;
    describe) echo "-I --include --template --help" ;;
    encode|decode) echo "-I --include --protocol --help" ;;
    call) echo "-I --include --addr --framed --buffered --protocol --multiplex --timeout --header --zlib --cacert --cert --key -k --insecure -H
                --lines --pipeline --pretty --ignore-unknown -i --show-headers -v --verbose --help" ;;
    serve) echo "-I --include --addr --framed --buffered --protocol --mock --unmocked --exec
                 --header --zlib --cacert --cert --key
                 --exec-timeout --echo --record --threads --max-connections --idle-timeout
                 -v --verbose --help" ;;
    bench) echo "-I --include --addr --framed --buffered --protocol --multiplex --timeout --header --zlib --cacert --cert --key -k --insecure -H
                 -c --connections -p --pipeline -d --duration -n --calls --rate --warmup
                 --verify --json --pretty --latency --fail-on-error --max-p99
                 --ignore-unknown --help" ;;
    gateway|ui) echo "-I --include --upstream --listen --framed --buffered --protocol --multiplex
                 --timeout --cors --max-body --client-timeout --idle-timeout --max-connections
                 --request --request-header
                 --openapi --schema --help" ;;
    esac
}

_dynthrift() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local commands="idl list describe encode decode call serve bench gateway ui help version"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi
    local cmd="${COMP_WORDS[1]}"
    if [ "$cmd" = help ]; then
        [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
    fi
    case "$prev" in
    --protocol) COMPREPLY=($(compgen -W "binary compact json" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --unmocked) COMPREPLY=($(compgen -W "default unknown" -- "$cur")); return ;;
    -I|--include) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --mock|--record|--cacert|--cert|--key) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --addr|--timeout|--multiplex|--exec|--exec-timeout|--threads|--max-connections|\
    --idle-timeout|-c|--connections|-p|--pipeline|-d|--duration|-n|--calls|--rate|--warmup|\
    --max-p99|-H)
        return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_dynthrift_opts "$cmd")" -- "$cur"))
        return
    fi
    # Positionals: FILE first, then a name from it.
    local i file="" incs=() npos=0
    for ((i = 2; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
        -I|--include) incs+=(-I "${COMP_WORDS[i+1]}"); ((i++)) ;;
        --addr|--protocol|--format|--timeout|--multiplex|--pipeline|--mock|--exec|--record|\
        --unmocked|--exec-timeout|--threads|--max-connections|--idle-timeout|-c|--connections|\
        -p|-d|--duration|-n|--calls|--rate|--warmup|--max-p99|--cacert|--cert|--key|-H) ((i++)) ;;
        -*) ;;
        *) [ -z "$file" ] && file="${COMP_WORDS[i]}"; ((npos++)) ;;
        esac
    done
    if [ "$npos" -eq 0 ]; then
        COMPREPLY=($(compgen -f -X '!*.thrift' -- "$cur") $(compgen -d -- "$cur"))
        return
    fi
    [ "$npos" -ne 1 ] && return
    local names
    case "$cmd" in
    call|bench|describe)
        local svc
        names=""
        for svc in $(dynthrift list "${incs[@]}" "$file" 2>/dev/null); do
            names="$names $svc $(dynthrift list "${incs[@]}" "$file" "$svc" 2>/dev/null)"
        done ;;
    list|serve)
        names=$(dynthrift list "${incs[@]}" "$file" 2>/dev/null) ;;
    *) return ;;
    esac
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
}

complete -F _dynthrift dynthrift
