import FlotillaModel
import FlotillaPlan
import Foundation
import Testing

/// Fleet shapes from 1 to 2,000 tenants, 1 to 50 shards, every label mix, several seeds.
let fleetShapes: [FleetShape] = {
    let sizes = [1, 2, 3, 5, 10, 17, 60, 100, 250, 999, 1000, 2000]
    let shardCounts = [1, 2, 3, 5, 16, 50]
    var shapes: [FleetShape] = []
    var index = 0
    for size in sizes {
        for variant in 0..<3 {
            let shards = shardCounts[index % shardCounts.count]
            let mix = LabelMix.allCases[(index + index / 6 + variant) % LabelMix.allCases.count]
            shapes.append(FleetShape(tenants: size, shards: shards, mix: mix, seed: UInt64(1000 + index)))
            index += 1
        }
    }
    return shapes
}()

/// Checks a wave plan against the definition of each selector, wave by wave. Returns nothing; records issues.
func checkPlan(fleet: Fleet, policy: Policy, plan: WavePlan, diagnostics: [Diagnostic], context: String) {
    let indexOf = Dictionary(uniqueKeysWithValues: fleet.tenants.enumerated().map { ($1.id, $0) })
    let shardOrder = Dictionary(uniqueKeysWithValues: fleet.shards.enumerated().map { ($1.name, $0) })
    #expect(plan.waves.count == policy.waves.count, "\(context)")
    guard plan.waves.count == policy.waves.count else { return }
    var taken = Set<Int>()
    var expectedErrors: [Int] = []
    var expectedWarnings: [Int] = []

    for (number, (wave, planned)) in zip(policy.waves, plan.waves).enumerated() {
        let place = "\(context), wave \(wave.name) (\(wave.select))"
        #expect(planned.name == wave.name && planned.number == number + 1, "\(place)")
        #expect(planned.bakeMilliseconds == wave.bake.milliseconds && planned.by == wave.by?.rawValue, "\(place)")
        let selector = wave.select
        let candidates = fleet.tenants.indices.filter { index in
            let tenant = fleet.tenants[index]
            if taken.contains(index) { return false }
            if let ids = selector.tenants, !ids.contains(tenant.id) { return false }
            if let shards = selector.shards, !shards.contains(tenant.shard) { return false }
            if let labels = selector.labels, !labels.allSatisfy({ tenant.labels[$0.key] == $0.value }) { return false }
            return true
        }
        let chosen = planned.tenants.compactMap { indexOf[$0] }
        #expect(chosen.count == planned.tenants.count, "\(place): unknown ids in the plan")
        #expect(chosen == chosen.sorted(), "\(place): tenants in fleet order")
        #expect(Set(chosen).count == chosen.count, "\(place): a tenant twice in a wave")
        #expect(Set(chosen).isSubset(of: candidates), "\(place): took a tenant outside its selector or already taken")

        let expectedSize: Int
        if let percent = selector.percent {
            // Integer percents only here: ceil(N × p / 100) in integers.
            let p = Int(percent)
            expectedSize = min(max(1, (fleet.tenants.count * p + 99) / 100), candidates.count)
        } else if let count = selector.count {
            expectedSize = min(count, candidates.count)
        } else {
            expectedSize = candidates.count
        }
        #expect(chosen.count == expectedSize, "\(place): \(chosen.count) tenants, expected \(expectedSize)")
        if selector.percent == nil && selector.count == nil {
            #expect(chosen == candidates, "\(place): filters take exactly the matching untaken tenants")
        } else if policy.seed == nil {
            #expect(
                chosen == Array(candidates.prefix(expectedSize)), "\(place): without a seed, the first in fleet order")
        }

        // Slices.
        if wave.by == .shard {
            let shards = planned.slices.map { $0.shard ?? "<nil>" }
            let positions = shards.compactMap { shardOrder[$0] }
            #expect(positions.count == shards.count, "\(place): slices name fleet shards")
            #expect(
                positions == positions.sorted() && Set(positions).count == positions.count,
                "\(place): fleet shard order")
            for slice in planned.slices {
                #expect(!slice.tenants.isEmpty, "\(place): no empty slice")
                #expect(slice.tenants.allSatisfy { fleet.tenants[indexOf[$0]!].shard == slice.shard }, "\(place)")
                let indices = slice.tenants.compactMap { indexOf[$0] }
                #expect(indices == indices.sorted(), "\(place): slice in fleet order")
            }
            #expect(
                planned.slices.flatMap(\.tenants).sorted() == planned.tenants.sorted(),
                "\(place): slices partition the wave")
            let shardsOfWave = Set(planned.tenants.map { fleet.tenants[indexOf[$0]!].shard })
            #expect(Set(shards) == shardsOfWave, "\(place): one slice per shard of the wave")
        } else {
            #expect(planned.slices.count == 1, "\(place)")
            #expect(planned.slices.first?.shard == nil && planned.slices.first?.tenants == planned.tenants, "\(place)")
        }

        if chosen.isEmpty {
            let bareRemaining =
                selector.remaining && selector.tenants == nil && selector.labels == nil && selector.shards == nil
            if bareRemaining {
                expectedWarnings.append(wave.location.line)
            } else {
                expectedErrors.append(wave.location.line)
            }
        }
        taken.formUnion(chosen)
    }

    let errors = diagnostics.filter { $0.severity == .error }
    let waveErrors = errors.filter { $0.location.file == policyFile && $0.location.line != policy.location.line }
    #expect(waveErrors.map(\.location.line) == expectedErrors, "\(context): \(errors.map(\.description))")
    #expect(waveErrors.allSatisfy { $0.message.contains("selects no tenant") }, "\(context)")
    let warnings = diagnostics.filter { $0.severity == .warning }
    #expect(warnings.map(\.location.line) == expectedWarnings, "\(context): \(warnings.map(\.description))")

    // Every tenant in exactly one wave when the last wave takes the rest; otherwise the leftovers are an error.
    let all = plan.tenantIDs
    #expect(Set(all).count == all.count, "\(context): a tenant in two waves")
    if policy.waves.last?.select.remaining == true && policy.waves.last?.select.tenants == nil
        && policy.waves.last?.select.labels == nil && policy.waves.last?.select.shards == nil
    {
        #expect(Set(all) == Set(fleet.tenants.map(\.id)), "\(context): every tenant in exactly one wave")
        #expect(!errors.contains { $0.message.contains("fall in no wave") }, "\(context)")
    } else {
        let left = fleet.tenants.count - all.count
        #expect(errors.contains { $0.message.contains("fall in no wave") } == (left > 0), "\(context)")
    }
}

@Suite("WavePlanner properties over generated fleets")
struct PlannerPropertyTests {
    @Test("shapes cover 1…2000 tenants, 1…50 shards, every label mix")
    func coverage() {
        #expect(fleetShapes.map(\.tenants).min() == 1 && fleetShapes.map(\.tenants).max() == 2000)
        #expect(Set(fleetShapes.map(\.shards)).count == 6)
        #expect(Set(fleetShapes.map(\.mix)).count == LabelMix.allCases.count)
    }

    @Test("random policies ending in remaining: every selector's definition holds", arguments: fleetShapes)
    func randomPolicies(_ shape: FleetShape) {
        let fleet = generateFleet(shape)
        #expect(fleet.tenants.count == shape.tenants && fleet.shards.count == shape.shards)
        var random = Random(seed: shape.seed &* 31)
        for round in 0..<12 {
            let seed: UInt64? = round % 2 == 0 ? nil : random.next()
            let policy = generatePolicy(for: fleet, random: &random, seed: seed)
            let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
            checkPlan(
                fleet: fleet, policy: policy, plan: plan, diagnostics: diagnostics,
                context: "\(shape.testDescription), round \(round)")
        }
    }

    @Test(
        "random policies without a remaining wave: leftovers are an error at the policy",
        arguments: fleetShapes.prefix(18))
    func withoutRemaining(_ shape: FleetShape) {
        let fleet = generateFleet(shape)
        var random = Random(seed: shape.seed &* 17)
        for round in 0..<6 {
            let policy = generatePolicy(
                for: fleet, random: &random, seed: round % 2 == 0 ? nil : UInt64(round), remaining: false)
            guard !policy.waves.isEmpty else { continue }
            let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
            checkPlan(
                fleet: fleet, policy: policy, plan: plan, diagnostics: diagnostics,
                context: "\(shape.testDescription), round \(round)")
            if plan.tenantIDs.count < fleet.tenants.count {
                let leftover = diagnostics.first { $0.message.contains("fall in no wave") }
                #expect(leftover?.location == policy.location)
                #expect(leftover?.message.hasPrefix("\(fleet.tenants.count - plan.tenantIDs.count) tenant(s)") == true)
            }
        }
    }

    @Test(
        "percent = ceil(p% of the whole fleet), at least 1",
        arguments: [1, 2, 3, 7, 10, 19, 20, 60, 99, 100, 101, 333, 1000, 1999],
        [1, 5, 10, 33, 50, 67, 99, 100])
    func percentOfFleet(_ size: Int, _ percent: Int) throws {
        let fleet = generateFleet(FleetShape(tenants: size, shards: 3, mix: .tiers, seed: UInt64(size)))
        let policy = Policy(
            name: "p",
            waves: [
                Wave(name: "pilot", select: Selector(percent: Double(percent)), location: waveLocation(0)),
                Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(1)),
            ])
        let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
        let expected = max(1, (size * percent + 99) / 100)
        #expect(plan.waves[0].tenants == fleet.tenants.prefix(expected).map(\.id))
        #expect(plan.waves[1].tenants.count == size - expected)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
    }

    @Test("percent counts the whole fleet, and is capped by what its filters leave")
    func percentCapped() throws {
        // 100 tenants, t3, t13 … t93 are pilot-tier.
        var tenants: [Tenant] = []
        for index in 0..<100 {
            tenants.append(
                Tenant(
                    id: "t\(index)", shard: "s", placement: .schema("s\(index)"),
                    labels: ["tier": index % 10 == 3 ? "pilot" : "free"],
                    location: Location(file: "f", line: index + 1, column: 1)))
        }
        let fleet = Fleet(
            name: "f", shards: [Shard(name: "s", url: "embedded:s", location: Location(file: "f", line: 1, column: 1))],
            tenants: tenants)
        let policy = Policy(
            name: "p",
            waves: [
                Wave(name: "canary", select: Selector(count: 93), location: waveLocation(0)),
                Wave(name: "pilot", select: Selector(labels: ["tier": "pilot"], percent: 4), location: waveLocation(1)),
                Wave(name: "five", select: Selector(percent: 5), location: waveLocation(2)),
                Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(3)),
            ])
        let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
        #expect(plan.waves[0].tenants.count == 93)
        // Pilot tenants left after the first 93: t93 only. 4% of 100 = 4 wanted; capped at the 1 left.
        #expect(plan.waves[1].tenants == ["t93"])
        // 5% of the whole fleet (100) = 5, not 5% of the 6 left.
        #expect(plan.waves[2].tenants == ["t94", "t95", "t96", "t97", "t98"])
        #expect(plan.waves[3].tenants == ["t99"])
        #expect(diagnostics.isEmpty)
    }

    @Test(
        "fractional percents are exact: ceil(N × p / 100) in decimal, not in binary floating point",
        arguments: [
            (1500, 2.2, 33), (750, 4.4, 33), (375, 8.8, 33), (1000, 16.1, 161), (1500, 16.6, 249), (750, 10.8, 81),
            (2000, 0.5, 10), (10, 2.5, 1),
        ]
            as [(Int, Double, Int)])
    func fractionalPercent(_ size: Int, _ percent: Double, _ expected: Int) {
        let fleet = generateFleet(FleetShape(tenants: size, shards: 2, mix: .none, seed: 5))
        let policy = Policy(
            name: "p",
            waves: [
                Wave(name: "pilot", select: Selector(percent: percent), location: waveLocation(0)),
                Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(1)),
            ])
        let (plan, _) = WavePlanner.plan(fleet: fleet, policy: policy)
        #expect(plan.waves[0].tenants.count == expected, "\(percent)% of \(size)")
    }

    @Test("labels select exactly the labelled, not-yet-taken tenants, whatever the seed")
    func labelsAndSeeds() {
        let fleet = generateFleet(FleetShape(tenants: 1000, shards: 5, mix: .tiersAndRegions, seed: 77))
        let internals = fleet.tenants.filter { $0.labels["tier"] == "internal" }.map(\.id)
        let euPilot = fleet.tenants.filter { $0.labels["tier"] == "pilot" && $0.labels["region"] == "eu" }.map(\.id)
        #expect(!internals.isEmpty && !euPilot.isEmpty)
        for seed in [nil, 1, 2, 99] as [UInt64?] {
            let policy = Policy(
                name: "p",
                waves: [
                    Wave(name: "canary", select: Selector(labels: ["tier": "internal"]), location: waveLocation(0)),
                    Wave(
                        name: "eu-pilot", select: Selector(labels: ["tier": "pilot", "region": "eu"]),
                        location: waveLocation(1)),
                    Wave(
                        name: "internal-again", select: Selector(labels: ["tier": "internal"]),
                        location: waveLocation(2)),
                    Wave(name: "rest", select: Selector(remaining: true), by: .shard, location: waveLocation(3)),
                ], seed: seed)
            let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
            #expect(plan.waves[0].tenants == internals)
            #expect(plan.waves[1].tenants == euPilot)
            #expect(plan.waves[2].tenants.isEmpty)
            #expect(plan.waves[3].tenants.count == 1000 - internals.count - euPilot.count)
            let errors = diagnostics.filter { $0.severity == .error }
            #expect(errors.count == 1 && errors.first?.location.line == waveLocation(2).line)
            #expect(errors.first?.message.contains("earlier waves may have taken them all") == true)
        }
    }

    @Test("by: shard slices follow the fleet's shard order, not the names' order")
    func shardOrder() {
        let shards = ["zeta", "alpha", "mid"].enumerated().map {
            Shard(name: $1, url: "embedded:\($1)", location: Location(file: "f", line: $0 + 1, column: 1))
        }
        let tenants = (0..<9).map {
            Tenant(
                id: "t\($0)", shard: ["mid", "alpha", "zeta"][$0 % 3], placement: .schema("s\($0)"),
                location: Location(file: "f", line: 10 + $0, column: 1))
        }
        let fleet = Fleet(name: "f", shards: shards, tenants: tenants)
        let policy = Policy(
            name: "p",
            waves: [Wave(name: "all", select: Selector(remaining: true), by: .shard, location: waveLocation(0))])
        let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
        #expect(diagnostics.isEmpty)
        #expect(plan.waves[0].slices.map { $0.shard } == ["zeta", "alpha", "mid"])
        #expect(
            plan.waves[0].slices.map { $0.tenants } == [["t2", "t5", "t8"], ["t1", "t4", "t7"], ["t0", "t3", "t6"]])
        #expect(plan.waves[0].tenants == tenants.map(\.id))
    }
}

@Suite("WavePlanner: determinism and seeds")
struct DeterminismTests {
    static let fleet = generateFleet(FleetShape(tenants: 1000, shards: 7, mix: .tiersAndRegions, seed: 4242))

    static func policy(seed: UInt64?) -> Policy {
        Policy(
            name: "p",
            waves: [
                Wave(
                    name: "canary", select: Selector(labels: ["tier": "internal"]), bake: .seconds(30),
                    location: waveLocation(0)),
                Wave(name: "pilot", select: Selector(percent: 10), bake: .seconds(60), location: waveLocation(1)),
                Wave(name: "some", select: Selector(count: 50), location: waveLocation(2)),
                Wave(
                    name: "rest", select: Selector(remaining: true), by: .shard, bake: .seconds(60),
                    location: waveLocation(3)),
            ], seed: seed, file: policyFile)
    }

    @Test("the same input renders to the same JSON and text bytes", arguments: [nil, 0, 1, 12345] as [UInt64?])
    func sameBytes(_ seed: UInt64?) throws {
        let first = try RolloutPlan.make(fleet: Self.fleet, change: simpleChange, policy: Self.policy(seed: seed))
        let json = PlanRenderer.json(first)
        let text = PlanRenderer.text(first)
        for _ in 0..<3 {
            let again = try RolloutPlan.make(fleet: Self.fleet, change: simpleChange, policy: Self.policy(seed: seed))
            #expect(PlanRenderer.json(again) == json)
            #expect(PlanRenderer.text(again) == text)
            #expect(again == first)
        }
        // A fleet built again from the same shape plans the same.
        let rebuilt = generateFleet(FleetShape(tenants: 1000, shards: 7, mix: .tiersAndRegions, seed: 4242))
        #expect(
            PlanRenderer.json(
                try RolloutPlan.make(fleet: rebuilt, change: simpleChange, policy: Self.policy(seed: seed))) == json)
        #expect(!json.isEmpty)
    }

    @Test("different seeds give different pilot waves; no seed takes the first in fleet order")
    func differentSeeds() {
        var pilots = Set<[String]>()
        for seed in UInt64(0)..<20 {
            let (plan, diagnostics) = WavePlanner.plan(fleet: Self.fleet, policy: Self.policy(seed: seed))
            #expect(diagnostics.isEmpty)
            #expect(plan.waves[1].tenants.count == 100)
            pilots.insert(plan.waves[1].tenants)
        }
        #expect(pilots.count >= 19, "\(pilots.count) distinct pilot waves out of 20 seeds")
        let (unseeded, _) = WavePlanner.plan(fleet: Self.fleet, policy: Self.policy(seed: nil))
        let untakenInOrder = Self.fleet.tenants.filter { $0.labels["tier"] != "internal" }.prefix(100).map(\.id)
        #expect(unseeded.waves[1].tenants == untakenInOrder)
        #expect(!pilots.contains(unseeded.waves[1].tenants))
    }

    @Test("a seeded shuffle is spread over the fleet, not a prefix")
    func shuffleSpreads() throws {
        let (plan, _) = WavePlanner.plan(fleet: Self.fleet, policy: Self.policy(seed: 9))
        let indices = plan.waves[1].tenants.compactMap { id in Self.fleet.tenants.firstIndex { $0.id == id } }
        let firstHalf = indices.filter { $0 < 500 }.count
        #expect((25...75).contains(firstHalf), "\(firstHalf) of 100 pilot tenants in the first half of the fleet")
    }

    @Test("the shuffle is pinned: seed 1 on 10 tenants picks the same three forever")
    func pinnedShuffle() {
        let fleet = generateFleet(FleetShape(tenants: 10, shards: 1, mix: .none, seed: 1))
        let policy = Policy(
            name: "p",
            waves: [
                Wave(name: "pilot", select: Selector(count: 3), location: waveLocation(0)),
                Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(1)),
            ], seed: 1)
        let (plan, _) = WavePlanner.plan(fleet: fleet, policy: policy)
        // Fisher–Yates over indices 0..<10 with SplitMix64(seed: 1), `next() % (i + 1)`; the first three, sorted.
        var order = Array(0..<10)
        var random = Random(seed: 1)
        for i in stride(from: 9, to: 0, by: -1) { order.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        #expect(plan.waves[0].tenants == order.prefix(3).sorted().map { "t\($0)" })
    }
}

@Suite("WavePlanner: errors at the wave's line")
struct PlannerErrorTests {
    static let fleet = generateFleet(FleetShape(tenants: 30, shards: 3, mix: .tiers, seed: 3))

    static func plan(_ waves: [Wave]) -> (WavePlan, [Diagnostic]) {
        WavePlanner.plan(
            fleet: fleet,
            policy: Policy(
                name: "p", waves: waves, file: policyFile, location: Location(file: policyFile, line: 1, column: 1)))
    }

    @Test("a wave naming an unknown tenant: an error at the wave, with a suggestion")
    func unknownTenant() throws {
        let (_, diagnostics) = Self.plan([
            Wave(name: "pick", select: Selector(tenants: ["t1", "t1x"]), location: waveLocation(0)),
            Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(1)),
        ])
        let error = try #require(diagnostics.first { $0.message.contains("t1x") })
        #expect(error.severity == .error && error.location == waveLocation(0))
        #expect(error.message == "wave 'pick' names tenant 't1x', which fleet 'f' does not have (did you mean 't1'?)")
        #expect(error.keyPath == "waves[0].select.tenants")
    }

    @Test("a wave naming an unknown shard: an error at the wave, with the fleet's shards")
    func unknownShard() throws {
        let (_, diagnostics) = Self.plan([
            Wave(name: "first", select: Selector(count: 1), location: waveLocation(0)),
            Wave(name: "shardy", select: Selector(shards: ["nope"]), location: waveLocation(1)),
            Wave(name: "rest", select: Selector(remaining: true), location: waveLocation(2)),
        ])
        let error = try #require(diagnostics.first { $0.message.contains("names shard 'nope'") })
        #expect(error.severity == .error && error.location.line == waveLocation(1).line)
        #expect(error.message.contains("(shards: \(Self.fleet.shards.map(\.name).joined(separator: ", ")))"))
    }

    @Test("a wave selecting nobody: an error at the wave; a bare remaining wave with nothing left: a warning")
    func selectsNobody() {
        let (_, diagnostics) = Self.plan([
            Wave(name: "ghosts", select: Selector(labels: ["tier": "ghost"]), location: waveLocation(0)),
            Wave(name: "all", select: Selector(remaining: true), location: waveLocation(1)),
            Wave(name: "after", select: Selector(remaining: true), location: waveLocation(2)),
        ])
        #expect(diagnostics.count == 2, "\(diagnostics)")
        let error = diagnostics.first { $0.severity == .error }
        let warning = diagnostics.first { $0.severity == .warning }
        #expect(error?.location.line == 3)
        #expect(error?.message == "wave 'ghosts' selects no tenant of fleet 'f'")
        #expect(warning?.location.line == 5)
        #expect(warning?.message.contains("earlier waves may have taken them all") == true)
    }

    @Test("RolloutPlan.make throws the planner's errors with their places")
    func makeThrows() {
        let policy = Policy(
            name: "p",
            waves: [Wave(name: "ghosts", select: Selector(labels: ["tier": "ghost"]), location: waveLocation(0))],
            file: policyFile, location: Location(file: policyFile, line: 1, column: 1))
        #expect(throws: DefinitionError.self) {
            try RolloutPlan.make(fleet: Self.fleet, change: simpleChange, policy: policy)
        }
        do {
            _ = try RolloutPlan.make(fleet: Self.fleet, change: simpleChange, policy: policy)
        } catch {
            #expect(error.diagnostics.map(\.location.line) == [1, 3])
            #expect(error.description.contains("gen/policies/p.yaml:3:5: error: wave 'ghosts' selects no tenant"))
        }
    }
}

@Suite("Planning what the parser accepts never crashes")
struct PlannerCrashTests {
    @Test("percent: nan is rejected by the parser or planned without a trap")
    func percentNaN() async {
        // Policy+Decoding accepts Double("nan"); WavePlanner then computes Int(NaN.rounded(.up)), which traps.
        await #expect(processExitsWith: .success) {
            let yaml =
                "policy: p\nwaves:\n  - {name: pilot, select: {percent: nan}}\n  - {name: rest, select: {remaining: true}}\n"
            guard let policy = try? Policy.parse(yaml, file: "p.yaml") else { return }
            let fleet = Fleet(
                name: "f",
                shards: [Shard(name: "s", url: "embedded:s", location: Location(file: "f", line: 1, column: 1))],
                tenants: [
                    Tenant(
                        id: "a", shard: "s", placement: .schema("a"), location: Location(file: "f", line: 2, column: 1))
                ])
            _ = WavePlanner.plan(fleet: fleet, policy: policy)
        }
    }
}
