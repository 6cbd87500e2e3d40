import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

@testable import FlotillaEngine

/// The per-shard throttle and lock-aware deferral, on real PostgreSQL: two shards (two databases of the test
/// cluster; the signals count only their own database's sessions), side sessions that hold locks, and the journal
/// read back afterwards.
@Suite(.heavy)
struct ThrottleTests {
    static let change = """
        change: 0001_flag
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN flag boolean;
            down: ALTER TABLE users DROP COLUMN flag;
        """

    /// Two shards `s1` and `s2` with `perShard` tenants each (`a1…`, `b1…`), one wave.
    static func twoShards(_ name: String, perShard: Int = 3) async throws -> (Rig, ConnectionURL, ConnectionURL) {
        let s1 = try await TestCluster.shared.freshDatabase(prefix: "thr_a")
        let s2 = try await TestCluster.shared.freshDatabase(prefix: "thr_b")
        let first = (1...perShard).map { "a\($0)" }
        let second = (1...perShard).map { "b\($0)" }
        try createSchemaTenants(s1, schemas: first.map { "tenant_\($0)" }, rows: 3)
        try createSchemaTenants(s2, schemas: second.map { "tenant_\($0)" }, rows: 3)
        let tenants = first.map { schemaTenant($0, shard: "s1") } + second.map { schemaTenant($0, shard: "s2") }
        let fleet = makeFleet(name: name, shards: [("s1", s1), ("s2", s2)], tenants: tenants)
        return (try await Rig(fleet: fleet), s1, s2)
    }

    static func policy(_ throttle: String, extra: String = "") throws -> Policy {
        try parsePolicy(
            """
            policy: throttled
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 4
            per_shard_parallel: 2
            lock_timeout: 500ms
            retries: {attempts: 2, backoff: 100ms}
            \(extra)
            throttle:
            \(throttle)
            """)
    }

    /// A lock waiter on `shard`: one session holds an exclusive lock on `public.gate`, another waits for it.
    struct Waiter {
        let holder: SideSession
        let waiter: SideSession
        let waiting: Task<Void, any Error>

        static func make(on shard: ConnectionURL) async throws -> Waiter {
            _ = try psql(shard, "CREATE TABLE IF NOT EXISTS public.gate (id int)")
            let holder = try await SideSession.open(shard)
            try await holder.execute("BEGIN")
            try await holder.execute("LOCK TABLE public.gate IN ACCESS EXCLUSIVE MODE")
            let waiter = try await SideSession.open(shard)
            let waiting = Task { try await waiter.execute("SELECT count(*) FROM public.gate") }
            let seen = try await eventually {
                try psql(
                    shard,
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.datname = current_database()"
                ) == "1"
            }
            #expect(seen, "the side session waits on the lock")
            return Waiter(holder: holder, waiter: waiter, waiting: waiting)
        }

        func release() async throws {
            try await holder.execute("COMMIT")
            _ = try? await waiting.value
            await holder.close()
            await waiter.close()
        }
    }

    @Test(
        "a shard with lock waiters above pause_above starts no step while the other shard goes on; it resumes when they are gone",
        .timeLimit(.minutes(10)))
    func lockWaitersPauseOneShard() async throws {
        let (rig, s1, _) = try await Self.twoShards(uniqueName("thr_pause"))
        let waiter = try await Waiter.make(on: s1)
        let policy = try Self.policy("  interval: 200ms\n  signals:\n    - {signal: lock_waiters, pause_above: 0}")
        let change = try parseChange(Self.change)
        let run = Task { try await rig.rollout(change, policy) }
        // The other shard's tenants are applied while the throttled shard's wait.
        let otherDone = try await eventually {
            (try? rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's2' AND state = 'applied'")) == "3"
        }
        #expect(otherDone, "s2's steps applied while s1 is throttled")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's1' AND state = 'applied'") == "0")
        for id in ["a1", "a2", "a3"] {
            #expect(try TenantProbe(shard: s1, schema: "tenant_\(id)").columnType("flag") == nil, "\(id) untouched")
            #expect(try TenantProbe(shard: s1, schema: "tenant_\(id)").ledger(change: "0001_flag").isEmpty)
        }
        let throttled = try rig.journal(
            "SELECT message FROM flotilla.events WHERE kind = 'throttled' ORDER BY id LIMIT 1")
        #expect(throttled.hasPrefix("shard s1 throttled by lock_waiters = 1 > 0"), "\(throttled)")
        // flotilla status says so, while it lasts.
        let workspace = try ChildProcessFixtures.Workspace(prefix: "flotilla-throttle")
        defer { workspace.remove() }
        let children = try ChildProcessFixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let id = try rig.journal("SELECT id FROM flotilla.rollouts")
        let status = try await children.run("status", ["status", id, "--control", postgresURL(rig.control)])
        #expect(status.exitStatus == 0, "\(status.transcript)")
        #expect(status.output.contains("shard s1 throttled by lock_waiters = 1 > 0 since "), "\(status.transcript)")
        #expect(!status.output.contains("shard s2 throttled"), "\(status.transcript)")
        let json = try await children.run(
            "status-json", ["status", id, "--format", "json", "--control", postgresURL(rig.control)])
        let document = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let shards = document?["throttled"] as? [[String: Any]] ?? []
        #expect(shards.map { $0["shard"] as? String } == ["s1"], "\(json.transcript)")
        #expect(shards.first?["signal"] as? String == "lock_waiters", "\(json.transcript)")
        #expect(shards.first?["condition"] as? String == "lock_waiters = 1 > 0", "\(json.transcript)")
        try await waiter.release()
        let outcome = try await run.value
        #expect(outcome == .done(rollout: outcome.rolloutID), "\(outcome)")
        for id in ["a1", "a2", "a3"] {
            #expect(try TenantProbe(shard: s1, schema: "tenant_\(id)").columnType("flag") == "boolean")
        }
        // s1's first step started after s2's last one finished, and after the shard was clear again.
        let order = try rig.journal(
            """
            SELECT (SELECT min(finished_at) FROM flotilla.steps WHERE shard = 's1')
                 > (SELECT max(finished_at) FROM flotilla.steps WHERE shard = 's2'),
                   (SELECT count(*) FROM flotilla.events WHERE kind = 'throttle-cleared' AND message LIKE 'shard s1 clear%')
            """)
        #expect(order == "t|1", "\(order)")
    }

    @Test(
        "a follower coordinator obeys the leader's throttle: it claims no step of the throttled shard",
        .timeLimit(.minutes(10)))
    func followerObeysTheLeadersThrottle() async throws {
        let (rig, s1, _) = try await Self.twoShards(uniqueName("thr_follow"))
        let waiter = try await Waiter.make(on: s1)
        let policy = try Self.policy("  interval: 200ms\n  signals:\n    - {signal: lock_waiters, pause_above: 0}")
        let change = try parseChange(Self.change)
        let run = Task { try await rig.rollout(change, policy) }
        let events = EventLog()
        let worker = Task {
            try await rig.withEngine(observe: { events.add($0) }) { engine, _, _ in
                try await engine.work(once: false) { _, _ in (change, policy) }
            }
        }
        defer { worker.cancel() }
        let following = try await eventually {
            events.all.contains { if case .following = $0 { true } else { false } }
        }
        #expect(following, "the second coordinator joined the rollout")
        let otherDone = try await eventually {
            (try? rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's2' AND state = 'applied'")) == "3"
        }
        #expect(otherDone)
        // For two seconds after it joined, neither coordinator starts a step of s1.
        let started = try await eventually(within: .seconds(2)) {
            (try? rig.journal(
                "SELECT count(*) FROM flotilla.steps WHERE shard = 's1' AND state IN ('applied', 'failed')")) != "0"
        }
        #expect(!started, "a step of the throttled shard ran")
        #expect(try TenantProbe(shard: s1, schema: "tenant_a1").columnType("flag") == nil)
        try await waiter.release()
        let outcome = try await run.value
        #expect(outcome == .done(rollout: outcome.rolloutID), "\(outcome)")
        #expect(try TenantProbe(shard: s1, schema: "tenant_a3").columnType("flag") == "boolean")
    }

    @Test(
        "a signal above halt_above halts the rollout, with shard, signal, value and threshold in the reason",
        .timeLimit(.minutes(10)))
    func haltAboveHalts() async throws {
        let (rig, s1, _) = try await Self.twoShards(uniqueName("thr_halt"))
        let waiter = try await Waiter.make(on: s1)
        defer { Task { try? await waiter.release() } }
        let policy = try Self.policy(
            "  interval: 200ms\n  signals:\n    - {signal: lock_waiters, pause_above: 0, halt_above: 0}")
        let outcome = try await rig.rollout(try parseChange(Self.change), policy)
        guard case .halted(_, let reason) = outcome else {
            Issue.record("expected a halt, got \(outcome)")
            return
        }
        #expect(reason.contains("throttle: shard s1 lock_waiters = 1 > halt_above 0"), "\(reason)")
        #expect(try rig.rolloutState() == "halted")
        let halts = try rig.journal("SELECT reason FROM flotilla.halts")
        #expect(halts.contains("shard s1 lock_waiters = 1 > halt_above 0"), "\(halts)")
        #expect(try rig.eventKinds().contains("throttle-halt"))
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's1' AND state = 'applied'") == "0")
        try await waiter.release()
    }

    @Test(
        "a signal that cannot be read pauses its shard (on_unknown: pause) until it can be read",
        .timeLimit(.minutes(10)))
    func unreadableSignalPauses() async throws {
        let (rig, s1, s2) = try await Self.twoShards(uniqueName("thr_unknown"))
        // The query reads a table that only s2 has: on s1 it fails.
        _ = try psql(s2, "CREATE TABLE public.health (load int); INSERT INTO public.health VALUES (0)")
        let policy = try Self.policy(
            "  interval: 200ms\n  signals:\n    - {sql: \"SELECT load FROM public.health\", name: app_load, pause_above: 5}"
        )
        let run = Task { try await rig.rollout(try parseChange(Self.change), policy) }
        let otherDone = try await eventually {
            (try? rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's2' AND state = 'applied'")) == "3"
        }
        #expect(otherDone)
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE shard = 's1' AND state = 'applied'") == "0")
        let throttled = try rig.journal("SELECT message FROM flotilla.events WHERE kind = 'throttled'")
        #expect(throttled.contains("shard s1 throttled by app_load unknown"), "\(throttled)")
        #expect(throttled.contains("health"), "the reason names the error: \(throttled)")
        _ = try psql(s1, "CREATE TABLE public.health (load int); INSERT INTO public.health VALUES (1)")
        let outcome = try await run.value
        #expect(outcome == .done(rollout: outcome.rolloutID), "\(outcome)")
        #expect(try TenantProbe(shard: s1, schema: "tenant_a1").columnType("flag") == "boolean")
    }

    @Test(
        "a step whose table an old transaction locks goes to the end of its wave and is applied once released",
        .timeLimit(.minutes(10)))
    func deferralMovesLockedTenantToTheEnd() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "thr_defer")
        let ids = ["d1", "d2", "d3", "d4"]
        try createSchemaTenants(shard, schemas: ids.map { "tenant_\($0)" }, rows: 3)
        let fleet = makeFleet(
            name: uniqueName("thr_defer"), shards: [("s1", shard)], tenants: ids.map { schemaTenant($0, shard: "s1") })
        let rig = try await Rig(fleet: fleet)
        // An old transaction reads d1's users: ALTER TABLE there would wait for it.
        let holder = try await SideSession.open(shard)
        try await holder.execute("BEGIN")
        try await holder.execute("SELECT count(*) FROM tenant_d1.users")
        try await Task.sleep(for: .seconds(1))
        let policy = try parsePolicy(
            """
            policy: deferring
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 1
            per_shard_parallel: 1
            lock_timeout: 500ms
            retries: {attempts: 2, backoff: 100ms}
            throttle:
              interval: 200ms
              max_deferrals: 200
              signals:
                - {signal: active_sessions, pause_above: "100%"}
            """)
        let run = Task { try await rig.rollout(try parseChange(Self.change), policy) }
        let othersDone = try await eventually {
            (try? rig.journal(
                "SELECT count(*) FROM flotilla.steps WHERE tenant IN ('d2', 'd3', 'd4') AND state = 'applied'")) == "3"
        }
        #expect(othersDone, "the tenants behind the locked one went first")
        #expect(try TenantProbe(shard: shard, schema: "tenant_d1").columnType("flag") == nil)
        try await holder.execute("COMMIT")
        await holder.close()
        let outcome = try await run.value
        #expect(outcome == .done(rollout: outcome.rolloutID), "\(outcome)")
        #expect(try TenantProbe(shard: shard, schema: "tenant_d1").columnType("flag") == "boolean")
        // d1 was first in the queue and finished last; it never burned a retry on its lock.
        let last = try rig.journal(
            "SELECT tenant FROM flotilla.steps WHERE phase = 'expand' ORDER BY finished_at DESC LIMIT 1")
        #expect(last == "d1")
        let deferred = try rig.journal(
            "SELECT message FROM flotilla.events WHERE kind = 'deferred' AND tenant = 'd1' ORDER BY id LIMIT 1")
        #expect(deferred.contains("users is held (AccessShareLock) by pid"), "\(deferred)")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'retry'") == "0")
        #expect(try rig.steps(phase: "expand")["d1"]?.state == "applied")
    }
}

/// The pure parts: which tables a step locks, and what a round of readings means for a shard.
struct ThrottleRulesTests {
    @Test(
        "the tables a phase takes locks on",
        arguments: [
            ("ALTER TABLE IF EXISTS ONLY Users ADD COLUMN x int", ["users"]),
            ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON \"Orders\" (a)", ["Orders"]),
            ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", ["t"]),
            ("ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b) REFERENCES public.b (id) ON DELETE CASCADE", ["a", "b"]),
            ("UPDATE users SET note = 'ALTER TABLE secret'", ["users"]),
            ("-- ALTER TABLE commented\nSELECT 1", []),
            ("DELETE FROM s.logs WHERE true; TRUNCATE audit", ["logs", "audit"]),
            ("LOCK TABLE accounts IN SHARE MODE", ["accounts"]),
        ])
    func tables(_ sql: String, _ expected: [String]) {
        #expect(LockDeferral.tables(in: sql) == expected, "\(sql)")
    }

    static let lockWaiters = ThrottleSignal(
        source: .builtIn(.lockWaiters), pauseAbove: 5, haltAbove: 50,
        location: SourceLocation(file: "p", line: 1, column: 1))
    static let query = ThrottleSignal(
        source: .sql(name: "queue", query: "SELECT 1"), pauseAbove: 10,
        location: SourceLocation(file: "p", line: 2, column: 1))

    @Test("halt beats pause, unknown pauses unless ignored, and a shard stays throttled since the first reading")
    func verdicts() {
        let now = Date()
        let clear = ShardVerdict.of(
            [.init(signal: Self.lockWaiters, value: 5), .init(signal: Self.query, value: 10)], shard: "s1",
            onUnknown: .pause, previous: .clear, now: now)
        #expect(clear == .clear, "at the threshold is not above it")
        let paused = ShardVerdict.of(
            [.init(signal: Self.lockWaiters, value: 7), .init(signal: Self.query, value: 1)], shard: "s1",
            onUnknown: .pause, previous: .clear, now: now)
        #expect(paused.cause?.description == "shard s1 throttled by lock_waiters = 7 > 5")
        let later = ShardVerdict.of(
            [.init(signal: Self.lockWaiters, value: 9)], shard: "s1", onUnknown: .pause, previous: paused,
            now: now.addingTimeInterval(30))
        #expect(later.cause?.since == now, "still throttled by the same signal: since its first reading")
        let halt = ShardVerdict.of(
            [.init(signal: Self.query, value: 100), .init(signal: Self.lockWaiters, value: 51)], shard: "s1",
            onUnknown: .pause, previous: paused, now: now)
        guard case .halt(let cause) = halt else {
            Issue.record("expected a halt, got \(halt)")
            return
        }
        #expect(cause.condition == "lock_waiters = 51 > 50")
        let unknown = [ThrottleReading(signal: Self.query, error: "relation \"queue\" does not exist")]
        #expect(
            ShardVerdict.of(unknown, shard: "s2", onUnknown: .pause, previous: .clear, now: now).cause?.condition
                == "queue unknown (relation \"queue\" does not exist)")
        #expect(ShardVerdict.of(unknown, shard: "s2", onUnknown: .ignore, previous: .clear, now: now) == .clear)
    }
}
