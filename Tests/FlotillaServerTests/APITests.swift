import FlotillaEngine
import FlotillaPostgres
import FlotillaServer
import FlotillaTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The HTTP API against a real control store; every write is read back with psql.
struct APITests {
    @Test func emptyStore() async throws {
        try await withServer { client, _ in
            let health = try await client.get("/healthz")
            #expect(health.status == .ok)
            #expect(health.text.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")

            let response = try await client.get("/api/rollouts")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            let object = try response.object()
            #expect((object["rollouts"] as? [Any])?.isEmpty == true)
            #expect((object["halts"] as? [Any])?.isEmpty == true)

            let page = try await client.get("/")
            #expect(page.status == .ok)
            #expect(page.text.contains("no rollouts yet"))
            #expect(!page.text.contains("http-equiv=\"refresh\""))
        }
    }

    @Test func rolloutIsListedWithItsSteps() async throws {
        try await withServer { client, url in
            try insertRollout(url, id: "r-one")
            let list = try await client.get("/api/rollouts").object()
            let rollouts = try #require(list["rollouts"] as? [[String: Any]])
            #expect(rollouts.count == 1)
            #expect(rollouts.first?["id"] as? String == "r-one")
            #expect(rollouts.first?["current_phase"] as? String == "expand")

            let response = try await client.get("/api/rollouts/r-one")
            #expect(response.status == .ok)
            let document = try response.object()
            #expect((document["rollout"] as? [String: Any])?["state"] as? String == "running")
            #expect((document["steps"] as? [Any])?.count == 3)
            #expect((document["events"] as? [Any])?.count == 1)
            #expect(document["checks"] is [Any])

            let missing = try await client.get("/api/rollouts/nope")
            #expect(missing.status == .notFound)
            #expect(try missing.object()["error"] as? String == "no rollout nope")

            let metrics = try await client.get("/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.text.contains("flotilla_rollouts{state=\"running\"} 1.0\n"))
            #expect(metrics.text.contains("flotilla_rollouts{state=\"done\"} 0.0\n"))
            #expect(metrics.text.contains("flotilla_steps{rollout=\"r-one\",state=\"applied\"} 2.0\n"))
            #expect(metrics.text.contains("flotilla_steps{rollout=\"r-one\",state=\"pending\"} 1.0\n"))
            #expect(metrics.text.contains("flotilla_halts_active 0.0\n"))

            let page = try await client.get("/")
            #expect(page.text.contains("r-one"))
            #expect(page.text.contains("2/3"))
        }
    }

    @Test func haltNeedsTheTokenThenResumeLiftsIt() async throws {
        try await withServer { client, url in
            let body = #"{"fleet": "demo", "reason": "pager: error rate", "by": "oncall"}"#
            let anonymous = try await client.post("/api/halt", body)
            #expect(anonymous.status == .unauthorized)
            #expect(try anonymous.object()["error"] is String)
            let wrong = try await client.post("/api/halt", body, token: "not-the-token")
            #expect(wrong.status == .unauthorized)
            #expect(!wrong.text.contains(testToken))
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts") == "0")

            try insertRollout(url, id: "r-demo")
            let halted = try await client.post("/api/halt", body, token: testToken)
            #expect(halted.status == .ok, "\(halted.text)")
            #expect((try halted.object()["halt"] as? [String: Any])?["halted_by"] as? String == "oncall")
            #expect(
                try psql(url, "SELECT fleet || '|' || reason || '|' || halted_by || '|' || revert FROM flotilla.halts")
                    == "demo|pager: error rate|oncall|false")

            let metrics = try await client.get("/metrics")
            #expect(metrics.text.contains("flotilla_halts_active 1.0\n"))
            let list = try await client.get("/api/rollouts").object()
            #expect((list["halts"] as? [Any])?.count == 1)

            let resumed = try await client.post("/api/resume", #"{"fleet": "demo", "by": "oncall"}"#, token: testToken)
            #expect(resumed.status == .ok, "\(resumed.text)")
            #expect(try resumed.object()["lifted"] as? Int == 1)
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "0")
            #expect(try psql(url, "SELECT lifted_by FROM flotilla.halts") == "oncall")
            #expect(try await client.get("/metrics").text.contains("flotilla_halts_active 0.0\n"))
        }
    }

    @Test func haltOfAnUnknownFleetIsRefusedUnlessForced() async throws {
        try await withServer { client, url in
            try insertRollout(url, id: "r-a")
            _ = try psql(
                url,
                """
                INSERT INTO flotilla.rollouts (id, fleet, change, policy, state) VALUES ('r-b', 'billing', 'c', 'p', 'done');
                INSERT INTO flotilla.halts (fleet, reason, halted_by, lifted_at) VALUES ('old', 'x', 'y', now());
                """)
            let misspelt = try await client.post(
                "/api/halt", #"{"fleet": "dmeo", "reason": "pager"}"#, token: testToken)
            #expect(misspelt.status == .notFound, "\(misspelt.text)")
            let object = try misspelt.object()
            let error = try #require(object["error"] as? String)
            #expect(error.hasPrefix("unknown fleet 'dmeo'; known fleets: billing, demo, old"), "\(error)")
            #expect(object["known_fleets"] as? [String] == ["billing", "demo", "old"])
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts WHERE fleet = 'dmeo'") == "0")
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "0")

            let unforced = try await client.post(
                "/api/halt", #"{"fleet": "dmeo", "reason": "pager", "force": false}"#, token: testToken)
            #expect(unforced.status == .notFound, "\(unforced.text)")
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts WHERE fleet = 'dmeo'") == "0")

            let forced = try await client.post(
                "/api/halt", #"{"fleet": "fresh", "reason": "before the first rollout", "force": true}"#,
                token: testToken)
            #expect(forced.status == .ok, "\(forced.text)")
            #expect(
                try psql(
                    url,
                    "SELECT reason || '|' || halted_by FROM flotilla.halts WHERE fleet = 'fresh' AND lifted_at IS NULL")
                    == "before the first rollout|api")

            // Known: by a rollout, or by an earlier halt (even a lifted one, or a forced one).
            for fleet in ["billing", "old", "fresh"] {
                let known = try await client.post(
                    "/api/halt", #"{"fleet": "\#(fleet)", "reason": "again"}"#, token: testToken)
                #expect(known.status == .ok, "\(fleet): \(known.text)")
            }
            #expect(
                try psql(
                    url,
                    "SELECT string_agg(fleet, ',' ORDER BY fleet) FROM flotilla.halts WHERE lifted_at IS NULL AND reason = 'again'"
                ) == "billing,fresh,old")
        }
    }

    @Test func haltOfAFleetInAnEmptyStoreIsRefused() async throws {
        try await withServer { client, url in
            let response = try await client.post(
                "/api/halt", #"{"fleet": "demo", "reason": "pager"}"#, token: testToken)
            #expect(response.status == .notFound, "\(response.text)")
            let object = try response.object()
            #expect((object["error"] as? String)?.hasPrefix("unknown fleet 'demo'; known fleets: none") == true)
            #expect(object["known_fleets"] as? [String] == [])
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts") == "0")
        }
    }

    @Test func globalHaltWithRevert() async throws {
        try await withServer { client, url in
            let halted = try await client.post(
                "/api/halt", #"{"all": true, "reason": "freeze", "revert": true}"#, token: testToken)
            #expect(halted.status == .ok, "\(halted.text)")
            #expect(
                try psql(url, "SELECT coalesce(fleet, '*') || '|' || revert || '|' || halted_by FROM flotilla.halts")
                    == "*|true|api")
        }
    }

    @Test func badBodiesAreRejected() async throws {
        try await withServer { client, url in
            let cases: [(String, String, String)] = [
                ("/api/halt", "not json", "not valid JSON"),
                ("/api/halt", "", "must be a JSON object"),
                ("/api/halt", #"{"fleet": "demo"}"#, "reason"),
                ("/api/halt", #"{"fleet": "demo", "reason": "   "}"#, "reason"),
                ("/api/halt", #"{"reason": "why"}"#, "\"all\": true"),
                ("/api/halt", #"{"fleet": "demo", "all": true, "reason": "why"}"#, "\"all\": true"),
                ("/api/halt", #"{"fleet": 3, "reason": "why"}"#, "\"fleet\" must be a string"),
                ("/api/resume", #"{"all": "yes"}"#, "\"all\" must be true or false"),
                ("/api/resume", "[]", "bad request body"),
            ]
            for (uri, body, message) in cases {
                let response = try await client.post(uri, body, token: testToken)
                #expect(response.status == .badRequest, "\(uri) \(body): \(response.text)")
                let error = try response.object()["error"] as? String
                #expect(error?.contains(message) == true, "\(uri) \(body): \(response.text)")
            }
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts") == "0")
        }
    }

    @Test func approve() async throws {
        try await withServer { client, url in
            let unknown = try await client.post("/api/rollouts/nope/approve", "{}", token: testToken)
            #expect(unknown.status == .notFound)
            #expect(try unknown.object()["error"] as? String == "no rollout nope")
            let anonymous = try await client.post("/api/rollouts/nope/approve", "{}")
            #expect(anonymous.status == .unauthorized)

            try insertRollout(url, id: "r-gate", state: "awaiting-approval")
            let current = try await client.post("/api/rollouts/r-gate/approve", "", token: testToken)
            #expect(current.status == .ok, "\(current.text)")
            #expect(try current.object()["phase"] as? String == "expand")
            let named = try await client.post(
                "/api/rollouts/r-gate/approve", #"{"phase": "contract"}"#, token: testToken)
            #expect(named.status == .ok, "\(named.text)")
            #expect(
                try psql(url, "SELECT array_to_string(approved_phases, ',') FROM flotilla.rollouts")
                    == "expand,contract")
        }
    }

    @Test func withoutATokenOnlyReadsWork() async throws {
        try await withServer(token: nil) { client, url in
            let refused = try await client.post("/api/halt", #"{"all": true, "reason": "x"}"#, token: "anything")
            #expect(refused.status == .forbidden)
            #expect(try refused.object()["error"] as? String != nil)
            #expect(try psql(url, "SELECT count(*) FROM flotilla.halts") == "0")
            #expect(try await client.get("/api/rollouts").status == .ok)
        }
    }

    @Test func dashboardEscapesWhatItShows() async throws {
        try await withServer { client, url in
            let reason = "<script>alert('x')</script> & more"
            let json = String(decoding: try JSONEncoder().encode(["all": reason]), as: UTF8.self)
                .replacingOccurrences(of: #""all""#, with: #""all": true, "reason""#)
            let halted = try await client.post("/api/halt", json, token: testToken)
            #expect(halted.status == .ok, "\(halted.text)")
            try insertRollout(url, id: "r-<b>x</b>", state: "halted", reason: "<img src=x onerror=alert(1)>")

            let page = try await client.get("/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(!page.text.contains("<script>"))
            #expect(!page.text.contains("<img"))
            #expect(!page.text.contains("<b>x"))
            #expect(page.text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"))
            #expect(page.text.contains("r-&lt;b&gt;x&lt;/b&gt;"))
            #expect(page.text.contains("class=\"halt"))
        }
    }

    @Test func controlCharactersAreShownNotSent() async throws {
        try await withServer { client, url in
            let reason = "\u{1B}[2J\u{1B}[Hgone\u{9B}31m\tend\r\n"
            let json = String(decoding: try JSONEncoder().encode(["all": reason]), as: UTF8.self)
                .replacingOccurrences(of: #""all""#, with: #""all": true, "reason""#)
            let halted = try await client.post("/api/halt", json, token: testToken)
            #expect(halted.status == .ok, "\(halted.text)")
            // Stored as sent (trimmed), and the JSON answers give it back as it is.
            #expect(try psql(url, "SELECT reason = E'\\x1b[2J\\x1b[Hgone\\u009b31m\\tend' FROM flotilla.halts") == "t")
            let list = try await client.get("/api/rollouts").object()
            let halts = try #require(list["halts"] as? [[String: Any]])
            #expect(halts.first?["reason"] as? String == "\u{1B}[2J\u{1B}[Hgone\u{9B}31m\tend")

            let page = try await client.get("/")
            #expect(!page.text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{9B}" || $0 == "\t" })
            #expect(page.text.contains(#"\x1b[2J\x1b[Hgone\x9b31m\x09end"#), "\(page.text)")
        }
    }

    @Test func terminalSafeShowsEveryControlCharacter() {
        #expect(terminalSafe("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓")
        #expect(terminalSafe("\u{1B}[2J\u{1B}[Hgone") == #"\x1b[2J\x1b[Hgone"#)
        #expect(
            terminalSafe("a\tb\nc\r\nd\u{0}e\u{7F}f\u{85}g\u{9F}h\u{A0}")
                == #"a\x09b\x0ac\x0d\x0ad\x00e\x7ff\x85g\x9fh"# + "\u{A0}")
        let all = String(String.UnicodeScalarView((0...0x2FF).compactMap(Unicode.Scalar.init)))
        let safe = terminalSafe(all)
        #expect(!safe.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(safe.contains("~\\x7f\\x80"))
    }

    @Test func tokenComparison() {
        let token = try! #require(APIToken("  abc123\n"))
        #expect(token.matches(Array("abc123".utf8)))
        #expect(!token.matches(Array("abc124".utf8)))
        #expect(!token.matches(Array("abc12".utf8)))
        #expect(!token.matches(Array("abc1234".utf8)))
        #expect(!token.matches([UInt8]()))
        #expect(APIToken(" \n") == nil)
        #expect("\(token)" == "***")
    }
}
