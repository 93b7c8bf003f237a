//! The resource: who is sending the telemetry.
//!
//! Precedence, lowest first: what is detected (host, OS, process, container, Kubernetes), then
//! `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, then what the code sets on the builder.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::env::{parse_key_values, Env};
use super::error::SetupError;

pub(crate) const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub(crate) const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// What the builder sets in code.
#[derive(Debug, Default, Clone)]
pub(crate) struct ResourceOverrides {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) detect: bool,
}

/// Builds the resource from the detectors, the environment and the code's overrides.
pub(crate) fn build(env: &Env<'_>, overrides: &ResourceOverrides) -> Result<Resource, SetupError> {
    let mut attrs: Vec<KeyValue> = Vec::new();
    if overrides.detect {
        attrs.extend(detect(env));
    }
    if let Some(list) = env.get(OTEL_RESOURCE_ATTRIBUTES) {
        for (k, v) in parse_key_values(OTEL_RESOURCE_ATTRIBUTES, &list, false)? {
            attrs.push(KeyValue::new(k, v));
        }
    }
    if let Some(name) = env.get(OTEL_SERVICE_NAME) {
        attrs.push(KeyValue::new(semconv::SERVICE_NAME, name));
    }
    attrs.extend(overrides.attributes.iter().cloned());
    if let Some(name) = &overrides.service_name {
        attrs.push(KeyValue::new(semconv::SERVICE_NAME, name.clone()));
    }
    if let Some(version) = &overrides.service_version {
        attrs.push(KeyValue::new(semconv::SERVICE_VERSION, version.clone()));
    }
    let has = |attrs: &[KeyValue], key: &str| attrs.iter().any(|kv| kv.key.as_str() == key);
    if !has(&attrs, semconv::SERVICE_NAME) {
        attrs.push(KeyValue::new(semconv::SERVICE_NAME, default_service_name()));
    }
    if !has(&attrs, semconv::SERVICE_INSTANCE_ID) {
        attrs.push(KeyValue::new(semconv::SERVICE_INSTANCE_ID, random_uuid()));
    }
    // Later attributes win inside `with_attributes`, which is the precedence above.
    Ok(Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(attrs)
        .build())
}

/// `unknown_service:<executable>`, the specification's default.
fn default_service_name() -> String {
    match executable_name() {
        Some(exe) => format!("unknown_service:{exe}"),
        None => "unknown_service".to_owned(),
    }
}

fn executable_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

/// A random version-4 UUID, from the SDK's random id generator (no extra dependency).
fn random_uuid() -> String {
    use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
    let mut b = RandomIdGenerator::default().new_trace_id().to_bytes();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Host, OS, process, container and Kubernetes attributes of this process.
fn detect(env: &Env<'_>) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new(semconv::OS_TYPE, os_type()),
        KeyValue::new(semconv::HOST_ARCH, host_arch()),
        KeyValue::new(semconv::PROCESS_PID, i64::from(std::process::id())),
        KeyValue::new(semconv::PROCESS_RUNTIME_NAME, "rustc"),
        KeyValue::new(
            semconv::PROCESS_RUNTIME_DESCRIPTION,
            env!("TOWERLIGHT_RUSTC_VERSION"),
        ),
    ];
    if let Some(version) = env!("TOWERLIGHT_RUSTC_VERSION").split_whitespace().nth(1) {
        attrs.push(KeyValue::new(semconv::PROCESS_RUNTIME_VERSION, version));
    }
    if let Some(exe) = executable_name() {
        attrs.push(KeyValue::new(semconv::PROCESS_EXECUTABLE_NAME, exe));
    }
    if let Some(host) = host_name(env) {
        attrs.push(KeyValue::new(semconv::HOST_NAME, host));
    }
    if let Some(id) = container_id() {
        attrs.push(KeyValue::new(semconv::CONTAINER_ID, id));
    }
    attrs.extend(kubernetes(env));
    attrs
}

/// `os.type` uses the semantic conventions' values (`darwin`, not `macos`).
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" | "ios" => "darwin",
        "illumos" => "solaris",
        other => other,
    }
}

/// `host.arch` uses the semantic conventions' values (`amd64`, `arm64`, …).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

fn host_name(env: &Env<'_>) -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| env.first(&["HOSTNAME", "COMPUTERNAME"]).map(|(_, v)| v))
}

fn container_id() -> Option<String> {
    let from_cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| container_id_from_cgroup(&text));
    from_cgroup.or_else(|| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|text| container_id_from_mountinfo(&text))
    })
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container id in `/proc/self/cgroup` (cgroup v1, and v2 on hosts that nest cgroups per
/// container): the innermost path segment that, without a runtime prefix (`docker-`,
/// `cri-containerd-`, `crio-`, `libpod-`) and a `.scope` suffix, is 64 hex digits.
pub(crate) fn container_id_from_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(|segment| {
            let segment = segment.strip_suffix(".scope").unwrap_or(segment);
            let id = segment.rsplit(['-', ':']).next()?;
            is_container_id(id).then(|| id.to_ascii_lowercase())
        })
    })
}

/// The container id in `/proc/self/mountinfo` (cgroup v2): runtimes bind-mount files from a
/// per-container directory such as `/var/lib/docker/containers/<id>/hostname` or
/// `…/overlay-containers/<id>/userdata/hostname`; the id is the segment after a `containers`
/// directory. Sandbox (pause container) directories are skipped.
pub(crate) fn container_id_from_mountinfo(text: &str) -> Option<String> {
    text.lines()
        .filter(|line| !line.contains("/sandboxes/"))
        .find_map(|line| {
            line.split_whitespace().find_map(|field| {
                let segments: Vec<&str> = field.split('/').collect();
                segments.windows(2).find_map(|pair| {
                    (pair[0].ends_with("containers") && is_container_id(pair[1]))
                        .then(|| pair[1].to_ascii_lowercase())
                })
            })
        })
}

/// `k8s.pod.name`, `k8s.namespace.name` and `k8s.node.name` from the variables a pod spec
/// usually sets through the downward API, and the namespace from the service-account mount.
fn kubernetes(env: &Env<'_>) -> Vec<KeyValue> {
    let mut attrs = Vec::new();
    if let Some((_, pod)) = env.first(&["K8S_POD_NAME", "POD_NAME", "KUBERNETES_POD_NAME"]) {
        attrs.push(KeyValue::new(semconv::K8S_POD_NAME, pod));
    }
    let namespace = env
        .first(&[
            "K8S_NAMESPACE",
            "K8S_NAMESPACE_NAME",
            "POD_NAMESPACE",
            "KUBERNETES_NAMESPACE",
        ])
        .map(|(_, v)| v)
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        });
    if let Some(namespace) = namespace {
        attrs.push(KeyValue::new(semconv::K8S_NAMESPACE_NAME, namespace));
    }
    if let Some((_, node)) = env.first(&["K8S_NODE_NAME", "NODE_NAME"]) {
        attrs.push(KeyValue::new(semconv::K8S_NODE_NAME, node));
    }
    attrs
}

/// The string value of a resource attribute, for messages and the console header.
pub(crate) fn string_attr(resource: &Resource, key: &'static str) -> Option<String> {
    resource
        .get(&opentelemetry::Key::from_static_str(key))
        .map(|v| match v {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4b1c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80a";

    #[test]
    fn cgroup_v1_docker() {
        let text = format!(
            "12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
        );
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_systemd_scopes_and_kubernetes() {
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
        let text = format!(
            "11:devices:/kubepods/burstable/pod1b2c3d4e-0000-4000-8000-000000000000/{ID}\n"
        );
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
        let text = format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
        let text = format!("0::/machine.slice/libpod-{ID}.scope/container\n");
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_v2_host_has_no_id() {
        assert_eq!(container_id_from_cgroup("0::/\n"), None);
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
            None
        );
    }

    #[test]
    fn mountinfo_docker_and_podman() {
        let docker = format!(
            "636 617 0:57 / / rw,relatime master:319 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n\
             648 636 254:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             649 636 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&docker).as_deref(), Some(ID));
        let podman = format!(
            "1 2 0:3 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&podman).as_deref(), Some(ID));
    }

    #[test]
    fn mountinfo_skips_sandboxes_and_hosts() {
        let sandbox = format!(
            "1 2 0:3 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{ID}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&sandbox), None);
        let host = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
        assert_eq!(container_id_from_mountinfo(host), None);
    }

    #[test]
    fn uuid_shape() {
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(random_uuid(), id);
    }

    fn lookup(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Send + Sync {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn precedence_detected_env_code() {
        let f = lookup(&[
            (
                OTEL_RESOURCE_ATTRIBUTES,
                "service.name=from-attrs,deployment.environment.name=prod,team=a%20b",
            ),
            (OTEL_SERVICE_NAME, "from-service-name"),
            ("POD_NAME", "shop-7d9f"),
            ("POD_NAMESPACE", "checkout"),
        ]);
        let env = Env(&f);
        let r = build(
            &env,
            &ResourceOverrides {
                detect: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            string_attr(&r, semconv::SERVICE_NAME).as_deref(),
            Some("from-service-name")
        );
        assert_eq!(string_attr(&r, "team").as_deref(), Some("a b"));
        assert_eq!(
            string_attr(&r, "deployment.environment.name").as_deref(),
            Some("prod")
        );
        assert_eq!(
            string_attr(&r, semconv::K8S_POD_NAME).as_deref(),
            Some("shop-7d9f")
        );
        assert_eq!(
            string_attr(&r, semconv::K8S_NAMESPACE_NAME).as_deref(),
            Some("checkout")
        );
        assert_eq!(
            r.get(&opentelemetry::Key::from_static_str(semconv::PROCESS_PID)),
            Some(Value::I64(i64::from(std::process::id())))
        );
        assert_eq!(
            string_attr(&r, semconv::OS_TYPE).as_deref(),
            Some(os_type())
        );
        assert_eq!(
            string_attr(&r, semconv::PROCESS_RUNTIME_NAME).as_deref(),
            Some("rustc")
        );
        assert_eq!(
            string_attr(&r, semconv::TELEMETRY_SDK_LANGUAGE).as_deref(),
            Some("rust")
        );
        assert_eq!(
            string_attr(&r, semconv::SERVICE_INSTANCE_ID).map(|s| s.len()),
            Some(36)
        );

        let r = build(
            &env,
            &ResourceOverrides {
                service_name: Some("from-code".into()),
                service_version: Some("1.2.3".into()),
                attributes: vec![KeyValue::new("team", "b")],
                detect: false,
            },
        )
        .unwrap();
        assert_eq!(
            string_attr(&r, semconv::SERVICE_NAME).as_deref(),
            Some("from-code")
        );
        assert_eq!(
            string_attr(&r, semconv::SERVICE_VERSION).as_deref(),
            Some("1.2.3")
        );
        assert_eq!(string_attr(&r, "team").as_deref(), Some("b"));
        assert_eq!(string_attr(&r, semconv::K8S_POD_NAME), None);
    }

    #[test]
    fn default_service_name_and_bad_attributes() {
        let f = lookup(&[]);
        let r = build(&Env(&f), &ResourceOverrides::default()).unwrap();
        let name = string_attr(&r, semconv::SERVICE_NAME).unwrap();
        assert!(name.starts_with("unknown_service:"), "{name}");
        let f = lookup(&[(OTEL_RESOURCE_ATTRIBUTES, "a=1,b")]);
        assert_eq!(
            build(&Env(&f), &ResourceOverrides::default())
                .unwrap_err()
                .to_string(),
            "OTEL_RESOURCE_ATTRIBUTES=\"a=1,b\": entry \"b\" is not key=value"
        );
    }
}
