#!/usr/bin/env sh
# Helm post-renderer: Helm's rendered manifests on stdin, the same with the
# Kapacitor probes (liveness-probe.yaml) added on stdout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/kustomization.yaml" "$here/liveness-probe.yaml" "$work/"
cat > "$work/rendered.yaml"
kubectl kustomize "$work"
