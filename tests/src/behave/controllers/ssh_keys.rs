//! SSH key pairs as the MPI operator (`pkg/controller/mpi_job_controller.go`, `newSSHAuthSecret`)
//! and the Kubeflow Trainer's MPI plugin (`pkg/runtime/framework/plugins/mpi/mpi.go`,
//! `buildSSHAuthSecret`) make them: an ECDSA P-521 key, the private half as an `EC PRIVATE KEY` PEM
//! block, the public half as an authorized-keys line. `ssh-keygen -t ecdsa -b 521 -m PEM` writes
//! exactly that pair.

use std::path::Path;
use std::process::Command;

/// A fresh pair made in `dir`: the PEM private key and the `.pub` line ssh-keygen writes (with its
/// `user@host` comment).
pub fn keypair(dir: &Path) -> Result<(String, String), String> {
    let key = dir.join("mpi-ssh-key");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub"));
    let out = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "ecdsa", "-b", "521", "-m", "PEM", "-N", "", "-f",
        ])
        .arg(&key)
        .output()
        .map_err(|e| format!("ssh-keygen: {e} (install openssh-client)"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    Ok((read(&key)?, read(&key.with_extension("pub"))?))
}

/// The public key as `ssh.MarshalAuthorizedKey` writes it: type and key, no comment.
pub fn authorized_key(public: &str) -> String {
    let fields: Vec<&str> = public.split_whitespace().take(2).collect();
    format!("{}\n", fields.join(" "))
}
