//! The SSH key pair DeepSpeed's launcher uses to reach its workers: a fresh ed25519 key per job, in
//! OpenSSH format, kept in the job's Secret.

use mltrain_shared::model::{Backend, Framework, Launcher, SshKeyPair, TrainingJob};
use ssh_key::{Algorithm, LineEnding, PrivateKey, rand_core::OsRng};

/// Whether the job's objects include the SSH Secret.
pub fn needed(job: &TrainingJob) -> bool {
    job.framework == Framework::DeepSpeed
        && job.backend == Backend::Job
        && job.options.launcher == Launcher::Ssh
}

/// A new key pair, commented with the job's name.
pub fn generate(job_name: &str) -> Result<SshKeyPair, String> {
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .map_err(|e| format!("cannot make an SSH key: {e}"))?;
    key.set_comment(format!("mltrain-{job_name}"));
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("cannot encode the SSH key: {e}"))?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("cannot encode the SSH key: {e}"))?;
    Ok(SshKeyPair { private, public })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_openssh_ed25519_and_fresh() {
        let a = generate("bert").unwrap();
        let b = generate("bert").unwrap();
        assert!(
            a.private
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        assert!(
            a.public.starts_with("ssh-ed25519 AAAA") && a.public.ends_with(" mltrain-bert"),
            "{}",
            a.public
        );
        assert_ne!(a.private, b.private);
    }
}
