//! What an image's own layer holds beyond this machine's filesystem: files it adds or replaces
//! (written into the container's overlay upper layer with the image's owner and mode), and the
//! Kubeflow Trainer DeepSpeed runtime image's layer in particular.
//!
//! That image (kubeflow/trainer `cmd/runtimes/deepspeed/Dockerfile`) copies its SSH setup from
//! kubeflow/mpi-operator's base image (`build/base/Dockerfile`, `build/base/sshd_config`):
//! - `/etc/ssh/ssh_config`: Debian's, edited by `sed` to `StrictHostKeyChecking no` and `Port 2222`,
//!   with `UserKnownHostsFile /dev/null` appended (the key Secret is mounted read-only over `~/.ssh`);
//! - `/etc/ssh/sshd_config`: Debian's, edited to `StrictModes no` and `Port 2222`;
//! - `/home/mpiuser/.sshd_config`: `PidFile /home/mpiuser/sshd.pid`, `HostKey
//!   /home/mpiuser/.ssh/id_rsa`, `StrictModes no`, `Port 2222`, for sshd run as mpiuser. The base
//!   image owns it to mpiuser; the Trainer's `COPY --from=mpi` has no `--chown`, so here it is
//!   root's (mode 0644, readable by mpiuser).
//!
//! The base image's `setcap CAP_NET_BIND_SERVICE=+eip /usr/sbin/sshd` does not reach the Trainer image
//! (it installs its own openssh-server and copies only the three files), so no file capability is
//! modelled. The image installs torch, DeepSpeed and mpi4py with `pip install --user` for
//! `HOME=/home/mpiuser`, so the system `python3` has them in any session whose home is
//! /home/mpiuser, an SSH session included (sshd sets `PATH` to its default, without the image's
//! `ENV PATH`). The model's packages live in a virtualenv instead, so the layer puts `python3` and
//! `python` wrappers that run it first on sshd's default `PATH` (`/usr/local/bin`).

use std::path::Path;

use super::runtime::q;

/// One file of an image's layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    /// Absolute path in the container.
    pub path: String,
    pub content: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl ImageFile {
    fn root(path: &str, content: String, mode: u32) -> Self {
        Self {
            path: path.into(),
            content,
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// The port the mpi-operator base image's `ARG port` sets for ssh and sshd.
pub const SSH_PORT: u16 = 2222;

/// `sed "s/[ #]\(.*KEY \).*/ \1VALUE/g"` on every line: from the first blank or `#` after which
/// `KEY ` follows, the line becomes a blank, everything up to the last `KEY `, and VALUE.
fn sed_set(text: &str, key: &str, value: &str) -> String {
    let needle = format!("{key} ");
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let start = body
            .char_indices()
            .find(|(i, ch)| (*ch == ' ' || *ch == '#') && body[i + 1..].contains(&needle))
            .map(|(i, _)| i);
        match (start, body.rfind(&needle)) {
            (Some(i), Some(k)) if k > i => {
                out.push_str(&body[..i]);
                out.push(' ');
                out.push_str(&body[i + 1..k + needle.len()]);
                out.push_str(value);
            }
            _ => out.push_str(body),
        }
        out.push_str(nl);
    }
    out
}

/// `sed "s/#\(KEY \).*/\1VALUE/g"` on every line: a commented `#KEY ...` becomes `KEY VALUE`.
fn sed_uncomment(text: &str, key: &str, value: &str) -> String {
    let needle = format!("#{key} ");
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        match body.find(&needle) {
            Some(i) => {
                out.push_str(&body[..i]);
                out.push_str(key);
                out.push(' ');
                out.push_str(value);
            }
            None => out.push_str(body),
        }
        out.push_str(nl);
    }
    out
}

/// The mpi-operator base image's `/etc/ssh/ssh_config` made from Debian's.
fn ssh_config(debian: &str) -> String {
    let port = SSH_PORT.to_string();
    let mut s = sed_set(debian, "StrictHostKeyChecking", "no");
    s.push_str("    UserKnownHostsFile /dev/null\n");
    sed_set(&s, "Port", &port)
}

/// The mpi-operator base image's `/etc/ssh/sshd_config` made from Debian's.
fn sshd_config(debian: &str) -> String {
    let s = sed_uncomment(debian, "StrictModes", "no");
    sed_uncomment(&s, "Port", &SSH_PORT.to_string())
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!("{path}: {e} (the Trainer's DeepSpeed image model edits this machine's OpenSSH configuration: run tests/behave/install.sh)")
    })
}

/// The Trainer DeepSpeed runtime image's layer (see the module header), with `venv` the
/// virtualenv that stands for its Python packages.
pub fn trainer_deepspeed(venv: &Path) -> Result<Vec<ImageFile>, String> {
    let python = venv.join("bin/python3");
    let wrapper = format!(
        "#!/bin/sh\nexec {} \"$@\"\n",
        q(&python.display().to_string())
    );
    Ok(vec![
        ImageFile::root(
            "/etc/ssh/ssh_config",
            ssh_config(&read("/etc/ssh/ssh_config")?),
            0o644,
        ),
        ImageFile::root(
            "/etc/ssh/sshd_config",
            sshd_config(&read("/etc/ssh/sshd_config")?),
            0o644,
        ),
        ImageFile::root(
            "/home/mpiuser/.sshd_config",
            format!(
                "PidFile /home/mpiuser/sshd.pid\nHostKey /home/mpiuser/.ssh/id_rsa\nStrictModes no\nPort {SSH_PORT}\n"
            ),
            0o644,
        ),
        ImageFile::root("/usr/local/bin/python3", wrapper.clone(), 0o755),
        ImageFile::root("/usr/local/bin/python", wrapper, 0o755),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_SSH: &str = "Include /etc/ssh/ssh_config.d/*.conf\n\nHost *\n#   ForwardX11 no\n#   StrictHostKeyChecking ask\n#   Port 22\n    SendEnv LANG LC_*\n";
    const DEBIAN_SSHD: &str =
        "Include /etc/ssh/sshd_config.d/*.conf\n\n#Port 22\n#StrictModes yes\nUsePAM yes\n";

    #[test]
    fn ssh_configs_are_debians_edited_as_the_dockerfile_edits_them() {
        assert_eq!(
            ssh_config(DEBIAN_SSH),
            "Include /etc/ssh/ssh_config.d/*.conf\n\nHost *\n#   ForwardX11 no\n    StrictHostKeyChecking no\n    Port 2222\n    SendEnv LANG LC_*\n    UserKnownHostsFile /dev/null\n"
        );
        assert_eq!(
            sshd_config(DEBIAN_SSHD),
            "Include /etc/ssh/sshd_config.d/*.conf\n\nPort 2222\nStrictModes no\nUsePAM yes\n"
        );
    }

    fn sed(script: &str, input: &str) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sed")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sed");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        String::from_utf8(child.wait_with_output().expect("sed").stdout).expect("utf-8")
    }

    #[test]
    fn the_edits_match_sed() {
        for line in [
            "#   Port 22",
            "x#Port 22 Port 1",
            "Port 22",
            "# a Port b Port c",
            "",
        ] {
            let input = format!("{line}\n");
            assert_eq!(
                sed_set(&input, "Port", "7"),
                sed(r"s/[ #]\(.*Port \).*/ \17/g", &input),
                "{line:?}"
            );
            assert_eq!(
                sed_uncomment(&input, "Port", "7"),
                sed(r"s/#\(Port \).*/\17/g", &input),
                "{line:?}"
            );
        }
    }

    #[test]
    fn sed_set_keeps_what_precedes_the_first_blank_or_hash() {
        assert_eq!(sed_set("x#Port 22", "Port", "7"), "x Port 7");
        assert_eq!(sed_set("Port 22", "Port", "7"), "Port 22");
        assert_eq!(
            sed_set("# a Port b Port c", "Port", "7"),
            "  a Port b Port 7"
        );
    }
}
