#!/bin/bash
# What `meson install` ships around the dynthrift binary: the man pages
# (written from each command's --help at build time) render with man and
# name their command; the bash completion completes commands, options,
# SERVICE.METHOD names from the IDL given, and protocol values.
# TAP.  Arguments: DYNTHRIFT BUILD_TOOLS_DIR COMPLETION_SCRIPT SAMPLE_IDL
set -u
cli=$1 mandir=$2 completion=$3 idl=$4
n=0 failed=0
ok() { # ok COND-EXIT NAME
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

for page in dynthrift idl list describe encode decode call serve bench; do
    f=$mandir/dynthrift-$page.1
    [ "$page" = dynthrift ] && f=$mandir/dynthrift.1
    name=$([ "$page" = dynthrift ] && echo DYNTHRIFT || echo "DYNTHRIFT-${page^^}")
    text=$(MANWIDTH=100 man -l "$f" 2>/dev/null)
    usage_line=$([ "$page" = dynthrift ] && echo "dynthrift COMMAND" || echo "dynthrift $page ")
    [[ "$text" == *"$name(1)"* && "$text" == *"$usage_line"* && "$text" == *"SEE ALSO"* ]]
    ok $? "man page $(basename "$f") renders with its synopsis"
done
# The page says what --help says (here: an option only the help knows).
grep -q 'fail\\-on\\-error' "$mandir/dynthrift-bench.1"
ok $? "man page follows --help (bench --fail-on-error)"

# bash completion, driven as bash does.
complete_words() { # complete_words WORD... ; the last word is the one completed
    bash -c '
        PATH=$(dirname "$1"):$PATH
        source "$2"
        shift 2
        COMP_WORDS=("$@")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        _dynthrift
        printf "%s\n" "${COMPREPLY[@]}"' _ "$cli" "$completion" "$@"
}
[ "$(basename "$cli")" = dynthrift ] || { echo "not ok - the binary must be named dynthrift"; exit 1; }
out=$(complete_words dynthrift de)
[[ "$out" == *describe* && "$out" == *decode* && "$out" != *call* ]]
ok $? "completion: commands ($(echo $out))"
out=$(complete_words dynthrift call "$idl" Bench.a)
[ "$out" = Bench.add ]
ok $? "completion: SERVICE.METHOD from the IDL ($(echo $out))"
out=$(complete_words dynthrift call "$idl" "")
[[ "$out" == *Bench.ping* && "$out" == *Bench.fail* ]]
ok $? "completion: every method of the IDL"
out=$(complete_words dynthrift bench --fail)
[ "$out" = --fail-on-error ]
ok $? "completion: a command's options ($(echo $out))"
out=$(complete_words dynthrift call --protocol c)
[ "$out" = compact ]
ok $? "completion: --protocol values"
out=$(complete_words dynthrift help se)
[ "$out" = serve ]
ok $? "completion: help COMMAND"

# zsh completion: loads, and (compsys stubbed) offers commands and the
# IDL's SERVICE.METHOD names.
zsh_completion=$(dirname "$completion")/_dynthrift
if command -v zsh >/dev/null; then
    zsh -n "$zsh_completion"
    ok $? "zsh completion parses"
    out=$(zsh -c '
        PATH=$(dirname "$1"):$PATH
        compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} }
        _describe() { print -l -- ${(P)2} }
        _arguments() { state=methods; return 1 }
        source "$2" >/dev/null 2>&1
        words=(dynthrift call "$3" ""); CURRENT=4; _dynthrift
        words=(dynthrift ""); CURRENT=2; _dynthrift' _ "$cli" "$zsh_completion" "$idl")
    [[ "$out" == *$'\nBench.add\n'* && "$out" == *"describe:"* ]]
    ok $? "zsh completion: SERVICE.METHOD names and commands"
else
    n=$((n + 1)); echo "ok $n # SKIP zsh not installed"
fi

echo "1..$n"
exit $failed
