//! Each shared group of flags onto the job: a flag given overrides the settings file's value, a
//! repeatable flag adds to it. Compound values are parsed by [`crate::args`].

use mltrain_shared::duration;
use mltrain_shared::model::{EnvFrom, EnvVar, GitSource, Main, TrainingJob};

use super::{Apply, pack, set};
use crate::args;
use crate::cli::AppWrapperArgs;
use crate::cli::create::{
    CodeArgs, EnvArgs, FaultToleranceArgs, JobArgs, NetworkingArgs, ProgramArgs, ResourceArgs,
    SchedulingArgs, SecurityArgs,
};
use crate::error::{Problem, UsageError};

/// Push the error of a parse, keep its value.
fn collect<T>(result: Result<T, UsageError>, problems: &mut Vec<Problem>) -> Option<T> {
    result.map_err(|e| problems.push(e.into())).ok()
}

impl Apply for JobArgs {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        if let Some(n) = &self.name {
            job.name = n.clone();
        }
        if !self.command.is_empty() {
            job.program.main = Main::Command(self.command.clone());
        }
        self.resources.apply(job, problems);
        self.program.apply(job, problems);
        self.code.apply(job, problems);
        self.env.apply(job, problems);
        self.scheduling.apply(job, problems);
        self.networking.apply(job, problems);
        self.fault_tolerance.apply(job, problems);
        self.security.apply(job, problems);
    }
}

impl Apply for ResourceArgs {
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        let r = &mut job.resources;
        if let Some(g) = self.gpus {
            r.gpus = g;
        }
        set(&mut r.cpus, &self.cpus);
        set(&mut r.memory, &self.memory);
        set(&mut r.cpu_limit, &self.cpu_limit);
        set(&mut r.memory_limit, &self.memory_limit);
        set(&mut r.ephemeral_storage, &self.ephemeral_storage);
        if self.gpu_limit.is_some() {
            r.gpu_limit = self.gpu_limit;
        }
        if self.resources_preset.is_some() {
            r.preset = self.resources_preset;
        }
    }
}

impl Apply for ProgramArgs {
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        if !self.setup.is_empty() {
            job.program.setup = self.setup.clone();
        }
        set(&mut job.program.workdir, &self.workdir);
        if let Some(i) = &self.image {
            job.image.name = i.clone();
        }
        set(&mut job.image.pull_policy, &self.image_pull_policy);
        job.image
            .pull_secrets
            .extend(self.image_pull_secret.iter().cloned());
    }
}

impl Apply for CodeArgs {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        if let Some(url) = &self.git_repo {
            job.code.git = Some(GitSource {
                url: url.clone(),
                revision: self.git_revision.clone(),
                ssh_secret: self.git_ssh_secret.clone(),
            });
        }
        for p in &self.from_file {
            collect(pack::pack(p, &mut job.code.files), problems);
        }
        collect(pack::check_size(&job.code.files), problems);
        job.code.config_maps.extend(self.configmap.iter().cloned());
        for v in &self.volume {
            if let Some(v) = collect(args::volume(v), problems) {
                job.storage.volumes.push(v);
            }
        }
        if let Some(s) = &self.scratch {
            let scratch = args::scratch(s, self.scratch_storage_class.clone());
            if let Some(s) = collect(scratch, problems) {
                job.storage.scratch = Some(s);
            }
        }
        set(&mut job.storage.shm_size, &self.shm_size);
        job.storage.no_shm |= self.no_shm;
    }
}

impl Apply for EnvArgs {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        for e in &self.env {
            if let Some((name, value)) = collect(args::env(e), problems) {
                job.env.retain(|v| v.name != name);
                job.env.push(EnvVar { name, value });
            }
        }
        job.env_from
            .extend(self.env_from_secret.iter().cloned().map(EnvFrom::Secret));
        job.env_from.extend(
            self.env_from_configmap
                .iter()
                .cloned()
                .map(EnvFrom::ConfigMap),
        );
    }
}

impl Apply for SchedulingArgs {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        let s = &mut job.scheduling;
        set(&mut s.queue, &self.queue);
        set(&mut s.priority, &self.priority);
        s.host_ignore.extend(self.host_ignore.iter().cloned());
        for kv in &self.node_selector {
            s.node_selector
                .extend(collect(args::key_value("--node-selector", kv), problems));
        }
        for t in &self.toleration {
            s.tolerations.extend(collect(args::toleration(t), problems));
        }
        if self.anti_affinity.is_some() {
            s.anti_affinity = self.anti_affinity;
        }
        set(&mut s.scheduler, &self.scheduler);
        set(&mut s.service_account, &self.service_account);
        for kv in &self.label {
            s.labels
                .extend(collect(args::key_value("--label", kv), problems));
        }
        for kv in &self.annotation {
            s.annotations
                .extend(collect(args::key_value("--annotation", kv), problems));
        }
    }
}

impl Apply for NetworkingArgs {
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        let n = &mut job.networking;
        if let Some(p) = self.port {
            n.port = p;
        }
        if let Some(r) = self.roce_gdr {
            n.roce_gdr = r;
        }
        if let Some(r) = &self.roce_gdr_resource {
            n.roce_gdr_resource = r.clone();
        }
        set(&mut n.multi_nic_network, &self.multi_nic_network);
        set(&mut n.nccl_env_config_map, &self.nccl_env_configmap);
        set(&mut n.topology_config_map, &self.topology_configmap);
    }
}

impl Apply for FaultToleranceArgs {
    fn apply(&self, job: &mut TrainingJob, problems: &mut Vec<Problem>) {
        let ft = &mut job.fault_tolerance;
        if let Some(r) = self.restart_policy {
            ft.restart_policy = r.as_str().into();
        }
        if self.max_restarts.is_some() {
            ft.max_restarts = self.max_restarts;
        }
        if let Some(d) = &self.active_deadline {
            let usage = |message: String| UsageError {
                flag: "--active-deadline",
                value: d.clone(),
                message,
            };
            match duration::parse_seconds(d) {
                Ok(s) if s > 0 => ft.active_deadline_seconds = Some(s),
                Ok(_) => problems.push(usage("must be longer than 0s".into()).into()),
                Err(e) => {
                    problems.push(usage(format!("{}; write e.g. 12h or 2d", e.reason)).into())
                }
            }
        }
        if self.termination_grace_period.is_some() {
            ft.termination_grace_seconds = self.termination_grace_period;
        }
    }
}

impl Apply for SecurityArgs {
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        let s = &mut job.security;
        if let Some(o) = self.openshift {
            s.openshift = o;
        }
        if self.run_as_user.is_some() {
            s.run_as_user = self.run_as_user;
        }
        if self.run_as_group.is_some() {
            s.run_as_group = self.run_as_group;
        }
        if self.fs_group.is_some() {
            s.fs_group = self.fs_group;
        }
    }
}

impl Apply for AppWrapperArgs {
    fn apply(&self, job: &mut TrainingJob, _: &mut Vec<Problem>) {
        for (setting, value) in &self.values {
            job.fault_tolerance
                .appwrapper
                .insert(*setting, value.clone());
        }
    }
}
