import FlotillaModel
import Testing

/// `notify:` of a policy or a fleet: what it reads, its defaults, and where a mistake in it is reported.
struct NotifyDecodingTests {
    static let head = ["policy: p", "waves: [{name: w, select: {remaining: true}}]", "notify:"]

    static func policy(_ lines: [String]) throws(DefinitionError) -> Policy {
        try Policy.parse((head + lines).joined(separator: "\n") + "\n", file: "policies/p.yaml")
    }

    @Test("one webhook with its defaults, or a list of them with every option")
    func readsWebhooks() throws {
        let one = try Self.policy(["  url: https://hooks.example/one"])
        #expect(one.notify.count == 1)
        let hook = try #require(one.notify.first)
        #expect(hook.url == "https://hooks.example/one")
        #expect(hook.events == Set(Notify.Event.allCases))
        #expect(hook.format == .json && hook.secretEnv == nil)
        #expect(hook.attempts == 5 && hook.backoff == .seconds(1) && hook.timeout == .seconds(10))
        #expect(hook.location.line == 4 && hook.location.column == 3)

        let two = try Self.policy([
            "  - url: http://127.0.0.1:9/a",
            "    events: [halted, awaiting-approval]",
            "    format: slack",
            "    secret_env: HOOK_SECRET_1",
            "    attempts: 2",
            "    backoff: 250ms",
            "    timeout: 3s",
            "  - {url: \"https://b.example/x\", events: done}",
        ])
        #expect(two.notify.map(\.url) == ["http://127.0.0.1:9/a", "https://b.example/x"])
        #expect(two.notify[0].events == [.halted, .awaitingApproval])
        #expect(two.notify[0].wants(.halted) && !two.notify[0].wants(.done))
        #expect(two.notify[0].format == .slack && two.notify[0].secretEnv == "HOOK_SECRET_1")
        #expect(two.notify[0].attempts == 2 && two.notify[0].backoff == .milliseconds(250))
        #expect(two.notify[0].timeout == .seconds(3))
        #expect(two.notify[1].events == [.done])
    }

    @Test("a fleet's notify: beside its tenants")
    func fleetNotify() throws {
        let fleet = try Fleet.parse(
            """
            fleet: f
            shards: [{name: s, url: "embedded:s"}]
            tenants: [{id: a, shard: s, schema: a}]
            notify: {url: "https://hooks.example/fleet", events: [failed, quarantined]}
            """, file: "fleets/f/fleet.yaml", environment: [:])
        #expect(fleet.notify.map(\.url) == ["https://hooks.example/fleet"])
        #expect(fleet.notify.first?.events == [.failed, .quarantined])
    }

    @Test("mistakes are reported at their line and column, all of them")
    func mistakes() {
        do {
            _ = try Self.policy([
                "  url: ftp://nope",
                "  events: [halted, exploded]",
                "  format: xml",
                "  secret_env: \"1BAD\"",
                "  attempts: 0",
                "  colour: red",
            ])
            Issue.record("expected errors")
        } catch {
            let text = error.description
            #expect(text.contains("policies/p.yaml:4:8: error:") && text.contains("http:// or https://"), "\(text)")
            #expect(text.contains("policies/p.yaml:5:20: error:") && text.contains("'exploded'"), "\(text)")
            #expect(text.contains("policies/p.yaml:6:11: error:") && text.contains("'xml'"), "\(text)")
            #expect(text.contains("policies/p.yaml:7:15: error:") && text.contains("environment variable"), "\(text)")
            #expect(text.contains("policies/p.yaml:8:13: error:"), "\(text)")
            #expect(text.contains("policies/p.yaml:9:3: error:") && text.contains("unknown key 'colour'"), "\(text)")
        }
        do {
            _ = try Self.policy(["  - {events: [done]}"])
            Issue.record("expected an error for the missing url")
        } catch {
            #expect(error.description.contains("missing required key 'url'"), "\(error)")
        }
        do {
            _ = try Self.policy(["  {url: \"https://x.example\", events: []}"])
            Issue.record("expected an error for no events")
        } catch {
            #expect(error.description.contains("hears nothing"), "\(error)")
        }
    }
}
