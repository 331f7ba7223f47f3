"""Global rank 1 fails once per pod (a marker in the pod's /tmp), then the group re-forms through
torchrun's c10d rendezvous and every rank all-reduces: proof that --max-restarts retries."""
import os
import sys
import time

import torch
import torch.distributed as dist

marker = "/tmp/mltrain-failed-once"
restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "?")
if os.environ.get("RANK") == "1" and not os.path.exists(marker):
    open(marker, "w").close()
    print(f"rank 1 fails once on purpose (restart {restart})", flush=True)
    sys.exit(3)
if restart not in ("0", "?"):
    # The restarted rank waits for its peers' new workers: on a loaded machine it could otherwise read
    # a peer's gloo address from the previous round in the agents' shared store and be refused
    # (seen once under load on the jobset backend; it then costs one more restart).
    time.sleep(3)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
ok = t.item() == world * (world + 1) / 2
print(f"retry rank={rank}/{world} allreduce={'ok' if ok else 'WRONG'} restart={restart}", flush=True)
dist.destroy_process_group()
sys.exit(0 if ok else 1)
