//! The SSH key pair DeepSpeed's launcher uses to reach its workers: a fresh ed25519 key per job, in
//! OpenSSH format, kept in the job's Secret. Which jobs need one is the job's layout's to say.

use mltrain_shared::model::{SshKeyPair, TrainingJob};
use ssh_key::{Algorithm, LineEnding, PrivateKey, rand_core::OsRng};

/// Give the job a new key pair when its layout needs one (DeepSpeed over SSH on the job backend).
pub fn provide(job: &mut TrainingJob) -> Result<(), String> {
    let name = job.name.clone();
    if let Some(keys) = job.ssh_keys_slot() {
        *keys = Some(generate(&name)?);
    }
    Ok(())
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

    #[test]
    fn only_the_ssh_layout_gets_keys() {
        use mltrain_shared::model::{Backend, Framework};
        let mut ds = TrainingJob::new("ds", Framework::DeepSpeed);
        provide(&mut ds).unwrap();
        assert!(ds.layout().unwrap().needs_ssh_keys());
        assert!(ds.ssh_keys_slot().is_some_and(|k| k.is_some()));
        let mut mpi = TrainingJob::new("ds", Framework::DeepSpeed);
        mpi.backend = Backend::MpiJob.into();
        let before = mpi.clone();
        provide(&mut mpi).unwrap();
        assert_eq!(mpi, before, "the MPI operator makes its own keys");
    }
}
