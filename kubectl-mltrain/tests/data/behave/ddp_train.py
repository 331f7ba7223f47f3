"""DDP training steps with an all-reduce check; prints one line per rank with what the pod gave it."""
import getpass
import os
import sys

import torch
import torch.distributed as dist

if os.environ.get("FAIL_RANK") == os.environ.get("RANK", "0") and os.environ.get("LOCAL_RANK", "0") == "0":
    print(f"rank {os.environ.get('RANK')} fails on purpose", flush=True)
    sys.exit(3)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
ddp = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
for step in range(3):
    x = torch.randn(8, 4) * (rank + 1)
    loss = ((ddp(x) - x.sum(1, keepdim=True)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
w = model.weight.detach().clone()
all_w = [torch.zeros_like(w) for _ in range(world)]
dist.all_gather(all_w, w)
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
ok = all(torch.equal(all_w[0], v) for v in all_w) and t.item() == world * (world + 1) / 2
with open("written-by-rank-%d.txt" % rank, "w") as f:  # a relative write in the working directory
    f.write("ok")
home = os.path.expanduser("~")
print(
    f"ddp rank={rank}/{world} allreduce={'ok' if ok else 'WRONG'} user={getpass.getuser()} "
    f"home_writable={os.access(home, os.W_OK)} token_len={len(os.environ.get('TOKEN', ''))} "
    f"nccl={os.environ.get('NCCL_DEBUG', '-')}",
    flush=True,
)
dist.barrier()  # nobody tears gloo down while a peer still talks to it
dist.destroy_process_group()
# Leave without Python's finalization: a gloo thread taking the GIL during it aborts the process.
sys.stdout.flush()
if "mpi4py.MPI" in sys.modules:
    sys.modules["mpi4py.MPI"].Finalize()  # mpirun counts a rank without it as failed
os._exit(0 if ok else 1)
