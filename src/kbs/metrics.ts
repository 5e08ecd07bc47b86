/** Prometheus metrics of one KBS instance (its own registry, so several can live in one process). */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export interface KbsMetrics {
  registry: Registry;
  handshakes: Counter<'step' | 'outcome'>;
  verdicts: Counter<'platform' | 'status'>;
  latency: Histogram<'route' | 'method' | 'status'>;
  attestLatency: Histogram<'platform'>;
  releases: Counter<'repository'>;
  refusals: Counter<'reason'>;
}

export function createMetrics(defaults = true): KbsMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'teataster_kbs_' });
  return {
    registry,
    handshakes: new Counter({ name: 'teataster_kbs_handshakes_total', help: 'RCAR handshake steps by outcome', labelNames: ['step', 'outcome'], registers: [registry] }),
    verdicts: new Counter({ name: 'teataster_kbs_verdicts_total', help: 'Attestation verdicts by platform and EAR status', labelNames: ['platform', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'teataster_kbs_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    attestLatency: new Histogram({
      name: 'teataster_kbs_attestation_duration_seconds',
      help: 'Evidence verification + appraisal latency by platform',
      labelNames: ['platform'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    releases: new Counter({ name: 'teataster_kbs_releases_total', help: 'Secrets released', labelNames: ['repository'], registers: [registry] }),
    refusals: new Counter({ name: 'teataster_kbs_refusals_total', help: 'Requests refused by reason', labelNames: ['reason'], registers: [registry] }),
  };
}
