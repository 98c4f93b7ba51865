#!/usr/bin/env bash
# Benchmarks dirac-init against the Python route (mygrad + np.save / safetensors save_file) and
# against the pipe's own limit, side by side in one run, and prints a table of medians, ratios,
# peak RSS and allocated blocks. Installs what it needs: hyperfine and GNU time from Debian's
# packages, the Python reference in a venv (bench/requirements.txt).
#
#   bash bench/compare.sh            # the full run (about 3 minutes)
#   BENCH_DIR=/some/ext4/dir bash bench/compare.sh
#
# The machines are shared and noisy: read the ratios, not the absolute times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
venv="$root/.venv-bench"
req="$root/bench/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv" && python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$venv/.requirements.sha256"
fi
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"

bin="$root/target/release/dirac-init"
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on some machines here for old OpenBLAS builds;
# they slow a current numpy, so the Python route runs without them (in its own command only).
py="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $venv/bin/python $root/bench/reference.py"
dir="${BENCH_DIR:-$(mktemp -d "$root/target/bench.XXXXXX")}"
mkdir -p "$dir"
json="$dir/json"
mkdir -p "$json"
trap 'rm -f "$dir"/*.npy "$dir"/*.safetensors "$dir/floor"' EXIT

# bench NAME RUNS PREPARE CMD... : medians land in $json/NAME.json. PREPARE runs before every
# timed run (removing the outputs, so that each run writes a new file); -N runs the commands
# without a shell, so the shell's start-up is not counted against a 2 ms command.
bench() {
    local name=$1 runs=$2 prepare=$3
    shift 3
    hyperfine --style none --warmup 1 --runs "$runs" --prepare "$prepare" \
        --export-json "$json/$name.json" "$@" >/dev/null 2>"$json/$name.log"
}
# rss CMD : peak resident set in KiB, from GNU time
rss() { /usr/bin/time -f "%M" bash -c "$1" 2>&1 >/dev/null | tail -n 1; }
# blocks FILE : allocated bytes and length
blocks() { stat -c "%b %B %s" "$1"; }

echo "dirac-init $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(uname -r), $(df -T "$dir" | awk 'NR==2 {print $2}') at $dir" >&2

echo "case 1: 64x64x3x3 f32" >&2
bench c1_npy 30 "rm -f $dir/c1.npy $dir/c1_ref.npy" -N \
    -n dirac-init "$bin 64 64 3 3 --dtype f32 -o $dir/c1.npy" -n python "$py 64 64 3 3 $dir/c1_ref.npy"
bench c1_st 30 "rm -f $dir/c1.safetensors $dir/c1_ref.safetensors" -N \
    -n dirac-init "$bin 64 64 3 3 --dtype f32 -o $dir/c1.safetensors" -n python "$py 64 64 3 3 $dir/c1_ref.safetensors"

floor="$dir/floor"
cc -O2 -o "$floor" "$root/bench/floor.c"

echo "case 2: 4096x4096x3x3 f32 (604 MB)" >&2
bench c2_npy 5 "rm -f $dir/c2.npy $dir/c2_ref.npy" -N \
    -n dirac-init "$bin 4096 4096 3 3 -o $dir/c2.npy" -n python "$py 4096 4096 3 3 $dir/c2_ref.npy"
bench c2_st 5 "rm -f $dir/c2.safetensors $dir/c2_ref.safetensors" -N \
    -n dirac-init "$bin 4096 4096 3 3 -o $dir/c2.safetensors" -n python "$py 4096 4096 3 3 $dir/c2_ref.safetensors"
# Not a target, for the record: the bare pwrite calls case 2 needs (the .npy's 4096 non-zeros,
# 147492 bytes apart after its 128-byte header), as a C program: the filesystem's own floor.
bench c2_floor 10 "rm -f $dir/c2.npy $dir/c2_floor.npy" -N \
    -n dirac-init "$bin 4096 4096 3 3 -o $dir/c2.npy" -n "pwrite floor" "$floor $dir/c2_floor.npy 603979904 128 147492 4096"
# Not a target, for the record: replacing an existing file. ext4 (auto_da_alloc) flushes a file
# renamed over another, and the Python route truncates in place, so both pay for allocation.
bench c2_replace 5 "true" -N \
    -n dirac-init "$bin 4096 4096 3 3 -o $dir/c2.npy" -n python "$py 4096 4096 3 3 $dir/c2_ref.npy"
rm -f "$dir"/c2*
rss_c2_npy=$(rss "$bin 4096 4096 3 3 -o $dir/c2.npy")
rss_c2_st=$(rss "$bin 4096 4096 3 3 -o $dir/c2.safetensors")
rss_c2_py=$(rss "$py 4096 4096 3 3 $dir/c2_ref.npy")
sync
blk_c2_npy=$(blocks "$dir/c2.npy")
blk_c2_st=$(blocks "$dir/c2.safetensors")
rm -f "$dir"/c2_ref.*

echo "case 3: 8192x8192x7x7 f32 (13 GB), with case 1 in the same run" >&2
bench c3 10 "rm -f $dir/c1.npy $dir/c3.npy $dir/c3_floor.npy" -N \
    -n "dirac-init 64x64x3x3" "$bin 64 64 3 3 -o $dir/c1.npy" -n "dirac-init 8192x8192x7x7" "$bin 8192 8192 7 7 -o $dir/c3.npy" \
    -n "pwrite floor" "$floor $dir/c3_floor.npy 13153337472 128 $(((8192 * 49 + 49) * 4)) 8192"
rm -f "$dir/c3.npy"
rss_c3=$(rss "$bin 8192 8192 7 7 -o $dir/c3.npy")
sync
blk_c3=$(blocks "$dir/c3.npy")

echo "case 4: 604 MB to a pipe" >&2
bench c4 10 "true" \
    -n "dirac-init | cat" "$bin 4096 4096 3 3 | cat > /dev/null" -n "head -c | cat" "head -c 603979904 /dev/zero | cat > /dev/null"
rss_c4=$(rss "$bin 4096 4096 3 3 > /dev/null")

python3 - "$json" <<PY
import json, sys
d = sys.argv[1]
def med(name, i):
    return json.load(open(f"{d}/{name}.json"))["results"][i]["median"]
def row(case, ours, theirs, what, target):
    print(f"| {case} | {ours*1e3:.1f} ms | {theirs*1e3:.1f} ms ({what}) | {theirs/ours:.1f}x faster | {target} |")
print("| case | dirac-init median | reference median | ratio | target |")
print("| --- | --- | --- | --- | --- |")
row("1. 64x64x3x3 f32 .npy", med("c1_npy", 0), med("c1_npy", 1), "mygrad + np.save", ">= 50x")
row("1. 64x64x3x3 f32 .safetensors", med("c1_st", 0), med("c1_st", 1), "mygrad + save_file", ">= 50x")
row("2. 4096x4096x3x3 f32 .npy", med("c2_npy", 0), med("c2_npy", 1), "mygrad + np.save", ">= 100x")
row("2. 4096x4096x3x3 f32 .safetensors", med("c2_st", 0), med("c2_st", 1), "mygrad + save_file", ">= 100x")
ours, floor = med("c2_floor", 0), med("c2_floor", 1)
print(f"| (2. .npy against its floor: 4096 bare pwrites in C) | {ours*1e3:.1f} ms | {floor*1e3:.1f} ms (bench/floor.c) | {ours/floor:.2f}x the floor | (not a target) |")
row("(replacing an existing .npy)", med("c2_replace", 0), med("c2_replace", 1), "mygrad + np.save", "(not a target)")
c1, c3 = med("c3", 0), med("c3", 1)
print(f"| 3. 8192x8192x7x7 f32 .npy | {c3*1e3:.1f} ms | {c1*1e3:.1f} ms (case 1, same run) | {c3/c1:.1f}x case 1 | <= 25x case 1 |")
f3 = med("c3", 2)
print(f"| (3. against its floor: 8192 bare pwrites in C) | {c3*1e3:.1f} ms | {f3*1e3:.1f} ms (bench/floor.c) | {c3/f3:.2f}x the floor; the floor is {f3/c1:.1f}x case 1 | (not a target) |")
ours, pipe = med("c4", 0), med("c4", 1)
print(f"| 4. 604 MB to \`cat > /dev/null\` | {ours*1e3:.1f} ms | {pipe*1e3:.1f} ms (head -c /dev/zero \| cat) | {ours/pipe:.2f}x the pipe | <= 1.25x |")
PY
frac() { awk -v b="$1" -v u="$2" -v s="$3" 'BEGIN { printf "%.1f MiB allocated of %.0f MiB = %.2f %%", b*u/1048576, s/1048576, 100*b*u/s }'; }
echo
echo "| measure | value | target |"
echo "| --- | --- | --- |"
echo "| peak RSS, case 2 .npy | $rss_c2_npy KiB | <= 8192 KiB |"
echo "| peak RSS, case 2 .safetensors | $rss_c2_st KiB | <= 8192 KiB |"
echo "| peak RSS, case 2 Python route | $rss_c2_py KiB | (reference) |"
echo "| peak RSS, case 3 | $rss_c3 KiB | <= 8192 KiB |"
echo "| peak RSS, case 4 (stream) | $rss_c4 KiB | <= 8192 KiB |"
echo "| blocks, case 2 .npy | $(frac $blk_c2_npy) | <= 1 % (floor: 4096 non-zeros x 4 KiB = 2.7 %) |"
echo "| blocks, case 2 .safetensors | $(frac $blk_c2_st) | <= 1 % (floor 2.7 %) |"
echo "| blocks, case 3 | $(frac $blk_c3) | <= 1 % |"
