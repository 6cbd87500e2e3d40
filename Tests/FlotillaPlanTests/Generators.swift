import FlotillaModel
import FlotillaPlan
import Foundation
import Testing

/// The package root (the folder holding Package.swift), found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    fatalError("no Package.swift above \(#filePath)")
}()

func exampleText(_ relativePath: String) throws -> String {
    try String(contentsOfFile: packageRoot + "/" + relativePath, encoding: .utf8)
}

/// Names (file names without .yaml) of the yaml files in a folder of the package, sorted.
func yamlNames(in folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: packageRoot + "/" + folder)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted().map { String($0.dropLast(5)) }
}

let demoChangeIDs = yamlNames(in: "fleets/demo/changes")
let policyNames = yamlNames(in: "policies")

/// SplitMix64, written out here so that the tests never depend on unseeded randomness or on the planner's own generator.
struct Random {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

enum LabelMix: String, Sendable, CaseIterable {
    /// No labels at all.
    case none
    /// Every tenant has a tier: ~2% internal, ~8% pilot, the rest free or paid.
    case tiers
    /// Tiers and a region (eu, us, ap).
    case tiersAndRegions
    /// Most tenants unlabelled; a few have `canary: "yes"`, some a tier.
    case sparse
}

/// The shape of a generated fleet. The same shape always gives the same fleet.
struct FleetShape: Sendable, CustomTestStringConvertible {
    var tenants: Int
    var shards: Int
    var mix: LabelMix
    var seed: UInt64

    var testDescription: String { "\(tenants) tenants, \(shards) shards, \(mix.rawValue), seed \(seed)" }
}

/// Shard names are deliberately not in alphabetical order, so "the fleet's shard order" is observable.
func shardName(_ index: Int, of count: Int) -> String { "s\(count - index)-\(index % 2 == 0 ? "x" : "a")" }

func generateFleet(_ shape: FleetShape) -> Fleet {
    var random = Random(seed: shape.seed)
    let file = "gen/fleets/f/fleet.yaml"
    let shards = (0..<shape.shards).map { index in
        Shard(
            name: shardName(index, of: shape.shards), url: "embedded:s\(index)",
            maxParallel: random.chance(50) ? 1 + random.below(8) : nil,
            location: Location(file: file, line: 3 + index, column: 5))
    }
    var tenants: [Tenant] = []
    for index in 0..<shape.tenants {
        var labels: [String: String] = [:]
        let roll = random.below(100)
        let tier = roll < 2 ? "internal" : roll < 10 ? "pilot" : roll < 70 ? "free" : "paid"
        switch shape.mix {
        case .none: break
        case .tiers: labels["tier"] = tier
        case .tiersAndRegions:
            labels["tier"] = tier
            labels["region"] = random.pick(["eu", "us", "ap"])
        case .sparse:
            if random.chance(3) { labels["canary"] = "yes" }
            if random.chance(30) { labels["tier"] = tier }
        }
        let id = "t\(index)"
        tenants.append(
            Tenant(
                id: id, shard: shards[random.below(shards.count)].name, placement: .schema("tenant_\(id)"),
                labels: labels, location: Location(file: file, line: 100 + index, column: 5)))
    }
    return Fleet(name: "f", shards: shards, tenants: tenants, file: file)
}

/// FlotillaModel.SourceLocation (Testing has its own SourceLocation).
typealias Location = FlotillaModel.SourceLocation

let policyFile = "gen/policies/p.yaml"

func waveLocation(_ index: Int) -> Location { Location(file: policyFile, line: 3 + index, column: 5) }

/// A random policy for a fleet: 0–4 waves of random kinds, then (when `remaining`) a last `remaining: true` wave.
func generatePolicy(for fleet: Fleet, random: inout Random, seed: UInt64?, remaining: Bool = true) -> Policy {
    let tiers = ["internal", "pilot", "free", "paid", "nonexistent"]
    var waves: [Wave] = []
    let count = random.below(5)
    for index in 0..<count {
        var selector = Selector()
        switch random.below(8) {
        case 0: selector.labels = ["tier": random.pick(tiers)]
        case 1: selector.labels = ["tier": random.pick(tiers), "region": random.pick(["eu", "us", "ap"])]
        case 2: selector.percent = Double(1 + random.below(100))
        case 3: selector.count = 1 + random.below(fleet.tenants.count + 5)
        case 4:
            let shards = fleet.shards.filter { _ in random.chance(40) }.map(\.name)
            selector.shards = shards.isEmpty ? [fleet.shards[0].name] : shards
        case 5:
            selector.tenants = (0..<(1 + random.below(5))).map { _ in
                fleet.tenants[random.below(fleet.tenants.count)].id
            }
        case 6:
            selector.labels = ["tier": random.pick(tiers)]
            selector.percent = Double(1 + random.below(30))
        default:
            selector.shards = [random.pick(fleet.shards).name]
            selector.count = 1 + random.below(10)
        }
        waves.append(
            Wave(
                name: "w\(index)", select: selector, by: random.chance(30) ? .shard : nil,
                bake: .milliseconds(Int64(random.below(5000))), location: waveLocation(index)))
    }
    if remaining {
        waves.append(
            Wave(
                name: "rest", select: Selector(remaining: true), by: random.chance(50) ? .shard : nil,
                bake: .seconds(1),
                location: waveLocation(count)))
    }
    return Policy(
        name: "p", waves: waves, seed: seed, file: policyFile, location: Location(file: policyFile, line: 1, column: 1))
}

/// A change with one reversible phase, for RolloutPlan.make.
let simpleChange = Change(
    id: "0001_x",
    phases: [
        Phase(
            name: "expand", up: SQLText("SELECT 1"), down: SQLText("SELECT 2"),
            location: Location(file: "c.yaml", line: 3, column: 5))
    ],
    file: "c.yaml")
