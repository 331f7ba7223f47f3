//! The container runtime: one container as processes in the pod's network namespace and in mount,
//! UTS, IPC and PID namespaces of its own, on a root filesystem that is this machine's, seen through
//! an overlay (writes land in the container's own layer, as in a real container), with the pod's
//! volumes bind-mounted, `/etc/hosts` from the kubelet, and the process started under the pod's
//! identity with `setpriv` (uid, gid, supplementary groups, capability bounding set,
//! `no_new_privs` for `allowPrivilegeEscalation: false`).
//!
//! Identity follows the kubelet and containerd: `runAsUser`/`runAsGroup` from the container, else the
//! pod, else the image's user (root for root-assuming images); the primary group is `runAsGroup`, else
//! the passwd entry's group, else 0; supplementary groups are `fsGroup` and `supplementalGroups`;
//! `HOME` is the passwd home of the uid or `/` (see `image.rs`). `runAsNonRoot` with uid 0 is
//! refused as the kubelet refuses it (`verifyRunAsNonRoot`).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::image::{Image, ImageUser};
use super::volumes::Volume;

/// containerd's default capability set (`pkg/oci/spec.go`, `defaultUnixCaps`).
const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Who the container's process is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
    /// The passwd line the image has for this uid, if any.
    pub passwd: Option<String>,
}

fn sc_u32(pod: &Value, c: &Value, key: &str) -> Option<u32> {
    c["securityContext"][key]
        .as_u64()
        .or_else(|| pod["spec"]["securityContext"][key].as_u64())
        .map(|v| v as u32)
}

/// The container's identity (see the module header).
pub fn identity(pod: &Value, c: &Value, user: &ImageUser) -> Result<Identity, String> {
    let image_uid = match user {
        ImageUser::RootAssuming => 0,
        ImageUser::Named { uid, .. } => *uid,
    };
    let uid = sc_u32(pod, c, "runAsUser").unwrap_or(image_uid);
    let non_root = c["securityContext"]["runAsNonRoot"]
        .as_bool()
        .or_else(|| pod["spec"]["securityContext"]["runAsNonRoot"].as_bool())
        .unwrap_or(false);
    if non_root && uid == 0 {
        return Err(
            "container has runAsNonRoot and image will run as root (CreateContainerConfigError)"
                .into(),
        );
    }
    let named = match user {
        ImageUser::Named {
            name,
            uid: u,
            gid,
            home,
        } if *u == uid => Some((name.clone(), *gid, home.clone())),
        _ => None,
    };
    let (passwd_gid, home, passwd) = match (&named, uid) {
        (Some((name, gid, home)), _) => (
            Some(*gid),
            home.clone(),
            Some(format!("{name}:x:{uid}:{gid}::{home}:/bin/bash")),
        ),
        (None, 0) => (Some(0), "/root".to_string(), None),
        (None, _) => (None, "/".to_string(), None),
    };
    let gid = sc_u32(pod, c, "runAsGroup").or(passwd_gid).unwrap_or(0);
    let mut groups = Vec::new();
    if let Some(g) = pod["spec"]["securityContext"]["fsGroup"].as_u64() {
        groups.push(g as u32);
    }
    for g in pod["spec"]["securityContext"]["supplementalGroups"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(g) = g.as_u64() {
            groups.push(g as u32);
        }
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
        passwd,
    })
}

/// Quote for bash.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Everything needed to start one container.
pub struct Spec<'a> {
    pub pod: &'a Value,
    pub container: &'a Value,
    pub image: &'a Image,
    /// What the image's passwd says (the image's own model, or the cluster's override).
    pub user: &'a ImageUser,
    pub id: &'a Identity,
    pub env: &'a [(String, String)],
    pub argv: &'a [String],
    pub volumes: &'a [Volume],
    pub hostname: &'a str,
    pub hosts_file: &'a Path,
    pub resolv_file: &'a Path,
    pub dir: &'a Path,
}

/// The container's own layer (the overlay's upper directory) before it starts: the image's
/// whiteouts and files, its user's home, and the passwd model's entry for the pod's uid.
fn write_layer(s: &Spec, upper: &Path) -> Result<(), String> {
    let err = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for path in &s.image.absent {
        // An overlay whiteout: a 0/0 character device hides the lower file.
        let at = upper.join(path.trim_start_matches('/'));
        let dir = at.parent().expect("an absolute path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        let ok = Command::new("mknod")
            .arg(&at)
            .args(["c", "0", "0"])
            .status()
            .map_err(|e| format!("mknod: {e}"))?;
        if !ok.success() {
            return Err(format!("mknod {}", at.display()));
        }
    }
    for f in &s.image.files {
        let at = upper.join(f.path.trim_start_matches('/'));
        let dir = at.parent().expect("an absolute path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        std::fs::write(&at, &f.content).map_err(|e| err(&at, e))?;
        std::os::unix::fs::chown(&at, Some(f.uid), Some(f.gid)).map_err(|e| err(&at, e))?;
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| err(&at, e))?;
    }
    if let ImageUser::Named { uid, gid, home, .. } = s.user
        && home.starts_with("/home/")
    {
        // `useradd -m`: the image's user owns its home, whoever the pod runs as.
        let home = upper.join(home.trim_start_matches('/'));
        std::fs::create_dir_all(&home).map_err(|e| err(&home, e))?;
        std::os::unix::fs::chown(&home, Some(*uid), Some(*gid)).map_err(|e| err(&home, e))?;
    }
    if let Some(line) = &s.id.passwd {
        let etc = upper.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| err(&etc, e))?;
        let base =
            std::fs::read_to_string("/etc/passwd").map_err(|e| err(Path::new("/etc/passwd"), e))?;
        let passwd = etc.join("passwd");
        std::fs::write(&passwd, passwd_with(&base, line)).map_err(|e| err(&passwd, e))?;
    }
    Ok(())
}

/// This machine's passwd with the image's entry for the pod's uid: an entry of the machine with
/// the same uid or name is not the image's and goes (`getpwuid` returns the first match, and the
/// image's `/etc/passwd` has no other user with that uid).
fn passwd_with(base: &str, line: &str) -> String {
    let field = |l: &str, i: usize| l.split(':').nth(i).map(str::to_string);
    let (name, uid) = (field(line, 0), field(line, 2));
    let mut out: String = base
        .lines()
        .filter(|l| field(l, 0) != name && field(l, 2) != uid)
        .flat_map(|l| [l, "\n"])
        .collect();
    out.push_str(line);
    out.push('\n');
    out
}

/// The root-side setup script that becomes the container.
pub fn script(s: &Spec) -> Result<String, String> {
    let root = s.dir.join("root");
    for d in ["root", "upper", "work"] {
        std::fs::create_dir_all(s.dir.join(d)).map_err(|e| e.to_string())?;
    }
    let r = q(&root.display().to_string());
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, "set -eu\nmount --make-rprivate /");
    let upper = s.dir.join("upper");
    write_layer(s, &upper)?;
    let _ = writeln!(
        w,
        "mount -t overlay overlay -o lowerdir=/,upperdir={},workdir={} {r}",
        q(&upper.display().to_string()),
        q(&s.dir.join("work").display().to_string())
    );
    let _ = writeln!(w, "mount -t proc proc {r}/proc");
    let _ = writeln!(w, "mount --rbind /sys {r}/sys");
    let _ = writeln!(w, "mount --rbind /dev {r}/dev");
    // The runtime's default /dev/shm (64 MiB), unless a volume is mounted there.
    let _ = writeln!(w, "mount -t tmpfs -o size=64m,mode=1777 shm {r}/dev/shm");
    for (file, target) in [
        (s.hosts_file, "/etc/hosts"),
        (s.resolv_file, "/etc/resolv.conf"),
    ] {
        let _ = writeln!(
            w,
            "mount --bind {} {r}{target}",
            q(&file.display().to_string())
        );
    }
    volume_mounts(s, &r, w)?;
    let workdir = s.container["workingDir"].as_str().unwrap_or("/");
    // runc creates the working directory before the root filesystem is made read-only.
    let _ = writeln!(w, "mkdir -p {r}{}", q(workdir));
    if s.container["securityContext"]["readOnlyRootFilesystem"] == true {
        let _ = writeln!(w, "mount -o remount,bind,ro {r}");
    }
    let _ = writeln!(w, "hostname {}", q(s.hostname));
    let _ = writeln!(w, "cd {r}");
    let (bounding, groups, nnp) = privileges(s)?;
    let _ = write!(
        w,
        "exec chroot . /usr/bin/setpriv --reuid={} --regid={} {groups} --inh-caps=-all --bounding-set={bounding}{nnp} /usr/bin/env -i",
        s.id.uid, s.id.gid
    );
    for (k, v) in s.env {
        let _ = write!(w, " {}", q(&format!("{k}={v}")));
    }
    let _ = write!(w, " /bin/sh -c 'cd \"$0\" && exec \"$@\"' {}", q(workdir));
    for a in s.argv {
        let _ = write!(w, " {}", q(a));
    }
    let _ = writeln!(w);
    Ok(o)
}

/// Lines that bind-mount the container's volume mounts (a `subPath` is made when missing, as
/// the kubelet makes it) into the root at `r`, read-only where the mount says so.
fn volume_mounts(s: &Spec, r: &str, w: &mut String) -> Result<(), String> {
    let by_name: std::collections::BTreeMap<&str, &PathBuf> = s
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), &v.host_path))
        .collect();
    for m in s.container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or("");
        let path = m["mountPath"].as_str().unwrap_or("");
        let src = by_name
            .get(name)
            .ok_or_else(|| format!("volumeMount {name}: no such volume"))?;
        let mut src = (*src).clone();
        if let Some(sub) = m["subPath"].as_str().filter(|p| !p.is_empty()) {
            src = src.join(sub);
            if !src.exists() {
                std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
            }
        }
        let target = format!("{r}{}", q(path));
        if src.is_dir() {
            let _ = writeln!(w, "mkdir -p {target}");
        } else {
            let _ = writeln!(w, "mkdir -p \"$(dirname {target})\"; touch {target}");
        }
        let _ = writeln!(w, "mount --bind {} {target}", q(&src.display().to_string()));
        if m["readOnly"] == true {
            let _ = writeln!(w, "mount -o remount,bind,ro {target}");
        }
    }
    Ok(())
}

/// The process's privileges for `setpriv`: the capability bounding set (containerd's defaults
/// with the container's drops and adds), the supplementary groups, and `--no-new-privs` for
/// `allowPrivilegeEscalation: false`.
fn privileges(s: &Spec) -> Result<(String, String, &'static str), String> {
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let sc = &s.container["securityContext"];
    if sc["privileged"] == true {
        return Err("privileged containers are not modelled".into());
    }
    for d in sc["capabilities"]["drop"].as_array().into_iter().flatten() {
        let d = d.as_str().unwrap_or("").to_ascii_uppercase();
        caps.retain(|c| d != "ALL" && *c != d);
    }
    for a in sc["capabilities"]["add"].as_array().into_iter().flatten() {
        caps.push(a.as_str().unwrap_or("").to_ascii_uppercase());
    }
    let bounding = std::iter::once("-all".to_string())
        .chain(caps.iter().map(|c| format!("+{}", c.to_lowercase())))
        .collect::<Vec<_>>()
        .join(",");
    let groups = if s.id.groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        format!(
            "--groups={}",
            s.id.groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let nnp = if sc["allowPrivilegeEscalation"] == false {
        " --no-new-privs"
    } else {
        ""
    };
    Ok((bounding, groups, nnp))
}

/// Start the container: `ip netns exec` into the pod's network, `unshare` the rest. Output goes to
/// the container's log file; `--kill-child` ties the container's PID namespace to the handle, so
/// killing the handle ends every process of the container.
pub fn start(netns: &str, script_path: &Path, log: &Path) -> Result<Child, String> {
    let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    Command::new("ip")
        .args([
            "netns", "exec", netns, "unshare", "--mount", "--uts", "--ipc", "--pid",
        ])
        .args(["--fork", "--kill-child", "/bin/bash"])
        .arg(script_path)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start container: {e}"))
}

#[cfg(test)]
mod tests {
    use super::passwd_with;

    #[test]
    fn the_images_entry_replaces_the_machines_for_its_uid_and_name() {
        let base = "root:x:0:0:root:/root:/bin/bash\ncloudsdk:x:1000:1000::/home/cloudsdk:/bin/bash\nmpiuser:x:1500:1500::/x:/bin/sh\n";
        assert_eq!(
            passwd_with(base, "mpiuser:x:1000:1000::/home/mpiuser:/bin/bash"),
            "root:x:0:0:root:/root:/bin/bash\nmpiuser:x:1000:1000::/home/mpiuser:/bin/bash\n"
        );
    }
}
