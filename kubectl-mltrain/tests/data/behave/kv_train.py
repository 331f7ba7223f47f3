"""MXNet dist_sync key-value store: every worker pushes rank+1; the pulled sum is checked on each."""
import os
import sys

import mxnet as mx

role = os.environ.get("DMLC_ROLE", "worker")
# Scheduler and servers never reach this line: importing mxnet runs their loop and exits.
kv = mx.kv.create("dist_sync")
if os.environ.get("FAIL_RANK") == str(kv.rank):
    print(f"worker {kv.rank} fails on purpose", flush=True)
    os._exit(3)
shape = (2, 3)
kv.init(7, mx.nd.zeros(shape))
kv.push(7, mx.nd.ones(shape) * (kv.rank + 1))
out = mx.nd.zeros(shape)
kv.pull(7, out=out)
n = kv.num_workers
ok = bool((out.asnumpy() == n * (n + 1) / 2).all())
print(f"mxnet worker={kv.rank}/{n} servers={os.environ.get('DMLC_NUM_SERVER')} sum={'ok' if ok else 'WRONG'} "
      f"token_len={len(os.environ.get('TOKEN', ''))}", flush=True)
sys.exit(0 if ok else 1)
