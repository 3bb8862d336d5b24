import { describe, expect, it } from 'vitest';
import { loadConfig, OrchestratorConfigError } from './config.ts';

describe('orchestrator config', () => {
  it('has laptop defaults: port 8070, 10 s heartbeat timeout, 20% headroom', () => {
    expect(loadConfig({})).toMatchObject({ port: 8070, heartbeatTimeoutMs: 10_000, headroom: 0.2 });
  });

  it('reads ORCH_* variables, and overrides win', () => {
    const c = loadConfig({ ORCH_PORT: '9000', ORCH_HEARTBEAT_TIMEOUT_MS: '1500' }, { port: 9100 });
    expect(c).toMatchObject({ port: 9100, heartbeatTimeoutMs: 1500 });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names the bad option', () => {
    expect(() => loadConfig({ ORCH_HEADROOM: '2' })).toThrow(OrchestratorConfigError);
    expect(() => loadConfig({ ORCH_HEADROOM: '2' })).toThrow(/headroom/);
  });

  it('selects the Kubernetes backend, its namespace from POD_NAMESPACE unless ORCH_K8S_NAMESPACE says otherwise', () => {
    expect(loadConfig({})).toMatchObject({
      backend: 'standalone',
      k8sNamespace: 'default',
      k8sNodeSelector: '',
      k8sStoreLabel: 'storevision.io/store',
      k8sConfigMapPrefix: 'storevision-assignment',
    });
    expect(loadConfig({ ORCH_BACKEND: 'kubernetes', POD_NAMESPACE: 'retail' })).toMatchObject({
      backend: 'kubernetes',
      k8sNamespace: 'retail',
    });
    expect(loadConfig({ POD_NAMESPACE: 'retail', ORCH_K8S_NAMESPACE: 'other' }).k8sNamespace).toBe('other');
    expect(() => loadConfig({ ORCH_BACKEND: 'etcd' })).toThrow(/backend/);
    expect(() => loadConfig({ ORCH_K8S_CONFIGMAP_PREFIX: 'Not_A_Name' })).toThrow(/k8sConfigMapPrefix/);
  });
});
