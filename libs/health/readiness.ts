import type { Consumer } from 'kafkajs';

export interface CheckState {
  ok: boolean;
  detail: string;
  /** When the state last changed (ISO 8601). */
  since: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckState>;
}

/** What a consumer loop needs to report itself: a lib can take this without the rest. */
export interface ConsumerWatcher {
  watchConsumer(name: string, consumer: Consumer): void;
  /** Sets a named check of the service's own (Readiness.set), where readiness is served. */
  set?(name: string, ok: boolean, detail: string): void;
}

/**
 * Whether a service is ready to do its work, as named checks that each part of the service
 * keeps current: the connection to the store, every consumer's group membership, startup
 * and shutdown. Ready when every check is ok. A consumer counts as ready once it has
 * joined its group, even with no partition assigned (more instances than partitions): the
 * report says how many it holds.
 */
export class Readiness implements ConsumerWatcher {
  private readonly checks = new Map<string, CheckState>();

  set(name: string, ok: boolean, detail: string): void {
    const current = this.checks.get(name);
    if (current && current.ok === ok && current.detail === detail) return;
    this.checks.set(name, { ok, detail, since: new Date().toISOString() });
  }

  delete(name: string): void {
    this.checks.delete(name);
  }

  report(): ReadinessReport {
    const checks = Object.fromEntries(this.checks);
    const ready = this.checks.size > 0 && [...this.checks.values()].every((c) => c.ok);
    return { ready, checks };
  }

  /** Follows a kafkajs consumer's instrumentation events; call before connect(). */
  watchConsumer(name: string, consumer: Consumer): void {
    const key = `kafka:${name}`;
    const { events } = consumer;
    this.set(key, false, 'connecting');
    consumer.on(events.CONNECT, () => this.set(key, false, 'connected, joining the group'));
    consumer.on(events.GROUP_JOIN, (e) => {
      const assigned = Object.entries(e.payload.memberAssignment)
        .map(([topic, partitions]) => `${topic}[${partitions.join(',')}]`)
        .join(' ');
      const count = Object.values(e.payload.memberAssignment).reduce((n, p) => n + p.length, 0);
      this.set(
        key,
        true,
        `member of ${e.payload.groupId}, ${count} partition(s) assigned${count > 0 ? `: ${assigned}` : ''}`,
      );
    });
    consumer.on(events.REBALANCING, () => this.set(key, false, 'rebalancing'));
    consumer.on(events.CRASH, (e) =>
      this.set(key, false, `crashed: ${e.payload.error.message}${e.payload.restart ? ' (restarting)' : ''}`),
    );
    consumer.on(events.STOP, () => this.set(key, false, 'stopped'));
    consumer.on(events.DISCONNECT, () => this.set(key, false, 'disconnected'));
  }
}
