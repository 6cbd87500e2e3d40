import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Webhooks (`notify:`) of real rollouts, received by a local HTTP server: what they carry, how they are signed, and
/// what happens when the receiver keeps failing.
@Suite(.heavy)
struct NotifyTests {
    /// RFC 4231, test cases 1, 2 and 6 (a key longer than a block): the signature's HMAC is the standard one.
    @Test
    func hmacMatchesRFC4231() {
        #expect(
            HMACSHA256.hex(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            HMACSHA256.hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            HMACSHA256.hex(
                key: [UInt8](repeating: 0xaa, count: 131),
                message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    /// A halted rollout and a finished one each reach the receiver once, as a documented JSON object, signed with the
    /// key from `secret_env`.
    @Test(.timeLimit(.minutes(10)))
    func haltedAndDoneReachTheReceiverSigned() async throws {
        let receiver = try CanaryHTTPServer { _ in (200, "ok") }
        defer { receiver.stop() }
        let secretName = "FLOTILLA_NOTIFY_TEST_SECRET_\(getpid())"
        let secret = "s3cret-\(UInt32.random(in: 0..<UInt32.max))"
        setenv(secretName, secret, 1)
        let shard = try await TestCluster.shared.freshDatabase(prefix: "notify")
        let tenants = (1...4).map { schemaTenant(String(format: "n%02d", $0), shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        // n03 already has the column: its step fails (42701), and on_failure: halt stops the rollout.
        _ = try psql(shard, "ALTER TABLE tenant_n03.users ADD COLUMN hooked integer")
        let rig = try await Rig(fleet: makeFleet(name: "notify-fleet", shards: [("a", shard)], tenants: tenants))
        let policy = try parsePolicy(
            """
            policy: hooked
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 2
            retries: {attempts: 1}
            on_failure: halt
            notify:
              url: \(receiver.base)/hooks/flotilla
              events: [halted, done]
              secret_env: \(secretName)
              backoff: 100ms
            """)
        let failing = try parseChange(
            """
            change: 0001_hooked
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN hooked integer;
                down: ALTER TABLE users DROP COLUMN hooked;
            """)
        let halted = try await rig.rollout(failing, policy)
        guard case .halted(let haltedID, _) = halted else {
            Issue.record("expected halted, got \(halted)")
            return
        }
        let passing = try parseChange(
            """
            change: 0002_plain
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN plain integer;
                down: ALTER TABLE users DROP COLUMN plain;
            """)
        try await rig.withEngine { _, store, _ in _ = try await store.resume(fleet: nil, by: "test") }
        let done = try await rig.rollout(passing, policy)
        guard case .done(let doneID) = done else {
            Issue.record("expected done, got \(done)")
            return
        }
        // The states the notifications speak of are the journal's.
        #expect(
            try rig.journal("SELECT id || ':' || state FROM flotilla.rollouts ORDER BY created_at")
                == "\(haltedID):halted\n\(doneID):done")

        let messages = receiver.received
        #expect(messages.count == 2, "\(messages.map(\.head))")
        #expect(receiver.requests == ["/hooks/flotilla", "/hooks/flotilla"])
        var bodies: [[String: Any]] = []
        for message in messages {
            #expect(message.head.hasPrefix("POST "))
            #expect(message.header("Content-Type") == "application/json")
            let signature = try #require(message.header("X-Flotilla-Signature"))
            #expect(signature == "sha256=" + HMACSHA256.hex(key: Array(secret.utf8), message: message.body))
            #expect(signature != "sha256=" + HMACSHA256.hex(key: Array("not-the-key".utf8), message: message.body))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(message.body)) as? [String: Any])
            bodies.append(object)
        }
        guard bodies.count == 2 else { return }
        #expect(bodies[0]["event"] as? String == "halted")
        #expect(bodies[0]["rollout"] as? String == haltedID)
        #expect(bodies[0]["fleet"] as? String == "notify-fleet")
        #expect(bodies[0]["change"] as? String == "0001_hooked")
        #expect(bodies[0]["phase"] as? String == "expand")
        #expect((bodies[0]["reason"] as? String)?.isEmpty == false)
        #expect(bodies[1]["event"] as? String == "done")
        #expect(bodies[1]["rollout"] as? String == doneID)
        #expect(bodies[1]["change"] as? String == "0002_plain")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for body in bodies {
            let time = try #require(body["time"] as? String)
            #expect(formatter.date(from: time) != nil, "time \(time)")
        }
    }

    /// A receiver that answers 500 gets every try, then the notification is given up: a notify-gave-up event in the
    /// journal, and the rollout is done all the same.
    @Test(.timeLimit(.minutes(10)))
    func failingReceiverIsRetriedThenGivenUpWhileTheRolloutFinishes() async throws {
        let receiver = try CanaryHTTPServer { _ in (500, "broken") }
        defer { receiver.stop() }
        let shard = try await TestCluster.shared.freshDatabase(prefix: "notify500")
        let tenants = (1...3).map { schemaTenant(String(format: "f%02d", $0), shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        let rig = try await Rig(fleet: makeFleet(name: "notify-500", shards: [("a", shard)], tenants: tenants))
        let policy = try parsePolicy(
            """
            policy: hooked
            waves:
              - {name: all, select: {remaining: true}}
            notify:
              - {url: "\(receiver.base)/broken", events: [done], attempts: 3, backoff: 50ms, format: slack}
            """)
        let change = try parseChange(
            """
            change: 0001_given_up
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN given integer;
                down: ALTER TABLE users DROP COLUMN given;
            """)
        let outcome = try await rig.rollout(change, policy)
        guard case .done(let rolloutID) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(rolloutID)'") == "done")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "3")
        #expect(receiver.requests == ["/broken", "/broken", "/broken"])
        let slack = try #require(receiver.received.first)
        let text = try #require(
            (try JSONSerialization.jsonObject(with: Data(slack.body)) as? [String: Any])?["text"] as? String)
        #expect(text.contains(rolloutID) && text.contains("is done"), "\(text)")
        let gaveUp = lines(
            try rig.journal(
                "SELECT message FROM flotilla.events WHERE rollout_id = '\(rolloutID)' AND kind = 'notify-gave-up'"))
        #expect(gaveUp.count == 1, "\(gaveUp)")
        #expect(gaveUp.first?.contains("gave up on done after 3 tries: HTTP 500") == true, "\(gaveUp)")
        #expect(gaveUp.first?.contains("/broken") == false, "the webhook's path is not journaled: \(gaveUp)")
    }

    /// A revert by hand (as `flotilla revert` runs it) tells the webhooks that asked for `reverted`, and only them.
    @Test(.timeLimit(.minutes(10)))
    func revertByHandIsNotified() async throws {
        let receiver = try CanaryHTTPServer { _ in (204, "") }
        defer { receiver.stop() }
        let shard = try await TestCluster.shared.freshDatabase(prefix: "notifyrev")
        let tenants = (1...2).map { schemaTenant(String(format: "v%02d", $0), shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        let rig = try await Rig(fleet: makeFleet(name: "notify-revert", shards: [("a", shard)], tenants: tenants))
        let policy = try parsePolicy(
            """
            policy: hooked
            waves:
              - {name: all, select: {remaining: true}}
            notify:
              - {url: "\(receiver.base)/reverted", events: [reverted]}
              - {url: "\(receiver.base)/done", events: [done]}
            """)
        let change = try parseChange(
            """
            change: 0001_undone
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN undone integer;
                down: ALTER TABLE users DROP COLUMN undone;
            """)
        let outcome = try await rig.rollout(change, policy)
        guard case .done(let rolloutID) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        #expect(receiver.requests == ["/done"])
        let reverted = try await rig.withEngine { engine, _, _ in
            let (notified, notifier) = engine.notifying(rolloutID: rolloutID, change: change, policy: policy)
            return try await notifier.flushing {
                try await notified.revert(rollout: rolloutID, change: change, policy: policy)
            }
        }
        guard case .reverted = reverted else {
            Issue.record("expected reverted, got \(reverted)")
            return
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts") == "reverted")
        #expect(try TenantProbe(shard: shard, schema: "tenant_v01").columnType("undone") == nil)
        #expect(receiver.requests == ["/done", "/reverted"])
        let body = try #require(receiver.received.last?.body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(object["event"] as? String == "reverted" && object["rollout"] as? String == rolloutID)
        #expect(receiver.received.last?.header("X-Flotilla-Signature") == nil, "unsigned without secret_env")
    }
}
