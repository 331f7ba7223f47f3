//! The code a job runs, from wherever the user keeps it: a git repository cloned by an init container,
//! local files packed into a ConfigMap created with the job (copied to a writable directory), existing
//! ConfigMaps, and MLBatch's `sshGitCloneConfig` for setup commands that clone private repositories.

use serde_json::{Value, json};

use super::volumes::Mounted;
use crate::kinds::CONFIG_MAP;
use crate::model::{GitSource, TrainingJob};
use crate::render::meta::metadata;
use crate::render::shell::sh_quote;

/// Where code from `--git-repo` is cloned.
pub const SRC_DIR: &str = "/workspace/src";
/// The working copy of the `--from-file` files: a writable emptyDir, so a program may write beside
/// its files (a ConfigMap volume is read-only).
pub const FILES_DIR: &str = "/workspace/files";
/// Where the `--from-file` ConfigMap itself is mounted; the script copies it to [`FILES_DIR`].
pub const FILES_SOURCE_DIR: &str = "/mltrain/files";
/// Where MLBatch mounts the SSH key Secret and known_hosts ConfigMap by default.
pub const SSH_KEYS_DIR: &str = "/tmp/.ssh/keys";
pub const SSH_HOSTS_DIR: &str = "/tmp/.ssh/hosts";
/// The git image for the clone init container.
pub const GIT_IMAGE: &str = "docker.io/alpine/git:2.47.2";

/// The ConfigMap name for `--from-file` files.
pub fn files_config_map_name(job: &TrainingJob) -> String {
    format!("{}-files", job.name)
}

/// The ConfigMap holding the `--from-file` files, when there are any.
pub fn files_config_map(job: &TrainingJob) -> Option<Value> {
    if job.code.files.is_empty() {
        return None;
    }
    let data: serde_json::Map<String, Value> = job
        .code
        .files
        .iter()
        .map(|f| (f.key.clone(), json!(f.content)))
        .collect();
    Some(json!({
        "apiVersion": CONFIG_MAP.api_version(),
        "kind": CONFIG_MAP.kind,
        "metadata": metadata(job, &files_config_map_name(job)),
        "data": data,
    }))
}

/// The default working directory: the cloned repository, else the packed files.
pub fn default_workdir(job: &TrainingJob) -> Option<&'static str> {
    if job.code.git.is_some() {
        Some(SRC_DIR)
    } else if !job.code.files.is_empty() {
        Some(FILES_DIR)
    } else {
        None
    }
}

/// The cloned repository, the packed files and the mounted ConfigMaps.
pub fn sources(job: &TrainingJob) -> Mounted {
    let mut m = Mounted::default();
    if let Some(g) = &job.code.git {
        m.volumes
            .push(json!({"name": "mltrain-src", "emptyDir": {}}));
        m.mounts
            .push(json!({"name": "mltrain-src", "mountPath": SRC_DIR}));
        if let Some(secret) = &g.ssh_secret {
            m.volumes.push(json!({"name": "mltrain-git-ssh", "secret": {"secretName": secret, "defaultMode": 0o400}}));
        }
    }
    if !job.code.files.is_empty() {
        let items: Vec<Value> = job
            .code
            .files
            .iter()
            .map(|f| json!({"key": f.key, "path": f.path}))
            .collect();
        m = m
            .and(Mounted::one(
                json!({"name": "mltrain-files", "configMap": {"name": files_config_map_name(job), "items": items}}),
                json!({"name": "mltrain-files", "mountPath": FILES_SOURCE_DIR, "readOnly": true}),
            ))
            .and(Mounted::one(
                json!({"name": "mltrain-workdir", "emptyDir": {}}),
                json!({"name": "mltrain-workdir", "mountPath": FILES_DIR}),
            ));
    }
    for (i, cm) in job.code.config_maps.iter().enumerate() {
        let name = format!("mltrain-configmap-{i}");
        m = m.and(Mounted::one(
            json!({"name": name, "configMap": {"name": cm}}),
            json!({"name": name, "mountPath": format!("/workspace/configmaps/{cm}")}),
        ));
    }
    m
}

/// MLBatch's `sshGitCloneConfig`: the key Secret and known_hosts ConfigMap, and `GIT_SSH_COMMAND`.
pub fn ssh_clone(job: &TrainingJob) -> Mounted {
    let Some(ssh) = &job.code.ssh_clone else {
        return Mounted::default();
    };
    Mounted {
        volumes: vec![
            json!({"name": "mltrain-ssh-key", "secret": {"secretName": ssh.secret, "defaultMode": 0o400}}),
            json!({"name": "mltrain-ssh-hosts", "configMap": {"name": ssh.config_map}}),
        ],
        mounts: vec![
            json!({"name": "mltrain-ssh-key", "mountPath": ssh.secret_mount_path, "readOnly": true}),
            json!({"name": "mltrain-ssh-hosts", "mountPath": ssh.config_map_mount_path, "readOnly": true}),
        ],
        env: vec![json!({"name": "GIT_SSH_COMMAND", "value": ssh.ssh_command})],
    }
}

/// The clone init container, then the user's (MLBatch `initContainers`).
pub fn init_containers(job: &TrainingJob) -> Vec<Value> {
    let user = job
        .init_containers
        .iter()
        .map(|ic| json!({"name": ic.name, "image": ic.image, "command": ic.command}));
    job.code.git.iter().map(git_clone).chain(user).collect()
}

/// Clone the repository at its revision into the shared source volume, with the SSH key when given.
fn git_clone(g: &GitSource) -> Value {
    let script = format!(
        "set -e\ngit clone --no-checkout {} {SRC_DIR}\ncd {SRC_DIR}\ngit checkout {}\n",
        sh_quote(&g.url),
        sh_quote(g.revision.as_deref().unwrap_or("HEAD"))
    );
    let mut env = vec![json!({"name": "HOME", "value": "/tmp"})];
    let mut mounts = vec![json!({"name": "mltrain-src", "mountPath": SRC_DIR})];
    if g.ssh_secret.is_some() {
        mounts
            .push(json!({"name": "mltrain-git-ssh", "mountPath": SSH_KEYS_DIR, "readOnly": true}));
        env.push(json!({"name": "GIT_SSH_COMMAND", "value": format!("ssh -i {SSH_KEYS_DIR}/ssh-privatekey -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/tmp/known_hosts")}));
    }
    json!({
        "name": "git-clone",
        "image": GIT_IMAGE,
        "command": ["sh", "-c", script],
        "env": env,
        "volumeMounts": mounts,
    })
}
