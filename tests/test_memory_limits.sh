#!/usr/bin/env bash
# Inputs too big for memory, under a virtual-memory limit (ulimit -v): a header declaring
# enormous shapes, a prompt or a sequence too long, a huge text to tokenize, an export
# whose masks cannot be allocated. Each must end in a one-line error and a non-zero exit,
# never a crash or a kill, and leave no output behind. AddressSanitizer reserves terabytes
# of address space, so this runs in the release tree only.
. "$(dirname "$0")/lib.sh"
[ "${GPTOSS_SANITIZE:-0}" = 1 ] && { echo "skipped: ulimit -v and ASan do not mix"; exit 77; }
"$GPTOSS_BIN" synth --help >/dev/null 2>&1 || { echo "skipped: gptoss synth not built"; exit 77; }

ck=$(fixture tiny)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# limited KB CMD... : runs CMD under ulimit -v KB; its error must be one line, the exit
# status 1 (or 2 for a usage error), and the message must contain $want.
limited() {
  local kb=$1 want=$2 what=$3; shift 3
  local err rc=0
  err=$( (ulimit -v "$kb"; "$@") 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "$what: exit $rc (want 1 or 2): $err"
  [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] || fail "$what: not one line: $err"
  case $err in *"$want"*) ;; *) fail "$what: '$err' does not say '$want'" ;; esac
  echo "ok: $what -> $err"
}
GB=$((1024 * 1024))

# --- gptoss inspect: shapes whose size overflows, and a 1 TB tensor (a sparse file) that
# the header declares correctly but that cannot be mapped in 2 GB
header() { # FILE JSON DATA_BYTES: a safetensors file with that header and a sparse data section
  python3 -c "
import struct, sys
h = sys.argv[2].encode(); h += b' ' * (-len(h) % 8)
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(h))); f.write(h); f.truncate(8 + len(h) + int(sys.argv[3]))
" "$@"
}
mkdir "$tmp/overflow" "$tmp/huge"
cp "$ck/config.json" "$tmp/overflow/"
cp "$ck/config.json" "$tmp/huge/"
header "$tmp/overflow/model.safetensors" \
  '{"embedding.weight": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 0]}}' 0
header "$tmp/huge/model.safetensors" \
  '{"embedding.weight": {"dtype": "BF16", "shape": [549755813888], "data_offsets": [0, 1099511627776]}}' \
  1099511627776
limited $((2 * GB)) "shape too large" "inspect: shape overflow" "$GPTOSS_BIN" inspect "$tmp/overflow"
limited $((2 * GB)) "cannot map" "inspect: a 1 TB tensor in 2 GB" "$GPTOSS_BIN" inspect "$tmp/huge"
limited $((2 * GB)) "cannot map" "run: a 1 TB tensor in 2 GB" "$GPTOSS_BIN" run -m "$tmp/huge" --tokens 1
# a config.json whose sizes cannot be allocated (each size is valid; 2^24 blocks of 2^24
# experts overflow 64 bits; 2^20 experts of 4096 do not, but do not fit in 2 GB)
bigcfg() { # DIR KEY=VALUE...: the tiny checkpoint with those config sizes
  local dir=$1; shift
  mkdir "$dir"
  ln -s "$ck/model.safetensors" "$dir/model.safetensors"
  python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
c.update({k: int(v) for k, v in (a.split('=') for a in sys.argv[3:])})
json.dump(c, open(sys.argv[2], 'w'))" "$ck/config.json" "$dir/config.json" "$@"
}
bigcfg "$tmp/cfg64" num_hidden_layers=16777216 num_experts=16777216 intermediate_size=16777216 hidden_size=16777216
bigcfg "$tmp/cfg2g" num_experts=1048576 intermediate_size=4096
limited $((2 * GB)) "more than 2^64 bytes" "inspect: config sizes beyond 64 bits" "$GPTOSS_BIN" inspect "$tmp/cfg64"
limited $((2 * GB)) "out of memory" "run: config sizes beyond 2 GB" "$GPTOSS_BIN" run -m "$tmp/cfg2g" --tokens 1
rm -rf "$tmp/overflow" "$tmp/huge" "$tmp/cfg64" "$tmp/cfg2g"

# --- gptoss run: a sequence, a prompt, threads that do not fit
limited $((2 * GB)) "out of memory" "run: --sequence-length 1048576 (every position dumped) in 2 GB" \
  "$GPTOSS_BIN" run -m "$ck" --tokens 1,2 --sequence-length 1048576 --threads 1 --dump "$tmp/d.safetensors"
limited $((2 * GB)) "1..1048576" "run: --sequence-length beyond the limit" \
  "$GPTOSS_BIN" run -m "$ck" --tokens 1,2 --sequence-length 99999999999
ids=$(python3 -c "print(','.join(['4827'] * 20000))")
# without --dump the prompt runs in chunks and only the last logits are kept: it fits
out=$( (ulimit -v $((2 * GB)); "$GPTOSS_BIN" run -m "$ck" --tokens "$ids" --threads 1 --top 1) 2>&1) \
  || fail "run: a 20000-token prompt should run in 2 GB (chunked prefill): $out"
echo "ok: run: a 20000-token prompt runs in 2 GB"
# a context whose KV cache cannot even be reserved
limited $((200 * 1024)) "KV cache" "generate: a 131072-token context in 200 MB" \
  "$GPTOSS_BIN" generate -m "$ck" --tokens 1,2 -n 2 --context 131072
limited $((300 * 1024)) "out of memory" "run: a 20000-token prompt with --dump in 300 MB" \
  "$GPTOSS_BIN" run -m "$ck" --tokens "$ids" --threads 1 --dump "$tmp/d.safetensors"
[ ! -e "$tmp/d.safetensors" ] || fail "run: a failed --dump left its file"
limited $((300 * 1024)) "thread" "run: 1000 threads in 300 MB" "$GPTOSS_BIN" run -m "$ck" --tokens 1 --threads 1000

# --- gptoss tokenize: 20 MB of text in 300 MB (the JSON output cannot be built; a single
# 20 MB piece cannot be merged); 200 KB fits
python3 -c "import sys; sys.stdout.write('hello world ' * 1700000)" >"$tmp/words.txt"
python3 -c "import sys; sys.stdout.write('a' * 20000000)" >"$tmp/a.txt"
limited $((300 * 1024)) "out of memory" "tokenize --json: 20 MB of words in 300 MB" \
  sh -c '"$0" tokenize --json - <"$1"' "$GPTOSS_BIN" "$tmp/words.txt"
limited $((100 * 1024)) "out of memory" "tokenize: one 20 MB piece in 100 MB" \
  sh -c '"$0" tokenize - <"$1"' "$GPTOSS_BIN" "$tmp/a.txt"
n=$(head -c 200000 "$tmp/words.txt" | (ulimit -v $((300 * 1024)); "$GPTOSS_BIN" tokenize --json -) |
    python3 -c "import json, sys; print(len(json.load(sys.stdin)['ids']))")
[ "$n" -eq 33334 ] || fail "tokenize: 200 KB gave $n ids, want 33334"
echo "ok: tokenize: 200 KB of words in 300 MB -> $n ids"

# --- gptoss export-onnx: masks of S x S floats that cannot be allocated; nothing written
limited $((2 * GB)) "out of memory" "export-onnx: --sequence-length 100000 in 2 GB" \
  "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/x.onnx" -q --sequence-length 100000
limited $((2 * GB)) "1..1048576" "export-onnx: --sequence-length beyond the limit" \
  "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/x.onnx" -q --sequence-length 2000000
[ -z "$(ls "$tmp" | grep '^x\.onnx')" ] || fail "export-onnx: a failed export left $(ls "$tmp")"
echo "PASS"
