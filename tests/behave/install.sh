#!/usr/bin/env bash
# The behavioural suite's images (see tests/src/behave/image.rs): Debian's OpenSSH server, pdsh,
# nss_wrapper and OpenMPI on this machine, and two virtualenvs made with Debian's /usr/bin/python3
# (pod users cannot enter /root, where the machine's own Python lives): torch (CPU wheels from PyPI
# run gloo) + DeepSpeed + mpi4py, and MXNet 1.9.1 with the numpy it was built against.
# Idempotent: a second run only checks. Needs root (apt-get, /opt).
set -euo pipefail
root=/opt/mltrain-e2e
pip_q=(--quiet --disable-pip-version-check)
need=()
for cmd in /usr/include/python3.11/Python.h:python3-dev /usr/bin/g++:g++ /usr/sbin/sshd:openssh-server /usr/bin/ssh:openssh-client /usr/bin/pdsh:pdsh \
           /usr/bin/mpirun:openmpi-bin /usr/bin/mpicc:libopenmpi-dev /usr/bin/setpriv:util-linux \
           /usr/sbin/ip:iproute2; do
  [ -e "${cmd%%:*}" ] || need+=("${cmd#*:}")
done
ls /usr/lib/x86_64-linux-gnu/libnss_wrapper.so >/dev/null 2>&1 || need+=(libnss-wrapper)
/usr/bin/python3 -m venv --help >/dev/null 2>&1 && [ -e /usr/lib/python3*/ensurepip/__init__.py ] || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
shm_op=(/opt/mltrain-e2e/torch/lib/python3*/site-packages/deepspeed/ops/comm/deepspeed_shm_comm_op*.so)
if ! "$root/torch/bin/python3" -c 'import torch, deepspeed, mpi4py' 2>/dev/null || [ ! -e "${shm_op[0]}" ]; then
  /usr/bin/python3 -m venv "$root/torch"
  "$root/torch/bin/pip" install "${pip_q[@]}" torch numpy
  # DeepSpeed builds against the torch just installed. On a CPU, its communication backend loads a
  # shared-memory op it would otherwise compile in every rank at start (with ninja): build it now.
  DS_BUILD_OPS=0 DS_BUILD_SHM_COMM=1 "$root/torch/bin/pip" install "${pip_q[@]}" --no-build-isolation deepspeed mpi4py
fi
if ! "$root/mxnet/bin/python3" -c 'import mxnet' 2>/dev/null; then
  /usr/bin/python3 -m venv "$root/mxnet"
  "$root/mxnet/bin/pip" install "${pip_q[@]}" mxnet==1.9.1 'numpy<1.24'
fi
chmod -R a+rX "$root"
echo "behavioural images: $("$root/torch/bin/python3" -c 'import torch, deepspeed; print("torch", torch.__version__, "deepspeed", deepspeed.__version__)' 2>/dev/null), mxnet $("$root/mxnet/bin/python3" -c 'import mxnet; print(mxnet.__version__)')"
