import FlotillaModel
import Foundation
import Testing

@testable import FlotillaEngine

/// The pure parts of health checks: what one measurement says, when a check fails, targets and templates.
struct CheckVerdictTests {
    static let here = SourceLocation(file: "check-tests", line: 1, column: 1)

    static func check(failureLimit: Int = 0, errorLimit: Int = 2, scope: Check.Scope = .tenant, kind: Check.Kind? = nil)
        -> Check
    {
        Check(
            name: "c", kind: kind ?? .sql("SELECT true", min: nil, max: nil), scope: scope, failureLimit: failureLimit,
            consecutiveErrorLimit: errorLimit, location: here)
    }

    static func measurement(_ target: String, _ verdict: CheckMeasurement.Verdict) -> CheckMeasurement {
        CheckMeasurement(
            check: "c", kind: "sql", scope: "tenant", target: target, verdict: verdict, detail: verdict.rawValue,
            milliseconds: 1, at: Date())
    }

    @Test(
        arguments: [
            (SQLCheck.Returned.value("true"), nil, nil, CheckMeasurement.Verdict.pass),
            (.value("false"), nil, nil, .fail),
            (.null, nil, nil, .inconclusive),
            (.noRow, nil, nil, .inconclusive),
            (.value("yes"), nil, nil, .error),
            (.value("3"), nil, 5.0, .pass),
            (.value("5"), nil, 5.0, .pass),
            (.value("5.5"), nil, 5.0, .fail),
            (.value("-1"), 0.0, nil, .fail),
            (.value("0.25"), 0.0, 1.0, .pass),
            (.value("abc"), 0.0, 1.0, .error),
            (.null, 0.0, 1.0, .inconclusive),
        ] as [(SQLCheck.Returned, Double?, Double?, CheckMeasurement.Verdict)])
    func sqlValues(_ returned: SQLCheck.Returned, _ min: Double?, _ max: Double?, _ expected: CheckMeasurement.Verdict)
    {
        #expect(SQLCheck.verdict(returned, min: min, max: max).0 == expected)
    }

    @Test func sqlErrorsThatMeanTheCheckBrokeAreErrors() {
        #expect(SQLCheck.isCheckError(sqlState: nil))  // no server answer: refused, reset
        #expect(SQLCheck.isCheckError(sqlState: "57014"))  // statement timeout
        #expect(SQLCheck.isCheckError(sqlState: "08006"))  // connection failure
        #expect(SQLCheck.isCheckError(sqlState: "53300"))  // too many connections
        #expect(SQLCheck.isCheckError(sqlState: "42601"))  // the check's own syntax error
        #expect(!SQLCheck.isCheckError(sqlState: "42P01"))  // the tenant lost a table: that is a failure
        #expect(!SQLCheck.isCheckError(sqlState: "22012"))  // division by zero in the tenant's data
    }

    @Test func sqlQueryIsWrappedToTakeTheFirstColumnOfTheFirstRow() {
        #expect(
            SQLCheck.wrapped("SELECT ok, 2 FROM health;\n")
                == "SELECT (flotilla_check.v)::text FROM (SELECT ok, 2 FROM health\n) AS flotilla_check(v) LIMIT 1")
    }

    @Test func failuresBeyondTheLimitFailTheCheck() {
        var tally = CheckTally(Self.check(failureLimit: 2))
        for target in ["a", "b"] { tally.add(Self.measurement(target, .fail)) }
        #expect(tally.failure == nil)
        tally.add(Self.measurement("a", .pass))
        #expect(tally.failure == nil)
        tally.add(Self.measurement("c", .fail))
        #expect(tally.failure == "3 failed measurements, more than failure_limit 2")
        #expect(
            tally.verdict.journalWord == "failed"
                && tally.verdict.reason == "3 failed measurements, more than failure_limit 2")
        #expect(tally.failing.map(\.target) == ["b", "c"])
    }

    @Test func consecutiveErrorsOnOneTargetFailTheCheckAndAnythingElseResetsThem() {
        var tally = CheckTally(Self.check(errorLimit: 1))
        tally.add(Self.measurement("a", .error))
        tally.add(Self.measurement("b", .error))
        tally.add(Self.measurement("a", .pass))
        tally.add(Self.measurement("a", .error))
        #expect(tally.failure == nil)
        if case .inconclusive = tally.verdict {
        } else {
            Issue.record("latest errors make it inconclusive: \(tally.verdict)")
        }
        tally.add(Self.measurement("b", .error))
        #expect(tally.failure == "2 consecutive errors on b, more than consecutive_error_limit 1")
        #expect(tally.errors == 4 && tally.failures == 0)
    }

    @Test func errorsAloneNeverCountAsFailuresNorAsPasses() {
        var tally = CheckTally(Self.check(failureLimit: 0, errorLimit: 5))
        for _ in 0..<5 { tally.add(Self.measurement("wave", .error)) }
        #expect(tally.failure == nil)
        #expect(tally.passes == 0)
        #expect(tally.verdict != .healthy)
        tally.add(Self.measurement("wave", .error))
        #expect(tally.failure != nil)
    }

    @Test func latestInconclusiveMakesTheCheckInconclusiveUntilItPassesAgain() {
        var tally = CheckTally(Self.check())
        tally.add(Self.measurement("a", .pass))
        tally.add(Self.measurement("b", .inconclusive))
        if case .inconclusive(let why) = tally.verdict {
            #expect(why.contains("b (inconclusive"))
        } else {
            Issue.record("expected inconclusive, got \(tally.verdict)")
        }
        tally.add(Self.measurement("b", .pass))
        #expect(tally.verdict == .healthy)
        #expect(tally.counts == "2 pass, 0 fail, 0 error, 1 inconclusive")
        #expect(tally.last(2).map(\.target) == ["b", "b"])
    }

    @Test func targetsFollowTheKindTheScopeAndThePlaceholders() {
        let tenants = [("t1", "a"), ("t2", "b"), ("t3", "a")].map { id, shard in
            Tenant(id: id, shard: shard, placement: .schema("tenant_\(id)"), location: Self.here)
        }
        func keys(_ kind: Check.Kind, _ scope: Check.Scope) -> [String] {
            CheckTarget.targets(of: Self.check(scope: scope, kind: kind), tenants: tenants).map(\.key)
        }
        #expect(keys(.sql("SELECT true", min: nil, max: nil), .wave) == ["t1", "t2", "t3"])
        #expect(keys(.http(HTTPProbe(url: "http://x/{tenant}")), .wave) == ["t1", "t2", "t3"])
        #expect(keys(.http(HTTPProbe(url: "http://x/{shard}")), .wave) == ["a", "b"])
        #expect(keys(.http(HTTPProbe(url: "http://x/health")), .wave) == ["wave"])
        #expect(keys(.command(["lag", "{shard}"]), .preflight) == ["a", "b"])
        #expect(keys(.command(["ok"]), .tenant) == ["t1", "t2", "t3"])
        let perShard = CheckTarget.targets(
            of: Self.check(scope: .wave, kind: .command(["x", "{shard}"])), tenants: tenants)
        #expect(perShard[0].members.map(\.id) == ["t1", "t3"])
    }

    @Test func templatesFillEveryPlaceholderAndURLValuesAreEncoded() {
        let template = CheckTemplate(
            tenant: "a&b", shard: "pg-a", wave: "w 1", phase: "expand", rollout: "r1", tenants: ["x", "y"])
        #expect(template.fill("{tenant}|{shard}|{wave}|{phase}|{rollout}|{other}") == "a&b|pg-a|w 1|expand|r1|{other}")
        #expect(template.fillURL("http://h/{tenant}?w={wave}") == "http://h/a%26b?w=w%201")
        #expect(template.environment["FLOTILLA_TENANT"] == "a&b")
        #expect(template.environment["FLOTILLA_WAVE"] == "w 1")
        #expect(template.environment["FLOTILLA_ROLLOUT"] == "r1")
        #expect(template.environment["FLOTILLA_TENANTS"] == "x,y")
    }

    @Test func httpResponsesAreJudgedByStatusLatencyBodyAndJSON() {
        let ok = Data(#"{"status": "ok", "db": {"lag": 3, "up": true}, "nodes": [{"ok": false}]}"#.utf8)
        func verdict(_ probe: HTTPProbe, status: Int = 200, latency: Duration = .milliseconds(5), body: Data = ok)
            -> CheckMeasurement.Verdict
        {
            HTTPCheck.verdict(probe, status: status, latency: latency, body: body).0
        }
        let url = "http://x"
        #expect(verdict(HTTPProbe(url: url)) == .pass)
        #expect(verdict(HTTPProbe(url: url), status: 503) == .fail)
        #expect(verdict(HTTPProbe(url: url, status: 204), status: 204) == .pass)
        #expect(verdict(HTTPProbe(url: url, maxLatency: .milliseconds(100)), latency: .milliseconds(250)) == .fail)
        #expect(verdict(HTTPProbe(url: url, bodyContains: "\"ok\"")) == .pass)
        #expect(verdict(HTTPProbe(url: url, bodyContains: "healthy")) == .fail)
        #expect(verdict(HTTPProbe(url: url, jsonField: "status", jsonEquals: "ok")) == .pass)
        #expect(verdict(HTTPProbe(url: url, jsonField: "status", jsonEquals: "degraded")) == .fail)
        #expect(verdict(HTTPProbe(url: url, jsonField: "db.lag", jsonEquals: "3")) == .pass)
        #expect(verdict(HTTPProbe(url: url, jsonField: "db.lag", jsonEquals: "3.0")) == .pass)
        #expect(verdict(HTTPProbe(url: url, jsonField: "db.up")) == .pass)
        #expect(verdict(HTTPProbe(url: url, jsonField: "nodes.0.ok")) == .fail)
        #expect(verdict(HTTPProbe(url: url, jsonField: "db.missing", jsonEquals: "1")) == .inconclusive)
        #expect(verdict(HTTPProbe(url: url, jsonField: "status"), body: Data("<html>".utf8)) == .fail)
        let (_, detail) = HTTPCheck.verdict(HTTPProbe(url: url), status: 500, latency: .zero, body: Data("boom".utf8))
        #expect(detail == "HTTP 500, expected 200: boom")
    }

    @Test func commandEndingsAreJudged() {
        #expect(CommandCheck.verdict(.exited(0), timeout: .seconds(1), output: "").0 == .pass)
        #expect(CommandCheck.verdict(.exited(2), timeout: .seconds(1), output: "lag 30s").0 == .fail)
        #expect(CommandCheck.verdict(.exited(2), timeout: .seconds(1), output: "lag 30s").2 == "exit 2: lag 30s")
        #expect(CommandCheck.verdict(.signalled(11), timeout: .seconds(1), output: "").0 == .error)
        #expect(CommandCheck.verdict(.timedOut, timeout: .seconds(1), output: "").0 == .error)
        #expect(CommandCheck.verdict(.timedOut, timeout: .seconds(1), output: "").2.contains("killed"))
    }
}
