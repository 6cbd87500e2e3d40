import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

@testable import FlotillaEngine

/// The state tables of `JournalStates.swift`, walked pair by pair against a real control store: every allowed move is
/// written, every other is refused with the step's or rollout's identity and leaves the row as it was. Rows are set
/// and read on a session of the test's own (never `psql`, which would hold one of the few threads every test shares).
@Suite(.serialized)
struct JournalStateTests {
    @Test(.timeLimit(.minutes(10)))
    func everyStepTransitionIsAllowedOrRefusedAsTheTableSays() async throws {
        let fleet = makeFleet(name: "states-fleet", shards: [], tenants: [])
        let rig = try await Rig(fleet: fleet)
        let side = try await SideSession.open(rig.control)
        do {
            try await rig.withEngine { _, store, _ in
                try await store.createRollout(id: "r1", fleet: fleet.name, change: "0001", policy: "p", planJSON: "{}")
                let tenants = StepState.allCases.map { "t_\($0.rawValue)" }
                try await store.seedSteps(
                    "r1", phase: "expand", phaseIndex: 0,
                    waves: [(name: "all", index: 1, tenants: tenants.map { ($0, "s1") })])
                for from in StepState.allCases {
                    for to in StepState.allCases {
                        let tenant = "t_\(from.rawValue)"
                        try await side.execute(
                            "UPDATE flotilla.steps SET state = '\(from.rawValue)', owner = NULL WHERE tenant = '\(tenant)'"
                        )
                        var refused: IllegalTransition?
                        do {
                            try await store.stepFinished(
                                "r1", phase: "expand", tenant: tenant, state: to, durationMilliseconds: nil)
                        } catch let error as IllegalTransition {
                            refused = error
                        }
                        let stored =
                            try await side.rows("SELECT state FROM flotilla.steps WHERE tenant = '\(tenant)'").first?
                            .first
                            ?? nil ?? "none"
                        if from.canMove(to: to) {
                            #expect(refused == nil, "\(from) → \(to) was refused")
                            #expect(stored == to.rawValue, "\(from) → \(to) stored \(stored)")
                        } else {
                            #expect(
                                refused?.subject
                                    == .step(rollout: "r1", phase: "expand", tenant: tenant, from: from, to: to),
                                "\(from) → \(to) was not refused as illegal")
                            #expect(stored == from.rawValue, "\(from) → \(to) changed the row to \(stored)")
                        }
                    }
                }
                // The table is not trivially permissive: a finished step never goes back to running.
                #expect(!StepState.applied.canMove(to: .running) && !StepState.reverted.canMove(to: .applied))
            }
        } catch {
            await side.close()
            throw error
        }
        await side.close()
    }

    @Test(.timeLimit(.minutes(10)))
    func everyRolloutTransitionIsAllowedOrRefusedAsTheTableSays() async throws {
        let fleet = makeFleet(name: "rstates-fleet", shards: [], tenants: [])
        let rig = try await Rig(fleet: fleet)
        let side = try await SideSession.open(rig.control)
        do {
            try await rig.withEngine { _, store, _ in
                try await store.createRollout(id: "r1", fleet: fleet.name, change: "0001", policy: "p", planJSON: "{}")
                for from in RolloutState.allCases {
                    for to in RolloutState.allCases {
                        try await side.execute(
                            "UPDATE flotilla.rollouts SET state = '\(from.rawValue)' WHERE id = 'r1'")
                        var refused: IllegalTransition?
                        do {
                            try await store.setState("r1", to, reason: "test")
                        } catch let error as IllegalTransition {
                            refused = error
                        }
                        let stored =
                            try await side.rows("SELECT state FROM flotilla.rollouts WHERE id = 'r1'").first?.first
                            ?? nil
                            ?? "none"
                        if from.canMove(to: to) {
                            #expect(refused == nil, "\(from) → \(to) was refused")
                            #expect(stored == to.rawValue)
                        } else {
                            #expect(refused?.subject == .rollout(id: "r1", from: from, to: to))
                            #expect(stored == from.rawValue, "\(from) → \(to) changed the row to \(stored)")
                        }
                    }
                }
                #expect(!RolloutState.done.canMove(to: .running))
            }
        } catch {
            await side.close()
            throw error
        }
        await side.close()
    }

    @Test func storedStatesReadBackAsTheirEnums() throws {
        // The raw values are the journal's words: status, the API and old journals depend on them.
        #expect(
            StepState.allCases.map(\.rawValue) == [
                "pending", "running", "applied", "failed", "quarantined", "reverted",
            ])
        #expect(RolloutState.awaitingApproval.rawValue == "awaiting-approval")
        #expect(RolloutState(rawValue: "failed") == nil)
    }
}
