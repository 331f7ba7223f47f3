//! The training framework and what only that framework has: DeepSpeed's launcher and slots, MXNet's
//! parameter servers. [`FrameworkSpec`] carries each framework's options in its own variant, so an
//! option of another framework cannot be put on a job; [`Framework`] is the plain name that commands,
//! labels, messages and the policy use.

use std::fmt;

/// Training frameworks, by name (see [`FrameworkSpec`] for their options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framework {
    PyTorch,
    DeepSpeed,
    MXNet,
}

impl Framework {
    /// The name used in commands, labels and default job names.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::PyTorch => "pytorch",
            Framework::DeepSpeed => "deepspeed",
            Framework::MXNet => "mxnet",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A framework with its own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameworkSpec {
    /// PyTorch always runs under torchrun, with nothing to choose.
    PyTorch,
    DeepSpeed(DeepSpeedSpec),
    MXNet(MxnetSpec),
}

impl FrameworkSpec {
    /// The framework's name.
    pub fn tag(&self) -> Framework {
        match self {
            FrameworkSpec::PyTorch => Framework::PyTorch,
            FrameworkSpec::DeepSpeed(_) => Framework::DeepSpeed,
            FrameworkSpec::MXNet(_) => Framework::MXNet,
        }
    }

    /// DeepSpeed's options, to set them; `None` for another framework.
    pub fn deepspeed_mut(&mut self) -> Option<&mut DeepSpeedSpec> {
        match self {
            FrameworkSpec::DeepSpeed(d) => Some(d),
            _ => None,
        }
    }

    /// MXNet's options, to set them; `None` for another framework.
    pub fn mxnet_mut(&mut self) -> Option<&mut MxnetSpec> {
        match self {
            FrameworkSpec::MXNet(m) => Some(m),
            _ => None,
        }
    }
}

/// A framework with its defaults: DeepSpeed over SSH with slots from the processes per pod, MXNet
/// with one parameter server.
impl From<Framework> for FrameworkSpec {
    fn from(framework: Framework) -> Self {
        match framework {
            Framework::PyTorch => FrameworkSpec::PyTorch,
            Framework::DeepSpeed => FrameworkSpec::DeepSpeed(DeepSpeedSpec::default()),
            Framework::MXNet => FrameworkSpec::MXNet(MxnetSpec::default()),
        }
    }
}

/// DeepSpeed's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeepSpeedSpec {
    pub launcher: DeepSpeedLauncher,
    /// Slots per worker in the hostfile (`--slots-per-node`; defaults to processes per pod). Only
    /// the SSH launcher reads a hostfile.
    pub slots_per_node: Option<u32>,
}

/// DeepSpeed's launch modes, by name (see [`DeepSpeedLauncher`] for what each carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Launcher {
    /// `deepspeed --hostfile` over SSH.
    #[default]
    Ssh,
    Torchrun,
}

impl Launcher {
    /// The name used by `--launcher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Launcher::Ssh => "ssh",
            Launcher::Torchrun => "torchrun",
        }
    }
}

/// How DeepSpeed starts its ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeepSpeedLauncher {
    /// `deepspeed --hostfile` over SSH. On the job backend our launcher Job reaches its workers with
    /// `keys`, which the plugin makes before rendering (so rendering stays pure and deterministic for
    /// a given key) and which stay `None` on mpijob, where the MPI operator makes its own.
    Ssh { keys: Option<SshKeyPair> },
    /// DeepSpeed scripts under torchrun: no SSH, the same layouts as PyTorch.
    Torchrun,
}

impl Default for DeepSpeedLauncher {
    fn default() -> Self {
        Launcher::default().into()
    }
}

impl DeepSpeedLauncher {
    pub fn tag(&self) -> Launcher {
        match self {
            DeepSpeedLauncher::Ssh { .. } => Launcher::Ssh,
            DeepSpeedLauncher::Torchrun => Launcher::Torchrun,
        }
    }
}

/// A launcher without keys yet.
impl From<Launcher> for DeepSpeedLauncher {
    fn from(launcher: Launcher) -> Self {
        match launcher {
            Launcher::Ssh => DeepSpeedLauncher::Ssh { keys: None },
            Launcher::Torchrun => DeepSpeedLauncher::Torchrun,
        }
    }
}

/// An OpenSSH key pair for DeepSpeed's launcher to reach its workers.
#[derive(Clone, PartialEq, Eq)]
pub struct SshKeyPair {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` text.
    pub private: String,
    /// `ssh-ed25519 AAAA... comment`.
    pub public: String,
}

/// Without the private key: a job is printed in test failures and logs.
impl fmt::Debug for SshKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshKeyPair")
            .field("private", &"<redacted>")
            .field("public", &self.public)
            .finish()
    }
}

/// MXNet's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MxnetSpec {
    /// Parameter servers (`--servers`; default 1).
    pub servers: Option<u32>,
}

impl MxnetSpec {
    /// Parameter servers, resolved.
    pub fn servers(&self) -> u32 {
        self.servers.unwrap_or(1)
    }
}
