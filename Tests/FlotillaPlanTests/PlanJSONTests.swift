import FlotillaModel
import Foundation
import Testing

@testable import FlotillaPlan

/// `plan --format json` is written without `JSONEncoder` for speed; it must stay the same bytes `JSONEncoder` writes.
@Suite("Plan JSON is JSONEncoder's, byte for byte")
struct PlanJSONTests {
    static func foundation(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("every example change with every example policy on the demo fleet")
    func examples() throws {
        let fleet = try Fleet.parse(
            exampleText("fleets/demo/fleet.yaml"), file: "fleets/demo/fleet.yaml", environment: [:])
        var compared = 0
        for change in yamlNames(in: "fleets/demo/changes") {
            let path = "fleets/demo/changes/\(change).yaml"
            let parsed = try Change.parse(exampleText(path), file: path)
            for policy in yamlNames(in: "policies") {
                let path = "policies/\(policy).yaml"
                guard
                    let plan = try? RolloutPlan.make(
                        fleet: fleet, change: parsed, policy: Policy.parse(exampleText(path), file: path))
                else { continue }
                #expect(PrettyJSON.encode(plan) == (try Self.foundation(plan)), "\(change) with \(policy)")
                #expect(PlanRenderer.json(plan) == (try Self.foundation(plan)))
                compared += 1
            }
        }
        #expect(compared > 10)
    }

    @Test("generated fleets, with escapes, empty lists and every kind of text")
    func generated() throws {
        for shape in [
            FleetShape(tenants: 1, shards: 1, mix: .none, seed: 1),
            FleetShape(tenants: 700, shards: 5, mix: .tiersAndRegions, seed: 7),
            FleetShape(tenants: 300, shards: 3, mix: .sparse, seed: 3),
        ] {
            let fleet = generateFleet(shape)
            var random = Random(seed: shape.seed)
            // The first random policy that plans (some select nobody from a small fleet).
            var planned: RolloutPlan?
            for seed in UInt64(0)..<50 where planned == nil {
                let policy = generatePolicy(for: fleet, random: &random, seed: seed)
                planned = try? RolloutPlan.make(fleet: fleet, change: simpleChange, policy: policy)
            }
            var plan = try #require(planned, "\(shape.testDescription)")
            #expect(PrettyJSON.encode(plan) == (try Self.foundation(plan)), "\(shape.testDescription)")
            plan.warnings = [
                "quote \" backslash \\ slash / controls \u{0}\u{1}\u{7}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1B}\u{1F} del \u{7F}",
                "é ü 漢字 🚢 \u{2028}", "",
            ]
            plan.checks = []
            plan.caps.perShard = [:]
            plan.phases[0].down = nil
            #expect(PrettyJSON.encode(plan) == (try Self.foundation(plan)), "\(shape.testDescription)")
        }
    }

    struct Odd: Encodable {
        var ratio = 0.5
    }

    @Test("what it does not write is left to JSONEncoder")
    func unsupported() {
        #expect(PrettyJSON.encode(Odd()) == nil)
        #expect(PrettyJSON.encode(["when": Date(timeIntervalSince1970: 0)]) == nil)
        #expect(PrettyJSON.encode([1, 2]) == (try? Self.foundation([1, 2])))
        #expect(
            PrettyJSON.encode(["b": [String: Int](), "a": ["x": 1]])
                == (try? Self.foundation(["b": [String: Int](), "a": ["x": 1]])))
    }
}
