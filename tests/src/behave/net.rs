//! The pod network: one network namespace per pod, joined by veth pairs to a bridge that lives in a
//! namespace of its own. Every namespace is made by this run and deleted when it ends, and nothing is
//! routed out of them: pod traffic never leaves the namespaces the test created.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Run `ip` with arguments; an error names the command.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The bridge namespace and the pod namespaces of one run.
pub struct Network {
    tag: String,
    bridge_ns: String,
    pods: Vec<String>,
    next: u32,
}

/// One pod's place on the network.
#[derive(Clone, Debug)]
pub struct PodNet {
    pub netns: String,
    pub ip: String,
}

impl Network {
    /// A fresh bridge. Namespace names carry the process id and a counter, so parallel runs and
    /// leftovers of a killed run never collide.
    pub fn new() -> Result<Self, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "mlt{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let bridge_ns = format!("{tag}-br");
        ip(&["netns", "add", &bridge_ns])?;
        let net = Self {
            tag,
            bridge_ns,
            pods: Vec::new(),
            next: 0,
        };
        ip(&["-n", &net.bridge_ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &net.bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &net.bridge_ns, "link", "set", "br0", "up"])?;
        Ok(net)
    }

    /// A new pod namespace with its own loopback and one interface on the bridge. Addresses come
    /// from a pod CIDR that exists only inside these namespaces.
    pub fn add_pod(&mut self) -> Result<PodNet, String> {
        self.next += 1;
        let n = self.next;
        if n > 60000 {
            return Err("more than 60000 pods in one run".into());
        }
        let netns = format!("{}-p{n}", self.tag);
        ip(&["netns", "add", &netns])?;
        self.pods.push(netns.clone());
        let host_end = format!("vp{n}");
        ip(&[
            "-n",
            &self.bridge_ns,
            "link",
            "add",
            &host_end,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ])?;
        ip(&[
            "-n",
            &self.bridge_ns,
            "link",
            "set",
            &host_end,
            "master",
            "br0",
        ])?;
        ip(&["-n", &self.bridge_ns, "link", "set", &host_end, "up"])?;
        let addr = format!("10.244.{}.{}", n / 250, n % 250 + 2);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{addr}/16"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        Ok(PodNet { netns, ip: addr })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in self.pods.iter().chain(std::iter::once(&self.bridge_ns)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
