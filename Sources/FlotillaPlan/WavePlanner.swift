import FlotillaModel

/// Assigns every tenant of a fleet to the first wave of a policy whose selector takes it.
public enum WavePlanner {
    /// The plan and its problems: selectors naming unknown tenants or shards, waves that select nobody
    /// (errors, at the wave's place in the policy file), tenants no wave takes (an error: they would never get the change).
    public static func plan(fleet: Fleet, policy: Policy) -> (WavePlan, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        // Every tenant id, made only when a wave names tenants.
        let tenantIDs = policy.waves.contains { $0.select.tenants != nil } ? Set(fleet.tenants.map(\.id)) : []
        let shardNames = Set(fleet.shards.map(\.name))
        var order = Array(fleet.tenants.indices)
        if let seed = policy.seed {
            // Fisher–Yates with our own generator and modulo, so the order never depends on the standard library.
            var generator = SplitMix64(seed: seed)
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
        }
        var taken = [Bool](repeating: false, count: fleet.tenants.count)
        var waves: [PlannedWave] = []

        for (number, wave) in policy.waves.enumerated() {
            let selector = wave.select
            for id in selector.tenants ?? [] where !tenantIDs.contains(id) {
                let suggestion =
                    closestMatch(to: id, in: fleet.tenants.map(\.id)).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.append(
                    Diagnostic(
                        at: wave.location, keyPath: "waves[\(number)].select.tenants",
                        "wave '\(wave.name)' names tenant '\(id)', which fleet '\(fleet.name)' does not have\(suggestion)"
                    ))
            }
            for shard in selector.shards ?? [] where !shardNames.contains(shard) {
                diagnostics.append(
                    Diagnostic(
                        at: wave.location, keyPath: "waves[\(number)].select.shards",
                        "wave '\(wave.name)' names shard '\(shard)', which fleet '\(fleet.name)' does not have (shards: \(fleet.shards.map(\.name).joined(separator: ", ")))"
                    ))
            }
            let wanted = selector.tenants.map(Set.init)
            let wantedShards = selector.shards.map(Set.init)
            var candidates = order.filter { index in
                guard !taken[index] else { return false }
                // The tenant's fields are read in place, not copied out of the array for each selector.
                if let wanted, !wanted.contains(fleet.tenants[index].id) { return false }
                if let wantedShards, !wantedShards.contains(fleet.tenants[index].shard) { return false }
                if let labels = selector.labels,
                    !labels.allSatisfy({ fleet.tenants[index].labels[$0.key] == $0.value })
                {
                    return false
                }
                return true
            }
            if let percent = selector.percent {
                // Round away binary noise first (2.2% of 1500 is 33, not 33.000000000000004 → 34).
                let exact = (Double(fleet.tenants.count) * percent / 100 * 1e9).rounded() / 1e9
                let size = max(1, Int(exact.rounded(.up)))
                candidates = Array(candidates.prefix(size))
            } else if let count = selector.count {
                candidates = Array(candidates.prefix(count))
            }
            for index in candidates { taken[index] = true }
            // Without a seed the candidates are already in fleet order.
            let chosen = policy.seed == nil ? candidates : candidates.sorted()
            if chosen.isEmpty {
                diagnostics.append(
                    Diagnostic(
                        selector.remaining && selector.tenants == nil && selector.labels == nil
                            && selector.shards == nil
                            ? .warning : .error,
                        at: wave.location, keyPath: "waves[\(number)]",
                        "wave '\(wave.name)' selects no tenant of fleet '\(fleet.name)'"
                            + (number > 0 ? " (earlier waves may have taken them all)" : "")))
            }
            let ids = chosen.map { fleet.tenants[$0].id }
            var slices: [ShardSlice]
            if wave.by == .shard {
                // One pass over the wave's tenants, not one per shard.
                var members: [String: [String]] = [:]
                for index in chosen { members[fleet.tenants[index].shard, default: []].append(fleet.tenants[index].id) }
                slices = fleet.shards.compactMap { shard in
                    members[shard.name].map { ShardSlice(shard: shard.name, tenants: $0) }
                }
            } else {
                slices = [ShardSlice(shard: nil, tenants: ids)]
            }
            waves.append(
                PlannedWave(
                    name: wave.name, number: number + 1, bakeMilliseconds: wave.bake.milliseconds,
                    by: wave.by?.rawValue, tenants: ids, slices: slices))
        }
        let left = taken.indices.filter { !taken[$0] }
        if !left.isEmpty {
            let names = left.prefix(5).map { fleet.tenants[$0].id }.joined(separator: ", ")
            diagnostics.append(
                Diagnostic(
                    at: policy.location, keyPath: "waves",
                    "\(left.count) tenant(s) of fleet '\(fleet.name)' fall in no wave (\(names)\(left.count > 5 ? ", …" : "")); add a last wave with select: {remaining: true}"
                ))
        }
        return (WavePlan(waves: waves), diagnostics)
    }
}

/// A small, fast, seedable generator, so that `seed:` shuffles the same way on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
