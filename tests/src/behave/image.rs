//! Images, modelled rather than pulled: an image is this machine's filesystem (Debian with
//! openssh-server, pdsh, libnss-wrapper and openmpi-bin) plus one virtualenv made with Debian's
//! `/usr/bin/python3` on `PATH` (torch and DeepSpeed in one, MXNet in another), and a model of what
//! its `/etc/passwd` says about the uid the pod runs as. `tests/behave/install.sh` builds them.
//!
//! The passwd model matters because the runtime and OpenSSH read it, not `$HOME`: containerd sets
//! `HOME` from the image's passwd entry for the uid, or `/` when there is none
//! (containerd `pkg/oci/spec_opts.go`, `WithUser`/`WithAdditionalGIDs`; runc `libcontainer/init_linux.go`
//! `setupUser` falls back to `HOME=/`), and ssh finds `~/.ssh/config` and keys from `pw_dir`.
//!
//! An image's own files (its configuration, wrappers) and its `ENV` lines are modelled too, in
//! [`super::image_layer`]: the runtime writes the files into the container's layer, and the
//! variables are the container's environment before the pod's own (containerd `WithEnv`, then the
//! CRI config's).

use std::path::{Path, PathBuf};

use super::image_layer::{self, ImageFile};

/// Where `install.sh` puts the virtualenvs.
pub const VENV_ROOT: &str = "/opt/mltrain-e2e";

/// What an image's `/etc/passwd` says about the pod's uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageUser {
    /// An image built for root (like `pytorch/pytorch`): the policy's uid has no passwd entry, so the
    /// runtime sets `HOME=/`, `getpass.getuser()` has no name, and OpenSSH cannot find a home.
    RootAssuming,
    /// An image that names the uid with a home of its own (the Bitnami DeepSpeed image: `deepspeed`,
    /// uid 1001, gid 0, home `/home/deepspeed`, which the image owns to the user).
    Named {
        name: String,
        uid: u32,
        gid: u32,
        home: String,
    },
}

impl ImageUser {
    /// The Bitnami DeepSpeed image's user.
    pub fn bitnami_deepspeed() -> Self {
        Self::Named {
            name: "deepspeed".into(),
            uid: 1001,
            gid: 0,
            home: "/home/deepspeed".into(),
        }
    }
}

/// One image the harness can run.
#[derive(Clone, Debug)]
pub struct Image {
    /// The virtualenv whose `bin` leads the image's `PATH`.
    pub venv: PathBuf,
    /// The image's `PATH` (its `ENV PATH`).
    pub path: String,
    /// What the image's `/etc/passwd` says (its default user is this uid, or root).
    pub user: ImageUser,
    /// Files of this machine the image does not have (overlay whiteouts).
    pub absent: Vec<&'static str>,
    /// Files the image adds or replaces.
    pub files: Vec<ImageFile>,
    /// The image's `ENV` lines besides `PATH`.
    pub env: Vec<(String, String)>,
}

/// Which virtualenv an image reference stands for. Unknown references are an error, so a case can
/// never run an image the harness does not model.
pub fn resolve(reference: &str) -> Result<Image, String> {
    let mut user = ImageUser::RootAssuming;
    let mut absent = Vec::new();
    let mut trainer_deepspeed = false;
    let venv = if is_mxnet(reference) {
        "mxnet"
    } else if is_torch(reference) {
        if reference.contains("trainer/deepspeed-runtime") {
            // kubeflow/trainer `cmd/runtimes/deepspeed/Dockerfile`: `useradd -m mpiuser` (uid 1000,
            // home /home/mpiuser), `ENV HOME=/home/mpiuser`, openssh and OpenMPI, no pdsh, and the
            // SSH layer of `image_layer`.
            trainer_deepspeed = true;
            user = ImageUser::Named {
                name: "mpiuser".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/mpiuser".into(),
            };
            absent.push("/usr/bin/pdsh");
        } else if reference.contains("/deepspeed:")
            || reference.starts_with("mltrain.test/torch-named")
        {
            user = ImageUser::bitnami_deepspeed();
        }
        "torch"
    } else {
        return Err(format!(
            "image {reference:?} is not modelled by the harness (known: pytorch/pytorch, the Kubeflow \
             Trainer and Bitnami DeepSpeed images, mxnet images, mltrain.test/torch, mltrain.test/mxnet)"
        ));
    };
    let venv = Path::new(VENV_ROOT).join(venv);
    if !venv.join("bin/python3").exists() {
        return Err(format!(
            "{} is missing: run tests/behave/install.sh (as .ci/run does)",
            venv.display()
        ));
    }
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        venv.join("bin").display()
    );
    let (files, env) = if trainer_deepspeed {
        (
            image_layer::trainer_deepspeed(&venv)?,
            vec![("HOME".to_string(), "/home/mpiuser".to_string())],
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Image {
        venv,
        path,
        user,
        absent,
        files,
        env,
    })
}

fn is_mxnet(r: &str) -> bool {
    r.contains("/mxnet:") || r.starts_with("mltrain.test/mxnet")
}

fn is_torch(r: &str) -> bool {
    [
        "docker.io/pytorch/pytorch:",
        "pytorch/pytorch:",
        "ghcr.io/kubeflow/trainer/deepspeed-runtime",
        "docker.io/kubeflow/trainer/deepspeed-runtime",
        "docker.io/bitnami/deepspeed:",
        "docker.io/bitnamilegacy/deepspeed:",
        "mltrain.test/torch",
    ]
    .iter()
    .any(|p| r.starts_with(p))
}
