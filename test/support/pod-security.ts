// The Pod Security Standards' `restricted` profile (baseline + restricted controls, kubernetes.io/docs/concepts/
// security/pod-security-standards, as enforced by pod-security-admission), checked on a plain Pod object: what
// `pod-security.kubernetes.io/enforce: restricted` would reject. Each problem names its container.

type Obj = Record<string, any>;

const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const BASELINE_CAPS = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);

export function restrictedProblems(pod: Obj): string[] {
  const spec: Obj = pod.spec ?? {};
  const psc: Obj = spec.securityContext ?? {};
  const out: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('pod: host namespaces');
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.has(type)) out.push(`pod: volume ${v.name} of type ${type} is not allowed`);
  }
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) out.push(`pod: sysctl ${s.name}`);
  if (psc.runAsUser === 0) out.push('pod: runAsUser 0');
  const podSeccomp = psc.seccompProfile?.type;
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') out.push(`pod: seccomp ${podSeccomp}`);
  if (psc.seLinuxOptions?.user || psc.seLinuxOptions?.role) out.push('pod: seLinuxOptions user/role');
  const all: Obj[] = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
  for (const c of all) {
    const sc: Obj = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) out.push(`${at}: privileged`);
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${at}: hostPort`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${at}: procMount`);
    if (sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) out.push(`${at}: seLinuxOptions user/role`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation != false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (!BASELINE_CAPS.has(cap)) out.push(`${at}: capability ${cap} (baseline)`);
      if (cap !== 'NET_BIND_SERVICE') out.push(`${at}: capability ${cap} (restricted allows only NET_BIND_SERVICE)`);
    }
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) out.push(`${at}: runAsNonRoot != true`);
    if (sc.runAsUser === 0) out.push(`${at}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${at}: seccompProfile must be RuntimeDefault or Localhost (got ${seccomp})`);
  }
  return out;
}
