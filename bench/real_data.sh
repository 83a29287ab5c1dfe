#!/usr/bin/env bash
# Build and evaluate Tailor on the real public data in ../shared/data (read-only, so copied first).
#
#   bench/real_data.sh build DOMAIN         # copy, then `tailor build` with its conversations and preferences
#   bench/real_data.sh build-docs DOMAIN    # copy without data/, then `tailor build` from the documents alone
#   bench/real_data.sh eval DOMAIN [N]      # `tailor eval` of extract and the four variants (plus the documents-only
#                                           #  build's tuned+rag when it exists) on the test split (or a sample of N)
#
# DOMAIN is clinic or finance. Work goes to $TAILOR_REAL (default /tmp/tailor-real): DOMAIN/ and
# DOMAIN-docs/ are assistant folders a user could have made. Their assistant.yaml names the
# assistant and nothing else, so every build runs with Tailor's defaults (about an hour each
# on 2 CPU cores without native bf16: the shared conversations are longer than the example's).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${TAILOR_SHARED:-$here/../shared/data}"
work="${TAILOR_REAL:-/tmp/tailor-real}"
tailor="${TAILOR_BIN:-$here/.venv/bin/tailor}"
cmd="$1" domain="$2"
[ -d "$shared/$domain" ] || { echo "no $shared/$domain: expected ../shared/data beside the checkout" >&2; exit 2; }

copy() {  # copy() DEST WITH_DATA
    local dest="$work/$1"
    mkdir -p "$dest"
    cp -r "$shared/$domain/docs" "$shared/$domain/evals" "$shared/$domain/README.md" "$dest/"
    if [ "$2" = yes ]; then cp -r "$shared/$domain/data" "$dest/"; fi
    cat > "$dest/assistant.yaml" <<EOF
name: ${domain^} reference assistant
EOF
}

case "$cmd" in
  build)      copy "$domain" yes; "$tailor" build "$work/$domain" ;;
  build-docs) copy "$domain-docs" no; "$tailor" build "$work/$domain-docs" ;;
  eval)       # every question of the test split (or a seeded sample of N); extract always runs beside the models
              # VARIANTS=base+rag,tuned+rag for the headline pair only; RESUME=1 continues the last report
              variants="${VARIANTS:-base,base+rag,tuned,tuned+rag}"
              args=(--split test --seed 0)
              if [ -f "$work/$domain-docs/build/manifest.json" ]; then
                variants="$variants,other:tuned+rag"; args+=(--against "$work/$domain-docs")
              fi
              args+=(--variants "$variants")
              if [ -n "${3:-}" ]; then args+=(--limit "$3"); fi
              if [ -n "${RESUME:-}" ]; then args+=(--resume); fi
              OMP_NUM_THREADS=1 "$tailor" eval "$work/$domain" "${args[@]}" ;;
  *) echo "usage: $0 build|build-docs|eval DOMAIN [N]" >&2; exit 2 ;;
esac
