//! Rendering speed: a job of 4 and of 4096 ranks on every backend (DESIGN §8: flat in world size, only
//! DeepSpeed's hostfile grows). Run: `cargo bench -p mltrain-shared --bench render`.

use criterion::{Criterion, criterion_group, criterion_main};
use mltrain_shared::model::{Backend, Framework, Launcher, Main, SshKeyPair, TrainingJob};
use mltrain_shared::render::render;

fn job(framework: Framework, backend: Backend, launcher: Launcher, ranks: u32) -> TrainingJob {
    let mut j = TrainingJob::new("bench", framework);
    j.backend = backend.into();
    if let Some(ds) = j.framework.deepspeed_mut() {
        ds.launcher = launcher.into();
    }
    j.world_size = ranks;
    j.resources.gpus = 8;
    j.resources.memory = Some("256Gi".into());
    j.program.main = Main::Command(vec!["train.py".into(), "--epochs".into(), "3".into()]);
    if let Some(keys) = j.ssh_keys_slot() {
        *keys = Some(SshKeyPair {
            private:
                "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n"
                    .into(),
            public: "ssh-ed25519 AAAA bench".into(),
        });
    }
    j
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "pytorch/job",
            Framework::PyTorch,
            Backend::Job,
            Launcher::Ssh,
        ),
        (
            "pytorch/jobset",
            Framework::PyTorch,
            Backend::JobSet,
            Launcher::Ssh,
        ),
        (
            "pytorch/pytorchjob",
            Framework::PyTorch,
            Backend::PyTorchJob,
            Launcher::Ssh,
        ),
        (
            "pytorch/appwrapper",
            Framework::PyTorch,
            Backend::AppWrapper,
            Launcher::Ssh,
        ),
        (
            "deepspeed/job",
            Framework::DeepSpeed,
            Backend::Job,
            Launcher::Ssh,
        ),
        (
            "deepspeed/mpijob",
            Framework::DeepSpeed,
            Backend::MpiJob,
            Launcher::Ssh,
        ),
        (
            "deepspeed-torchrun/job",
            Framework::DeepSpeed,
            Backend::Job,
            Launcher::Torchrun,
        ),
        ("mxnet/job", Framework::MXNet, Backend::Job, Launcher::Ssh),
    ];
    for (name, framework, backend, launcher) in cases {
        for ranks in [4, 4096] {
            let j = job(framework, backend, launcher, ranks);
            c.bench_function(&format!("render/{name}/{ranks}"), |b| {
                b.iter(|| render(std::hint::black_box(&j)).unwrap())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
