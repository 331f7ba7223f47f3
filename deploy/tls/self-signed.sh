#!/usr/bin/env bash
# Install the webhook on a cluster with neither cert-manager nor OpenShift: make a CA and a serving
# certificate with openssl, store them in the Secret mltrain-webhook-tls, and apply deploy/base with
# the CA in both webhook configurations, in one step (so the webhooks never exist without their CA).
#
#   deploy/tls/self-signed.sh [--days N] [--out-dir DIR] [--dry-run] [-- KUSTOMIZE_DIR]
#
#   --days N      validity of the serving certificate (default 825; the CA gets 10 years)
#   --out-dir DIR keep ca.crt, tls.crt and tls.key there (default: a temporary directory, removed)
#   --dry-run     print the manifests instead of applying them (no cluster needed)
#   KUSTOMIZE_DIR what to install (default deploy/base; e.g. a kustomization adding components/opt-in)
# Renew by running it again: the webhook re-reads the Secret without a restart.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
days=825 out="" dry=0 kdir=$(cd "$here/../base" && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days=$2; shift 2 ;;
    --out-dir) out=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) kdir=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "self-signed.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "self-signed.sh: openssl is required" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "self-signed.sh: kubectl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "self-signed.sh: python3 is required" >&2; exit 2; }
ns=mltrain-system svc=mltrain-webhook
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; else mkdir -p "$out"; fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=mltrain-webhook-ca" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$svc.$ns.svc" \
  -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
cat > "$out/ext.cnf" <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local
EXT
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
chmod 600 "$out/ca.key" "$out/tls.key"
ca_b64=$(base64 < "$out/ca.crt" | tr -d '\n')

# A kustomization on top of the chosen one that adds the Secret and the CA bundle.
k=$(mktemp -d)
cp "$out/tls.crt" "$out/tls.key" "$k/"
cat > "$k/kustomization.yaml" <<KUST
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$kdir" "$k")
secretGenerator:
  - name: mltrain-webhook-tls
    namespace: $ns
    type: kubernetes.io/tls
    files: [tls.crt, tls.key]
    options: {disableNameSuffixHash: true}
patches:
  - target: {kind: MutatingWebhookConfiguration, name: mltrain}
    patch: '[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "$ca_b64"}]'
  - target: {kind: ValidatingWebhookConfiguration, name: mltrain}
    patch: '[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "$ca_b64"}]'
KUST
if [ "$dry" = 1 ]; then
  kubectl kustomize "$k"
else
  kubectl apply --server-side --field-manager=mltrain-install -f <(kubectl kustomize "$k")
  kubectl -n "$ns" rollout status deployment/$svc --timeout=120s
fi
rm -rf "$k"
