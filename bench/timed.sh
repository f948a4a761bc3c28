# Sourced by the bench scripts. timed LABEL LOG OUT CMD...: runs CMD under
# /usr/bin/time -v (its report to LOG, CMD's stdout to OUT) and prints
# "LABEL: wall W, peak RSS R GiB".
timed() {
  local label=$1 log=$2 out=$3
  shift 3
  /usr/bin/time -v -o "$log" "$@" >"$out"
  awk -F': ' -v l="$label" '/Elapsed/ {w=$2} /Maximum resident/ {
    printf "%s: wall %s, peak RSS %.2f GiB\n", l, w, $2 / 1048576}' "$log"
}
