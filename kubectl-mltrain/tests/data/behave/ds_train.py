"""DeepSpeed engine steps on gloo; prints one line per rank with what its session gave it."""
import getpass
import os
import sys

import deepspeed
import torch
import torch.distributed as dist

# Under mpirun (OpenMPI runner, MPIJob) ranks know their rank from MPI until DeepSpeed initialises.
rank_env = os.environ.get("RANK") or os.environ.get("OMPI_COMM_WORLD_RANK", "0")
if os.environ.get("FAIL_RANK") == rank_env:
    print(f"rank {rank_env} fails on purpose", flush=True)
    sys.exit(3)
deepspeed.init_distributed(dist_backend="gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
config = {"train_batch_size": 2 * world, "train_micro_batch_size_per_gpu": 2,
          "optimizer": {"type": "SGD", "params": {"lr": 0.01}}}
engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
for step in range(3):
    x = torch.randn(2, 4) * (rank + 1)
    loss = ((engine(x) - x.sum(1, keepdim=True)) ** 2).mean()
    engine.backward(loss)
    engine.step()
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
ok = t.item() == world * (world + 1) / 2
home = os.path.expanduser("~")
print(
    f"deepspeed rank={rank}/{world} allreduce={'ok' if ok else 'WRONG'} user={getpass.getuser()} "
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
